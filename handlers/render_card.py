"""The offer card: what a buyer needs to decide, in blocks that fit Telegram's limits.

Blocks in order of importance: title and category, price tiers, drop-ship, factory (name,
city, badges, 48-hour pickup rate), SKUs with stock, customization, 搭配购. A photo caption
(1024) takes the blocks that fit and the rest follows in a text message; a text card (4096)
takes them all. Long lists are shortened when rendered ("… 12 more"), so no block alone
exceeds a caption.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from catalog_store.offer_details import CustomizationView, OfferDetails, SkuView
from catalog_store.search import Hit
from catalog_store.workflows.spec import WorkflowSpec
from handlers.callbacks import OfferCB, StartOrderCB
from handlers.render_search import badge_name, money
from handlers.text_limits import clip

MAX_COLOR_LINES = 8  # SKU lines (one per color) before "… more"
MAX_SIZES_PER_LINE = 8
MAX_CUSTOMIZATION_LINES = 6
TITLE_CHARS = 120


def card_blocks(offer: OfferDetails, bundle: list[Hit]) -> list[str]:
    blocks = [_title(offer), _prices(offer), _dropship(offer), _factory(offer)]
    if offer.skus:
        blocks.append(_skus(offer.skus))
    if offer.customization:
        blocks.append(_customization(offer.customization))
    if bundle:
        blocks.append(_bundle(bundle))
    return blocks


def _title(offer: OfferDetails) -> str:
    title = escape(clip(offer.title, TITLE_CHARS))
    path = escape(f"{offer.category_top} › {offer.category_leaf}")
    return f"<b>{title}</b>\n{path}"


def _prices(offer: OfferDetails) -> str:
    lines = [_("card.tiers")]
    for tier in offer.tiers:
        lines.append(
            _("card.tier").format(
                qty=tier.min_qty, unit=escape(offer.unit), price=money(tier.price)
            )
        )
    lines.append(_("card.moq").format(moq=offer.moq, unit=escape(offer.unit)))
    if offer.mix_wholesale and len(offer.skus) > 1:
        lines.append(_("card.mix"))
    if offer.shipping_fee == 0:
        lines.append(_("card.free_shipping"))
    elif offer.shipping_fee is not None:
        lines.append(_("card.shipping").format(fee=money(offer.shipping_fee)))
    return "\n".join(lines)


def _dropship(offer: OfferDetails) -> str:
    if not offer.dropship_supported or offer.dropship_price is None:
        return _("card.no_dropship")
    line = _("card.dropship").format(price=money(offer.dropship_price))
    if offer.dropship_ship_within_hours:
        line += " · " + _("card.ships_within").format(hours=offer.dropship_ship_within_hours)
    return line


def _factory(offer: OfferDetails) -> str:
    factory = offer.factory
    place = (
        factory.city
        if not factory.industrial_belt
        else f"{factory.city} · {factory.industrial_belt}"
    )
    lines = [_("card.factory").format(name=escape(clip(factory.name, 60)), place=escape(place))]
    facts = [
        _("card.years").format(years=factory.trust_years)
        if code == "trust_pass" and factory.trust_years
        else badge_name(code)
        for code in factory.badges
    ]
    if factory.pickup_48h_rate is not None:
        facts.append(_("card.pickup").format(rate=f"{factory.pickup_48h_rate:.0%}"))
    if factory.rating is not None:
        facts.append(_("card.rating").format(rating=f"{factory.rating:.1f}"))
    if facts:
        lines.append(" · ".join(facts))
    return "\n".join(lines)


def _skus(skus: list[SkuView]) -> str:
    """One line per color: 红色：S 120 · M 0 · L 35 (sizes with their stock)."""
    by_color: dict[str, list[SkuView]] = defaultdict(list)
    for sku in skus:
        by_color[sku.color or _("card.sku_default")].append(sku)
    total = sum(max(sku.stock, 0) for sku in skus)
    lines = [_("card.skus").format(count=len(skus), stock=total)]
    for color, group in list(by_color.items())[:MAX_COLOR_LINES]:
        parts = []
        for sku in group[:MAX_SIZES_PER_LINE]:
            label = sku.size or ""
            stock = _("card.sold_out") if sku.stock <= 0 else str(sku.stock)
            price = f" {money(sku.price)}" if sku.price is not None else ""
            parts.append(f"{escape(clip(label, 12))} {stock}{price}".strip())
        if len(group) > MAX_SIZES_PER_LINE:
            parts.append(_("card.more").format(count=len(group) - MAX_SIZES_PER_LINE))
        lines.append(f"{escape(clip(color, 16))}：" + " · ".join(parts))
    if len(by_color) > MAX_COLOR_LINES:
        lines.append(_("card.more").format(count=len(by_color) - MAX_COLOR_LINES))
    return "\n".join(lines)


def _lead(option: CustomizationView) -> str:
    if option.lead_hours is not None:
        return _("card.lead_hours").format(hours=option.lead_hours)
    if option.lead_days is not None:
        days = f"{option.lead_days:g}"
        return _("card.lead_days").format(days=days)
    return ""


def _customization(options: list[CustomizationView]) -> str:
    lines = [_("card.customization")]
    for option in options[:MAX_CUSTOMIZATION_LINES]:
        facts = [_("card.unit_fee").format(fee=money(option.unit_fee))]
        if option.setup_fee:
            facts.append(_("card.setup_fee").format(fee=money(option.setup_fee)))
        if option.min_qty > 1:
            facts.append(_("card.min_qty").format(qty=option.min_qty))
        lead = _lead(option)
        if lead:
            facts.append(lead)
        name = escape(clip(option.name, 30))
        lines.append(f"• {name}（{_(f'customization.{option.kind}')}）：" + " · ".join(facts))
    if len(options) > MAX_CUSTOMIZATION_LINES:
        lines.append(_("card.more").format(count=len(options) - MAX_CUSTOMIZATION_LINES))
    return "\n".join(lines)


def _bundle(bundle: list[Hit]) -> str:
    lines = [_("card.bundle")]
    for n, hit in enumerate(bundle, 1):
        lines.append(
            f"{n}. {escape(clip(hit.title, 24))} · {money(hit.unit_price)} · {escape(hit.city)}"
        )
    return "\n".join(lines)


def card_markup(
    bundle: list[Hit],
    keys: dict[str, int],
    search_id: int,
    offer_key: int,
    workflows: list[WorkflowSpec],
) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    locale = get_i18n().current_locale
    orders = [
        InlineKeyboardButton(
            text="🛒 " + spec.label(locale),
            callback_data=StartOrderCB(k=offer_key, w=spec.name).pack(),
        )
        for spec in workflows
    ]
    if orders:
        kb.row(*orders, width=2)
    for n, hit in enumerate(bundle, 1):
        kb.row(
            InlineKeyboardButton(
                text=_("button.bundle").format(n=n, category=clip(hit.category_leaf, 12)),
                callback_data=OfferCB(k=keys[hit.offer_id], s=search_id).pack(),
            )
        )
    return kb.as_markup()
