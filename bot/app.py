"""The running bot's parts, put together once: store, parser, search index, dispatcher.

``open_app`` migrates the store, stores the shipped workflow definitions (new versions
only), loads the parser with the catalog's lexicon, builds the search index and the
dispatcher; the runners (polling, terminal chat) and the tests use it.
While the bot runs, ``refresh_forever`` picks up a newer catalog import (new lexicon, new
index) without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import nlu
from bot.dispatcher import build_dispatcher
from bot.fsm_storage import LockIsolation, SqlStorage
from bot.i18n import build_i18n
from bot.settings import Settings
from catalog_store import db
from catalog_store.importer import latest_import_id
from catalog_store.lexicon_source import ensure_catalog_lexicon
from catalog_store.search import SearchService
from catalog_store.workflows.engine import install
from catalog_store.workflows.spec import shipped_specs
from nlu import Parser

log = logging.getLogger(__name__)
REFRESH_SECONDS = 60.0


async def load_parser(engine: AsyncEngine, lexicon_path: Path) -> Parser:
    """The parser with the lexicon of the catalog in the store (rebuilt if the catalog changed)."""
    await ensure_catalog_lexicon(engine, lexicon_path)
    return nlu.configure(lexicon_path)


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    search: SearchService
    storage: BaseStorage
    dispatcher: Dispatcher
    i18n: I18n

    def attach(self, bot: Bot) -> Bot:
        """What every runner does with its bot: the transcript recorder when staff are on."""
        self.dispatcher["desk"].install(bot)
        return bot

    async def refresh_catalog(self) -> bool:
        """Pick up a newer import: lexicon first (the index segments with it), then index."""
        async with self.engine.connect() as conn:
            latest = await latest_import_id(conn)
        index = self.search.index
        if index is not None and index.import_id == latest:
            return False
        self.search.parser = await load_parser(self.engine, self.settings.lexicon_path)
        return await self.search.refresh()

    async def refresh_forever(self, every: float = REFRESH_SECONDS) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                if await self.refresh_catalog():
                    log.info("search index rebuilt for a newer catalog import")
            except Exception:  # a failed refresh keeps the old index serving
                log.exception("catalog refresh failed; still serving the previous index")


@contextlib.asynccontextmanager
async def open_app(
    settings: Settings,
    engine: AsyncEngine | None = None,
    *,
    storage: BaseStorage | None = None,
    isolation: BaseEventIsolation | None = None,
) -> AsyncIterator[App]:
    own_engine = engine is None
    engine = engine or db.create_engine(settings.db_url)
    try:
        await db.migrate(engine)
        parser = await load_parser(engine, settings.lexicon_path)
        search = SearchService(engine, parser)
        await search.refresh()
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session:
            await install(session, shipped_specs())
        storage = storage or SqlStorage(engine)
        i18n = build_i18n(settings.default_locale)
        dispatcher = build_dispatcher(
            settings=settings,
            engine=engine,
            sessions=sessions,
            search=search,
            storage=storage,
            isolation=isolation or LockIsolation(),
            i18n=i18n,
        )
        yield App(settings, engine, sessions, search, storage, dispatcher, i18n)
    finally:
        if own_engine:
            await engine.dispose()
