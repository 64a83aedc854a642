"""Support staff in the staff chat: take over a buyer's conversation, talk, hand it back.

Every staff command and button checks, on every update, that the sender is in
``STAFF_USER_IDS`` (hiding a menu is not a check); the same commands from a buyer or a
member of the staff chat outside that list are refused. In a buyer's topic, the owning
staff member's messages go to the buyer; other staff's messages, and any starting with
``//``, stay internal notes. Everything said is kept in the transcript.
"""

from __future__ import annotations

import logging
from html import escape
from typing import Any

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import BaseFilter, Command, CommandObject
from aiogram.types import CallbackQuery, Message, User
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.staff_desk import StaffDesk
from catalog_store import conversations as desk_store
from catalog_store.conversations import ConversationView
from catalog_store.models import Buyer
from catalog_store.workflows.engine import active_run
from handlers.callbacks import StaffCB
from handlers.message_kinds import content_type
from handlers.notify import locale_for
from handlers.ordering import show

log = logging.getLogger(__name__)
STAFF_COMMANDS = ("takeover", "release", "queue", "find")
NOTE_PREFIX = "//"


class InStaffChat(BaseFilter):
    async def __call__(self, message: Message, desk: StaffDesk) -> bool:
        return desk.enabled and message.chat.id == desk.chat_id


async def _refuse(message: Message, desk: StaffDesk | None = None) -> None:
    if desk is not None and desk.enabled and message.chat.id == desk.chat_id:
        await desk.reply(message, _("staff.only"))
    else:
        await message.reply(_("staff.only"))


async def _conversation_here(message: Message, session: AsyncSession) -> ConversationView | None:
    if message.message_thread_id is None:
        return None
    async with session.begin():
        return await desk_store.by_topic(session, message.message_thread_id)


async def _tell_buyer(
    bot: Bot, session: AsyncSession, buyer_id: int, key: str, **values: Any
) -> None:
    async with session.begin():
        buyer = await session.get(Buyer, buyer_id)
    with get_i18n().use_locale(locale_for(buyer.language_code if buyer else None)):
        text = _(key).format(**values)
    try:
        await bot.send_message(buyer_id, text)
    except TelegramAPIError as exc:  # a blocked buyer: the staff flow goes on regardless
        log.warning("could not tell buyer %s: %s", buyer_id, exc)


async def take(
    bot: Bot, desk: StaffDesk, session: AsyncSession, conversation_id: int, staff: User
) -> str:
    """Take over; the text for the staff member (won, or who has it)."""
    result = await desk_store.take_over(desk.engine, conversation_id, staff.id, staff.full_name)
    conversation = result.conversation
    if not result.won:
        return _("staff.taken_by").format(name=escape(conversation.staff_name or "?"))
    await desk.note(bot, conversation, _("staff.took").format(name=escape(staff.full_name)))
    await _tell_buyer(
        bot, session, conversation.buyer_id, "takeover.started", name=staff.first_name
    )
    return _("staff.you_have_it")


async def hand_back(
    bot: Bot, desk: StaffDesk, session: AsyncSession, conversation_id: int, staff: User
) -> str:
    released = await desk_store.release(desk.engine, conversation_id, staff.id)
    if released is None:
        return _("staff.not_yours")
    await desk.note(bot, released, _("staff.released").format(name=escape(staff.full_name)))
    await _tell_buyer(bot, session, released.buyer_id, "takeover.ended")
    run = await active_run(session, released.buyer_id)
    if run is not None:  # back where the buyer was in the order
        async with session.begin():
            buyer = await session.get(Buyer, released.buyer_id)
        with get_i18n().use_locale(locale_for(buyer.language_code if buyer else None)):
            await show(bot, released.buyer_id, session, run)
    return _("staff.handed_back")


async def on_takeover(message: Message, bot: Bot, desk: StaffDesk, session: AsyncSession) -> None:
    if not desk.is_staff(message.from_user):
        await _refuse(message, desk)
        return
    conversation = await _conversation_here(message, session)
    if conversation is None:
        await desk.reply(message, _("staff.not_a_topic"))
        return
    assert message.from_user is not None
    await desk.reply(message, await take(bot, desk, session, conversation.id, message.from_user))


async def on_release(message: Message, bot: Bot, desk: StaffDesk, session: AsyncSession) -> None:
    if not desk.is_staff(message.from_user):
        await _refuse(message, desk)
        return
    conversation = await _conversation_here(message, session)
    if conversation is None:
        await desk.reply(message, _("staff.not_a_topic"))
        return
    assert message.from_user is not None
    await desk.reply(
        message, await hand_back(bot, desk, session, conversation.id, message.from_user)
    )


def _list(conversations: list[ConversationView], names: dict[int, str]) -> tuple[str, Any]:
    kb = InlineKeyboardBuilder()
    lines = [_("staff.queue.head")]
    for conversation in conversations:
        name = names.get(conversation.buyer_id, str(conversation.buyer_id))
        lines.append(
            _("staff.queue.line").format(
                name=escape(name),
                state=_(f"staff.state.{conversation.state}"),
                staff=escape(conversation.staff_name or ""),
            )
        )
        kb.button(
            text=_("staff.button.open").format(name=name[:16]),
            callback_data=StaffCB(c=conversation.id, a="o"),
        )
        if conversation.state != "taken":
            kb.button(
                text=_("staff.button.take_short"), callback_data=StaffCB(c=conversation.id, a="t")
            )
    kb.adjust(2)
    if not conversations:
        lines.append(_("staff.queue.empty"))
    return "\n".join(lines), kb.as_markup()


async def _names(session: AsyncSession, conversations: list[ConversationView]) -> dict[int, str]:
    names = {}
    async with session.begin():
        for conversation in conversations:
            buyer = await session.get(Buyer, conversation.buyer_id)
            if buyer is not None:
                names[buyer.id] = buyer.first_name or str(buyer.id)
    return names


async def on_queue(message: Message, desk: StaffDesk, session: AsyncSession) -> None:
    if not desk.is_staff(message.from_user):
        await _refuse(message, desk)
        return
    async with session.begin():
        found = await desk_store.queue(session)
    text, markup = _list(found, await _names(session, found))
    await desk.reply(message, text, markup)


async def on_find(
    message: Message, command: CommandObject, desk: StaffDesk, session: AsyncSession
) -> None:
    if not desk.is_staff(message.from_user):
        await _refuse(message, desk)
        return
    what = (command.args or "").strip()
    if not what:
        await desk.reply(message, _("staff.find.usage"))
        return
    async with session.begin():
        found = await desk_store.find(session, what)
    text, markup = _list(found, await _names(session, found))
    await desk.reply(message, text, markup)


async def on_topic_message(
    message: Message, bot: Bot, desk: StaffDesk, session: AsyncSession
) -> None:
    """A message in a buyer's topic: to the buyer (its owner's), or an internal note."""
    conversation = await _conversation_here(message, session)
    if conversation is None or message.from_user is None or message.from_user.is_bot:
        return
    if not desk.is_staff(message.from_user):
        return  # a member outside STAFF_USER_IDS: never reaches the buyer
    text = message.text or message.caption or ""
    owner = conversation.state == "taken" and conversation.staff_user_id == message.from_user.id
    relay = owner and not text.startswith(NOTE_PREFIX)
    delivered = relay and await desk.staff_said(bot, message, conversation)
    async with session.begin():
        await desk_store.record(
            session, conversation.id, direction="out" if delivered else "note",
            sender_kind="staff", sender_id=message.from_user.id,
            sender_name=message.from_user.full_name, content_type=content_type(message),
            text=text or None, telegram_message_id=message.message_id,
        )  # fmt: skip


async def on_staff_button(
    query: CallbackQuery, callback_data: StaffCB, bot: Bot, desk: StaffDesk,
    session: AsyncSession,
) -> None:  # fmt: skip
    if not desk.enabled or not desk.is_staff(query.from_user):
        await query.answer(_("staff.only"), show_alert=True)
        return
    async with session.begin():
        conversation = await desk_store.get(session, callback_data.c)
    if conversation is None:
        await query.answer(_("button.stale"), show_alert=True)
        return
    if callback_data.a == "t":
        await query.answer(await take(bot, desk, session, conversation.id, query.from_user),
                           show_alert=True)  # fmt: skip
    elif callback_data.a == "r":
        await query.answer(
            await hand_back(bot, desk, session, conversation.id, query.from_user),
            show_alert=True,
        )
    elif callback_data.a == "o":
        await query.answer()
        card, markup = await desk.summary(conversation)
        await desk.to_topic(
            bot, conversation,
            lambda thread: bot.send_message(
                desk.chat_id, card, message_thread_id=thread, reply_markup=markup  # type: ignore[arg-type]
            ),
        )  # fmt: skip
    else:
        await query.answer(_("button.stale"), show_alert=True)


async def on_staff_command_elsewhere(message: Message) -> None:
    await _refuse(message)


def build_router() -> Router:
    """A fresh router (a router joins one dispatcher only; tests build several)."""
    router = Router(name="staff")
    router.message.register(on_takeover, Command("takeover"), InStaffChat())
    router.message.register(on_release, Command("release"), InStaffChat())
    router.message.register(on_queue, Command("queue"), InStaffChat())
    router.message.register(on_find, Command("find"), InStaffChat())
    router.message.register(on_topic_message, InStaffChat())
    router.message.register(on_staff_command_elsewhere, Command(*STAFF_COMMANDS))
    router.callback_query.register(on_staff_button, StaffCB.filter())
    return router


__all__ = ["build_router", "hand_back", "take"]
