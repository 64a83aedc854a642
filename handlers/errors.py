"""The last resort: an error in any handler is logged and the user gets a short apology.

Polling would otherwise swallow the error and leave the buyer with silence. A user who
blocked the bot cannot be answered, so that error is only logged.
"""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import gettext as _

log = logging.getLogger(__name__)


async def on_error(event: ErrorEvent, bot: Bot) -> bool:
    update = event.update
    if isinstance(event.exception, TelegramForbiddenError):
        log.info("update %s: the user blocked the bot", update.update_id)
        return True
    log.exception("update %s failed", update.update_id, exc_info=event.exception)
    chat_id: int | None = None
    if update.message is not None:
        chat_id = update.message.chat.id
    elif update.callback_query is not None:
        chat_id = update.callback_query.from_user.id
        with contextlib.suppress(TelegramAPIError):  # too late to answer: the apology still goes
            await update.callback_query.answer()
    if chat_id is not None:
        try:
            await bot.send_message(chat_id, _("error.sorry"))
        except TelegramAPIError:
            log.warning("could not tell chat %s about the error", chat_id)
    return True


def build_router() -> Router:
    """A fresh router (a router joins one dispatcher only; tests build several)."""
    router = Router(name="errors")
    router.errors.register(on_error)
    return router
