"""Import speed (offers per second) of the demo catalog format, on SQLite and PostgreSQL.

    .venv/bin/python bench/import_speed.py                 # 1,000,000 offers, both databases
    .venv/bin/python bench/import_speed.py --offers 100000 --backends sqlite

For each database: a first import into an empty store (the figure the target is about:
>= 10,000 offers/s on SQLite), a second import of the same catalog (everything unchanged:
the cost of validating and comparing), and, as a baseline in the same run, the first import
again with validation in this process only (--workers 0), so the gain of the worker
processes is a ratio measured on this machine, not a remembered number.
The catalog is generated once (deterministic) into --dir and reused by later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catalog_store import db
from catalog_store.demo_catalog import generate
from catalog_store.importer import import_catalog

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def _store(backend: str, tmp: Path):  # type: ignore[no-untyped-def]
    if backend == "sqlite":
        path = tmp / f"bench-{uuid.uuid4().hex[:8]}.db"
        engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
        await db.migrate(engine)

        async def cleanup() -> None:
            await engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240

        return engine, cleanup
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = db.create_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = db.create_engine(PG_URL, schema=schema)
    await db.migrate(engine)

    async def cleanup_pg() -> None:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()

    return engine, cleanup_pg


async def _run(backend: str, catalog: Path, tmp: Path, workers: int | None, baseline: bool) -> None:
    engine, cleanup = await _store(backend, tmp)
    try:
        first = await import_catalog(engine, catalog, workers=workers)
        assert first.ok, first.errors[:5]
        n = first.offers.read
        print(
            f"{backend:9s} first import    {n:>9,} offers {first.seconds:7.1f} s "
            f"{n / first.seconds:>9,.0f} offers/s  (workers: {first.workers})",
            flush=True,
        )
        again = await import_catalog(engine, catalog, workers=workers)
        assert again.offers.unchanged == n
        print(
            f"{backend:9s} re-import       {n:>9,} offers {again.seconds:7.1f} s "
            f"{n / again.seconds:>9,.0f} offers/s  (all unchanged)",
            flush=True,
        )
    finally:
        await cleanup()
    if baseline:
        engine, cleanup = await _store(backend, tmp)
        try:
            base = await import_catalog(engine, catalog, workers=0)
            print(
                f"{backend:9s} baseline        {n:>9,} offers {base.seconds:7.1f} s "
                f"{n / base.seconds:>9,.0f} offers/s  (in-process; workers are "
                f"{base.seconds / first.seconds:.2f}x faster)",
                flush=True,
            )
        finally:
            await cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offers", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None, help="where the catalog is generated")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--workers", type=int, default=None, help="default: by catalog size")
    parser.add_argument("--no-baseline", action="store_true")
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
    with tempfile.TemporaryDirectory(dir=Path("data")) as tmp:
        for backend in args.backends.split(","):
            asyncio.run(
                _run(backend.strip(), catalog, Path(tmp), args.workers, not args.no_baseline)
            )


if __name__ == "__main__":  # worker processes import this module; only the parent runs it
    main()
