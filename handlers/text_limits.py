"""Telegram's size limits, applied without cutting a character in half.

Telegram counts a message's length in UTF-16 code units after entity parsing (4096 for a
text, 1024 for a caption): an emoji outside the BMP counts twice. We render HTML, so lengths
are measured on the text with tags removed and entities unescaped. A cut never splits a
surrogate pair, a combining mark from its base, an emoji ZWJ sequence or a flag's two
regional indicators.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
BUTTONS_LIMIT = 100
ELLIPSIS = "…"

_TAG = re.compile(r"<[^>]*>")
_ZWJ = "\u200d"


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def visible_len(html_text: str) -> int:
    """The length Telegram counts for an HTML-formatted text."""
    return utf16_len(html.unescape(_TAG.sub("", html_text)))


def _joins_previous(char: str) -> bool:
    """True for a character that belongs to the one before it (a cut must not fall here)."""
    if char == _ZWJ or unicodedata.combining(char):
        return True
    code = ord(char)
    return (
        0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or 0xE0020 <= code <= 0xE007F  # tag sequences (subdivision flags)
        or unicodedata.category(char) == "Me"
    )


def _is_regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-16 units, with … when cut, on a safe boundary."""
    if utf16_len(text) <= limit:
        return text
    budget = limit - utf16_len(ELLIPSIS)
    end, used = 0, 0
    for char in text:
        width = 2 if ord(char) > 0xFFFF else 1
        if used + width > budget:
            break
        used += width
        end += 1
    # back off while the cut would separate a character from what joins it
    while end > 0 and ((end < len(text) and _joins_previous(text[end])) or text[end - 1] == _ZWJ):
        end -= 1
    regional = 0
    while regional < end and _is_regional(text[end - 1 - regional]):
        regional += 1
    if regional % 2 == 1 and end < len(text) and _is_regional(text[end]):
        end -= 1  # do not split a flag's pair
    return text[:end].rstrip() + ELLIPSIS


def fit(blocks: Sequence[str], limit: int, more: str = "") -> tuple[str, list[str]]:
    """Join whole HTML blocks (with blank lines) while they fit in ``limit``.

    Returns the text and the blocks that did not fit. ``more`` (e.g. "more below") is
    appended when something was left out, and its length is reserved. Blocks must be
    rendered so that each one alone fits (titles and lists are clipped when rendered).
    """
    sep = "\n\n"
    chosen: list[str] = []
    used = 0
    for i, block in enumerate(blocks):
        rest = blocks[i + 1 :]
        cost = visible_len(block) + (utf16_len(sep) if chosen else 0)
        reserve = (utf16_len(sep) + visible_len(more)) if (rest and more) else 0
        if used + cost + reserve > limit:
            left = list(blocks[i:])
            text = sep.join(chosen)
            if more and chosen:
                text += sep + more
            return text, left
        chosen.append(block)
        used += cost
    return sep.join(chosen), []
