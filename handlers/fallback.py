"""The last router: every update no feature took gets a short, specific answer.

Stickers, photos, voice notes, files, text too long or empty or not understood, and
buttons that are forged or outdated: never silence, never a traceback.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from catalog_store.browse import MAX_QUERY_CHARS
from handlers.start import examples_markup


async def on_anything(message: Message) -> None:
    if message.text is not None:
        text = message.text.strip()
        if not text:
            await message.answer(_("input.empty"), reply_markup=examples_markup())
        elif len(text) > MAX_QUERY_CHARS:
            await message.answer(
                _("input.too_long").format(length=len(text), limit=MAX_QUERY_CHARS)
            )
        else:  # parsed as nothing: emoji only, noise
            await message.answer(_("input.unknown"), reply_markup=examples_markup())
        return
    if message.sticker is not None:
        key = "input.sticker"
    elif message.photo is not None:
        key = "input.photo"
    elif message.voice is not None or message.audio is not None or message.video_note is not None:
        key = "input.voice"
    elif message.video is not None or message.animation is not None:
        key = "input.video"
    elif message.document is not None:
        key = "input.document"
    elif message.location is not None or message.venue is not None:
        key = "input.location"
    elif message.contact is not None:
        key = "input.contact"
    else:
        key = "input.other"
    await message.answer(_(key))


async def on_stale_button(query: CallbackQuery) -> None:
    await query.answer(_("button.stale"), show_alert=True)


def build_router() -> Router:
    """A fresh router (a router joins one dispatcher only; tests build several)."""
    router = Router(name="fallback")
    router.message.register(on_anything)
    router.callback_query.register(on_stale_button)
    return router
