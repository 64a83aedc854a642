"""The express carriers a factory may ship with, and the shape of their tracking numbers.

A fixed list (code → Chinese and English name, and a regular expression for the tracking
number). The shapes are deliberately a little wider than each carrier's current series so
that a real number is never refused; their job is to catch typos (a phone number, an
order number, a digit too few), not to prove a parcel exists:

| code | carrier | tracking number |
|---|---|---|
| SF | 顺丰速运 SF Express | ``SF`` + 12-15 digits |
| ZTO | 中通快递 ZTO Express | 12-15 digits |
| YTO | 圆通速递 YTO Express | ``YT`` + 13-15 digits |
| STO | 申通快递 STO Express | 12-15 digits |
| YD | 韵达速递 Yunda Express | 13-15 digits |
| JD | 京东物流 JD Logistics | ``JD`` + 13-15 letters or digits |
| EMS | 中国邮政EMS China Post EMS | 2 letters + 9 digits + ``CN`` (13), or 13 digits |
| JT | 极兔速递 J&T Express | ``JT`` + 13-15 digits |

``normalize_tracking_no`` removes spaces and dashes and upper-cases (``sf 1234-5678…`` is
read as ``SF12345678…``); ``tracking_problem`` says in words why a number does not fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CARRIERS", "Carrier", "normalize_tracking_no", "tracking_problem"]


@dataclass(frozen=True)
class Carrier:
    code: str
    name_zh: str
    name_en: str
    pattern: re.Pattern[str]
    shape: str  # the pattern in words, for a refusal


def _carrier(code: str, zh: str, en: str, pattern: str, shape: str) -> Carrier:
    return Carrier(code, zh, en, re.compile(pattern), shape)


CARRIERS: dict[str, Carrier] = {
    c.code: c
    for c in (
        _carrier("SF", "顺丰速运", "SF Express", r"SF\d{12,15}", "SF + 12-15 digits"),
        _carrier("ZTO", "中通快递", "ZTO Express", r"\d{12,15}", "12-15 digits"),
        _carrier("YTO", "圆通速递", "YTO Express", r"YT\d{13,15}", "YT + 13-15 digits"),
        _carrier("STO", "申通快递", "STO Express", r"\d{12,15}", "12-15 digits"),
        _carrier("YD", "韵达速递", "Yunda Express", r"\d{13,15}", "13-15 digits"),
        _carrier(
            "JD", "京东物流", "JD Logistics", r"JD[0-9A-Z]{13,15}", "JD + 13-15 letters/digits"
        ),
        _carrier(
            "EMS",
            "中国邮政EMS",
            "China Post EMS",
            r"[A-Z]{2}\d{9}CN|\d{13}",
            "2 letters + 9 digits + CN, or 13 digits",
        ),
        _carrier("JT", "极兔速递", "J&T Express", r"JT\d{13,15}", "JT + 13-15 digits"),
    )
}

_SEPARATORS = re.compile(r"[\s\-]+")


def normalize_tracking_no(tracking_no: str) -> str:
    """The number as stored: spaces and dashes removed, letters upper-cased."""
    return _SEPARATORS.sub("", tracking_no).upper()


def tracking_problem(carrier: str, tracking_no: str) -> str | None:
    """None when ``tracking_no`` (normalized first) fits ``carrier``'s shape, else the reason."""
    found = CARRIERS.get(carrier.upper())
    if found is None:
        return f"unknown carrier {carrier!r}; one of {', '.join(CARRIERS)}"
    number = normalize_tracking_no(tracking_no)
    if not number:
        return "no tracking number"
    if found.pattern.fullmatch(number) is None:
        return f"{found.name_zh} tracking numbers are {found.shape}, not {number!r}"
    return None
