"""Opening an offer: the card with its picture when Telegram can fetch it, else as text.

A photo goes first with as much of the card as a caption holds (1024); the rest follows as
a text message. When Telegram cannot fetch the picture ("failed to get HTTP URL content",
"wrong file identifier"), the whole card is one text message with the picture's address as
its link preview. An offer taken off sale, or a key never handed out, gets a short answer.
"""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, LinkPreviewOptions
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_store.offer_details import OfferDetails, load_offer
from catalog_store.offer_keys import keys_for, offer_id_for
from catalog_store.search import SearchService
from catalog_store.workflows.engine import applies, latest_specs
from handlers.callbacks import OfferCB
from handlers.render_card import card_blocks, card_markup
from handlers.text_limits import CAPTION_LIMIT, MESSAGE_LIMIT, fit

log = logging.getLogger(__name__)
BUNDLE_SIZE = 3


async def offer_on_sale(
    query: CallbackQuery, session: AsyncSession, key: int
) -> OfferDetails | None:
    """The offer a button's key names, when it is still on sale; otherwise the button gets
    its short answer (an unknown key is stale, an inactive offer is off sale) and None."""
    offer_id = await offer_id_for(session, key)
    if offer_id is None:
        await query.answer(_("button.stale"), show_alert=True)
        return None
    async with session.begin():
        offer = await load_offer(session, offer_id)
    if offer is None or not offer.active:
        await query.answer(_("offer.gone"), show_alert=True)
        return None
    return offer


async def on_offer(
    query: CallbackQuery, callback_data: OfferCB, bot: Bot, session: AsyncSession,
    search: SearchService,
) -> None:  # fmt: skip
    offer = await offer_on_sale(query, session, callback_data.k)
    if offer is None:
        return
    offer_id = offer.offer_id
    await query.answer()
    bundle = []
    if search.index is not None and offer.bundle_tags:
        bundle = search.index.bundle_for(offer.offer_id, offer.bundle_tags, limit=BUNDLE_SIZE)
    keys = await keys_for(session, [hit.offer_id for hit in bundle])
    blocks = card_blocks(offer, bundle)
    workflows = [spec for spec in await latest_specs(session) if applies(spec, offer)]
    markup = card_markup(bundle, keys, callback_data.s, callback_data.k, workflows)
    chat_id = query.from_user.id
    if offer.images:
        caption, rest = fit(blocks, CAPTION_LIMIT, more=_("card.more_below"))
        try:
            await bot.send_photo(
                chat_id, offer.images[0], caption=caption, reply_markup=None if rest else markup
            )
        except TelegramBadRequest as exc:
            log.info("picture of %s not shown (%s); sending the card as text", offer_id, exc)
        else:
            if rest:
                text, _left = fit(rest, MESSAGE_LIMIT)
                await bot.send_message(chat_id, text, reply_markup=markup)
            return
    text, _left = fit(blocks, MESSAGE_LIMIT)
    preview = (
        LinkPreviewOptions(url=offer.images[0], prefer_large_media=True, show_above_text=True)
        if offer.images
        else LinkPreviewOptions(is_disabled=True)
    )
    await bot.send_message(chat_id, text, reply_markup=markup, link_preview_options=preview)


def build_router() -> Router:
    """A fresh router (a router joins one dispatcher only; tests build several)."""
    router = Router(name="offer_card")
    router.callback_query.register(on_offer, OfferCB.filter())
    return router
