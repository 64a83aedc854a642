"""Translations: aiogram's I18n over the gettext catalogs in ``handlers/locales``.

aiogram loads compiled ``.mo`` files; we keep only the ``.po`` sources in the repository and
compile them with Babel when the bot starts, so there is no build step and no binary file
that can drift from its source. Message ids are keys (``search.header``), both
zh_CN (the default) and en translate every key; ``tests/test_locales.py`` checks that.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from aiogram.utils.i18n import I18n
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent.parent / "handlers" / "locales"
DOMAIN = "messages"
DEFAULT_LOCALE = "zh_CN"


def compile_locales(source: Path, target: Path, domain: str = DOMAIN) -> list[str]:
    """Compile every ``<locale>/LC_MESSAGES/<domain>.po`` under ``source`` into ``target``."""
    compiled: list[str] = []
    for folder in sorted(source.iterdir()):
        po_path = folder / "LC_MESSAGES" / f"{domain}.po"
        if not po_path.is_file():
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=folder.name, abort_invalid=True)
        mo_path = target / folder.name / "LC_MESSAGES" / f"{domain}.mo"
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with mo_path.open("wb") as mo_file:
            write_mo(mo_file, catalog, use_fuzzy=False)
        compiled.append(folder.name)
    return compiled


def build_i18n(default_locale: str = DEFAULT_LOCALE, path: Path = LOCALES_DIR) -> I18n:
    """aiogram's own I18n, loaded from ``.mo`` files compiled from our ``.po`` sources into a
    scratch folder (I18n reads them into memory when built; the folder is then removed)."""
    with tempfile.TemporaryDirectory(prefix="sourcing-bot-locales-") as scratch:
        compile_locales(path, Path(scratch))
        i18n = I18n(path=scratch, default_locale=default_locale, domain=DOMAIN)
    if default_locale not in i18n.available_locales:
        raise ValueError(
            f"DEFAULT_LOCALE={default_locale!r} has no translations; "
            f"available: {', '.join(i18n.available_locales)}"
        )
    return i18n
