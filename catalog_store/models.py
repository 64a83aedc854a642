"""SQLAlchemy 2.0 typed models of the factory catalog.

The catalog tables mirror ``shared/specs/catalog-format.md``: factories, offers, their price
tiers, SKUs and customization options. Money is stored as integer fen (exact on SQLite and
PostgreSQL alike) and read back as ``Decimal`` CNY; times are UTC. Keys of the contract that
this schema does not know are kept in ``extra``. Tables still to come (processed updates)
are designed in ``docs/schema.md`` and arrive as migrations.

Below the catalog: the buyers the bot talks to, their searches (so a button carries a short
integer, not a query or a catalog id), short integer keys for offers, and the persistent FSM
state of each conversation (aiogram's storage over this table lives in ``bot/``).

Last, orders and workflows (migration 0004): saved recipients, workflow definitions and runs,
orders with their items, events and stock reservations, and the links that bind a factory's
chat. The order functions live in ``catalog_store/orders.py``.

Then support staff taking over a buyer's conversation (migration 0005): one conversation row
per buyer and the transcript of its messages; the functions live in
``catalog_store/conversations.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

FEN_PER_YUAN = 100
_CENT = Decimal("0.01")


class Money(TypeDecorator[Decimal]):
    """Decimal CNY in Python, integer fen in the database."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> int | None:
        if value is None:
            return None
        fen = Decimal(value) * FEN_PER_YUAN
        if fen != fen.to_integral_value():
            raise ValueError(f"{value} CNY is not a whole number of fen")
        return int(fen)

    def process_result_value(self, value: int | None, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(value) / FEN_PER_YUAN).quantize(_CENT)

    @staticmethod
    def process_bind_param_fast(value: Decimal) -> int:
        """Decimal CNY to fen for a bulk insert that calls converters itself (never None)."""
        fen = value * FEN_PER_YUAN
        if fen != fen.to_integral_value():
            raise ValueError(f"{value} CNY is not a whole number of fen")
        return int(fen)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes, also on SQLite, which stores no zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store times in UTC with tzinfo")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        dict[str, Any]: JSON,
        list[Any]: JSON,
        list[str]: JSON,
        Decimal: Money,
        datetime: UTCDateTime,
    }


class Factory(Base):
    __tablename__ = "factories"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    province: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(200), index=True)
    industrial_belt: Mapped[str | None] = mapped_column(String(200))
    badges: Mapped[list[str]] = mapped_column(default=list)
    trust_years: Mapped[int | None] = mapped_column(Integer)
    pickup_48h_rate: Mapped[float | None] = mapped_column(Float)
    response_rate: Mapped[float | None] = mapped_column(Float)
    rating: Mapped[float | None] = mapped_column(Float)
    supplier_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # unknown keys; null: none
    content_hash: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    offers: Mapped[list[Offer]] = relationship(back_populates="factory", lazy="raise")


class Offer(Base):
    __tablename__ = "offers"
    __table_args__ = (Index("ix_offers_category_leaf", "category_leaf"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    factory_id: Mapped[str] = mapped_column(ForeignKey("factories.id"), index=True)
    title: Mapped[str] = mapped_column(Text)
    category: Mapped[list[str]] = mapped_column()
    category_top: Mapped[str] = mapped_column(String(200), index=True)
    category_leaf: Mapped[str] = mapped_column(String(200))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    keywords: Mapped[list[str]] = mapped_column(default=list)
    unit: Mapped[str] = mapped_column(String(200), default="件")
    moq: Mapped[int] = mapped_column(Integer)
    dropship_supported: Mapped[bool] = mapped_column(Boolean, default=False)
    dropship_price: Mapped[Decimal | None] = mapped_column(Money)
    dropship_ship_within_hours: Mapped[int | None] = mapped_column(Integer)
    # the contract's `dropship` object verbatim when it carries unknown keys, else null
    dropship_extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    images: Mapped[list[str]] = mapped_column(default=list)
    bundle_tags: Mapped[list[str]] = mapped_column(default=list)
    sales_30d: Mapped[int | None] = mapped_column(Integer)
    repurchase_rate: Mapped[float | None] = mapped_column(Float)
    mix_wholesale: Mapped[bool] = mapped_column(Boolean, default=True)
    shipping_fee: Mapped[Decimal | None] = mapped_column(Money)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # unknown keys; null: none
    # the title segmented once, at import (space-separated, normalized): the search index
    # reads these instead of segmenting every title again at start-up
    title_tokens: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    factory: Mapped[Factory] = relationship(back_populates="offers", lazy="raise")
    price_tiers: Mapped[list[PriceTier]] = relationship(
        order_by="PriceTier.min_qty", lazy="raise", cascade="all, delete-orphan"
    )
    skus: Mapped[list[Sku]] = relationship(
        order_by="Sku.position", lazy="raise", cascade="all, delete-orphan"
    )
    customization: Mapped[list[CustomizationOption]] = relationship(
        order_by="CustomizationOption.position", lazy="raise", cascade="all, delete-orphan"
    )


class PriceTier(Base):
    __tablename__ = "price_tiers"
    # clustered on the key (SQLite WITHOUT ROWID): one b-tree to write instead of two
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_with_rowid": False}

    offer_id: Mapped[str] = mapped_column(
        ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True
    )
    min_qty: Mapped[int] = mapped_column(Integer, primary_key=True)
    price: Mapped[Decimal] = mapped_column(Money)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # unknown keys; null: none


class Sku(Base):
    __tablename__ = "skus"
    # clustered on the key (SQLite WITHOUT ROWID): one b-tree to write instead of two
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_with_rowid": False}

    offer_id: Mapped[str] = mapped_column(
        ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True
    )
    sku_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    specs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # canonical specs pulled out so search can filter on them
    color: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[str | None] = mapped_column(String(200))
    price: Mapped[Decimal | None] = mapped_column(Money)
    # the factory's on-hand count as of the last import; reservations live apart from it
    stock: Mapped[int] = mapped_column(Integer)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # unknown keys; null: none


class CustomizationOption(Base):
    __tablename__ = "customization_options"
    # clustered on the key (SQLite WITHOUT ROWID): one b-tree to write instead of two
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_with_rowid": False}

    offer_id: Mapped[str] = mapped_column(
        ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(200))
    min_qty: Mapped[int] = mapped_column(Integer, default=1)
    unit_fee: Mapped[Decimal] = mapped_column(Money)
    setup_fee: Mapped[Decimal] = mapped_column(Money)
    lead_days: Mapped[float | None] = mapped_column(Float)
    lead_hours: Mapped[int | None] = mapped_column(Integer)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # unknown keys; null: none


class CatalogImport(Base):
    """One run of ``catalog import``: what changed, so caches (lexicon, index) know to refresh."""

    __tablename__ = "catalog_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime] = mapped_column()
    partial: Mapped[bool] = mapped_column(Boolean, default=False)
    factories_new: Mapped[int] = mapped_column(Integer, default=0)
    factories_changed: Mapped[int] = mapped_column(Integer, default=0)
    offers_new: Mapped[int] = mapped_column(Integer, default=0)
    offers_changed: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)


# --- buyers and the conversation ------------------------------------------------------------


class Buyer(Base):
    """A Telegram user who wrote to the bot; ``blocked_at`` set while they block it."""

    __tablename__ = "buyers"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_name: Mapped[str] = mapped_column(String(200), default="")
    username: Mapped[str | None] = mapped_column(String(64))
    language_code: Mapped[str | None] = mapped_column(String(16))
    blocked_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class OfferKey(Base):
    """A short integer for an offer id, so buttons carry a few digits (callback data < 64
    bytes) and never a raw catalog id. Never reused; survives re-imports."""

    __tablename__ = "offer_keys"

    key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    offer_id: Mapped[str] = mapped_column(String(64), unique=True)


class BuyerSearch(Base):
    """One search as the buyer sees it: the text and the refinements pressed since.

    Result pages and refinement buttons name a search by this id, so an old message's
    buttons keep working and a forged id of someone else's search is refused.
    """

    __tablename__ = "buyer_searches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    buyer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    text: Mapped[str] = mapped_column(Text)
    refinements: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FsmState(Base):
    """aiogram FSM state and data of one conversation key (JSON-safe data only)."""

    __tablename__ = "fsm_states"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- orders and workflows -------------------------------------------------------------------

# BIGINT on PostgreSQL; on SQLite only an INTEGER PRIMARY KEY autoincrements (the rowid)
OrderIdType = BigInteger().with_variant(Integer(), "sqlite")


class SavedRecipient(Base):
    """An address a buyer used, offered again in the recipient step (most recent first)."""

    __tablename__ = "saved_recipients"
    # one row per address: saving it again (even from two orders at once) updates that row
    __table_args__ = (
        Index(
            "uq_saved_recipients_buyer_id_name_mobile_street",
            "buyer_id",
            "name",
            "mobile",
            "street",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    buyer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    name: Mapped[str] = mapped_column(String(64))
    mobile: Mapped[str] = mapped_column(String(20))
    province: Mapped[str] = mapped_column(String(32))
    city: Mapped[str] = mapped_column(String(32))
    district: Mapped[str | None] = mapped_column(String(32))
    street: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkflowDefinition(Base):
    """A stored workflow (its steps are data): new ones arrive as rows, never as code."""

    __tablename__ = "workflow_definitions"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    order_kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[dict[str, Any]] = mapped_column(default=dict)  # locale -> text
    steps: Mapped[list[Any]] = mapped_column(default=list)  # [{kind, settings}, ...]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkflowRun(Base):
    """One buyer's pass through a workflow definition; a restart or a takeover resumes it."""

    __tablename__ = "workflow_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    buyer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    definition_name: Mapped[str] = mapped_column(String(64))
    definition_version: Mapped[int] = mapped_column(Integer)
    offer_id: Mapped[str] = mapped_column(String(64))
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # active, completed, cancelled, abandoned
    status: Mapped[str] = mapped_column(String(16), default="active")
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    misunderstandings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # step -> count
    order_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Order(Base):
    """A placed order. Prices, titles and the recipient are copies: the catalog may change."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(OrderIdType, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)  # human-facing
    buyer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    factory_id: Mapped[str] = mapped_column(String(64), index=True)
    offer_id: Mapped[str] = mapped_column(String(64))
    workflow_run_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # dropship, wholesale, sample, ...
    # placed, paid, accepted, rejected, shipped, delivered, cancelled, expired
    status: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)  # e.g. {"no_trace": true}
    goods_total: Mapped[Decimal] = mapped_column(Money)
    customization_total: Mapped[Decimal] = mapped_column(Money)
    shipping_fee: Mapped[Decimal] = mapped_column(Money)
    total: Mapped[Decimal] = mapped_column(Money)
    lead_days: Mapped[float | None] = mapped_column(Float)
    ship_by: Mapped[datetime] = mapped_column()
    carrier: Mapped[str | None] = mapped_column(String(16))
    tracking_no: Mapped[str | None] = mapped_column(String(40))
    reject_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    placed_at: Mapped[datetime | None] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()
    shipped_at: Mapped[datetime | None] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()


class OrderItem(Base):
    """One line of an order: a SKU, its quantity and copies of what it cost and was called."""

    __tablename__ = "order_items"

    order_id: Mapped[int] = mapped_column(
        OrderIdType, ForeignKey("orders.id"), primary_key=True, autoincrement=False
    )
    line: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    offer_id: Mapped[str] = mapped_column(String(64))
    sku_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    specs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    qty: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    # the order's chosen customization options, fees as decimal strings
    customization: Mapped[list[Any]] = mapped_column(default=list)
    line_total: Mapped[Decimal] = mapped_column(Money)


class OrderEvent(Base):
    """Every change of an order's status: from, to, who and when."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(OrderIdType, ForeignKey("orders.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_kind: Mapped[str] = mapped_column(String(16))  # buyer, staff, factory, system
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StockReservation(Base):
    """Pieces an open order holds, apart from ``skus.stock``. No foreign key to ``skus``:
    a re-import replaces SKU rows and must neither release nor double-count these."""

    __tablename__ = "stock_reservations"
    __table_args__ = (Index("ix_stock_reservations_offer_id_sku_id", "offer_id", "sku_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(OrderIdType, ForeignKey("orders.id"), index=True)
    offer_id: Mapped[str] = mapped_column(String(64))
    sku_id: Mapped[str] = mapped_column(String(64))
    qty: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column()


class FactoryLink(Base):
    """A one-time invitation (a Telegram /start payload) that binds a chat to a factory."""

    __tablename__ = "factory_links"

    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    factory_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    used_by_chat_id: Mapped[int | None] = mapped_column(BigInteger)


class FactoryChat(Base):
    """A chat bound to a factory by a redeemed link; apart from the imported
    ``factories.supplier_chat_id``, so a re-import never unbinds it."""

    __tablename__ = "factory_chats"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    factory_id: Mapped[str] = mapped_column(String(64), index=True)
    bound_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- staff takeover: conversations and their messages --------------------------------------


class Conversation(Base):
    """One buyer's conversation as staff see it; one row per buyer, reused across requests.

    ``state``: ``bot`` (the bot serves), ``waiting`` (the buyer asked for a person, nobody
    took it yet), ``taken`` (``staff_user_id`` owns it). Outside ``taken`` the staff columns
    name the last holder (None when nobody ever took it).
    """

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    buyer_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    state: Mapped[str] = mapped_column(String(16), index=True, default="bot")
    staff_user_id: Mapped[int | None] = mapped_column(BigInteger)
    staff_name: Mapped[str | None] = mapped_column(String(200))
    # the forum topic in the staff chat; looked up by it for every staff reply
    topic_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    topic_name: Mapped[str | None] = mapped_column(String(128))
    requested_at: Mapped[datetime | None] = mapped_column()
    taken_at: Mapped[datetime | None] = mapped_column()
    released_at: Mapped[datetime | None] = mapped_column()
    sla_notified_at: Mapped[datetime | None] = mapped_column()
    last_query: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the last parsed query
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    """One message of a conversation's transcript: from the buyer (``in``), to the buyer
    (``out``, by the bot or staff) or an internal staff note (``note``)."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    direction: Mapped[str] = mapped_column(String(8))  # in, out, note
    sender_kind: Mapped[str] = mapped_column(String(8))  # buyer, bot, staff
    sender_id: Mapped[int | None] = mapped_column(BigInteger)
    sender_name: Mapped[str | None] = mapped_column(String(200))
    # text, photo, voice, document, sticker, video, audio, animation, album, ...
    content_type: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)  # the text or the caption
    file_id: Mapped[str | None] = mapped_column(String(255))
    media_group_id: Mapped[str | None] = mapped_column(String(64))
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
