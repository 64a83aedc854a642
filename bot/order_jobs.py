"""Chores on a clock: expire orders nobody accepted, deliver shipped ones after a while, and
tell buyers who waited too long for a person that they may go on with the bot.

Each change goes through the domain's conditional transitions (so a factory accepting at the
same moment wins or loses cleanly), is recorded as an event by the system, and the buyer
(and the factory) are told.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.utils.i18n import gettext as _

from bot.app import App
from catalog_store import conversations as desk_store
from catalog_store.models import Buyer
from catalog_store.orders import deliver_due, expire_due
from handlers.notify import locale_for, tell_buyer, tell_factory

log = logging.getLogger(__name__)
EVERY_SECONDS = 60.0


async def run_order_chores(app: App, bot: Bot, now: datetime | None = None) -> list[int]:
    """One pass; returns the ids of the orders it changed."""
    now = now or datetime.now(UTC)
    settings = app.settings
    expired = await expire_due(app.engine, now, timedelta(hours=settings.order_expiry_hours))
    delivered = await deliver_due(app.engine, now, settings.auto_deliver_days)
    with app.i18n.context():
        async with app.sessions() as session:
            for order_id in [*expired, *delivered]:
                await tell_buyer(bot, session, order_id)
                await tell_factory(bot, session, order_id)
    return [*expired, *delivered]


async def run_staff_chores(app: App, bot: Bot, now: datetime | None = None) -> list[int]:
    """Buyers who waited ``STAFF_SLA_MINUTES`` for a person are told they may go on with the
    bot (once per request); returns their conversation ids."""
    now = now or datetime.now(UTC)
    if app.settings.staff_chat_id is None:
        return []
    told: list[int] = []
    async with app.sessions() as session:
        async with session.begin():
            due = await desk_store.sla_due(session, now, app.settings.staff_sla_minutes)
        for conversation in due:
            async with session.begin():
                buyer = await session.get(Buyer, conversation.buyer_id)
                if not await desk_store.mark_sla_notified(session, conversation.id, now):
                    continue
            with (
                app.i18n.context(),
                app.i18n.use_locale(locale_for(buyer.language_code if buyer else None)),
            ):
                try:
                    await bot.send_message(conversation.buyer_id, _("takeover.sla"))
                except TelegramAPIError as exc:
                    log.warning("could not tell buyer %s about the wait: %s",
                                conversation.buyer_id, exc)  # fmt: skip
            told.append(conversation.id)
    return told


async def order_chores_forever(app: App, bot: Bot, every: float = EVERY_SECONDS) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            changed = await run_order_chores(app, bot)
            if changed:
                log.info("order chores changed %d order(s)", len(changed))
            told = await run_staff_chores(app, bot)
            if told:
                log.info("told %d waiting buyer(s) that staff are busy", len(told))
        except Exception:  # the next pass tries again; the orders are safe in the store
            log.exception("chores failed")
