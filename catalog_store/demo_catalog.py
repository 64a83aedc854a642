"""Deterministic demo catalog generator.

This module owns the demo catalog: a seeded, realistic 1688-style catalog of factories in
real industrial belts (产业带) and their wholesale offers, written in the catalog interchange
format (``factories.jsonl`` + ``offers.jsonl``, see ``shared/specs/catalog-format.md``) so that
``sourcing-bot catalog import`` can load it like any factory's catalog. The vocabulary
(belts, leaf categories, title words, colours, phone models, customization options) lives in
``catalog_store/demo_data/*.json``; this module only combines it.

The same arguments always give byte-identical files: all randomness comes from one
``random.Random(seed)``, which builds the factories and hands every block of 5,000 offers its
own sub-seed (so blocks can be made in worker processes without changing a byte); nothing
reads the clock, the global ``random`` state or salted ``hash()`` values, and no set is ever
iterated. Offers are streamed to disk block by block, so a million of them need little memory.
Money is computed in integer fen and written as ``fen / 100``, whose shortest float repr is
exactly the two-place decimal (never ``25.499999``).

Usage: ``python -m catalog_store.demo_catalog OUT_DIR [--offers N] [--seed S] [--factories F]``
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import sys
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["generate", "main"]

DATA_DIR = Path(__file__).with_name("demo_data")
IMAGE_BASE = "https://img.example.com/offer"
BLOCK = 5000  # offers per block: each block has its own sub-seed, drawn from the main seed
PARALLEL_MIN = 100_000  # from this many offers on, blocks are generated in worker processes
MAX_WORKERS = 4
MAX_TITLE_CHARS = 38
MAX_SKUS = 40

# nice wholesale quantity steps (起批量 / 阶梯价 breakpoints)
_LADDER = (2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000, 3000, 5000, 10000, 20000)
_TIER_COUNTS = (1, 2, 2, 3, 3, 3, 3, 4, 4)
_BADGE_ORDER = ("super_factory", "power_merchant", "specialized_sme", "little_giant", "trust_pass")
# SKU colour values that are patterns or mixes, not a colour a seller would put in a title
_NOT_TITLE_COLOURS = frozenset({"混色", "彩色", "黑白", "豹纹"})
_LOGO_TOKENS = ("定制logo", "可定制logo", "印logo", "logo定制")
_FASHION_TEMPLATES = (
    ("Y", "S", "A", "M", "N", "P", "W", "C", "E", "N2", "X", "K"),
    ("X", "Y", "S", "N", "P", "A", "W", "M", "E", "N2", "K"),
    ("S", "N", "P", "Y", "A", "W", "M", "C", "X", "N2", "E"),
    ("P", "Y", "S", "M", "N", "A", "W", "C", "X", "N2", "K"),
)
_GOODS_TEMPLATES = (
    ("K", "M", "A", "N", "W", "S", "N2", "X", "E"),
    ("X", "Y", "S", "M", "P", "N", "A", "W", "E", "N2", "K"),
    ("Y", "K", "P", "N", "M", "A", "W", "C", "X", "N2"),
    ("S", "M", "P", "N", "A", "W", "C", "X", "E", "K"),
)
_ESSENTIAL = frozenset({"N"})

# spec value sources
_LIST, _VARIANTS, _BY_AUDIENCE, _PHONE = range(4)


def _yuan(fen: int) -> float:
    """Money as a JSON number: ``fen / 100`` reprs as the exact <= 2-place decimal."""
    return fen / 100


def _price_step(fen: float, r: Callable[[], float]) -> int:
    """How a seller rounds a price of this size, in fen (whole yuan, 0.5, 0.1, 0.05 ...)."""
    if fen >= 10000:
        return 100 if r() < 0.7 else 50
    if fen >= 2000:
        x = r()
        return 100 if x < 0.3 else 50 if x < 0.55 else 10
    if fen >= 300:
        return 10
    return 5 if r() < 0.5 else 1


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(f"demo_data: {msg}")


class _Leaf:
    __slots__ = (
        "attrs",
        "aud",
        "belts",
        "bundle",
        "cheap_points",
        "code_p",
        "custom",
        "ds",
        "en",
        "fashion",
        "free",
        "hi",
        "index",
        "lo",
        "mat",
        "moq",
        "name",
        "noun",
        "nouns",
        "nouns_aud",
        "path",
        "prefix",
        "prefix_p",
        "sea",
        "sea_key",
        "ship",
        "skuprice",
        "specs",
        "sty",
        "synonyms",
        "unit",
        "w",
        "words",
        "years",
    )


class _Model:
    """The demo vocabulary, loaded from demo_data/ and checked once."""

    def __init__(self) -> None:
        belts = _load("belts")["belts"]
        vocab = _load("vocab")
        leaves = _load("categories")["leaves"]
        self.belts: dict[str, dict[str, Any]] = belts
        self.lines: dict[str, list[str]] = vocab["lines"]
        self.brand_first: str = vocab["brand_first"]
        self.brand_second: str = vocab["brand_second"]
        self.brand_words: list[str] = vocab["brand_words"]
        self.audience: dict[str, str] = vocab["audience"]
        self.points: list[str] = vocab["points"]
        self.points_cheap: list[str] = vocab["points_cheap"]
        self.phone_families = [
            (name, models, tokens) for name, (models, tokens) in vocab["phones"].items()
        ]
        self.custom: dict[str, list[list[Any]]] = vocab["customization"]
        self.code_shapes = [_parse_shape(s) for s in vocab["code_shapes"]]
        palettes: dict[str, list[str]] = vocab["palettes"]
        styles: dict[str, list[str]] = vocab["styles"]
        leaf_names = {tuple(d["path"])[-1] for d in leaves}
        self.leaves: list[_Leaf] = []
        for i, d in enumerate(leaves):
            self.leaves.append(self._leaf(i, d, palettes, styles, leaf_names))

    def _leaf(
        self,
        i: int,
        d: dict[str, Any],
        palettes: dict[str, list[str]],
        styles: dict[str, list[str]],
        leaf_names: set[str],
    ) -> _Leaf:
        lf = _Leaf()
        where = "/".join(d["path"])
        lf.index = i
        lf.path = list(d["path"])
        lf.name = lf.path[-1]
        lf.w = float(d["w"])
        lf.belts = []
        for belt, spec in d["belts"].items():
            weight, line = (spec, d["line"]) if isinstance(spec, int | float) else spec
            _check(belt in self.belts, f"{where}: unknown belt {belt}")
            _check(line in self.lines, f"{where}: unknown product line {line}")
            lf.belts.append((belt, float(weight), line))
        lf.nouns = list(d["nouns"])
        lf.noun = lf.nouns[0]
        lf.synonyms = lf.nouns[1:] or lf.nouns
        # gendered wording (单鞋 is a women's shoe): audience -> its own nouns
        lf.nouns_aud = {a: list(n) for a, n in d.get("nouns_aud", {}).items()}
        lf.lo = round(d["price"][0] * 100)
        lf.hi = round(d["price"][1] * 100)
        _check(0 < lf.lo < lf.hi, f"{where}: bad price range")
        lf.unit = d["unit"]
        lf.moq = list(d["moq"])
        # material, price factor (S925纯银 costs more than 合金)
        lf.mat = [(m, 1.0) if isinstance(m, str) else (m[0], float(m[1])) for m in d.get("mat", ())]
        sty = d.get("sty", ())
        lf.sty = list(styles[sty[1:]] if isinstance(sty, str) else sty)
        lf.sea = list(d.get("sea", ()))
        lf.sea_key = d.get("sea_key", "季节")
        lf.years = list(d.get("years", ()))
        lf.aud = list(d.get("aud", ()))
        for a in lf.aud:
            _check(a in self.audience, f"{where}: unknown audience {a}")
        lf.fashion = bool(lf.sea) and bool(lf.aud)
        lf.attrs = [(k, list(v)) for k, v in d.get("attrs", {}).items()]
        lf.words = list(d.get("words", ()))
        lf.en = list(d.get("en", ()))
        prefix = d.get("prefix")
        lf.prefix = list(prefix["values"]) if prefix else []
        lf.prefix_p = float(prefix["p"]) if prefix else 0.0
        lf.specs = []
        for key, src, lo, hi, mode in d["specs"]:
            if src == "@phone":
                lf.specs.append((key, _PHONE, None, lo, hi, mode))
            elif isinstance(src, str):
                _check(src[1:] in palettes, f"{where}: unknown palette {src}")
                lf.specs.append((key, _LIST, palettes[src[1:]], lo, hi, mode))
            elif isinstance(src, dict):
                _check("*" in src, f"{where}: sizes by audience need a '*' entry")
                lf.specs.append((key, _BY_AUDIENCE, src, lo, hi, mode))
            elif src and isinstance(src[0], list):
                lf.specs.append((key, _VARIANTS, src, lo, hi, mode))
            else:
                lf.specs.append((key, _LIST, src, lo, hi, mode))
            _check(mode in ("pick", "run", "all"), f"{where}: bad spec mode {mode}")
        lf.skuprice = d.get("skuprice")
        lf.bundle = list(d["bundle"])
        for tag in lf.bundle:
            _check(tag in leaf_names and tag != lf.name, f"{where}: bundle tag {tag}")
        _check(d["custom"] in self.custom, f"{where}: unknown customization set")
        lf.custom = self.custom[d["custom"]]
        lf.ds = float(d.get("ds", 0.5))
        lf.free = float(d.get("free", 0.5))
        lf.ship = (round(d.get("ship", [3, 12])[0]), round(d.get("ship", [3, 12])[1]))
        lf.cheap_points = d.get("pts") == "cheap"
        lf.code_p = float(d.get("code", 0.1))
        return lf


def _load(name: str) -> dict[str, Any]:
    with (DATA_DIR / f"{name}.json").open(encoding="utf-8") as f:
        return json.load(f)


@lru_cache(maxsize=1)
def _model() -> _Model:
    return _Model()


def _parse_shape(shape: str) -> list[str]:
    """'{l}{l}{d}-x' -> ['l', 'l', 'd', '-', 'x'] (l/L/d are letter/LETTER/digit slots)."""
    out: list[str] = []
    i = 0
    while i < len(shape):
        if shape[i] == "{" and shape[i + 2 : i + 3] == "}":
            out.append("\0" + shape[i + 1])
            i += 3
        else:
            out.append(shape[i])
            i += 1
    return out


_LOWER = "abcdefghjkmnprstuvwxyz"
_UPPER = _LOWER.upper()
_DIGITS = "0123456789"


class _Factory:
    __slots__ = ("belt", "city", "fid", "leaves", "pickup", "power", "super", "weight")


def _pick(r: Callable[[], float], seq: Sequence[Any]) -> Any:
    return seq[int(r() * len(seq))]


def _subset(r: Callable[[], float], pool: Sequence[str], n: int) -> list[str]:
    """n items of pool, in pool order (selection sampling, one r() per item)."""
    out: list[str] = []
    left = len(pool)
    for item in pool:
        if r() * left < n - len(out):
            out.append(item)
        left -= 1
    return out


class _Generator:
    def __init__(self, model: _Model, rng: random.Random, n_factories: int, n_offers: int):
        self.m = model
        self.rng = rng
        self.r = rng.random
        self.fac_width = max(5, len(str(n_factories)))
        self.offer_fmt = f"o%0{max(7, len(str(n_offers)))}d"
        self.factories: list[_Factory] = []
        self.records: list[dict[str, Any]] = []
        self._build_factories(n_factories)
        self._build_index()
        self.encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    # ------------------------------------------------------------------ factories
    def _build_factories(self, n: int) -> None:
        m, r = self.m, self.r
        pairs: dict[tuple[str, str], list[Any]] = {}  # (belt, line) -> [share, leaf indexes]
        for lf in m.leaves:
            total = sum(w for _, w, _ in lf.belts)
            for belt, w, line in lf.belts:
                entry = pairs.setdefault((belt, line), [0.0, []])
                entry[0] += lf.w * w / total
                entry[1].append(lf.index)
        keys = list(pairs)
        # every (belt, product line) gets at least one factory making all of its leaves
        by_share = sorted(keys, key=lambda k: -pairs[k][0])
        plan: list[tuple[tuple[str, str], bool]] = [(k, True) for k in by_share[:n]]
        cum: list[float] = []
        acc = 0.0
        for k in keys:
            acc += pairs[k][0]
            cum.append(acc)
        for _ in range(n - len(plan)):
            plan.append((keys[min(bisect_right(cum, r() * acc), len(keys) - 1)], False))
        self.rng.shuffle(plan)
        used_names: set[str] = set()
        for i, ((belt, line), full) in enumerate(plan, 1):
            leaves = pairs[(belt, line)][1]
            if not full:
                leaves = [li for li in leaves if r() < 0.65] or [_pick(r, leaves)]
            self._factory(i, belt, line, leaves, used_names)

    def _factory(
        self, i: int, belt: str, line: str, leaves: list[int], used_names: set[str]
    ) -> None:
        m, r = self.m, self.r
        info = m.belts[belt]
        name = ""
        for attempt in range(60):
            if attempt < 20 and r() < 0.35:
                brand = _pick(r, m.brand_words)
            else:
                brand = _pick(r, m.brand_first) + _pick(r, m.brand_second)
                if attempt >= 20:
                    brand += _pick(r, m.brand_second)
            name = _pick(r, info["name_prefixes"]) + brand + _pick(r, m.lines[line])
            if name not in used_names:
                break
        used_names.add(name)
        is_super = r() < 0.04
        power = r() < (0.6 if is_super else 0.19)
        trust = is_super or power or r() < 0.82
        sme = r() < (0.25 if is_super else 0.04)
        giant = sme and r() < 0.2
        flags = (is_super, power, sme, giant, trust)
        badges = [b for b, on in zip(_BADGE_ORDER, flags, strict=True) if on]
        if is_super:
            pickup = 0.95 + r() * 0.05
            response = 0.9 + r() * 0.1
            rating = 4.7 + r() * 0.3
            years = 6 + int(r() * 13)
        elif power:
            pickup = 0.88 + r() * 0.115
            response = 0.75 + r() * 0.25
            rating = 4.4 + r() * 0.6
            years = 3 + int(r() * 13)
        else:
            pickup = 0.70 + r() * 0.29
            response = 0.55 + r() * 0.45
            rating = 5.0 - 1.4 * r() * r()
            years = 1 + int(r() * r() * 14)
        fid = f"f{i:0{self.fac_width}d}"
        rec: dict[str, Any] = {
            "id": fid,
            "name": name,
            "province": info["province"],
            "city": info["city"],
            "industrial_belt": belt,
            "badges": badges,
        }
        if trust:
            rec["trust_years"] = years
        rec["pickup_48h_rate"] = round(pickup, 3)
        rec["response_rate"] = round(response, 3)
        rec["rating"] = round(rating, 1)
        self.records.append(rec)
        f = _Factory()
        f.fid = fid
        f.belt = belt
        f.city = info["city"]
        f.leaves = leaves
        f.super = is_super
        f.power = power
        f.pickup = pickup
        f.weight = (
            math.exp(self.rng.gauss(0.0, 0.8))
            * (2.5 if is_super else 1.0)
            * (1.5 if power else 1.0)
        )
        self.factories.append(f)

    def _build_index(self) -> None:
        """For each leaf: belt cum-weights, and per belt the factories' cum-weights."""
        by_leaf_belt: dict[tuple[int, str], list[_Factory]] = {}
        for f in self.factories:
            for li in f.leaves:
                by_leaf_belt.setdefault((li, f.belt), []).append(f)
        self.leaf_cum: list[float] = []
        self.leaf_list: list[_Leaf] = []
        self.leaf_belts: list[tuple[list[float], list[tuple[list[float], list[_Factory]]]]] = []
        acc = 0.0
        for lf in self.m.leaves:
            belt_cum: list[float] = []
            choices: list[tuple[list[float], list[_Factory]]] = []
            bacc = 0.0
            for belt, w, _ in lf.belts:
                facs = by_leaf_belt.get((lf.index, belt))
                if not facs:
                    continue
                fcum: list[float] = []
                facc = 0.0
                for f in facs:
                    facc += f.weight
                    fcum.append(facc)
                bacc += w
                belt_cum.append(bacc)
                choices.append((fcum, facs))
            if not choices:
                continue  # too few factories for this leaf: it is left out
            acc += lf.w
            self.leaf_cum.append(acc)
            self.leaf_list.append(lf)
            self.leaf_belts.append((belt_cum, choices))

    def _choose(self) -> tuple[_Leaf, _Factory]:
        r = self.r
        i = bisect_right(self.leaf_cum, r() * self.leaf_cum[-1])
        i = min(i, len(self.leaf_cum) - 1)
        belt_cum, choices = self.leaf_belts[i]
        j = min(bisect_right(belt_cum, r() * belt_cum[-1]), len(belt_cum) - 1)
        fcum, facs = choices[j]
        k = min(bisect_right(fcum, r() * fcum[-1]), len(facs) - 1)
        return self.leaf_list[i], facs[k]

    # ------------------------------------------------------------------ offers
    def block(self, index: int, seed: int, n_offers: int) -> str:
        """Offers index*BLOCK+1 ... as JSON lines, from their own sub-seed."""
        self.rng = random.Random(seed)
        self.r = self.rng.random
        first = index * BLOCK + 1
        last = min(first + BLOCK, n_offers + 1)
        encode = self.encode
        return "".join([encode(self.offer(i)) + "\n" for i in range(first, last)])

    def offer(self, num: int) -> dict[str, Any]:
        m, r = self.m, self.r
        lf, fac = self._choose()
        oid = self.offer_fmt % num
        is_super = fac.super

        # ---- wholesale terms (integer fen throughout)
        moq = _pick(r, lf.moq)
        mat, mat_factor = _pick(r, lf.mat) if lf.mat else (None, 1.0)
        p0f = lf.lo * (lf.hi / lf.lo) ** (r() ** 1.3) * mat_factor * (0.95 if is_super else 1.0)
        p0f = min(max(p0f, lf.lo), lf.hi * 1.25)
        step = _price_step(p0f, r)
        p0 = max(step, int(p0f / step + 0.5) * step)
        sku_priced = lf.skuprice is not None and r() < 0.3
        n_tiers = 1 if sku_priced else _pick(r, _TIER_COUNTS)
        tiers = [{"min_qty": moq, "price": _yuan(p0)}]
        q, p = moq, p0
        for _ in range(n_tiers - 1):
            target = q * (3 if r() < 0.4 else 5 if r() < 0.6 else 10)
            nq = _LADDER[min(bisect_left(_LADDER, target), len(_LADDER) - 1)]
            np_ = int(p * (0.97 - r() * 0.10) / step) * step
            if np_ >= p:
                np_ = p - step
            if nq <= q or np_ <= 0:
                break
            tiers.append({"min_qty": nq, "price": _yuan(np_)})
            q, p = nq, np_

        dropship = r() < lf.ds + (0.1 if is_super else 0.0)
        customize = r() < (0.5 if is_super else 0.4 if fac.power else 0.3)
        free_ship = r() < lf.free
        active = r() < 0.97

        # ---- who it is for, what it is made of
        aud = _pick(r, lf.aud) if lf.aud else None
        aud_word = m.audience[aud] if aud else ""
        style = _pick(r, lf.sty) if lf.sty and r() < 0.85 else None
        season = _pick(r, lf.sea) if lf.sea else None
        year = "2026" if r() < 0.8 else "2025"

        # ---- variants
        dims: list[tuple[str, list[str]]] = []
        phone_token = phone_family = None
        for key, kind, src, lo, hi, mode in lf.specs:
            if kind == _PHONE:
                values, phone_token, phone_family = self._phones(lo, hi)
            else:
                if kind == _VARIANTS:
                    pool = _pick(r, src)
                elif kind == _BY_AUDIENCE:
                    pool = src.get(aud, src["*"])
                else:
                    pool = src
                if mode == "all":
                    values = list(pool)
                else:
                    n = min(lo + int(r() * (hi - lo + 1)), len(pool))
                    if mode == "run":
                        start = int(r() * (len(pool) - n + 1))
                        values = list(pool[start : start + n])
                    else:
                        values = _subset(r, pool, n)
            dims.append((key, values))

        title_colour = None
        if dims and dims[0][0] == "颜色" and r() < 0.2:
            c = _pick(r, dims[0][1])
            if c not in _NOT_TITLE_COLOURS:
                title_colour = c

        # ---- SKUs
        skus: list[dict[str, Any]] = []
        if len(dims) == 1:
            k1, v1 = dims[0]
            combos: list[dict[str, str]] = [{k1: a} for a in v1[:MAX_SKUS]]
        elif len(dims) == 2:
            (k1, v1), (k2, v2) = dims
            combos = [{k1: a, k2: b} for a in v1 for b in v2[: max(1, MAX_SKUS // len(v1))]]
        else:
            combos = [{}]
            for key, values in dims:
                room = max(1, MAX_SKUS // len(combos))
                combos = [{**c, key: v} for c in combos for v in values[:room]]
        stock_scale = (200 + r() * 5000) * (1 if moq < 10 else 6)
        zero_p = 0.05 + r() * 0.1
        sku_prices: list[int] | None = None
        if sku_priced:
            inc = 0.08 + r() * 0.17  # each bigger size / capacity costs 8-25 % more
            pkey, pvals = dims[lf.skuprice]
            by_val = {
                v: max(step, int(p0 * (1 + inc * j) / step + 0.5) * step)
                for j, v in enumerate(pvals)
            }
            sku_prices = [by_val[c[pkey]] for c in combos]
        elif dims and dims[-1][0] == "尺码" and len(dims[-1][1]) >= 4 and r() < 0.06:
            big = set(dims[-1][1][-2:])
            extra = (2 + int(r() * 4)) * 100
            sku_prices = [p0 + extra if c["尺码"] in big else 0 for c in combos]
        top_price = p0
        if sku_prices is None:
            skus = [
                {
                    "id": f"{oid}-{k}",
                    "specs": specs,
                    "stock": 0 if u < zero_p else int(10 + u * u * stock_scale),
                }
                for k, specs in enumerate(combos, 1)
                for u in (r(),)
            ]
        else:
            for k, specs in enumerate(combos, 1):
                sku: dict[str, Any] = {"id": f"{oid}-{k}", "specs": specs}
                if sku_prices[k - 1]:
                    sku["price"] = _yuan(sku_prices[k - 1])
                    top_price = max(top_price, sku_prices[k - 1])
                u = r()
                sku["stock"] = 0 if u < zero_p else int(10 + u * u * stock_scale)
                skus.append(sku)

        # ---- drop-ship and customization
        ds_obj = None
        if dropship:
            extra = 0 if top_price >= 3000 else int(50 + r() * 250)
            dp = int(top_price * (1.08 + r() * 0.27)) + extra
            dstep = 10 if dp >= 300 else 1
            dp = (dp // dstep + 1) * dstep
            fast = 0.7 if is_super else 0.3 if fac.pickup >= 0.95 else 0.15
            hours = 24 if r() < fast else 72 if r() < 0.18 else 48
            ds_obj = {"supported": True, "price": _yuan(dp), "ship_within_hours": hours}
        options: list[dict[str, Any]] = []
        logo_word = None
        quick_sample = False
        if customize:
            options, logo_word, quick_sample = self._customization(lf, moq, p0, is_super)

        # ---- title
        nouns = lf.nouns_aud.get(aud, lf.nouns) if aud else lf.nouns
        noun = _pick(r, nouns) if r() < 0.6 else lf.noun
        distractor = None
        if lf.prefix and r() < lf.prefix_p:
            distractor = _pick(r, lf.prefix)
        tokens: dict[str, list[str]] = {}
        attrs: dict[str, str] = {}
        if mat:
            attrs["材质"] = mat
        if style:
            attrs["风格"] = style
            tokens["S"] = [style]
        if season:
            attrs[lf.sea_key] = season
            ytok = self._year_token(lf, season, year)
            if ytok and season in ytok and season in noun:  # 2026中秋 + 中秋礼盒
                ytok = f"{year}新款"
            if ytok:
                tokens["Y"] = [ytok]
        elif r() < 0.25:
            tokens["Y"] = [f"{year}新款" if r() < 0.6 else "新款"]
        if aud:
            attrs["适用人群"] = aud
            if aud_word and r() < 0.8:
                tokens["P"] = [aud_word]
        atoks: list[str] = []
        for key, vals in lf.attrs:
            if r() < 0.75:
                v = _pick(r, vals)
                attrs[key] = v
                if r() < 0.6:
                    atoks.append(v)
        if atoks:
            tokens["A"] = atoks
        if phone_family:
            attrs["适用型号"] = phone_family
        if r() < 0.6:
            attrs["产地"] = fac.city
        mat_in_title = mat is not None and r() < 0.6
        mat_next_to_noun = mat_in_title and r() < 0.5 and mat not in noun
        full_noun = (distractor or "") + (mat if mat and mat_next_to_noun else "") + noun
        tokens["N"] = [full_noun]
        if mat_in_title and not mat_next_to_noun:
            tokens["M"] = [mat]
        if lf.words and r() < 0.8:
            tokens["W"] = _subset(r, lf.words, 1 + (r() < 0.4))
        if title_colour:
            tokens["C"] = [title_colour]
        if r() < 0.4 and distractor is None:
            n2 = _pick(r, nouns)
            if n2 not in full_noun:
                tokens["N2"] = [n2]
        if lf.en and r() < 0.2:
            tokens["E"] = [_pick(r, lf.en)]
        points = []
        if dropship and r() < 0.45:
            points.append("一件代发")
        if free_ship and r() < 0.2:
            points.append("包邮")
        if logo_word and r() < 0.6:
            points.append(logo_word)
        if quick_sample and r() < 0.5:
            points.append("2小时打样")
        x = r()
        for _ in range(2 if x < 0.25 else 1 if x < 0.8 else 0):
            pool = m.points_cheap if lf.cheap_points and p0 < 1000 and r() < 0.4 else m.points
            pt = _pick(r, pool)
            if pt not in points:
                points.append(pt)
        if points:
            tokens["X"] = points
        code = self._code() if r() < lf.code_p else None
        if phone_token:
            tokens["K"] = [phone_token] + ([code] if code else [])
        elif code:
            tokens["K"] = [code]
        template = _pick(r, _FASHION_TEMPLATES if lf.fashion else _GOODS_TEMPLATES)
        title = self._join(lf, template, tokens, phone_token, code)
        hot = "爆款" in title

        # ---- search words
        kw = [full_noun if distractor else noun]
        if distractor or noun != lf.noun:
            kw.append(lf.noun)
        else:
            kw.append(_pick(r, lf.synonyms))
        if style and r() < 0.5:
            kw.append(style + lf.noun)
        if mat and r() < 0.4:
            kw.append(mat + lf.noun)
        if dropship and r() < 0.4:
            kw.append("一件代发")
        if phone_family and phone_family != "多型号":
            kw.append(phone_family + lf.noun)
        if r() < 0.25:
            kw.append(fac.city + lf.noun)
        keywords = list(dict.fromkeys(kw))

        # ---- market signals
        sales = math.exp(self.rng.gauss(3.2, 1.5)) * (4 if hot else 1) * (2 if is_super else 1)
        sales /= max(1.0, p0 / 5000) ** 0.5
        sales_30d = min(int(sales), 500_000) if active else 0
        repurchase = 0.04 + r() * 0.4 + (0.08 if is_super else 0) + (0.08 if p0 < 1000 else 0)

        offer: dict[str, Any] = {
            "id": oid,
            "factory_id": fac.fid,
            "title": title,
            "category": lf.path,
            "attributes": attrs,
            "keywords": keywords,
            "unit": lf.unit,
            "moq": moq,
            "price_tiers": tiers,
        }
        if ds_obj:
            offer["dropship"] = ds_obj
        offer["skus"] = skus
        if options:
            offer["customization"] = options
        n_img = 1 + int(r() * 4) + (r() < 0.3)
        offer["images"] = [f"{IMAGE_BASE}/{oid}/{k}.jpg" for k in range(1, n_img + 1)]
        if r() < 0.85:
            start = int(r() * len(lf.bundle))
            k = min(len(lf.bundle), 2 + (r() < 0.4))
            offer["bundle_tags"] = [lf.bundle[(start + j) % len(lf.bundle)] for j in range(k)]
        offer["sales_30d"] = sales_30d
        offer["repurchase_rate"] = round(min(repurchase, 0.95), 3)
        offer["mix_wholesale"] = r() < 0.9
        offer["shipping_fee"] = (
            0 if free_ship else (lf.ship[0] + int(r() * (lf.ship[1] - lf.ship[0] + 1)))
        )
        offer["active"] = active
        if r() < 0.004:  # an exporter's extra key; importers must keep unknown keys
            offer["origin_url"] = (
                f"https://detail.1688.com/offer/{600000000000 + int(r() * 1e11)}.html"
            )
        return offer

    def _year_token(self, lf: _Leaf, season: str, year: str) -> str | None:
        r = self.r
        if lf.years:
            return _pick(r, lf.years) if r() < 0.8 else None
        if lf.sea_key != "季节":  # festival goods: 2026中秋, 圣诞
            return f"{year}{season}" if r() < 0.6 else season if r() < 0.5 else None
        if season == "四季":
            return f"{year}新款" if r() < 0.5 else None
        x = r()
        if x < 0.35:
            return f"{year}{season}新款"
        if x < 0.5:
            return f"{year}新款"
        if x < 0.65:
            return f"{season}新款"
        if x < 0.75:
            return season
        return None

    def _join(
        self,
        lf: _Leaf,
        template: Sequence[str],
        tokens: dict[str, list[str]],
        phone_token: str | None,
        code: str | None,
    ) -> str:
        r = self.r
        if sum(map(len, map("".join, tokens.values()))) < 16:
            # sellers fill the title box: add a selling point and a word
            tokens.setdefault("X", []).append(_pick(r, self.m.points))
            if lf.words:
                tokens.setdefault("W", []).append(_pick(r, lf.words))
        parts: list[tuple[str, bool]] = []
        for slot in template:
            ts = tokens.get(slot)
            if ts:
                for t in ts:
                    parts.append((t, slot == "N" or t == phone_token))
        # drop repeats: a word already inside another token (休闲 + 休闲裤, 机车 + 机车皮衣)
        blob = "\0".join([t for t, _ in parts])
        kept: list[tuple[str, bool]] = []
        for i, (t, essential) in enumerate(parts):
            if (
                not essential
                and blob.count(t) > 1
                and (
                    any(t in u for u, _ in kept)
                    or any(t in u and t != u for u, _ in parts[i + 1 :])
                )
            ):
                continue
            kept.append((t, essential))
        total = sum(len(t) for t, _ in kept)
        while total > MAX_TITLE_CHARS:
            for i in range(len(kept) - 1, -1, -1):
                if not kept[i][1]:
                    total -= len(kept.pop(i)[0])
                    break
            else:
                break
        out: list[str] = []
        prev = ""
        for t, _ in kept:
            if prev and (
                r() < 0.18
                or t == code
                or prev == code
                or (prev[-1].isascii() and prev[-1].isalnum() and t[0].isascii() and t[0].isalnum())
            ):
                out.append(" ")
            out.append(t)
            prev = t
        return "".join(out)

    def _phones(self, lo: int, hi: int) -> tuple[list[str], str, str]:
        r, fams = self.r, self.m.phone_families
        if r() < 0.78:
            name, models, toks = _pick(r, fams)
            n = min(lo + int(r() * (hi - lo + 1)), len(models))
            return list(models[:n]), _pick(r, toks), name
        chosen = _subset(r, fams, 2 + (r() < 0.4))
        values = [model for _, models, _ in chosen for model in models[: 1 + (r() < 0.5)]]
        return values, "多型号可选", "多型号"

    def _code(self) -> str:
        r = self.r
        out = []
        for c in _pick(r, self.m.code_shapes):
            if c[0] == "\0":
                out.append(_pick(r, _LOWER if c[1] == "l" else _UPPER if c[1] == "L" else _DIGITS))
            else:
                out.append(c)
        return "".join(out)

    def _customization(
        self, lf: _Leaf, moq: int, p0: int, is_super: bool
    ) -> tuple[list[dict[str, Any]], str | None, bool]:
        r = self.r
        x = r()
        n = min(1 if x < 0.55 else 2 if x < 0.9 else 3, len(lf.custom))
        chosen = _subset(r, lf.custom, n)
        options: list[dict[str, Any]] = []
        logo_word = None
        quick = False
        for t in chosen:
            kind, name = t[0], t[1]
            if kind == "sample":
                fee = max(100, int(p0 * (1.5 + r() * 1.5) / 50 + 0.5) * 50)
                opt: dict[str, Any] = {
                    "kind": "sample",
                    "name": name,
                    "min_qty": 1,
                    "unit_fee": _yuan(fee),
                    "setup_fee": 0 if r() < 0.6 else (5 + int(r() * 26)) * 10,
                }
                if is_super and r() < 0.7:
                    opt["lead_hours"] = 2
                    quick = True
                elif r() < 0.3:
                    opt["lead_hours"] = _pick(r, (24, 48, 72))
                else:
                    opt["lead_days"] = 3 + int(r() * 5)
            else:
                qlo, qhi, flo, fhi, slo, shi, dlo, dhi = t[2:10]
                q = _LADDER[min(bisect_left(_LADDER, qlo + r() * (qhi - qlo)), len(_LADDER) - 1)]
                fee = int((flo + r() * (fhi - flo)) * 10 + 0.5) * 10
                setup = int((slo + r() * (shi - slo)) / 10 + 0.5) * 10
                opt = {
                    "kind": kind,
                    "name": name,
                    "min_qty": max(q, moq),
                    "unit_fee": _yuan(fee),
                    "setup_fee": setup,
                    "lead_days": dlo + int(r() * (dhi - dlo + 1)),
                }
                if logo_word is None and kind in ("logo", "engraving"):
                    logo_word = (
                        "可刻字"
                        if kind == "engraving" and "刻字" in name
                        else _pick(r, _LOGO_TOKENS)
                    )
            options.append(opt)
        return options, logo_word, quick


def generate(
    out_dir: Path,
    offers: int = 10_000,
    seed: int = 1688,
    factories: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Write out_dir/factories.jsonl and out_dir/offers.jsonl; return (n_factories, n_offers).

    ``factories`` defaults to ``max(300, offers // 30)``. ``progress(n)`` is called every few
    thousand offers with the number written so far. Files are written under a temporary
    name and renamed at the end, so a failed run never leaves a half catalog behind. Large
    catalogs are generated by forked worker processes (Linux, when no other thread runs);
    the bytes do not depend on how many workers there are.
    """
    return _generate(Path(out_dir), offers, seed, factories, progress, workers=None)


def _generate(
    out_dir: Path,
    offers: int,
    seed: int,
    factories: int | None,
    progress: Callable[[int], None] | None,
    workers: int | None,
) -> tuple[int, int]:
    if offers < 0:
        raise ValueError("offers must be >= 0")
    n_factories = max(300, offers // 30) if factories is None else factories
    if n_factories < 1:
        raise ValueError("factories must be >= 1")
    if workers is None:
        big = offers >= PARALLEL_MIN and _can_fork()
        workers = min(os.cpu_count() or 1, MAX_WORKERS) if big else 1
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    gen = _Generator(_model(), rng, n_factories, offers)
    n_blocks = -(-offers // BLOCK)
    tasks = [(b, rng.getrandbits(64)) for b in range(n_blocks)]

    fac_path = out_dir / "factories.jsonl"
    off_path = out_dir / "offers.jsonl"
    fac_tmp = fac_path.with_name(fac_path.name + ".tmp")
    off_tmp = off_path.with_name(off_path.name + ".tmp")
    try:
        with fac_tmp.open("w", encoding="utf-8", newline="\n") as f:
            f.write("".join([gen.encode(rec) + "\n" for rec in gen.records]))
        if workers > 1 and n_blocks > 1:
            # forked workers inherit the generator (same factories); the pool is made before
            # the output file is opened so no child holds a copy of its buffer
            _WORKER.update(gen=gen, n_offers=offers)
            try:
                ctx = multiprocessing.get_context("fork")
                with ctx.Pool(min(workers, n_blocks)) as pool:
                    _write_offers(off_tmp, pool.imap(_worker_block, tasks), offers, progress)
            finally:
                _WORKER.clear()
        else:
            blocks = (gen.block(b, block_seed, offers) for b, block_seed in tasks)
            _write_offers(off_tmp, blocks, offers, progress)
        os.replace(fac_tmp, fac_path)
        os.replace(off_tmp, off_path)
    finally:
        for tmp in (fac_tmp, off_tmp):
            if tmp.exists():
                tmp.unlink()
    return len(gen.records), offers


def _write_offers(
    path: Path, blocks: Iterable[str], offers: int, progress: Callable[[int], None] | None
) -> None:
    done = 0
    with path.open("w", encoding="utf-8", newline="\n", buffering=1 << 20) as f:
        for text in blocks:
            f.write(text)
            done = min(done + BLOCK, offers)
            if progress is not None:
                progress(done)


def _can_fork() -> bool:
    """Worker processes only where fork is the safe default and no other thread runs."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


_WORKER: dict[str, Any] = {}


def _worker_block(task: tuple[int, int]) -> str:
    return _WORKER["gen"].block(task[0], task[1], _WORKER["n_offers"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m catalog_store.demo_catalog",
        description="Write a deterministic demo catalog (factories.jsonl + offers.jsonl).",
    )
    parser.add_argument("out_dir", type=Path, help="folder to write the two .jsonl files into")
    parser.add_argument("--offers", type=int, default=10_000, help="number of offers (10000)")
    parser.add_argument("--seed", type=int, default=1688, help="random seed (1688)")
    parser.add_argument(
        "--factories", type=int, default=None, help="number of factories (max(300, offers/30))"
    )
    args = parser.parse_args(argv)
    if args.offers < 0 or (args.factories is not None and args.factories < 1):
        parser.error("--offers must be >= 0 and --factories >= 1")
    show = sys.stderr.isatty() and args.offers >= 100_000

    def progress(n: int) -> None:
        if show and (n % 100_000 == 0 or n == args.offers):
            print(f"\r{n:,} / {args.offers:,} offers", end="", file=sys.stderr, flush=True)

    started = time.perf_counter()
    n_fac, n_off = generate(args.out_dir, args.offers, args.seed, args.factories, progress)
    if show:
        print(file=sys.stderr)
    print(
        f"wrote {n_fac} factories and {n_off} offers to {args.out_dir} "
        f"in {time.perf_counter() - started:.1f}s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
