"""Telegram's limits: cutting never splits a character, fitting never exceeds the limit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from handlers.text_limits import ELLIPSIS, clip, fit, utf16_len, visible_len

FAMILY = "👨\u200d👩\u200d👧"  # one emoji of three people joined by ZWJ
FLAG = "🇨🇳"


def test_utf16_counts_astral_characters_twice() -> None:
    assert utf16_len("连衣裙") == 3
    assert utf16_len("😀") == 2
    assert visible_len("<b>a&amp;b</b>") == 3


def test_clip_keeps_short_text_and_marks_a_cut() -> None:
    assert clip("连衣裙", 3) == "连衣裙"
    assert clip("连衣裙女夏", 3) == "连衣" + ELLIPSIS


def test_clip_never_splits_joined_emoji_or_flags_or_marks() -> None:
    for limit in range(1, 12):
        out = clip("ab" + FAMILY + "cd", limit)
        assert out.endswith(ELLIPSIS) or out == "ab" + FAMILY + "cd"
        body = out.removesuffix(ELLIPSIS)
        assert FAMILY in body or "\U0001f468" not in body
        flags = clip("x" + FLAG + FLAG, limit).removesuffix(ELLIPSIS)
        assert flags.count("\U0001f1e8") == flags.count("\U0001f1f3")
        accented = clip("cafe\u0301s", limit).removesuffix(ELLIPSIS)
        assert not accented.endswith("e") or limit >= 6


@given(st.text(), st.integers(min_value=1, max_value=300))
def test_clip_fits_the_limit(text: str, limit: int) -> None:
    out = clip(text, limit)
    assert utf16_len(out) <= limit
    assert out == text or out.endswith(ELLIPSIS)
    assert text.startswith(out.removesuffix(ELLIPSIS).rstrip()) or out == text


@given(
    st.lists(st.text(alphabet="连衣裙abc😀<>&", min_size=1, max_size=60), max_size=30),
    st.integers(min_value=80, max_value=1024),
)
def test_fit_keeps_whole_blocks_within_the_limit(blocks: list[str], limit: int) -> None:
    from html import escape

    escaped = [escape(b) for b in blocks]
    text, left = fit(escaped, limit, more="(more)")
    assert visible_len(text) <= limit
    kept = len(escaped) - len(left)
    assert escaped[kept:] == left
    assert text.startswith("\n\n".join(escaped[:kept]))
