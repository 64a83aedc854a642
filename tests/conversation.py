"""Driving the real dispatcher with real ``Update`` objects, for conversation tests.

``Conversation`` wraps an ``App`` (the same assembly as ``sourcing-bot run``) and the offline
Bot API double: a buyer sends text, stickers, photos, presses buttons by label, and the test
reads what the chat shows, edits included. ``demo_store`` makes a store with a small demo
catalog once per session and copies it for each test (SQLite) or imports it (PostgreSQL).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.types import Update, User

from bot.app import App, open_app
from bot.i18n import build_i18n
from bot.offline_telegram import OfflineTelegram, Sent
from bot.settings import Settings
from catalog_store import db
from catalog_store.demo_catalog import generate
from catalog_store.importer import import_catalog

DEMO_OFFERS = 3000
I18N = build_i18n()


def text_of(key: str, locale: str = "zh_CN", **values: Any) -> str:
    """A locale text as the user sees it (HTML tags removed), for comparisons."""
    from bot.offline_telegram import visible_text

    return visible_text(I18N.gettext(key, locale=locale).format(**values), "HTML")


def make_demo_template(folder: Path) -> tuple[Path, Path]:
    """The demo catalog (files) and an SQLite store holding it, made once per session."""
    catalog = folder / "catalog"
    generate(catalog, offers=DEMO_OFFERS)
    store = folder / "template.db"

    async def build() -> None:
        engine = db.create_engine(f"sqlite+aiosqlite:///{store}")
        await db.migrate(engine)
        result = await import_catalog(engine, catalog)
        assert result.committed
        await engine.dispose()

    asyncio.run(build())
    return catalog, store


class Conversation:
    """One buyer talking to the bot; ``telegram`` records everything the bot sent."""

    def __init__(self, app: App, telegram: OfflineTelegram, bot: Bot, user: User) -> None:
        self.app = app
        self.telegram = telegram
        self.bot = bot
        self.user = user

    def as_user(self, user: User) -> Conversation:
        return Conversation(self.app, self.telegram, self.bot, user)

    async def feed(self, update: Update) -> None:
        await self.app.dispatcher.feed_update(self.bot, update)

    async def send(self, text: str | None = None, **content: Any) -> Sent:
        """Send a message; returns the bot's last message in this chat afterwards."""
        before = len(self.telegram.sent)
        await self.feed(self.telegram.message_update(self.user, text, **content))
        new = [s for s in self.telegram.sent[before:] if s.chat_id == self.user.id]
        assert new, f"the bot did not answer {text or content!r}"
        return new[-1]

    async def press(self, sent: Sent, label: str | int) -> Sent:
        """Press a button (by 0-based number or by a substring of its label)."""
        if isinstance(label, int):
            index = label
        else:
            matches = [i for i, b in enumerate(sent.buttons) if label in b["text"]]
            assert matches, f"no button {label!r} in {[b['text'] for b in sent.buttons]}"
            index = matches[0]
        await self.feed(self.telegram.press_update(self.user, sent, index))
        mine = self.telegram.chat(self.user.id)
        return mine[-1] if mine else sent

    async def press_data(self, sent: Sent, data: str) -> None:
        await self.feed(self.telegram.callback_update(self.user, sent, data))

    @property
    def alerts(self) -> list[str]:
        return [a.get("text") or "" for a in self.telegram.callback_answers]

    @property
    def messages(self) -> list[Sent]:
        return self.telegram.chat(self.user.id)


def buyer(user_id: int = 5001, language: str | None = "zh-hans", name: str = "小王") -> User:
    return User(id=user_id, is_bot=False, first_name=name, language_code=language)


@asynccontextmanager
async def conversation(
    settings: Settings,
    user: User | None = None,
    telegram: OfflineTelegram | None = None,
    **app_kwargs: Any,
) -> AsyncIterator[Conversation]:
    """A buyer and the bot; pass ``telegram`` to go on in the same chat (a restart)."""
    async with open_app(settings, **app_kwargs) as app:
        telegram = telegram or OfflineTelegram()
        bot = Bot(
            "42:offline-test-token",
            session=telegram,
            default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
        )
        app.attach(bot)
        yield Conversation(app, telegram, bot, user or buyer())


def copy_store(template: Path, data_dir: Path) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / "sourcing.db"
    shutil.copyfile(template, target)
    return Settings(data_dir=data_dir, database_url=f"sqlite+aiosqlite:///{target}")
