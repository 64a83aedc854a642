"""Order chores on a clock: expire orders nobody accepted, deliver shipped ones after a while.

Each change goes through the domain's conditional transitions (so a factory accepting at the
same moment wins or loses cleanly), is recorded as an event by the system, and the buyer
(and the factory) are told.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from aiogram import Bot

from bot.app import App
from catalog_store.orders import deliver_due, expire_due
from handlers.notify import tell_buyer, tell_factory

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


async def order_chores_forever(app: App, bot: Bot, every: float = EVERY_SECONDS) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            changed = await run_order_chores(app, bot)
            if changed:
                log.info("order chores changed %d order(s)", len(changed))
        except Exception:  # the next pass tries again; the orders are safe in the store
            log.exception("order chores failed")
