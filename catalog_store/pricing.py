"""What an order costs, by the contract's rules (``shared/specs/catalog-format.md``,
"Prices, worked"), in ``Decimal`` CNY only.

``quote(offer, kind, lines, customization, now)`` prices an order of ``offer``:

- ``lines``: ``[(sku_id, qty), ...]``; the same SKU twice is one line of the summed
  quantity. An offer without SKUs is ordered as one line with ``sku_id`` ``NO_SKU`` ("").
- ``customization``: positions of the offer's customization options (0-based, catalog
  order, as ``OfferDetails.customization`` lists them); a position given twice counts once.
- ``kind``:
  - ``dropship`` (一件代发): ``dropship.price`` per piece at any quantity from 1; no tiers, no
    MOQ; shipping included (``shipping_fee`` 0). Ships within ``dropship.ship_within_hours``
    (48 when the catalog gives none).
  - ``wholesale``: the unit price of the last tier whose ``min_qty`` <= q, or a SKU's own
    flat price when it has one. With 混批 (``mix_wholesale``) q is the order's total over all
    its SKUs and that total must reach the MOQ; without it q is each SKU's own quantity and
    each SKU must reach the MOQ. Plus the offer's ``shipping_fee`` once (0: 包邮). Ships
    within 48 h.
  - ``sample`` (打样): each piece at the offer's ``sample`` option's ``unit_fee``; its
    ``setup_fee`` once (listed in ``customization`` as the sample option with a unit fee of
    0.00, the per-piece fee being the goods price); ships within the option's
    ``lead_hours`` (or ``lead_days`` × 24; 48 when neither is given). No MOQ, no shipping fee.
  Other order kinds (a workflow definition's ``order_kind``) must be priced as one of these
  three; ``quote`` raises ValueError for them.
- Customization (any kind): ``unit_fee`` × all pieces of the order + ``setup_fee`` once,
  allowed from the option's ``min_qty`` pieces (the order's total). Each chosen option's
  ``lead_hours`` (or ``lead_days`` × 24, rounded up) adds to the ship-within hours.
- ``total`` = goods + customization + shipping fee; ``ship_by`` = ``now`` + ``lead_hours``.

A quote that the rules refuse raises ``QuoteRefused(code, message, nearest)``, ``nearest``
being the nearest valid quantity (of the order, or of the SKU named) when there is one:

| code | when | nearest |
|---|---|---|
| ``bad_qty`` | no lines, a quantity that is not a whole number >= 1 | None |
| ``unknown_sku`` | a SKU the offer does not have (or ``NO_SKU`` for an offer with SKUs) | None |
| ``no_dropship`` | drop-ship asked, the offer has none (or no drop-ship price) | None |
| ``no_sample`` | a sample asked, the offer has no ``sample`` option | None |
| ``below_moq`` | wholesale with 混批: the order's total is below the MOQ | the MOQ |
| ``sku_below_moq`` | wholesale without 混批: a SKU's quantity is below the MOQ | the MOQ |
| ``customization_min_qty`` | an option chosen for fewer pieces than its ``min_qty`` | min_qty |
| ``bad_customization`` | no option at that position; the sample option in another kind | None |

``check_quantity(offer, kind, lines, customization, available)`` runs the same checks and,
after them, the stock (``available``: per SKU, stock minus open reservations, as
``catalog_store.stock.available`` reads it); it returns the first problem as a
``QuoteRefused`` (not raised) or None. Its extra code is ``out_of_stock``, ``nearest``
being the SKU's available count when that count makes a valid order, else None. Offers
without SKUs (``NO_SKU`` lines) have no stock count and are never out of stock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from catalog_store.offer_details import CustomizationView, OfferDetails, SkuView

__all__ = [
    "DEFAULT_SHIP_WITHIN_HOURS",
    "NO_SKU",
    "PRICING_KINDS",
    "Quote",
    "QuoteCustomization",
    "QuoteLine",
    "QuoteRefused",
    "check_quantity",
    "quote",
]

PRICING_KINDS = ("dropship", "wholesale", "sample")
DEFAULT_SHIP_WITHIN_HOURS = 48
NO_SKU = ""  # the sku_id of the one line of an offer without SKUs
_ZERO = Decimal("0.00")
_CENT = Decimal("0.01")


class QuoteRefused(Exception):
    """The rules refuse this order; ``code`` says which rule, ``nearest`` a valid quantity."""

    def __init__(self, code: str, message: str, nearest: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.nearest = nearest

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, nearest={self.nearest!r})"


@dataclass(frozen=True)
class QuoteLine:
    sku_id: str
    specs: dict[str, str]
    qty: int
    unit_price: Decimal
    line_total: Decimal


@dataclass(frozen=True)
class QuoteCustomization:
    position: int  # index in the offer's customization options
    kind: str
    name: str
    unit_fee: Decimal
    setup_fee: Decimal
    qty: int  # pieces it applies to: the whole order
    total: Decimal  # unit_fee × qty + setup_fee


@dataclass(frozen=True)
class Quote:
    kind: str
    lines: tuple[QuoteLine, ...]
    customization: tuple[QuoteCustomization, ...]
    goods_total: Decimal
    customization_total: Decimal
    shipping_fee: Decimal
    total: Decimal
    lead_hours: int  # ship within this many hours of placing
    ship_by: datetime  # UTC

    @property
    def qty(self) -> int:
        return sum(line.qty for line in self.lines)


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENT)


def _option_lead_hours(option: CustomizationView) -> int:
    if option.lead_hours is not None:
        return int(option.lead_hours)
    if option.lead_days:
        return math.ceil(Decimal(str(option.lead_days)) * 24)
    return 0


def _merged_lines(
    offer: OfferDetails, lines: list[tuple[str, int]]
) -> list[tuple[SkuView | None, int]]:
    """The lines with their SKUs, one per SKU in first-seen order; refuses bad input."""
    if not lines:
        raise QuoteRefused("bad_qty", "an order needs at least one line")
    skus = {s.sku_id: s for s in offer.skus}
    merged: dict[str, int] = {}
    for sku_id, qty in lines:
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
            raise QuoteRefused(
                "bad_qty", f"quantity {qty!r} of {sku_id!r} is not a whole number >= 1"
            )
        if sku_id not in skus and not (sku_id == NO_SKU and not offer.skus):
            raise QuoteRefused("unknown_sku", f"offer {offer.offer_id} has no SKU {sku_id!r}")
        merged[sku_id] = merged.get(sku_id, 0) + qty
    return [(skus.get(sku_id), qty) for sku_id, qty in merged.items()]


def _tier_price(offer: OfferDetails, qty: int) -> Decimal | None:
    price = None
    for tier in offer.tiers:  # ascending min_qty
        if tier.min_qty > qty:
            break
        price = tier.price
    return price


def _sample_option(offer: OfferDetails) -> tuple[int, CustomizationView]:
    for position, option in enumerate(offer.customization):
        if option.kind == "sample":
            return position, option
    raise QuoteRefused("no_sample", f"offer {offer.offer_id} offers no samples (打样)")


def _goods(
    offer: OfferDetails, kind: str, merged: list[tuple[SkuView | None, int]]
) -> tuple[list[QuoteLine], Decimal, int]:
    """Priced lines, the shipping fee and the base ship-within hours for ``kind``."""
    total_qty = sum(qty for _, qty in merged)

    def line(sku: SkuView | None, qty: int, unit_price: Decimal) -> QuoteLine:
        unit_price = _money(unit_price)
        return QuoteLine(
            sku_id=sku.sku_id if sku else NO_SKU,
            specs=dict(sku.specs) if sku else {},
            qty=qty,
            unit_price=unit_price,
            line_total=_money(unit_price * qty),
        )

    if kind == "dropship":
        if not offer.dropship_supported or offer.dropship_price is None:
            raise QuoteRefused(
                "no_dropship", f"offer {offer.offer_id} is not drop-shipped (一件代发)"
            )
        hours = offer.dropship_ship_within_hours or DEFAULT_SHIP_WITHIN_HOURS
        return [line(s, q, offer.dropship_price) for s, q in merged], _ZERO, hours
    if kind == "sample":
        _, option = _sample_option(offer)
        hours = _option_lead_hours(option) or DEFAULT_SHIP_WITHIN_HOURS
        return [line(s, q, option.unit_fee) for s, q in merged], _ZERO, hours
    if kind != "wholesale":
        raise ValueError(f"no pricing rule for order kind {kind!r}; one of {PRICING_KINDS}")
    moq = max(offer.moq, offer.tiers[0].min_qty if offer.tiers else offer.moq)
    priced = []
    if offer.mix_wholesale:
        if total_qty < moq:
            raise QuoteRefused(
                "below_moq",
                f"{total_qty} pieces is below the minimum order of {moq} (起批量)",
                nearest=moq,
            )
        tier = _tier_price(offer, total_qty)
        for sku, qty in merged:
            price = sku.price if sku is not None and sku.price is not None else tier
            if price is None:  # no tiers at all and no SKU price: nothing to sell at
                raise QuoteRefused("below_moq", f"offer {offer.offer_id} has no wholesale price")
            priced.append(line(sku, qty, price))
    else:
        for sku, qty in merged:
            if qty < moq:
                name = sku.sku_id if sku else offer.offer_id
                raise QuoteRefused(
                    "sku_below_moq",
                    f"{qty} pieces of {name} is below the minimum order of {moq} per SKU "
                    "(this offer has no 混批)",
                    nearest=moq,
                )
            price = sku.price if sku is not None and sku.price is not None else None
            price = price if price is not None else _tier_price(offer, qty)
            if price is None:
                raise QuoteRefused(
                    "sku_below_moq", f"offer {offer.offer_id} has no wholesale price"
                )
            priced.append(line(sku, qty, price))
    shipping = _money(offer.shipping_fee) if offer.shipping_fee else _ZERO
    return priced, shipping, DEFAULT_SHIP_WITHIN_HOURS


def _customization(
    offer: OfferDetails, kind: str, positions: list[int], total_qty: int
) -> tuple[list[QuoteCustomization], int]:
    chosen: list[QuoteCustomization] = []
    hours = 0
    seen: set[int] = set()
    sample_position = None
    if kind == "sample":
        sample_position, sample = _sample_option(offer)
        if total_qty < sample.min_qty:
            raise QuoteRefused(
                "customization_min_qty",
                f"{sample.name} needs at least {sample.min_qty} pieces",
                nearest=sample.min_qty,
            )
        if sample.setup_fee:
            setup = _money(sample.setup_fee)
            chosen.append(
                QuoteCustomization(
                    sample_position, "sample", sample.name, _ZERO, setup, total_qty, setup
                )
            )
        seen.add(sample_position)
    for position in positions:
        if position in seen:
            continue
        seen.add(position)
        if isinstance(position, bool) or not isinstance(position, int):
            raise QuoteRefused("bad_customization", f"{position!r} is not an option position")
        if not 0 <= position < len(offer.customization):
            raise QuoteRefused(
                "bad_customization", f"offer {offer.offer_id} has no option at {position}"
            )
        option = offer.customization[position]
        if option.kind == "sample":
            raise QuoteRefused(
                "bad_customization", f"{option.name} is a sample order (kind 'sample')"
            )
        if total_qty < option.min_qty:
            raise QuoteRefused(
                "customization_min_qty",
                f"{option.name} is available from {option.min_qty} pieces, not {total_qty}",
                nearest=option.min_qty,
            )
        unit_fee, setup_fee = _money(option.unit_fee), _money(option.setup_fee)
        chosen.append(
            QuoteCustomization(
                position=position,
                kind=option.kind,
                name=option.name,
                unit_fee=unit_fee,
                setup_fee=setup_fee,
                qty=total_qty,
                total=_money(unit_fee * total_qty + setup_fee),
            )
        )
        hours += _option_lead_hours(option)
    return chosen, hours


def quote(
    offer: OfferDetails,
    kind: str,
    lines: list[tuple[str, int]],
    customization: list[int],
    now: datetime,
) -> Quote:
    """The order's price by the contract's rules; raises QuoteRefused (see the module)."""
    if now.tzinfo is None:
        raise ValueError("naive datetime: pass now in UTC with tzinfo")
    if kind not in PRICING_KINDS:
        raise ValueError(f"no pricing rule for order kind {kind!r}; one of {PRICING_KINDS}")
    merged = _merged_lines(offer, lines)
    priced, shipping_fee, base_hours = _goods(offer, kind, merged)
    total_qty = sum(line.qty for line in priced)
    chosen, extra_hours = _customization(offer, kind, list(customization), total_qty)
    goods_total = _money(sum((line.line_total for line in priced), _ZERO))
    customization_total = _money(sum((c.total for c in chosen), _ZERO))
    lead_hours = base_hours + extra_hours
    return Quote(
        kind=kind,
        lines=tuple(priced),
        customization=tuple(chosen),
        goods_total=goods_total,
        customization_total=customization_total,
        shipping_fee=shipping_fee,
        total=goods_total + customization_total + shipping_fee,
        lead_hours=lead_hours,
        ship_by=now.astimezone(UTC) + timedelta(hours=lead_hours),
    )


_ANY_TIME = datetime(2000, 1, 1, tzinfo=UTC)


def check_quantity(
    offer: OfferDetails,
    kind: str,
    lines: list[tuple[str, int]],
    customization: list[int],
    available: dict[str, int],
) -> QuoteRefused | None:
    """The first reason this order cannot be placed (not raised), or None when it can.

    The pricing rules first (MOQ, 混批, customization ``min_qty``, ...), then the stock:
    ``available`` per SKU (stock minus open reservations); a SKU missing from it has none.
    """
    try:
        priced = quote(offer, kind, lines, customization, _ANY_TIME)
    except QuoteRefused as refused:
        return refused
    for line in priced.lines:
        if line.sku_id == NO_SKU:
            continue  # an offer without SKUs keeps no stock count
        have = max(0, available.get(line.sku_id, 0))
        if line.qty <= have:
            continue
        nearest = None
        if have > 0:
            reduced = [(p.sku_id, have if p.sku_id == line.sku_id else p.qty) for p in priced.lines]
            try:
                quote(offer, kind, reduced, customization, _ANY_TIME)
                nearest = have
            except QuoteRefused:
                nearest = None
        return QuoteRefused(
            "out_of_stock",
            f"only {have} of {line.sku_id} in stock, not {line.qty}",
            nearest=nearest,
        )
    return None
