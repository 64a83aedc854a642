"""Search results as one compact message: understood query, top offers, buttons.

Rendering only: the page, the offers and the refinements come from ``catalog_store.browse``;
texts come from the locale files. Titles are clipped before escaping, so a message of five
offers stays far below Telegram's 4096 characters; ``fit`` guards the limit anyway.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from catalog_store.browse import Relaxation, SearchPage, relaxations
from catalog_store.search import Hit
from handlers.callbacks import HumanCB, OfferCB, PageCB, Refine, RefineCB
from handlers.text_limits import MESSAGE_LIMIT, clip, fit
from nlu import ParsedQuery

TITLE_CHARS = 30  # a short title: one line on a phone
MAX_CATEGORY_BUTTONS = 6
SUPER_FACTORY = "super_factory"
BADGE_PRIORITY = (SUPER_FACTORY, "power_merchant", "specialized_sme", "little_giant")


def money(value: Decimal) -> str:
    return f"¥{value:.2f}"


def badge_name(code: str) -> str:
    return _(f"badge.{code}")


def understood(query: ParsedQuery) -> str:
    """What the bot understood, as short chips: 连衣裙 · 一件代发 · ≤¥60 · 义乌."""
    chips: list[str] = []
    words = list(query.keywords)
    if query.category is not None:
        # the category stands for the keyword that named it (t恤 → T恤, 裙子 → 连衣裙)
        words = [w for w in words if w.casefold() != query.category.casefold()]
        words.append(query.category)
    goods = " ".join(dict.fromkeys(words))
    if goods:
        chips.append(goods)
    chips += query.materials + query.colors + query.sizes
    if query.price_min is not None and query.price_max is not None:
        chips.append(
            _("chip.price_range").format(
                low=_amount(query.price_min), high=_amount(query.price_max)
            )
        )
    elif query.price_max is not None:
        chips.append(_("chip.price_max").format(price=_amount(query.price_max)))
    elif query.price_min is not None:
        chips.append(_("chip.price_min").format(price=_amount(query.price_min)))
    if query.quantity is not None:
        chips.append(_("chip.quantity").format(qty=query.quantity))
    if query.dropship:
        chips.append(_("chip.dropship"))
    chips += [_(f"customization.{kind}") for kind in query.customization]
    if query.region:
        chips.append(query.region)
    chips += [badge_name(code) for code in query.badges]
    return " · ".join(chips) or query.normalized


def _header(page: SearchPage) -> list[str]:
    lines = [_("search.understood").format(query=escape(clip(understood(page.query), 200)))]
    for fix in page.query.corrections:
        lines.append(_("search.corrected").format(wrong=escape(fix.from_), right=escape(fix.to)))
    return lines


def _hit_block(number: int, hit: Hit) -> str:
    facts = [_("hit.price").format(price=money(hit.unit_price), moq=hit.moq)]
    if hit.dropship_price is not None:
        facts.append(_("hit.dropship").format(price=money(hit.dropship_price)))
    facts.append(escape(hit.city))
    # the most telling badge; 诚信通 is on most suppliers, so it tells little here
    best = next((code for code in BADGE_PRIORITY if code in hit.badges), None)
    if best is not None:
        facts.append(badge_name(best))
    title = escape(clip(hit.title, TITLE_CHARS))
    return f"<b>{number}.</b> {title}\n    " + " · ".join(facts)


def results_text(page: SearchPage) -> str:
    header = _header(page)
    header.append(
        _("search.count").format(total=page.result.total, page=page.page + 1, pages=page.pages)
    )
    first = page.page * 5 + 1
    blocks = ["\n".join(header)]
    blocks += [_hit_block(first + i, hit) for i, hit in enumerate(page.result.results)]
    text, _left = fit(blocks, MESSAGE_LIMIT)
    return text


def results_markup(page: SearchPage, keys: dict[str, int]) -> InlineKeyboardMarkup:
    search_id = page.search.id
    kb = InlineKeyboardBuilder()
    first = page.page * 5 + 1
    open_row = [
        InlineKeyboardButton(
            text=str(first + i), callback_data=OfferCB(k=keys[hit.offer_id], s=search_id).pack()
        )
        for i, hit in enumerate(page.result.results)
    ]
    kb.row(*open_row)
    nav = []
    if page.page > 0:
        nav.append(
            InlineKeyboardButton(
                text=_("button.previous"), callback_data=PageCB(s=search_id, p=page.page - 1).pack()
            )
        )
    if page.page + 1 < page.pages:
        nav.append(
            InlineKeyboardButton(
                text=_("button.next"), callback_data=PageCB(s=search_id, p=page.page + 1).pack()
            )
        )
    if nav:
        kb.row(*nav)
    query = page.query
    if query.price_min is not None or query.price_max is not None:
        kb.row(_refine(_("button.price_any"), search_id, Refine.price_clear))
    elif page.result.price_bands:
        kb.row(
            *(
                _refine(_band_label(low, high), search_id, Refine.price, n)
                for n, (low, high) in enumerate(page.result.price_bands)
            )
        )
    dropship = _("button.dropship_off") if query.dropship else _("button.dropship_on")
    super_only = SUPER_FACTORY in query.badges
    factory = _("button.super_off") if super_only else _("button.super_on")
    kb.row(
        _refine(dropship, search_id, Refine.dropship),
        _refine(factory, search_id, Refine.super_factory),
    )
    return kb.as_markup()


def _band_label(low: Decimal | None, high: Decimal | None) -> str:
    if low is None and high is not None:
        return _("band.below").format(high=_amount(high))
    if high is None and low is not None:
        return _("band.above").format(low=_amount(low))
    return _("band.between").format(low=_amount(low or Decimal(0)), high=_amount(high or 0))


def _amount(value: Decimal | int) -> str:
    value = Decimal(value)
    return f"{value:.0f}" if value == value.to_integral_value() else f"{value:.2f}"


def _refine(text: str, search_id: int, action: Refine, option: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=text, callback_data=RefineCB(s=search_id, a=action, o=option).pack()
    )


def clarify_text(page: SearchPage) -> str:
    lines = _header(page)
    lines.append(_("search.clarify").format(total=page.result.total))
    return "\n".join(lines)


def clarify_markup(page: SearchPage) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for n, (leaf, _count) in enumerate(page.result.top_leaves[:MAX_CATEGORY_BUTTONS]):
        kb.button(
            text=clip(leaf, 20),
            callback_data=RefineCB(s=page.search.id, a=Refine.category, o=n).pack(),
        )
    kb.adjust(2)
    kb.row(_refine(_("button.all_categories"), page.search.id, Refine.all_categories))
    return kb.as_markup()


def empty_text(page: SearchPage) -> str:
    lines = _header(page)
    reason = page.result.empty_reason
    if reason is None:  # nothing matched at all and nothing to blame
        lines.append(_("empty.keywords").format(asked=escape(understood(page.query))))
        return "\n".join(lines)
    asked = "、".join(reason.asked) or understood(page.query)
    if reason.constraint in ("price_max", "price_min"):
        asked = "、".join(_amount(Decimal(value)) for value in reason.asked)
    if reason.constraint == "badges":
        asked = "、".join(badge_name(code) for code in reason.asked)
    if reason.constraint == "customization":
        asked = "、".join(_(f"customization.{kind}") for kind in reason.asked)
    option = reason.options[0] if reason.options else ""
    key = f"empty.{reason.constraint}"
    if reason.constraint in ("price_max", "price_min", "quantity") and not reason.options:
        key += ".none"
    lines.append(
        _(key).format(
            asked=escape(clip(asked, 100)),
            option=escape(option),
            options=escape("、".join(reason.options)),
        )
    )
    alternatives = relaxations(page)
    lines.append(_("empty.try") if alternatives else _("empty.rephrase"))
    return "\n".join(lines)


def relaxation_label(relaxation: Relaxation) -> str:
    value = relaxation.value
    if relaxation.kind in ("price_max", "price_min"):
        value = _amount(Decimal(value))
    return _(f"alt.{relaxation.kind}").format(value=escape(value))


def empty_markup(page: SearchPage) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for n, relaxation in enumerate(relaxations(page)):
        kb.row(_refine(relaxation_label(relaxation), page.search.id, Refine.alternative, n))
    kb.row(InlineKeyboardButton(text=_("button.human"), callback_data=HumanCB().pack()))
    return kb.as_markup()
