"""The demo catalog generator: deterministic, streamed, and true to the catalog contract."""

from __future__ import annotations

import json
import re
from collections import Counter
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from catalog_store import demo_catalog
from catalog_store.demo_catalog import generate

ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
BADGES = {"super_factory", "power_merchant", "specialized_sme", "little_giant", "trust_pass"}
CUSTOM_KINDS = {"logo", "packaging", "color", "size", "material", "engraving", "sample"}
N_OFFERS = 2000


def _read(path: Path) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    assert raw.endswith(b"\n") and b"\r" not in raw
    return [json.loads(line, parse_float=Decimal) for line in raw.decode("utf-8").splitlines()]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("demo")
    seen: list[int] = []
    counts = generate(out, offers=N_OFFERS, seed=1688, progress=seen.append)
    return {
        "dir": out,
        "counts": counts,
        "progress": seen,
        "factories": _read(out / "factories.jsonl"),
        "offers": _read(out / "offers.jsonl"),
    }


def _money(offer: dict[str, Any]) -> list[Any]:
    values = [t["price"] for t in offer["price_tiers"]]
    if "dropship" in offer:
        values.append(offer["dropship"]["price"])
    values += [s["price"] for s in offer.get("skus", []) if "price" in s]
    if "shipping_fee" in offer:
        values.append(offer["shipping_fee"])
    for opt in offer.get("customization", []):
        values += [opt["unit_fee"], opt["setup_fee"]]
    return values


def test_same_seed_same_bytes_other_seed_other_catalog(catalog, tmp_path):
    generate(tmp_path / "again", offers=N_OFFERS, seed=1688)
    generate(tmp_path / "other", offers=N_OFFERS, seed=7)
    for name in ("factories.jsonl", "offers.jsonl"):
        first = (catalog["dir"] / name).read_bytes()
        assert (tmp_path / "again" / name).read_bytes() == first
        assert (tmp_path / "other" / name).read_bytes() != first
    assert not list(catalog["dir"].glob("*.tmp"))


def test_worker_processes_write_the_same_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_catalog, "BLOCK", 400)  # 3000 offers -> 8 blocks
    demo_catalog._generate(tmp_path / "one", 3000, 5, None, None, workers=1)
    demo_catalog._generate(tmp_path / "two", 3000, 5, None, None, workers=2)
    for name in ("factories.jsonl", "offers.jsonl"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_counts_and_progress(catalog):
    factories, offers = catalog["factories"], catalog["offers"]
    assert catalog["counts"] == (300, N_OFFERS)
    assert len(factories) == 300 and len(offers) == N_OFFERS
    seen = catalog["progress"]
    assert seen and seen[-1] == N_OFFERS and seen == sorted(seen)


def test_ids_unique_and_references_resolve(catalog):
    factory_ids = [f["id"] for f in catalog["factories"]]
    offer_ids = [o["id"] for o in catalog["offers"]]
    sku_ids = [s["id"] for o in catalog["offers"] for s in o.get("skus", [])]
    for ids in (factory_ids, offer_ids, sku_ids):
        assert len(ids) == len(set(ids))
        assert all(ID_RE.match(i) for i in ids)
    assert factory_ids[0] == "f00001" and offer_ids[0] == "o0000001"
    known = set(factory_ids)
    assert all(o["factory_id"] in known for o in catalog["offers"])


def test_factories_follow_the_contract(catalog):
    provinces = {"义乌": "浙江", "深圳": "广东", "晋江": "福建", "保定": "河北", "南通": "江苏"}
    names = [f["name"] for f in catalog["factories"]]
    assert len(names) == len(set(names))
    for f in catalog["factories"]:
        for key in ("id", "name", "province", "city"):
            assert isinstance(f[key], str) and f[key]
        assert f["city"] in f["name"] or f["industrial_belt"][:2] in f["name"]
        if f["city"] in provinces:
            assert f["province"] == provinces[f["city"]]
        assert set(f["badges"]) <= BADGES
        for key in ("pickup_48h_rate", "response_rate"):
            assert 0 <= f[key] <= 1 and f[key] == round(f[key], 3)
        assert 0 <= f["rating"] <= 5
        assert isinstance(f.get("trust_years", 1), int)
    badges = Counter(b for f in catalog["factories"] for b in f["badges"])
    n = len(catalog["factories"])
    assert 0.01 <= badges["super_factory"] / n <= 0.08
    assert 0.12 <= badges["power_merchant"] / n <= 0.30
    assert badges["trust_pass"] / n >= 0.7
    assert len({f["industrial_belt"] for f in catalog["factories"]}) >= 25


def test_offer_fields_and_types(catalog):
    for o in catalog["offers"]:
        assert isinstance(o["title"], str) and 4 <= len(o["title"]) <= 60
        assert isinstance(o["category"], list) and len(o["category"]) == 2
        assert isinstance(o["moq"], int) and o["moq"] >= 1
        assert all(isinstance(v, str) for v in o["attributes"].values())
        assert all(isinstance(k, str) for k in o["keywords"])
        assert all(u.startswith("https://") for u in o["images"])
        assert isinstance(o["sales_30d"], int) and o["sales_30d"] >= 0
        assert 0 <= o["repurchase_rate"] <= 1
        assert isinstance(o["mix_wholesale"], bool) and isinstance(o["active"], bool)
        for sku in o["skus"]:
            assert sku["specs"] and all(isinstance(v, str) for v in sku["specs"].values())
            assert isinstance(sku["stock"], int) and sku["stock"] >= 0
    assert any(s["stock"] == 0 for o in catalog["offers"] for s in o["skus"])
    assert 0.9 <= sum(o["active"] for o in catalog["offers"]) / N_OFFERS < 1
    assert any("origin_url" in o for o in catalog["offers"])  # unknown keys must be kept


def test_prices_tiers_and_money(catalog):
    for o in catalog["offers"]:
        tiers = o["price_tiers"]
        assert tiers[0]["min_qty"] == o["moq"]
        qtys = [t["min_qty"] for t in tiers]
        prices = [t["price"] for t in tiers]
        assert qtys == sorted(set(qtys))
        assert all(a > b for a, b in pairwise(prices))
        for value in _money(o):
            assert isinstance(value, int | Decimal) and not isinstance(value, bool)
            assert value >= 0
            assert Decimal(value).as_tuple().exponent >= -2
        assert all(t["price"] > 0 for t in tiers)


def test_price_ranges_are_realistic(catalog):
    first = {}
    for o in catalog["offers"]:
        first.setdefault(o["category"][1], []).append(o["price_tiers"][0]["price"])
    for leaf, lo, hi in [
        ("T恤", 10, 60),
        ("数据线", 1, 20),
        ("保温杯", 12, 80),
        ("月饼礼盒", 25, 260),
    ]:
        assert all(lo <= p <= hi for p in first[leaf]), leaf


def test_money_text_never_has_more_than_two_places():
    for fen in range(0, 300_000, 7):
        text = repr(demo_catalog._yuan(fen))
        assert Decimal(text) == Decimal(fen) / 100
        assert len(text.partition(".")[2]) <= 2


def test_dropship_and_customization(catalog):
    offers = catalog["offers"]
    ds = [o for o in offers if o.get("dropship", {}).get("supported")]
    assert 0.35 <= len(ds) / len(offers) <= 0.65
    for o in ds:
        assert o["dropship"]["price"] > o["price_tiers"][0]["price"]
        assert o["dropship"]["ship_within_hours"] in (24, 48, 72)
    custom = [o for o in offers if o.get("customization")]
    assert 0.2 <= len(custom) / len(offers) <= 0.45
    for o in custom:
        for opt in o["customization"]:
            assert opt["kind"] in CUSTOM_KINDS and opt["name"]
            assert isinstance(opt["min_qty"], int) and opt["min_qty"] >= 1
            assert ("lead_days" in opt) != ("lead_hours" in opt)
    assert any(opt.get("lead_hours") == 2 for o in custom for opt in o["customization"])


def test_title_claims_match_the_offer(catalog):
    for o in catalog["offers"]:
        title = o["title"]
        if "一件代发" in title:
            assert "dropship" in o
        if "包邮" in title:
            assert o["shipping_fee"] == 0
        if "logo" in title:
            assert any(c["kind"] in ("logo", "engraving") for c in o.get("customization", []))
        if "2小时打样" in title:
            assert any(c.get("lead_hours") == 2 for c in o["customization"])


def test_title_colours_are_skus(catalog):
    offers = catalog["offers"]
    colours = {s["specs"]["颜色"] for o in offers for s in o["skus"] if "颜色" in s["specs"]}
    checked = 0
    for o in offers:
        mine = {s["specs"].get("颜色") for s in o["skus"]}
        if None in mine:
            continue
        named = {c for c in colours if c in o["title"]}
        named = {c for c in named if not any(c != d and c in d for d in named)}
        assert named <= mine, (o["title"], mine)
        checked += bool(named)
    assert checked >= 50


def test_categories_skus_and_bundles(catalog):
    offers = catalog["offers"]
    leaves = {tuple(o["category"]) for o in offers}
    assert len(leaves) >= 40
    assert len({c[0] for c in leaves}) >= 8
    leaf_names = {leaf.name for leaf in demo_catalog._model().leaves}
    units = {}
    for o in offers:
        keys = {k for s in o["skus"] for k in s["specs"]}
        top, leaf = o["category"]
        units.setdefault(leaf, set()).add(o["unit"])
        if top in ("女装", "男装", "童装", "鞋靴"):
            assert {"颜色", "尺码"} <= keys, o["title"]
        if leaf == "手机壳":
            assert keys == {"颜色", "型号"}
        if leaf == "保温杯":
            assert keys == {"颜色", "容量"}
        assert set(o.get("bundle_tags", [])) <= leaf_names
        assert leaf not in o.get("bundle_tags", [])
    assert units["运动鞋"] == {"双"} and units["连衣裙"] == {"件"}


def test_synonyms_and_distractors(catalog):
    titles = {}
    for o in catalog["offers"]:
        titles.setdefault(o["category"][1], []).append(o["title"])
    # a 连衣裙 is not always called 连衣裙, a 手机壳 not always 手机壳
    assert sum("连衣裙" not in t for t in titles["连衣裙"]) >= 20
    assert sum("手机壳" not in t for t in titles["手机壳"]) >= 20
    distractors = [
        o
        for o in catalog["offers"]
        if "连衣裙" in o["title"] and o["category"][1] != "连衣裙" and o["category"][1] == "收纳袋"
    ]
    assert distractors and all(o["category"] == ["家居日用", "收纳袋"] for o in distractors)


def test_default_size_catalog(tmp_path):
    n_factories, n_offers = generate(tmp_path)
    assert (n_factories, n_offers) == (max(300, 10_000 // 30), 10_000)
    factories = _read(tmp_path / "factories.jsonl")
    offers = [json.loads(line) for line in (tmp_path / "offers.jsonl").open(encoding="utf-8")]
    assert len(factories) >= 300 and len(offers) == 10_000
    leaves = Counter(tuple(o["category"]) for o in offers)
    assert len(leaves) >= 60 and len({c[0] for c in leaves}) >= 8
    belt = {f["id"]: f["industrial_belt"] for f in factories}

    def mix(leaf: str) -> Counter[str]:
        return Counter(belt[o["factory_id"]] for o in offers if o["category"][1] == leaf)

    def share(counter: Counter[str], *belts: str) -> float:
        return sum(counter[b] for b in belts) / sum(counter.values())

    assert share(mix("手机壳"), "深圳数码") >= 0.7
    assert share(mix("保温杯"), "永康五金", "武义杯业") >= 0.75
    assert share(mix("发夹"), "义乌小商品") == 1
    assert share(mix("运动鞋"), "晋江鞋服", "莆田鞋业", "泉州鞋服") >= 0.85
    assert share(mix("积木"), "汕头玩具") >= 0.6
    dresses = Counter(belt[o["factory_id"]] for o in offers if o["category"] == ["女装", "连衣裙"])
    assert share(dresses, "广州女装", "杭州女装") >= 0.8


def test_command_line(tmp_path, capsys):
    assert demo_catalog.main([str(tmp_path), "--offers", "250", "--seed", "3"]) == 0
    assert "300 factories and 250 offers" in capsys.readouterr().out
    assert len((tmp_path / "offers.jsonl").read_text(encoding="utf-8").splitlines()) == 250


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        generate(tmp_path, offers=-1)
    with pytest.raises(ValueError):
        generate(tmp_path, offers=10, factories=0)
