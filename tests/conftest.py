"""Shared fixtures: a migrated store on SQLite and on PostgreSQL, each test isolated.

PostgreSQL tests use their own schema (dropped afterwards). When the server does not
answer they skip, unless REQUIRE_SERVICES=1 (set by .ci/run), where they fail instead.
"""

from __future__ import annotations

import asyncio
import os
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


async def make_store(backend: str, tmp_path: Path, name: str = "store") -> db.ScratchStore:
    """A migrated store, SQLite file or PostgreSQL schema of its own; ``close()`` drops it."""
    if backend == "sqlite":
        return await db.scratch_store(f"sqlite+aiosqlite:///{tmp_path / (name + '.db')}")
    problem = await _pg_problem()
    if problem:
        service_missing(problem)
    return await db.scratch_store(PG_URL, prefix="t")


@pytest.fixture
async def engine(backend: str, tmp_path: Path) -> AsyncIterator[object]:
    store = await make_store(backend, tmp_path)
    try:
        yield store.engine
    finally:
        await store.close()


@pytest.fixture
async def second_engine(backend: str, tmp_path: Path) -> AsyncIterator[object]:
    store = await make_store(backend, tmp_path, "second")
    try:
        yield store.engine
    finally:
        await store.close()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DATA_DIR (so the default SQLite store) for tests of the command line."""
    folder = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(folder))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout
    return folder
