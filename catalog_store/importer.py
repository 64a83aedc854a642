"""``catalog import``: validate a catalog line by line and upsert it into the store.

Guarantees (from the catalog contract):
- every error names the file, the line and the field;
- all-or-nothing by default: one transaction, rolled back on any error, so the store is left
  exactly as it was; ``partial=True`` commits the valid lines and writes a report of the
  rejected ones;
- importing the same catalog again changes nothing: rows are upserted by id and a content
  hash skips unchanged ones, so even ``updated_at`` stays put;
- an offer is written whole (row, tiers, SKUs, options) or not at all.

Lines are read in chunks. Validation and row building (``import_rows``) run in worker
processes for large catalogs on machines with more than one CPU (in a thread otherwise),
while this process checks ids across lines and writes one chunk as the next is prepared;
chunks are consumed in line order, so errors come out in file order either way. Stock
reservations of open orders live in their own table and are never touched here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Table, delete, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import nlu
from catalog_store.catalog_source import (
    FACTORIES_FILE,
    OFFERS_FILE,
    CatalogSourceError,
    Member,
    open_catalog,
    read_lines,
)
from catalog_store.db import json_serializer
from catalog_store.import_rows import (
    CHILD_TABLES,
    FACTORIES,
    OFFERS,
    InputLine,
    Kind,
    PreparedChunk,
    Rejected,
    RowFormat,
    insert_plan,
    prepare_chunk,
    prepare_chunk_packed,
    start_worker,
    tables_of,
    unpack_chunk,
)
from catalog_store.models import CatalogImport, utcnow

CHUNK_LINES = 1000  # lines per unit of work: prepared together, written together
CHUNK_BYTES = 16 * 2**20  # or fewer lines, when they are long
MAX_ERRORS_KEPT = 1000
# the IN (...) lists of one batch stay under SQLite's bound-parameter limit
_SQL_IN_CHUNK = 5000


@dataclass(frozen=True)
class LineError:
    file: str
    line: int
    field: str | None
    message: str
    record_id: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        if self.record_id:
            where += f" (id {self.record_id})"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


@dataclass
class Tally:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: int = 0

    @property
    def read(self) -> int:
        return self.new + self.changed + self.unchanged


@dataclass
class ImportResult:
    source: str
    partial: bool
    factories: Tally = field(default_factory=Tally)
    offers: Tally = field(default_factory=Tally)
    errors: list[LineError] = field(default_factory=list)  # the first MAX_ERRORS_KEPT
    rejected_lines: int = 0
    committed: bool = False
    report_path: Path | None = None
    seconds: float = 0.0
    workers: int = 0

    @property
    def ok(self) -> bool:
        return self.rejected_lines == 0


async def latest_import_id(conn: AsyncConnection) -> int | None:
    """The newest committed import: caches built from the catalog compare it to refresh."""
    return (await conn.execute(select(func.max(CatalogImport.id)))).scalar_one_or_none()


class ImportProgress(Protocol):
    def start(self, total_bytes: int) -> None: ...
    def advance(self, nbytes: int) -> None: ...


class _Rejections:
    """Collects errors; in partial mode also streams each rejected line to the report."""

    def __init__(self, result: ImportResult, report_path: Path | None) -> None:
        self.result = result
        self._report = None
        if report_path is not None:
            report_path.parent.mkdir(parents=True, exist_ok=True)
            self._report = report_path.open("w", encoding="utf-8")
            result.report_path = report_path

    def add_line(self, errors: list[LineError], text: str | None) -> None:
        """One rejected line, with every error found on it."""
        self.result.rejected_lines += 1
        room = MAX_ERRORS_KEPT - len(self.result.errors)
        self.result.errors.extend(errors[: max(room, 0)])
        if self._report is None:
            return
        for error in errors:
            entry = {
                "file": error.file,
                "line": error.line,
                "id": error.record_id,
                "field": error.field,
                "error": error.message,
                "text": text,
            }
            self._report.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self._report is not None:
            self._report.close()


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Writer:
    """Writes prepared chunks, skipping records whose content is unchanged.

    One chunk is written while the next is prepared. On SQLite each table's rows of a chunk
    go in as one statement over a JSON array (see ``import_rows``), which SQLite unpacks and
    inserts without holding the GIL, so preparing and writing really do run side by side.
    """

    def __init__(self, conn: AsyncConnection, url: str, result: ImportResult) -> None:
        self.conn = conn
        self.url = url
        self.result = result
        self.enabled = True
        self._table: Table = FACTORIES
        self._tables: tuple[Table, ...] = tables_of("factory")
        self._tally = result.factories
        self._was_empty = False
        self._writing: asyncio.Future[None] | None = None

    async def switch(self, kind: Kind, tally: Tally) -> None:
        await self.flush()
        self._tables = tables_of(kind)
        self._table, self._tally = self._tables[0], tally
        # an empty table has no hashes to compare: every record of this import is new (ids
        # are unique within the file), so the lookups are skipped
        first = await self.conn.execute(select(self._table.c.id).limit(1))
        self._was_empty = first.first() is None

    async def add(self, chunk: PreparedChunk, keep: list[int]) -> None:
        """Write the records at ``keep`` (indexes into ``chunk.records``), in the background."""
        await self.flush()
        self._writing = asyncio.ensure_future(self._write(chunk, keep))

    async def flush(self) -> None:
        """Wait for the write in progress."""
        if self._writing is not None:
            writing, self._writing = self._writing, None
            await writing

    async def abort(self) -> None:
        if self._writing is not None:
            self._writing.cancel()
            with contextlib.suppress(BaseException):
                await self._writing
            self._writing = None

    async def _existing_hashes(self, ids: list[str]) -> dict[str, str]:
        table = self._table
        found: dict[str, str] = {}
        for chunk in _chunks(ids, _SQL_IN_CHUNK):
            rows = await self.conn.execute(
                select(table.c.id, table.c.content_hash).where(table.c.id.in_(chunk))
            )
            found.update({r[0]: r[1] for r in rows})
        return found

    async def _write(self, chunk: PreparedChunk, keep: list[int]) -> None:
        records = chunk.records
        tally = self._tally
        existing: dict[str, str] = {}
        if not self._was_empty:
            existing = await self._existing_hashes([records[i].id for i in keep])
        to_write: list[int] = []
        replaced: list[str] = []
        for i in keep:
            p = records[i]
            old = existing.get(p.id)
            if old == p.digest:
                tally.unchanged += 1
            elif old is None:
                tally.new += 1
                to_write.append(i)
            else:
                tally.changed += 1
                replaced.append(p.id)
                to_write.append(i)
        if not self.enabled or not to_write:
            return
        if self._table is OFFERS:
            for ids in _chunks(replaced, _SQL_IN_CHUNK):
                for child in CHILD_TABLES:
                    await self.conn.execute(delete(child).where(child.c.offer_id.in_(ids)))
        whole = len(to_write) == chunk.prepared
        for table in self._tables:
            rows = chunk.rows[table.name]
            plan = insert_plan(self.url, table.name)
            if isinstance(rows, bytes):
                if rows == b"[]":
                    continue
                if whole:
                    await self.conn.exec_driver_sql(plan.json_sql, (rows,))
                else:
                    kept = json_serializer(to_write)
                    await self.conn.exec_driver_sql(plan.json_kept_sql, (rows, kept))
                continue
            if whole:
                params = [row[1:] for row in rows]
            else:
                wanted = set(to_write)
                params = [row[1:] for row in rows if row[0] in wanted]
            if params:
                await self.conn.exec_driver_sql(plan.upsert_sql or plan.insert_sql, params)


def _read_chunks(member: Member) -> Iterator[tuple[list[InputLine], int]]:
    """Lines in chunks, each with the bytes it took in the file."""
    chunk: list[InputLine] = []
    size = 0
    for raw in read_lines(member.stream):
        chunk.append(InputLine(raw.number, raw.data, raw.problem))
        size += raw.nbytes
        # by bytes too: a chunk's rows go to SQLite as one value, which must stay far below
        # its 1 GB limit even when lines are huge (unknown keys are kept, whatever their size)
        if len(chunk) >= CHUNK_LINES or size >= CHUNK_BYTES:
            yield chunk, size
            chunk, size = [], 0
    if chunk:
        yield chunk, size


Runner = Callable[[Kind, list[InputLine]], Awaitable[PreparedChunk]]


async def _prepared(
    kind: Kind, member: Member, run: Runner, in_flight: int
) -> AsyncIterator[tuple[PreparedChunk, int]]:
    """Prepared chunks (and their sizes in bytes) in line order, with up to ``in_flight``
    chunks being worked on."""
    pending: deque[tuple[asyncio.Future[PreparedChunk], int]] = deque()
    try:
        for chunk, size in _read_chunks(member):
            pending.append((asyncio.ensure_future(run(kind, chunk)), size))
            if len(pending) >= in_flight:
                future, done_size = pending.popleft()
                yield await future, done_size
        while pending:
            future, done_size = pending.popleft()
            yield await future, done_size
    finally:
        for future, _size in pending:
            future.cancel()


async def _row_format(conn: AsyncConnection) -> RowFormat:
    """JSON rows where the database can unpack them (SQLite with its JSON functions)."""
    if conn.dialect.name != "sqlite":
        return "tuples"
    try:
        await conn.exec_driver_sql("SELECT json_extract('[1]', '$[0]')")
    except DBAPIError:  # an SQLite built without JSON1
        return "tuples"
    return "json"


# below this much offer data, starting worker processes (each imports the whole stack and
# loads the lexicon: a second or more) costs more than they save. Measured on 2 CPUs:
# 30,000 offers at 9,224 offers/s in one process, 7,876 with two workers; 70,000 offers at
# 8,988 and 10,788.
AUTO_WORKERS_MIN_BYTES = 64 * 2**20  # about 45,000 offers


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_count(workers: int | None, offer_bytes: int, cpus: int) -> int:
    """How many processes validate lines while this one writes.

    ``workers`` when given (0: everything in this process); otherwise one per CPU, at most
    3, and none for a small catalog or on a single CPU. A worker spends more per offer than
    this process does writing it, so on two CPUs two workers beside the writer still gain
    (the system shares the cores out); past three the writer sets the pace. See
    docs/benchmarks.md.
    """
    if workers is not None:
        return max(workers, 0)
    if cpus < 2 or offer_bytes < AUTO_WORKERS_MIN_BYTES:
        return 0
    return min(cpus, 3)


async def import_catalog(
    engine: AsyncEngine,
    path: Path,
    *,
    partial: bool = False,
    report_path: Path | None = None,
    progress: ImportProgress | None = None,
    workers: int | None = None,
) -> ImportResult:
    """Import the catalog at ``path``; see the module docstring for the guarantees.

    Raises CatalogSourceError when the catalog as a whole cannot be opened. In partial mode
    a report of rejected lines is written to ``report_path`` when one is given. ``workers``:
    processes that validate lines while this one writes (default: see ``worker_count``).
    """
    started = time.perf_counter()
    started_at = utcnow()
    url = engine.url.render_as_string(hide_password=False)
    result = ImportResult(source=str(path), partial=partial)
    rejections = _Rejections(result, report_path if partial else None)
    pool: ProcessPoolExecutor | None = None
    try:
        with open_catalog(path) as members:
            result.workers = worker_count(workers, members[OFFERS_FILE].size, usable_cpus())
            now = utcnow()
            if result.workers:
                pool = ProcessPoolExecutor(
                    result.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    # titles are segmented in the workers: with this process's lexicon
                    initializer=start_worker,
                    initargs=(nlu.configured_lexicon(),),
                )
            if progress is not None:
                progress.start(sum(m.size for m in members.values()))
            async with engine.connect() as conn:
                trans = await conn.begin()
                row_format = await _row_format(conn)
                if pool is not None:
                    loop = asyncio.get_running_loop()
                    workers_pool = pool

                    async def run(kind: Kind, chunk: list[InputLine]) -> PreparedChunk:
                        packed = await loop.run_in_executor(
                            workers_pool, prepare_chunk_packed, kind, url, now, chunk, row_format
                        )
                        return unpack_chunk(packed)

                    # enough work queued that workers never wait for the writer
                    in_flight = result.workers * 4
                else:

                    async def run(kind: Kind, chunk: list[InputLine]) -> PreparedChunk:
                        # in a thread, so the loop keeps feeding the writer meanwhile
                        return await asyncio.to_thread(
                            prepare_chunk, kind, url, now, chunk, row_format
                        )

                    in_flight = 1
                writer = _Writer(conn, url, result)
                try:
                    await _import_members(
                        writer, members, rejections, partial, progress, run, in_flight
                    )
                    if result.rejected_lines and not partial:
                        await trans.rollback()
                    else:
                        await conn.execute(
                            CatalogImport.__table__.insert(),
                            {
                                "source": str(path),
                                "started_at": started_at,
                                "finished_at": utcnow(),
                                "partial": partial,
                                "factories_new": result.factories.new,
                                "factories_changed": result.factories.changed,
                                "offers_new": result.offers.new,
                                "offers_changed": result.offers.changed,
                                "rejected": result.rejected_lines,
                            },
                        )
                        await trans.commit()
                        result.committed = True
                except BaseException:
                    await writer.abort()
                    if trans.is_active:
                        await trans.rollback()
                    raise
    finally:
        rejections.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        result.seconds = time.perf_counter() - started
    return result


async def _import_members(
    writer: _Writer,
    members: dict[str, Member],
    rejections: _Rejections,
    partial: bool,
    progress: ImportProgress | None,
    run: Runner,
    in_flight: int,
) -> None:
    result = writer.result
    known_factories = set((await writer.conn.execute(select(FACTORIES.c.id))).scalars())
    rejected_factories: dict[str, int] = {}

    def reject(
        filename: str,
        tally: Tally,
        line: int,
        record_id: str | None,
        errors: list[tuple[str | None, str]],
        text: str | None,
    ) -> None:
        tally.rejected += 1
        rejections.add_line([LineError(filename, line, f, m, record_id) for f, m in errors], text)
        if not partial:
            writer.enabled = False  # keep validating to report every error, write nothing more

    # factories first: offers refer to them
    plan: tuple[tuple[str, Kind, Tally], ...] = (
        (FACTORIES_FILE, "factory", result.factories),
        (OFFERS_FILE, "offer", result.offers),
    )
    for filename, kind, tally in plan:
        await writer.switch(kind, tally)
        seen: dict[str, int] = {}
        async for chunk, size in _prepared(kind, members[filename], run, in_flight):
            keep: list[int] = []
            for index, item in enumerate(chunk.records):
                if isinstance(item, Rejected):
                    if kind == "factory" and item.record_id:
                        rejected_factories.setdefault(item.record_id, item.line)
                    reject(filename, tally, item.line, item.record_id, item.errors, item.text)
                    continue
                if item.id in seen:
                    reject(
                        filename,
                        tally,
                        item.line,
                        item.id,
                        [("id", f"duplicate id: first seen at line {seen[item.id]}")],
                        None,
                    )
                    continue
                if item.factory_id is not None and item.factory_id not in known_factories:
                    if item.factory_id in rejected_factories:
                        why = (
                            f"factory {item.factory_id!r} was rejected at {FACTORIES_FILE} line "
                            f"{rejected_factories[item.factory_id]}"
                        )
                    else:
                        why = f"no factory has id {item.factory_id!r}"
                    reject(filename, tally, item.line, item.id, [("factory_id", why)], None)
                    continue
                seen[item.id] = item.line
                keep.append(index)
            if keep:
                await writer.add(chunk, keep)
            if progress is not None:
                # once per chunk, as it is handed to the writer: per line, a progress bar's
                # speed (rich keeps the last thousand samples) only saw how fast lines are read
                progress.advance(size)
        await writer.flush()
        if not seen and not tally.rejected:
            what = "factories" if kind == "factory" else "offers"
            reject(
                filename,
                tally,
                1,
                None,
                [(None, f"the file is empty: a catalog needs {what}")],
                None,
            )
        if kind == "factory":
            known_factories.update(seen)


__all__ = [
    "CatalogSourceError",
    "ImportProgress",
    "ImportResult",
    "LineError",
    "Tally",
    "import_catalog",
]
