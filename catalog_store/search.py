"""Catalog search: an in-memory index over the store, hard constraints, ranking.

How a query is answered:

1. **Parse** with ``nlu`` (typos fixed, slots read).
2. **Retrieve** candidates: when the parser recognized a leaf category, that leaf's offers
   (so 裙子 and 长裙 find dresses whatever their titles say, and a 连衣裙收纳袋 is not a
   dress); otherwise every offer whose stored title tokens, seller keywords or leaf name
   contain a query keyword, from an inverted index. No scan of all offers; a query with
   constraints but no goods words starts from all offers.
3. **Constrain**, over *all* candidates before any cut: price bounds by the contract's
   rule (the drop-ship price when drop-ship is asked, the price at the asked quantity when
   one is given, else the MOQ unit price), drop-ship offered, a color or size in stock, a
   customization kind offered, region (city or industrial belt), badges. Nothing is traded
   for text similarity. When the constraints leave nothing, ``empty_reason`` names the one
   that emptied the list and the nearest relaxation (50元以内没有，最低58.00元).
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

The index is built once from the store and rebuilt by ``SearchService.refresh`` when a
newer import exists. Why our own index and not SQLite FTS5: measured by
``bench/retrieval_engines.py`` on the same stored tokens, FTS5 retrieval is 12-40x slower
(p99 17 ms at a million offers, over the whole query's budget); see docs/benchmarks.md.
No Telegram here; result texts are data for the handlers to render.
"""

from __future__ import annotations

import functools
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
        }


@dataclass(frozen=True)
class EmptyReason:
    """Which constraint emptied the result, and the nearest thing that exists."""

    constraint: str  # keywords, dropship, price_max, price_min, colors, sizes, customization,
    # region, badges, intent
    text: str  # in Chinese, for the CLI and as the handlers' default
    nearest: str | None = None


@dataclass
class SearchResult:
    query: ParsedQuery
    results: list[Hit] = field(default_factory=list)
    total: int = 0  # offers that meet every constraint
    empty_reason: EmptyReason | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "query": self.query.as_json(),
            "results": [h.as_json() for h in self.results],
            "total": self.total,
            "empty_reason": None if self.empty_reason is None else self.empty_reason.text,
        }


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
        self.moq: np.ndarray = np.zeros(0, np.int64)
        self.tier_q: np.ndarray = np.zeros((0, MAX_TIERS), np.int64)
        self.tier_p: np.ndarray = np.zeros((0, MAX_TIERS), np.int64)
        self.dropship: np.ndarray = np.zeros(0, bool)
        self.dropship_p: np.ndarray = np.zeros(0, np.int64)
        self.quality: np.ndarray = np.zeros(0, np.float64)
        self.material_names: list[str] = []  # distinct 材质 values, lower case
        self.material_of: np.ndarray = np.zeros(0, np.int32)
        self._scratch: np.ndarray = np.zeros(0, bool)
        self.colors: dict[str, np.ndarray] = {}
        self.sizes: dict[str, np.ndarray] = {}
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
                            sizes[size.lower()].add(i)
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
        order = np.argsort(leaf_of, kind="stable").astype(np.int32)
        bounds = np.searchsorted(leaf_of[order], np.arange(len(self.leaves) + 1))
        self.leaf_rows = [order[bounds[k] : bounds[k + 1]] for k in range(len(self.leaves))]
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
        self.colors = {k: np.fromiter(sorted(v), np.int32) for k, v in colors.items()}
        self.sizes = {k: np.fromiter(sorted(v), np.int32) for k, v in sizes.items()}
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
            return self.dropship_p[rows]
        if query.quantity is not None:
            q = query.quantity
            tq, tp = self.tier_q[rows], self.tier_p[rows]
            last = (tq <= q).sum(axis=1) - 1  # the last tier whose min_qty <= q
            price = tp[np.arange(len(rows)), np.maximum(last, 0)]
            return np.where(last >= 0, price, _NO_PRICE)  # below MOQ: no price
        return self.tier_p[rows, 0]

    # --- searching ---------------------------------------------------------------------------

    def search(self, query: str | ParsedQuery, limit: int = 10, offset: int = 0) -> SearchResult:
        """Search with a parsed query, or with text parsed by the index's parser."""
        if isinstance(query, str):
            query = (self.parser or default_parser()).parse(query)
        result = SearchResult(query=query)
        if query.intent not in (Intent.search, Intent.customize):
            result.empty_reason = EmptyReason("intent", f"这不是找货的问题（{query.intent.value}）")
            return result
        rows, terms = self._candidates(query)
        if rows is None:
            rows = np.arange(len(self.ids), dtype=np.int32)
        if len(rows) == 0:
            words = "、".join(query.keywords) or query.normalized
            result.empty_reason = EmptyReason("keywords", f"没有找到与“{words}”相关的货")
            return result
        rows, reason = self._constrain(rows, query)
        if reason is not None:
            result.empty_reason = reason
            return result
        result.total = len(rows)
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
        prices = self.price_fen(top, query)
        for i, score, price in list(zip(top, top_scores, prices, strict=True))[
            offset : offset + limit
        ]:
            fid = self.factory_ids[i]
            name, city, _, badges = self.factories[fid]
            result.results.append(
                Hit(
                    offer_id=self.ids[i],
                    title=self.titles[i],
                    score=float(score),
                    unit_price=_yuan(price),
                    dropship_price=None
                    if self.dropship_p[i] == _NO_PRICE
                    else _yuan(self.dropship_p[i]),
                    moq=int(self.moq[i]),
                    factory_id=fid,
                    factory_name=name,
                    city=city,
                    badges=list(badges),
                )
            )
        return result

    def _candidates(self, query: ParsedQuery) -> tuple[np.ndarray | None, list[str]]:
        """The recognized category's offers, else offers sharing a keyword; None when the
        query names no goods at all (constraints alone then pick from every offer)."""
        terms = [self._top_word(k) for k in query.keywords]
        terms = [t for t in terms if t in self.postings]
        if query.category is not None and query.category in self.leaves:
            # the goods asked for, whatever their titles call them; other goods that only
            # mention the word (连衣裙收纳袋) are not what was asked for
            return self.leaf_rows[self.leaves[query.category]], terms
        lists = [self.postings[t] for t in terms]
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
            return EmptyReason(
                name, "这些货都不支持一件代发，只能批发", f"{int(self.moq[rows].min())}件起批"
            )
        if name == "quantity":
            least = int(self.moq[rows].min())
            return EmptyReason(
                name, f"{query.quantity}件达不到起批量，最少{least}件起批", str(least)
            )
        prices = self.price_fen(rows, query)
        prices = prices[prices != _NO_PRICE]
        if name == "price_max":
            if len(prices) == 0:
                return EmptyReason(name, f"{query.price_max}元以内没有")
            lowest = _yuan(prices.min())
            return EmptyReason(name, f"{query.price_max}元以内没有，最低{lowest}元", str(lowest))
        if name == "price_min":
            if len(prices) == 0:
                return EmptyReason(name, f"{query.price_min}元以上没有")
            highest = _yuan(prices.max())
            return EmptyReason(name, f"{query.price_min}元以上没有，最高{highest}元", str(highest))
        if name in ("colors", "sizes"):
            table = self.colors if name == "colors" else self.sizes
            have = self._most_common(table, rows)
            asked = "、".join(query.colors if name == "colors" else query.sizes)
            return EmptyReason(
                name,
                f"没有{asked}有货的，有货的有：{'、'.join(have) or '无'}",
                "、".join(have) or None,
            )
        if name == "customization":
            return EmptyReason(name, f"这些货都不提供{'、'.join(query.customization)}定制")
        if name == "region":
            counts: dict[str, int] = defaultdict(int)
            for i in rows:
                counts[self.city_names[self.city_of[i]]] += 1
            best = sorted(counts, key=lambda c: -counts[c])[:3]
            return EmptyReason(
                name, f"{query.region}没有这类货，货源在：{'、'.join(best)}", "、".join(best)
            )
        named = "、".join(BADGE_NAMES.get(b, b) for b in query.badges)
        return EmptyReason(name, f"没有{named}供应，其他工厂有{len(rows)}个", str(len(rows)))

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
