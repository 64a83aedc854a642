"""Search on small hand-built catalogs where the right answer is obvious, on both databases."""

from __future__ import annotations

import functools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli import main
from catalog_store.importer import import_catalog
from catalog_store.search import SearchIndex, SearchService
from nlu import Parser
from nlu.lexicon import load_lexicon
from tests.catalog_samples import write_catalog

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
    }
    assert hit["offer_id"] == "d1" and hit["unit_price"] == "69.00" and hit["city"] == "广州"
    assert first["empty_reason"] is None
    assert second["results"] == [] and second["empty_reason"] == "50.00元以内没有，最低58.00元"
    assert main(["search", "收纳袋"]) == 0
    assert "连衣裙收纳袋" in capsys.readouterr().out
