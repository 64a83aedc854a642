"""The locale files: both languages translate every key the code uses, with the same
placeholders, in HTML that Telegram accepts."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, build_i18n
from bot.offline_telegram import visible_text

LOCALES = ("zh_CN", "en")
DYNAMIC = {  # keys built at run time from a prefix and a value
    "badge.": ("super_factory", "power_merchant", "specialized_sme", "little_giant", "trust_pass"),
    "customization.": ("logo", "packaging", "color", "size", "material", "engraving", "sample"),
    "command.": ("start", "help", "orders", "cancel", "human"),
    # every refusal code the domain gives (pricing, orders, the workflow engine, addresses)
    "refuse.": (
        "bad_qty", "unknown_sku", "no_dropship", "no_sample", "below_moq", "sku_below_moq",
        "customization_min_qty", "bad_customization", "out_of_stock", "offer_not_found",
        "offer_inactive", "recipient_required", "bad_recipient", "sold_out", "choose_a_sku",
        "first_step", "expects_button", "not_a_number", "not_whole", "not_positive", "absurd",
        "over_max", "too_long", "bad_mobile", "empty", "no_recipient", "no_name", "no_address",
        "no_province", "no_city", "city_mismatch", "modify_which_sku", "no_such_sku",
    ),
    "transition.": (
        "not_found", "unknown_action", "forbidden", "wrong_status", "bad_carrier",
        "bad_tracking_no",
    ),
}  # fmt: skip


def catalog(locale: str) -> dict[str, str]:
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return {m.id: m.string for m in read_po(f) if m.id}


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def keys_in_code() -> set[str]:
    root = Path(__file__).resolve().parent.parent
    keys: set[str] = set()
    for path in [*root.glob("handlers/*.py"), *root.glob("bot/*.py")]:
        keys |= set(re.findall(r'\b_\("([a-z_]+\.[a-z_.]+|examples)"\)', path.read_text("utf-8")))
    return keys


def test_both_locales_have_the_same_keys_and_placeholders() -> None:
    zh, en = catalog("zh_CN"), catalog("en")
    assert set(zh) == set(en)
    for key in zh:
        assert zh[key].strip() and en[key].strip(), key
        assert fields(zh[key]) == fields(en[key]), key


def test_every_key_the_code_uses_exists() -> None:
    zh = catalog("zh_CN")
    used = keys_in_code()
    assert len(used) > 40  # the scan finds the keys (a broken pattern would find none)
    for prefix, values in DYNAMIC.items():
        used |= {prefix + v for v in values}
    assert sorted(used - set(zh)) == []


@pytest.mark.parametrize("locale", LOCALES)
def test_texts_are_html_telegram_accepts(locale: str) -> None:
    for text in catalog(locale).values():
        filled = text.format(**{name: "x" for name in fields(text)})
        visible_text(filled, "HTML")  # raises on a tag or entity Telegram would refuse


def test_the_bot_loads_both_languages_with_zh_cn_by_default() -> None:
    i18n = build_i18n()
    assert set(i18n.available_locales) == set(LOCALES)
    assert i18n.default_locale == "zh_CN"
    assert i18n.gettext("button.next", locale="en") == "Next ▶"
    assert i18n.gettext("button.next", locale="zh_CN") == "下一页 ▶"
    with pytest.raises(ValueError, match="no translations"):
        build_i18n("fr")
