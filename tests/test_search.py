"""Search on small hand-built catalogs where the right answer is obvious, and on a small demo
catalog; on both databases."""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli import main
from catalog_store import search as search_module
from catalog_store.demo_catalog import generate
from catalog_store.importer import import_catalog
from catalog_store.lexicon_source import build_catalog_lexicon
from catalog_store.search import SearchIndex, SearchService
from nlu import Parser
from nlu.lexicon import load_lexicon
from tests.catalog_samples import write_catalog
from tests.conftest import make_store

FACTORIES = [
    {
        "id": "gz-super",
        "name": "广州市超级服饰厂",
        "province": "广东",
        "city": "广州",
        "industrial_belt": "广州女装",
        "badges": ["super_factory", "power_merchant"],
        "pickup_48h_rate": 0.99,
        "rating": 4.9,
    },
    {
        "id": "gz-small",
        "name": "广州市小作坊服饰",
        "province": "广东",
        "city": "广州",
        "industrial_belt": "广州女装",
        "badges": [],
        "pickup_48h_rate": 0.6,
        "rating": 4.0,
    },
    {
        "id": "hz",
        "name": "杭州市四季青女装厂",
        "province": "浙江",
        "city": "杭州",
        "industrial_belt": "杭州女装",
        "badges": ["power_merchant"],
        "pickup_48h_rate": 0.9,
    },
    {
        "id": "yw",
        "name": "义乌市收纳用品厂",
        "province": "浙江",
        "city": "义乌",
        "industrial_belt": "义乌小商品",
        "badges": ["super_factory"],
        "pickup_48h_rate": 0.95,
    },
    {
        "id": "sz",
        "name": "深圳市数码配件厂",
        "province": "广东",
        "city": "深圳",
        "industrial_belt": "深圳数码",
        "badges": [],
        "pickup_48h_rate": 0.8,
    },
]


def offer(
    oid: str,
    factory: str,
    title: str,
    leaf: str,
    price: float,
    *,
    top: str = "女装",
    moq: int = 2,
    tiers: list[tuple[int, float]] | None = None,
    dropship: float | None = None,
    colors: dict[str, int] | None = None,
    kinds: tuple[str, ...] = (),
    sales: int = 100,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": oid,
        "factory_id": factory,
        "title": title,
        "category": [top, leaf],
        "moq": moq,
        "price_tiers": [{"min_qty": q, "price": p} for q, p in (tiers or [(moq, price)])],
        "skus": [
            {"id": f"{oid}-{i}", "specs": {"颜色": c, "尺码": "M"}, "stock": s}
            for i, (c, s) in enumerate((colors or {"黑色": 50}).items())
        ],
        "customization": [
            {"kind": k, "name": f"定制{k}", "min_qty": 50, "unit_fee": 1, "setup_fee": 100}
            for k in kinds
        ],
        "sales_30d": sales,
    }
    if dropship is not None:
        record["dropship"] = {"supported": True, "price": dropship, "ship_within_hours": 48}
    return record


OFFERS = [
    offer(
        "d1",
        "gz-super",
        "2026夏季法式碎花连衣裙 收腰显瘦",
        "连衣裙",
        58,
        dropship=69,
        colors={"红色": 10, "黑色": 0},
        kinds=("logo",),
        sales=900,
    ),
    offer(
        "d2",
        "gz-small",
        "2026夏季法式碎花连衣裙 收腰显瘦",
        "连衣裙",
        58,
        dropship=75,
        colors={"红色": 5},
        sales=10,
    ),
    offer(
        "d3",
        "hz",
        "韩版吊带长款气质女装 度假风",
        "连衣裙",
        89,
        tiers=[(2, 89), (50, 72), (500, 60)],
        colors={"白色": 30},
    ),
    offer("d4", "hz", "纯棉宽松短袖t恤 印logo", "T恤", 25, colors={"白色": 100}, kinds=("logo",)),
    offer(
        "bag",
        "yw",
        "连衣裙收纳袋 防尘罩 挂式",
        "收纳袋",
        3.5,
        top="家居日用",
        moq=50,
        colors={"透明": 1000},
        sales=5000,
    ),
    offer(
        "case",
        "sz",
        "适用iphone15 手机壳 透明防摔",
        "手机壳",
        6,
        top="数码配件",
        dropship=9.9,
        colors={"透明": 200},
    ),
]


@pytest.fixture
async def index(engine: AsyncEngine, tmp_path: Path) -> SearchIndex:
    result = await import_catalog(engine, write_catalog(tmp_path / "cat", FACTORIES, OFFERS))
    assert result.ok
    return await SearchIndex.build(engine, _parser())


@functools.cache
def _parser() -> Parser:
    # seeds only (连衣裙, T恤, 手机壳, 收纳袋 … are known goods words), and not the process's
    # default parser, which other tests reconfigure with their own catalogs
    return Parser(load_lexicon(None))


def ids(index: SearchIndex, text: str, limit: int = 10) -> list[str]:
    return [h.offer_id for h in index.search(text, limit=limit).results]


async def test_a_dress_query_finds_dresses_not_the_storage_bag(index: SearchIndex) -> None:
    found = ids(index, "连衣裙")
    assert set(found) == {"d1", "d2", "d3"}  # the bag mentions 连衣裙 but is not a dress
    assert "bag" in ids(index, "连衣裙收纳袋")  # asked for the bag: the bag
    assert ids(index, "收纳袋") == ["bag"]


async def test_synonyms_find_dresses_whose_titles_do_not_say_so(index: SearchIndex) -> None:
    assert "d3" in ids(index, "裙子")  # d3's title never says 裙子 or 连衣裙
    assert "d3" in ids(index, "长裙")


async def test_quality_orders_equal_matches(index: SearchIndex) -> None:
    found = ids(index, "法式碎花连衣裙")
    assert found.index("d1") < found.index("d2")  # same title; the super factory first


async def test_price_by_the_contracts_rule(index: SearchIndex) -> None:
    # MOQ unit price: d1 and d2 cost 58, d3 89
    assert set(ids(index, "连衣裙 60元以内")) == {"d1", "d2"}
    # drop-ship asked: the drop-ship price counts (d1 69, d2 75; d3 offers none)
    assert ids(index, "连衣裙 一件代发 70元以内") == ["d1"]
    # a quantity: d3 at 500 pieces costs 60
    result = index.search("连衣裙 500件 60元以内")
    assert [h.offer_id for h in result.results if h.offer_id == "d3"] == ["d3"]
    d3 = next(h for h in result.results if h.offer_id == "d3")
    assert d3.unit_price == Decimal("60.00")  # the price at the asked quantity is shown
    assert isinstance(d3.unit_price, Decimal)


async def test_an_empty_price_says_the_nearest(index: SearchIndex) -> None:
    result = index.search("连衣裙 50元以内")
    assert result.results == [] and result.empty_reason is not None
    assert result.empty_reason.constraint == "price_max"
    assert result.empty_reason.text == "50.00元以内没有，最低58.00元"


async def test_color_must_be_in_stock(index: SearchIndex) -> None:
    assert set(ids(index, "红色连衣裙")) == {"d1", "d2"}
    assert ids(index, "白色连衣裙") == ["d3"]
    result = index.search("黑色连衣裙")  # d1 has black, but none in stock
    assert result.results == []
    assert result.empty_reason is not None and result.empty_reason.constraint == "colors"
    assert "红色" in result.empty_reason.text


async def test_customization_region_and_badges(index: SearchIndex) -> None:
    assert ids(index, "连衣裙 定制logo") == ["d1"]
    assert set(ids(index, "连衣裙 杭州")) == {"d3"}
    assert set(ids(index, "连衣裙 广州女装")) == {"d1", "d2"}
    assert ids(index, "连衣裙 超级工厂") == ["d1"]
    empty = index.search("连衣裙 义乌")
    assert empty.empty_reason is not None and empty.empty_reason.constraint == "region"
    assert "广州" in empty.empty_reason.text
    no_logo = index.search("手机壳 定制logo")
    assert no_logo.empty_reason is not None
    assert no_logo.empty_reason.constraint == "customization"


async def test_typos_and_model_numbers_through_the_parser(index: SearchIndex) -> None:
    result = index.search("连衣群 一件带发")
    assert {h.offer_id for h in result.results} == {"d1", "d2"}
    assert [c.to for c in result.query.corrections] == ["连衣裙", "一件代发"]
    assert ids(index, "iphone15") == ["case"]
    assert ids(index, "iPhone15 手机克") == ["case"]


async def test_not_a_search(index: SearchIndex) -> None:
    result = index.search("转人工")
    assert result.results == [] and result.empty_reason is not None
    assert result.empty_reason.constraint == "intent"


async def test_a_match_is_never_lost_to_the_candidate_cut(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """250 dresses outrank the one that meets the constraint on text; it is still found."""
    many = [
        offer(f"x{i:03d}", "gz-small", "法式碎花连衣裙 法式 碎花 连衣裙", "连衣裙", 99)
        for i in range(250)
    ]
    many.append(offer("cheap", "gz-small", "连衣裙", "连衣裙", 10))
    await import_catalog(engine, write_catalog(tmp_path / "c", FACTORIES, many))
    index = await SearchIndex.build(engine, _parser())
    assert ids(index, "法式碎花连衣裙 20元以内") == ["cheap"]


async def test_a_named_attribute_is_preferred(engine: AsyncEngine, tmp_path: Path) -> None:
    """Same title, same factory quality: the offer whose attributes have what was asked wins."""
    cotton = offer("cotton", "gz-small", "夏季宽松连衣裙", "连衣裙", 50)
    cotton["attributes"] = {"材质": "纯棉", "领型": "V领"}
    poly = offer("poly", "gz-small", "夏季宽松连衣裙", "连衣裙", 50)
    poly["attributes"] = {"材质": "涤纶", "领型": "圆领"}
    await import_catalog(engine, write_catalog(tmp_path / "c", FACTORIES, [poly, cotton]))
    index = await SearchIndex.build(engine, _parser())
    assert ids(index, "纯棉连衣裙") == ["cotton", "poly"]  # a material slot
    assert ids(index, "v领连衣裙") == ["cotton", "poly"]  # an attribute value as a keyword
    assert ids(index, "涤纶 连衣裙")[0] == "poly"


async def test_the_service_rebuilds_after_an_import(engine: AsyncEngine, tmp_path: Path) -> None:
    await import_catalog(engine, write_catalog(tmp_path / "v1", FACTORIES, OFFERS[:2]))
    service = SearchService(engine, _parser())
    assert await service.refresh() is True
    assert await service.refresh() is False  # nothing new: the index is kept
    assert [h.offer_id for h in service.search("手机壳").results] == []
    await import_catalog(engine, write_catalog(tmp_path / "v2", FACTORIES, OFFERS))
    assert await service.refresh() is True
    assert [h.offer_id for h in service.search("手机壳").results] == ["case"]


def test_search_command(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "import", str(write_catalog(tmp_path / "c", FACTORIES, OFFERS))]) == 0
    capsys.readouterr()
    queries = tmp_path / "q.txt"
    queries.write_text("连衣裙 一件代发\n连衣裙 50元以内\n", encoding="utf-8")
    assert main(["search", "--json", "--limit", "1", "--batch", str(queries)]) == 0
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["query"]["dropship"] is True
    assert len(first["results"]) == 1
    hit = first["results"][0]
    assert set(hit) == {
        "offer_id",
        "title",
        "score",
        "unit_price",
        "dropship_price",
        "moq",
        "factory_id",
        "factory_name",
        "city",
        "badges",
        "category_top",
        "category_leaf",
    }
    assert hit["offer_id"] == "d1" and hit["unit_price"] == "69.00" and hit["city"] == "广州"
    assert hit["category_top"] == "女装" and hit["category_leaf"] == "连衣裙"
    assert first["empty_reason"] is None
    assert first["top_leaves"] == [["连衣裙", 2]]
    assert first["price_bands"] == [[None, "70.00"], ["70.00", None]]  # drop-ship 69 and 75
    assert second["results"] == [] and second["empty_reason"] == "50.00元以内没有，最低58.00元"
    assert main(["search", "收纳袋"]) == 0
    assert "连衣裙收纳袋" in capsys.readouterr().out


# --- what the handlers build on: categories, leaves, price bands, empty reasons, bundles ------


async def test_hits_carry_their_categories(index: SearchIndex) -> None:
    hits = {h.offer_id: h for h in index.search("连衣裙收纳袋").results}
    assert (hits["bag"].category_top, hits["bag"].category_leaf) == ("家居日用", "收纳袋")
    dress = index.search("连衣裙").results[0]
    assert (dress.category_top, dress.category_leaf) == ("女装", "连衣裙")
    assert dress.as_json()["category_leaf"] == "连衣裙"


async def test_top_leaves_count_the_best_results(index: SearchIndex) -> None:
    assert index.search("连衣裙").top_leaves == [("连衣裙", 3)]
    # no category recognized: two dresses say 收腰, the bag 挂式; most common first
    assert index.search("收腰 挂式").top_leaves == [("连衣裙", 2), ("收纳袋", 1)]
    assert index.search("连衣裙 50元以内").top_leaves == []  # nothing met the constraints
    # before paging: the second page reports the same leaves
    assert index.search("连衣裙", limit=1, offset=2).top_leaves == [("连衣裙", 3)]


async def test_price_bands_by_the_constraints_price(index: SearchIndex) -> None:
    # MOQ unit prices 58, 58, 89: two bands, split at a round 80
    assert index.search("连衣裙").price_bands == [
        (None, Decimal("80.00")),
        (Decimal("80.00"), None),
    ]
    # drop-ship asked: the drop-ship prices (69, 75) are what the bands split
    assert index.search("连衣裙 一件代发").price_bands == [
        (None, Decimal("70.00")),
        (Decimal("70.00"), None),
    ]
    assert index.search("手机壳").price_bands == []  # one offer
    assert index.search("红色连衣裙").price_bands == []  # two offers, one price (58)
    query = index.search("连衣裙").query
    for low, high in index.search("连衣裙").price_bands:
        banded = query.model_copy(update={"price_min": low, "price_max": high})
        assert index.search(banded).total > 0


async def test_empty_reasons_say_what_was_asked_and_the_options(index: SearchIndex) -> None:
    def reason(text: str) -> tuple[str, list[str], list[str], str | None]:
        result = index.search(text)
        assert result.results == [] and result.empty_reason is not None, text
        r = result.empty_reason
        return r.constraint, r.asked, r.options, r.nearest

    assert reason("连衣裙 50元以内") == ("price_max", ["50.00"], ["58.00"], "58.00")
    assert reason("连衣裙 100元以上") == ("price_min", ["100.00"], ["89.00"], "89.00")
    # in stock among the dresses: 红色 in d1 and d2, 白色 in d3 (d1's 黑色 has none)
    assert reason("黑色连衣裙") == ("colors", ["黑色"], ["红色", "白色"], "红色、白色")
    assert reason("连衣裙 xl码") == ("sizes", ["XL"], ["M"], "M")
    assert reason("连衣裙 义乌") == ("region", ["义乌"], ["广州", "杭州"], "广州、杭州")
    assert reason("连衣裙 1件") == ("quantity", ["1"], ["2"], "2")
    assert reason("T恤 一件代发") == ("dropship", [], [], "2件起批")
    assert reason("手机壳 定制logo") == ("customization", ["logo"], [], None)
    assert reason("手机壳 超级工厂") == ("badges", ["super_factory"], [], "1")
    assert reason("火箭发动机") == ("keywords", ["火箭", "发动机"], [], None)
    assert reason("转人工") == ("intent", [], [], None)
    # the Chinese text stays for the CLI
    assert index.search("连衣裙 义乌").empty_reason.text == "义乌没有这类货，货源在：广州、杭州"


async def test_a_material_alone_is_searched(index: SearchIndex) -> None:
    cotton = index.search("纯棉")  # the parser reads it as a change; asked to search: goods
    assert cotton.query.intent.value == "modify" and cotton.query.changes == ["materials"]
    assert [h.offer_id for h in cotton.results] == ["d4"]  # 纯棉宽松短袖t恤
    assert [h.offer_id for h in index.search("纯棉 白色").results] == ["d4"]
    assert index.search("纯棉 红色").empty_reason.constraint == "colors"
    assert index.search("涤纶").empty_reason.asked == ["涤纶"]  # no offer has the word
    # a color alone would be a pass over every offer: not a search
    assert index.search("红色").empty_reason.constraint == "intent"


async def test_bundle_picks_other_categories_by_tag(index: SearchIndex) -> None:
    bundle = index.bundle_for("d1", ["收纳袋", "手机壳"])
    assert [h.offer_id for h in bundle] == ["bag", "case"]
    assert [h.unit_price for h in bundle] == [Decimal("3.50"), Decimal("6.00")]  # MOQ price
    assert [h.category_leaf for h in bundle] == ["收纳袋", "手机壳"]
    # the offer's own leaf is never suggested, by leaf name, top category or word
    assert index.bundle_for("d1", ["连衣裙", "女装"]) == [index.bundle_for("d1", ["T恤"])[0]]
    assert [h.offer_id for h in index.bundle_for("d1", ["数码配件", "没有的东西"])] == ["case"]
    assert index.bundle_for("d1", ["收纳袋", "手机壳"], limit=1)[0].offer_id == "bag"
    assert index.bundle_for("d1", []) == []


# --- on the demo catalog ------------------------------------------------------------------


@dataclass
class Demo:
    index: SearchIndex
    offers: dict[str, dict[str, Any]]  # the catalog's records by id


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """2,000 demo offers imported into a scratch store, indexed with the catalog's lexicon
    (as the bot runs); the store is dropped once the index is built (it lives in memory)."""
    folder = tmp_path_factory.mktemp("demo")
    generate(folder / "catalog", offers=2000, seed=1688)

    async def build() -> SearchIndex:
        store = await make_store(str(request.param), folder)
        try:
            assert (await import_catalog(store.engine, folder / "catalog")).ok
            lexicon = folder / "lexicon.json"
            data = await build_catalog_lexicon(store.engine)
            lexicon.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            return await SearchIndex.build(store.engine, Parser(load_lexicon(lexicon)))
        finally:
            await store.close()

    index = asyncio.run(build())
    lines = (folder / "catalog" / "offers.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line, parse_float=Decimal) for line in lines]
    return Demo(index, {r["id"]: r for r in records})


def test_vague_queries_span_several_leaves(demo: Demo) -> None:
    index = demo.index
    for text in ("纯棉", "夏季新款", "饰品"):
        result = index.search(text)
        assert len(result.top_leaves) >= 3, (text, result.top_leaves)
        counts = [n for _, n in result.top_leaves]
        assert counts == sorted(counts, reverse=True)
        assert sum(counts) == min(result.total, 20)
    dresses = index.search("连衣裙")
    assert dresses.total > 20 and dresses.top_leaves == [("连衣裙", 20)]
    # "纯棉" alone: the goods whose words say 纯棉 (attributes, titles), of many kinds
    cotton = index.search("纯棉")
    assert cotton.total > 20
    for hit in cotton.results:
        record = demo.offers[hit.offer_id]
        assert "纯棉" in record["title"] + json.dumps(record["attributes"], ensure_ascii=False)


def _nice(amount: Decimal) -> bool:
    """At most two significant digits: 30, 45, 1.2, 2500."""
    return len(str(int(amount * 100)).rstrip("0")) <= 2


BAND_QUERIES = [
    "连衣裙",
    "纯棉",
    "饰品 一件代发",
    "耳环 一件代发",
    "T恤 100件",
    "保温杯 义乌",
    "手机壳",
    "连衣裙 100元以内",
    "T恤 10到30元",
]


def _check_bands(index: SearchIndex, text: str) -> None:
    result = index.search(text, limit=1000)
    assert 2 <= result.total <= 200  # so the results are every offer that met the query
    bands = result.price_bands
    assert 2 <= len(bands) <= 3
    # the outer ends: the query's own bounds (None when it has none), never wider
    assert (bands[0][0], bands[-1][1]) == (result.query.price_min, result.query.price_max)
    cuts = [high for _, high in bands[:-1]]
    assert cuts == [low for low, _ in bands[1:]]  # adjacent: each band starts where one ends
    assert all(c is not None and _nice(c) for c in cuts)
    assert cuts == sorted(set(cuts))  # increasing, so no band repeats another
    covered: set[str] = set()
    for low, high in bands:
        query = result.query.model_copy(update={"price_min": low, "price_max": high})
        banded = index.search(query, limit=1000)
        assert banded.total > 0, (low, high)
        for hit in banded.results:  # by the same unit price as the query's constraints
            assert low is None or hit.unit_price >= low
            assert high is None or hit.unit_price <= high
        covered |= {h.offer_id for h in banded.results}
    assert covered == {h.offer_id for h in result.results}


@pytest.mark.parametrize("text", BAND_QUERIES)
def test_price_bands_cover_the_results_and_each_finds_some(demo: Demo, text: str) -> None:
    _check_bands(demo.index, text)


def test_price_bands_from_a_sample_of_the_prices(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many offers: the thirds come from a sample; the bands still hold."""
    monkeypatch.setattr(search_module, "_BAND_SAMPLE", 7)
    for text in BAND_QUERIES:
        _check_bands(demo.index, text)


def test_bundles_on_the_demo_catalog(demo: Demo) -> None:
    index = demo.index
    quality = index.quality.tolist()

    def best_of(leaf: str, but: set[str]) -> str:
        """By hand: the leaf's best quality, ties to the lower row (every offer indexed is
        active and priced)."""
        rows = [int(i) for i in index.leaf_rows[index.leaves[leaf]] if index.ids[i] not in but]
        return index.ids[max(rows, key=lambda i: (quality[i], -i))]

    checked = 0
    for offer_id, record in demo.offers.items():
        tags = record.get("bundle_tags", [])
        if not record["active"] or len(tags) < 2:
            continue
        bundle = index.bundle_for(offer_id, tags, limit=len(tags))
        assert bundle == index.bundle_for(offer_id, tags, limit=len(tags))  # deterministic
        # one per tag, in tag order, each the best active offer of that leaf
        assert [h.category_leaf for h in bundle] == tags
        assert [h.offer_id for h in bundle] == [best_of(t, set()) for t in tags]
        for hit in bundle:
            suggested = demo.offers[hit.offer_id]
            assert suggested["active"] and hit.offer_id != offer_id
            assert hit.category_leaf != record["category"][-1]
            assert hit.unit_price == Decimal(suggested["price_tiers"][0]["price"])  # MOQ price
        # more than one per tag when asked: round by round, the next best
        five = index.bundle_for(offer_id, tags[:2], limit=5)
        assert [h.category_leaf for h in five] == [tags[0], tags[1]] * 2 + [tags[0]]
        first = five[0].offer_id
        assert five[2].offer_id == best_of(tags[0], {first})
        checked += 1
        if checked == 25:
            break
    assert checked == 25


def test_bundle_tags_resolve_tops_and_synonyms(demo: Demo) -> None:
    index = demo.index
    offer_id = next(
        oid
        for oid, r in sorted(demo.offers.items())
        if r["active"] and r["category"] == ["配饰", "腰带"]
    )
    # a top category: its best offer outside the offer's own leaf (腰带 is 配饰 too)
    [accessory] = index.bundle_for(offer_id, ["配饰"], limit=1)
    assert accessory.category_top == "配饰" and accessory.category_leaf != "腰带"
    # buyer words the lexicon maps to a leaf or a top; unknown tags and repeats are skipped
    hits = index.bundle_for(offer_id, ["墨镜", "包包", "饰品", "没有这种东西", "墨镜"], limit=5)
    assert [h.category_leaf for h in hits][:2] == ["太阳镜", "手提包"]
    assert hits[2].category_top == "配饰" and hits[2].category_leaf != "腰带"
    assert len({h.offer_id for h in hits}) == len(hits)
    # the offer's own leaf as a tag: nothing from it
    assert index.bundle_for(offer_id, ["腰带", "皮带"]) == []
    # an offer that is off sale or unknown: only it is excluded
    inactive = next(oid for oid, r in sorted(demo.offers.items()) if not r["active"])
    assert inactive not in index.ids
    assert [h.category_leaf for h in index.bundle_for(inactive, ["腰带"], limit=1)] == ["腰带"]
