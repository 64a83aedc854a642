"""What kind of message a Telegram message is, for the transcript."""

from __future__ import annotations

from aiogram.types import Message

_CONTENT = ("photo", "voice", "document", "sticker", "video", "audio", "animation", "video_note")


def content_type(message: Message) -> str:
    if message.media_group_id and message.photo:
        return "album"
    return next((kind for kind in _CONTENT if getattr(message, kind) is not None), "text")


def file_id(message: Message) -> str | None:
    if message.photo:
        return message.photo[-1].file_id
    for kind in _CONTENT[1:]:
        media = getattr(message, kind)
        if media is not None:
            return str(media.file_id)
    return None
