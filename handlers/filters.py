"""Async filters for the hot path (aiogram runs sync filters in a thread pool)."""

from __future__ import annotations

from aiogram.filters import BaseFilter
from aiogram.types import Message

from nlu import Intent, ParsedQuery


class HasIntent(BaseFilter):
    """A text message whose parsed intent is one of ``intents`` (parsed by a middleware)."""

    def __init__(self, *intents: Intent) -> None:
        self.intents = frozenset(intents)

    async def __call__(self, message: Message, parsed: ParsedQuery | None = None) -> bool:
        return parsed is not None and parsed.intent in self.intents


class IsText(BaseFilter):
    """Any text message (also one too long to parse, or blank)."""

    async def __call__(self, message: Message) -> bool:
        return message.text is not None
