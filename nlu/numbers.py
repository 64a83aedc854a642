"""Prices, quantities and numeric sizes in a normalized query.

Chinese numerals before a unit become Arabic first (五十元 → 50元, 两件 → 2件, 三打 → 3打);
then patterns read price bounds (以内/以下/不超过/到/以上/左右), quantities with their
measure words (打 is a dozen) and sizes in 码. Lexicon words that contain numerals
(一件代发, 四件套) are protected, so 一件代发 is never a quantity of one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import cn2an

_CN_DIGITS = "零〇一二两三四五六七八九十百千万"
MONEY_UNIT = r"(?:元|块钱|块|rmb|¥)"
QTY_UNITS = "件个双条套只盒包箱对片支张顶把台瓶袋卷副斤"
_NUM = r"(\d+(?:\.\d+)?)"
# a number glued to letters is part of a model (iphone15, 3c, 5g), not an amount
_FREE = r"(?<![a-z0-9.])"

_CN_NUMERAL = re.compile(
    # not before 件套: 三件套 is a kind of set, not three pieces
    rf"([{_CN_DIGITS}]+)(?!件套)(?=\s*(?:元|块|毛|角|[{QTY_UNITS}]|打|码|以内|以下|到|至|左右))"
    # the tenths in 一块五 (1.5 yuan)
    rf"|(?<=块)([一二三四五六七八九])(?![{_CN_DIGITS}{QTY_UNITS}])"
)

_RANGE = re.compile(
    rf"{_FREE}¥?\s*{_NUM}\s*{MONEY_UNIT}?\s*(?:到|至|-|~|—)\s*¥?\s*{_NUM}\s*{MONEY_UNIT}"
    rf"|¥\s*{_NUM}\s*(?:到|至|-|~)\s*¥?\s*{_NUM}"
    rf"|(?:价格|价位|预算)\s*{_NUM}\s*(?:到|至|-|~)\s*{_NUM}"
    # "30到60" with no unit, standing alone, is a budget (14-186 stays a model number)
    rf"|{_FREE}{_NUM}\s*(?:到|至|~)\s*{_NUM}(?![\d.a-z%]|\s*(?:码|cm|mm|ml|g|kg|岁|寸|件|个|双|条|套))"
)
_MAX_PREFIX = re.compile(
    rf"(?:不超过|不高于|不要超过|低于|少于|最多|小于|不到|预算|<=?|≤|under|below)\s*¥?\s*{_NUM}"
    rf"\s*{MONEY_UNIT}?"
)
_MAX_SUFFIX = re.compile(
    rf"{_FREE}¥?\s*{_NUM}\s*{MONEY_UNIT}?\s*(?:以内|以下|之内|之下|内)(?![{QTY_UNITS}])"
)
_MIN = re.compile(rf"{_FREE}¥?\s*{_NUM}\s*{MONEY_UNIT}\s*(?:以上|起)")
_AROUND = re.compile(rf"{_FREE}¥?\s*{_NUM}\s*{MONEY_UNIT}\s*左右")
_BARE = re.compile(rf"¥\s*{_NUM}|{_FREE}{_NUM}\s*(?:元|块钱|块)")
# spoken prices: 9块9 is 9.90, 5毛钱 is 0.50 (毛 before 巾, 衣, 绒 … is wool, not money)
_KUAI_JIAO = re.compile(rf"{_FREE}(\d+)\s*块\s*(\d)(?![\d{QTY_UNITS}])")
_JIAO = re.compile(rf"{_FREE}(\d)\s*(?:毛钱|角钱|角|毛(?![巾衣绒线毯呢料领球笔刷皮]))")
_DOZEN = re.compile(rf"{_FREE}(\d+)\s*打")
_QTY = re.compile(rf"{_FREE}(\d+)\s*([{QTY_UNITS}])(?!套)(?:\s*(?:起批|起订|起|以上))?")
_SIZE_MA = re.compile(rf"{_FREE}(?:(\d{{2}})\s*(?:到|至|-|~)\s*)?(\d{{2}}(?:\.5)?)\s*码")

MAX_QUANTITY = 10_000_000
MAX_PRICE = Decimal("100000000")


@dataclass
class Numbers:
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    quantity: int | None = None
    sizes: list[str] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)  # consumed, in the text given


_PRIVATE = 0xE000  # Unicode private use area: placeholders no pattern can match


def arabize(text: str, protected: Iterable[str] = ()) -> str:
    """Chinese numerals before a unit as Arabic digits (五十元 → 50元); ``protected`` words
    (一件代发, 四件套) are left exactly as they are."""
    holders: dict[str, str] = {}
    for word in protected:
        if word in text:
            holder = chr(_PRIVATE + len(holders))
            holders[holder] = word
            text = text.replace(word, holder)

    def convert(m: re.Match[str]) -> str:
        numeral = m.group(1) or m.group(2)
        raw = numeral.replace("两", "二").replace("〇", "零")
        try:
            return str(cn2an.cn2an(raw, "smart"))
        except (ValueError, KeyError, IndexError):
            return numeral

    text = _CN_NUMERAL.sub(convert, text)
    for holder, word in holders.items():
        text = text.replace(holder, word)
    return text


def _money(raw: str) -> Decimal | None:
    try:
        value = Decimal(raw).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None
    return value if Decimal(0) <= value < MAX_PRICE else None


def read_numbers(text: str, protected: Iterable[str] = ()) -> tuple[str, Numbers]:
    """(the text with numerals made Arabic, what its numbers say). Spans refer to that text."""
    # after arabizing, only Arabic digits count: protected words hold none, so the
    # patterns below cannot read 一件代发 as one piece
    view = arabize(text, protected)
    found = Numbers()
    taken: list[tuple[int, int]] = []

    def span(m: re.Match[str]) -> tuple[int, int]:
        # the patterns may take spaces at their edges; the number itself is what counts
        s, e = m.span()
        while s < e and view[s].isspace():
            s += 1
        while e > s and view[e - 1].isspace():
            e -= 1
        return s, e

    def free(m: re.Match[str]) -> bool:
        s, e = span(m)
        return all(e <= a or s >= b for a, b in taken)

    def take(m: re.Match[str]) -> None:
        taken.append(span(m))

    for m in _RANGE.finditer(view):
        nums = [g for g in m.groups() if g is not None]
        low, high = _money(nums[0]), _money(nums[1])
        if low is not None and high is not None and free(m):
            found.price_min, found.price_max = min(low, high), max(low, high)
            take(m)
            break
    if found.price_max is None:
        for pattern in (_MAX_PREFIX, _MAX_SUFFIX):
            m = next((m for m in pattern.finditer(view) if free(m)), None)
            if m is not None and (value := _money(m.group(1))) is not None:
                found.price_max = value
                take(m)
                break
    if found.price_min is None:
        m = next((m for m in _MIN.finditer(view) if free(m)), None)
        if m is not None and (value := _money(m.group(1))) is not None:
            found.price_min = value
            take(m)
    if found.price_min is None and found.price_max is None:
        m = next((m for m in _AROUND.finditer(view) if free(m)), None)
        if m is not None and (value := _money(m.group(1))) is not None:
            # "about 50": a band of ±20 %, which is how buyers mean it
            found.price_min = (value * Decimal("0.8")).quantize(Decimal("0.01"))
            found.price_max = (value * Decimal("1.2")).quantize(Decimal("0.01"))
            take(m)
    if found.price_max is None and found.price_min is None:
        m = next((m for m in _KUAI_JIAO.finditer(view) if free(m)), None)
        if m is not None:
            found.price_max = _money(f"{m.group(1)}.{m.group(2)}")
            take(m)
    if found.price_max is None and found.price_min is None:
        m = next((m for m in _JIAO.finditer(view) if free(m)), None)
        if m is not None:
            found.price_max = _money(f"0.{m.group(1)}")
            take(m)
    if found.price_max is None and found.price_min is None:
        m = next((m for m in _BARE.finditer(view) if free(m)), None)
        if m is not None:
            raw = next(g for g in m.groups() if g is not None)
            if (value := _money(raw)) is not None:
                found.price_max = value  # a bare price is a budget
                take(m)
    m = next((m for m in _DOZEN.finditer(view) if free(m) and int(m.group(1)) > 0), None)
    if m is not None:
        found.quantity = min(int(m.group(1)) * 12, MAX_QUANTITY)
        take(m)
    else:
        m = next((m for m in _QTY.finditer(view) if free(m)), None)
        if m is not None and int(m.group(1)) > 0:
            found.quantity = min(int(m.group(1)), MAX_QUANTITY)
            take(m)
    for m in _SIZE_MA.finditer(view):
        if free(m):
            found.sizes.extend(s for s in m.groups() if s is not None)  # 30到40码: both ends
            take(m)
    found.spans = sorted(taken)
    return view, found
