"""Cross-cutting work for every update: a database session, the buyer row, the parsed text.

- ``StoreMiddleware`` hands each update an ``AsyncSession`` (``session``); domain functions
  open their own short transactions on it, so no write lock is held while the bot talks to
  Telegram.
- ``BuyerMiddleware`` records the user (name, language, last seen); a user who writes has
  unblocked the bot, so ``blocked_at`` is cleared.
- ``ParseMiddleware`` parses a text message once (``parsed``) for the intent filters and the
  handlers; a text too long to be a query is not parsed (``parsed`` is None).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Message, TelegramObject, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog_store.browse import MAX_QUERY_CHARS
from catalog_store.buyers import upsert_buyer
from nlu import Parser

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
