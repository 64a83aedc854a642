"""Ordering: from an offer card's order button through the workflow's steps to the order.

Thin: the workflow engine (``catalog_store.workflows``) decides what each step asks, checks
every answer and places the order exactly once; this router reads buttons and typed text,
renders the engine's prompt, and words its refusals. While a run is under way the FSM state
is ``Ordering.active``; typed text goes to the step, except a new search (which leaves the
run to come back to from a button), a request for a person, help or order status.
"""

from __future__ import annotations

import contextlib

from aiogram import Bot, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_store.workflows.engine import (
    Engine,
    Outcome,
    RunView,
    WorkflowError,
    active_run,
    applies,
    latest_specs,
    load_run,
    prompt,
    start_run,
)
from catalog_store.workflows.spec import StepKind
from handlers.callbacks import ResumeCB, StartOrderCB, StepCB
from handlers.filters import IsText
from handlers.notify import announce_new_order
from handlers.offer_card import offer_on_sale
from handlers.render_order import (
    help_markup,
    help_text,
    prompt_message,
    refusal_text,
    sku_page_of,
)
from nlu import Intent, ParsedQuery

TEXT_STEPS = (StepKind.quantity, StepKind.recipient)
PASS_ON = (Intent.help, Intent.human_agent, Intent.order_status, Intent.greeting)


class Ordering(StatesGroup):
    active = State()


async def show(
    bot: Bot,
    chat_id: int,
    session: AsyncSession,
    run: RunView,
    edit: Message | None = None,
    *,
    sku_page: int | None = None,
    near_sku: int | None = None,
) -> None:
    """The run's current step: edits ``edit`` (the message whose button was pressed) when it
    can, else sends a new message. A variant step shows ``sku_page``, or the page holding
    the variant ``near_sku`` (the one just picked), or the first."""
    current = await prompt(session, run)
    if sku_page is None:
        sku_page = sku_page_of(current, near_sku) if near_sku is not None else 0
    text, markup = prompt_message(current, sku_page)
    if edit is not None and edit.text is not None:
        try:
            await edit.edit_text(text, reply_markup=markup)
            return
        except TelegramBadRequest as exc:
            if "not modified" in exc.message:
                return
    await bot.send_message(chat_id, text, reply_markup=markup)


async def on_start_order(
    query: CallbackQuery, callback_data: StartOrderCB, bot: Bot, session: AsyncSession,
    state: FSMContext,
) -> None:  # fmt: skip
    offer = await offer_on_sale(query, session, callback_data.k)
    if offer is None:
        return
    spec = next((s for s in await latest_specs(session) if s.name == callback_data.w), None)
    if spec is None or not applies(spec, offer):
        await query.answer(_("button.stale"), show_alert=True)
        return
    await query.answer()
    run = await start_run(session, query.from_user.id, spec.name, offer.offer_id)
    await state.set_state(Ordering.active)
    await state.update_data(run=run.id)
    await show(bot, query.from_user.id, session, run)


async def on_resume(
    query: CallbackQuery, callback_data: ResumeCB, bot: Bot, session: AsyncSession,
    state: FSMContext,
) -> None:  # fmt: skip
    run = await load_run(session, callback_data.r, query.from_user.id)
    if run is None or run.status != "active":
        await query.answer(_("order.run_gone"), show_alert=True)
        return
    await query.answer()
    await state.set_state(Ordering.active)
    await state.update_data(run=run.id)
    await show(bot, query.from_user.id, session, run)


async def _respond(
    bot: Bot, chat_id: int, session: AsyncSession, outcome: Outcome, state: FSMContext,
    edit: Message | None = None,
) -> None:  # fmt: skip
    """After an answer: the next step, or why not (with help after repeated misses)."""
    if outcome.accepted:
        await show(bot, chat_id, session, outcome.run, edit)
        return
    text = refusal_text(outcome)
    if outcome.needs_help:
        text += "\n\n" + help_text(outcome.run.step.kind)
        await bot.send_message(chat_id, text, reply_markup=help_markup())
    else:
        await bot.send_message(chat_id, text)
    await show(bot, chat_id, session, outcome.run)


async def on_step(
    query: CallbackQuery, callback_data: StepCB, bot: Bot, session: AsyncSession,
    state: FSMContext, workflows: Engine,
) -> None:  # fmt: skip
    user = query.from_user.id
    run = await load_run(session, callback_data.r, user)
    if run is None:
        await query.answer(_("button.stale"), show_alert=True)
        return
    if run.status == "completed" and callback_data.a == "place":
        await query.answer(_("order.already_placed"), show_alert=True)
        return
    message = query.message if isinstance(query.message, Message) else None
    step, option = callback_data.i, callback_data.o
    match callback_data.a:
        case "skp":  # another page of variants: a view, nothing answered
            if run.status != "active" or step != run.step_index:
                await query.answer(_("button.stale"), show_alert=True)
                return
            await query.answer()
            await show(bot, user, session, run, message, sku_page=option)
            return
        case "sku":
            outcome = await workflows.pick_sku(session, run, step, option)
        case "done":
            outcome = await workflows.done(session, run, step)
        case "tog":
            outcome = await workflows.toggle(session, run, step, option)
        case "back":
            outcome = await workflows.back(session, run, step)
        case "saved":
            outcome = await workflows.use_saved(session, run, step, option)
        case "rok":
            outcome = await workflows.confirm_recipient(session, run, step)
        case "redo":
            outcome = await workflows.redo_recipient(session, run, step)
        case "cancel":
            outcome = await workflows.cancel(session, run)
            if outcome.accepted:
                await query.answer()
                await state.set_state(None)
                if message is not None:
                    with contextlib.suppress(TelegramBadRequest):
                        await message.edit_text(_("order.cancelled"))
                return
        case "place":
            await _place(query, bot, session, state, workflows, run, step, message)
            return
        case _:
            outcome = Outcome(run, False, "stale")
    if not outcome.accepted and outcome.reason == "stale":
        await query.answer(_("button.stale"), show_alert=True)
        return
    if not outcome.accepted:
        await query.answer(refusal_text(outcome), show_alert=True)
        if outcome.needs_help:
            await bot.send_message(
                user, help_text(outcome.run.step.kind), reply_markup=help_markup()
            )
        return
    await query.answer()
    picked = option if callback_data.a == "sku" else None
    await show(bot, user, session, outcome.run, message, near_sku=picked)


async def _place(
    query: CallbackQuery, bot: Bot, session: AsyncSession, state: FSMContext,
    workflows: Engine, run: RunView, step: int, message: Message | None,
) -> None:  # fmt: skip
    outcome = await workflows.place(session, run, step)
    if not outcome.accepted:
        if outcome.reason == "stale":
            await query.answer(_("button.stale"), show_alert=True)
            return
        await query.answer()
        await _respond(bot, query.from_user.id, session, outcome, state)
        return
    await query.answer()
    await state.set_state(None)
    placed = outcome.placed
    if placed is None:  # the run was completed before (a double tap, a replay)
        return
    text = _("order.placed" if placed.created else "order.already_placed").format(
        number=placed.number
    )
    if message is not None:
        with contextlib.suppress(TelegramBadRequest):
            await message.edit_reply_markup(reply_markup=None)
    await bot.send_message(query.from_user.id, text)
    if placed.created:
        await announce_new_order(bot, session, placed.order_id)


async def on_text(
    message: Message, bot: Bot, session: AsyncSession, state: FSMContext, workflows: Engine,
    parsed: ParsedQuery | None = None,
) -> None:  # fmt: skip
    assert message.from_user is not None and message.text is not None
    user = message.from_user.id
    run = await active_run(session, user)
    if run is None:
        await state.set_state(None)
        raise SkipHandler  # nothing under way: an ordinary message
    text = message.text.strip()
    if text == "/cancel" or (parsed is not None and parsed.intent == Intent.cancel):
        await workflows.cancel(session, run)
        await state.set_state(None)
        await message.answer(_("order.cancelled"))
        return
    if parsed is not None and parsed.intent in PASS_ON:
        raise SkipHandler
    if (
        parsed is not None
        and parsed.intent == Intent.modify
        and run.step.kind != StepKind.recipient
    ):
        if "quantity" in parsed.changes and parsed.quantity is None:
            outcome = await workflows.record_miss(session, run, "not_positive")
        else:
            outcome = await workflows.modify(
                session, run, colors=parsed.colors, sizes=parsed.sizes, quantity=parsed.quantity
            )
        await _respond(bot, message.chat.id, session, outcome, state)
        return
    kind = run.step.kind
    if _is_new_search(parsed, kind):
        raise SkipHandler  # a new search; the run waits behind a button on the results
    outcome = await workflows.text(
        session, run, text, parsed.quantity if parsed is not None else None
    )
    await _respond(bot, message.chat.id, session, outcome, state)


def _is_new_search(parsed: ParsedQuery | None, kind: StepKind) -> bool:
    if parsed is None or parsed.intent not in (Intent.search, Intent.customize):
        return False
    if kind == StepKind.recipient:
        return False  # an address names places and goods-like words; it is the answer here
    if kind == StepKind.quantity:
        return parsed.category is not None and parsed.quantity is None
    # goods named (a category the catalog knows): a new search; other words are taken as
    # an answer to this step, and a hint follows if they are not one
    return parsed.category is not None


def build_router() -> Router:
    """A fresh router (a router joins one dispatcher only; tests build several)."""
    router = Router(name="ordering")
    router.callback_query.register(on_start_order, StartOrderCB.filter())
    router.callback_query.register(on_resume, ResumeCB.filter())
    router.callback_query.register(on_step, StepCB.filter())
    router.message.register(on_text, StateFilter(Ordering.active), IsText())
    return router


__all__ = ["Ordering", "WorkflowError", "build_router", "show"]
