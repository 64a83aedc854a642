"""Shared fixtures: a migrated store on SQLite and on PostgreSQL, each test isolated.

PostgreSQL tests use their own schema (dropped afterwards). When the server does not
answer they skip, unless REQUIRE_SERVICES=1 (set by .ci/run), where they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from catalog_store import db

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"

_pg_status: dict[str, str | None] = {}


async def _pg_problem() -> str | None:
    """None when PostgreSQL answers, else why not (checked once per test run)."""
    if "problem" not in _pg_status:
        engine = db.create_engine(PG_URL)
        try:
            async with asyncio.timeout(5), engine.connect() as conn:
                await conn.execute(text("select 1"))
            _pg_status["problem"] = None
        except Exception as exc:  # any failure to connect means "not available"
            _pg_status["problem"] = f"PostgreSQL at {PG_URL} is not available: {exc!r}"
        finally:
            await engine.dispose()
    return _pg_status["problem"]


def service_missing(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def make_store(backend: str, tmp_path: Path, name: str = "store"):  # type: ignore[no-untyped-def]
    """A migrated engine plus a cleanup coroutine."""
    if backend == "sqlite":
        engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / (name + '.db')}")
        await db.migrate(engine)

        async def cleanup() -> None:
            await engine.dispose()

        return engine, cleanup
    problem = await _pg_problem()
    if problem:
        service_missing(problem)
    schema = f"t_{uuid.uuid4().hex[:12]}"
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


@pytest.fixture
async def engine(backend: str, tmp_path: Path) -> AsyncIterator[object]:
    eng, cleanup = await make_store(backend, tmp_path)
    try:
        yield eng
    finally:
        await cleanup()


@pytest.fixture
async def second_engine(backend: str, tmp_path: Path) -> AsyncIterator[object]:
    eng, cleanup = await make_store(backend, tmp_path, "second")
    try:
        yield eng
    finally:
        await cleanup()
