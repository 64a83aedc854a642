"""Support staff take over conversations and hand them back: the full cycle through the
dispatcher with real Updates, the authorization checks, the take-over race, relay failures,
the wait limit, the queue, and the group rate limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.offline_telegram import Sent, photo, sticker, voice
from bot.staff_desk import GroupRateLimiter
from catalog_store import db
from catalog_store.models import Conversation as ConversationRow
from catalog_store.models import Message as TranscriptRow
from tests.conversation import Conversation, buyer, conversation, copy_store, make_demo_template

STAFF_CHAT = -1001234567890
ALICE, BOB, STRANGER = 9001, 9002, 9999


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_template(tmp_path_factory.mktemp("staff-demo"))[1]


@pytest.fixture
async def chat(template: Path, tmp_path: Path) -> AsyncIterator[Conversation]:
    settings = copy_store(template, tmp_path / "data").model_copy(
        update={"staff_chat_id": STAFF_CHAT, "staff_user_ids": [ALICE, BOB]}
    )
    engine = db.create_engine(settings.db_url)
    async with conversation(settings, engine=engine) as talk:
        talk.telegram.forums[STAFF_CHAT] = {"title": "客服组"}
        yield talk
    await engine.dispose()


def member(chat: Conversation, user_id: int, name: str) -> Conversation:
    return chat.as_user(buyer(user_id, "zh-hans", name))


async def in_topic(person: Conversation, thread: int, text: str | None, **content: object) -> None:
    await person.feed(
        person.telegram.group_update(person.user, STAFF_CHAT, text, thread, **content)
    )


async def in_staff_chat(person: Conversation, text: str) -> Sent | None:
    before = len(person.telegram.sent)
    await person.feed(person.telegram.group_update(person.user, STAFF_CHAT, text))
    new = [s for s in person.telegram.sent[before:] if s.chat_id == STAFF_CHAT]
    return new[-1] if new else None


def topic_of(chat: Conversation) -> int:
    threads = {thread for (c, thread) in chat.telegram.topics if c == STAFF_CHAT}
    assert threads, "no topic was opened"
    return max(threads)


async def ask_for_person(chat: Conversation) -> int:
    await chat.send("连衣裙 一件代发")
    answer = await chat.send("转人工")
    assert "已为你转人工客服，预计 10 分钟" in answer.text
    return topic_of(chat)


async def transcript(chat: Conversation) -> list[TranscriptRow]:
    async with chat.app.sessions() as session:
        return list((await session.scalars(select(TranscriptRow).order_by(TranscriptRow.id))).all())


async def test_asking_for_a_person_opens_a_topic_with_a_summary_card(chat: Conversation) -> None:
    thread = await ask_for_person(chat)
    card = chat.telegram.in_thread(STAFF_CHAT, thread)[-1]
    assert "小王" in card.text and "zh-hans" in card.text
    assert "上次搜索：连衣裙 一件代发" in card.text
    assert "最近消息" in card.text and "转人工" in card.text
    assert "bot: 🔎 连衣裙" in card.text  # the bot's side of the conversation too
    assert [b["text"] for b in card.buttons] == ["🙋 接管"]
    # asking again reuses the topic
    await chat.send("人工客服")
    assert topic_of(chat) == thread
    assert len([t for t in chat.telegram.topics if t[0] == STAFF_CHAT]) == 1


async def test_the_full_cycle_take_over_relay_notes_release(chat: Conversation) -> None:
    thread = await ask_for_person(chat)
    card = chat.telegram.in_thread(STAFF_CHAT, thread)[-1]
    alice = member(chat, ALICE, "Alice")
    await alice.press(card, "接管")
    assert alice.alerts[-1].startswith("你接管了这个对话")
    assert "人工客服Alice来为你服务了" in chat.telegram.last(chat.user.id).text

    before_bot = len(chat.messages)
    await chat.feed(chat.telegram.message_update(chat.user, "我要500件红色的"))
    for content in ({"photo": photo()}, {"sticker": sticker()}, {"voice": voice()}):
        await chat.feed(chat.telegram.message_update(chat.user, None, **content))
    assert len(chat.messages) == before_bot  # the bot said nothing
    copies = [s for s in chat.telegram.in_thread(STAFF_CHAT, thread) if s.copied_from]
    assert [c.kind for c in copies] == ["text", "photo", "sticker", "voice"]
    assert copies[0].text == "我要500件红色的"

    await in_topic(alice, thread, "可以的，500件按42元")
    assert chat.telegram.last(chat.user.id).text == "可以的，500件按42元"
    await in_topic(alice, thread, None, photo=photo(), caption="这是实拍")
    shown = chat.telegram.last(chat.user.id)
    assert shown.kind == "photo" and shown.text == "这是实拍" and shown.copied_from
    bob = member(chat, BOB, "Bob")
    await in_topic(bob, thread, "这个厂上周断货过")
    await in_topic(alice, thread, "//记一下：他要发票")
    assert chat.telegram.last(chat.user.id).text == "这是实拍"  # notes stay inside

    await in_topic(alice, thread, "/release")
    assert "机器人继续为你服务" in chat.telegram.last(chat.user.id).text
    results = await chat.send("T恤")
    assert "共" in results.text  # the bot answers again

    rows = await transcript(chat)
    kinds = [(r.direction, r.sender_kind, r.content_type) for r in rows]
    assert ("in", "buyer", "photo") in kinds and ("in", "buyer", "voice") in kinds
    assert ("out", "staff", "text") in kinds
    assert [r.text for r in rows if r.direction == "note"] == [
        "这个厂上周断货过",
        "//记一下：他要发票",
    ]
    assert all(r.created_at is not None for r in rows)


async def test_release_resumes_the_order_where_the_buyer_was(chat: Conversation) -> None:
    from tests.test_ordering import pick_offer, start_order

    offer_id = await pick_offer(chat)
    step = await start_order(chat, offer_id, "一件代发下单")
    await chat.press(step, 0)
    await chat.send("转人工")
    thread = topic_of(chat)
    alice = member(chat, ALICE, "Alice")
    await in_topic(alice, thread, "/takeover")
    await chat.feed(chat.telegram.message_update(chat.user, "2"))  # to staff, not the step
    await in_topic(alice, thread, "/release")
    resumed = chat.telegram.last(chat.user.id)
    assert "要几件" in resumed.text
    await chat.send("2")
    assert "收件人" in chat.telegram.last(chat.user.id).text


async def test_every_staff_action_is_refused_to_others(chat: Conversation) -> None:
    thread = await ask_for_person(chat)
    card = chat.telegram.in_thread(STAFF_CHAT, thread)[-1]
    for command in ("/takeover", "/release", "/queue", "/find 小王"):
        answer = await chat.send(command)  # the buyer, in private
        assert answer.text == "只有客服（STAFF_USER_IDS）可以这样做。", command
    stranger = member(chat, STRANGER, "路人")
    for command in ("/takeover", "/release"):
        before = len(chat.telegram.sent)
        await in_topic(stranger, thread, command)
        said = chat.telegram.sent[before:]
        assert said and said[-1].text == "只有客服（STAFF_USER_IDS）可以这样做。"
    for command in ("/queue", "/find 小王"):
        reply = await in_staff_chat(stranger, command)
        assert reply is not None and reply.text == "只有客服（STAFF_USER_IDS）可以这样做。"
    await stranger.press(card, "接管")
    assert stranger.alerts[-1] == "只有客服（STAFF_USER_IDS）可以这样做。"
    await chat.press_data(card, card.buttons[0]["callback_data"])  # the buyer, a forged press
    assert chat.alerts[-1] == "只有客服（STAFF_USER_IDS）可以这样做。"
    await in_topic(stranger, thread, "我是冒充的客服")
    assert all("冒充" not in s.text for s in chat.messages)
    async with chat.app.sessions() as session:
        row = (await session.scalars(select(ConversationRow))).one()
    assert row.state == "waiting" and row.staff_user_id is None


async def test_two_staff_racing_one_wins_the_other_is_told(chat: Conversation) -> None:
    thread = await ask_for_person(chat)
    card = chat.telegram.in_thread(STAFF_CHAT, thread)[-1]
    alice, bob = member(chat, ALICE, "Alice"), member(chat, BOB, "Bob")
    updates = [
        chat.telegram.press_update(alice.user, card, 0),
        chat.telegram.press_update(bob.user, card, 0),
    ]
    await asyncio.gather(*(chat.feed(u) for u in updates))
    answers = [a.get("text") for a in chat.telegram.callback_answers[-2:]]
    won = [a for a in answers if a and a.startswith("你接管了")]
    lost = [a for a in answers if a and a.startswith("已由")]
    assert len(won) == 1 and len(lost) == 1
    async with chat.app.sessions() as session:
        row = (await session.scalars(select(ConversationRow))).one()
    assert lost[0] == f"已由 {row.staff_name} 接管。"


async def test_a_deleted_topic_is_reopened_with_the_transcript(chat: Conversation) -> None:
    thread = await ask_for_person(chat)
    alice = member(chat, ALICE, "Alice")
    await in_topic(alice, thread, "/takeover")
    await chat.feed(chat.telegram.message_update(chat.user, "在吗"))
    chat.telegram.delete_topic(STAFF_CHAT, thread)  # by hand: no update reaches the bot
    await chat.feed(chat.telegram.message_update(chat.user, "还在吗？"))
    fresh = topic_of(chat)
    assert fresh != thread
    posted = chat.telegram.in_thread(STAFF_CHAT, fresh)
    assert "原话题被删除或关闭" in posted[0].text
    assert "对话记录" in posted[1].text and "在吗" in posted[1].text
    assert posted[-1].copied_from is not None and posted[-1].text == "还在吗？"
    async with chat.app.sessions() as session:
        row = (await session.scalars(select(ConversationRow))).one()
    assert row.topic_id == fresh


async def test_a_buyer_who_blocked_the_bot_is_reported_in_the_topic(chat: Conversation) -> None:
    thread = await ask_for_person(chat)
    alice = member(chat, ALICE, "Alice")
    await in_topic(alice, thread, "/takeover")
    chat.telegram.blocked.add(chat.user.id)
    await in_topic(alice, thread, "您好，还需要吗？")
    assert "买家已屏蔽机器人" in chat.telegram.in_thread(STAFF_CHAT, thread)[-1].text


async def test_an_unreachable_staff_chat_keeps_the_buyer_with_the_bot(chat: Conversation) -> None:
    del chat.telegram.forums[STAFF_CHAT]
    answer = await chat.send("转人工")
    assert "人工客服暂时联系不上" in answer.text
    assert "共" in (await chat.send("连衣裙")).text


async def test_a_long_wait_is_told_once(chat: Conversation) -> None:
    from datetime import UTC, datetime, timedelta

    from bot.order_jobs import run_staff_chores

    await ask_for_person(chat)
    soon = datetime.now(UTC) + timedelta(minutes=5)
    assert await run_staff_chores(chat.app, chat.bot, now=soon) == []
    late = datetime.now(UTC) + timedelta(minutes=11)
    assert len(await run_staff_chores(chat.app, chat.bot, now=late)) == 1
    assert "客服都在忙" in chat.telegram.last(chat.user.id).text
    assert await run_staff_chores(chat.app, chat.bot, now=late) == []


async def test_queue_and_find(chat: Conversation) -> None:
    await ask_for_person(chat)
    alice = member(chat, ALICE, "Alice")
    queue = await in_staff_chat(alice, "/queue")
    assert queue is not None and "小王" in queue.text and "等待人工" in queue.text
    assert [b["text"] for b in queue.buttons] == ["打开 小王", "接管"]
    found = await in_staff_chat(alice, "/find 小王")
    assert found is not None and "小王" in found.text
    nothing = await in_staff_chat(alice, "/find 不存在的人")
    assert nothing is not None and "没有等待或最近的对话" in nothing.text
    await alice.press(queue, "接管")
    assert alice.alerts[-1].startswith("你接管了")


async def test_the_start_up_check_says_what_is_wrong(chat: Conversation) -> None:
    desk = chat.app.dispatcher["desk"]
    assert await desk.problems(chat.bot) == []
    chat.telegram.forums[STAFF_CHAT]["can_manage"] = False
    assert any("Manage topics" in p for p in await desk.problems(chat.bot))
    chat.telegram.forums[STAFF_CHAT]["is_forum"] = False
    assert any("not a supergroup with topics" in p for p in await desk.problems(chat.bot))
    del chat.telegram.forums[STAFF_CHAT]
    assert any("unreachable" in p for p in await desk.problems(chat.bot))


async def test_the_group_limit_queues_sends_instead_of_dropping_them() -> None:
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = GroupRateLimiter(20, clock=lambda: now[0], sleep=sleep)
    done = []
    for n in range(45):
        await limiter.wait_turn()
        done.append((n, now[0]))
    assert len(done) == 45  # none dropped
    assert all(t == 0 for n, t in done[:20])
    assert all(60 <= t < 120 for n, t in done[20:40]) and all(t >= 120 for n, t in done[40:])
    in_any_minute = max(sum(1 for _, t in done if start <= t < start + 60) for _, start in done)
    assert in_any_minute <= 20


async def test_the_card_shows_the_order_in_progress_and_masks_mobiles(chat: Conversation) -> None:
    from tests.test_ordering import RECIPIENT, drop_ship_to_review, pick_offer, start_order

    offer_id = await pick_offer(chat)
    review = await drop_ship_to_review(chat, offer_id)
    await chat.press(review, "确认下单")
    step = await start_order(chat, offer_id, "一件代发下单")
    await chat.press(step, 0)
    await chat.send("3")
    await chat.send(RECIPIENT)
    await chat.send("转人工")
    card = chat.telegram.in_thread(STAFF_CHAT, topic_of(chat))[-1]
    assert "进行中的订单：一件代发下单" in card.text and "'qty': 3" in card.text
    assert "手机 138****8000" in card.text and "13800138000" not in card.text


async def test_a_closed_topic_and_an_album(chat: Conversation) -> None:
    thread = await ask_for_person(chat)
    alice = member(chat, ALICE, "Alice")
    await in_topic(alice, thread, "/takeover")
    chat.telegram.topics[(STAFF_CHAT, thread)]["closed"] = True  # closed by hand
    desk = chat.app.dispatcher["desk"]
    desk.album_wait = 0.01
    for _ in range(3):
        await chat.feed(
            chat.telegram.message_update(chat.user, None, photo=photo(), media_group_id="a1")
        )
    await desk.drain()
    albums = [params for name, params in chat.telegram.calls if name == "copyMessages"]
    assert [len(a["message_ids"]) for a in albums][-1] == 3  # one album, not three photos
    fresh = topic_of(chat)
    assert fresh != thread
    copies = [s for s in chat.telegram.in_thread(STAFF_CHAT, fresh) if s.copied_from]
    assert [c.kind for c in copies] == ["photo", "photo", "photo"]
    rows = await transcript(chat)
    assert [r.content_type for r in rows if r.media_group_id == "a1"] == ["album"] * 3


async def test_staff_chat_lost_during_a_takeover_hands_the_buyer_back(chat: Conversation) -> None:
    thread = await ask_for_person(chat)
    alice = member(chat, ALICE, "Alice")
    await in_topic(alice, thread, "/takeover")
    del chat.telegram.forums[STAFF_CHAT]
    chat.telegram.fail_next("copyMessage", 400, "Bad Request: chat not found")
    await chat.feed(chat.telegram.message_update(chat.user, "连衣裙"))
    texts = [m.text for m in chat.messages[-2:]]
    assert any("人工客服暂时联系不上" in t for t in texts)
    assert "共" in texts[-1]  # and the bot answered the message itself


async def test_staff_chat_lost_while_an_album_is_copied_hands_the_buyer_back(
    chat: Conversation,
) -> None:
    thread = await ask_for_person(chat)
    alice = member(chat, ALICE, "Alice")
    await in_topic(alice, thread, "/takeover")
    desk = chat.app.dispatcher["desk"]
    desk.album_wait = 0.01
    del chat.telegram.forums[STAFF_CHAT]
    chat.telegram.fail_next("copyMessages", 400, "Bad Request: chat not found")
    for _ in range(2):
        await chat.feed(
            chat.telegram.message_update(chat.user, None, photo=photo(), media_group_id="a2")
        )
    await desk.drain()
    assert "人工客服暂时联系不上" in chat.messages[-1].text
    answer = await chat.send("连衣裙")  # back with the bot: a search is answered
    assert "共" in answer.text
