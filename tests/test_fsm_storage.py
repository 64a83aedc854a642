"""SqlStorage (aiogram FSM state in the database) and LockIsolation, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import BaseEventIsolation, StorageKey
from aiogram.fsm.storage.memory import DisabledEventIsolation
from aiogram.types import Chat, Message, Update, User
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.fsm_storage import KEY_LENGTH, LockIsolation, SqlKeyBuilder, SqlStorage
from catalog_store import db
from catalog_store.models import FsmState

BOT_ID = 42
KEY = StorageKey(bot_id=BOT_ID, chat_id=1001, user_id=7)


class Order(StatesGroup):
    quantity = State()
    address = State()


async def _rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(FsmState.__table__))).all())


async def _same_store(engine: AsyncEngine) -> AsyncEngine:
    """A second, independent engine on the store behind ``engine`` (a restarted bot)."""
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "sqlite":
        return db.create_engine(url)
    async with engine.connect() as conn:
        schema = (await conn.execute(text("select current_schema()"))).scalar_one()
    return db.create_engine(url, schema=schema)


async def test_state_and_data_round_trip_through_json(engine: AsyncEngine) -> None:
    storage = SqlStorage(engine)
    assert await storage.get_state(KEY) is None
    assert await storage.get_data(KEY) == {}

    await storage.set_state(KEY, Order.quantity)
    assert await storage.get_state(KEY) == "Order:quantity"
    await storage.set_state(KEY, "Order:address")
    assert await storage.get_state(KEY) == "Order:address"

    data = {
        "offer": 123456789012,
        "search": 17,
        "query": "不锈钢保温杯 500ml",
        "price_fen": 1250,
        "ratio": 0.75,
        "confirmed": True,
        "note": None,
        "cart": [{"offer": 1, "qty": 3, "options": {"颜色": "红色", "sizes": ["S", "M"]}}],
    }
    await storage.set_data(KEY, data)
    got = await storage.get_data(KEY)
    assert got == data
    assert await storage.get_value(KEY, "query") == "不锈钢保温杯 500ml"
    assert await storage.get_value(KEY, "missing", "default") == "default"

    # a fresh copy every time: changing what was read changes nothing stored
    got["cart"][0]["qty"] = 99
    got["new"] = 1
    again = await storage.get_data(KEY)
    assert again == data
    assert again is not got

    # the database holds readable UTF-8, not \\u escapes
    async with engine.connect() as conn:
        raw = (await conn.execute(text("select cast(data as text) from fsm_states"))).scalar_one()
    assert "不锈钢保温杯" in raw


async def test_state_and_data_do_not_clobber_each_other(engine: AsyncEngine) -> None:
    storage = SqlStorage(engine)
    await storage.set_data(KEY, {"offer": 5})
    await storage.set_state(KEY, Order.quantity)
    assert await storage.get_data(KEY) == {"offer": 5}
    await storage.set_data(KEY, {"offer": 6, "qty": 2})
    assert await storage.get_state(KEY) == "Order:quantity"
    await storage.set_state(KEY, Order.address)
    assert await storage.get_data(KEY) == {"offer": 6, "qty": 2}

    merged = await storage.update_data(KEY, {"qty": 3, "city": "义乌"})
    assert merged == {"offer": 6, "qty": 3, "city": "义乌"}
    assert await storage.get_data(KEY) == merged
    assert await storage.get_state(KEY) == "Order:address"

    # clearing one keeps the other
    await storage.set_state(KEY, None)
    assert await storage.get_data(KEY) == merged
    await storage.set_state(KEY, Order.quantity)
    await storage.set_data(KEY, {})
    assert await storage.get_state(KEY) == "Order:quantity"
    assert len(await _rows(engine)) == 1


@pytest.mark.parametrize("clear_state_first", [True, False])
async def test_clearing_state_and_data_deletes_the_row(
    engine: AsyncEngine, clear_state_first: bool
) -> None:
    storage = SqlStorage(engine)
    other = replace(KEY, user_id=8)
    await storage.set_state(other, Order.quantity)
    await storage.set_state(KEY, Order.quantity)
    await storage.set_data(KEY, {"offer": 1})
    assert len(await _rows(engine)) == 2

    if clear_state_first:
        await storage.set_state(KEY, None)
        await storage.set_data(KEY, {})
    else:
        await storage.set_data(KEY, {})
        await storage.set_state(KEY, None)
    assert await storage.get_state(KEY) is None
    assert await storage.get_data(KEY) == {}
    assert [row.state for row in await _rows(engine)] == ["Order:quantity"]  # only `other`

    # clearing what is not there creates nothing; update_data with nothing neither
    await storage.set_state(KEY, None)
    await storage.set_data(KEY, {})
    assert await storage.update_data(KEY, {}) == {}
    assert len(await _rows(engine)) == 1

    # FSMContext.clear() as handlers call it
    context = FSMContext(storage=storage, key=other)
    await context.update_data(offer=3)
    await context.clear()
    assert await _rows(engine) == []


async def test_writes_stamp_updated_at_in_utc(engine: AsyncEngine) -> None:
    storage = SqlStorage(engine)
    before = datetime.now(UTC)
    await storage.set_state(KEY, Order.quantity)
    (first,) = await _rows(engine)
    assert first.updated_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= first.updated_at <= datetime.now(UTC)
    await asyncio.sleep(0.01)
    await storage.update_data(KEY, {"offer": 1})
    (second,) = await _rows(engine)
    assert second.updated_at > first.updated_at


class _Thing:
    pass


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (Decimal("12.50"), "key 'price' is a Decimal"),
        (datetime(2026, 1, 1, tzinfo=UTC), "key 'price' is a datetime"),
        ({1, 2}, "key 'price' is a set"),
        (_Thing(), "key 'price' is a _Thing"),
        ((1, 2), "key 'price' is a tuple"),
        (float("nan"), "key 'price' is nan"),
        ([1, {"fen": Decimal("1")}], "key 'price'[1]['fen'] is a Decimal"),
        ({3: "int key"}, "key 'price' has the int key 3"),
    ],
    ids=["decimal", "datetime", "set", "object", "tuple", "nan", "nested", "int-key"],
)
async def test_data_that_is_not_json_safe_is_refused_and_nothing_changes(
    engine: AsyncEngine, value: Any, named: str
) -> None:
    storage = SqlStorage(engine)
    await storage.set_data(KEY, {"offer": 1, "price": 100})
    with pytest.raises(TypeError, match="JSON-safe") as caught:
        await storage.set_data(KEY, {"offer": 2, "price": value})
    assert named in str(caught.value)
    assert "store ids" in str(caught.value)
    with pytest.raises(TypeError, match="JSON-safe"):
        await storage.update_data(KEY, {"offer": 2, "price": value})
    with pytest.raises(TypeError, match="JSON-safe"):
        await FSMContext(storage=storage, key=KEY).update_data(price=value)
    assert await storage.get_data(KEY) == {"offer": 1, "price": 100}


async def test_non_string_top_level_key_and_non_dict_data_are_refused(engine: AsyncEngine) -> None:
    storage = SqlStorage(engine)
    with pytest.raises(TypeError, match="key 5 is a int"):
        await storage.set_data(KEY, {5: "x"})  # type: ignore[dict-item]
    with pytest.raises(DataNotDictLikeError):
        await storage.set_data(KEY, [("a", 1)])  # type: ignore[arg-type]
    assert await _rows(engine) == []


async def test_different_keys_do_not_see_each_other(engine: AsyncEngine) -> None:
    storage = SqlStorage(engine)
    long_a = "a" * 300
    keys = {
        "base": KEY,
        "user": replace(KEY, user_id=8),
        "chat": replace(KEY, chat_id=1002),
        "thread": replace(KEY, thread_id=5),
        "thread0": replace(KEY, thread_id=0),
        "bot": replace(KEY, bot_id=43),
        "destiny": replace(KEY, destiny="checkout"),
        "business": replace(KEY, business_connection_id="biz:1"),
        # aiogram's DefaultKeyBuilder gives this one the same key as "thread"
        "business-not-thread": replace(KEY, chat_id=5, business_connection_id="1001"),
        "long-destiny": replace(KEY, destiny=long_a),
        "other-long-destiny": replace(KEY, destiny=long_a + "b"),
    }
    for i, (name, key) in enumerate(keys.items()):
        await storage.set_state(key, f"S:{name}")
        await storage.set_data(key, {"name": name, "i": i})
    for i, (name, key) in enumerate(keys.items()):
        assert await storage.get_state(key) == f"S:{name}"
        assert await storage.get_data(key) == {"name": name, "i": i}
    rows = await _rows(engine)
    assert len(rows) == len(keys)
    assert all(len(row.key) <= KEY_LENGTH for row in rows)

    await storage.set_state(KEY, None)
    await storage.set_data(KEY, {})
    assert await storage.get_state(keys["user"]) == "S:user"
    assert len(await _rows(engine)) == len(keys) - 1


def test_key_builder_puts_every_part_in_its_own_place() -> None:
    builder = SqlKeyBuilder()
    assert builder.build(KEY) == "fsm:42:1001:7:::default"
    key = StorageKey(42, 1, 2, thread_id=3, business_connection_id="a:b", destiny="x:y")
    assert builder.build(key) == "fsm:42:1:2:3:a%3Ab:x%3Ay"


async def test_a_restarted_bot_sees_state_and_data(engine: AsyncEngine) -> None:
    first = await _same_store(engine)
    try:
        await SqlStorage(first).set_state(KEY, Order.address)
        await SqlStorage(first).set_data(KEY, {"offer": 9, "city": "广州"})
    finally:
        await first.dispose()

    restarted = await _same_store(engine)
    try:
        storage = SqlStorage(restarted, dispose_engine=True)
        assert await storage.get_state(KEY) == "Order:address"
        assert await storage.get_data(KEY) == {"offer": 9, "city": "广州"}
        await storage.close()
    finally:
        await restarted.dispose()


async def test_concurrent_read_modify_write_under_lock_isolation_keeps_every_entry(
    engine: AsyncEngine,
) -> None:
    storage = SqlStorage(engine)
    isolation = LockIsolation()

    async def append(i: int) -> None:
        async with isolation.lock(KEY):
            data = await storage.get_data(KEY)
            await asyncio.sleep(0)
            data["items"] = [*data.get("items", []), i]
            await storage.set_data(KEY, data)

    await asyncio.gather(*(append(i) for i in range(50)))
    assert sorted((await storage.get_data(KEY))["items"]) == list(range(50))
    assert isolation.active_keys == 0


async def test_update_data_is_atomic_across_processes(engine: AsyncEngine) -> None:
    """Two engines on one store (two bot processes), no isolation at all: concurrent
    update_data calls on one key each add their own entry, and none is lost."""
    other = await _same_store(engine)
    try:
        storages = [SqlStorage(engine), SqlStorage(other)]
        await asyncio.gather(*(storages[i % 2].update_data(KEY, {f"k{i}": i}) for i in range(50)))
        assert await storages[0].get_data(KEY) == {f"k{i}": i for i in range(50)}
        await storages[1].set_state(KEY, Order.quantity)
        results = await asyncio.gather(
            *(storages[i % 2].update_data(KEY, {f"k{i}": -i}) for i in range(50))
        )
        assert await storages[1].get_data(KEY) == {f"k{i}": -i for i in range(50)}
        assert all(len(result) == 50 for result in results)
        assert await storages[0].get_state(KEY) == "Order:quantity"
    finally:
        await other.dispose()


async def test_lock_isolation_serializes_one_key_and_forgets_idle_keys() -> None:
    isolation = LockIsolation()
    other = replace(KEY, user_id=8)
    inside: dict[StorageKey, int] = {KEY: 0, other: 0}
    most: dict[StorageKey, int] = {KEY: 0, other: 0}
    both_at_once = asyncio.Event()

    async def work(key: StorageKey) -> None:
        async with isolation.lock(key):
            inside[key] += 1
            most[key] = max(most[key], inside[key])
            if inside[KEY] and inside[other]:
                both_at_once.set()
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            inside[key] -= 1

    await asyncio.gather(*(work(KEY if i % 2 else other) for i in range(40)))
    assert most == {KEY: 1, other: 1}  # one at a time per key
    assert both_at_once.is_set()  # but different keys do not wait for each other
    assert isolation.active_keys == 0
    assert isolation._locks == {}

    # a waiter that is cancelled leaves nothing behind either
    entered = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with isolation.lock(KEY):
            entered.set()
            await release.wait()

    async def waiter() -> None:
        async with isolation.lock(KEY):
            pass

    holding = asyncio.create_task(holder())
    await entered.wait()
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    assert isolation.active_keys == 1
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    await holding
    assert isolation._locks == {}

    # a thousand users one after another: nothing kept (aiogram's SimpleEventIsolation keeps
    # a lock for each of them)
    for user in range(1000):
        async with isolation.lock(replace(KEY, user_id=user)):
            pass
    assert isolation._locks == {}
    await isolation.close()


class NoNetworkSession(BaseSession):
    """A bot session that fails the test if anything tries to reach Telegram."""

    async def make_request(self, bot: Bot, method: Any, timeout: int | None = None) -> Any:  # noqa: ASYNC109 - aiogram's signature
        raise AssertionError(f"the test bot must not call Telegram ({type(method).__name__})")

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - aiogram's signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise AssertionError("the test bot must not download anything")
        yield b""  # pragma: no cover

    async def close(self) -> None:
        pass


def _updates(count: int) -> list[Update]:
    chat = Chat(id=KEY.chat_id, type="private")
    user = User(id=KEY.user_id, is_bot=False, first_name="买家")
    now = datetime.now(UTC)
    return [
        Update(
            update_id=i,
            message=Message(message_id=i, date=now, chat=chat, from_user=user, text=f"msg {i}"),
        )
        for i in range(count)
    ]


async def _run_dispatcher(storage: SqlStorage, isolation: BaseEventIsolation) -> list[str]:
    router = Router()

    @router.message()
    async def collect(message: Message, state: FSMContext) -> None:
        data = await state.get_data()
        await asyncio.sleep(0)
        await state.update_data(texts=[*data.get("texts", []), message.text])
        await state.set_state(Order.quantity)

    dp = Dispatcher(storage=storage, events_isolation=isolation)
    dp.include_router(router)
    bot = Bot("42:TEST", session=NoNetworkSession())
    async with asyncio.timeout(60):
        await asyncio.gather(*(dp.feed_update(bot, update) for update in _updates(50)))
    key = StorageKey(bot_id=bot.id, chat_id=KEY.chat_id, user_id=KEY.user_id)
    stored = SqlStorage(storage.engine)  # a plain reader, whatever ``storage`` does
    assert await stored.get_state(key) == "Order:quantity"
    return list((await stored.get_data(key))["texts"])


async def test_dispatcher_with_lock_isolation_keeps_every_message(engine: AsyncEngine) -> None:
    isolation = LockIsolation()
    texts = await _run_dispatcher(SqlStorage(engine), isolation)
    assert sorted(texts) == sorted(f"msg {i}" for i in range(50))
    assert isolation.active_keys == 0


class _ReadsMeetStorage(SqlStorage):
    """get_data returns only once all ``parties`` readers have read: the interleaving that
    concurrent handlers without isolation can hit, made certain instead of left to timing."""

    def __init__(self, engine: AsyncEngine, parties: int) -> None:
        super().__init__(engine)
        self._barrier = asyncio.Barrier(parties)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        data = await super().get_data(key)
        await self._barrier.wait()
        return data


async def test_dispatcher_without_isolation_loses_messages(engine: AsyncEngine) -> None:
    texts = await _run_dispatcher(_ReadsMeetStorage(engine, 50), DisabledEventIsolation())
    # every handler read the empty list before any wrote: the last writer wins
    assert len(texts) == 1
