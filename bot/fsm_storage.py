"""aiogram FSM storage in the project's database, and per-conversation event isolation.

This module owns how a conversation's FSM state and data are kept: one row of
``fsm_states`` (``catalog_store.models.FsmState``) per conversation key, on SQLite or
PostgreSQL through SQLAlchemy, so a restart of the bot does not forget where each buyer was.
aiogram ships no SQL storage; :class:`SqlStorage` is ours.

FSM data must be small and JSON-safe: ids, strings, numbers, booleans, ``None``, and lists and
dicts (with string keys) of those. Callers store the *id* of an offer, a buyer or a search,
never the object itself, a ``Decimal`` price or a ``datetime``; :meth:`SqlStorage.set_data`
refuses anything that would not come back from JSON unchanged, with a ``TypeError`` naming
the key, and leaves the stored data as it was.

:class:`LockIsolation` serializes the updates of one conversation inside one process (what
aiogram's dispatcher wraps around every handler), without keeping a lock per user forever.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import (
    BaseEventIsolation,
    BaseStorage,
    KeyBuilder,
    StateType,
    StorageKey,
)
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from catalog_store.models import FsmState

__all__ = ["LockIsolation", "SqlKeyBuilder", "SqlStorage"]

KEY_LENGTH = 255  # fsm_states.key is String(255)
_TABLE = FsmState.__table__
_DIALECTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class SqlKeyBuilder(KeyBuilder):
    """Unambiguous keys: every part of the StorageKey in a fixed place.

    aiogram's ``DefaultKeyBuilder`` leaves absent parts out, so a business connection id and a
    thread id can land in the same place (and it ignores the bot unless told); here each part
    has its own slot, and the free-text parts are percent-encoded so they cannot contain the
    separator. ``fsm:<bot>:<chat>:<user>:<thread>:<business connection>:<destiny>``.
    """

    def __init__(self, prefix: str = "fsm") -> None:
        self.prefix = prefix

    def build(self, key: StorageKey, part: Literal["data", "state", "lock"] | None = None) -> str:
        parts = [
            self.prefix,
            str(key.bot_id),
            str(key.chat_id),
            str(key.user_id),
            "" if key.thread_id is None else str(key.thread_id),
            quote(key.business_connection_id or "", safe=""),
            quote(key.destiny, safe=""),
        ]
        if part:
            parts.append(part)
        return ":".join(parts)


def _fit(key: str) -> str:
    """The key itself when it fits the column, else a digest of it (keys are never parsed)."""
    if len(key) <= KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _state_name(state: StateType) -> str | None:
    return state.state if isinstance(state, State) else state


_SCALARS = (str, int, float, bool, type(None))


def _json_problem(value: Any, path: str) -> str | None:
    """Where in ``value`` (and why) it is not JSON-safe, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{path} is {value!r}, which JSON cannot hold"
    if isinstance(value, _SCALARS):
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return f"{path} has the {type(k).__name__} key {k!r} (JSON keys are strings)"
            problem = _json_problem(v, f"{path}[{k!r}]")
            if problem:
                return problem
        return None
    if isinstance(value, list):
        for i, v in enumerate(value):
            problem = _json_problem(v, f"{path}[{i}]")
            if problem:
                return problem
        return None
    return f"{path} is a {type(value).__name__}, which is not JSON"


def json_safe(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` through JSON; TypeError naming the key when it would not survive."""
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False)
        back = json.loads(text)
    except (TypeError, ValueError):
        back = None
    if back is None or back != data:
        where = None
        for k, v in data.items():
            where = (
                f"key {k!r} is a {type(k).__name__}, not a string"
                if not isinstance(k, str)
                else _json_problem(v, f"key {k!r}")
            )
            if where:
                break
        raise TypeError(
            f"FSM data must be JSON-safe ({where or 'it does not survive a JSON round trip'}); "
            "store ids, strings, numbers, booleans, lists and dicts, not objects"
        )
    return back


class SqlStorage(BaseStorage):
    """FSM state and data in ``fsm_states``, one row per conversation key.

    ``engine``: an async engine on SQLite or PostgreSQL with the schema migrated.
    ``key_builder``: how a StorageKey becomes the row key (default :class:`SqlKeyBuilder`);
    keys longer than the column are replaced by their SHA-256.
    ``dispose_engine``: whether :meth:`close` disposes the engine (off: the engine is usually
    shared with the rest of the bot, which closes it itself).

    Writes are atomic upserts (``set_state`` never touches the data, ``set_data`` never the
    state); ``update_data`` reads and writes in one transaction that holds the row (PostgreSQL:
    ``SELECT ... FOR UPDATE``; SQLite: ``BEGIN IMMEDIATE``), so concurrent updates of the same
    key from several processes do not lose each other. A row with no state and no data is
    deleted.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        key_builder: KeyBuilder | None = None,
        *,
        dispose_engine: bool = False,
    ) -> None:
        dialect = engine.dialect.name
        if dialect not in _DIALECTS:
            raise ValueError(f"SqlStorage supports SQLite and PostgreSQL, not {dialect}")
        self.engine = engine
        self.key_builder = key_builder or SqlKeyBuilder()
        self._insert = _DIALECTS[dialect]
        self._sqlite = dialect == "sqlite"
        self._dispose_engine = dispose_engine

    def _key(self, key: StorageKey) -> str:
        return _fit(self.key_builder.build(key))

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction; on SQLite it takes the write lock up front (BEGIN IMMEDIATE),
        so a read inside it cannot go stale before the write."""
        async with self.engine.connect() as conn:
            if self._sqlite:
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn
            await conn.commit()
        # on an error the connection goes back to the pool, which rolls back

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        name = _state_name(state)
        row_key = self._key(key)
        now = datetime.now(UTC)
        async with self._write() as conn:
            if name is not None:
                stmt = self._insert(_TABLE).values(key=row_key, state=name, data={}, updated_at=now)
                await conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[_TABLE.c.key],
                        set_={"state": stmt.excluded.state, "updated_at": stmt.excluded.updated_at},
                    )
                )
                return
            data = (
                await conn.execute(
                    select(_TABLE.c.data).where(_TABLE.c.key == row_key).with_for_update()
                )
            ).scalar_one_or_none()
            if data is None:
                return  # no row: the state is already None
            if not data:
                await conn.execute(delete(_TABLE).where(_TABLE.c.key == row_key))
            else:
                await conn.execute(
                    update(_TABLE).where(_TABLE.c.key == row_key).values(state=None, updated_at=now)
                )

    async def get_state(self, key: StorageKey) -> str | None:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(select(_TABLE.c.state).where(_TABLE.c.key == self._key(key)))
            ).scalar_one_or_none()

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, dict):
            msg = f"Data must be a dict or dict-like object, got {type(data).__name__}"
            raise DataNotDictLikeError(msg)
        checked = json_safe(data)
        row_key = self._key(key)
        async with self._write() as conn:
            await self._write_data(conn, row_key, checked)

    async def _write_data(self, conn: AsyncConnection, row_key: str, data: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        if data:
            stmt = self._insert(_TABLE).values(key=row_key, state=None, data=data, updated_at=now)
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[_TABLE.c.key],
                    set_={"data": stmt.excluded.data, "updated_at": stmt.excluded.updated_at},
                )
            )
            return
        row = (
            await conn.execute(
                select(_TABLE.c.state).where(_TABLE.c.key == row_key).with_for_update()
            )
        ).one_or_none()
        if row is None:
            return  # no row: the data is already empty
        if row.state is None:
            await conn.execute(delete(_TABLE).where(_TABLE.c.key == row_key))
        else:
            await conn.execute(
                update(_TABLE).where(_TABLE.c.key == row_key).values(data={}, updated_at=now)
            )

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            data = (
                await conn.execute(select(_TABLE.c.data).where(_TABLE.c.key == self._key(key)))
            ).scalar_one_or_none()
        return dict(data) if data else {}  # freshly decoded from JSON: nothing shared

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        """``dict.update`` of the stored data, read and written in one transaction."""
        patch = json_safe(dict(data))
        row_key = self._key(key)
        async with self._write() as conn:
            if not self._sqlite:
                # a row to lock, even for a key seen for the first time (FOR UPDATE cannot lock
                # a row that does not exist); an empty one is deleted again below
                await conn.execute(
                    postgresql.insert(_TABLE)
                    .values(key=row_key, state=None, data={}, updated_at=datetime.now(UTC))
                    .on_conflict_do_nothing(index_elements=[_TABLE.c.key])
                )
            current = (
                await conn.execute(
                    select(_TABLE.c.data).where(_TABLE.c.key == row_key).with_for_update()
                )
            ).scalar_one_or_none()
            merged = {**(current or {}), **patch}
            await self._write_data(conn, row_key, merged)
        return merged

    async def close(self) -> None:
        if self._dispose_engine:
            await self.engine.dispose()


@dataclass(eq=False)
class _KeyLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holding or waiting


class LockIsolation(BaseEventIsolation):
    """One ``asyncio.Lock`` per StorageKey, like aiogram's ``SimpleEventIsolation``, but a
    key's lock is dropped as soon as nobody holds or waits for it.

    aiogram's ``SimpleEventIsolation`` keeps its locks in a ``defaultdict`` that is never
    pruned (its own source says "Unused locks cleaner is needed"): one lock per user and chat
    ever seen stays in memory for the life of the process. Here the dict only holds the
    conversations that are being handled right now.

    It isolates within one process (one event loop) only; a second bot process needs a shared
    lock (aiogram's ``RedisEventIsolation``) — the storage's own writes stay atomic either way.
    """

    def __init__(self) -> None:
        self._locks: dict[StorageKey, _KeyLock] = {}

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        entry = self._locks.get(key)
        if entry is None:
            entry = self._locks[key] = _KeyLock()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0 and self._locks.get(key) is entry:
                del self._locks[key]

    @property
    def active_keys(self) -> int:
        """How many conversations hold or wait for their lock now."""
        return len(self._locks)

    async def close(self) -> None:
        self._locks.clear()
