"""Telling people about orders: the factory of a new order, the buyer of every change.

A factory's chats (bound with a one-time deep link) get each new order with its buttons; the
buyer hears of each status change. A chat that cannot be reached (blocked, gone) is logged
and skipped: the order itself is already safe in the store.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_store.models import Buyer
from catalog_store.orders import chats_for_factory, get_order
from handlers.render_orders import (
    buyer_markup,
    carrier_name,
    detail_text,
    factory_markup,
    status_name,
)

log = logging.getLogger(__name__)


async def _send(bot: Bot, chat_id: int, text: str, **kwargs: object) -> bool:
    try:
        await bot.send_message(chat_id, text, **kwargs)  # type: ignore[arg-type]
    except TelegramAPIError as exc:
        log.warning("could not tell chat %s about an order: %s", chat_id, exc)
        return False
    return True


async def announce_new_order(bot: Bot, session: AsyncSession, order_id: int) -> int:
    """Send a new order to every chat of its factory; returns how many got it."""
    async with session.begin():
        order = await get_order(session, order_id)
        chats = await chats_for_factory(session, order.factory_id) if order else []
    if order is None:
        return 0
    text = _("factory.new_order") + "\n\n" + detail_text(order, for_factory=True)
    sent = 0
    for chat_id in chats:
        sent += await _send(bot, chat_id, text, reply_markup=factory_markup(order))
    if not chats:
        log.info("order %s: factory %s has no bound chat yet", order.number, order.factory_id)
    return sent


def locale_for(language_code: str | None) -> str:
    """The locale a user reads, from their Telegram language (as the i18n middleware picks)."""
    i18n = get_i18n()
    if language_code and language_code.lower().startswith("en") and "en" in i18n.available_locales:
        return "en"
    return i18n.default_locale


async def tell_buyer(bot: Bot, session: AsyncSession, order_id: int) -> bool:
    """The order's buyer hears its new status (with tracking when shipped), in their own
    language, whoever caused the change."""
    async with session.begin():
        order = await get_order(session, order_id)
        buyer = await session.get(Buyer, order.buyer_id) if order else None
    if order is None:
        return False
    with get_i18n().use_locale(locale_for(buyer.language_code if buyer else None)):
        return await _tell_buyer(bot, order)


async def _tell_buyer(bot: Bot, order: Any) -> bool:
    text = _("buyer.status_changed").format(number=order.number, status=status_name(order.status))
    if order.status == "shipped" and order.tracking_no:
        text += "\n" + _("order.detail.tracking").format(
            carrier=carrier_name(order.carrier or ""), number=order.tracking_no
        )
    if order.status == "rejected" and order.reject_reason:
        text += "\n" + _("order.detail.rejected").format(reason=order.reject_reason)
    return await _send(bot, order.buyer_id, text, reply_markup=buyer_markup(order))


async def tell_factory(bot: Bot, session: AsyncSession, order_id: int) -> int:
    """The factory's chats hear a change the buyer made (a cancellation, a delivery)."""
    async with session.begin():
        order = await get_order(session, order_id)
        chats = await chats_for_factory(session, order.factory_id) if order else []
    if order is None:
        return 0
    text = _("factory.status_changed").format(number=order.number, status=status_name(order.status))
    sent = 0
    for chat_id in chats:
        sent += await _send(bot, chat_id, text)
    return sent
