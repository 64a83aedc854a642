"""The domain lexicon: which words mean what, from curated seed files and from the catalog.

Seed files (``nlu/seeds/*.tsv``) ship with the package: trade phrases, colors, materials,
sizes, regions, category synonyms, intent phrases, stopwords. The catalog-derived part (its
leaf categories, the seller keywords that point at one leaf, its colors, sizes, materials,
cities and belts) is a JSON file built from the store into the data folder
(``catalog_store.lexicon_source`` writes it after every import). Loading reads files once;
parsing never does I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from nlu.normalize import normalize

CATALOG_LEXICON_VERSION = 1


def _seed_rows(name: str) -> list[list[str]]:
    text = resources.files("nlu").joinpath("seeds", name).read_text(encoding="utf-8")
    rows = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        rows.append(line.split("\t"))
    return rows


@dataclass
class Lexicon:
    trade: dict[str, tuple[str, str]] = field(default_factory=dict)  # phrase -> (slot, value)
    colors: dict[str, str] = field(default_factory=dict)
    materials: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, str] = field(default_factory=dict)
    regions: dict[str, str] = field(default_factory=dict)  # word -> city
    categories: dict[str, str] = field(default_factory=dict)  # word -> leaf category
    leaves: dict[str, list[str]] = field(default_factory=dict)  # leaf -> path
    tops: dict[str, str] = field(default_factory=dict)  # word -> top-level category
    intents: list[tuple[str, str, bool]] = field(default_factory=list)  # phrase, intent, anchored
    stopwords: frozenset[str] = frozenset()
    catalog_version: int | None = None  # the import the catalog part was built from

    def slot_words(self) -> dict[str, str]:
        """Every word the segmenter must keep whole, with its kind."""
        words: dict[str, str] = {}
        for kind, table in (
            ("trade", self.trade),
            ("color", self.colors),
            ("material", self.materials),
            ("size", self.sizes),
            ("region", self.regions),
            ("category", self.categories),
        ):
            for word in table:
                words.setdefault(word, kind)
        return words


def load_lexicon(catalog_file: Path | None = None) -> Lexicon:
    """Seeds plus, when given and present, the catalog-derived JSON file."""
    lex = Lexicon()
    for row in _seed_rows("trade.tsv"):
        lex.trade[normalize(row[0])] = (row[1], row[2])
    for name, table in (
        ("colors.tsv", lex.colors),
        ("materials.tsv", lex.materials),
        ("sizes.tsv", lex.sizes),
        ("regions.tsv", lex.regions),
    ):
        for row in _seed_rows(name):
            table[normalize(row[0])] = row[1]
    seed_categories = {normalize(row[0]): row[1] for row in _seed_rows("categories.tsv")}
    for row in _seed_rows("intents.tsv"):
        phrase, intent = row[0], row[1]
        anchored = phrase.startswith("^")
        lex.intents.append((normalize(phrase.lstrip("^")), intent, anchored))
    lex.stopwords = frozenset(normalize(r[0]) for r in _seed_rows("stopwords.tsv"))
    lex.tops = {normalize(row[0]): row[1] for row in _seed_rows("tops.tsv")}

    catalog = _read_catalog(catalog_file)
    if catalog is not None and catalog.get("leaves"):
        lex.catalog_version = catalog.get("import_id")
        lex.leaves = {leaf: list(path) for leaf, path in catalog.get("leaves", {}).items()}
        for word, canonical in catalog.get("colors", {}).items():
            lex.colors.setdefault(normalize(word), canonical)
        for word, canonical in catalog.get("materials", {}).items():
            lex.materials.setdefault(normalize(word), canonical)
        for word, canonical in catalog.get("sizes", {}).items():
            lex.sizes.setdefault(normalize(word), canonical)
        for word, city in catalog.get("regions", {}).items():
            lex.regions.setdefault(normalize(word), city)
        for leaf in lex.leaves:
            lex.categories[normalize(leaf)] = leaf
        for word, leaf in catalog.get("synonyms", {}).items():
            if leaf in lex.leaves:
                lex.categories.setdefault(normalize(word), leaf)
        # buyer words from the seeds count only for leaves this catalog has
        for word, leaf in seed_categories.items():
            if leaf in lex.leaves:
                lex.categories.setdefault(word, leaf)
    else:
        lex.categories = dict(seed_categories)
        lex.leaves = {leaf: [leaf] for leaf in seed_categories.values()}
    # a word that names goods is a goods word, even where a color or material seed has it
    for word in lex.categories:
        for table in (lex.colors, lex.materials):
            table.pop(word, None)
    return lex


def _read_catalog(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != CATALOG_LEXICON_VERSION:
        return None
    return data
