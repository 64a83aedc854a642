"""``sourcing-bot run``: the bot on Telegram with long polling.

``BOT_TOKEN`` from the environment or ``.env``; ``TELEGRAM_API_BASE`` points it at another
Bot API server. The command menu is set in both languages; the catalog is re-read when a
newer import lands; order chores (expiry, automatic delivery) run every minute. Outgoing
calls go through ``FloodControl`` (429s waited out, blocked buyers marked).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand

from bot.app import App
from bot.i18n import build_i18n
from bot.order_jobs import order_chores_forever
from bot.telegram_transport import blocked_marker, build_bot

log = logging.getLogger(__name__)
COMMANDS = ("start", "help", "orders", "cancel", "human")


async def set_commands(bot: Bot, default_locale: str) -> None:
    """The command menu: in the default language, and in English for English clients."""
    i18n = build_i18n(default_locale)
    for locale, language_code in ((default_locale, None), ("en", "en")):
        if locale not in i18n.available_locales:
            continue
        commands = [
            BotCommand(command=name, description=i18n.gettext(f"command.{name}", locale=locale))
            for name in COMMANDS
        ]
        await bot.set_my_commands(commands, language_code=language_code)


async def run_polling(app: App) -> int:
    bot = app.attach(build_bot(app.settings, on_blocked=blocked_marker(app.sessions)))
    refresher = asyncio.create_task(app.refresh_forever())
    chores = asyncio.create_task(order_chores_forever(app, bot))
    try:
        me = await bot.get_me()
        log.info("running as @%s with long polling", me.username)
        desk = app.dispatcher["desk"]
        if app.settings.staff_chat_id is not None:
            problems = await desk.problems(bot)
            for problem in problems:  # said loudly; buyers are still served by the bot
                log.error("staff desk: %s", problem)
            if not problems:
                log.info("staff desk ready in chat %s", app.settings.staff_chat_id)
        try:
            await set_commands(bot, app.settings.default_locale)
        except TelegramAPIError as exc:  # a menu is a nicety; the bot works without it
            log.warning("could not set the command menu: %s", exc)
        await app.dispatcher.start_polling(
            bot, allowed_updates=app.dispatcher.resolve_used_update_types()
        )
    finally:
        await app.dispatcher["desk"].drain()  # albums still being gathered go out first
        for task in (refresher, chores):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await bot.session.close()
        await app.dispatcher.storage.close()
    return 0
