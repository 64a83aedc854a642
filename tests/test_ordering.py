"""Ordering through stored workflows, in the conversation: real Updates through the dispatcher.

From the offer card's order button, step by step (variant, customization, quantity,
recipient, options, review) to one placed order; bad answers at each step; going back,
changing an earlier answer, cancelling, a search in between; a restart mid-flow; a double
tap on confirm; a new workflow added as data; the factory's side and the buyer's /orders.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from bot.offline_telegram import Sent
from bot.settings import Settings
from catalog_store import db
from catalog_store.models import Offer, Order, Sku, StockReservation, WorkflowRun
from catalog_store.offer_details import load_offer
from catalog_store.offer_keys import keys_for
from catalog_store.orders import create_factory_link
from catalog_store.workflows.engine import install
from catalog_store.workflows.spec import read_spec
from handlers.callbacks import OfferCB, OrderCB, StepCB
from tests.conversation import Conversation, buyer, conversation, copy_store, make_demo_template

RECIPIENT = "张三 13800138000 浙江省杭州市西湖区文三路100号"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_template(tmp_path_factory.mktemp("ordering-demo"))[1]


@pytest.fixture
async def store(template: Path, tmp_path: Path) -> AsyncIterator[tuple[Settings, object]]:
    settings = copy_store(template, tmp_path / "data")
    engine = db.create_engine(settings.db_url)
    yield settings, engine
    await engine.dispose()


@pytest.fixture
async def chat(store: tuple[Settings, object]) -> AsyncIterator[Conversation]:
    settings, engine = store
    async with conversation(settings, engine=engine) as talk:
        yield talk


async def pick_offer(
    chat: Conversation, *, dropship: bool = True, custom: str | None = None
) -> str:
    """An active offer with variants in stock (and drop-ship, a customization kind)."""
    async with chat.app.sessions() as session:
        query = select(Offer.id).where(Offer.active).order_by(Offer.id)
        if dropship:
            query = query.where(Offer.dropship_supported, Offer.dropship_price.is_not(None))
        ids = (await session.scalars(query)).all()
    for offer_id in ids:
        async with chat.app.sessions() as session, session.begin():
            offer = await load_offer(session, offer_id)
        assert offer is not None
        if len(offer.skus) < 2 or min(s.stock for s in offer.skus) < 50:
            continue
        kinds = {c.kind for c in offer.customization}
        if custom is not None and custom not in kinds:
            continue
        if custom is None and kinds - {"sample"}:
            continue  # no customization step: the shortest flow
        return offer_id
    raise AssertionError("no suitable offer in the demo catalog")


async def open_card(chat: Conversation, offer_id: str) -> Sent:
    async with chat.app.sessions() as session:
        key = (await keys_for(session, [offer_id]))[offer_id]
    start = await chat.send("/start")
    await chat.press_data(start, OfferCB(k=key).pack())
    return chat.telegram.last(chat.user.id)


async def start_order(chat: Conversation, offer_id: str, label: str) -> Sent:
    card = await open_card(chat, offer_id)
    return await chat.press(card, label)


def labels(sent: Sent) -> list[str]:
    return [b["text"] for b in sent.buttons]


async def orders_in_store(chat: Conversation) -> list[Order]:
    async with chat.app.sessions() as session:
        return list((await session.scalars(select(Order))).all())


async def drop_ship_to_review(chat: Conversation, offer_id: str, qty: str = "2") -> Sent:
    step = await start_order(chat, offer_id, "一件代发下单")
    assert "选规格" in step.text
    assert "第 1/5 步" in step.text  # no customization to offer: that step is not counted
    step = await chat.press(step, 0)  # the first variant
    assert "要几件" in step.text and "第 2/5 步" in step.text
    step = await chat.send(qty)
    assert "收件人" in step.text
    step = await chat.send(RECIPIENT)
    assert "请核对收件人" in step.text and "13800138000" in step.text
    step = await chat.press(step, "就寄这里")
    assert any("无痕代发" in label for label in labels(step))
    step = await chat.press(step, "无痕代发")
    assert labels(step)[0].startswith("✓ ")
    return await chat.press(step, "选好了")


async def test_drop_ship_order_from_card_to_factory(chat: Conversation) -> None:
    offer_id = await pick_offer(chat)
    async with chat.app.sessions() as session, session.begin():
        offer = await load_offer(session, offer_id)
        assert offer is not None
        token = await create_factory_link(session, offer.factory.id)
    factory = chat.as_user(buyer(8001, "zh-hans", "工厂小李"))
    linked = await factory.send(f"/start {token}")
    assert "已绑定工厂" in linked.text

    review = await drop_ship_to_review(chat, offer_id)
    assert "请核对订单" in review.text
    price = offer.dropship_price
    assert price is not None
    assert f"× 2  @ ¥{price:.2f} = ¥{price * 2:.2f}" in review.text
    assert f"合计 ¥{price * 2:.2f}" in review.text
    assert "预计" in review.text and "无痕代发" in review.text
    await chat.press(review, "确认下单")
    placed = chat.telegram.last(chat.user.id)
    number = re.search(r"订单号 ([A-Z]\d+)", placed.text).group(1)  # type: ignore[union-attr]

    orders = await orders_in_store(chat)
    assert len(orders) == 1 and orders[0].number == number
    assert orders[0].total == price * 2 and orders[0].options == {"no_trace": True}
    assert orders[0].recipient["mobile"] == "13800138000"  # type: ignore[index]
    # the factory got it, with its buttons
    new = factory.telegram.last(factory.user.id)
    assert "新订单" in new.text and number in new.text and "13800138000" in new.text
    assert labels(new) == ["💰 已收款", "✕ 拒单"]
    # paid, accepted, shipped: the buyer hears each
    await factory.press(new, "已收款")
    assert "已付款" in chat.telegram.last(chat.user.id).text
    await factory.press(new, "接单")
    assert "工厂已接单" in chat.telegram.last(chat.user.id).text
    await factory.press(new, "填快递单号")
    carriers = factory.telegram.last(factory.user.id)
    await factory.press(carriers, "顺丰")
    bad = await factory.send("12345")
    assert "单号不对" in bad.text and "SF + 12-15 digits" in bad.text
    await factory.send("SF1234567890123")
    shipped = chat.telegram.last(chat.user.id)
    assert "已发货" in shipped.text and "SF1234567890123" in shipped.text
    await chat.press(shipped, "确认收货")
    assert "已收货" in chat.telegram.last(chat.user.id).text
    async with chat.app.sessions() as session:
        order = await session.get(Order, orders[0].id)
    assert order is not None and order.status == "delivered"


async def test_double_tap_and_replayed_confirm_place_one_order(chat: Conversation) -> None:
    offer_id = await pick_offer(chat)
    review = await drop_ship_to_review(chat, offer_id)
    confirm = labels(review).index("✅ 确认下单")
    update = chat.telegram.press_update(chat.user, review, confirm)
    second_tap = chat.telegram.press_update(chat.user, review, confirm)  # before the reply
    await chat.feed(update)
    await chat.feed(update)  # the same update again (a replay)
    await chat.feed(second_tap)
    assert len(await orders_in_store(chat)) == 1
    assert chat.alerts[-1].startswith("这个订单已经下过了")
    async with chat.app.sessions() as session:
        held = await session.scalar(select(func.sum(StockReservation.qty)))
    assert held == 2


async def test_bad_answers_keep_the_step_and_help_after_two(chat: Conversation) -> None:
    offer_id = await pick_offer(chat)
    step = await start_order(chat, offer_id, "一件代发下单")
    await chat.press(step, 0)
    answers = {
        "abc": "请发一个数字",
        "0": "数量至少是 1",
        "-3": "数量至少是 1",
        "1.5": "数量要是整数",
        "99999999": "这个数量太大了",
    }
    for text, hint in answers.items():
        before = len(chat.messages)
        await chat.send(text)
        new = chat.messages[before:]
        assert any(hint in m.text for m in new), (text, [m.text for m in new])
        assert "要几件" in new[-1].text  # the step is asked again
    helped = [m for m in chat.messages if "这一步请发一个整数" in m.text]
    assert helped and "找人工客服" in labels(helped[0])
    async with chat.app.sessions() as session:
        run = (await session.scalars(select(WorkflowRun))).one()
    assert run.step_index == 2 and run.answers["lines"][0]["qty"] is None  # quantity
    stock_before = await _stock(chat, run.answers["lines"][0]["sku_id"])
    too_many = await chat.send(str(stock_before + 1))
    assert "库存不够" in "\n".join(m.text for m in chat.messages[-2:]) or "库存" in too_many.text


async def _stock(chat: Conversation, sku_id: str) -> int:
    async with chat.app.sessions() as session:
        return int(await session.scalar(select(Sku.stock).where(Sku.sku_id == sku_id)) or 0)


async def test_recipient_problems_get_specific_hints(chat: Conversation) -> None:
    offer_id = await pick_offer(chat)
    step = await start_order(chat, offer_id, "一件代发下单")
    await chat.press(step, 0)
    await chat.send("1")
    bad_mobile = await chat.send("张三 1380013800 浙江省杭州市西湖区文三路100号")
    assert "手机号不对" in "\n".join(m.text for m in chat.messages[-2:]) or bad_mobile
    await chat.send("浙江省杭州市" + "文三路" * 80)
    assert any("200字" in m.text for m in chat.messages[-2:])
    await chat.send("随便写点什么")
    assert any("没认出收件人" in m.text for m in chat.messages[-2:])
    partial = await chat.send("浙江省杭州市西湖区文三路100号 张三")
    assert "还差手机号" in partial.text
    done = await chat.send("138 0013 8000")
    assert "请核对收件人" in done.text and "13800138000" in done.text


async def test_change_an_answer_go_back_cancel(chat: Conversation) -> None:
    offer_id = await pick_offer(chat)
    await drop_ship_to_review(chat, offer_id)
    changed = await chat.send("数量改成3")
    assert "× 3  @" in changed.text and "请核对订单" in changed.text
    back = await chat.press(changed, "上一步")
    assert any("无痕代发" in label for label in labels(back))
    cancelled = await chat.send("不要了")
    assert "已取消这次下单" in cancelled.text
    async with chat.app.sessions() as session:
        run = (await session.scalars(select(WorkflowRun))).one()
    assert run.status == "cancelled"
    assert await orders_in_store(chat) == []


async def test_a_search_in_between_and_back_to_the_order(chat: Conversation) -> None:
    offer_id = await pick_offer(chat)
    step = await start_order(chat, offer_id, "一件代发下单")
    await chat.press(step, 0)
    results = await chat.send("连衣裙 一件代发")
    assert "共" in results.text
    resume = [b for b in results.buttons if b["text"].startswith("↩")]
    assert resume
    again = await chat.press(results, resume[0]["text"])
    assert "要几件" in again.text
    after = await chat.send("2")
    assert "收件人" in after.text


async def test_restart_mid_flow_resumes_at_the_same_step(store: tuple[Settings, object]) -> None:
    settings, engine = store
    async with conversation(settings, engine=engine) as talk:
        offer_id = await pick_offer(talk)
        step = await start_order(talk, offer_id, "一件代发下单")
        await talk.press(step, 0)
        telegram, user = talk.telegram, talk.user
    async with conversation(settings, engine=engine, user=user, telegram=telegram) as after:
        next_step = await after.send("2")
        assert "收件人" in next_step.text  # the quantity went to the run, as before
        await after.send(RECIPIENT)
        async with after.app.sessions() as session:
            run = (await session.scalars(select(WorkflowRun))).one()
        assert run.answers["lines"][0]["qty"] == 2 and run.answers["recipient_draft"]


async def test_forged_and_stale_step_buttons_change_nothing(chat: Conversation) -> None:
    offer_id = await pick_offer(chat)
    step = await start_order(chat, offer_id, "一件代发下单")
    async with chat.app.sessions() as session:
        run = (await session.scalars(select(WorkflowRun))).one()
    stranger = chat.as_user(buyer(9009))
    await stranger.press_data(step, StepCB(r=run.id, i=0, a="sku", o=0).pack())
    assert stranger.alerts[-1] == "这个按钮已失效，请重新搜索。"
    await chat.press(step, 0)
    await chat.press_data(step, StepCB(r=run.id, i=0, a="sku", o=1).pack())  # an older step
    assert chat.alerts[-1] == "这个按钮已失效，请重新搜索。"
    async with chat.app.sessions() as session:
        again = await session.get(WorkflowRun, run.id)
    assert again is not None and again.step_index == 2  # quantity (no customization offered)
    async with chat.app.sessions() as session, session.begin():
        offer = await load_offer(session, offer_id)
    assert offer is not None
    assert again.answers["lines"] == [{"sku_id": offer.skus[0].sku_id, "qty": None}]


async def test_orders_are_visible_to_their_buyer_and_factory_only(chat: Conversation) -> None:
    offer_id = await pick_offer(chat)
    review = await drop_ship_to_review(chat, offer_id)
    await chat.press(review, "确认下单")
    listed = await chat.send("/orders")
    assert "你的订单" in listed.text and "已下单" in listed.text
    order = (await orders_in_store(chat))[0]
    stranger = chat.as_user(buyer(9010))
    await stranger.press_data(listed, OrderCB(n=order.id).pack())
    assert stranger.alerts[-1] == "这个订单不是你的，不能查看或操作。"
    await stranger.press_data(listed, OrderCB(n=order.id, a="c").pack())
    assert stranger.alerts[-1] == "这个订单不是你的，不能查看或操作。"
    detail = await chat.press(listed, order.number)
    assert order.number in detail.text and "取消订单" in labels(detail)
    await chat.press(detail, "取消订单")
    async with chat.app.sessions() as session:
        status = await session.scalar(select(Order.status).where(Order.id == order.id))
    assert status == "cancelled"


async def mixable_offer(chat: Conversation, *, stocked: bool = True) -> tuple[str, int]:
    """A wholesale offer (MOQ >= 5, mixed variants allowed) with no customization step, and
    its MOQ; ``stocked``: at least two variants with 100 or more in stock."""
    async with chat.app.sessions() as session:
        candidates = (
            await session.scalars(
                select(Offer.id).where(Offer.active, Offer.moq >= 5, Offer.mix_wholesale)
            )
        ).all()
    for candidate in candidates:
        async with chat.app.sessions() as session, session.begin():
            offer = await load_offer(session, candidate)
        if offer is None or [c for c in offer.customization if c.kind != "sample"]:
            continue
        if stocked and (len(offer.skus) < 2 or min(s.stock for s in offer.skus) < 100):
            continue
        return candidate, offer.moq
    raise AssertionError("no suitable wholesale offer in the demo catalog")


async def test_wholesale_mixes_variants_and_refuses_below_moq(chat: Conversation) -> None:
    offer_id, moq = await mixable_offer(chat)
    step = await start_order(chat, offer_id, "批发下单")
    assert "混批" in step.text
    step = await chat.press(step, 0)
    step = await chat.press(step, 1)
    assert [t for t in labels(step) if t.startswith("✓ ")].__len__() == 2
    step = await chat.press(step, "选好了")
    await chat.send("1")
    refused = await chat.send("1")
    text = "\n".join(m.text for m in chat.messages[-2:])
    assert f"最少要{moq}件" in text, text
    assert "要几件" in refused.text
    fixed = await chat.send(str(moq))
    assert "寄到哪里" in fixed.text


async def test_a_new_workflow_is_data(chat: Conversation, tmp_path: Path) -> None:
    offer_id = await pick_offer(chat, dropship=False, custom="packaging")
    spec = {
        "name": "custom_packaging",
        "version": 1,
        "order_kind": "wholesale",
        "title": {"zh_CN": "礼盒定制", "en": "Gift box order"},
        "requires": ["customization:packaging"],
        "steps": [
            {"kind": "choose_customizations", "settings": {"kinds": ["packaging"]}},
            {"kind": "choose_sku"},
            {"kind": "quantity"},
            {"kind": "recipient"},
            {"kind": "review"},
            {"kind": "confirm"},
        ],
    }
    path = tmp_path / "custom_packaging.json"
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    async with chat.app.sessions() as session:
        assert await install(session, [read_spec(path)]) == [("custom_packaging", 1, True)]
    first = await start_order(chat, offer_id, "礼盒定制")
    assert "要定制吗" in first.text
    packaging = [t for t in labels(first) if "¥" in t]
    assert packaging
    chosen = await chat.press(first, packaging[0])
    assert labels(chosen)[0].startswith("✓ ")
    sku = await chat.press(chosen, "选好了")
    assert "选规格" in sku.text
    async with chat.app.sessions() as session:
        run = (await session.scalars(select(WorkflowRun))).one()
    assert (run.definition_name, run.definition_version) == ("custom_packaging", 1)


async def test_factory_link_is_one_time(chat: Conversation) -> None:
    async with chat.app.sessions() as session, session.begin():
        factory_id = await session.scalar(select(Offer.factory_id).limit(1))
        token = await create_factory_link(session, str(factory_id))
    first = chat.as_user(buyer(8101))
    assert "已绑定工厂" in (await first.send(f"/start {token}")).text
    second = chat.as_user(buyer(8102))
    assert "无效" in (await second.send(f"/start {token}")).text


async def test_unaccepted_orders_expire_free_their_stock_and_the_buyer_is_told(
    chat: Conversation,
) -> None:
    from datetime import UTC, datetime, timedelta

    from bot.order_jobs import run_order_chores

    offer_id = await pick_offer(chat)
    review = await drop_ship_to_review(chat, offer_id)
    await chat.press(review, "确认下单")
    soon = datetime.now(UTC) + timedelta(hours=1)
    assert await run_order_chores(chat.app, chat.bot, now=soon) == []
    later = datetime.now(UTC) + timedelta(hours=chat.app.settings.order_expiry_hours + 1)
    changed = await run_order_chores(chat.app, chat.bot, now=later)
    assert len(changed) == 1
    told = chat.telegram.last(chat.user.id)
    assert "已过期" in told.text
    async with chat.app.sessions() as session:
        held = await session.scalar(
            select(func.count()).where(StockReservation.released_at.is_(None))
        )
    assert held == 0


async def test_a_sample_order_is_priced_per_sample_piece(chat: Conversation) -> None:
    offer_id = await pick_offer(chat, dropship=False, custom="sample")
    async with chat.app.sessions() as session, session.begin():
        offer = await load_offer(session, offer_id)
    assert offer is not None
    sample = next(c for c in offer.customization if c.kind == "sample")
    step = await start_order(chat, offer_id, "打样")
    step = await chat.press(step, 0)
    assert "最多5件" in step.text
    await chat.send("9")
    assert any("最多5件" in m.text for m in chat.messages[-2:])
    await chat.send("2")
    check = await chat.send(RECIPIENT)
    review = await chat.press(check, "就寄这里")
    assert f"@ ¥{sample.unit_fee:.2f} = ¥{sample.unit_fee * 2:.2f}" in review.text


async def test_factory_orders_list_by_state(chat: Conversation) -> None:
    offer_id = await pick_offer(chat)
    async with chat.app.sessions() as session, session.begin():
        offer = await load_offer(session, offer_id)
        assert offer is not None
        token = await create_factory_link(session, offer.factory.id)
    factory = chat.as_user(buyer(8201, "en", "Factory Li"))
    assert "Linked to factory" in (await factory.send(f"/start {token}")).text
    assert "No orders yet" in (await factory.send("/orders")).text
    for _ in range(2):
        review = await drop_ship_to_review(chat, offer_id)
        await chat.press(review, "确认下单")
    listed = await factory.send("/orders")
    assert "Factory orders" in listed.text and listed.text.count("placed") == 2
    first = (await orders_in_store(chat))[0]
    detail = await factory.press(listed, first.number)
    assert "13800138000" in detail.text  # the factory ships it: the whole number
    mine = await chat.send("/orders")
    own = await chat.press(mine, first.number)
    assert "138****8000" in own.text


async def test_the_recipient_is_offered_again_next_time(chat: Conversation) -> None:
    offer_id = await pick_offer(chat)
    review = await drop_ship_to_review(chat, offer_id)
    await chat.press(review, "确认下单")
    step = await start_order(chat, offer_id, "一件代发下单")
    step = await chat.press(step, 0)
    step = await chat.send("1")
    saved = [t for t in labels(step) if t.startswith("寄给")]
    assert saved == ["寄给 张三 138****8000 杭州市"]
    options = await chat.press(step, saved[0])
    assert any("无痕代发" in label for label in labels(options))


async def test_typed_variants_and_a_color_change(chat: Conversation) -> None:
    offer_id = await pick_offer(chat)
    async with chat.app.sessions() as session, session.begin():
        offer = await load_offer(session, offer_id)
    assert offer is not None
    first, other = (
        offer.skus[0],
        next(
            (
                s
                for s in offer.skus
                if s.color != offer.skus[0].color and s.size == offer.skus[0].size
            ),
            None,
        ),
    )
    step = await start_order(chat, offer_id, "一件代发下单")
    await chat.send("随便")
    assert any("请点上面的按钮" in m.text for m in chat.messages[-2:])
    typed = " ".join(p for p in (first.color, first.size) if p)
    step = await chat.send(typed)
    assert "要几件" in step.text and typed.replace(" ", " / ") in step.text
    if other is None:
        return  # one color only in this offer: nothing to change to
    await chat.send("2")
    review = await chat.send(RECIPIENT)
    review = await chat.press(review, "就寄这里")
    review = await chat.press(review, "选好了")
    changed = await chat.send(f"颜色改成{other.color}")
    assert "请核对订单" in changed.text and str(other.color) in changed.text


async def test_buttons_of_a_finished_run_are_stale(chat: Conversation) -> None:
    offer_id = await pick_offer(chat)
    review = await drop_ship_to_review(chat, offer_id)
    back_data = next(b["callback_data"] for b in review.buttons if "上一步" in b["text"])
    await chat.press(review, "确认下单")
    await chat.press_data(review, back_data)
    assert chat.alerts[-1] == "这个按钮已失效，请重新搜索。"
    assert len(await orders_in_store(chat)) == 1


@pytest.fixture(scope="module")
def demo_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_template(tmp_path_factory.mktemp("ordering-pg"))[0]


async def test_the_whole_order_on_postgresql(demo_catalog: Path, tmp_path: Path) -> None:
    """The same conversation on the scale-out store: workflow runs, exactly-once placing,
    the factory's buttons and the buyer's /orders all on PostgreSQL."""
    from catalog_store.importer import import_catalog
    from tests.conftest import PG_URL, _pg_problem, service_missing

    problem = await _pg_problem()
    if problem:
        service_missing(problem)
    scratch = await db.scratch_store(PG_URL, prefix="t")
    try:
        assert (await import_catalog(scratch.engine, demo_catalog)).committed
        settings = Settings(data_dir=tmp_path / "data", database_url=PG_URL)
        async with conversation(settings, engine=scratch.engine) as talk:
            offer_id = await pick_offer(talk)
            review = await drop_ship_to_review(talk, offer_id)
            confirm = labels(review).index("✅ 确认下单")
            first = talk.telegram.press_update(talk.user, review, confirm)
            second = talk.telegram.press_update(talk.user, review, confirm)
            await talk.feed(first)
            await talk.feed(second)
            orders = await orders_in_store(talk)
            assert len(orders) == 1 and orders[0].status == "placed"
            listed = await talk.send("/orders")
            assert orders[0].number in listed.text
            detail = await talk.press(listed, orders[0].number)
            await talk.press(detail, "取消订单")
            async with talk.app.sessions() as session:
                held = await session.scalar(
                    select(func.count()).where(StockReservation.released_at.is_(None))
                )
            assert held == 0
    finally:
        await scratch.close()


async def test_many_variants_are_paged_and_any_can_be_picked(chat: Conversation) -> None:
    """An offer may have up to 500 variants: forty buttons a page, then turning pages; the
    variant on the last page is as reachable as the first (and the page stays put while
    variants are ticked in a multi-select step)."""
    offer_id = await pick_offer(chat)
    async with chat.app.sessions() as session, session.begin():
        have = len(
            (await session.scalars(select(Sku.sku_id).where(Sku.offer_id == offer_id))).all()
        )
        for n in range(have, 95):
            session.add(
                Sku(
                    offer_id=offer_id,
                    sku_id=f"extra-{n}",
                    position=n,
                    specs={"颜色": f"第{n}色"},
                    color=f"第{n}色",
                    size=None,
                    price=None,
                    stock=100,
                )
            )
    step = await start_order(chat, offer_id, "一件代发下单")
    assert "第 1/3 页 · 共 95 个规格" in step.text
    assert len([b for b in step.buttons if StepCB.unpack(b["callback_data"]).a == "sku"]) == 40
    assert "上一页" not in " ".join(labels(step))
    step = await chat.press(step, "下一页")
    assert "第 2/3 页" in step.text
    step = await chat.press(step, "下一页")
    assert "第 3/3 页" in step.text and "下一页" not in " ".join(labels(step))
    assert len([b for b in step.buttons if StepCB.unpack(b["callback_data"]).a == "sku"]) == 15
    step = await chat.press(step, "上一页")
    assert "第 2/3 页" in step.text
    step = await chat.press(step, "下一页")
    step = await chat.press(step, "第94色")
    assert "要几件" in step.text and "第94色" in step.text


async def test_ticking_a_variant_keeps_its_page(chat: Conversation) -> None:
    offer_id, _moq = await mixable_offer(chat, stocked=False)  # its variants are replaced
    async with chat.app.sessions() as session, session.begin():
        await session.execute(delete(Sku).where(Sku.offer_id == offer_id))
        for n in range(60):
            color = f"第{n}色"
            session.add(
                Sku(offer_id=offer_id, sku_id=f"v-{n}", position=n, specs={"颜色": color},
                    color=color, size=None, price=None, stock=500)
            )  # fmt: skip
    step = await start_order(chat, offer_id, "批发下单")
    assert "混批" in step.text and "第 1/2 页" in step.text
    step = await chat.press(step, "下一页")
    step = await chat.press(step, "第50色")
    assert "第 2/2 页" in step.text  # still on the page of the ticked variant
    assert [t for t in labels(step) if t.startswith("✓ ")] == [
        next(t for t in labels(step) if "第50色" in t)
    ]
