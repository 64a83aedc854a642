"""The buyer's conversation through the real dispatcher, with real Updates, on a demo catalog.

Every message the bot sends goes through the offline Bot API double, which refuses what
Telegram refuses (over 4096 characters, over 1024 in a caption, callback data over 64 bytes,
over 100 buttons, broken HTML, an edit that changes nothing): a test that provokes one of
those sees the bot's apology instead of its answer, and fails.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.offline_telegram import Sent, photo, sticker, voice
from bot.settings import Settings
from catalog_store import db
from catalog_store.browse import PAGE_SIZE
from catalog_store.importer import import_catalog
from catalog_store.models import Buyer, BuyerSearch, Offer, OfferKey
from handlers.callbacks import OfferCB, PageCB
from tests.conftest import PG_URL, _pg_problem, service_missing
from tests.conversation import (
    Conversation,
    buyer,
    conversation,
    copy_store,
    make_demo_template,
    text_of,
)

PRICE = re.compile(r"¥(\d+\.\d\d)")
HIT_LINE = re.compile(r"^(\d+)\. ", re.M)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_demo_template(tmp_path_factory.mktemp("demo"))


@pytest.fixture
async def store(
    backend: str, demo_template: tuple[Path, Path], tmp_path: Path
) -> AsyncIterator[tuple[Settings, object]]:
    """Settings and an engine for a store holding the demo catalog (SQLite or PostgreSQL)."""
    catalog, template = demo_template
    if backend == "sqlite":
        settings = copy_store(template, tmp_path / "data")
        engine = db.create_engine(settings.db_url)
        yield settings, engine
        await engine.dispose()
        return
    problem = await _pg_problem()
    if problem:
        service_missing(problem)
    scratch = await db.scratch_store(PG_URL, prefix="t")
    try:
        assert (await import_catalog(scratch.engine, catalog)).committed
        yield Settings(data_dir=tmp_path / "data", database_url=PG_URL), scratch.engine
    finally:
        await scratch.close()


@pytest.fixture
async def sqlite_store(
    demo_template: tuple[Path, Path], tmp_path: Path
) -> AsyncIterator[tuple[Settings, object]]:
    settings = copy_store(demo_template[1], tmp_path / "data")
    engine = db.create_engine(settings.db_url)
    yield settings, engine
    await engine.dispose()


@pytest.fixture
async def chat(sqlite_store: tuple[Settings, object]) -> AsyncIterator[Conversation]:
    settings, engine = sqlite_store
    async with conversation(settings, engine=engine) as talk:
        yield talk


def hit_numbers(sent: Sent) -> list[int]:
    return [int(n) for n in HIT_LINE.findall(sent.text)]


def hit_prices(sent: Sent) -> list[Decimal]:
    """The first price on each hit's facts line (the unit price by the contract's rule)."""
    prices = []
    lines = sent.text.splitlines()
    for i, line in enumerate(lines):
        if HIT_LINE.match(line):
            prices.append(Decimal(PRICE.search(lines[i + 1]).group(1)))  # type: ignore[union-attr]
    return prices


def no_apology(talk: Conversation) -> None:
    sorry = text_of("error.sorry")
    assert all(m.text != sorry for m in talk.telegram.sent), "the bot hit an error"


# --- greeting and examples ----------------------------------------------------------------


async def test_start_greets_in_chinese_by_default_with_three_examples(chat: Conversation) -> None:
    greeting = await chat.send("/start")
    assert greeting.text.startswith("你好，小王")
    assert len(greeting.buttons) == 3
    assert greeting.buttons[0]["text"] == "连衣裙 一件代发"


async def test_start_greets_english_clients_in_english(chat: Conversation) -> None:
    english = chat.as_user(buyer(6001, "en-US", "Ann"))
    greeting = await english.send("/start")
    assert greeting.text.startswith("Hi Ann!")
    unknown_language = chat.as_user(buyer(6002, "fr", "Zoé"))
    assert (await unknown_language.send("/start")).text.startswith("你好，Zoé")


async def test_example_buttons_run_their_searches_and_each_finds_offers(
    chat: Conversation,
) -> None:
    greeting = await chat.send("/start")
    results = await chat.press(greeting, "连衣裙 一件代发")
    assert results.message_id != greeting.message_id
    assert "连衣裙" in results.text and "一件代发" in results.text
    assert hit_numbers(results) == [1, 2, 3, 4, 5]
    for n, button in enumerate(greeting.buttons):
        shown = await chat.press(greeting, n)
        assert hit_numbers(shown), f"example {button['text']} finds nothing"
    no_apology(chat)


async def test_the_understood_line_names_each_thing_once(chat: Conversation) -> None:
    results = await chat.send("50元以内纯棉t恤 定制logo")
    assert results.text.splitlines()[0] == "🔎 T恤 · 纯棉 · ≤¥50 · 定制logo"


# --- results, pages, refinements ------------------------------------------------------------


async def test_query_answers_with_top_five_and_buttons(chat: Conversation) -> None:
    results = await chat.send("连衣裙 一件代发 100元以内")
    assert hit_numbers(results) == [1, 2, 3, 4, 5]
    assert results.text.count("代发 ¥") == 5  # every hit offers drop-ship, with its price
    assert all(p <= Decimal(100) for p in hit_prices(results))  # drop-ship price rule
    labels = [b["text"] for b in results.buttons]
    assert labels[:5] == ["1", "2", "3", "4", "5"]
    assert "下一页 ▶" in labels and "只看超级工厂" in labels
    assert "✓ 只看代发（取消）" in labels  # drop-ship was asked: the button undoes it
    assert len(results.buttons) <= 100
    assert all(len(b["callback_data"].encode()) < 64 for b in results.buttons)
    # the five shown are the search's top five
    search = chat.app.search.search("连衣裙 一件代发 100元以内", limit=PAGE_SIZE)
    keys = {OfferCB.unpack(b["callback_data"]).k for b in results.buttons[:5]}
    async with chat.app.sessions() as session:
        ids = set(
            (await session.scalars(select(OfferKey.offer_id).where(OfferKey.key.in_(keys)))).all()
        )
    assert ids == {hit.offer_id for hit in search.results}


async def test_pages_edit_the_same_message(chat: Conversation) -> None:
    results = await chat.send("连衣裙")
    first_page = results.text
    page2 = await chat.press(results, "下一页")
    assert page2.message_id == results.message_id and page2.edits == 1
    assert hit_numbers(page2) == [6, 7, 8, 9, 10]
    assert "第 2/" in page2.text
    back = await chat.press(page2, "上一页")
    assert back.message_id == results.message_id and back.text == first_page
    assert len(chat.messages) == 1
    no_apology(chat)


async def test_refinements_rerun_the_search_with_the_constraint(chat: Conversation) -> None:
    results = await chat.send("连衣裙")
    total = int(re.search(r"共 (\d+) 个", results.text).group(1))  # type: ignore[union-attr]
    dropship = await chat.press(results, "只看代发")
    assert dropship.message_id == results.message_id
    assert dropship.text.count("代发 ¥") == 5
    assert int(re.search(r"共 (\d+) 个", dropship.text).group(1)) < total  # type: ignore[union-attr]
    superf = await chat.press(dropship, "只看超级工厂")
    shown = len(hit_numbers(superf))
    assert shown >= 1 and superf.text.count("超级工厂") == 1 + shown  # the chip and every hit
    undo = await chat.press(superf, "超级工厂（取消）")
    assert "只看超级工厂" in [b["text"] for b in undo.buttons]
    no_apology(chat)


async def test_price_band_keeps_prices_in_the_band(chat: Conversation) -> None:
    results = await chat.send("T恤")
    bands = [b["text"] for b in results.buttons if b["text"].startswith("¥")]
    assert bands, "price bands are offered"
    for label in bands:
        fresh = await chat.send("T恤")
        banded = await chat.press(fresh, label)
        bounds = [Decimal(x) for x in re.findall(r"\d+(?:\.\d+)?", label)]
        prices = hit_prices(banded)
        assert prices
        if label.endswith("以下"):
            assert all(p <= bounds[0] for p in prices)
        elif label.endswith("以上"):
            assert all(p >= bounds[0] for p in prices)
        else:
            assert all(bounds[0] <= p <= bounds[1] for p in prices)
        assert "价格不限" in [b["text"] for b in banded.buttons]
    no_apology(chat)


async def test_vague_query_asks_which_category(chat: Conversation) -> None:
    question = await chat.send("夏季新款")
    assert "你要哪一类" in question.text
    assert hit_numbers(question) == []  # a question, not a wall of results
    categories = [b["text"] for b in question.buttons if b["text"] != "都看看"]
    assert len(categories) >= 3
    leaf = categories[0]
    chosen = await chat.press(question, categories[0])
    assert chosen.message_id == question.message_id
    assert hit_numbers(chosen) == [1, 2, 3, 4, 5]
    assert leaf in chosen.text.splitlines()[0]  # understood as that category
    everything = await chat.press(await chat.send("夏季新款"), "都看看")
    assert hit_numbers(everything) == [1, 2, 3, 4, 5]


async def test_empty_result_names_the_constraint_and_offers_the_nearest(chat: Conversation) -> None:
    empty = await chat.send("连衣裙 3元以内")
    assert "3元以内没有，最低" in empty.text
    lowest = Decimal(re.search(r"最低(\d+\.\d\d)元", empty.text).group(1))  # type: ignore[union-attr]
    nearest = [b["text"] for b in empty.buttons if "元以内的" in b["text"]]
    assert nearest
    assert "找人工客服" in [b["text"] for b in empty.buttons]
    found = await chat.press(empty, nearest[0])
    assert hit_numbers(found)
    assert min(hit_prices(found)) == lowest


async def test_unknown_goods_say_so_and_suggest_rephrasing(chat: Conversation) -> None:
    empty = await chat.send("量子计算机")
    assert "没有找到" in empty.text and "换个说法" in empty.text


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("我的订单", "orders.none"),
        ("帮助", "help.text"),
        ("转人工", "human.unavailable"),
        ("取消", "cancel.nothing"),
        ("数量改成3", "modify.nothing"),
        ("想定制logo", "customize.what"),
    ],
)
async def test_other_intents_get_an_answer_not_a_search(
    chat: Conversation, text: str, key: str
) -> None:
    answer = await chat.send(text)
    assert answer.text == text_of(key)
    async with chat.app.sessions() as session:
        assert (await session.scalar(select(BuyerSearch.id))) is None  # nothing was searched


async def test_a_change_refines_the_last_search(chat: Conversation) -> None:
    results = await chat.send("连衣裙 一件代发")
    total = int(re.search(r"共 (\d+) 个", results.text).group(1))  # type: ignore[union-attr]
    black = await chat.send("要黑色的")
    assert black.message_id != results.message_id
    first_line = black.text.splitlines()[0]
    assert "连衣裙" in first_line and "黑色" in first_line and "一件代发" in first_line
    assert int(re.search(r"共 (\d+) 个", black.text).group(1)) < total  # type: ignore[union-attr]
    cotton = await chat.send(
        "纯棉",
    )
    assert "纯棉" in cotton.text.splitlines()[0] and "黑色" in cotton.text.splitlines()[0]


async def test_a_bare_material_first_is_a_search(chat: Conversation) -> None:
    answer = await chat.send("纯棉")
    assert "纯棉" in answer.text.splitlines()[0]
    assert answer.text != text_of("modify.nothing")


# --- the offer card -------------------------------------------------------------------------


async def _offer_with(chat: Conversation, **wanted: object) -> tuple[Sent, str]:
    """A results message and the title of an offer on it matching ``wanted`` columns."""
    async with chat.app.sessions() as session:
        query = select(Offer).where(Offer.active)
        for column, value in wanted.items():
            query = query.where(getattr(Offer, column) == value)
        offer = (await session.scalars(query.limit(1))).first()
    assert offer is not None
    results = await chat.send(offer.title[:20])
    return results, offer.id


async def test_offer_card_without_a_fetchable_picture_is_text(chat: Conversation) -> None:
    results = await chat.send("连衣裙 一件代发")
    card = await chat.press(results, "1")
    assert card.kind == "text" and card.message_id != results.message_id
    for part in ("批发价", "起批量", "一件代发", "🏭", "48小时揽收率", "规格"):
        assert part in card.text, part
    assert card.link_preview and card.link_preview.get("url", "").startswith("http")
    no_apology(chat)


async def test_offer_card_with_a_fetchable_picture_is_a_photo(chat: Conversation) -> None:
    results = await chat.send("连衣裙 一件代发")
    async with chat.app.sessions() as session:
        images = (await session.scalars(select(Offer.images))).all()
    chat.telegram.fetchable = {url for urls in images for url in urls}
    await chat.press(results, "1")
    sent = chat.messages[1:]
    assert sent[0].kind == "photo" and sent[0].photo
    assert len(sent[0].text) <= 1024
    card_text = "\n".join(s.text for s in sent)
    assert "批发价" in card_text and "规格" in card_text
    no_apology(chat)


async def test_offer_card_shows_customization_and_bundle(chat: Conversation) -> None:
    async with chat.app.sessions() as session:
        rows = (await session.scalars(select(Offer).where(Offer.active))).all()
    with_bundle = [o for o in rows if o.bundle_tags]
    assert with_bundle
    target = with_bundle[0]
    async with chat.app.sessions() as session:
        from catalog_store.offer_keys import keys_for

        key = (await keys_for(session, [target.id]))[target.id]
    start = await chat.send("/start")
    await chat.press_data(start, OfferCB(k=key).pack())
    card = chat.telegram.last(chat.user.id)
    assert "搭配购" in card.text
    bundle_buttons = [b for b in card.buttons if b["text"].startswith("搭配")]
    assert 1 <= len(bundle_buttons) <= 3
    await chat.press(card, bundle_buttons[0]["text"])
    other = chat.telegram.last(chat.user.id)
    assert other.message_id != card.message_id and "批发价" in other.text
    no_apology(chat)


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ({"sticker": sticker()}, "input.sticker"),
        ({"photo": photo()}, "input.photo"),
        ({"voice": voice()}, "input.voice"),
    ],
)
async def test_media_gets_a_specific_answer(
    chat: Conversation, content: dict[str, object], key: str
) -> None:
    answer = await chat.send(None, **content)
    assert answer.text == text_of(key)


async def test_odd_text_gets_a_specific_answer(chat: Conversation) -> None:
    assert (await chat.send("x" * 10_000)).text == text_of(
        "input.too_long", length=10_000, limit=200
    )
    assert (await chat.send("   ")).text == text_of("input.empty")
    assert (await chat.send("😀😀🎉")).text == text_of("input.unknown")
    no_apology(chat)


async def test_forged_and_stale_buttons_get_a_short_answer(chat: Conversation) -> None:
    results = await chat.send("连衣裙")
    await chat.press_data(results, "garbage:1:2")
    await chat.press_data(results, OfferCB(k=987654).pack())
    assert chat.alerts[-2:] == [text_of("button.stale")] * 2
    # another buyer's search
    await chat.press_data(results, PageCB(s=999_999, p=1).pack())
    assert chat.alerts[-1] == text_of("search.gone")
    # a page that no longer exists: told, and shown the last page
    search_id = PageCB.unpack(
        next(b for b in results.buttons if b["text"].startswith("下一页"))["callback_data"]
    ).s
    await chat.press_data(results, PageCB(s=search_id, p=500).pack())
    assert chat.alerts[-1].startswith("这一页已经没有了")
    assert "第 " in chat.telegram.last(chat.user.id).text
    # an offer taken off sale
    key = OfferCB.unpack(results.buttons[0]["callback_data"]).k
    async with chat.app.sessions() as session, session.begin():
        offer_id = await session.scalar(select(OfferKey.offer_id).where(OfferKey.key == key))
        await session.execute(update(Offer).where(Offer.id == offer_id).values(active=False))
    await chat.press(results, "1")
    assert chat.alerts[-1] == text_of("offer.gone")
    no_apology(chat)


async def test_another_buyers_buttons_are_refused(chat: Conversation) -> None:
    results = await chat.send("连衣裙")
    stranger = chat.as_user(buyer(7001))
    await stranger.press(results, "下一页")
    assert stranger.alerts[-1] == text_of("search.gone")
    assert chat.telegram.last(chat.user.id).edits == 0


# --- state, concurrency, restart ------------------------------------------------------------


async def test_fifty_concurrent_messages_from_one_buyer_lose_nothing(
    store: tuple[Settings, object],
) -> None:
    settings, engine = store
    async with conversation(settings, engine=engine) as talk:
        texts = [f"连衣裙 {n}件" for n in range(2, 52)]
        updates = [talk.telegram.message_update(talk.user, t) for t in texts]
        await asyncio.gather(*(talk.feed(u) for u in updates))
        assert len(talk.messages) == 50
        no_apology(talk)
        data = await talk.app.dispatcher.fsm.get_context(
            talk.bot, talk.user.id, talk.user.id
        ).get_data()
        assert data["recent"] == texts[-5:]
        async with talk.app.sessions() as session:
            stored = (await session.scalars(select(BuyerSearch.text))).all()
        assert sorted(stored) == sorted(texts)


async def test_restart_keeps_the_buyers_place_and_old_buttons(
    store: tuple[Settings, object],
) -> None:
    settings, engine = store
    async with conversation(settings, engine=engine) as talk:
        results = await talk.send("连衣裙")
        page2 = await talk.press(results, "下一页")
        telegram, user = talk.telegram, talk.user
    # a new process: new app, new storage object, the same database and the same chat
    async with conversation(settings, engine=engine, user=user, telegram=telegram) as after:
        state = after.app.dispatcher.fsm.get_context(after.bot, user.id, user.id)
        data = await state.get_data()
        assert data["page"] == 1 and data["recent"] == ["连衣裙"]
        page3 = await after.press(page2, "下一页")
        assert page3.message_id == results.message_id
        assert hit_numbers(page3) == [11, 12, 13, 14, 15]


async def test_buyer_row_tracks_language_and_unblocking(chat: Conversation) -> None:
    async with chat.app.sessions() as session, session.begin():
        session.add(Buyer(id=chat.user.id, first_name="old"))
    async with chat.app.sessions() as session, session.begin():
        await session.execute(
            update(Buyer).where(Buyer.id == chat.user.id).values(blocked_at=db_now())
        )
    await chat.send("/start")
    async with chat.app.sessions() as session:
        row = await session.get(Buyer, chat.user.id)
    assert row is not None and row.blocked_at is None
    assert row.first_name == "小王" and row.language_code == "zh-hans"


def db_now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


# --- flood control and blocked buyers, through the dispatcher --------------------------------


async def test_flood_control_is_waited_out_and_a_blocked_buyer_is_marked(
    chat: Conversation,
) -> None:
    from pydantic import SecretStr

    from bot.telegram_transport import blocked_marker, build_bot

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    settings = chat.app.settings.model_copy(update={"bot_token": SecretStr("42:test-token")})
    chat.bot = build_bot(
        settings,
        session=chat.telegram,
        on_blocked=blocked_marker(chat.app.sessions),
        sleep=sleep,
    )
    chat.telegram.fail_next(
        "sendMessage", 429, "Too Many Requests: retry after 3", {"retry_after": 3}
    )
    answer = await chat.send("连衣裙")
    assert waits == [3] and hit_numbers(answer) == [1, 2, 3, 4, 5]

    attempts = sum(1 for name, _ in chat.telegram.calls if name == "sendMessage")
    chat.telegram.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    before = len(chat.telegram.sent)
    await chat.feed(chat.telegram.message_update(chat.user, "T恤"))
    assert len(chat.telegram.sent) == before  # nothing delivered, and no crash
    assert sum(1 for name, _ in chat.telegram.calls if name == "sendMessage") == attempts + 1
    async with chat.app.sessions() as session:
        row = await session.get(Buyer, chat.user.id)
    assert row is not None and row.blocked_at is not None
    # writing again means they unblocked the bot
    await chat.send("T恤")
    async with chat.app.sessions() as session:
        row = await session.get(Buyer, chat.user.id)
    assert row is not None and row.blocked_at is None
