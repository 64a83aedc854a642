"""The bot's outgoing Telegram transport: the ``Bot``, its HTTP session and what happens when
Telegram says no.

``build_bot`` makes the ``aiogram.Bot`` from the settings (token, another Bot API server for
self-hosting or tests, HTML by default and no link previews) and installs ``FloodControl``
on its session, so every outgoing call, handlers' and workflows' alike, gets the same policy:

* 429 Too Many Requests (``TelegramRetryAfter``): Telegram refused the request, so repeating
  any method is safe. Wait the ``retry_after`` seconds it asks for and try again, at most
  ``retries`` times, then re-raise.
* 403 Forbidden (``TelegramForbiddenError``: "bot was blocked by the user", "user is
  deactivated", ...): retrying cannot help. Report the private chat's user id to
  ``on_blocked`` (see ``blocked_marker``) and re-raise at once.
* 5xx (``TelegramServerError``) and network failures (``TelegramNetworkError``): the request
  may have been carried out before the failure. Sending a message twice is worse than
  sending it once, so these are retried, with a short exponential backoff (0.5, 1, 2 s),
  only for methods that are harmless to repeat (``retry_safe``): ``get*``, ``edit*``,
  ``set*``, ``answerCallbackQuery``, ``sendChatAction``, ``deleteWebhook``. ``send*`` and
  every other method raise at the first failure. (A repeated ``edit*`` whose first attempt
  did arrive fails with "message is not modified"; the caller sees that error.)
* Everything else (400, 401, 404, a too large upload) raises unchanged.

Each wait is logged at WARNING. The retry count is shared: one call makes at most
``retries`` + 1 attempts whatever the mix of failures.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.utils.backoff import Backoff, BackoffConfig

from catalog_store.buyers import mark_blocked

if TYPE_CHECKING:
    from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
    from aiogram.methods import Response, TelegramMethod
    from aiogram.methods.base import TelegramType
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from bot.settings import Settings

__all__ = [
    "SERVER_ERROR_BACKOFF",
    "FloodControl",
    "OnBlocked",
    "Sleep",
    "blocked_marker",
    "build_bot",
    "retry_safe",
]

logger = logging.getLogger(__name__)

OnBlocked = Callable[[int], Awaitable[None]]
Sleep = Callable[[float], Awaitable[Any]]

# 0.5, 1, 2, 2, ... seconds between attempts after a 5xx or a network failure
SERVER_ERROR_BACKOFF = BackoffConfig(min_delay=0.5, max_delay=2.0, factor=2.0, jitter=0.0)

_RETRY_SAFE_PREFIXES = ("get", "edit", "set")
_RETRY_SAFE_METHODS = frozenset({"answercallbackquery", "sendchataction", "deletewebhook"})


def retry_safe(api_method: str) -> bool:
    """Whether repeating ``api_method`` after an unknown outcome (5xx, network) does no harm."""
    name = api_method.lower()
    return name.startswith(_RETRY_SAFE_PREFIXES) or name in _RETRY_SAFE_METHODS


def _private_chat_id(method: Any) -> int | None:
    """The user id of a call addressed to a private chat; None for groups, channels and
    methods without a chat (a group's or channel's 403 says nothing about a buyer)."""
    chat_id = getattr(method, "chat_id", None)
    if isinstance(chat_id, int) and not isinstance(chat_id, bool) and chat_id > 0:
        return chat_id
    return None


class FloodControl(BaseRequestMiddleware):
    """Request middleware: waits out flood control, retries what is safe to retry and reports
    users who blocked the bot (the policy is in the module docstring).

    ``sleep`` is injectable so tests do not wait; ``on_blocked(user_id)`` is awaited before a
    403 is re-raised, and its own failures are logged, never raised in place of the 403.
    """

    def __init__(
        self,
        retries: int = 3,
        *,
        on_blocked: OnBlocked | None = None,
        sleep: Sleep = asyncio.sleep,
        backoff: BackoffConfig = SERVER_ERROR_BACKOFF,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, not {retries}")
        self.retries = retries
        self.on_blocked = on_blocked
        self._sleep = sleep
        self._backoff = backoff

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        api_method = method.__api_method__
        backoff: Backoff | None = None
        attempt = 0
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt >= self.retries:
                    raise
                delay: float = exc.retry_after
                reason = f"flood control: {exc.message}"
            except TelegramForbiddenError:
                await self._report_blocked(method)
                raise
            except TelegramEntityTooLarge:
                raise
            except (TelegramServerError, TelegramNetworkError) as exc:
                if attempt >= self.retries or not retry_safe(api_method):
                    raise
                backoff = backoff or Backoff(self._backoff)
                delay = next(backoff)
                reason = f"{type(exc).__name__}: {exc.message}"
            attempt += 1
            logger.warning(
                "%s: waiting %.1f s before retry %d of %d (%s)",
                api_method,
                delay,
                attempt,
                self.retries,
                reason,
            )
            await self._sleep(delay)

    async def _report_blocked(self, method: Any) -> None:
        user_id = _private_chat_id(method)
        if user_id is None or self.on_blocked is None:
            return
        try:
            await self.on_blocked(user_id)
        except Exception:
            logger.exception("on_blocked(%s) failed", user_id)


def build_bot(
    settings: Settings,
    *,
    on_blocked: OnBlocked | None = None,
    session: BaseSession | None = None,
    sleep: Sleep = asyncio.sleep,
) -> Bot:
    """The bot for ``settings``, with ``FloodControl(settings.flood_retries)`` on its session.

    ``settings.telegram_api_base`` (TELEGRAM_API_BASE) points the session at another Bot API
    server; ``session``, when given, is used as it is (its server included). ``on_blocked``
    receives the user id of a private chat that answered 403 (``blocked_marker`` builds one
    that records it in the store). ``sleep`` is for tests.
    """
    token = settings.bot_token.get_secret_value().strip() if settings.bot_token else ""
    if not token:
        raise ValueError(
            "BOT_TOKEN is not set: put the token from @BotFather in the environment or .env"
        )
    if session is None:
        base = settings.telegram_api_base
        session = (
            AiohttpSession(api=TelegramAPIServer.from_base(base)) if base else AiohttpSession()
        )
    for installed in [m for m in session.middleware if isinstance(m, FloodControl)]:
        session.middleware.unregister(installed)  # a reused session: one policy, not two
    session.middleware.register(
        FloodControl(settings.flood_retries, on_blocked=on_blocked, sleep=sleep)
    )
    return Bot(
        token=token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def blocked_marker(session_factory: async_sessionmaker[AsyncSession]) -> OnBlocked:
    """An ``on_blocked`` callback: marks the buyer blocked (``catalog_store.buyers``) in a
    transaction of its own. Database errors are logged and swallowed, since the callback runs
    while a 403 is being handled and must not replace it."""

    async def on_blocked(user_id: int) -> None:
        try:
            async with session_factory() as session, session.begin():
                await mark_blocked(session, user_id)
        except Exception:
            logger.exception("could not mark buyer %s as blocked", user_id)
        else:
            logger.info("buyer %s blocks the bot; marked", user_id)

    return on_blocked
