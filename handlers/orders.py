"""Orders after they are placed: buyers' and factories' /orders, the detail view, and each
side's actions (buyer: cancel before acceptance, confirm delivery; factory: accept, reject
with a reason, mark paid, add tracking). A factory's chat is bound by the one-time deep link
``sourcing-bot factory link`` prints (/start <token>).

Who may see and do what is decided by the domain (``catalog_store.orders``) on every press;
a forged button for someone else's order gets a short refusal.
"""

from __future__ import annotations

import contextlib
from typing import Any

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from catalog_store.carriers import CARRIERS
from catalog_store.orders import (
    TransitionRefused,
    can_view,
    factory_for_chat,
    factory_name,
    get_order,
    orders_for_buyer,
    orders_for_factory,
    redeem_factory_link,
    transition,
)
from handlers.callbacks import OrderCB
from handlers.filters import HasIntent, IsText
from handlers.notify import tell_buyer, tell_factory
from handlers.render_orders import (
    buyer_markup,
    carrier_markup,
    carrier_name,
    detail_text,
    factory_markup,
    list_message,
    transition_refusal,
)
from handlers.start import examples_markup
from nlu import Intent

MAX_REASON = 200


class FactoryInput(StatesGroup):
    reject_reason = State()
    tracking_no = State()


async def on_factory_link(message: Message, command: CommandObject, session: AsyncSession) -> None:
    token = (command.args or "").strip()
    async with session.begin():
        factory_id = await redeem_factory_link(session, token, message.chat.id)
        name = await factory_name(session, factory_id) if factory_id else None
    if factory_id is None:
        await message.answer(_("factory.link_bad"))
        return
    await message.answer(_("factory.linked").format(name=name or factory_id))


async def on_orders(message: Message, session: AsyncSession) -> None:
    async with session.begin():
        factory_id = await factory_for_chat(session, message.chat.id)
        if factory_id is not None:
            orders = await orders_for_factory(session, factory_id)
        else:
            orders = await orders_for_buyer(session, message.chat.id)
    if not orders:
        if factory_id is not None:
            await message.answer(_("factory.no_orders"))
        else:
            await message.answer(_("orders.none"), reply_markup=examples_markup())
        return
    if factory_id is not None:
        orders = sorted(orders, key=lambda o: (_FACTORY_ORDER.get(o.status, 9), -o.id))
    heading = _("factory.orders_heading" if factory_id else "orders.heading")
    text, markup = list_message(orders, heading)
    await message.answer(text, reply_markup=markup)


_FACTORY_ORDER = {"placed": 0, "paid": 1, "accepted": 2, "shipped": 3}


async def _viewer(session: AsyncSession, user_id: int, chat_id: int) -> dict[str, Any]:
    factory_id = await factory_for_chat(session, chat_id)
    return {"buyer_id": user_id, "factory_id": factory_id}


async def on_order_button(
    query: CallbackQuery, callback_data: OrderCB, bot: Bot, session: AsyncSession,
    engine: AsyncEngine, state: FSMContext,
) -> None:  # fmt: skip
    chat_id = query.message.chat.id if query.message else query.from_user.id
    async with session.begin():
        viewer = await _viewer(session, query.from_user.id, chat_id)
        order = await get_order(session, callback_data.n)
    if order is None or not can_view(order, **viewer):
        await query.answer(_("order.not_yours"), show_alert=True)
        return
    is_factory = viewer["factory_id"] == order.factory_id
    action = callback_data.a
    if action == "v":
        await query.answer()
        markup = factory_markup(order) if is_factory else buyer_markup(order)
        await bot.send_message(
            chat_id, detail_text(order, for_factory=is_factory), reply_markup=markup
        )
        return
    if is_factory and action == "no":
        await query.answer()
        await state.set_state(FactoryInput.reject_reason)
        await state.update_data(order=order.id)
        await bot.send_message(chat_id, _("factory.ask_reason").format(number=order.number))
        return
    if is_factory and action == "ship":
        await query.answer()
        await bot.send_message(
            chat_id,
            _("factory.ask_carrier").format(number=order.number),
            reply_markup=carrier_markup(order.id),
        )
        return
    if is_factory and action == "car":
        codes = list(CARRIERS)
        if not 0 <= callback_data.o < len(codes):
            await query.answer(_("button.stale"), show_alert=True)
            return
        await query.answer()
        await state.set_state(FactoryInput.tracking_no)
        await state.update_data(order=order.id, carrier=codes[callback_data.o])
        await bot.send_message(
            chat_id,
            _("factory.ask_tracking").format(carrier=carrier_name(codes[callback_data.o])),
        )
        return
    actions = {"c": "cancel", "d": "deliver"} if not is_factory else {"ok": "accept", "paid": "pay"}
    if action not in actions:
        await query.answer(_("order.not_yours"), show_alert=True)
        return
    await _change(query, bot, session, engine, order, actions[action], is_factory)


async def _change(
    query: CallbackQuery, bot: Bot, session: AsyncSession, engine: AsyncEngine, order: Any,
    action: str, is_factory: bool, **fields: Any,
) -> None:  # fmt: skip
    actor = "factory" if is_factory else "buyer"
    try:
        changed = await transition(
            engine, order.id, action, actor_kind=actor, actor_id=query.from_user.id, **fields
        )
    except TransitionRefused as exc:
        await query.answer(
            _("order.refused").format(reason=transition_refusal(exc)), show_alert=True
        )
        return
    await query.answer(_("order.changed").format(status=_(f"status.{changed.status}")))
    if isinstance(query.message, Message):
        markup = factory_markup(changed) if is_factory else buyer_markup(changed)
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=markup)
    await tell_buyer(bot, session, order.id)
    if not is_factory:
        await tell_factory(bot, session, order.id)


async def on_reject_reason(
    message: Message, bot: Bot, session: AsyncSession, engine: AsyncEngine, state: FSMContext
) -> None:
    assert message.text is not None and message.from_user is not None
    reason = message.text.strip()
    if not reason or len(reason) > MAX_REASON:
        await message.answer(_("factory.reason_bad").format(limit=MAX_REASON))
        return
    data = await state.get_data()
    await state.set_state(None)
    await _factory_text_change(
        message, bot, session, engine, int(data.get("order", 0)), "reject", note=reason
    )


async def on_tracking_no(
    message: Message, bot: Bot, session: AsyncSession, engine: AsyncEngine, state: FSMContext
) -> None:
    assert message.text is not None
    data = await state.get_data()
    order_id, carrier = int(data.get("order", 0)), str(data.get("carrier", ""))
    try:
        await transition(
            engine, order_id, "ship", actor_kind="factory",
            actor_id=message.from_user.id if message.from_user else None,
            carrier=carrier, tracking_no=message.text.strip(),
        )  # fmt: skip
    except TransitionRefused as exc:
        await message.answer(
            _("factory.tracking_bad").format(reason=transition_refusal(exc, carrier))
        )
        return  # the state stays: the next message is another try
    await state.set_state(None)
    await message.answer(_("order.changed").format(status=_("status.shipped")))
    await tell_buyer(bot, session, order_id)


async def _factory_text_change(
    message: Message, bot: Bot, session: AsyncSession, engine: AsyncEngine, order_id: int,
    action: str, **fields: Any,
) -> None:  # fmt: skip
    try:
        changed = await transition(
            engine, order_id, action, actor_kind="factory",
            actor_id=message.from_user.id if message.from_user else None, **fields,
        )  # fmt: skip
    except TransitionRefused as exc:
        await message.answer(_("order.refused").format(reason=transition_refusal(exc)))
        return
    await message.answer(_("order.changed").format(status=_(f"status.{changed.status}")))
    await tell_buyer(bot, session, order_id)


def build_router() -> Router:
    """A fresh router (a router joins one dispatcher only; tests build several)."""
    router = Router(name="orders")
    router.message.register(on_factory_link, CommandStart(deep_link=True))
    router.message.register(on_orders, Command("orders"))
    router.message.register(on_orders, HasIntent(Intent.order_status))
    router.message.register(on_reject_reason, StateFilter(FactoryInput.reject_reason), IsText())
    router.message.register(on_tracking_no, StateFilter(FactoryInput.tracking_no), IsText())
    router.callback_query.register(on_order_button, OrderCB.filter())
    return router
