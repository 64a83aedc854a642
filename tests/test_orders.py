"""catalog_store.orders and catalog_store.stock, on SQLite and PostgreSQL: placing (copies,
idempotency, double taps, the last piece under 20 concurrent buyers), the lifecycle (every
allowed and refused change, who may do what, releases, concurrent changes), expiry and
automatic delivery, reading, saved recipients and factory links."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog_store import db
from catalog_store.importer import import_catalog
from catalog_store.models import FactoryLink, Order, OrderEvent, OrderItem, StockReservation
from catalog_store.orders import (
    ACTIONS,
    OrderRefused,
    OrderView,
    PlaceResult,
    TransitionRefused,
    can_view,
    create_factory_link,
    deliver_due,
    expire_due,
    factory_for_chat,
    factory_name,
    get_order,
    order_number,
    orders_for_buyer,
    orders_for_factory,
    place_order,
    redeem_factory_link,
    reserved_for_order,
    save_recipient,
    saved_recipients,
    transition,
)
from catalog_store.pricing import NO_SKU
from catalog_store.stock import available
from tests.catalog_samples import catalog, write_catalog

T0 = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)  # 12:00 in China
BUYER = 5_000_000_001
OTHER_BUYER = 5_000_000_002
YIWU = "f-yiwu-1"
YIWU_SUPPLIER_CHAT = -1001234567890  # factories.supplier_chat_id in the sample catalog
YIWU_CHAT = -1009000000001  # bound by a factory link in the tests that need it
GZ_CHAT = -1009000000002
STAFF = 777
D = Decimal
RECIPIENT = {
    "name": "王小明",
    "mobile": "13800138000",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "street": "文三路 100 号 3 栋 502",
}


def _offers() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    factories, offers = catalog()
    offers.append(  # the last piece in stock
        {
            "id": "o-last-1",
            "factory_id": YIWU,
            "title": "手工编织草帽 最后一顶",
            "category": ["配饰", "帽子"],
            "moq": 1,
            "price_tiers": [{"min_qty": 1, "price": 45}],
            "dropship": {"supported": True, "price": 49, "ship_within_hours": 24},
            "skus": [{"id": "s-one", "specs": {"颜色": "米色"}, "stock": 1}],
        }
    )
    offers.append(  # no SKUs: one line without a SKU, no stock count
        {
            "id": "o-noskus-1",
            "factory_id": "f-gz-1",
            "title": "定制手提袋",
            "category": ["箱包", "手提袋"],
            "moq": 5,
            "price_tiers": [{"min_qty": 5, "price": 3.2}],
        }
    )
    offers.append(
        {
            "id": "o-off-1",
            "factory_id": YIWU,
            "title": "下架商品",
            "category": ["配饰", "发夹"],
            "moq": 1,
            "price_tiers": [{"min_qty": 1, "price": 1}],
            "skus": [{"id": "s-1", "specs": {}, "stock": 10}],
            "active": False,
        }
    )
    return factories, offers


async def _load(engine: AsyncEngine, folder: Path, **changes: Any) -> None:
    factories, offers = _offers()
    for offer in offers:
        offer.update(changes.get(offer["id"], {}))
    await import_catalog(engine, write_catalog(folder, factories, offers))


@pytest.fixture
async def store(engine: AsyncEngine, tmp_path: Path) -> AsyncEngine:
    await _load(engine, tmp_path / "catalog")
    return engine


_keys = iter(range(1, 1_000_000))


async def _place(
    engine: AsyncEngine,
    *,
    key: str | None = None,
    offer_id: str = "o-hairclip-1",
    kind: str = "dropship",
    lines: list[tuple[str, int]] | None = None,
    customization: list[int] | None = None,
    buyer_id: int = BUYER,
    now: datetime = T0,
    **kwargs: Any,
) -> PlaceResult:
    return await place_order(
        engine,
        idempotency_key=key or f"k-{next(_keys)}",
        buyer_id=buyer_id,
        offer_id=offer_id,
        kind=kind,
        lines=lines if lines is not None else [("s-red", 1)],
        customization=customization or [],
        recipient=kwargs.pop("recipient", RECIPIENT),
        options=kwargs.pop("options", {}),
        now=now,
        **kwargs,
    )


async def _order(engine: AsyncEngine, order_id: int) -> OrderView:
    async with db.session_factory(engine)() as session:
        view = await get_order(session, order_id)
    assert view is not None
    return view


async def _count(engine: AsyncEngine, model: Any) -> int:
    async with db.session_factory(engine)() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _available(engine: AsyncEngine, offer_id: str) -> dict[str, int]:
    async with db.session_factory(engine)() as session:
        return await available(session, offer_id)


async def _held(engine: AsyncEngine, order_id: int) -> int:
    async with db.session_factory(engine)() as session:
        return await reserved_for_order(session, order_id)


async def _bind(engine: AsyncEngine, factory_id: str, chat_id: int) -> None:
    async with db.session_factory(engine)() as session, session.begin():
        token = await create_factory_link(session, factory_id, now=T0)
        assert await redeem_factory_link(session, token, chat_id, now=T0) == factory_id


# --- placing ------------------------------------------------------------------------------


async def test_place_order_copies_titles_and_prices_and_a_reimport_changes_nothing(
    store: AsyncEngine, tmp_path: Path
) -> None:
    placed = await _place(
        store,
        kind="wholesale",
        lines=[("s-red", 60)],
        customization=[],
        options={"no_trace": True},
    )
    assert placed.created
    order = await _order(store, placed.order_id)
    assert (order.kind, order.status, order.buyer_id, order.factory_id) == (
        "wholesale",
        "placed",
        BUYER,
        YIWU,
    )
    assert (order.goods_total, order.shipping_fee, order.total) == (
        D("1290.00"),
        D("0.00"),
        D("1290.00"),
    )
    assert order.options == {"no_trace": True}
    assert order.recipient == RECIPIENT
    assert (order.placed_at, order.created_at, order.ship_by) == (T0, T0, T0 + timedelta(hours=48))
    assert order.lead_days == 2.0
    [item] = order.items
    assert (item.line, item.sku_id, item.title, item.specs, item.qty) == (
        1,
        "s-red",
        "2026新款韩版珍珠发夹 边夹 一件代发",
        {"颜色": "红色"},
        60,
    )
    assert (item.unit_price, item.line_total) == (D("21.50"), D("1290.00"))
    assert [
        (e.from_status, e.to_status, e.actor_kind, e.actor_id, e.created_at) for e in order.events
    ] == [(None, "placed", "buyer", BUYER, T0)]
    assert await _available(store, "o-hairclip-1") == {"s-red": 60, "s-black": 0}

    # the factory re-imports: new title, new prices, new stock, SKU rows replaced
    await _load(
        store,
        tmp_path / "changed",
        **{
            "o-hairclip-1": {
                "title": "珍珠发夹 新标题",
                "price_tiers": [{"min_qty": 2, "price": 30}, {"min_qty": 50, "price": 28}],
                "skus": [
                    {"id": "s-red", "specs": {"颜色": "大红"}, "stock": 200},
                    {"id": "s-black", "specs": {"颜色": "黑色"}, "stock": 5},
                ],
            }
        },
    )
    again = await _order(store, placed.order_id)
    assert again == order  # prices, titles and specs are the order's own copies
    # the reservation is neither released nor double-counted by the re-import
    assert await _available(store, "o-hairclip-1") == {"s-red": 140, "s-black": 5}


async def test_order_numbers_are_kind_date_and_id(store: AsyncEngine) -> None:
    first = await _place(store)
    second = await _place(
        store, kind="wholesale", lines=[("s-red", 2)], now=T0 + timedelta(hours=13)
    )
    sample = await _place(store, kind="sample", lines=[("s-red", 1)])
    assert first.number == f"D261129{first.order_id:04d}"
    assert second.number == f"W261130{second.order_id:04d}"  # 01:00 on the 30th in China
    assert sample.number.startswith("S261129")
    assert re.fullmatch(r"[DWSO]\d{10,}", first.number)
    assert order_number("custom", 123456, T0) == "O261129123456"
    assert (await _order(store, first.order_id)).number == first.number


async def test_customization_and_sample_orders_keep_copies_of_the_options(
    store: AsyncEngine,
) -> None:
    logo = await _place(store, kind="wholesale", lines=[("s-red", 100)], customization=[0])
    order = await _order(store, logo.order_id)
    assert (order.goods_total, order.customization_total, order.total) == (
        D("2150.00"),
        D("250.00"),
        D("2400.00"),
    )
    assert order.items[0].customization == [
        {
            "position": 0,
            "kind": "logo",
            "name": "丝印logo",
            "unit_fee": "0.50",
            "setup_fee": "200.00",
            "qty": 100,
            "total": "250.00",
        }
    ]
    assert order.lead_days == 5.0  # 48 h + 3 days
    sample = await _order(
        store, (await _place(store, kind="sample", lines=[("s-red", 2)])).order_id
    )
    assert (sample.kind, sample.total, sample.items[0].unit_price) == (
        "sample",
        D("60.00"),
        D("30.00"),
    )
    assert sample.ship_by == T0 + timedelta(hours=2)


async def test_refusals_write_nothing(store: AsyncEngine) -> None:
    async def refused(**kwargs: Any) -> OrderRefused:
        with pytest.raises(OrderRefused) as caught:
            await _place(store, **kwargs)
        return caught.value

    sold_out = await refused(lines=[("s-black", 1)])
    assert (sold_out.code, sold_out.nearest) == ("out_of_stock", None)
    assert sold_out.available == {"s-red": 120, "s-black": 0}
    too_many = await refused(lines=[("s-red", 121)])
    assert (too_many.code, too_many.nearest) == ("out_of_stock", 120)
    below = await refused(kind="wholesale", lines=[("s-red", 1)])
    assert (below.code, below.nearest) == ("below_moq", 2)
    logo = await refused(kind="wholesale", lines=[("s-red", 50)], customization=[0])
    assert (logo.code, logo.nearest) == ("customization_min_qty", 100)
    assert (await refused(offer_id="o-cup-1", lines=[("s-500", 1)])).code == "no_dropship"
    assert (await refused(offer_id="o-nope")).code == "offer_not_found"
    assert (await refused(offer_id="o-off-1", lines=[("s-1", 1)])).code == "offer_inactive"
    assert (await refused(lines=[("s-green", 1)])).code == "unknown_sku"
    assert (await refused(recipient=None)).code == "recipient_required"
    assert (await refused(recipient={**RECIPIENT, "mobile": ""})).code == "bad_recipient"
    assert (await refused(recipient={**RECIPIENT, "street": "路" * 201})).code == "bad_recipient"
    with pytest.raises(ValueError, match="idempotency_key"):
        await _place(store, key="k" * 65)
    with pytest.raises(ValueError, match="priced_as"):
        await _place(store, kind="custom")
    for model in (Order, OrderItem, OrderEvent, StockReservation):
        assert await _count(store, model) == 0


async def test_a_workflow_kind_is_stored_and_priced_as_asked(store: AsyncEngine) -> None:
    placed = await _place(store, kind="gift_box", priced_as="wholesale", lines=[("s-red", 10)])
    order = await _order(store, placed.order_id)
    assert (order.kind, order.total, order.number[0]) == ("gift_box", D("250.00"), "O")


async def test_an_offer_without_skus_has_no_stock_count(store: AsyncEngine) -> None:
    placed = await _place(store, offer_id="o-noskus-1", kind="wholesale", lines=[(NO_SKU, 5000)])
    order = await _order(store, placed.order_id)
    assert (order.items[0].sku_id, order.total) == (NO_SKU, D("16000.00"))  # 包邮
    assert await _held(store, placed.order_id) == 0
    assert await _available(store, "o-noskus-1") == {}


# --- idempotency --------------------------------------------------------------------------


async def test_the_same_key_twice_is_one_order(store: AsyncEngine) -> None:
    first = await _place(store, key="run-1-confirm")
    # the second call is not even looked at: the key decides
    second = await _place(store, key="run-1-confirm", lines=[("s-red", 5)], kind="wholesale")
    assert first.created and not second.created
    assert (second.order_id, second.number) == (first.order_id, first.number)
    assert await _count(store, Order) == 1
    assert await _count(store, StockReservation) == 1
    assert await _available(store, "o-hairclip-1") == {"s-red": 119, "s-black": 0}


async def test_a_replay_after_a_crash_between_insert_and_reply_finds_the_order(
    store: AsyncEngine,
) -> None:
    # the first call committed, then the process died before the buyer saw the reply
    committed = await _place(store, key="tap-42")
    del committed
    replay = await _place(store, key="tap-42")
    assert not replay.created
    assert await _count(store, Order) == 1
    assert (await _order(store, replay.order_id)).number == replay.number


async def test_one_order_per_workflow_run(store: AsyncEngine) -> None:
    first = await _place(store, key="a", workflow_run_id=9)
    other_key = await _place(store, key="b", workflow_run_id=9)
    assert (other_key.order_id, other_key.created) == (first.order_id, False)
    assert (await _order(store, first.order_id)).workflow_run_id == 9


@pytest.mark.parametrize(
    ("offer_id", "kind", "lines"),
    [
        ("o-last-1", "dropship", [("s-one", 1)]),  # the stock lock decides
        ("o-noskus-1", "wholesale", [(NO_SKU, 5)]),  # nothing to lock: the unique key decides
    ],
)
async def test_a_double_tap_is_one_order(
    store: AsyncEngine, offer_id: str, kind: str, lines: list[tuple[str, int]]
) -> None:
    results = await asyncio.gather(
        *(_place(store, key="double", offer_id=offer_id, kind=kind, lines=lines) for _ in range(2))
    )
    assert results[0].order_id == results[1].order_id
    assert sorted(r.created for r in results) == [False, True]
    assert await _count(store, Order) == 1


# --- the last piece -----------------------------------------------------------------------


async def test_twenty_buyers_for_the_last_piece_one_order(store: AsyncEngine) -> None:
    open_now = 0
    most_open = 0

    def checkout(*_: Any) -> None:
        nonlocal open_now, most_open
        open_now += 1
        most_open = max(most_open, open_now)

    def checkin(*_: Any) -> None:
        nonlocal open_now
        open_now -= 1

    pool = store.sync_engine.pool
    event.listen(pool, "checkout", checkout)
    event.listen(pool, "checkin", checkin)
    try:
        results = await asyncio.gather(
            *(
                _place(
                    store,
                    key=f"last-{i}",
                    buyer_id=BUYER + i,
                    offer_id="o-last-1",
                    lines=[("s-one", 1)],
                )
                for i in range(20)
            ),
            return_exceptions=True,
        )
    finally:
        event.remove(pool, "checkout", checkout)
        event.remove(pool, "checkin", checkin)
    assert most_open > 1  # real concurrency: separate pooled connections at once
    placed = [r for r in results if isinstance(r, PlaceResult)]
    refused = [r for r in results if isinstance(r, OrderRefused)]
    assert len(placed) == 1 and len(refused) == 19, results
    assert all(r.code == "out_of_stock" and r.nearest is None for r in refused)
    assert await _count(store, Order) == 1
    async with store.connect() as conn:
        held = await conn.scalar(
            text("select coalesce(sum(qty), 0) from stock_reservations where offer_id = 'o-last-1'")
        )
        stock = await conn.scalar(text("select stock from skus where offer_id = 'o-last-1'"))
    assert (held, stock) == (1, 1)
    assert stock - held >= 0
    assert await _available(store, "o-last-1") == {"s-one": 0}
    # a cancellation gives the piece back
    winner = BUYER + results.index(placed[0])
    await transition(store, placed[0].order_id, "cancel", actor_kind="buyer", actor_id=winner)
    assert await _available(store, "o-last-1") == {"s-one": 1}


async def test_available_is_never_reported_below_zero(store: AsyncEngine, tmp_path: Path) -> None:
    await _place(store, lines=[("s-red", 100)])
    await _load(store, tmp_path / "less", **{"o-hairclip-1": {"skus": [
        {"id": "s-red", "specs": {"颜色": "红色"}, "stock": 30},
        {"id": "s-black", "specs": {"颜色": "黑色"}, "stock": 0},
    ]}})  # fmt: skip
    assert await _available(store, "o-hairclip-1") == {"s-red": 0, "s-black": 0}
    with pytest.raises(OrderRefused) as caught:
        await _place(store, lines=[("s-red", 1)])
    assert caught.value.code == "out_of_stock"


# --- the lifecycle ------------------------------------------------------------------------

_PATHS: dict[str, list[str]] = {
    "placed": [],
    "paid": ["pay"],
    "accepted": ["pay", "accept"],
    "rejected": ["reject"],
    "shipped": ["pay", "accept", "ship"],
    "delivered": ["pay", "accept", "ship", "deliver"],
    "cancelled": ["cancel"],
    "expired": ["expire"],
}
_SHIP = {"carrier": "SF", "tracking_no": "SF1234567890123"}


async def _staff(engine: AsyncEngine, order_id: int, action: str, **kwargs: Any) -> OrderView:
    extra = _SHIP if action == "ship" else {}
    return await transition(
        engine, order_id, action, actor_kind="staff", actor_id=STAFF, **extra, **kwargs
    )


async def _order_in(engine: AsyncEngine, status: str) -> int:
    order_id = (await _place(engine, lines=[("s-red", 2)])).order_id
    for action in _PATHS[status]:
        await _staff(engine, order_id, action)
    return order_id


async def test_every_transition_allowed_or_refused(store: AsyncEngine) -> None:
    allowed = {(status, action) for action, rule in ACTIONS.items() for status in rule.from_states}
    assert allowed == {
        ("placed", "pay"),
        ("paid", "accept"),
        ("placed", "reject"),
        ("paid", "reject"),
        ("accepted", "ship"),
        ("shipped", "deliver"),
        ("placed", "cancel"),
        ("paid", "cancel"),
        ("placed", "expire"),
        ("paid", "expire"),
    }
    for status in _PATHS:
        for action in ACTIONS:
            order_id = await _order_in(store, status)
            before = await _order(store, order_id)
            assert before.status == status
            if (status, action) in allowed:
                after = await _staff(store, order_id, action, note="n")
                assert after.status == ACTIONS[action].to_status
                assert after.events[-1].from_status == status
                gone = ("rejected", "cancelled", "expired", "shipped", "delivered")
                releases = after.status in gone
                assert await _held(store, order_id) == (0 if releases else 2), (status, action)
            else:
                with pytest.raises(TransitionRefused) as caught:
                    await _staff(store, order_id, action)
                assert (caught.value.code, caught.value.status) == ("wrong_status", status)
                assert await _order(store, order_id) == before  # nothing changed


async def test_the_happy_path_records_who_and_when(store: AsyncEngine) -> None:
    await _bind(store, YIWU, YIWU_CHAT)
    order_id = (await _place(store, lines=[("s-red", 3)])).order_id

    def at(hours: int) -> datetime:
        return T0 + timedelta(hours=hours)

    await transition(store, order_id, "pay", actor_kind="factory", actor_id=YIWU_CHAT, now=at(1))
    await transition(store, order_id, "accept", actor_kind="factory", actor_id=YIWU_CHAT, now=at(2))
    shipped = await transition(
        store,
        order_id,
        "ship",
        actor_kind="factory",
        actor_id=YIWU_SUPPLIER_CHAT,
        carrier="sf",
        tracking_no="sf 1234 5678 9012 3",
        now=at(20),
    )
    assert (shipped.carrier, shipped.tracking_no) == ("SF", "SF1234567890123")
    done = await transition(
        store, order_id, "deliver", actor_kind="buyer", actor_id=BUYER, note="收到了", now=at(70)
    )
    assert done.status == "delivered"
    assert (done.accepted_at, done.shipped_at, done.delivered_at, done.updated_at) == (
        at(2),
        at(20),
        at(70),
        at(70),
    )
    assert [
        (e.from_status, e.to_status, e.actor_kind, e.actor_id, e.note, e.created_at)
        for e in done.events
    ] == [
        (None, "placed", "buyer", BUYER, None, T0),
        ("placed", "paid", "factory", YIWU_CHAT, None, at(1)),
        ("paid", "accepted", "factory", YIWU_CHAT, None, at(2)),
        ("accepted", "shipped", "factory", YIWU_SUPPLIER_CHAT, None, at(20)),
        ("shipped", "delivered", "buyer", BUYER, "收到了", at(70)),
    ]
    # shipped: the pieces left the factory, the reservation is released (the next import's
    # stock no longer counts them)
    assert await _held(store, order_id) == 0


async def test_reject_keeps_the_reason_and_releases_the_stock(store: AsyncEngine) -> None:
    order_id = (await _place(store, lines=[("s-red", 20)])).order_id
    assert (await _available(store, "o-hairclip-1"))["s-red"] == 100
    rejected = await transition(
        store,
        order_id,
        "reject",
        actor_kind="factory",
        actor_id=YIWU_SUPPLIER_CHAT,
        note="红色缺货",
        now=T0 + timedelta(hours=1),
    )
    assert (rejected.status, rejected.reject_reason) == ("rejected", "红色缺货")
    assert rejected.events[-1].note == "红色缺货"
    assert (await _available(store, "o-hairclip-1"))["s-red"] == 120
    async with db.session_factory(store)() as session:
        released = await session.scalar(
            select(StockReservation.released_at).where(StockReservation.order_id == order_id)
        )
    assert released == T0 + timedelta(hours=1)


async def test_shipping_needs_a_known_carrier_and_a_tracking_number_of_its_shape(
    store: AsyncEngine,
) -> None:
    order_id = await _order_in(store, "accepted")
    for carrier, number, code in [
        ("UPS", "1Z999AA10123456784", "bad_carrier"),
        (None, "SF1234567890123", "bad_carrier"),
        ("SF", "1234567890123", "bad_tracking_no"),
        ("YTO", "YT12", "bad_tracking_no"),
        ("EMS", "EA123456789US", "bad_tracking_no"),
        ("JD", None, "bad_tracking_no"),
    ]:
        with pytest.raises(TransitionRefused) as caught:
            await transition(
                store,
                order_id,
                "ship",
                actor_kind="staff",
                actor_id=STAFF,
                carrier=carrier,
                tracking_no=number,
            )
        assert caught.value.code == code, (carrier, number)
    assert (await _order(store, order_id)).status == "accepted"
    shipped = await transition(
        store,
        order_id,
        "ship",
        actor_kind="staff",
        actor_id=STAFF,
        carrier="EMS",
        tracking_no="ea123456789cn",
    )
    assert (shipped.status, shipped.carrier, shipped.tracking_no) == (
        "shipped",
        "EMS",
        "EA123456789CN",
    )


async def test_who_may_do_what(store: AsyncEngine) -> None:
    await _bind(store, YIWU, YIWU_CHAT)
    await _bind(store, "f-gz-1", GZ_CHAT)
    order_id = await _order_in(store, "placed")

    async def refused(action: str, kind: str, actor: int | None, **kw: Any) -> str:
        with pytest.raises(TransitionRefused) as caught:
            await transition(store, order_id, action, actor_kind=kind, actor_id=actor, **kw)
        return caught.value.code

    # buyers: cancel and deliver their own orders only
    for action in ("pay", "accept", "reject", "ship", "expire"):
        assert await refused(action, "buyer", BUYER, **_SHIP) == "forbidden", action
    assert await refused("cancel", "buyer", OTHER_BUYER) == "forbidden"
    # factories: pay, accept, reject, ship their own factory's orders only
    assert await refused("pay", "factory", GZ_CHAT) == "forbidden"
    assert await refused("pay", "factory", -1005555) == "forbidden"  # a chat bound to nobody
    assert await refused("pay", "factory", None) == "forbidden"
    for action in ("cancel", "deliver", "expire"):
        assert await refused(action, "factory", YIWU_CHAT) == "forbidden", action
    # the system: expire and deliver only
    for action in ("pay", "accept", "reject", "ship", "cancel"):
        assert await refused(action, "system", None, **_SHIP) == "forbidden", action
    assert await refused("fly", "staff", STAFF) == "unknown_action"
    with pytest.raises(TransitionRefused) as caught:
        await transition(store, 987654, "pay", actor_kind="staff", actor_id=STAFF)
    assert (caught.value.code, caught.value.status) == ("not_found", None)
    with pytest.raises(ValueError, match="actor_kind"):
        await transition(store, order_id, "pay", actor_kind="robot", actor_id=1)
    order = await _order(store, order_id)
    assert order.status == "placed" and len(order.events) == 1
    # the rightful ones
    assert (
        await transition(store, order_id, "pay", actor_kind="factory", actor_id=YIWU_CHAT)
    ).status == "paid"
    assert (
        await transition(store, order_id, "cancel", actor_kind="buyer", actor_id=BUYER)
    ).status == "cancelled"


async def test_concurrent_accept_and_cancel_one_wins(store: AsyncEngine) -> None:
    await _bind(store, YIWU, YIWU_CHAT)
    winners = set()
    for _ in range(6):
        order_id = await _order_in(store, "paid")
        results = await asyncio.gather(
            transition(store, order_id, "accept", actor_kind="factory", actor_id=YIWU_CHAT),
            transition(store, order_id, "cancel", actor_kind="buyer", actor_id=BUYER),
            return_exceptions=True,
        )
        views = [r for r in results if isinstance(r, OrderView)]
        refusals = [r for r in results if isinstance(r, TransitionRefused)]
        assert len(views) == 1 and len(refusals) == 1, results
        final = await _order(store, order_id)
        assert final.status == views[0].status
        assert refusals[0].code == "wrong_status" and refusals[0].status == final.status
        assert [e.to_status for e in final.events] == ["placed", "paid", final.status]
        assert await _held(store, order_id) == (0 if final.status == "cancelled" else 2)
        winners.add(final.status)
    assert winners <= {"accepted", "cancelled"}


async def test_expire_due_expires_unaccepted_orders_after_the_time(store: AsyncEngine) -> None:
    placed = await _order_in(store, "placed")
    paid = await _order_in(store, "paid")
    accepted = await _order_in(store, "accepted")
    later = await _place(store, now=T0 + timedelta(hours=10))
    assert await expire_due(store, T0 + timedelta(hours=47), timedelta(hours=48)) == []
    due = await expire_due(store, T0 + timedelta(hours=49), timedelta(hours=48))
    assert due == [placed, paid]
    for order_id in due:
        order = await _order(store, order_id)
        assert order.status == "expired"
        assert (order.events[-1].actor_kind, order.events[-1].actor_id) == ("system", None)
        assert order.events[-1].created_at == T0 + timedelta(hours=49)
        assert await _held(store, order_id) == 0
    assert (await _order(store, accepted)).status == "accepted"
    assert (await _order(store, later.order_id)).status == "placed"
    assert await expire_due(store, T0 + timedelta(hours=49), timedelta(hours=48)) == []
    assert await expire_due(store, T0 + timedelta(hours=59)) == [later.order_id]  # default 48 h


async def test_deliver_due_marks_old_shipments_delivered(store: AsyncEngine) -> None:
    order_id = (await _place(store)).order_id
    for action in ("pay", "accept"):
        await _staff(store, order_id, action)
    await _staff(store, order_id, "ship", now=T0 + timedelta(days=1))
    assert await deliver_due(store, T0 + timedelta(days=10), 10) == []
    assert await deliver_due(store, T0 + timedelta(days=11), 10) == [order_id]
    order = await _order(store, order_id)
    assert (order.status, order.delivered_at) == ("delivered", T0 + timedelta(days=11))
    assert order.events[-1].actor_kind == "system"
    assert await deliver_due(store, T0 + timedelta(days=30), 10) == []


# --- reading ------------------------------------------------------------------------------


async def test_reading_orders_for_buyers_and_factories(store: AsyncEngine) -> None:
    mine = [await _place(store, now=T0 + timedelta(minutes=i)) for i in range(3)]
    theirs = await _place(
        store, buyer_id=OTHER_BUYER, offer_id="o-dress-1", kind="wholesale", lines=[("s-m", 1)]
    )
    await _staff(store, mine[0].order_id, "pay")
    async with db.session_factory(store)() as session:
        assert await get_order(session, 123456) is None
        buyer_orders = await orders_for_buyer(session, BUYER)
        assert [o.id for o in buyer_orders] == [r.order_id for r in reversed(mine)]
        assert [o.id for o in await orders_for_buyer(session, BUYER, limit=2)] == [
            mine[2].order_id,
            mine[1].order_id,
        ]
        assert [o.id for o in await orders_for_factory(session, YIWU)] == [
            r.order_id for r in reversed(mine)
        ]
        assert [o.id for o in await orders_for_factory(session, YIWU, status="paid")] == [
            mine[0].order_id
        ]
        assert len(await orders_for_factory(session, YIWU, status=["placed", "paid"])) == 3
        [gz] = await orders_for_factory(session, "f-gz-1")
        assert gz.id == theirs.order_id and gz.items[0].sku_id == "s-m"
        assert buyer_orders[-1].events[-1].to_status == "paid"
    order = buyer_orders[0]
    assert can_view(order, buyer_id=BUYER)
    assert not can_view(order, buyer_id=OTHER_BUYER)
    assert can_view(order, factory_id=YIWU)
    assert not can_view(order, factory_id="f-gz-1")
    assert can_view(order, staff=True)
    assert not can_view(order)


# --- saved recipients ---------------------------------------------------------------------


async def test_saved_recipients_dedupe_and_come_most_recent_first(store: AsyncEngine) -> None:
    factory = db.session_factory(store)
    second = {**RECIPIENT, "name": "李四", "mobile": "13900139000"}
    third = {**RECIPIENT, "street": "文一路 1 号", "district": None}
    async with factory() as session, session.begin():
        a = await save_recipient(session, BUYER, RECIPIENT, now=T0)
        b = await save_recipient(session, BUYER, second, now=T0 + timedelta(minutes=1))
        c = await save_recipient(session, BUYER, third, now=T0 + timedelta(minutes=2))
        await save_recipient(session, OTHER_BUYER, RECIPIENT, now=T0)
    async with factory() as session, session.begin():
        # the same name, mobile and street: the stored one, now most recent
        again = await save_recipient(
            session,
            BUYER,
            {**RECIPIENT, "city": "杭州", "name": " 王小明 "},
            now=T0 + timedelta(minutes=3),
        )
        assert again == a
        with pytest.raises(ValueError, match="name"):
            await save_recipient(session, BUYER, {**RECIPIENT, "name": " "})
    async with factory() as session:
        saved = await saved_recipients(session, BUYER)
        assert [r["id"] for r in saved] == [a, c, b]
        assert saved[0] == {"id": a, **RECIPIENT, "city": "杭州"}
        assert saved[1]["district"] is None
        assert [r["id"] for r in await saved_recipients(session, BUYER, limit=1)] == [a]
        assert len(await saved_recipients(session, OTHER_BUYER)) == 1
        assert await saved_recipients(session, 1) == []


async def test_the_same_address_saved_by_orders_at_once_is_one_row(store: AsyncEngine) -> None:
    """Two orders placed at once with the same new address: one saved recipient, not two."""
    from catalog_store.models import SavedRecipient

    factory = db.session_factory(store)

    async def save(i: int) -> int:
        async with factory() as session, session.begin():
            return await save_recipient(
                session, BUYER, {**RECIPIENT, "city": f"城市{i}"}, now=T0 + timedelta(seconds=i)
            )

    ids = await asyncio.gather(*(save(i) for i in range(12)))
    assert len(set(ids)) == 1
    async with factory() as session:
        rows = (
            await session.scalars(select(SavedRecipient).where(SavedRecipient.buyer_id == BUYER))
        ).all()
    assert len(rows) == 1
    assert rows[0].city.startswith("城市")  # the last save's details


# --- factory links ------------------------------------------------------------------------


async def test_a_factory_link_binds_one_chat_once(store: AsyncEngine) -> None:
    factory = db.session_factory(store)
    async with factory() as session, session.begin():
        token = await create_factory_link(session, YIWU, now=T0)
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", token) and len(token) <= 32
        other = await create_factory_link(session, YIWU, now=T0)
        assert other != token
        with pytest.raises(LookupError):
            await create_factory_link(session, "f-nope", now=T0)
    async with factory() as session, session.begin():
        assert (
            await redeem_factory_link(session, token, YIWU_CHAT, now=T0 + timedelta(days=1)) == YIWU
        )
    async with factory() as session, session.begin():
        assert (
            await redeem_factory_link(session, token, GZ_CHAT, now=T0 + timedelta(days=1)) is None
        )
        assert await factory_for_chat(session, YIWU_CHAT) == YIWU
        assert await factory_for_chat(session, GZ_CHAT) is None
        link = await session.get(FactoryLink, token)
        assert link is not None
        assert (link.used_at, link.used_by_chat_id) == (T0 + timedelta(days=1), YIWU_CHAT)
    async with factory() as session, session.begin():
        # expired: 7 days by default
        assert (
            await redeem_factory_link(session, other, GZ_CHAT, now=T0 + timedelta(days=7)) is None
        )
        assert await redeem_factory_link(session, "no-such-token", GZ_CHAT) is None
        assert await redeem_factory_link(session, "bad token!", GZ_CHAT) is None
        assert await redeem_factory_link(session, "x" * 65, GZ_CHAT) is None
        short = await create_factory_link(session, "f-gz-1", timedelta(hours=1), now=T0)
    async with factory() as session, session.begin():
        assert (
            await redeem_factory_link(session, short, GZ_CHAT, now=T0 + timedelta(minutes=59))
            == "f-gz-1"
        )
        assert await factory_for_chat(session, GZ_CHAT) == "f-gz-1"


async def test_two_chats_redeeming_one_link_at_once_one_wins(store: AsyncEngine) -> None:
    async with db.session_factory(store)() as session, session.begin():
        token = await create_factory_link(session, YIWU)

    async def redeem(chat_id: int) -> str | None:
        async with db.session_factory(store)() as session, session.begin():
            return await redeem_factory_link(session, token, chat_id)

    results = await asyncio.gather(redeem(YIWU_CHAT), redeem(GZ_CHAT))
    assert sorted(results, key=str) == sorted([YIWU, None], key=str)


async def test_a_reimport_never_unbinds_a_chat(store: AsyncEngine, tmp_path: Path) -> None:
    await _bind(store, YIWU, YIWU_CHAT)
    await _load(store, tmp_path / "again")
    async with db.session_factory(store)() as session:
        assert await factory_for_chat(session, YIWU_CHAT) == YIWU
    # the bound chat still acts for the factory
    order_id = await _order_in(store, "placed")
    assert (
        await transition(store, order_id, "pay", actor_kind="factory", actor_id=YIWU_CHAT)
    ).status == "paid"


async def test_a_raw_concurrent_status_change_is_reported(store: AsyncEngine) -> None:
    """An order someone else changed meanwhile is refused with the status it has now."""
    order_id = await _order_in(store, "paid")
    async with db.session_factory(store)() as session, session.begin():
        await session.execute(update(Order).where(Order.id == order_id).values(status="accepted"))
    with pytest.raises(TransitionRefused) as caught:
        await _staff(store, order_id, "cancel")
    assert (caught.value.code, caught.value.status) == ("wrong_status", "accepted")


async def test_factory_name(store: AsyncEngine) -> None:
    async with db.session_factory(store)() as session:
        assert await factory_name(session, YIWU) == "义乌市晨光饰品厂"
        assert await factory_name(session, "f-nope") is None
