"""The dispatcher: routers, middlewares, FSM storage with event isolation, and what the
handlers are given (settings, the store, the search service, the workflow engine, the staff
desk).

One function builds it for every runner (polling, the terminal chat, tests), so what is
tested is what runs. FSM storage defaults to the store itself (``SqlStorage``), with event
isolation on: aiogram's default has none, and a buyer's quick successive messages would
otherwise overwrite each other's state.
"""

from __future__ import annotations

from aiogram import Dispatcher
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.utils.i18n import I18n, SimpleI18nMiddleware
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.middlewares import (
    BuyerMiddleware,
    ParseMiddleware,
    StoreMiddleware,
    TakeoverMiddleware,
)
from bot.settings import Settings
from bot.staff_desk import StaffDesk
from catalog_store.search import SearchService
from catalog_store.workflows.engine import Engine
from handlers import feature_routers


def build_dispatcher(
    *,
    settings: Settings,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    search: SearchService,
    storage: BaseStorage,
    isolation: BaseEventIsolation,
    i18n: I18n,
) -> Dispatcher:
    dp = Dispatcher(storage=storage, events_isolation=isolation, name="sourcing-bot")
    dp["settings"] = settings
    dp["search"] = search
    dp["engine"] = engine
    dp["workflows"] = Engine(engine)
    dp.update.outer_middleware(StoreMiddleware(sessions))
    SimpleI18nMiddleware(i18n).setup(dp)
    buyers = BuyerMiddleware()
    dp.message.outer_middleware(buyers)
    dp.callback_query.outer_middleware(buyers)
    dp.message.outer_middleware(ParseMiddleware(lambda: search.parser))
    desk = StaffDesk(settings, engine, sessions)
    dp["desk"] = desk
    takeover = TakeoverMiddleware(desk)
    dp.message.outer_middleware(takeover)
    dp.callback_query.outer_middleware(takeover)
    dp.include_routers(*feature_routers())
    return dp
