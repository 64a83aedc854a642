"""Searching: a text query, its pages, its refinements and the clarifying question.

Thin: the stored search, its page and its refinements come from ``catalog_store.browse``;
rendering from ``handlers.render_search``. A page turn or a refinement edits the same
message. A button of a search that is gone or another buyer's gets a short answer.
"""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_store.browse import (
    ALL_CATEGORIES,
    SearchPage,
    StoredSearch,
    changes_from,
    load_search,
    refine_search,
    relaxations,
    show_page,
    start_search,
)
from catalog_store.offer_keys import keys_for
from catalog_store.search import SearchService
from catalog_store.workflows.engine import active_run
from handlers.callbacks import ExampleCB, PageCB, Refine, RefineCB
from handlers.filters import HasIntent
from handlers.render_order import resume_button
from handlers.render_search import (
    SUPER_FACTORY,
    clarify_markup,
    clarify_text,
    empty_markup,
    empty_text,
    results_markup,
    results_text,
)
from handlers.start import example_queries
from nlu import Intent, ParsedQuery

RECENT_QUERIES = 5  # kept in the FSM data for staff (issue: takeover summary)


async def render(page: SearchPage, session: AsyncSession) -> tuple[str, InlineKeyboardMarkup]:
    if page.result.total == 0:
        text, markup = empty_text(page), empty_markup(page)
    elif page.vague:
        text, markup = clarify_text(page), clarify_markup(page)
    else:
        keys = await keys_for(session, [hit.offer_id for hit in page.result.results])
        text, markup = results_text(page), results_markup(page, keys)
    run = await active_run(session, page.search.buyer_id)
    if run is not None:  # an order left half-way: one tap back to it
        markup.inline_keyboard.append([resume_button(run)])
    return text, markup


async def remember(state: FSMContext, page: SearchPage, text: str | None = None) -> None:
    """The buyer's place: the search and page on screen, and the last few queries."""
    data = await state.get_data()
    changes: dict[str, object] = {"search": page.search.id, "page": page.page}
    if text is not None:
        changes["recent"] = [*data.get("recent", []), text][-RECENT_QUERIES:]
    await state.update_data(**changes)


async def answer_query(
    bot: Bot, chat_id: int, buyer_id: int, text: str, session: AsyncSession,
    search: SearchService, state: FSMContext,
) -> None:  # fmt: skip
    stored = await start_search(session, buyer_id, text)
    page = show_page(search, stored)
    body, markup = await render(page, session)
    await bot.send_message(chat_id, body, reply_markup=markup)
    await remember(state, page, text)


async def on_query(
    message: Message, parsed: ParsedQuery, bot: Bot, session: AsyncSession,
    search: SearchService, state: FSMContext,
) -> None:  # fmt: skip
    if not parsed.keywords and parsed.category is None and parsed.customization:
        # 想定制logo: customization without goods; ask what goods
        await message.answer(_("customize.what"))
        return
    assert message.text is not None and message.from_user is not None
    await answer_query(
        bot, message.chat.id, message.from_user.id, message.text.strip(), session, search, state
    )


async def on_modify(
    message: Message, parsed: ParsedQuery, bot: Bot, session: AsyncSession,
    search: SearchService, state: FSMContext,
) -> None:  # fmt: skip
    """ "要红色的", "数量改成3" with no order under way: change the last search."""
    assert message.text is not None and message.from_user is not None
    data = await state.get_data()
    last = data.get("search")
    stored = await load_search(session, last, message.from_user.id) if last else None
    changes = changes_from(parsed)
    if stored is None or not changes:
        if parsed.colors or parsed.sizes or parsed.materials:
            # "纯棉" as the first message: goods of that kind, a search of its own
            await answer_query(
                bot,
                message.chat.id,
                message.from_user.id,
                message.text.strip(),
                session,
                search,
                state,
            )
        else:
            await message.answer(_("modify.nothing"))
        return
    page = show_page(search, await refine_search(session, stored, changes))
    body, markup = await render(page, session)
    await message.answer(body, reply_markup=markup)
    await remember(state, page, message.text.strip())


async def on_example(
    query: CallbackQuery, callback_data: ExampleCB, bot: Bot, session: AsyncSession,
    search: SearchService, state: FSMContext,
) -> None:  # fmt: skip
    examples = example_queries()
    if not 0 <= callback_data.n < len(examples):
        await query.answer(_("button.stale"), show_alert=True)
        return
    await query.answer()
    await answer_query(
        bot,
        query.from_user.id,
        query.from_user.id,
        examples[callback_data.n],
        session,
        search,
        state,
    )


async def _show(query: CallbackQuery, bot: Bot, page: SearchPage, session: AsyncSession) -> None:
    """Edit the message the button is on; send a new one when it cannot be edited."""
    body, markup = await render(page, session)
    message = query.message
    if isinstance(message, Message) and message.text is not None:
        try:
            await message.edit_text(body, reply_markup=markup)
        except TelegramBadRequest as exc:
            if "not modified" not in exc.message:
                raise
        return
    await bot.send_message(query.from_user.id, body, reply_markup=markup)


async def _owned(
    query: CallbackQuery, session: AsyncSession, search_id: int
) -> StoredSearch | None:
    stored = await load_search(session, search_id, query.from_user.id)
    if stored is None:
        await query.answer(_("search.gone"), show_alert=True)
    return stored


async def on_page(
    query: CallbackQuery, callback_data: PageCB, bot: Bot, session: AsyncSession,
    search: SearchService, state: FSMContext,
) -> None:  # fmt: skip
    stored = await _owned(query, session, callback_data.s)
    if stored is None:
        return
    page = show_page(search, stored, callback_data.p)
    if page.page != callback_data.p:
        await query.answer(_("search.page_gone").format(pages=page.pages), show_alert=True)
    else:
        await query.answer()
    await _show(query, bot, page, session)
    await remember(state, page)


async def on_refine(
    query: CallbackQuery, callback_data: RefineCB, bot: Bot, session: AsyncSession,
    search: SearchService, state: FSMContext,
) -> None:  # fmt: skip
    stored = await _owned(query, session, callback_data.s)
    if stored is None:
        return
    current = show_page(search, stored)
    changes = _changes(current, callback_data)
    if changes is None:
        await query.answer(_("button.stale"), show_alert=True)
        return
    await query.answer()
    page = show_page(search, await refine_search(session, stored, changes))
    await _show(query, bot, page, session)
    await remember(state, page)


def _changes(page: SearchPage, pressed: RefineCB) -> dict[str, object] | None:
    """What a refinement button changes, from the page it was on; None if it is stale."""
    query, option = page.query, pressed.o
    match pressed.a:
        case Refine.price:
            bands = page.result.price_bands
            if not 0 <= option < len(bands):
                return None
            low, high = bands[option]
            return {
                "price_min": None if low is None else str(low),
                "price_max": None if high is None else str(high),
            }
        case Refine.price_clear:
            return {"price_min": None, "price_max": None}
        case Refine.dropship:
            return {"dropship": not query.dropship}
        case Refine.super_factory:
            badges = [b for b in query.badges if b != SUPER_FACTORY]
            if SUPER_FACTORY not in query.badges:
                badges.append(SUPER_FACTORY)
            return {"badges": badges}
        case Refine.category:
            leaves = page.result.top_leaves
            if not 0 <= option < len(leaves):
                return None
            return {"category": leaves[option][0]}
        case Refine.all_categories:
            return {ALL_CATEGORIES: True}
        case Refine.alternative:
            ways = relaxations(page)
            if not 0 <= option < len(ways):
                return None
            return dict(ways[option].changes)
    return None


def build_router() -> Router:
    """A fresh router (a router joins one dispatcher only; tests build several)."""
    router = Router(name="search")
    router.message.register(on_query, HasIntent(Intent.search, Intent.customize))
    router.message.register(on_modify, HasIntent(Intent.modify))
    router.callback_query.register(on_example, ExampleCB.filter())
    router.callback_query.register(on_page, PageCB.filter())
    router.callback_query.register(on_refine, RefineCB.filter())
    return router
