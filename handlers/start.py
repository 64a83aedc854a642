"""Greeting and help: /start, /help, "你好", "怎么用", with example queries as buttons."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import InlineKeyboardMarkup, Message, User
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.callbacks import ExampleCB
from handlers.filters import HasIntent
from nlu import Intent


def example_queries() -> list[str]:
    """Three queries that show what the bot understands (from the locale file)."""
    return [q.strip() for q in _("examples").split("|") if q.strip()]


def examples_markup() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for n, query in enumerate(example_queries()):
        kb.button(text=query, callback_data=ExampleCB(n=n).pack())
    kb.adjust(1)
    return kb.as_markup()


def _name(user: User | None) -> str:
    return escape(user.first_name) if user and user.first_name else _("start.friend")


async def on_start(message: Message) -> None:
    await message.answer(
        _("start.greeting").format(name=_name(message.from_user)), reply_markup=examples_markup()
    )


async def on_greeting(message: Message) -> None:
    await message.answer(
        _("start.hello").format(name=_name(message.from_user)), reply_markup=examples_markup()
    )


async def on_help(message: Message) -> None:
    await message.answer(_("help.text"), reply_markup=examples_markup())


def build_router() -> Router:
    """A fresh router (a router joins one dispatcher only; tests build several)."""
    router = Router(name="start")
    router.message.register(on_start, CommandStart())
    router.message.register(on_greeting, HasIntent(Intent.greeting))
    router.message.register(on_help, Command("help"))
    router.message.register(on_help, HasIntent(Intent.help))
    return router
