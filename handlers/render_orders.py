"""Orders as messages: a list line, the detail view, and the buttons each viewer may press."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from catalog_store.carriers import CARRIERS
from catalog_store.orders import TransitionRefused
from handlers.callbacks import OrderCB
from handlers.render_order import mask_mobile, recipient_text
from handlers.render_search import money
from handlers.text_limits import MESSAGE_LIMIT, clip, fit

BUYER_CAN = {"placed": ("c",), "paid": ("c",), "shipped": ("d",)}
FACTORY_CAN = {"placed": ("paid", "no"), "paid": ("ok", "no"), "accepted": ("ship",)}


def status_name(status: str) -> str:
    return _(f"status.{status}")


def list_line(order: Any) -> str:
    title = order.items[0].title if order.items else order.offer_id
    return _("orders.line").format(
        number=escape(order.number),
        status=status_name(order.status),
        total=money(order.total),
        title=escape(clip(title, 18)),
    )


def list_message(orders: list[Any], heading: str) -> tuple[str, InlineKeyboardMarkup]:
    kb = InlineKeyboardBuilder()
    blocks = [heading]
    for order in orders[:20]:
        blocks.append(list_line(order))
        kb.button(text=order.number, callback_data=OrderCB(n=order.id).pack())
    kb.adjust(3)
    text, _rest = fit(["\n".join(blocks)], MESSAGE_LIMIT)
    return text, kb.as_markup()


def detail_text(order: Any, *, for_factory: bool) -> str:
    lines = [
        _("order.detail.head").format(
            number=escape(order.number),
            status=status_name(order.status),
            kind=_(f"kind.{order.kind}"),
        )
    ]
    for item in order.items:
        specs = " / ".join(str(v) for v in (item.specs or {}).values())
        lines.append(
            _("order.detail.item").format(
                title=escape(clip(item.title, 30)),
                specs=escape(specs),
                qty=item.qty,
                price=money(item.unit_price),
                total=money(item.line_total),
            )
        )
        for custom in item.customization or []:
            lines.append("  + " + escape(str(custom.get("name", ""))))
    if order.customization_total:
        lines.append(_("order.detail.custom").format(total=money(order.customization_total)))
    if order.shipping_fee:
        lines.append(_("order.review.shipping").format(fee=money(order.shipping_fee)))
    lines.append(_("order.review.total").format(total=money(order.total)))
    if order.ship_by is not None:
        lines.append(_("order.detail.ship_by").format(date=order.ship_by.strftime("%Y-%m-%d")))
    if order.recipient:
        recipient = dict(order.recipient)
        if not for_factory:
            recipient["mobile"] = mask_mobile(recipient.get("mobile"))
        lines += ["", recipient_text(recipient)]
    if (order.options or {}).get("no_trace"):
        lines.append(_("option.no_trace"))
    if order.tracking_no:
        lines.append(
            _("order.detail.tracking").format(
                carrier=carrier_name(order.carrier or ""), number=escape(order.tracking_no)
            )
        )
    if order.reject_reason:
        lines.append(_("order.detail.rejected").format(reason=escape(order.reject_reason)))
    return "\n".join(lines)


def carrier_name(code: str) -> str:
    carrier = CARRIERS.get(code)
    if carrier is None:
        return code
    locale = get_i18n().current_locale
    return carrier.name_en if locale == "en" else carrier.name_zh


def buyer_markup(order: Any) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for action in BUYER_CAN.get(order.status, ()):
        kb.button(text=_(f"button.order.{action}"), callback_data=OrderCB(n=order.id, a=action))
    return kb.as_markup()


def factory_markup(order: Any) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for action in FACTORY_CAN.get(order.status, ()):
        kb.button(text=_(f"button.order.{action}"), callback_data=OrderCB(n=order.id, a=action))
    kb.adjust(3)
    return kb.as_markup()


def carrier_markup(order_id: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for n, code in enumerate(CARRIERS):
        kb.add(
            InlineKeyboardButton(
                text=carrier_name(code), callback_data=OrderCB(n=order_id, a="car", o=n).pack()
            )
        )
    kb.adjust(4)
    return kb.as_markup()


def transition_refusal(exc: TransitionRefused, carrier: str | None = None) -> str:
    """Why an order could not change, in the reader's language (from the refusal's code)."""
    if exc.code == "wrong_status" and exc.status:
        return _("transition.wrong_status").format(status=status_name(exc.status))
    if exc.code == "bad_tracking_no" and carrier in CARRIERS:
        return _("transition.bad_tracking_no").format(
            carrier=carrier_name(carrier), shape=escape(CARRIERS[carrier].shape)
        )
    key = f"transition.{exc.code}"
    text = _(key)
    return text if text != key else _("transition.forbidden")
