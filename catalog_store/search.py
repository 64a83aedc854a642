"""Catalog search: an in-memory index over the store, hard constraints, ranking.

How a query is answered:

1. **Parse** with ``nlu`` (typos fixed, slots read). A message that names a material and
   only describes goods (纯棉), which the parser reads as a change to an earlier answer, is
   searched too when it is handed to search; other intents (转人工, 红色) find nothing.
2. **Retrieve** candidates: when the parser recognized a leaf category, that leaf's offers
   (so 裙子 and 长裙 find dresses whatever their titles say, and a 连衣裙收纳袋 is not a
   dress); otherwise every offer whose stored title tokens, seller keywords or leaf name
   contain a query keyword, from an inverted index; a query naming only a material (纯棉)
   starts from the offers with that word. No scan of all offers; a query with constraints
   but no goods words starts from all offers.
3. **Constrain**, over *all* candidates before any cut: price bounds by the contract's
   rule (the drop-ship price when drop-ship is asked, the price at the asked quantity when
   one is given, else the MOQ unit price), drop-ship offered, a color or size in stock, a
   customization kind offered, region (city or industrial belt), badges. Nothing is traded
   for text similarity. When the constraints leave nothing, ``empty_reason`` names the one
   that emptied the list, what was asked and the nearest relaxation (50元以内没有，最低
   58.00元), as Chinese text for the CLI and as values for the handlers' locale files.
4. **Rank** (documented formula, ``score``)::

       text     = 1.0 · idf-weighted share of query keywords in the offer's words (title
                       tokens, seller keywords, leaf and top category, attribute values)
                + 0.4 · rapidfuzz token_set_ratio(keywords, title) / 100   (top 200 only)
       category = 1.0 when the offer's leaf is the recognized category, else 0
       attrs    = 0.5 · share of named materials the offer's 材质 has
       quality  = 0.30 · super_factory + 0.10 · power_merchant + 0.20 · pickup_48h_rate
                + 0.15 · rating / 5 + 0.15 · log(1 + sales_30d) / log(1 + max sales)
                + 0.10 · repurchase_rate
       score    = text + category + attrs + 0.3 · quality

   The category term makes a dress outrank a 连衣裙收纳袋 (a storage bag whose title says
   连衣裙); quality orders offers that match equally well.
5. **Around the results**, for the handlers' refinements: the leaf categories of the best
   20 (``top_leaves``: a vague query spans several), and up to three price bands at round
   amounts over every offer that met the constraints (``price_bands``). ``bundle_for``
   picks offers to sell beside one (搭配购) from its bundle tags.

The index is built once from the store and rebuilt by ``SearchService.refresh`` when a
newer import exists. Why our own index and not SQLite FTS5: measured by
``bench/retrieval_engines.py`` on the same stored tokens, FTS5 retrieval is 12-40x slower
(p99 17 ms at a million offers, over the whole query's budget); see docs/benchmarks.md.
No Telegram here; result texts are data for the handlers to render.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import sys
from array import array
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from rapidfuzz import fuzz
from sqlalchemy import func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from catalog_store.catalog_format import BADGE_NAMES
from catalog_store.importer import latest_import_id
from catalog_store.models import (
    CustomizationOption,
    Factory,
    Sku,
)
from nlu import Intent, ParsedQuery, Parser, default_parser
from nlu.normalize import normalize

RERANK = 200  # candidates that get the rapidfuzz score
_SEP = "\x1f"  # joins a group's SKU colors: a character no color contains
_OFFERS_SQL = (
    "SELECT id, title, title_tokens, keywords, category_leaf, category_top, attributes,"
    " factory_id, moq, dropship_supported, dropship_price, sales_30d, repurchase_rate"
    " FROM offers WHERE active ORDER BY id"
)
_COUNT_SQL = "SELECT count(*) FROM offers WHERE active"
_TIERS_SQL = "SELECT offer_id, min_qty, price FROM price_tiers ORDER BY offer_id, min_qty"
_PARTITION = 20_000  # rows per read when streaming SKUs and tiers
MAX_TIERS = 6  # price tiers kept per offer in the index (the contract allows more; rare)
_NO_PRICE = np.iinfo(np.int64).max
_CENT = Decimal("0.01")
TOP_LEAVES_OF = 20  # results whose leaves SearchResult.top_leaves counts
_BAND_SAMPLE = 2048  # prices sampled for the band cuts' thirds
_STEPS = tuple(m * 10**k for k in range(12) for m in (1, 2, 5))  # round amounts, in fen
_DESCRIBING = ("colors", "sizes", "materials")  # slots that describe goods


@dataclass(frozen=True)
class Hit:
    offer_id: str
    title: str
    score: float
    unit_price: Decimal  # by the contract's rule for this query
    dropship_price: Decimal | None
    moq: int
    factory_id: str
    factory_name: str
    city: str
    badges: list[str]
    category_top: str
    category_leaf: str

    def as_json(self) -> dict[str, Any]:
        return {
            "offer_id": self.offer_id,
            "title": self.title,
            "score": round(self.score, 4),
            "unit_price": f"{self.unit_price:.2f}",
            "dropship_price": None if self.dropship_price is None else f"{self.dropship_price:.2f}",
            "moq": self.moq,
            "factory_id": self.factory_id,
            "factory_name": self.factory_name,
            "city": self.city,
            "badges": list(self.badges),
            "category_top": self.category_top,
            "category_leaf": self.category_leaf,
        }


@dataclass(frozen=True)
class EmptyReason:
    """Which constraint emptied the result, and the nearest thing that exists.

    ``text`` is Chinese, for the CLI; handlers render ``constraint``, ``asked`` and
    ``options`` from their locale files instead. ``asked``: what the buyer asked that emptied
    the list (a price as "50.00", colors, sizes, the region, customization kinds, badge
    codes, keywords, a quantity as "3"). ``options``: the nearest alternatives, as values a
    refinement can use: price_max the lowest price there is ("58.00"), price_min the highest,
    colors and sizes the in-stock values most common first, region the cities with most of
    these goods, quantity the least MOQ; empty for dropship, customization and badges (the
    way out is to drop the wish) and for keywords and intent.
    """

    constraint: str  # keywords, dropship, quantity, price_max, price_min, colors, sizes,
    # customization, region, badges, intent
    text: str  # in Chinese, for the CLI and as the handlers' default
    nearest: str | None = None
    asked: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


@dataclass
class SearchResult:
    query: ParsedQuery
    results: list[Hit] = field(default_factory=list)
    total: int = 0  # offers that meet every constraint
    empty_reason: EmptyReason | None = None
    # leaf categories of the best TOP_LEAVES_OF results (before paging), most common first
    top_leaves: list[tuple[str, int]] = field(default_factory=list)
    # up to three (low, high) CNY bands over every offer that met the constraints, by the
    # price the constraints use; bounds inclusive, as the query's; the outer ends are the
    # query's own bounds (None: open), so price_min, price_max = a band narrows the search
    price_bands: list[tuple[Decimal | None, Decimal | None]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "query": self.query.as_json(),
            "results": [h.as_json() for h in self.results],
            "total": self.total,
            "empty_reason": None if self.empty_reason is None else self.empty_reason.text,
            "top_leaves": [[leaf, n] for leaf, n in self.top_leaves],
            "price_bands": [[_money(low), _money(high)] for low, high in self.price_bands],
        }


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _split(values: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Offers grouped by a small-number column (-1: none), as sorted row arrays per name."""
    order = np.argsort(values, kind="stable").astype(np.int32)
    bounds = np.searchsorted(values[order], np.arange(len(names) + 1))
    return {name: order[bounds[k] : bounds[k + 1]] for k, name in enumerate(names)}


def _sql(statement: Any, conn: AsyncConnection) -> str:
    """A Core statement as this database's SQL text, values inlined (they are constants)."""
    return str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


async def _raw_partitions(conn: AsyncConnection, sql: str) -> AsyncIterator[Sequence[Any]]:
    """Rows of ``sql`` as the driver's own tuples, in partitions.

    On SQLite the aiosqlite cursor is read directly: building a SQLAlchemy row for each of
    millions of offers and tiers was a quarter of the index build. Elsewhere, plain text()
    rows (no type processing) in partitions.
    """
    if conn.dialect.name == "sqlite":
        raw = await conn.get_raw_connection()
        cursor = await raw.driver_connection.execute(sql)
        try:
            while rows := await cursor.fetchmany(_PARTITION):
                yield rows
        finally:
            await cursor.close()
        return
    result = await conn.stream(text(sql))
    async for part in result.partitions(_PARTITION):
        yield part


def _searchable(query: ParsedQuery) -> bool:
    """A search, or a message that names a material and only describes goods (纯棉, 纯棉
    白色的).

    The parser reads attributes without goods as a change to what is being chosen; whether
    the conversation has something to change is the handlers' call. Asked to search, the
    index finds the goods made of the material (from its posting list). A color or size
    alone (红色) is still no search: it would mean a pass over every offer for little use.
    """
    if query.intent in (Intent.search, Intent.customize):
        return True
    return (
        query.intent is Intent.modify
        and "materials" in query.changes
        and set(query.changes) <= set(_DESCRIBING)
    )


def _round_cut(target: int, fits: Callable[[int], bool]) -> int | None:
    """A round amount of fen near ``target`` for which ``fits`` holds, or None.

    Round: a multiple of a step of 1, 2 or 5 times a power of ten, with at most two
    significant digits (30, 45, 1.2, 2500). Steps from the largest at most a quarter of the
    target down; the first rounding (nearest, up, down) that fits is taken.
    """
    for step in reversed(_STEPS):
        if step * 4 > target:
            continue
        if step * 100 < target:
            break
        for cut in (
            (target + step // 2) // step * step,
            -(-target // step) * step,
            target // step * step,
        ):
            if cut > 0 and len(str(cut).rstrip("0")) <= 2 and fits(cut):
                return cut
    return None


def _fen(value: Decimal | None) -> int:
    return _NO_PRICE if value is None else int(value * 100)


def _yuan(fen: int) -> Decimal:
    return (Decimal(int(fen)) / 100).quantize(_CENT)


class SearchIndex:
    """Everything search needs, in memory: column arrays per offer and inverted lists."""

    def __init__(self) -> None:
        self.import_id: int | None = None
        self.ids: list[str] = []
        self.titles: list[str] = []
        self.norm_titles: list[str] = []
        self.factory_ids: list[str] = []
        self.factories: dict[str, tuple[str, str, str | None, list[str]]] = {}
        self.postings: dict[str, np.ndarray] = {}
        self.idf: dict[str, float] = {}
        self.leaf_of: np.ndarray = np.zeros(0, np.int32)
        self.leaves: dict[str, int] = {}
        self.leaf_rows: list[np.ndarray] = []  # offers of each leaf, by leaf number
        self.leaf_names: list[str] = []  # leaf number → name
        self.top_of: np.ndarray = np.zeros(0, np.int32)  # top category number of each offer
        self.tops: dict[str, int] = {}
        self.top_names: list[str] = []
        self.top_rows: list[np.ndarray] = []  # offers of each top category, by number
        self._by_quality: dict[tuple[str, str], np.ndarray] = {}  # bundle_for's cache
        self._id_hashes: tuple[np.ndarray, np.ndarray] | None = None  # see _row_of
        self._tag_names: tuple[dict[str, str], dict[str, str]] | None = None  # normalized
        self.moq: np.ndarray = np.zeros(0, np.int64)
        self.tier_q: np.ndarray = np.zeros((0, MAX_TIERS), np.int64)
        self.tier_p: np.ndarray = np.zeros((0, MAX_TIERS), np.int64)
        self.moq_p: np.ndarray = np.zeros(0, np.int64)  # tier_p[:, 0], contiguous
        self.dropship: np.ndarray = np.zeros(0, bool)
        self.dropship_p: np.ndarray = np.zeros(0, np.int64)
        self.quality: np.ndarray = np.zeros(0, np.float64)
        self.material_names: list[str] = []  # distinct 材质 values, lower case
        self.material_of: np.ndarray = np.zeros(0, np.int32)
        self._scratch: np.ndarray = np.zeros(0, bool)
        self.colors: dict[str, np.ndarray] = {}
        self.sizes: dict[str, np.ndarray] = {}  # by lower-case size
        self.size_names: dict[str, str] = {}  # lower case → as the catalog writes it (XL)
        self.kinds: dict[str, np.ndarray] = {}
        self.cities: dict[str, np.ndarray] = {}
        self.belts: dict[str, np.ndarray] = {}
        self.badges: dict[str, np.ndarray] = {}
        self.city_names: list[str] = []
        self.city_of: np.ndarray = np.zeros(0, np.int32)  # city number of each offer
        self._factory_quality: dict[str, tuple[float, float]] = {}
        self._sales: np.ndarray = np.zeros(0)
        self._repurchase: np.ndarray = np.zeros(0)
        self.parser: Parser | None = None

    def __len__(self) -> int:
        return len(self.ids)

    # --- building ----------------------------------------------------------------------------

    @classmethod
    async def build(cls, engine: AsyncEngine, parser: Parser | None = None) -> SearchIndex:
        """Read the store once (one query per table) and build the index."""
        index = cls()
        index.parser = parser
        async with engine.connect() as conn:
            index.import_id = await latest_import_id(conn)
            for fid, name, city, belt, badges, pickup, rating in await conn.execute(
                select(
                    Factory.id,
                    Factory.name,
                    Factory.city,
                    Factory.industrial_belt,
                    Factory.badges,
                    Factory.pickup_48h_rate,
                    Factory.rating,
                )
            ):
                index.factories[fid] = (name, city, belt, list(badges or []))
                index._factory_quality[fid] = (pickup or 0.0, rating or 0.0)
            # raw rows (text(): no per-value type processing): money arrives as fen, JSON
            # as text decoded here once per distinct value; at a million offers the ORM's
            # per-value processing was most of the build
            n = (await conn.execute(text(_COUNT_SQL))).scalar_one()
            add, finish = index._offer_loader(n, parser)
            async for part in _raw_partitions(conn, _OFFERS_SQL):
                add(part)
            finish()
            position = {offer_id: i for i, offer_id in enumerate(index.ids)}
            filled = np.zeros(len(index.ids), np.int32)
            async for part in _raw_partitions(conn, _TIERS_SQL):
                index._add_tiers(part, position, filled)
            # one row per offer, its in-stock colors and sizes joined by the database
            colors: dict[str, set[int]] = defaultdict(set)
            sizes: dict[str, set[int]] = defaultdict(set)
            in_stock = (
                select(
                    Sku.offer_id,
                    func.aggregate_strings(Sku.color, literal_column(f"'{_SEP}'")),
                    func.aggregate_strings(Sku.size, literal_column(f"'{_SEP}'")),
                )
                .where(Sku.stock > 0)
                .group_by(Sku.offer_id)
            )
            async for part in _raw_partitions(conn, _sql(in_stock, conn)):
                for offer_id, offer_colors, offer_sizes in part:
                    i = position.get(offer_id)
                    if i is None:
                        continue
                    for color in (offer_colors or "").split(_SEP):
                        if color:
                            colors[color].add(i)
                    for size in (offer_sizes or "").split(_SEP):
                        if size:
                            sizes[size].add(i)  # as written; merged by case below
            kinds: dict[str, set[int]] = defaultdict(set)
            options = select(CustomizationOption.offer_id, CustomizationOption.kind).distinct()
            async for part in _raw_partitions(conn, _sql(options, conn)):
                for offer_id, kind in part:
                    if (i := position.get(offer_id)) is not None:
                        kinds[kind].add(i)
        index._finish(colors, sizes, kinds)
        return index

    def _offer_loader(
        self, n: int, parser: Parser | None
    ) -> tuple[Callable[[Sequence[Any]], None], Callable[[], None]]:
        """(add a partition of raw offer rows, finish): offers are read in partitions, so a
        million raw rows are never held at once."""
        # array('i'), not lists: 25 million postings as Python ints would take a gigabyte
        postings: dict[str, array[int]] = defaultdict(lambda: array("i"))
        leaf_of = np.zeros(n, np.int32)
        top_of = np.zeros(n, np.int32)
        moq = np.zeros(n, np.int64)
        dropship = np.zeros(n, bool)
        dropship_p = np.full(n, _NO_PRICE, np.int64)
        sales = np.zeros(n, np.float64)
        repurchase = np.zeros(n, np.float64)
        norm = functools.lru_cache(maxsize=500_000)(normalize)  # words repeat: 爆款, 纯棉 …
        materials: dict[str, int] = {}
        material_of = np.zeros(n, np.int32)
        parse_json = functools.lru_cache(maxsize=200_000)(json.loads)  # keyword lists repeat

        def decode(value: Any) -> Any:  # text on SQLite; asyncpg hands JSON over decoded
            return parse_json(value) if isinstance(value, str) else value

        next_row = 0

        def add(part: Sequence[Any]) -> None:
            nonlocal next_row
            # an import that commits while we read may add offers past the count taken
            # first; they are left to the next refresh, which that import triggers
            part = part[: max(n - next_row, 0)]
            for i, row in enumerate(part, start=next_row):
                add_one(i, row)
            next_row += len(part)

        def add_one(i: int, row: Any) -> None:
            (
                oid,
                title,
                title_tokens,
                keywords,
                leaf,
                top,
                attributes_json,
                factory_id,
                offer_moq,
                offer_dropship,
                dropship_fen,
                sold,
                repurchased,
            ) = row
            self.ids.append(oid)
            self.titles.append(title)
            self.factory_ids.append(sys.intern(factory_id))
            leaf_of[i] = self.leaves.setdefault(leaf, len(self.leaves))
            top_of[i] = self.tops.setdefault(top, len(self.tops))
            if title_tokens is None:  # imported before tokens were stored
                segmented = parser.segment(normalize(title)) if parser else []
                title_tokens = " ".join(w for w, _, _ in segmented)
            self.norm_titles.append(title_tokens)
            words = set(title_tokens.split())
            words.update(map(norm, decode(keywords) or ()))
            words.add(norm(leaf))
            words.add(norm(top))  # the top level: 童装, 箱包, 玩具
            # structured attributes count as words of the offer: V领, 头层牛皮, ins风
            attributes = decode(attributes_json) or {}
            words.update(map(norm, map(str, attributes.values())))
            for word in words:
                postings[word].append(i)
            material = str(attributes.get("材质", "")).lower()
            material_of[i] = materials.setdefault(material, len(materials))
            moq[i] = offer_moq
            dropship[i] = bool(offer_dropship)
            if offer_dropship and dropship_fen is not None:
                dropship_p[i] = int(dropship_fen)
            sales[i] = sold or 0
            repurchase[i] = repurchased or 0.0

        def finish() -> None:
            m = next_row  # fewer than counted if offers went off sale meanwhile
            self._end_offers(
                m,
                postings,
                leaf_of[:m],
                top_of[:m],
                moq[:m],
                dropship[:m],
                dropship_p[:m],
                sales[:m],
                repurchase[:m],
                materials,
                material_of[:m],
            )

        return add, finish

    def _end_offers(
        self,
        n: int,
        postings: dict[str, array[int]],
        leaf_of: np.ndarray,
        top_of: np.ndarray,
        moq: np.ndarray,
        dropship: np.ndarray,
        dropship_p: np.ndarray,
        sales: np.ndarray,
        repurchase: np.ndarray,
        materials: dict[str, int],
        material_of: np.ndarray,
    ) -> None:
        self.leaf_of, self.moq, self.dropship, self.dropship_p = leaf_of, moq, dropship, dropship_p
        self.material_names, self.material_of = list(materials), material_of
        self._scratch = np.zeros(n, bool)
        self.leaf_names, self.top_names = list(self.leaves), list(self.tops)
        self.leaf_rows = list(_split(leaf_of, self.leaf_names).values())
        self.top_of = top_of
        self.top_rows = list(_split(top_of, self.top_names).values())
        self.postings = {w: np.frombuffer(ids, np.int32) for w, ids in postings.items()}
        self.idf = {w: math.log(1 + n / len(ids)) for w, ids in postings.items()}
        postings.clear()
        self.tier_q = np.full((n, MAX_TIERS), np.iinfo(np.int32).max, np.int32)
        self.tier_p = np.full((n, MAX_TIERS), _NO_PRICE, np.int64)
        self._sales, self._repurchase = sales, repurchase

    def _add_tiers(self, part: Any, position: dict[str, int], filled: np.ndarray) -> None:
        for offer_id, min_qty, price_fen in part:  # raw rows: the price is already in fen
            i = position.get(offer_id)
            if i is None or filled[i] >= MAX_TIERS:
                continue
            self.tier_q[i, filled[i]] = min_qty
            self.tier_p[i, filled[i]] = price_fen
            filled[i] += 1

    def _finish(
        self,
        colors: dict[str, set[int]],
        sizes: dict[str, set[int]],
        kinds: dict[str, set[int]],
    ) -> None:
        n = len(self.ids)
        sales, repurchase = self._sales, self._repurchase
        self.moq_p = np.ascontiguousarray(self.tier_p[:, 0])
        self._id_hashes = self._hash_ids()
        self.colors = {k: np.fromiter(sorted(v), np.int32) for k, v in colors.items()}
        by_case: dict[str, set[int]] = defaultdict(set)  # xl and XL are one size
        for size, rows in sizes.items():
            by_case[size.lower()].update(rows)
            self.size_names.setdefault(size.lower(), size)
        self.sizes = {k: np.fromiter(sorted(v), np.int32) for k, v in by_case.items()}
        self.kinds = {k: np.fromiter(sorted(v), np.int32) for k, v in kinds.items()}

        # factory facts go to offers by one gather per column, not a loop per offer
        factory_ids = list(self.factories)
        number = {fid: k for k, fid in enumerate(factory_ids)}
        of = np.fromiter((number[f] for f in self.factory_ids), np.int32, count=n)
        city_names = sorted({self.factories[f][1] for f in factory_ids})
        belt_names = sorted({self.factories[f][2] for f in factory_ids if self.factories[f][2]})
        city_no = {c: k for k, c in enumerate(city_names)}
        belt_no = {b: k for k, b in enumerate(belt_names)}
        f_city = np.array([city_no[self.factories[f][1]] for f in factory_ids], np.int32)
        f_belt = np.array(
            [belt_no.get(self.factories[f][2] or "", -1) for f in factory_ids], np.int32
        )
        f_badges = [set(self.factories[f][3]) for f in factory_ids]
        f_pickup = np.array([self._factory_quality[f][0] for f in factory_ids], np.float64)
        f_rating = np.array([self._factory_quality[f][1] for f in factory_ids], np.float64)
        self.city_names, self.city_of = city_names, f_city[of]
        self.cities = _split(self.city_of, city_names)
        self.belts = _split(f_belt[of], belt_names)
        self.badges = {}
        for badge in {b for bs in f_badges for b in bs}:
            has = np.array([badge in bs for bs in f_badges], bool)
            self.badges[badge] = np.flatnonzero(has[of]).astype(np.int32)
        super_f = np.array(["super_factory" in bs for bs in f_badges], np.float64)[of]
        power = np.array(["power_merchant" in bs for bs in f_badges], np.float64)[of]
        pickup, rating = f_pickup[of], f_rating[of]
        max_sales = math.log1p(sales.max()) if n and sales.max() > 0 else 1.0
        self.quality = (
            0.30 * super_f
            + 0.10 * power
            + 0.20 * pickup
            + 0.15 * rating / 5
            + 0.15 * np.log1p(sales) / max_sales
            + 0.10 * repurchase
        )

    # --- prices ------------------------------------------------------------------------------

    def price_fen(self, rows: np.ndarray, query: ParsedQuery) -> np.ndarray:
        """Unit price in fen by the contract's rule for this query, for each row."""
        if query.dropship:
            return self.dropship_p.take(rows)
        if query.quantity is not None:
            q = query.quantity
            tq, tp = self.tier_q[rows], self.tier_p[rows]
            last = (tq <= q).sum(axis=1) - 1  # the last tier whose min_qty <= q
            price = tp[np.arange(len(rows)), np.maximum(last, 0)]
            return np.where(last >= 0, price, _NO_PRICE)  # below MOQ: no price
        return self.moq_p.take(rows)  # a contiguous copy: take() gathers 3-4x faster

    # --- searching ---------------------------------------------------------------------------

    def search(self, query: str | ParsedQuery, limit: int = 10, offset: int = 0) -> SearchResult:
        """Search with a parsed query, or with text parsed by the index's parser."""
        if isinstance(query, str):
            query = (self.parser or default_parser()).parse(query)
        result = SearchResult(query=query)
        if not _searchable(query):
            result.empty_reason = EmptyReason("intent", f"这不是找货的问题（{query.intent.value}）")
            return result
        rows, terms = self._candidates(query)
        if rows is None:
            rows = np.arange(len(self.ids), dtype=np.int32)
        if len(rows) == 0:
            asked = list(query.keywords) or list(query.materials) or [query.normalized]
            result.empty_reason = EmptyReason(
                "keywords", f"没有找到与“{'、'.join(asked)}”相关的货", asked=asked
            )
            return result
        rows, reason = self._constrain(rows, query)
        if reason is not None:
            result.empty_reason = reason
            return result
        result.total = len(rows)
        result.price_bands = self.price_bands(rows, query)
        scores = self._score(rows, query, terms)
        if len(rows) > RERANK:  # only the best RERANK need an order: O(n), not a full sort
            best = np.argpartition(-scores, RERANK)[:RERANK]
            rows, scores = rows[best], scores[best]
        order = np.argsort(-scores, kind="stable")
        top = rows[order]
        top_scores = scores[order]
        if query.keywords:
            text = " ".join(query.keywords)
            fuzzy = np.array(
                [fuzz.token_set_ratio(text, self.norm_titles[i]) / 100 for i in top], np.float64
            )
            top_scores = top_scores + 0.4 * fuzzy
            reorder = np.argsort(-top_scores, kind="stable")
            top, top_scores = top[reorder], top_scores[reorder]
        result.top_leaves = self._leaf_counts(top[:TOP_LEAVES_OF])
        page = slice(offset, offset + limit)
        prices = self.price_fen(top[page], query)
        for i, score, price in zip(top[page], top_scores[page], prices, strict=True):
            result.results.append(self._hit(int(i), float(score), int(price)))
        return result

    def _hit(self, i: int, score: float, price_fen: int) -> Hit:
        fid = self.factory_ids[i]
        name, city, _, badges = self.factories[fid]
        return Hit(
            offer_id=self.ids[i],
            title=self.titles[i],
            score=score,
            unit_price=_yuan(price_fen),
            dropship_price=None if self.dropship_p[i] == _NO_PRICE else _yuan(self.dropship_p[i]),
            moq=int(self.moq[i]),
            factory_id=fid,
            factory_name=name,
            city=city,
            badges=list(badges),
            category_top=self.top_names[self.top_of[i]],
            category_leaf=self.leaf_names[self.leaf_of[i]],
        )

    def _leaf_counts(self, rows: np.ndarray) -> list[tuple[str, int]]:
        """Leaves of ``rows`` (ranked) with counts, most common first; ties: first ranked."""
        counts: dict[int, int] = {}
        for leaf in self.leaf_of[rows].tolist():
            counts[leaf] = counts.get(leaf, 0) + 1
        ranked = sorted(counts.items(), key=lambda item: -item[1])  # stable: rank order kept
        return [(self.leaf_names[leaf], n) for leaf, n in ranked]

    def price_bands(
        self, rows: np.ndarray, query: ParsedQuery
    ) -> list[tuple[Decimal | None, Decimal | None]]:
        """Up to three price bands over ``rows``, by the price the query's constraints use.

        Cuts sit near the thirds of the prices, at round amounts (at most two significant
        digits: 30, 45, 1.2, 2500); a cut that no round amount can make without leaving a
        band empty is left out, so close prices (57.00 and 57.10) give fewer bands, and one
        distinct price none. Bands share their bounds (both inclusive, as the query's), so
        together they cover every row; each band holds a price no earlier band holds. The
        outer ends are the query's own price bounds, None when it has none.
        O(len(rows)): the thirds come from a sorted sample of at most 2,048 prices (all of
        them when there are fewer), never a sort of all rows.
        """
        if len(rows) < 2:
            return []
        prices = self.price_fen(rows, query)
        if prices.max() == _NO_PRICE:
            prices = prices[prices != _NO_PRICE]
            if len(prices) < 2:
                return []
        low, high = int(prices.min()), int(prices.max())
        if low == high:
            return []
        # a sorted sample (every price when there are few): the thirds, and prices that
        # surely exist, so a band built on them is never empty
        sample = np.sort(prices[:: -(-len(prices) // _BAND_SAMPLE)])

        def after(value: int) -> int | None:
            """The smallest price above ``value``: from the sample, else from all prices."""
            k = int(np.searchsorted(sample, value, side="right"))
            if k < len(sample):
                return int(sample[k])
            rest = np.where(prices > value, prices, _NO_PRICE).min()
            return None if rest == _NO_PRICE else int(rest)

        third, two_thirds = int(sample[len(sample) // 3]), int(sample[2 * len(sample) // 3])
        # the first cut leaves the lowest price below it and some price at or above it
        target = third if third > low else after(low)
        first = None if target is None else _round_cut(target, lambda c: low < c <= high)
        if first is None:
            return []
        cuts = [first]
        # the middle band's lowest price (or one that exists, at or above the cut)
        floor = after(first - 1)  # never None: the highest price is at or above the cut
        if floor is not None:
            target = two_thirds if two_thirds > floor else after(floor)
            second = None if target is None else _round_cut(target, lambda c: floor < c <= high)
            if second is not None:
                cuts.append(second)
        # the outer ends keep the query's own bounds, so a band applied in place of them
        # (price_min, price_max = band) narrows this search and never widens it
        edges = [query.price_min, *(_yuan(c) for c in cuts), query.price_max]
        return list(itertools.pairwise(edges))

    # --- bundles (搭配购) -----------------------------------------------------------------------

    def bundle_for(self, offer_id: str, bundle_tags: Sequence[str], limit: int = 3) -> list[Hit]:
        """Up to ``limit`` offers to sell beside ``offer_id``, from its ``bundle_tags``.

        A tag names a leaf (腰带), a top category (配饰), or a word the parser's lexicon maps
        to either (皮带, 饰品); failing that, the offers whose words contain it. Offers of
        the offer's own leaf, and the offer itself, are never suggested. One offer per tag
        in tag order first, then more from the tags in turn; within a tag the best by the
        quality score (ties: the lower row, so the answer is deterministic). Only active
        offers are in the index. Each hit's price is the MOQ unit price; its score the
        quality. Unknown tags are skipped; an offer not in the index (inactive, unknown)
        is excluded by id only.
        """
        row = self._row_of(offer_id)
        own_leaf = -1 if row is None else int(self.leaf_of[row])
        queues: list[np.ndarray] = []
        seen: set[tuple[str, str]] = set()
        for tag in bundle_tags:
            key = self._resolve_tag(tag)
            if key is None or key in seen:
                continue
            seen.add(key)
            ordered = self._best_first(key)
            ordered = ordered[self.leaf_of[ordered] != own_leaf]
            if row is not None:
                ordered = ordered[ordered != row]
            if len(ordered):
                queues.append(ordered)
        picked: list[int] = []
        positions = [0] * len(queues)
        progressed = True
        while progressed and len(picked) < limit:
            progressed = False
            for k, ordered in enumerate(queues):  # round by round: each tag's next best
                if len(picked) >= limit:
                    break
                pos = positions[k]
                while pos < len(ordered) and int(ordered[pos]) in picked:
                    pos += 1  # the same offer under two tags (配饰 and 腰带): once
                if pos < len(ordered):
                    picked.append(int(ordered[pos]))
                    pos += 1
                    progressed = True
                positions[k] = pos
        return [self._hit(i, float(self.quality[i]), int(self.tier_p[i, 0])) for i in picked]

    def _resolve_tag(self, tag: str) -> tuple[str, str] | None:
        """("leaf" | "top" | "word", name) for a bundle tag, or None when nothing has it."""
        word = normalize(tag)
        if not word:
            return None
        if self._tag_names is None:
            self._tag_names = (
                {normalize(name): name for name in self.leaf_names},
                {normalize(name): name for name in self.top_names},
            )
        leaves, tops = self._tag_names
        if tag in self.leaves or word in leaves:
            return "leaf", tag if tag in self.leaves else leaves[word]
        if tag in self.tops or word in tops:
            return "top", tag if tag in self.tops else tops[word]
        lexicon = self.parser.lexicon if self.parser is not None else None
        if lexicon is not None:
            leaf = lexicon.categories.get(word)
            if leaf in self.leaves:
                return "leaf", leaf
            top = lexicon.tops.get(word)
            if top in self.tops:
                return "top", top
        if word in self.postings:
            return "word", word
        return None

    def _best_first(self, key: tuple[str, str]) -> np.ndarray:
        """The offers of a resolved tag that have a price, best quality first (cached)."""
        cached = self._by_quality.get(key)
        if cached is not None:
            return cached
        kind, name = key
        if kind == "leaf":
            rows = self.leaf_rows[self.leaves[name]]
        elif kind == "top":
            rows = self.top_rows[self.tops[name]]
        else:
            rows = self.postings[name]
        rows = rows[self.tier_p[rows, 0] != _NO_PRICE]
        ordered = rows[np.argsort(-self.quality[rows], kind="stable")]  # rows are ascending
        self._by_quality[key] = ordered
        return ordered

    def _hash_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted hashes of the offer ids, their rows): 16 bytes an offer, where a dict of
        ids would take 70; 0.2 s at a million offers, so built with the index."""
        hashes = np.fromiter(map(hash, self.ids), np.int64, count=len(self.ids))
        order = np.argsort(hashes, kind="stable")
        return hashes[order], order

    def _row_of(self, offer_id: str) -> int | None:
        """The row of an offer id, or None when the index does not have it."""
        if self._id_hashes is None:
            self._id_hashes = self._hash_ids()
        hashes, order = self._id_hashes
        h = hash(offer_id)
        start = int(np.searchsorted(hashes, h, side="left"))
        stop = int(np.searchsorted(hashes, h, side="right"))
        for k in range(start, stop):
            if self.ids[order[k]] == offer_id:
                return int(order[k])
        return None

    def _candidates(self, query: ParsedQuery) -> tuple[np.ndarray | None, list[str]]:
        """The recognized category's offers, else offers sharing a keyword, else (no goods
        named) offers that have a named material; None when the query names neither goods
        nor materials (constraints alone then pick from every offer)."""
        terms = [self._top_word(k) for k in query.keywords]
        terms = [t for t in terms if t in self.postings]
        if query.category is not None and query.category in self.leaves:
            # the goods asked for, whatever their titles call them; other goods that only
            # mention the word (连衣裙收纳袋) are not what was asked for
            return self.leaf_rows[self.leaves[query.category]], terms
        lists = [self.postings[t] for t in terms]
        if not query.keywords and query.category is None and query.materials:
            # "纯棉": the goods made of it (its word is in their attributes or titles)
            words = (normalize(m) for m in query.materials)
            lists = [self.postings[w] for w in words if w in self.postings]
            return (self._union(lists) if lists else np.zeros(0, np.int32)), []
        if not lists:
            return (
                None if not query.keywords and query.category is None else np.zeros(0, np.int32)
            ), []
        return self._union(lists), terms

    def _constrain(
        self, rows: np.ndarray, query: ParsedQuery
    ) -> tuple[np.ndarray, EmptyReason | None]:
        """Apply every hard constraint in turn; the first that empties the list is named."""
        checks: list[tuple[str, Any]] = []
        if query.dropship:
            checks.append(("dropship", lambda r: self.dropship[r]))
        if query.quantity is not None and not query.dropship:
            checks.append(("quantity", lambda r: self.moq[r] <= query.quantity))
        if query.price_max is not None:
            cap = _fen(query.price_max)
            checks.append(("price_max", lambda r: self.price_fen(r, query) <= cap))
        if query.price_min is not None:
            floor = _fen(query.price_min)
            checks.append(
                (
                    "price_min",
                    lambda r: (
                        (self.price_fen(r, query) >= floor)
                        & (self.price_fen(r, query) != _NO_PRICE)
                    ),
                )
            )
        for color in query.colors:
            checks.append(("colors", self._member(self.colors.get(color))))
        for size in query.sizes:
            checks.append(("sizes", self._member(self.sizes.get(size.lower()))))
        for kind in query.customization:
            checks.append(("customization", self._member(self.kinds.get(kind))))
        if query.region is not None:
            in_region = self._region_rows(query.region)
            checks.append(("region", self._member(in_region)))
        for badge in query.badges:
            checks.append(("badges", self._member(self.badges.get(badge))))
        for name, check in checks:
            kept = rows[check(rows)]
            if len(kept) == 0:
                return kept, self._explain(name, rows, query)
            rows = kept
        return rows, None

    def _top_word(self, keyword: str) -> str:
        """饰品, 首饰 → the top category's own name, which every offer of it carries."""
        tops = self.parser.lexicon.tops if self.parser is not None else {}
        return normalize(tops.get(keyword, keyword))

    def _region_rows(self, region: str) -> np.ndarray:
        lists = [self.cities[region]] if region in self.cities else []
        lists += [ids for belt, ids in self.belts.items() if belt.startswith(region)]
        return self._union(lists) if lists else np.zeros(0, np.int32)

    def _union(self, lists: list[np.ndarray]) -> np.ndarray:
        """Sorted union of posting lists through the bitmap: no sort of 300,000 ids."""
        if len(lists) == 1:
            return lists[0]
        scratch = self._scratch
        for ids in lists:
            scratch[ids] = True
        rows = np.flatnonzero(scratch).astype(np.int32)
        scratch[rows] = False
        return rows

    def _in(self, rows: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """Which ``rows`` are in ``allowed``: a scratch bitmap, O(len) instead of a sort.

        Searches run one at a time per index (the bot's event loop), so one bitmap serves.
        """
        scratch = self._scratch
        scratch[allowed] = True
        found = scratch[rows]
        scratch[allowed] = False
        return found

    def _member(self, allowed: np.ndarray | None) -> Any:
        if allowed is None or len(allowed) == 0:
            return lambda r: np.zeros(len(r), bool)
        return lambda r: self._in(r, allowed)

    def _explain(self, name: str, rows: np.ndarray, query: ParsedQuery) -> EmptyReason:
        """Why nothing is left, with the nearest thing the other constraints allow."""
        if name == "dropship":
            least = int(self.moq[rows].min())
            return EmptyReason(name, "这些货都不支持一件代发，只能批发", f"{least}件起批")
        if name == "quantity":
            least = int(self.moq[rows].min())
            return EmptyReason(
                name,
                f"{query.quantity}件达不到起批量，最少{least}件起批",
                str(least),
                asked=[str(query.quantity)],
                options=[str(least)],
            )
        prices = self.price_fen(rows, query)
        prices = prices[prices != _NO_PRICE]
        if name in ("price_max", "price_min"):
            bound = query.price_max if name == "price_max" else query.price_min
            asked = [f"{bound:.2f}"]
            words = "以内" if name == "price_max" else "以上"
            if len(prices) == 0:
                return EmptyReason(name, f"{bound}元{words}没有", asked=asked)
            nearest = _yuan(prices.min() if name == "price_max" else prices.max())
            extreme = "最低" if name == "price_max" else "最高"
            return EmptyReason(
                name,
                f"{bound}元{words}没有，{extreme}{nearest}元",
                str(nearest),
                asked=asked,
                options=[str(nearest)],
            )
        if name in ("colors", "sizes"):
            table = self.colors if name == "colors" else self.sizes
            have = self._most_common(table, rows)
            if name == "sizes":
                have = [self.size_names.get(size, size) for size in have]
            asked = list(query.colors if name == "colors" else query.sizes)
            return EmptyReason(
                name,
                f"没有{'、'.join(asked)}有货的，有货的有：{'、'.join(have) or '无'}",
                "、".join(have) or None,
                asked=asked,
                options=have,
            )
        if name == "customization":
            kinds = list(query.customization)
            return EmptyReason(name, f"这些货都不提供{'、'.join(kinds)}定制", asked=kinds)
        if name == "region":
            counts = np.bincount(self.city_of[rows], minlength=len(self.city_names))
            order = np.argsort(-counts, kind="stable")  # ties: city names in order
            best = [self.city_names[c] for c in order[:3] if counts[c]]
            return EmptyReason(
                name,
                f"{query.region}没有这类货，货源在：{'、'.join(best)}",
                "、".join(best),
                asked=[query.region or ""],
                options=best,
            )
        named = "、".join(BADGE_NAMES.get(b, b) for b in query.badges)
        return EmptyReason(
            name,
            f"没有{named}供应，其他工厂有{len(rows)}个",
            str(len(rows)),
            asked=list(query.badges),
        )

    def _most_common(self, table: dict[str, np.ndarray], rows: np.ndarray) -> list[str]:
        """The values of ``table`` (color → offers) most common among ``rows``, best first.

        Done from the rows' side: a bitmap of the rows, then one look-up per value list,
        with no sorting of the (long) lists.
        """
        scratch = self._scratch
        scratch[rows] = True
        counts = {value: int(scratch[ids].sum()) for value, ids in table.items()}
        scratch[rows] = False
        ranked = sorted((v for v, c in counts.items() if c), key=lambda v: (-counts[v], v))
        return ranked[:5]

    def _score(self, rows: np.ndarray, query: ParsedQuery, terms: list[str]) -> np.ndarray:
        scores = 0.3 * self.quality[rows]
        unknown = math.log(1 + len(self.ids))  # a word no offer has weighs like the rarest
        total_idf = sum(self.idf.get(self._top_word(k), unknown) for k in query.keywords)
        if terms and total_idf > 0:
            matched = np.zeros(len(rows), np.float64)
            for term in terms:
                matched += self.idf[term] * self._in(rows, self.postings[term])
            scores += 1.0 * matched / total_idf
        if query.category is not None and query.category in self.leaves:
            scores += 1.0 * (self.leaf_of[rows] == self.leaves[query.category])
        if query.materials:
            has = np.zeros(len(rows), np.float64)
            for wanted in query.materials:
                ids = [k for k, name in enumerate(self.material_names) if wanted.lower() in name]
                has += np.isin(self.material_of[rows], ids)
            scores += 0.5 * has / len(query.materials)
        return scores


class SearchService:
    """The parser and the index together; rebuilt when the store has a newer import."""

    def __init__(self, engine: AsyncEngine, parser: Parser) -> None:
        self.engine = engine
        self.parser = parser
        self.index: SearchIndex | None = None

    async def refresh(self) -> bool:
        """Build the index if there is none or the catalog changed since; True if rebuilt."""
        async with self.engine.connect() as conn:
            latest = await latest_import_id(conn)
        if self.index is not None and self.index.import_id == latest:
            return False
        self.index = await SearchIndex.build(self.engine, self.parser)
        return True

    def search(self, text: str, limit: int = 10, offset: int = 0) -> SearchResult:
        if self.index is None:
            raise RuntimeError("call refresh() first")
        return self.index.search(self.parser.parse(text), limit=limit, offset=offset)
