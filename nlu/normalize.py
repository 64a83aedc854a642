"""Text normalization: what every query goes through before it is read.

Full-width to half-width, case folding, traditional to simplified (OpenCC), emoji and
decoration removed, spaces collapsed. Model numbers (``hwy14-186bku1``, ``iphone15``) pass
through unchanged apart from case.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import opencc

# characters that decorate rather than mean: emoji, symbols, box drawing, brackets used as
# ornaments. Kept: letters, digits, CJK, and the punctuation that carries meaning in a query
# (. - _ + # % / ~ for model numbers, prices and ranges; ¥ for money).
_KEEP_PUNCT = set(".-_+#%/~¥$<>=,;:?!")
_SPACE = re.compile(r"\s+")


@cache
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def _keep(ch: str) -> str:
    if ch.isalnum() or ch in _KEEP_PUNCT:
        return ch
    cat = unicodedata.category(ch)
    if cat.startswith("Z") or ch in "\t\n\r":
        return " "
    if cat in ("Pd",):
        return "-"
    if cat.startswith("P"):
        return " "  # CJK punctuation separates words: 、，。「」
    return " "  # symbols (emoji, ★, ♥, ✨), marks, controls


def normalize(text: str) -> str:
    """The normalized form of ``text`` (idempotent)."""
    # NFKC folds full-width letters, digits and punctuation to ASCII (ＩＰＨＯＮＥ１５ → IPHONE15)
    # and compatibility forms such as ① to 1
    folded = unicodedata.normalize("NFKC", text).lower()
    simplified = _converter().convert(folded)
    cleaned = "".join(_keep(ch) for ch in simplified)
    return _SPACE.sub(" ", cleaned).strip()
