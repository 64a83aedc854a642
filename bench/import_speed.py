"""Import speed (offers per second) of the demo catalog format, on SQLite and PostgreSQL.

    .venv/bin/python bench/import_speed.py                 # 1,000,000 offers, both databases
    .venv/bin/python bench/import_speed.py --offers 100000 --backends sqlite

First, as a baseline in the same run, the time to read and json.loads every offer line and
nothing else (the floor any Python importer stands on). Then for each database: a first
import into an empty store (the figure the target is about: >= 10,000 offers/s on SQLite),
with its ratio to the baseline, and a second import of the same catalog (everything
unchanged: the cost of validating and comparing).
The catalog is generated once (deterministic) into --dir and reused by later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catalog_store import db
from catalog_store.demo_catalog import generate
from catalog_store.importer import import_catalog

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def _store(backend: str, tmp: Path) -> db.ScratchStore:
    if backend == "sqlite":
        return await db.scratch_store(
            f"sqlite+aiosqlite:///{tmp / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        )
    return await db.scratch_store(PG_URL, prefix="bench")


def _parse_floor(catalog: Path) -> tuple[int, float]:
    """Baseline: only reading and JSON-parsing every offer line, no validation, no database."""
    started = time.perf_counter()
    n = 0
    with (catalog / "offers.jsonl").open("rb") as lines:
        for line in lines:
            json.loads(line)
            n += 1
    return n, time.perf_counter() - started


def _line(backend: str, label: str, n: int, seconds: float, note: str = "") -> None:
    print(
        f"{backend:9s} {label:16s} {n:>9,} offers {seconds:7.1f} s {n / seconds:>9,.0f} offers/s"
        f"  {note}",
        flush=True,
    )


async def _run(backend: str, catalog: Path, tmp: Path, workers: int | None, floor: float) -> None:
    store = await _store(backend, tmp)
    engine = store.engine
    try:
        first = await import_catalog(engine, catalog, workers=workers)
        assert first.ok, first.errors[:5]
        n = first.offers.read
        _line(
            backend,
            "first import",
            n,
            first.seconds,
            f"workers: {first.workers}; {first.seconds / floor:.1f}x the parse-only baseline",
        )
        again = await import_catalog(engine, catalog, workers=workers)
        assert again.offers.unchanged == n
        _line(backend, "re-import", n, again.seconds, "all unchanged: validated and compared")
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offers", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None, help="where the catalog is generated")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--workers",
        default="auto",
        help="validating processes, a comma list to compare (auto: what `catalog import` picks)",
    )
    args = parser.parse_args()

    catalog = args.dir or Path("data") / "bench" / f"catalog-{args.offers}"
    if not (catalog / "offers.jsonl").is_file():
        started = time.perf_counter()
        generate(catalog, offers=args.offers)
        print(
            f"generated {args.offers:,} offers in {time.perf_counter() - started:.1f} s "
            f"into {catalog}",
            flush=True,
        )
    size = sum(f.stat().st_size for f in catalog.iterdir())
    print(f"catalog: {catalog} ({size / 2**20:,.0f} MiB), cpus: {os.cpu_count()}", flush=True)
    Path("data").mkdir(exist_ok=True)
    n, floor = _parse_floor(catalog)
    _line("baseline", "parse only", n, floor, "json.loads of every line, nothing else")
    with tempfile.TemporaryDirectory(dir=Path("data")) as tmp:
        for backend in args.backends.split(","):
            for workers in args.workers.split(","):
                count = None if workers.strip() == "auto" else int(workers)
                asyncio.run(_run(backend.strip(), catalog, Path(tmp), count, floor))


if __name__ == "__main__":  # worker processes import this module; only the parent runs it
    main()
