"""catalog_store.conversations, on SQLite and PostgreSQL: one conversation per buyer, asking
for a person, taking over (20 staff racing: one winner), releasing, topics, the transcript,
the last query, the staff queue, finding a buyer by name or order number, the SLA check."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog_store import conversations as conv
from catalog_store import db
from catalog_store.buyers import upsert_buyer
from catalog_store.importer import import_catalog
from catalog_store.models import Conversation, Message
from catalog_store.orders import place_order
from tests.catalog_samples import write_catalog

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
BUYER = 5_000_000_001
OTHER_BUYER = 5_000_000_002
STAFF = 777
STAFF_NAME = "客服小李"
OTHER_STAFF = 888
RECIPIENT = {
    "name": "王小明",
    "mobile": "13800138000",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "street": "文三路 100 号 3 栋 502",
}


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def _in_session(engine: AsyncEngine, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(session, ...)`` in its own committed transaction."""
    async with db.session_factory(engine)() as session, session.begin():
        return await fn(session, *args, **kwargs)


async def _conversation(engine: AsyncEngine, buyer_id: int = BUYER) -> conv.ConversationView:
    return await _in_session(engine, conv.get_or_create, buyer_id, now=T0)


async def _count(engine: AsyncEngine, model: Any) -> int:
    async with db.session_factory(engine)() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


# --- the tables ----------------------------------------------------------------------------


async def test_migration_0005_adds_and_removes_the_tables(engine: AsyncEngine) -> None:
    async def tables() -> set[str]:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))

    assert {"conversations", "messages"} <= await tables()
    await db.downgrade(engine, "0004")
    assert not {"conversations", "messages"} & await tables()
    assert "orders" in await tables()
    await db.migrate(engine)
    assert {"conversations", "messages"} <= await tables()


# --- one conversation per buyer ------------------------------------------------------------


async def test_get_or_create_makes_one_row_per_buyer(engine: AsyncEngine) -> None:
    first = await _conversation(engine)
    assert (first.buyer_id, first.state, first.staff_user_id, first.topic_id) == (
        BUYER,
        "bot",
        None,
        None,
    )
    assert first.created_at == T0 and first.created_at.tzinfo is not None
    again = await _in_session(engine, conv.get_or_create, BUYER, now=_at(5))
    assert again == first
    other = await _conversation(engine, OTHER_BUYER)
    assert other.id != first.id
    assert await _count(engine, Conversation) == 2
    async with db.session_factory(engine)() as session:
        assert await conv.get(session, first.id) == first
        assert await conv.for_buyer(session, BUYER) == first
        assert await conv.for_buyer(session, 123) is None
        assert await conv.get(session, 10_000) is None


async def test_get_or_create_at_once_for_one_buyer_is_one_row(engine: AsyncEngine) -> None:
    results = await asyncio.gather(*(_conversation(engine) for _ in range(5)))
    assert len({r.id for r in results}) == 1
    assert await _count(engine, Conversation) == 1


# --- asking for a person -------------------------------------------------------------------


async def test_request_person_is_idempotent(engine: AsyncEngine) -> None:
    asked = await conv.request_person(engine, BUYER, now=_at(1))  # creates the row
    assert (asked.state, asked.requested_at, asked.sla_notified_at) == ("waiting", _at(1), None)
    assert (asked.created_at, asked.updated_at) == (_at(1), _at(1))
    again = await conv.request_person(engine, BUYER, now=_at(2))
    assert again == asked  # still the first request
    assert await _count(engine, Conversation) == 1


async def test_request_person_while_taken_changes_nothing_and_after_release_asks_anew(
    engine: AsyncEngine,
) -> None:
    asked = await conv.request_person(engine, BUYER, now=_at(1))
    async with db.session_factory(engine)() as session, session.begin():
        assert await conv.mark_sla_notified(session, asked.id, _at(10))
    taken = await conv.take_over(engine, asked.id, STAFF, STAFF_NAME, now=_at(11))
    assert taken.won
    assert await conv.request_person(engine, BUYER, now=_at(12)) == taken.conversation
    released = await conv.release(engine, asked.id, STAFF, now=_at(20))
    assert released is not None and released.state == "bot"
    anew = await conv.request_person(engine, BUYER, now=_at(30))
    assert (anew.state, anew.requested_at, anew.sla_notified_at) == ("waiting", _at(30), None)
    assert anew.id == asked.id  # the buyer's one row, reused


# --- taking over ---------------------------------------------------------------------------


async def test_take_over_a_waiting_conversation(engine: AsyncEngine) -> None:
    asked = await conv.request_person(engine, BUYER, now=_at(1))
    result = await conv.take_over(engine, asked.id, STAFF, STAFF_NAME, now=_at(3))
    assert result.won
    view = result.conversation
    assert (view.state, view.staff_user_id, view.staff_name) == ("taken", STAFF, STAFF_NAME)
    assert (view.requested_at, view.taken_at, view.updated_at) == (_at(1), _at(3), _at(3))
    # the holder again: a win that changes nothing
    again = await conv.take_over(engine, asked.id, STAFF, "another name", now=_at(5))
    assert again.won and again.conversation == view
    # someone else: lost, and told who has it
    lost = await conv.take_over(engine, asked.id, OTHER_STAFF, "老王", now=_at(6))
    assert not lost.won
    assert lost.conversation == view


async def test_staff_may_take_a_conversation_that_did_not_ask(engine: AsyncEngine) -> None:
    quiet = await _conversation(engine)
    result = await conv.take_over(engine, quiet.id, STAFF, STAFF_NAME, now=_at(2))
    assert result.won and result.conversation.state == "taken"
    assert result.conversation.requested_at is None


async def test_take_over_an_unknown_conversation_raises(engine: AsyncEngine) -> None:
    with pytest.raises(LookupError):
        await conv.take_over(engine, 12345, STAFF, STAFF_NAME)


async def test_twenty_staff_racing_one_wins(engine: AsyncEngine) -> None:
    asked = await conv.request_person(engine, BUYER, now=_at(1))
    open_now = 0
    most_open = 0

    def checkout(*_: Any) -> None:
        nonlocal open_now, most_open
        open_now += 1
        most_open = max(most_open, open_now)

    def checkin(*_: Any) -> None:
        nonlocal open_now
        open_now -= 1

    pool = engine.sync_engine.pool
    event.listen(pool, "checkout", checkout)
    event.listen(pool, "checkin", checkin)
    try:
        results = await asyncio.gather(
            *(
                conv.take_over(engine, asked.id, 1000 + i, f"staff {i}", now=_at(2))
                for i in range(20)
            )
        )
    finally:
        event.remove(pool, "checkout", checkout)
        event.remove(pool, "checkin", checkin)
    assert most_open > 1  # real concurrency: separate pooled connections at once
    winners = [i for i, r in enumerate(results) if r.won]
    assert len(winners) == 1, results
    winner = 1000 + winners[0]
    for result in results:
        assert result.conversation.state == "taken"
        assert result.conversation.staff_user_id == winner
        assert result.conversation.staff_name == f"staff {winners[0]}"
    async with db.session_factory(engine)() as session:
        stored = await conv.get(session, asked.id)
    assert stored is not None and (stored.staff_user_id, stored.state) == (winner, "taken")


# --- releasing -----------------------------------------------------------------------------


async def test_release_only_by_the_holder_or_forced(engine: AsyncEngine) -> None:
    asked = await conv.request_person(engine, BUYER, now=_at(1))
    assert await conv.release(engine, asked.id, STAFF, now=_at(2)) is None  # not taken
    await conv.take_over(engine, asked.id, STAFF, STAFF_NAME, now=_at(3))
    assert await conv.release(engine, asked.id, OTHER_STAFF, now=_at(4)) is None
    assert await conv.release(engine, asked.id, None, now=_at(4)) is None
    async with db.session_factory(engine)() as session:
        still = await conv.get(session, asked.id)
    assert still is not None and (still.state, still.staff_user_id) == ("taken", STAFF)

    released = await conv.release(engine, asked.id, STAFF, now=_at(5))
    assert released is not None
    assert (released.state, released.released_at, released.updated_at) == ("bot", _at(5), _at(5))
    # the last holder stays named (the queue shows who handled it)
    assert (released.staff_user_id, released.staff_name) == (STAFF, STAFF_NAME)
    assert await conv.release(engine, asked.id, STAFF, now=_at(6)) is None  # already back

    await conv.take_over(engine, asked.id, STAFF, STAFF_NAME, now=_at(7))
    forced = await conv.release(engine, asked.id, OTHER_STAFF, now=_at(8), force=True)
    assert forced is not None and (forced.state, forced.released_at) == ("bot", _at(8))
    await conv.take_over(engine, asked.id, STAFF, STAFF_NAME, now=_at(9))
    forced = await conv.release(engine, asked.id, None, now=_at(10), force=True)
    assert forced is not None and forced.state == "bot"
    assert await conv.release(engine, 12345, STAFF, force=True) is None
    # back with the bot, anyone may take it again
    again = await conv.take_over(engine, asked.id, OTHER_STAFF, "老王", now=_at(11))
    assert again.won and again.conversation.staff_user_id == OTHER_STAFF


# --- topics --------------------------------------------------------------------------------


async def test_topics_set_found_and_cleared(engine: AsyncEngine) -> None:
    first = await _conversation(engine)
    second = await _conversation(engine, OTHER_BUYER)
    await _in_session(engine, conv.set_topic, first.id, 501, "王小明 · 5000000001")
    await _in_session(engine, conv.set_topic, second.id, 502, "x" * 300)
    async with db.session_factory(engine)() as session:
        found = await conv.by_topic(session, 501)
        assert found is not None and found.id == first.id
        assert found.topic_name == "王小明 · 5000000001"
        other = await conv.by_topic(session, 502)
        assert other is not None and other.topic_name == "x" * 128
        assert await conv.by_topic(session, 999) is None
    await _in_session(engine, conv.clear_topic, first.id)
    async with db.session_factory(engine)() as session:
        assert await conv.by_topic(session, 501) is None
        cleared = await conv.get(session, first.id)
    assert cleared is not None and (cleared.topic_id, cleared.topic_name) == (None, None)
    # the next relay opens a new topic
    await _in_session(engine, conv.set_topic, first.id, 601, "new")
    async with db.session_factory(engine)() as session:
        reopened = await conv.by_topic(session, 601)
    assert reopened is not None and reopened.id == first.id


# --- the transcript ------------------------------------------------------------------------


async def test_record_and_transcript_in_order_with_a_limit(engine: AsyncEngine) -> None:
    first = await _conversation(engine)
    other = await _conversation(engine, OTHER_BUYER)
    ids = []
    async with db.session_factory(engine)() as session, session.begin():
        ids.append(
            await conv.record(
                session,
                first.id,
                direction="in",
                sender_kind="buyer",
                sender_id=BUYER,
                sender_name="王小明",
                content_type="text",
                text="有人吗",
                telegram_message_id=10,
                now=_at(1),
            )
        )
        ids.append(
            await conv.record(
                session,
                first.id,
                direction="out",
                sender_kind="staff",
                sender_id=STAFF,
                sender_name=STAFF_NAME,
                content_type="photo",
                text="这款吗",
                file_id="AgACAgIAAxkBAAIB",
                media_group_id="13579",
                telegram_message_id=11,
                now=_at(2),
            )
        )
        ids.append(
            await conv.record(
                session,
                first.id,
                direction="note",
                sender_kind="staff",
                sender_id=STAFF,
                sender_name=STAFF_NAME,
                content_type="text",
                text="老客户",
                now=_at(3),
            )
        )
        await conv.record(
            session,
            other.id,
            direction="out",
            sender_kind="bot",
            sender_id=None,
            sender_name=None,
            content_type="text",
            text="别的对话",
            now=_at(2),
        )
    assert len(set(ids)) == 3
    async with db.session_factory(engine)() as session:
        messages = await conv.transcript(session, first.id)
        assert [m.id for m in messages] == ids
        assert [m.text for m in messages] == ["有人吗", "这款吗", "老客户"]
        assert [m.direction for m in messages] == ["in", "out", "note"]
        photo = messages[1]
        assert photo == conv.MessageView(
            id=ids[1],
            conversation_id=first.id,
            direction="out",
            sender_kind="staff",
            sender_id=STAFF,
            sender_name=STAFF_NAME,
            content_type="photo",
            text="这款吗",
            file_id="AgACAgIAAxkBAAIB",
            media_group_id="13579",
            telegram_message_id=11,
            created_at=_at(2),
        )
        assert [m.text for m in await conv.transcript(session, first.id, limit=2)] == [
            "这款吗",
            "老客户",
        ]
        assert len(await conv.transcript(session, first.id, limit=10)) == 3
        assert await conv.transcript(session, first.id, limit=0) == []
        assert [m.text for m in await conv.transcript(session, other.id)] == ["别的对话"]
        assert await conv.transcript(session, 12345) == []
        moved = await conv.get(session, first.id)
    assert moved is not None and moved.updated_at == _at(3)  # the last message's time


async def test_record_refuses_unknown_kinds(engine: AsyncEngine) -> None:
    first = await _conversation(engine)
    base: dict[str, Any] = {
        "direction": "in",
        "sender_kind": "buyer",
        "sender_id": BUYER,
        "sender_name": None,
        "content_type": "text",
        "text": "hi",
    }
    for change in (
        {"direction": "sideways"},
        {"sender_kind": "robot"},
        {"content_type": ""},
        {"content_type": "x" * 17},
    ):
        with pytest.raises(ValueError):
            await _in_session(engine, conv.record, first.id, **{**base, **change})
    assert await _count(engine, Message) == 0


# --- the last query ------------------------------------------------------------------------


async def test_set_last_query_creates_or_replaces(engine: AsyncEngine) -> None:
    query = {"text": "发夹 10元以内", "category": ["配饰", "发夹"], "price_max": "10"}
    await _in_session(engine, conv.set_last_query, OTHER_BUYER, query, now=_at(1))
    async with db.session_factory(engine)() as session:
        created = await conv.for_buyer(session, OTHER_BUYER)
    assert created is not None
    assert (created.state, created.last_query) == ("bot", query)

    asked = await conv.request_person(engine, BUYER, now=_at(2))
    await _in_session(engine, conv.set_last_query, BUYER, {"text": "保温杯"}, now=_at(3))
    await _in_session(engine, conv.set_last_query, BUYER, {"text": "草帽"}, now=_at(4))
    async with db.session_factory(engine)() as session:
        kept = await conv.get(session, asked.id)
    assert kept is not None
    assert (kept.state, kept.last_query, kept.requested_at) == ("waiting", {"text": "草帽"}, _at(2))


# --- the staff queue -----------------------------------------------------------------------


async def test_queue_waiting_then_taken_then_recent_with_a_topic(engine: AsyncEngine) -> None:
    b = 6_000_000_000
    # waiting, asked at 3 and 1 (the older first)
    w_late = await conv.request_person(engine, b + 1, now=_at(3))
    w_early = await conv.request_person(engine, b + 2, now=_at(1))
    # taken
    t = await conv.request_person(engine, b + 3, now=_at(0))
    await conv.take_over(engine, t.id, STAFF, STAFF_NAME, now=_at(2))
    # released ones with a topic, at 10 and 20 (the more recent first), one without a topic
    r_old = await conv.request_person(engine, b + 4, now=_at(0))
    r_new = await conv.request_person(engine, b + 5, now=_at(0))
    r_none = await conv.request_person(engine, b + 6, now=_at(0))
    for view, topic, released_at in ((r_old, 41, 10), (r_new, 42, 20), (r_none, None, 30)):
        await conv.take_over(engine, view.id, STAFF, STAFF_NAME, now=_at(5))
        if topic is not None:
            await _in_session(engine, conv.set_topic, view.id, topic, "t")
        await conv.release(engine, view.id, STAFF, now=_at(released_at))
    # never asked, no topic: not in the queue
    await _conversation(engine, b + 7)

    async with db.session_factory(engine)() as session:
        listed = await conv.queue(session)
        assert [v.id for v in listed] == [w_early.id, w_late.id, t.id, r_new.id, r_old.id]
        assert [v.state for v in listed] == ["waiting", "waiting", "taken", "bot", "bot"]
        assert [v.id for v in await conv.queue(session, recent=1)] == [
            w_early.id,
            w_late.id,
            t.id,
            r_new.id,
        ]
        assert [v.id for v in await conv.queue(session, recent=0)] == [
            w_early.id,
            w_late.id,
            t.id,
        ]


# --- finding a buyer -----------------------------------------------------------------------


async def test_find_by_buyer_name_or_username(engine: AsyncEngine) -> None:
    async with db.session_factory(engine)() as session, session.begin():
        await upsert_buyer(session, BUYER, "王小明", "Wang_XM", "zh-hans", now=_at(1))
        await upsert_buyer(session, OTHER_BUYER, "Xiaoming Li", None, "en", now=_at(2))
        await upsert_buyer(session, 5_000_000_003, "Zhang", "zhang_99%", None, now=_at(3))
    assert await _count(engine, Conversation) == 0

    async def find(text: str) -> list[conv.ConversationView]:
        return await _in_session(engine, conv.find, text, now=_at(5))

    by_name = await find("小明")
    assert [v.buyer_id for v in by_name] == [BUYER]
    assert by_name[0].state == "bot"  # created for the search
    assert [v.buyer_id for v in await find("wang_xm")] == [BUYER]
    assert [v.buyer_id for v in await find("@WANG")] == [BUYER]
    assert [v.buyer_id for v in await find("XIAOMING")] == [OTHER_BUYER]
    # the most recently seen first
    assert [v.buyer_id for v in await find("m")] == [OTHER_BUYER, BUYER]
    # LIKE wildcards are plain characters
    assert [v.buyer_id for v in await find("99%")] == [5_000_000_003]
    assert [v.buyer_id for v in await find("%")] == [5_000_000_003]
    assert [v.buyer_id for v in await find("g_")] == [5_000_000_003, BUYER]  # not "g " of Li
    assert await find("nobody") == []
    assert await find("   ") == []
    assert await _count(engine, Conversation) == 3
    # an existing conversation is found as it is
    asked = await conv.request_person(engine, BUYER, now=_at(6))
    assert await find("王") == [asked]


async def test_find_returns_at_most_ten(engine: AsyncEngine) -> None:
    async with db.session_factory(engine)() as session, session.begin():
        for i in range(15):
            await upsert_buyer(session, 7_000_000_000 + i, f"Anna {i}", None, None, now=_at(i))
    found = await _in_session(engine, conv.find, "anna", now=_at(20))
    assert len(found) == conv.FIND_LIMIT == 10
    assert [v.buyer_id for v in found] == [7_000_000_000 + i for i in range(14, 4, -1)]


async def test_find_by_order_number(engine: AsyncEngine, tmp_path: Path) -> None:
    await import_catalog(engine, write_catalog(tmp_path / "catalog"))
    placed = await place_order(
        engine,
        idempotency_key="find-1",
        buyer_id=OTHER_BUYER,
        offer_id="o-hairclip-1",
        kind="dropship",
        lines=[("s-red", 1)],
        customization=[],
        recipient=RECIPIENT,
        options={},
        now=T0,
    )
    async with db.session_factory(engine)() as session, session.begin():
        await upsert_buyer(session, BUYER, "王小明", None, None, now=_at(1))
    assert await _count(engine, Conversation) == 0

    found = await _in_session(engine, conv.find, placed.number, now=_at(2))
    # the order's buyer gets a conversation (no buyers row needed)
    assert [(v.buyer_id, v.state, v.created_at) for v in found] == [(OTHER_BUYER, "bot", _at(2))]
    again = await _in_session(engine, conv.find, f"  {placed.number.lower()} ", now=_at(3))
    assert again == found
    assert await _in_session(engine, conv.find, placed.number[:-1] + "9") == []
    assert await _count(engine, Conversation) == 1


# --- the SLA -------------------------------------------------------------------------------


async def test_sla_due_and_mark(engine: AsyncEngine) -> None:
    old = await conv.request_person(engine, BUYER, now=_at(0))
    young = await conv.request_person(engine, OTHER_BUYER, now=_at(8))
    taken = await conv.request_person(engine, 5_000_000_003, now=_at(0))
    await conv.take_over(engine, taken.id, STAFF, STAFF_NAME, now=_at(1))
    await _conversation(engine, 5_000_000_004)  # with the bot: never due

    async with db.session_factory(engine)() as session, session.begin():
        assert [v.id for v in await conv.sla_due(session, _at(10), 10)] == [old.id]
        assert [v.id for v in await conv.sla_due(session, _at(9), 10)] == []
        assert [v.id for v in await conv.sla_due(session, _at(20), 10)] == [old.id, young.id]
        assert await conv.mark_sla_notified(session, old.id, _at(20))
        assert not await conv.mark_sla_notified(session, old.id, _at(21))  # once
        assert not await conv.mark_sla_notified(session, taken.id, _at(21))  # not waiting
        assert not await conv.mark_sla_notified(session, 12345, _at(21))
        assert [v.id for v in await conv.sla_due(session, _at(30), 10)] == [young.id]
        marked = await conv.get(session, old.id)
    assert marked is not None and marked.sla_notified_at == _at(20)
