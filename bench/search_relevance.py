"""Search relevance on a labelled query set: the engine beside two baselines, per bucket.

    .venv/bin/python bench/search_relevance.py                    # both catalogs, all systems
    .venv/bin/python bench/search_relevance.py --only-baselines --bucket typos
    .venv/bin/python bench/search_relevance.py --rules-only       # relevant-offer counts only

The labelled set is ``bench/relevance/queries.jsonl`` (see ``bench/relevance/README.md``):
each query carries a relevance rule over structured fields (leaf category, SKU colour and
size with stock, material, attributes, drop-ship, price by the catalog contract's rule,
customization kind, factory region and badges), never over the title text. The rules were
written before the engine was tuned.

For each catalog (the demo catalog, seed 1688, and a second one, seed 7; 10,000 offers
each, generated once into ``data/bench/`` and reused) the script imports it into a scratch
SQLite store, loads every table into memory with one query each, turns every rule into
the set of relevant offer ids and runs three systems with a cut-off of 10:

- engine: ``catalog_store.search.SearchIndex`` on the raw query text (with the parser
  configured from the catalog's lexicon); "not available" while it cannot be imported;
- wratio: rapidfuzz ``process.extract`` with ``fuzz.WRatio`` over the lower-cased titles of
  the active offers, query normalized by ``nlu.normalize.normalize``;
- bm25: Okapi BM25 (k1 1.5, b 0.75) over ``jieba.lcut`` tokens of the lower-cased titles of
  the active offers, query tokens from ``jieba.lcut`` of the normalized query.

It prints P@5, MRR@10 and nDCG@10 (binary gains, ideal from the number of relevant offers)
per bucket and overall, whether the engine meets the target (P@5 >= 0.95 overall, no bucket
under 0.85), the queries with fewer than 5 relevant offers (there should be none), and the
queries where the engine's P@5 is under 0.6 with its top five titles.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import inspect
import json
import logging
import math
import statistics
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jieba
from rapidfuzz import fuzz, process
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

import nlu
from catalog_store import db
from catalog_store.demo_catalog import generate
from catalog_store.importer import import_catalog
from catalog_store.lexicon_source import ensure_catalog_lexicon
from catalog_store.models import CustomizationOption, Factory, Offer, PriceTier, Sku
from nlu.normalize import normalize

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT / "bench" / "relevance" / "queries.jsonl"
DATA_DIR = ROOT / "data" / "bench"
CATALOGS = (("demo", 1688), ("seed7", 7))
BUCKETS = (
    "plain",
    "attribute",
    "dropship",
    "price",
    "region",
    "customization",
    "badge",
    "typos",
    "traditional",
    "fullwidth",
    "colloquial",
    "mixed_english",
)
SYSTEMS = ("engine", "wratio", "bm25")
CUTOFF = 10
MIN_RELEVANT = 5
TARGET_OVERALL = 0.95
TARGET_BUCKET = 0.85
WEAK_P5 = 0.6
BM25_K1 = 1.5
BM25_B = 0.75
RULE_KEYS = frozenset(
    {
        "leaf",
        "top",
        "color",
        "size",
        "material",
        "attr",
        "dropship",
        "price_max",
        "price_min",
        "quantity",
        "customization",
        "region",
        "badge",
    }
)


# ------------------------------------------------------------------ labelled set


@dataclass(frozen=True)
class Query:
    id: str
    bucket: str
    text: str
    rule: dict[str, Any]
    note: str = ""


def load_queries(path: Path) -> list[Query]:
    queries: list[Query] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as lines:
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            d = json.loads(line)
            where = f"{path.name}:{n}"
            if d["id"] in seen:
                raise ValueError(f"{where}: duplicate id {d['id']}")
            seen.add(d["id"])
            if d["bucket"] not in BUCKETS:
                raise ValueError(f"{where}: unknown bucket {d['bucket']!r}")
            rule = d["rule"]
            unknown = set(rule) - RULE_KEYS
            if unknown:
                raise ValueError(f"{where}: unknown rule keys {sorted(unknown)}")
            if not rule:
                raise ValueError(f"{where}: empty rule")
            queries.append(Query(d["id"], d["bucket"], d["query"], rule, d.get("note", "")))
    return queries


# ------------------------------------------------------------------ catalog in memory


@dataclass
class FactoryData:
    city: str
    belt: str
    badges: frozenset[str]


@dataclass
class SkuData:
    color: str | None
    size: str | None
    price: Decimal | None
    stock: int


@dataclass
class OfferData:
    id: str
    title: str
    top: str
    leaf: str
    attributes: dict[str, Any]
    moq: int
    active: bool
    dropship: bool
    dropship_price: Decimal | None
    factory: FactoryData
    tiers: list[tuple[int, Decimal]] = field(default_factory=list)
    skus: list[SkuData] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)


async def load_offers(engine: AsyncEngine) -> list[OfferData]:
    """Every offer with its factory, tiers, SKUs and options: one query per table."""
    f, o, t, s, c = (
        Factory.__table__,
        Offer.__table__,
        PriceTier.__table__,
        Sku.__table__,
        CustomizationOption.__table__,
    )
    async with engine.connect() as conn:
        factories = {
            r.id: FactoryData(r.city, r.industrial_belt or "", frozenset(r.badges or ()))
            for r in await conn.execute(select(f.c.id, f.c.city, f.c.industrial_belt, f.c.badges))
        }
        offers: dict[str, OfferData] = {}
        rows = await conn.execute(
            select(
                o.c.id,
                o.c.title,
                o.c.category_top,
                o.c.category_leaf,
                o.c.attributes,
                o.c.moq,
                o.c.active,
                o.c.dropship_supported,
                o.c.dropship_price,
                o.c.factory_id,
            ).order_by(o.c.id)
        )
        for r in rows:
            offers[r.id] = OfferData(
                id=r.id,
                title=r.title,
                top=r.category_top,
                leaf=r.category_leaf,
                attributes=r.attributes or {},
                moq=r.moq,
                active=r.active,
                dropship=r.dropship_supported,
                dropship_price=r.dropship_price,
                factory=factories[r.factory_id],
            )
        for r in await conn.execute(
            select(t.c.offer_id, t.c.min_qty, t.c.price).order_by(t.c.offer_id, t.c.min_qty)
        ):
            offers[r.offer_id].tiers.append((r.min_qty, r.price))
        for r in await conn.execute(
            select(s.c.offer_id, s.c.color, s.c.size, s.c.price, s.c.stock).order_by(
                s.c.offer_id, s.c.position
            )
        ):
            offers[r.offer_id].skus.append(SkuData(r.color, r.size, r.price, r.stock))
        for r in await conn.execute(select(c.c.offer_id, c.c.kind)):
            offers[r.offer_id].kinds.add(r.kind)
    return list(offers.values())


# ------------------------------------------------------------------ relevance rules


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def rule_price(rule: dict[str, Any], offer: OfferData) -> Decimal | None:
    """The price a buyer's price wish is checked against (catalog contract, "Prices")."""
    if rule.get("dropship"):
        return offer.dropship_price
    if not offer.tiers:
        return None
    quantity = rule.get("quantity")
    tier_price = offer.tiers[0][1]  # the MOQ unit price
    if quantity is not None:
        for min_qty, price in offer.tiers:
            if min_qty <= quantity:
                tier_price = price
    if any(sku.price is not None for sku in offer.skus):
        # a SKU's own price is flat at every quantity; the others follow the tiers
        return min(tier_price if sku.price is None else sku.price for sku in offer.skus)
    return tier_price


def is_relevant(rule: dict[str, Any], offer: OfferData) -> bool:
    """Whether ``offer`` satisfies every condition of ``rule`` (and is on sale)."""
    if not offer.active:
        return False
    if "leaf" in rule and offer.leaf not in _as_list(rule["leaf"]):
        return False
    if "top" in rule and offer.top not in _as_list(rule["top"]):
        return False
    if "color" in rule:
        colors = _as_list(rule["color"])
        if not any(s.color in colors and s.stock > 0 for s in offer.skus):
            return False
    if "size" in rule:
        sizes = _as_list(rule["size"])
        if not any(s.size in sizes and s.stock > 0 for s in offer.skus):
            return False
    if "material" in rule:
        material = str(offer.attributes.get("材质") or "")
        if not material or not any(m in material for m in _as_list(rule["material"])):
            return False
    for key, value in (rule.get("attr") or {}).items():
        if offer.attributes.get(key) not in _as_list(value):
            return False
    if rule.get("dropship") and not offer.dropship:
        return False
    quantity = rule.get("quantity")
    if quantity is not None and not rule.get("dropship") and offer.moq > quantity:
        return False
    if "price_max" in rule or "price_min" in rule:
        price = rule_price(rule, offer)
        if price is None:
            return False
        if "price_max" in rule and price > Decimal(str(rule["price_max"])):
            return False
        if "price_min" in rule and price < Decimal(str(rule["price_min"])):
            return False
    if "customization" in rule and not offer.kinds & set(_as_list(rule["customization"])):
        return False
    if "region" in rule:
        regions = _as_list(rule["region"])
        fac = offer.factory
        if not any(fac.city == r or fac.belt.startswith(r) for r in regions):
            return False
    return not ("badge" in rule and not offer.factory.badges & set(_as_list(rule["badge"])))


# ------------------------------------------------------------------ metrics


def precision_at(ranked: Sequence[str], relevant: set[str], k: int = 5) -> float:
    return sum(1 for oid in ranked[:k] if oid in relevant) / k


def mrr_at(ranked: Sequence[str], relevant: set[str], k: int = CUTOFF) -> float:
    for rank, oid in enumerate(ranked[:k], 1):
        if oid in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranked: Sequence[str], relevant: set[str], k: int = CUTOFF) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, oid in enumerate(ranked[:k]) if oid in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return dcg / ideal if ideal else 0.0


# ------------------------------------------------------------------ baselines


class WRatioBaseline:
    """rapidfuzz WRatio of the normalized query against every active title."""

    def __init__(self, offers: list[OfferData]) -> None:
        active = [o for o in offers if o.active]
        self.ids = [o.id for o in active]
        self.titles = [o.title.lower() for o in active]

    def search(self, text: str) -> list[str]:
        query = normalize(text)
        if not query:
            return []
        hits = process.extract(query, self.titles, scorer=fuzz.WRatio, limit=CUTOFF)
        return [self.ids[index] for _, _, index in hits]


def _tokens(text: str) -> list[str]:
    return [t for t in jieba.lcut(text) if t.strip()]


class BM25Baseline:
    """Okapi BM25 over jieba tokens of the lower-cased active titles."""

    def __init__(self, offers: list[OfferData], k1: float = BM25_K1, b: float = BM25_B) -> None:
        active = [o for o in offers if o.active]
        self.ids = [o.id for o in active]
        self.k1, self.b = k1, b
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths: list[int] = []
        for doc, offer in enumerate(active):
            tokens = _tokens(offer.title.lower())
            lengths.append(len(tokens))
            for term, tf in Counter(tokens).items():
                self.postings[term].append((doc, tf))
        self.lengths = lengths
        self.avgdl = (sum(lengths) / len(lengths)) if lengths else 0.0
        n = len(active)
        self.idf = {
            term: math.log((n - len(docs) + 0.5) / (len(docs) + 0.5) + 1.0)
            for term, docs in self.postings.items()
        }

    def search(self, text: str) -> list[str]:
        scores: dict[int, float] = defaultdict(float)
        k1, b, avgdl = self.k1, self.b, self.avgdl
        for term in dict.fromkeys(_tokens(normalize(text))):
            idf = self.idf.get(term)
            if idf is None:
                continue
            for doc, tf in self.postings[term]:
                norm = k1 * (1.0 - b + b * self.lengths[doc] / avgdl)
                scores[doc] += idf * tf * (k1 + 1.0) / (tf + norm)
        best = heapq.nsmallest(CUTOFF, scores.items(), key=lambda item: (-item[1], item[0]))
        return [self.ids[doc] for doc, _ in best]


# ------------------------------------------------------------------ the engine


def _engine_class() -> tuple[Any, str]:
    try:
        from catalog_store.search import SearchIndex
    except Exception as exc:  # the engine is written in parallel: absent or half-done
        return None, f"{type(exc).__name__}: {exc}"
    return SearchIndex, ""


class EngineSystem:
    def __init__(self, index: Any) -> None:
        self.index = index
        self.errors: list[tuple[str, str]] = []  # (query text, traceback)

    @classmethod
    async def build(cls, search_index: Any, engine: AsyncEngine, parser: Any) -> EngineSystem:
        build = search_index.build
        kwargs = {"parser": parser} if "parser" in inspect.signature(build).parameters else {}
        index = build(engine, **kwargs)
        if inspect.isawaitable(index):
            index = await index
        return cls(index)

    async def search(self, text: str) -> list[str]:
        try:
            result = self.index.search(text, limit=CUTOFF)
            if inspect.isawaitable(result):
                result = await result
            return [hit.offer_id for hit in result.results][:CUTOFF]
        except Exception:
            self.errors.append((text, traceback.format_exc()))
            return []


# ------------------------------------------------------------------ running


@dataclass
class CatalogRun:
    label: str
    seed: int
    n_offers: int
    relevant: dict[str, set[str]]
    ranked: dict[str, dict[str, list[str]]]  # system -> query id -> offer ids
    titles: dict[str, str]
    engine_note: str
    seconds: dict[str, float]


def catalog_dir(seed: int, n_offers: int) -> Path:
    return DATA_DIR / f"relevance-seed{seed}-{n_offers}"


def ensure_catalog(seed: int, n_offers: int) -> Path:
    path = catalog_dir(seed, n_offers)
    if not ((path / "factories.jsonl").is_file() and (path / "offers.jsonl").is_file()):
        generate(path, offers=n_offers, seed=seed)
        print(f"generated {n_offers:,} offers (seed {seed}) into {path}", flush=True)
    return path


async def run_catalog(
    label: str,
    seed: int,
    n_offers: int,
    queries: list[Query],
    only_baselines: bool,
    rules_only: bool,
) -> CatalogRun:
    path = ensure_catalog(seed, n_offers)
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="relevance-") as tmp_name:
        tmp = Path(tmp_name)
        store = await db.scratch_store(f"sqlite+aiosqlite:///{tmp / 'catalog.db'}")
        try:
            engine = store.engine
            started = time.perf_counter()
            imported = await import_catalog(engine, path)
            if not imported.ok:
                raise SystemExit(f"import of {path} failed: {imported.errors[:3]}")
            offers = await load_offers(engine)
            seconds["import+load"] = time.perf_counter() - started
            relevant = {q.id: {o.id for o in offers if is_relevant(q.rule, o)} for q in queries}
            titles = {o.id: o.title for o in offers}
            ranked: dict[str, dict[str, list[str]]] = {}
            engine_note = "skipped (--only-baselines)" if only_baselines else ""
            if rules_only:
                return CatalogRun(label, seed, n_offers, relevant, ranked, titles, "", seconds)
            if not only_baselines:
                search_index, reason = _engine_class()
                if search_index is None:
                    engine_note = f"not available ({reason})"
                else:
                    engine_note, ranked_engine = await _run_engine(
                        search_index, engine, tmp, queries, seconds
                    )
                    if ranked_engine is not None:
                        ranked["engine"] = ranked_engine
            baselines: list[tuple[str, Callable[[], Any]]] = [
                ("wratio", lambda: WRatioBaseline(offers)),
                ("bm25", lambda: BM25Baseline(offers)),
            ]
            for name, make in baselines:
                started = time.perf_counter()
                system = make()
                ranked[name] = {q.id: system.search(q.text) for q in queries}
                seconds[name] = time.perf_counter() - started
        finally:
            await store.close()
    return CatalogRun(label, seed, n_offers, relevant, ranked, titles, engine_note, seconds)


async def _run_engine(
    search_index: Any,
    engine: AsyncEngine,
    tmp: Path,
    queries: list[Query],
    seconds: dict[str, float],
) -> tuple[str, dict[str, list[str]] | None]:
    started = time.perf_counter()
    try:
        lexicon = tmp / "lexicon.json"
        await ensure_catalog_lexicon(engine, lexicon)
        parser = nlu.configure(lexicon)
        system = await EngineSystem.build(search_index, engine, parser)
    except Exception:
        traceback.print_exc()
        return "failed to build (traceback on stderr)", None
    seconds["engine build"] = time.perf_counter() - started
    started = time.perf_counter()
    ranked = {q.id: await system.search(q.text) for q in queries}
    seconds["engine"] = time.perf_counter() - started
    note = ""
    if system.errors:
        text, trace = system.errors[0]
        print(f"engine raised on {len(system.errors)} queries; first ({text!r}):", file=sys.stderr)
        print(trace, file=sys.stderr)
        note = f"raised on {len(system.errors)} queries (counted as no results)"
    return note, ranked


# ------------------------------------------------------------------ report


def _scores(run: CatalogRun, system: str, qs: list[Query]) -> tuple[float, float, float]:
    ranked = run.ranked[system]
    p5 = [precision_at(ranked[q.id], run.relevant[q.id]) for q in qs]
    mrr = [mrr_at(ranked[q.id], run.relevant[q.id]) for q in qs]
    ndcg = [ndcg_at(ranked[q.id], run.relevant[q.id]) for q in qs]
    return statistics.fmean(p5), statistics.fmean(mrr), statistics.fmean(ndcg)


def report(run: CatalogRun, queries: list[Query]) -> None:
    print()
    print(
        f"== catalog {run.label}: seed {run.seed}, {run.n_offers:,} offers, {len(queries)} queries"
    )
    counts = [len(run.relevant[q.id]) for q in queries]
    few = [q for q in queries if len(run.relevant[q.id]) < MIN_RELEVANT]
    print(
        f"relevant offers per query: min {min(counts)}, median {statistics.median(counts):g}, "
        f"max {max(counts)}; queries with fewer than {MIN_RELEVANT}: {len(few) or 'none'}"
    )
    for q in few:
        print(f"  {q.id} [{q.bucket}] {q.text!r}: {len(run.relevant[q.id])} relevant")
    if not run.ranked:
        return
    systems = [s for s in SYSTEMS if s in run.ranked]
    if run.engine_note:
        print(f"engine: {run.engine_note}")
    head = f"{'bucket':14s} {'n':>4s}"
    sub = f"{'':14s} {'':>4s}"
    for s in systems:
        head += f" | {s:^20s}"
        sub += f" | {'P@5':>6s} {'MRR':>6s} {'nDCG':>6s}"
    print(head)
    print(sub)
    print("-" * len(sub))
    by_bucket: dict[str, list[Query]] = defaultdict(list)
    for q in queries:
        by_bucket[q.bucket].append(q)
    engine_p5: dict[str, float] = {}
    rows = [(b, by_bucket[b]) for b in BUCKETS if by_bucket[b]] + [("overall", queries)]
    for name, qs in rows:
        if name == "overall":
            print("-" * len(sub))
        line = f"{name:14s} {len(qs):>4d}"
        for s in systems:
            p5, mrr, ndcg = _scores(run, s, qs)
            if s == "engine":
                engine_p5[name] = p5
            line += f" | {p5:6.3f} {mrr:6.3f} {ndcg:6.3f}"
        print(line)
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in run.seconds.items())
    print(f"time: {timing}")
    if "engine" not in run.ranked:
        return
    overall = engine_p5.pop("overall")
    low = {b: p for b, p in engine_p5.items() if p < TARGET_BUCKET}
    met = overall >= TARGET_OVERALL and not low
    print(
        f"target (engine P@5 >= {TARGET_OVERALL} overall, every bucket >= {TARGET_BUCKET}): "
        f"{'met' if met else 'NOT met'}; overall {overall:.3f}"
        + (f"; low buckets: {', '.join(f'{b} {p:.3f}' for b, p in low.items())}" if low else "")
    )
    weak = [
        q for q in queries if precision_at(run.ranked["engine"][q.id], run.relevant[q.id]) < WEAK_P5
    ]
    print(f"queries with engine P@5 < {WEAK_P5}: {len(weak) or 'none'}")
    for q in weak:
        ranked = run.ranked["engine"][q.id]
        p5 = precision_at(ranked, run.relevant[q.id])
        rule = json.dumps(q.rule, ensure_ascii=False)
        print(f"  {q.id} [{q.bucket}] {q.text!r} P@5 {p5:.1f}, {len(run.relevant[q.id])} relevant")
        print(f"      rule {rule}")
        for oid in ranked[:5]:
            mark = "+" if oid in run.relevant[q.id] else "-"
            print(f"      {mark} {oid} {run.titles.get(oid, '?')}")
        if not ranked:
            print("      (no results)")


def report_rules(runs: list[CatalogRun], queries: list[Query]) -> None:
    """--rules-only: the relevant-offer count of every query in every catalog."""
    print()
    print(f"{'id':6s} {'bucket':14s} " + " ".join(f"{r.label:>7s}" for r in runs) + "  query")
    for q in queries:
        counts = [len(r.relevant[q.id]) for r in runs]
        flag = " <--" if min(counts) < MIN_RELEVANT else ""
        cells = " ".join(f"{n:7d}" for n in counts)
        print(f"{q.id:6s} {q.bucket:14s} {cells}  {q.text}{flag}")
    per_bucket = Counter(q.bucket for q in queries)
    print("queries per bucket: " + ", ".join(f"{b} {per_bucket[b]}" for b in BUCKETS))


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--catalog-offers", type=int, default=10_000, help="offers per catalog (10000)"
    )
    parser.add_argument("--only-baselines", action="store_true", help="skip the engine")
    parser.add_argument("--bucket", choices=BUCKETS, help="only the queries of this bucket")
    parser.add_argument(
        "--rules-only", action="store_true", help="only count relevant offers per query"
    )
    parser.add_argument("--queries", type=Path, default=QUERIES, help="labelled set (.jsonl)")
    args = parser.parse_args(argv)
    if args.catalog_offers < 1:
        parser.error("--catalog-offers must be >= 1")

    jieba.setLogLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    queries = load_queries(args.queries)
    if args.bucket:
        queries = [q for q in queries if q.bucket == args.bucket]
    per_bucket = Counter(q.bucket for q in queries)
    print(
        f"{len(queries)} queries from {_shown(args.queries)}: "
        + ", ".join(f"{b} {per_bucket[b]}" for b in BUCKETS if per_bucket[b])
    )
    runs: list[CatalogRun] = []
    for label, seed in CATALOGS:
        run = asyncio.run(
            run_catalog(
                label, seed, args.catalog_offers, queries, args.only_baselines, args.rules_only
            )
        )
        runs.append(run)
        if not args.rules_only:
            report(run, queries)
    if args.rules_only:
        report_rules(runs, queries)
        for run in runs:
            report(run, queries)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
