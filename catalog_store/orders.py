"""Orders: placing them (idempotent, never overselling), their lifecycle, reading them;
saved recipients; one-time links that bind a factory's chat.

Sessions and transactions
-------------------------
``place_order``, ``transition``, ``expire_due`` and ``deliver_due`` take the **engine** and
run their own transactions, because they must hold a write lock from their first read on:
each opens a pooled connection (``write_session``), on SQLite starts it with
``BEGIN IMMEDIATE`` (the database's write lock is taken up front, so the stock read and the
reservation written after it cannot interleave with another writer, and a waiting writer
waits on the connection's busy timeout instead of failing with a stale snapshot), and on
PostgreSQL locks the rows it decides on (``SELECT ... FOR UPDATE`` on the ordered SKUs, in
``sku_id`` order so two orders never deadlock) or changes them by a conditional ``UPDATE``.
Everything else takes an ``AsyncSession`` and commits nothing; the caller owns the
transaction, as in ``catalog_store/buyers.py``::

    async with db.session_factory(engine)() as session, session.begin():
        token = await create_factory_link(session, "f-yiwu-1")

Placing (``place_order``)
-------------------------
One transaction: an order with the same ``idempotency_key`` (or the same
``workflow_run_id``: one order per run) is returned as it is (``created=False``), whatever
was asked this time. Otherwise the offer is loaded (it must exist and be active), priced by
``catalog_store.pricing.quote`` and checked against the stock (``skus.stock`` minus open
reservations); then the order (status ``placed``), its items (copies of the title, specs and
prices), one reservation per SKU line and the first event (None → placed, by the buyer) are
written. When anything is refused, ``OrderRefused`` is raised and nothing is written. Two
calls racing with one key: the unique constraint decides (on PostgreSQL the SKU locks
usually decide first); the loser rolls back, reads the winner's order and returns it with
``created=False``.

Order numbers are ``<kind letter><yymmdd><id>``: ``D`` drop-ship, ``W`` wholesale, ``S``
sample, ``O`` any other kind; the date the order was placed in China time (UTC+8); the
order's id, at least 4 digits (``D2611290001``; ``W26113012345``). Unique because the id is.

Lifecycle (``transition``)
--------------------------
::

    placed ─pay→ paid ─accept→ accepted ─ship→ shipped ─deliver→ delivered
    placed, paid ─reject→ rejected     (the factory; ``note`` is the reason)
    placed, paid ─cancel→ cancelled    (the buyer, only before acceptance)
    placed, paid ─expire→ expired      (the system, ``EXPIRES_AFTER`` after placing)

Who may do what: a buyer cancels and confirms delivery of their own orders; a factory
(``actor_id`` is a chat bound to it by a factory link, or its catalog
``supplier_chat_id``) pays (confirms payment received), accepts, rejects and ships its own
orders; staff may do anything; the system expires and delivers. Shipping needs a carrier
of ``catalog_store.carriers`` and a tracking number of that carrier's shape. Rejected,
cancelled and expired orders release their reservations; shipped and delivered ones keep
them (the pieces left with the order). Each change is one transaction: the conditional
``UPDATE orders ... WHERE id = :id AND status = :seen`` (``:seen`` one of the action's
from-states, read in the same transaction) and its ``order_events`` row. A second,
concurrent change of the same order updates nothing and raises ``TransitionRefused`` with
the order's status as it is now.

No Telegram here: the bot passes plain ids.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from catalog_store.carriers import CARRIERS, normalize_tracking_no, tracking_problem
from catalog_store.models import (
    Factory,
    FactoryChat,
    FactoryLink,
    Order,
    OrderEvent,
    OrderItem,
    SavedRecipient,
    Sku,
    StockReservation,
    utcnow,
)
from catalog_store.offer_details import load_offer
from catalog_store.pricing import NO_SKU, PRICING_KINDS, QuoteRefused, check_quantity, quote
from catalog_store.stock import available

__all__ = [
    "ACTIONS",
    "ACTOR_KINDS",
    "DELIVERED_AFTER_DAYS",
    "EXPIRES_AFTER",
    "FACTORY_LINK_TTL",
    "ORDER_STATUSES",
    "OrderEventView",
    "OrderItemView",
    "OrderRefused",
    "OrderView",
    "PlaceResult",
    "TransitionRefused",
    "can_view",
    "clean_recipient",
    "create_factory_link",
    "deliver_due",
    "expire_due",
    "factory_for_chat",
    "factory_name",
    "get_order",
    "order_number",
    "orders_for_buyer",
    "orders_for_factory",
    "place_order",
    "redeem_factory_link",
    "reserved_for_order",
    "save_recipient",
    "saved_recipients",
    "transition",
    "write_session",
]

ORDER_STATUSES = (
    "placed",
    "paid",
    "accepted",
    "rejected",
    "shipped",
    "delivered",
    "cancelled",
    "expired",
)
ACTOR_KINDS = ("buyer", "staff", "factory", "system")
EXPIRES_AFTER = timedelta(hours=48)  # placed (or paid) and not accepted: expired after this
DELIVERED_AFTER_DAYS = 10  # shipped and not confirmed: delivered by the system after this
FACTORY_LINK_TTL = timedelta(days=7)
CHINA_TIME = timezone(timedelta(hours=8))

_KIND_LETTER = {"dropship": "D", "wholesale": "W", "sample": "S"}
_RECIPIENT_FIELDS = {
    "name": 64,
    "mobile": 20,
    "province": 32,
    "city": 32,
    "district": 32,
    "street": 200,
}
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class _Rule:
    from_states: tuple[str, ...]
    to_status: str
    actors: frozenset[str]
    stamp: str | None = None  # the order's time column set by this change


ACTIONS: dict[str, _Rule] = {
    "pay": _Rule(("placed",), "paid", frozenset({"factory", "staff"})),
    "accept": _Rule(("paid",), "accepted", frozenset({"factory", "staff"}), "accepted_at"),
    "reject": _Rule(("placed", "paid"), "rejected", frozenset({"factory", "staff"})),
    "ship": _Rule(("accepted",), "shipped", frozenset({"factory", "staff"}), "shipped_at"),
    "deliver": _Rule(
        ("shipped",), "delivered", frozenset({"buyer", "staff", "system"}), "delivered_at"
    ),
    "cancel": _Rule(("placed", "paid"), "cancelled", frozenset({"buyer", "staff"})),
    "expire": _Rule(("placed", "paid"), "expired", frozenset({"system", "staff"})),
}
# a reservation holds stock for an *open* order: one that ends without shipping gives it
# back; a shipped one has taken its pieces out of the factory (the next import's stock no
# longer counts them, so keeping the reservation would count them twice)
_RELEASING = frozenset({"rejected", "cancelled", "expired", "shipped"})


class OrderRefused(QuoteRefused):
    """``place_order`` refused; nothing was written.

    ``code``: a pricing code (``catalog_store.pricing``: bad_qty, unknown_sku, no_dropship,
    no_sample, below_moq, sku_below_moq, customization_min_qty, bad_customization) or
    ``out_of_stock`` (``nearest``: the SKU's available count when that is a valid order),
    ``offer_not_found``, ``offer_inactive``, ``recipient_required`` (a drop-ship order
    without one), ``bad_recipient``. ``available``: per SKU, stock minus open reservations,
    when the stock was read.
    """

    def __init__(
        self,
        code: str,
        message: str,
        nearest: int | None = None,
        available: dict[str, int] | None = None,
    ) -> None:
        super().__init__(code, message, nearest)
        self.available = available


class TransitionRefused(Exception):
    """``transition`` changed nothing. ``code``: ``not_found``, ``unknown_action``,
    ``forbidden`` (this actor may not do this to this order), ``wrong_status`` (not from
    this status, also when a concurrent change came first), ``bad_carrier``,
    ``bad_tracking_no``. ``status``: the order's status now (None when not found)."""

    def __init__(self, code: str, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"TransitionRefused({self.code!r}, {self.message!r}, status={self.status!r})"


@dataclass(frozen=True)
class PlaceResult:
    order_id: int
    number: str
    created: bool  # False: an order with this key (or run) already existed


@dataclass(frozen=True)
class OrderItemView:
    line: int
    offer_id: str
    sku_id: str
    title: str
    specs: dict[str, Any]
    qty: int
    unit_price: Decimal
    customization: list[dict[str, Any]]
    line_total: Decimal


@dataclass(frozen=True)
class OrderEventView:
    id: int
    from_status: str | None
    to_status: str
    actor_kind: str
    actor_id: int | None
    note: str | None
    created_at: datetime


@dataclass(frozen=True)
class OrderView:
    id: int
    number: str
    buyer_id: int
    factory_id: str
    offer_id: str
    workflow_run_id: int | None
    idempotency_key: str
    kind: str
    status: str
    recipient: dict[str, Any] | None
    options: dict[str, Any]
    goods_total: Decimal
    customization_total: Decimal
    shipping_fee: Decimal
    total: Decimal
    lead_days: float | None
    ship_by: datetime
    carrier: str | None
    tracking_no: str | None
    reject_reason: str | None
    created_at: datetime
    updated_at: datetime
    placed_at: datetime | None
    accepted_at: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    items: tuple[OrderItemView, ...]
    events: tuple[OrderEventView, ...]  # oldest first


# --- transactions ------------------------------------------------------------------------


@asynccontextmanager
async def write_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session in one write transaction, committed when the block ends without an error.

    SQLite: the pooled connection starts with ``BEGIN IMMEDIATE`` (sent through the driver;
    Python's sqlite3 module then sees a transaction open and adds no ``BEGIN`` of its own,
    and ``commit``/``rollback`` end it), so the write lock is held from the first read and
    concurrent writers queue on the busy timeout (``db.py`` sets 30 s). PostgreSQL: a plain
    transaction; the functions lock what they decide on. The session joins the connection's
    transaction; on an error the connection is rolled back and goes back to the pool.
    """
    async with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            await conn.begin()
        async with AsyncSession(bind=conn, expire_on_commit=False, autoflush=False) as session:
            try:
                yield session
                await session.flush()
            except BaseException:
                await conn.rollback()
                raise
        await conn.commit()


# --- placing -------------------------------------------------------------------------------


def order_number(kind: str, order_id: int, placed_at: datetime) -> str:
    """``D2611290001``: kind letter, date placed (China time, yymmdd), id (>= 4 digits)."""
    letter = _KIND_LETTER.get(kind, "O")
    return f"{letter}{placed_at.astimezone(CHINA_TIME):%y%m%d}{order_id:04d}"


def clean_recipient(recipient: dict[str, Any]) -> dict[str, Any]:
    """The recipient as stored: name, mobile, province, city, district (may be None), street;
    stripped strings that fit their columns. Raises ValueError naming the field."""
    if not isinstance(recipient, dict):
        raise ValueError("a recipient is a dict of name, mobile, province, city, street")
    cleaned: dict[str, Any] = {}
    for field, limit in _RECIPIENT_FIELDS.items():
        raw = recipient.get(field)
        value = "" if raw is None else str(raw).strip()
        if not value and field != "district":
            raise ValueError(f"recipient {field} is missing")
        if len(value) > limit:
            raise ValueError(f"recipient {field} is longer than {limit} characters")
        cleaned[field] = value or None
    return cleaned


async def _existing(
    session: AsyncSession, idempotency_key: str, workflow_run_id: int | None
) -> PlaceResult | None:
    condition = Order.idempotency_key == idempotency_key
    if workflow_run_id is not None:
        condition = or_(condition, Order.workflow_run_id == workflow_run_id)
    rows = (
        await session.execute(
            select(Order.id, Order.number, Order.idempotency_key).where(condition)
        )
    ).all()
    if not rows:
        return None
    # the key's own order first, then the run's
    row = min(rows, key=lambda r: r.idempotency_key != idempotency_key)
    return PlaceResult(row.id, row.number, created=False)


def _customization_copy(chosen: Iterable[Any]) -> list[dict[str, Any]]:
    return [
        {
            "position": c.position,
            "kind": c.kind,
            "name": c.name,
            "unit_fee": str(c.unit_fee),
            "setup_fee": str(c.setup_fee),
            "qty": c.qty,
            "total": str(c.total),
        }
        for c in chosen
    ]


async def place_order(
    engine: AsyncEngine,
    *,
    idempotency_key: str,
    buyer_id: int,
    offer_id: str,
    kind: str,
    lines: list[tuple[str, int]],
    customization: list[int],
    recipient: dict[str, Any] | None,
    options: dict[str, Any],
    workflow_run_id: int | None = None,
    now: datetime | None = None,
    priced_as: str | None = None,
) -> PlaceResult:
    """Place an order once per ``idempotency_key`` (1-64 characters); see the module.

    ``lines``: ``[(sku_id, qty)]``; ``customization``: option positions; ``recipient``:
    name, mobile, province, city, district, street (required for drop-ship); ``options``:
    JSON-safe flags such as ``{"no_trace": True}`` (无痕代发). ``kind`` is stored on the order;
    it is priced as ``priced_as`` when given (a workflow's own order kind priced as one of
    ``dropship``, ``wholesale``, ``sample``), else as ``kind``. Raises OrderRefused.
    """
    now = now or utcnow()
    if not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= 64:
        raise ValueError("idempotency_key: 1 to 64 characters")
    pricing_kind = priced_as or kind
    if pricing_kind not in PRICING_KINDS:
        raise ValueError(f"order kind {pricing_kind!r} has no pricing rule: pass priced_as")
    if not isinstance(options, dict):
        raise ValueError("options: a dict")
    if recipient is None:
        if pricing_kind == "dropship":
            raise OrderRefused("recipient_required", "a drop-ship order needs a recipient")
        stored_recipient = None
    else:
        try:
            stored_recipient = clean_recipient(recipient)
        except ValueError as problem:
            raise OrderRefused("bad_recipient", str(problem)) from None
    try:
        async with write_session(engine) as session:
            found = await _existing(session, idempotency_key, workflow_run_id)
            if found is not None:
                return found
            sku_ids = sorted({sku_id for sku_id, _ in lines if sku_id != NO_SKU})
            if sku_ids and session.get_bind().dialect.name == "postgresql":
                # hold the ordered SKUs (in a fixed order: no deadlock between two orders)
                # until commit; an order waiting here sees the winner's reservations after
                await session.execute(
                    select(Sku.sku_id)
                    .where(Sku.offer_id == offer_id, Sku.sku_id.in_(sku_ids))
                    .order_by(Sku.sku_id)
                    .with_for_update()
                )
                found = await _existing(session, idempotency_key, workflow_run_id)
                if found is not None:  # a double tap that waited on the lock
                    return found
            return await _place(
                session,
                idempotency_key=idempotency_key,
                buyer_id=buyer_id,
                offer_id=offer_id,
                kind=kind,
                pricing_kind=pricing_kind,
                lines=lines,
                customization=customization,
                recipient=stored_recipient,
                options=options,
                workflow_run_id=workflow_run_id,
                now=now,
            )
    except IntegrityError:
        # a concurrent call with the same key (or run) committed first
        async with AsyncSession(engine) as session:
            found = await _existing(session, idempotency_key, workflow_run_id)
        if found is None:
            raise
        return found


async def _place(
    session: AsyncSession,
    *,
    idempotency_key: str,
    buyer_id: int,
    offer_id: str,
    kind: str,
    pricing_kind: str,
    lines: list[tuple[str, int]],
    customization: list[int],
    recipient: dict[str, Any] | None,
    options: dict[str, Any],
    workflow_run_id: int | None,
    now: datetime,
) -> PlaceResult:
    offer = await load_offer(session, offer_id)
    if offer is None:
        raise OrderRefused("offer_not_found", f"no offer {offer_id!r}")
    if not offer.active:
        raise OrderRefused("offer_inactive", f"offer {offer_id} is off sale")
    try:
        priced = quote(offer, pricing_kind, lines, customization, now)
    except QuoteRefused as refused:
        raise OrderRefused(refused.code, refused.message, refused.nearest) from None
    stock = await available(session, offer_id)
    problem = check_quantity(offer, pricing_kind, lines, customization, stock)
    if problem is not None:
        raise OrderRefused(problem.code, problem.message, problem.nearest, stock)

    order = Order(
        number=f"~{secrets.token_hex(9)}",  # unique placeholder until the id is known
        buyer_id=buyer_id,
        factory_id=offer.factory.id,
        offer_id=offer_id,
        workflow_run_id=workflow_run_id,
        idempotency_key=idempotency_key,
        kind=kind,
        status="placed",
        recipient=recipient,
        options=dict(options),
        goods_total=priced.goods_total,
        customization_total=priced.customization_total,
        shipping_fee=priced.shipping_fee,
        total=priced.total,
        lead_days=priced.lead_hours / 24,
        ship_by=priced.ship_by,
        created_at=now,
        updated_at=now,
        placed_at=now,
    )
    session.add(order)
    await session.flush()  # the id; a duplicate key fails here (IntegrityError)
    order.number = order_number(kind, order.id, now)
    chosen = _customization_copy(priced.customization)
    for line_no, line in enumerate(priced.lines, 1):
        session.add(
            OrderItem(
                order_id=order.id,
                line=line_no,
                offer_id=offer_id,
                sku_id=line.sku_id,
                title=offer.title,
                specs=dict(line.specs),
                qty=line.qty,
                unit_price=line.unit_price,
                customization=chosen,
                line_total=line.line_total,
            )
        )
        if line.sku_id != NO_SKU:
            session.add(
                StockReservation(
                    order_id=order.id,
                    offer_id=offer_id,
                    sku_id=line.sku_id,
                    qty=line.qty,
                    created_at=now,
                )
            )
    session.add(
        OrderEvent(
            order_id=order.id,
            from_status=None,
            to_status="placed",
            actor_kind="buyer",
            actor_id=buyer_id,
            created_at=now,
        )
    )
    await session.flush()
    return PlaceResult(order.id, order.number, created=True)


# --- lifecycle -----------------------------------------------------------------------------


async def _actor_may(
    session: AsyncSession, order: Any, actor_kind: str, actor_id: int | None
) -> bool:
    if actor_kind == "buyer":
        return actor_id is not None and actor_id == order.buyer_id
    if actor_kind == "factory":
        if actor_id is None:
            return False
        if await factory_for_chat(session, actor_id) == order.factory_id:
            return True
        supplier_chat = await session.scalar(
            select(Factory.supplier_chat_id).where(Factory.id == order.factory_id)
        )
        return supplier_chat is not None and supplier_chat == actor_id
    return actor_kind in ("staff", "system")


async def transition(
    engine: AsyncEngine,
    order_id: int,
    action: str,
    *,
    actor_kind: str,
    actor_id: int | None,
    note: str | None = None,
    carrier: str | None = None,
    tracking_no: str | None = None,
    now: datetime | None = None,
) -> OrderView:
    """Apply ``action`` (pay, accept, reject, ship, deliver, cancel, expire) to the order and
    return it as it is now; raises TransitionRefused and changes nothing when refused.

    ``actor_kind``: buyer, staff, factory or system; ``actor_id``: the buyer's user id, the
    factory's chat id, the staff member's user id, None for the system. ``note`` is kept on
    the event (a rejection's ``note`` is also the order's ``reject_reason``). ``ship`` needs
    ``carrier`` (a code of ``catalog_store.carriers.CARRIERS``) and ``tracking_no``.
    """
    rule = ACTIONS.get(action)
    if rule is None:
        raise TransitionRefused("unknown_action", f"no action {action!r}; one of {list(ACTIONS)}")
    if actor_kind not in ACTOR_KINDS:
        raise ValueError(f"actor_kind: one of {ACTOR_KINDS}, not {actor_kind!r}")
    now = now or utcnow()
    values: dict[str, Any] = {"status": rule.to_status, "updated_at": now}
    if rule.stamp is not None:
        values[rule.stamp] = now
    if action == "reject" and note:
        values["reject_reason"] = note
    if action == "ship":
        code = (carrier or "").strip().upper()
        if code not in CARRIERS:
            raise TransitionRefused(
                "bad_carrier", f"unknown carrier {carrier!r}; one of {', '.join(CARRIERS)}"
            )
        problem = tracking_problem(code, tracking_no or "")
        if problem is not None:
            raise TransitionRefused("bad_tracking_no", problem)
        values["carrier"] = code
        values["tracking_no"] = normalize_tracking_no(tracking_no or "")

    async with write_session(engine) as session:
        order = (
            await session.execute(
                select(Order.status, Order.buyer_id, Order.factory_id).where(Order.id == order_id)
            )
        ).one_or_none()
        if order is None:
            raise TransitionRefused("not_found", f"no order {order_id}")
        if actor_kind not in rule.actors or not await _actor_may(
            session, order, actor_kind, actor_id
        ):
            raise TransitionRefused(
                "forbidden", f"a {actor_kind} may not {action} order {order_id}", order.status
            )
        if order.status not in rule.from_states:
            raise TransitionRefused(
                "wrong_status",
                f"order {order_id} is {order.status}; {action} needs "
                f"{' or '.join(rule.from_states)}",
                order.status,
            )
        result = await session.execute(
            update(Order)
            .where(Order.id == order_id, Order.status == order.status)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            current = await session.scalar(select(Order.status).where(Order.id == order_id))
            raise TransitionRefused(
                "wrong_status", f"order {order_id} changed meanwhile: it is {current}", current
            )
        session.add(
            OrderEvent(
                order_id=order_id,
                from_status=order.status,
                to_status=rule.to_status,
                actor_kind=actor_kind,
                actor_id=actor_id,
                note=note,
                created_at=now,
            )
        )
        if rule.to_status in _RELEASING:
            await session.execute(
                update(StockReservation)
                .where(
                    StockReservation.order_id == order_id, StockReservation.released_at.is_(None)
                )
                .values(released_at=now)
                .execution_options(synchronize_session=False)
            )
        await session.flush()
        view = await get_order(session, order_id)
    assert view is not None
    return view


async def _due(
    engine: AsyncEngine, statuses: tuple[str, ...], column: Any, before: datetime
) -> list[int]:
    async with AsyncSession(engine) as session:
        ids = await session.scalars(
            select(Order.id).where(Order.status.in_(statuses), column <= before).order_by(Order.id)
        )
        return list(ids)


async def expire_due(
    engine: AsyncEngine, now: datetime | None = None, after: timedelta = EXPIRES_AFTER
) -> list[int]:
    """Expire orders placed (or paid) at least ``after`` ago and not accepted; their ids.

    Each in its own transaction; one accepted or cancelled meanwhile is left alone.
    """
    now = now or utcnow()
    done = []
    for order_id in await _due(engine, ACTIONS["expire"].from_states, Order.placed_at, now - after):
        try:
            await transition(
                engine,
                order_id,
                "expire",
                actor_kind="system",
                actor_id=None,
                note=f"not accepted within {after}",
                now=now,
            )
        except TransitionRefused:
            continue
        done.append(order_id)
    return done


async def deliver_due(
    engine: AsyncEngine, now: datetime | None = None, after_days: int = DELIVERED_AFTER_DAYS
) -> list[int]:
    """Mark delivered the orders shipped at least ``after_days`` days ago; their ids."""
    now = now or utcnow()
    before = now - timedelta(days=after_days)
    done = []
    for order_id in await _due(engine, ACTIONS["deliver"].from_states, Order.shipped_at, before):
        try:
            await transition(
                engine,
                order_id,
                "deliver",
                actor_kind="system",
                actor_id=None,
                note=f"not confirmed within {after_days} days of shipping",
                now=now,
            )
        except TransitionRefused:
            continue
        done.append(order_id)
    return done


# --- reading -------------------------------------------------------------------------------


async def _views(session: AsyncSession, orders: list[Order]) -> list[OrderView]:
    if not orders:
        return []
    ids = [o.id for o in orders]
    items: dict[int, list[OrderItemView]] = {i: [] for i in ids}
    for item in await session.scalars(
        select(OrderItem)
        .where(OrderItem.order_id.in_(ids))
        .order_by(OrderItem.order_id, OrderItem.line)
        .execution_options(populate_existing=True)
    ):
        items[item.order_id].append(
            OrderItemView(
                line=item.line,
                offer_id=item.offer_id,
                sku_id=item.sku_id,
                title=item.title,
                specs=dict(item.specs or {}),
                qty=item.qty,
                unit_price=item.unit_price,
                customization=list(item.customization or []),
                line_total=item.line_total,
            )
        )
    events: dict[int, list[OrderEventView]] = {i: [] for i in ids}
    for event in await session.scalars(
        select(OrderEvent)
        .where(OrderEvent.order_id.in_(ids))
        .order_by(OrderEvent.order_id, OrderEvent.id)
        .execution_options(populate_existing=True)
    ):
        events[event.order_id].append(
            OrderEventView(
                id=event.id,
                from_status=event.from_status,
                to_status=event.to_status,
                actor_kind=event.actor_kind,
                actor_id=event.actor_id,
                note=event.note,
                created_at=event.created_at,
            )
        )
    return [
        OrderView(
            id=o.id,
            number=o.number,
            buyer_id=o.buyer_id,
            factory_id=o.factory_id,
            offer_id=o.offer_id,
            workflow_run_id=o.workflow_run_id,
            idempotency_key=o.idempotency_key,
            kind=o.kind,
            status=o.status,
            recipient=dict(o.recipient) if o.recipient is not None else None,
            options=dict(o.options or {}),
            goods_total=o.goods_total,
            customization_total=o.customization_total,
            shipping_fee=o.shipping_fee,
            total=o.total,
            lead_days=o.lead_days,
            ship_by=o.ship_by,
            carrier=o.carrier,
            tracking_no=o.tracking_no,
            reject_reason=o.reject_reason,
            created_at=o.created_at,
            updated_at=o.updated_at,
            placed_at=o.placed_at,
            accepted_at=o.accepted_at,
            shipped_at=o.shipped_at,
            delivered_at=o.delivered_at,
            items=tuple(items[o.id]),
            events=tuple(events[o.id]),
        )
        for o in orders
    ]


async def get_order(session: AsyncSession, order_id: int) -> OrderView | None:
    """The order with its items and events, or None."""
    order = await session.scalar(
        select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
    )
    return None if order is None else (await _views(session, [order]))[0]


async def orders_for_buyer(
    session: AsyncSession, buyer_id: int, limit: int = 20
) -> list[OrderView]:
    """The buyer's orders, newest first."""
    orders = await session.scalars(
        select(Order)
        .where(Order.buyer_id == buyer_id)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    return await _views(session, list(orders))


async def orders_for_factory(
    session: AsyncSession,
    factory_id: str,
    status: str | Iterable[str] | None = None,
    limit: int = 50,
) -> list[OrderView]:
    """The factory's orders, newest first; ``status``: one status or several, None: all."""
    statement = select(Order).where(Order.factory_id == factory_id)
    if status is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        statement = statement.where(Order.status.in_(statuses))
    orders = await session.scalars(
        statement.order_by(Order.created_at.desc(), Order.id.desc())
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    return await _views(session, list(orders))


def can_view(
    order: OrderView,
    *,
    buyer_id: int | None = None,
    factory_id: str | None = None,
    staff: bool = False,
) -> bool:
    """Staff see every order, a buyer their own, a factory those placed with it."""
    if staff:
        return True
    if buyer_id is not None and buyer_id == order.buyer_id:
        return True
    return factory_id is not None and factory_id == order.factory_id


# --- saved recipients ----------------------------------------------------------------------


async def save_recipient(
    session: AsyncSession,
    buyer_id: int,
    recipient: dict[str, Any],
    *,
    now: datetime | None = None,
) -> int:
    """Remember an address the buyer used; its id. The same name, mobile and street again
    updates the stored one (province, city, district) and makes it the most recent.
    Raises ValueError for a recipient missing a field (see ``clean_recipient``)."""
    now = now or utcnow()
    cleaned = clean_recipient(recipient)
    # one statement, so two orders saving the same new address at once leave one row
    statement = _upsert_into(session, SavedRecipient).values(
        buyer_id=buyer_id, created_at=now, last_used_at=now, **cleaned
    )
    statement = statement.on_conflict_do_update(
        index_elements=["buyer_id", "name", "mobile", "street"],
        set_={
            "province": statement.excluded.province,
            "city": statement.excluded.city,
            "district": statement.excluded.district,
            "last_used_at": statement.excluded.last_used_at,
        },
    ).returning(SavedRecipient.id)
    saved_id: int = (await session.execute(statement)).scalar_one()
    return saved_id


async def saved_recipients(
    session: AsyncSession, buyer_id: int, limit: int = 3
) -> list[dict[str, Any]]:
    """The buyer's saved recipients, most recently used first: dicts of id, name, mobile,
    province, city, district, street."""
    rows = await session.scalars(
        select(SavedRecipient)
        .where(SavedRecipient.buyer_id == buyer_id)
        .order_by(SavedRecipient.last_used_at.desc(), SavedRecipient.id.desc())
        .limit(limit)
    )
    return [{"id": r.id, **{field: getattr(r, field) for field in _RECIPIENT_FIELDS}} for r in rows]


# --- factory links -------------------------------------------------------------------------


async def create_factory_link(
    session: AsyncSession,
    factory_id: str,
    ttl: timedelta = FACTORY_LINK_TTL,
    *,
    now: datetime | None = None,
) -> str:
    """A new one-time token for ``factory_id`` (raises LookupError for an unknown factory).

    22 characters of ``[A-Za-z0-9_-]`` (``secrets.token_urlsafe(16)``): a valid Telegram
    ``/start`` deep-link payload. Valid for ``ttl``.
    """
    now = now or utcnow()
    if await session.scalar(select(Factory.id).where(Factory.id == factory_id)) is None:
        raise LookupError(f"no factory {factory_id!r}")
    token = secrets.token_urlsafe(16)
    session.add(
        FactoryLink(token=token, factory_id=factory_id, created_at=now, expires_at=now + ttl)
    )
    await session.flush()
    return token


def _upsert_into(session: AsyncSession, model: Any) -> Any:
    """An INSERT that can take ON CONFLICT (both databases have it, in their own dialects)."""
    name = session.get_bind().dialect.name
    if name == "sqlite":
        return sqlite.insert(model)
    if name == "postgresql":
        return postgresql.insert(model)
    raise NotImplementedError(f"orders: no upsert for the {name} dialect")


async def redeem_factory_link(
    session: AsyncSession, token: str, chat_id: int, now: datetime | None = None
) -> str | None:
    """Use the link ``token`` once: bind ``chat_id`` to its factory and return the factory's
    id; None for a token that is unknown, malformed, used or expired (nothing changes).

    The first statement is the conditional ``UPDATE ... WHERE used_at IS NULL AND
    expires_at > now``, so of two chats redeeming at once exactly one gets the factory (on
    SQLite call it first in its transaction: the update takes the write lock). A chat bound
    to another factory before is bound to this one now.
    """
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        return None
    now = now or utcnow()
    factory_id = (
        await session.execute(
            update(FactoryLink)
            .where(
                FactoryLink.token == token,
                FactoryLink.used_at.is_(None),
                FactoryLink.expires_at > now,
            )
            .values(used_at=now, used_by_chat_id=chat_id)
            .returning(FactoryLink.factory_id)
            .execution_options(synchronize_session=False)
        )
    ).scalar_one_or_none()
    if factory_id is None:
        return None
    stmt = _upsert_into(session, FactoryChat).values(
        chat_id=chat_id, factory_id=factory_id, bound_at=now
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[FactoryChat.chat_id],
            set_={"factory_id": stmt.excluded.factory_id, "bound_at": stmt.excluded.bound_at},
        )
    )
    return str(factory_id)


async def chats_for_factory(session: AsyncSession, factory_id: str) -> list[int]:
    """The chats bound to a factory (where its new orders go), oldest binding first."""
    rows = await session.scalars(
        select(FactoryChat.chat_id)
        .where(FactoryChat.factory_id == factory_id)
        .order_by(FactoryChat.bound_at)
    )
    return list(rows.all())


async def factory_for_chat(session: AsyncSession, chat_id: int) -> str | None:
    """The factory a redeemed link bound ``chat_id`` to, or None."""
    return await session.scalar(
        select(FactoryChat.factory_id).where(FactoryChat.chat_id == chat_id)
    )


async def reserved_for_order(session: AsyncSession, order_id: int) -> int:
    """Pieces the order still holds (its unreleased reservations)."""
    held = await session.scalar(
        select(func.coalesce(func.sum(StockReservation.qty), 0)).where(
            StockReservation.order_id == order_id, StockReservation.released_at.is_(None)
        )
    )
    return int(held or 0)


async def factory_name(session: AsyncSession, factory_id: str) -> str | None:
    """The factory's name (as imported), or None for an unknown factory."""
    return await session.scalar(select(Factory.name).where(Factory.id == factory_id))
