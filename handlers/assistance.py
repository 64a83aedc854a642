"""What is not a search: cancel, a person.

Each gets a useful answer instead of a search for its words ("我的订单" is not goods).
Order status lives with the orders (``handlers.orders``); cancelling an order being filled
in lives with ordering (``handlers.ordering``).
"""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.settings import Settings
from handlers.callbacks import HumanCB
from handlers.filters import HasIntent
from nlu import Intent


async def on_cancel(message: Message, state: FSMContext) -> None:
    if await state.get_state() is None:
        await message.answer(_("cancel.nothing"))
        return
    await state.set_state(None)
    await message.answer(_("cancel.done"))


def _human_text(settings: Settings) -> str:
    if settings.support_contact:
        return _("human.contact").format(contact=settings.support_contact)
    return _("human.unavailable")


async def on_human(message: Message, settings: Settings) -> None:
    await message.answer(_human_text(settings))


async def on_human_button(query: CallbackQuery, bot: Bot, settings: Settings) -> None:
    await query.answer()
    await bot.send_message(query.from_user.id, _human_text(settings))


def build_router() -> Router:
    """A fresh router (a router joins one dispatcher only; tests build several)."""
    router = Router(name="assistance")
    router.message.register(on_cancel, Command("cancel"))
    router.message.register(on_cancel, HasIntent(Intent.cancel))
    router.message.register(on_human, Command("human"))
    router.message.register(on_human, HasIntent(Intent.human_agent))
    router.callback_query.register(on_human_button, HumanCB.filter())
    return router
