"""catalog_store.buyers: the buyer upsert and the blocked mark, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog_store import db
from catalog_store.buyers import is_blocked, mark_blocked, upsert_buyer
from catalog_store.models import Buyer

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)


async def _stored(engine: AsyncEngine, user_id: int) -> Buyer | None:
    async with db.session_factory(engine)() as session:
        return await session.get(Buyer, user_id)


async def test_upsert_inserts_a_new_buyer(engine: AsyncEngine) -> None:
    async with db.session_factory(engine)() as session, session.begin():
        buyer = await upsert_buyer(session, 5_000_000_001, "Li", "li_w", "zh-hans", now=T0)
    assert (buyer.id, buyer.first_name, buyer.username, buyer.language_code) == (
        5_000_000_001,
        "Li",
        "li_w",
        "zh-hans",
    )
    assert buyer.blocked_at is None
    stored = await _stored(engine, 5_000_000_001)
    assert stored is not None
    assert stored.created_at == T0
    assert stored.last_seen_at == T0
    assert stored.created_at.tzinfo is not None


async def test_upsert_updates_names_and_last_seen_but_keeps_created_at(
    engine: AsyncEngine,
) -> None:
    factory = db.session_factory(engine)
    async with factory() as session, session.begin():
        await upsert_buyer(session, 42, "Li", "li_w", "zh-hans", now=T0)
    async with factory() as session, session.begin():
        buyer = await upsert_buyer(session, 42, "Wei", None, "en", now=T1)
    assert (buyer.first_name, buyer.username, buyer.language_code) == ("Wei", None, "en")
    assert buyer.created_at == T0
    assert buyer.last_seen_at == T1
    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(Buyer)) == 1


async def test_upsert_keeps_the_language_when_telegram_leaves_it_out(
    engine: AsyncEngine,
) -> None:
    factory = db.session_factory(engine)
    async with factory() as session, session.begin():
        await upsert_buyer(session, 42, "Li", None, "ru", now=T0)
    async with factory() as session, session.begin():
        buyer = await upsert_buyer(session, 42, "Li", None, None, now=T1)
    assert buyer.language_code == "ru"


async def test_upsert_returns_fresh_values_for_a_buyer_already_in_the_session(
    engine: AsyncEngine,
) -> None:
    async with db.session_factory(engine)() as session, session.begin():
        first = await upsert_buyer(session, 42, "Li", None, None, now=T0)
        second = await upsert_buyer(session, 42, "Wei", None, None, now=T1)
    assert second is first
    assert (second.first_name, second.last_seen_at) == ("Wei", T1)


async def test_mark_blocked_sets_blocked_at_on_a_known_buyer(engine: AsyncEngine) -> None:
    factory = db.session_factory(engine)
    async with factory() as session, session.begin():
        await upsert_buyer(session, 42, "Li", "li_w", "zh-hans", now=T0)
    async with factory() as session, session.begin():
        assert not await is_blocked(session, 42)
        await mark_blocked(session, 42, now=T1)
    async with factory() as session:
        assert await is_blocked(session, 42)
    stored = await _stored(engine, 42)
    assert stored is not None
    assert stored.blocked_at == T1
    assert (stored.first_name, stored.username, stored.last_seen_at) == ("Li", "li_w", T0)


async def test_mark_blocked_inserts_a_minimal_row_for_an_unknown_user(
    engine: AsyncEngine,
) -> None:
    factory = db.session_factory(engine)
    async with factory() as session, session.begin():
        await mark_blocked(session, 77, now=T1)
    stored = await _stored(engine, 77)
    assert stored is not None
    assert (stored.first_name, stored.username, stored.language_code) == ("", None, None)
    assert stored.blocked_at == T1
    assert stored.created_at == T1


async def test_mark_blocked_twice_keeps_the_first_time(engine: AsyncEngine) -> None:
    factory = db.session_factory(engine)
    async with factory() as session, session.begin():
        await mark_blocked(session, 77, now=T1)
    async with factory() as session, session.begin():
        await mark_blocked(session, 77, now=T2)
    stored = await _stored(engine, 77)
    assert stored is not None
    assert stored.blocked_at == T1


async def test_writing_again_clears_the_block(engine: AsyncEngine) -> None:
    factory = db.session_factory(engine)
    async with factory() as session, session.begin():
        await mark_blocked(session, 42, now=T1)
    async with factory() as session, session.begin():
        buyer = await upsert_buyer(session, 42, "Li", None, "en", now=T2)
    assert buyer.blocked_at is None
    assert buyer.created_at == T1
    async with factory() as session:
        assert not await is_blocked(session, 42)


async def test_is_blocked_is_false_for_unknown_users(engine: AsyncEngine) -> None:
    async with db.session_factory(engine)() as session:
        assert not await is_blocked(session, 123)


async def test_nothing_is_written_without_the_callers_commit(engine: AsyncEngine) -> None:
    factory = db.session_factory(engine)
    async with factory() as session:
        await upsert_buyer(session, 42, "Li", None, None)
        await mark_blocked(session, 43)
        await session.rollback()
    assert await _stored(engine, 42) is None
    assert await _stored(engine, 43) is None


async def test_concurrent_upserts_of_one_buyer_do_not_collide(engine: AsyncEngine) -> None:
    factory = db.session_factory(engine)

    async def one(name: str) -> None:
        async with factory() as session, session.begin():
            await upsert_buyer(session, 42, name, None, None)

    await asyncio.gather(*(one(f"n{i}") for i in range(8)))
    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(Buyer)) == 1
