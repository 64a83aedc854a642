"""Database engines, sessions and schema migrations for the store.

One place decides how to connect (SQLite via aiosqlite by default, PostgreSQL via asyncpg)
and how the schema is brought up to date (Alembic, run in-process so a fresh machine needs
no separate tool). SQLite gets WAL, enforced foreign keys and a busy timeout on every
connection, because the bot and an import may share the file.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


# JSON columns are written a dozen times per imported offer: orjson writes the same JSON
# several times faster than the standard library. Datetimes and dataclasses, which orjson
# would quietly turn into strings, are refused as the standard encoder refuses them, so a
# value that is not JSON still fails loudly.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_STDLIB_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_refuse)


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON. What orjson does not take (integers beyond 64 bits, keys that
    are not strings) goes through the standard encoder, which turns such keys into strings."""
    try:
        return orjson.dumps(value, default=_refuse, option=_ORJSON_OPTIONS)
    except TypeError:
        return _STDLIB_ENCODER.encode(value).encode()


def json_serializer(value: Any) -> str:
    """JSON text for JSON columns (UTF-8 kept, so the database stays readable)."""
    return json_bytes(value).decode()


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, schema: str | None = None, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url``; ``schema`` pins PostgreSQL's search_path (test isolation)."""
    parsed = make_url(url)
    connect_args: dict[str, Any] = dict(kwargs.pop("connect_args", {}))
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args.setdefault("timeout", 30)
    elif schema is not None:
        connect_args.setdefault("server_settings", {})["search_path"] = schema
    kwargs.setdefault("json_serializer", json_serializer)
    engine = create_async_engine(parsed, connect_args=connect_args, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # 64 MiB of page cache: a million-offer import keeps its B-trees' upper levels in memory
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent: an up-to-date database is left alone)."""

    def _upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


@dataclass
class ScratchStore:
    """A migrated store that is thrown away after use: an SQLite file, or its own schema on a
    PostgreSQL server (so runs on one server never see each other's rows)."""

    engine: AsyncEngine
    _drop: Callable[[], Awaitable[None]]

    async def close(self) -> None:
        await self._drop()


async def scratch_store(url: str, prefix: str = "scratch") -> ScratchStore:
    """``url``: an SQLite file URL (deleted on close) or a PostgreSQL server URL."""
    if is_sqlite(url):
        engine = create_engine(url)
        await migrate(engine)
        database = make_url(url).database

        async def drop_file() -> None:
            await engine.dispose()
            if database and database != ":memory:":
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{database}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240

        return ScratchStore(engine, drop_file)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(url, schema=schema)
    await migrate(engine)

    async def drop_schema() -> None:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()

    return ScratchStore(engine, drop_schema)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    def _downgrade(connection: Connection) -> None:
        command.downgrade(alembic_config(connection), revision)

    async with engine.begin() as conn:
        await conn.run_sync(_downgrade)
