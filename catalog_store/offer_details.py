"""One offer as the bot's offer card needs it: plain frozen views, read in one go.

``load_offer(session, offer_id)`` reads an offer with its factory, price tiers, SKUs and
customization options by explicit eager loads (the models' relationships are
``lazy="raise"``: nothing is fetched behind the caller's back in async code) and returns
``OfferDetails``: frozen dataclasses holding only values, safe to keep after the session
closes. SKUs come in catalog order (``position``), tiers by ``min_qty``, customization
options by ``position``. Inactive offers are returned too (``active`` says so): an old
message may still point at one.

``unit_price_at(details, qty)`` is the contract's wholesale price rule
(``shared/specs/catalog-format.md``, "Prices, worked"): the price of the last tier whose
``min_qty`` <= qty, or a SKU's own flat price when it has one; None below the MOQ. Money is
``Decimal`` CNY throughout. No Telegram here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from catalog_store.models import Offer

__all__ = [
    "CustomizationView",
    "FactoryView",
    "OfferDetails",
    "SkuView",
    "TierView",
    "load_offer",
    "unit_price_at",
]


@dataclass(frozen=True)
class TierView:
    min_qty: int
    price: Decimal  # CNY per piece from min_qty on


@dataclass(frozen=True)
class SkuView:
    sku_id: str
    color: str | None  # specs["颜色"]
    size: str | None  # specs["尺码"]
    specs: dict[str, str]
    price: Decimal | None  # the SKU's flat unit price at every wholesale quantity, if any
    stock: int  # the factory's on-hand count as of the last import


@dataclass(frozen=True)
class CustomizationView:
    kind: str  # logo, packaging, color, size, material, engraving, sample
    name: str
    min_qty: int
    unit_fee: Decimal
    setup_fee: Decimal
    lead_days: float | None
    lead_hours: int | None


@dataclass(frozen=True)
class FactoryView:
    id: str
    name: str
    province: str
    city: str
    industrial_belt: str | None
    badges: list[str]
    pickup_48h_rate: float | None
    rating: float | None
    trust_years: int | None
    response_rate: float | None


@dataclass(frozen=True)
class OfferDetails:
    offer_id: str
    title: str
    category_top: str
    category_leaf: str
    unit: str
    moq: int
    tiers: list[TierView]
    dropship_supported: bool
    dropship_price: Decimal | None
    dropship_ship_within_hours: int | None
    images: list[str]
    bundle_tags: list[str]
    skus: list[SkuView]
    customization: list[CustomizationView]
    factory: FactoryView
    active: bool
    mix_wholesale: bool
    shipping_fee: Decimal | None  # per wholesale order; 0 or None: 包邮
    sales_30d: int | None
    attributes: dict[str, Any]


async def load_offer(session: AsyncSession, offer_id: str) -> OfferDetails | None:
    """The offer with everything its card shows, or None when there is no such offer."""
    statement = (
        select(Offer)
        .where(Offer.id == offer_id)
        .options(
            selectinload(Offer.factory),
            selectinload(Offer.price_tiers),
            selectinload(Offer.skus),
            selectinload(Offer.customization),
        )
        # an Offer already in the session without its collections gets them loaded too
        .execution_options(populate_existing=True)
    )
    offer = (await session.execute(statement)).scalar_one_or_none()
    if offer is None:
        return None
    factory = offer.factory
    return OfferDetails(
        offer_id=offer.id,
        title=offer.title,
        category_top=offer.category_top,
        category_leaf=offer.category_leaf,
        unit=offer.unit,
        moq=offer.moq,
        tiers=[
            TierView(min_qty=t.min_qty, price=t.price)
            for t in sorted(offer.price_tiers, key=lambda t: t.min_qty)
        ],
        dropship_supported=offer.dropship_supported,
        dropship_price=offer.dropship_price,
        dropship_ship_within_hours=offer.dropship_ship_within_hours,
        images=list(offer.images or []),
        bundle_tags=list(offer.bundle_tags or []),
        skus=[
            SkuView(
                sku_id=s.sku_id,
                color=s.color,
                size=s.size,
                specs={str(k): str(v) for k, v in (s.specs or {}).items()},
                price=s.price,
                stock=s.stock,
            )
            for s in sorted(offer.skus, key=lambda s: s.position)
        ],
        customization=[
            CustomizationView(
                kind=c.kind,
                name=c.name,
                min_qty=c.min_qty,
                unit_fee=c.unit_fee,
                setup_fee=c.setup_fee,
                lead_days=c.lead_days,
                lead_hours=c.lead_hours,
            )
            for c in sorted(offer.customization, key=lambda c: c.position)
        ],
        factory=FactoryView(
            id=factory.id,
            name=factory.name,
            province=factory.province,
            city=factory.city,
            industrial_belt=factory.industrial_belt,
            badges=list(factory.badges or []),
            pickup_48h_rate=factory.pickup_48h_rate,
            rating=factory.rating,
            trust_years=factory.trust_years,
            response_rate=factory.response_rate,
        ),
        active=offer.active,
        mix_wholesale=offer.mix_wholesale,
        shipping_fee=offer.shipping_fee,
        sales_30d=offer.sales_30d,
        attributes=dict(offer.attributes or {}),
    )


def unit_price_at(details: OfferDetails, qty: int, sku_id: str | None = None) -> Decimal | None:
    """The wholesale unit price at ``qty`` pieces by the contract's rule; None below MOQ.

    With ``sku_id``, that SKU's own price when it has one (flat at every wholesale
    quantity), else the tier price. ``qty`` is the quantity the rule is applied at: with
    混批 (``mix_wholesale``) the order's total over the offer's SKUs, without it the SKU's
    own quantity; the caller decides which. Drop-ship orders use ``dropship_price`` instead.
    Raises ValueError for a SKU the offer does not have.
    """
    if qty < details.moq:
        return None
    if sku_id is not None:
        sku = next((s for s in details.skus if s.sku_id == sku_id), None)
        if sku is None:
            raise ValueError(f"offer {details.offer_id} has no SKU {sku_id!r}")
        if sku.price is not None:
            return sku.price
    price = None
    for tier in details.tiers:  # ascending min_qty
        if tier.min_qty > qty:
            break
        price = tier.price
    return price
