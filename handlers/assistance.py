"""What is not a search: cancel, a person.

Each gets a useful answer instead of a search for its words ("我的订单" is not goods).
Order status lives with the orders (``handlers.orders``); cancelling an order being filled
in lives with ordering (``handlers.ordering``).
"""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, User
from aiogram.utils.i18n import gettext as _

from bot.settings import Settings
from bot.staff_desk import StaffDesk
from handlers.callbacks import HumanCB
from handlers.filters import HasIntent
from nlu import Intent

log = logging.getLogger(__name__)


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


async def _ask_for_person(bot: Bot, user: User, settings: Settings, desk: StaffDesk) -> str:
    """Open (or reuse) the buyer's topic for staff; the answer for the buyer."""
    if not desk.enabled:
        return _human_text(settings)
    try:
        await desk.request(bot, user)
    except TelegramAPIError as exc:
        log.warning("staff chat unreachable for buyer %s: %s", user.id, exc)
        return _("human.unreachable")
    return _("human.coming").format(minutes=desk.sla_minutes)


async def on_human(message: Message, bot: Bot, settings: Settings, desk: StaffDesk) -> None:
    assert message.from_user is not None
    await message.answer(await _ask_for_person(bot, message.from_user, settings, desk))


async def on_human_button(
    query: CallbackQuery, bot: Bot, settings: Settings, desk: StaffDesk
) -> None:
    await query.answer()
    text = await _ask_for_person(bot, query.from_user, settings, desk)
    await bot.send_message(query.from_user.id, text)


def build_router() -> Router:
    """A fresh router (a router joins one dispatcher only; tests build several)."""
    router = Router(name="assistance")
    router.message.register(on_cancel, Command("cancel"))
    router.message.register(on_cancel, HasIntent(Intent.cancel))
    router.message.register(on_human, Command("human"))
    router.message.register(on_human, HasIntent(Intent.human_agent))
    router.callback_query.register(on_human_button, HumanCB.filter())
    return router
