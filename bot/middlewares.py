"""Cross-cutting work for every update: a database session, the buyer row, the parsed text.

- ``StoreMiddleware`` hands each update an ``AsyncSession`` (``session``); domain functions
  open their own short transactions on it, so no write lock is held while the bot talks to
  Telegram.
- ``BuyerMiddleware`` records the user (name, language, last seen); a user who writes has
  unblocked the bot, so ``blocked_at`` is cleared.
- ``ParseMiddleware`` parses a text message once (``parsed``) for the intent filters and the
  handlers; a text too long to be a query is not parsed (``parsed`` is None).
- ``TakeoverMiddleware`` keeps the transcript of buyers' messages and, while staff own a
  conversation, relays the buyer's messages to the staff topic instead of the handlers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message, TelegramObject, User
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog_store import conversations as desk_store
from catalog_store.browse import MAX_QUERY_CHARS
from catalog_store.buyers import upsert_buyer
from handlers.message_kinds import content_type, file_id
from nlu import Intent, Parser

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class StoreMiddleware(BaseMiddleware):
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self.sessions() as session:
            data["session"] = session
            return await handler(event, data)


class BuyerMiddleware(BaseMiddleware):
    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        session: AsyncSession | None = data.get("session")
        if user is not None and session is not None and not user.is_bot:
            async with session.begin():
                await upsert_buyer(
                    session, user.id, user.first_name, user.username, user.language_code
                )
        return await handler(event, data)


class ParseMiddleware(BaseMiddleware):
    def __init__(self, parser: Callable[[], Parser]) -> None:
        self.parser = parser  # a callable: the search service may swap its parser on refresh

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Message) and event.text is not None:
            text = event.text.strip()
            data["parsed"] = (
                self.parser().parse(text) if text and len(text) <= MAX_QUERY_CHARS else None
            )
        return await handler(event, data)


class TakeoverMiddleware(BaseMiddleware):
    """A buyer's private messages go to the transcript; while staff own the conversation the
    bot stays silent and the message goes to the staff topic instead of any handler."""

    def __init__(self, desk: Any) -> None:
        self.desk = desk

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        desk = self.desk
        session: AsyncSession | None = data.get("session")
        user: User | None = data.get("event_from_user")
        if not desk.enabled or session is None or user is None or user.is_bot:
            return await handler(event, data)
        if isinstance(event, CallbackQuery):
            message = event.message
            if message is None or message.chat.id != user.id:
                return await handler(event, data)
            async with session.begin():
                conversation = await desk_store.get_or_create(session, user.id)
            if conversation.state == "taken":
                await event.answer(_("takeover.busy_buttons"), show_alert=True)
                return None
            return await handler(event, data)
        if not isinstance(event, Message) or event.chat.type != "private":
            return await handler(event, data)
        async with session.begin():
            conversation = await desk_store.get_or_create(session, user.id)
            await desk_store.record(
                session, conversation.id, direction="in", sender_kind="buyer",
                sender_id=user.id, sender_name=user.full_name, content_type=content_type(event),
                text=event.text or event.caption, file_id=file_id(event),
                media_group_id=event.media_group_id, telegram_message_id=event.message_id,
            )  # fmt: skip
            parsed = data.get("parsed")
            if parsed is not None and parsed.intent in (Intent.search, Intent.customize):
                await desk_store.set_last_query(session, user.id, parsed.as_json())
        if conversation.state != "taken":
            return await handler(event, data)
        try:
            await desk.buyer_said(data["bot"], event, conversation)
        except TelegramAPIError as exc:
            # the staff chat cannot be reached: the buyer goes back to the bot, and is told
            log.warning("relay to staff failed for buyer %s: %s", user.id, exc)
            await desk_store.release(desk.engine, conversation.id, None, force=True)
            await data["bot"].send_message(user.id, _("human.unreachable"))
            return await handler(event, data)
        return None
