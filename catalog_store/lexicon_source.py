"""The catalog's part of the query lexicon, built from the store into the data folder.

``nlu`` must not touch the database, so this module reads what the catalog knows (leaf
categories with their paths, seller keywords that point at one leaf, SKU colors and sizes,
materials, cities and industrial belts) and writes it as JSON for ``nlu.load_lexicon``.
The file records the newest import's id; ``ensure_catalog_lexicon`` rebuilds it only when
the catalog has changed since.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog_store.importer import latest_import_id
from catalog_store.models import Factory, Offer, Sku

FORMAT = 1  # nlu.lexicon.CATALOG_LEXICON_VERSION
# a seller keyword names a leaf when this share of its offers are in that leaf
SYNONYM_SHARE = 0.8
SYNONYM_MIN_OFFERS = 3
MAX_WORD_CHARS = 12


def _short(word: str) -> bool:
    return 1 < len(word) <= MAX_WORD_CHARS


async def build_catalog_lexicon(engine: AsyncEngine) -> dict[str, Any]:
    leaves: dict[str, list[str]] = {}
    keyword_leaves: dict[str, Counter[str]] = defaultdict(Counter)
    materials: dict[str, str] = {}
    async with engine.connect() as conn:
        result = await conn.stream(
            select(Offer.category, Offer.keywords, Offer.attributes).execution_options(
                yield_per=5000
            )
        )
        async for category, keywords, attributes in result:
            leaf = category[-1]
            leaves.setdefault(leaf, list(category))
            for word in keywords or ():
                if _short(word) and word != leaf:
                    keyword_leaves[word.lower()][leaf] += 1
            material = (attributes or {}).get("材质")
            if material and _short(material):
                materials.setdefault(material, material)
        colors = {
            c: c
            for (c,) in await conn.execute(
                select(Sku.color).where(Sku.color.is_not(None)).distinct()
            )
            if _short(c)
        }
        sizes = {
            s: s
            for (s,) in await conn.execute(select(Sku.size).where(Sku.size.is_not(None)).distinct())
            # numeric sizes (36, 40) would read every number as a size; "38码" is read by rule
            if s and len(s) <= MAX_WORD_CHARS and not s.replace(".", "").isdigit()
        }
        regions: dict[str, str] = {}
        for city, belt in await conn.execute(
            select(Factory.city, Factory.industrial_belt).distinct()
        ):
            regions.setdefault(city, city)
            if belt:
                regions.setdefault(belt, city)
        import_id = await latest_import_id(conn)
    synonyms = {}
    names = [leaf.lower() for leaf in leaves]
    for word, counts in keyword_leaves.items():
        if any(name in word for name in names):
            continue  # "ins风连衣裙" is a style plus a leaf, not a new name for the leaf
        leaf, n = counts.most_common(1)[0]
        if n >= SYNONYM_MIN_OFFERS and n >= SYNONYM_SHARE * sum(counts.values()):
            synonyms[word] = leaf
    return {
        "format": FORMAT,
        "import_id": import_id,
        "leaves": dict(sorted(leaves.items())),
        "synonyms": dict(sorted(synonyms.items())),
        "colors": dict(sorted(colors.items())),
        "sizes": dict(sorted(sizes.items())),
        "materials": dict(sorted(materials.items())),
        "regions": dict(sorted(regions.items())),
    }


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".lexicon-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, ensure_ascii=False, indent=0)
    os.replace(tmp, path)


_MISSING = object()


def _recorded_import(path: Path) -> object:
    """The import id the file was built from; ``_MISSING`` when there is no usable file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _MISSING
    return data.get("import_id", _MISSING) if data.get("format") == FORMAT else _MISSING


async def ensure_catalog_lexicon(engine: AsyncEngine, path: Path, *, force: bool = False) -> bool:
    """Rebuild ``path`` when the catalog changed since it was written; True if rebuilt."""
    async with engine.connect() as conn:
        current = await latest_import_id(conn)
    if not force and _recorded_import(path) == current:
        return False
    _write_atomically(path, await build_catalog_lexicon(engine))
    return True
