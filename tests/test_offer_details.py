"""One offer's details as the offer card reads them, on both databases; the price rule."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog_store import db
from catalog_store.importer import import_catalog
from catalog_store.models import Offer
from catalog_store.offer_details import (
    CustomizationView,
    FactoryView,
    OfferDetails,
    SkuView,
    TierView,
    load_offer,
    unit_price_at,
)
from catalog_store.search import SearchIndex
from nlu import Parser
from nlu.lexicon import load_lexicon
from tests.catalog_samples import catalog, write_catalog


def _sample_offers() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    factories, offers = catalog()
    # SKUs and options whose catalog order is not the order of their ids or kinds
    offers.append(
        {
            "id": "o-bag-1",
            "factory_id": "f-yiwu-1",
            "title": "帆布托特包 定制印字",
            "category": ["箱包", "手提包"],
            "moq": 10,
            "price_tiers": [{"min_qty": 10, "price": 12}, {"min_qty": 100, "price": 9.9}],
            "skus": [
                {"id": "z-last-id", "specs": {"颜色": "米白", "尺码": "大号"}, "stock": 5},
                {"id": "a-first-id", "specs": {"颜色": "黑色", "规格": "加厚"}, "stock": 0},
                {"id": "m-middle", "specs": {"颜色": "卡其"}, "price": 15, "stock": 40},
            ],
            "customization": [
                {"kind": "sample", "name": "打样", "unit_fee": 20, "setup_fee": 0, "lead_days": 3},
                {
                    "kind": "logo",
                    "name": "丝印logo",
                    "min_qty": 100,
                    "unit_fee": 0.8,
                    "setup_fee": 150,
                    "lead_days": 5,
                },
            ],
            "bundle_tags": ["钱包", "配饰"],
            "active": False,
        }
    )
    return factories, offers


@pytest.fixture
async def store(engine: AsyncEngine, tmp_path: Path) -> AsyncEngine:
    factories, offers = _sample_offers()
    result = await import_catalog(engine, write_catalog(tmp_path / "c", factories, offers))
    assert result.ok
    return engine


async def _load(engine: AsyncEngine, offer_id: str) -> OfferDetails | None:
    async with db.session_factory(engine)() as session:
        return await load_offer(session, offer_id)


async def test_an_offer_with_everything(store: AsyncEngine) -> None:
    details = await _load(store, "o-hairclip-1")
    assert details is not None
    assert (details.offer_id, details.title) == (
        "o-hairclip-1",
        "2026新款韩版珍珠发夹 边夹 一件代发",
    )
    assert (details.category_top, details.category_leaf) == ("配饰", "发夹")
    assert (details.unit, details.moq) == ("个", 2)
    assert details.tiers == [
        TierView(2, Decimal("25.00")),
        TierView(50, Decimal("21.50")),
        TierView(500, Decimal("18.00")),
    ]
    assert all(isinstance(t.price, Decimal) for t in details.tiers)
    assert details.dropship_supported is True
    assert details.dropship_price == Decimal("29.90")
    assert details.dropship_ship_within_hours == 48
    assert details.images == ["https://img.example.com/o-hairclip-1.jpg"]
    assert details.bundle_tags == ["耳环", "发圈"]
    assert details.skus == [
        SkuView("s-red", "红色", None, {"颜色": "红色"}, None, 120),
        SkuView("s-black", "黑色", None, {"颜色": "黑色"}, Decimal("26.50"), 0),
    ]
    assert details.customization == [
        CustomizationView("logo", "丝印logo", 100, Decimal("0.50"), Decimal("200.00"), 3, None),
        CustomizationView("sample", "打样", 1, Decimal("30.00"), Decimal("0.00"), None, 2),
    ]
    assert details.factory == FactoryView(
        id="f-yiwu-1",
        name="义乌市晨光饰品厂",
        province="浙江",
        city="义乌",
        industrial_belt="义乌小商品",
        badges=["super_factory", "trust_pass"],
        pickup_48h_rate=0.97,
        rating=4.8,
        trust_years=9,
        response_rate=0.92,
    )
    assert details.active is True and details.mix_wholesale is True
    assert details.shipping_fee == Decimal("0.00")
    assert details.sales_30d == 1200
    assert details.attributes == {"材质": "合金", "风格": "韩版"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        details.title = "changed"  # type: ignore[misc]


async def test_defaults_and_a_sparse_factory(store: AsyncEngine) -> None:
    cup = await _load(store, "o-cup-1")
    assert cup is not None
    assert cup.unit == "件" and cup.images == [] and cup.bundle_tags == [] and cup.attributes == {}
    assert cup.dropship_supported is False and cup.dropship_price is None
    assert cup.dropship_ship_within_hours is None
    assert cup.customization == [] and cup.shipping_fee is None and cup.sales_30d is None
    assert cup.skus == [
        SkuView("s-500", "白色", None, {"颜色": "白色", "容量": "500ml"}, None, 800)
    ]
    assert cup.factory.badges == [] and cup.factory.industrial_belt is None
    assert cup.factory.rating is None and cup.factory.trust_years is None
    dress = await _load(store, "o-dress-1")
    assert dress is not None
    assert dress.mix_wholesale is False and dress.shipping_fee == Decimal("8.00")
    assert [(s.sku_id, s.color, s.size) for s in dress.skus] == [
        ("s-m", "蓝色", "M"),
        ("s-l", "蓝色", "L"),
    ]


async def test_catalog_order_and_inactive_offers(store: AsyncEngine) -> None:
    bag = await _load(store, "o-bag-1")
    assert bag is not None and bag.active is False  # off sale, still readable
    assert [s.sku_id for s in bag.skus] == ["z-last-id", "a-first-id", "m-middle"]
    assert bag.skus[0].specs == {"颜色": "米白", "尺码": "大号"} and bag.skus[0].size == "大号"
    assert [c.kind for c in bag.customization] == ["sample", "logo"]
    assert bag.customization[0].min_qty == 1  # the contract's default
    assert bag.customization[0].lead_days == 3 and bag.customization[0].lead_hours is None
    assert await _load(store, "no-such-offer") is None


async def test_loading_in_a_session_that_already_holds_the_offer(store: AsyncEngine) -> None:
    async with db.session_factory(store)() as session:
        offer = (await session.execute(select(Offer).where(Offer.id == "o-bag-1"))).scalar_one()
        with pytest.raises(Exception, match="lazy"):
            _ = offer.skus  # the models never load behind the caller's back
        details = await load_offer(session, "o-bag-1")
    assert details is not None and len(details.skus) == 3  # kept after the session closed


async def test_unit_price_by_the_contracts_rule(store: AsyncEngine) -> None:
    clip = await _load(store, "o-hairclip-1")
    assert clip is not None
    # the contract's worked example: tiers 2 → 25.00, 50 → 21.50, 500 → 18.00
    assert unit_price_at(clip, 1) is None  # below MOQ: refused
    assert unit_price_at(clip, 2) == Decimal("25.00")
    assert unit_price_at(clip, 10) * 10 == Decimal("250.00")
    assert unit_price_at(clip, 49) == Decimal("25.00")
    assert unit_price_at(clip, 50) == Decimal("21.50")
    assert unit_price_at(clip, 60) * 60 == Decimal("1290.00")
    assert unit_price_at(clip, 500) == Decimal("18.00")
    assert unit_price_at(clip, 100_000) == Decimal("18.00")
    # a SKU with its own price: that price at every wholesale quantity, still not below MOQ
    assert unit_price_at(clip, 10, sku_id="s-black") == Decimal("26.50")
    assert unit_price_at(clip, 500, sku_id="s-black") == Decimal("26.50")
    assert unit_price_at(clip, 1, sku_id="s-black") is None
    assert unit_price_at(clip, 500, sku_id="s-red") == Decimal("18.00")  # no own price
    with pytest.raises(ValueError, match="no SKU"):
        unit_price_at(clip, 10, sku_id="s-green")


async def test_unit_price_agrees_with_search(store: AsyncEngine) -> None:
    """The card and the search show the same price for the same quantity."""
    index = await SearchIndex.build(store, Parser(load_lexicon(None)))
    for offer_id, text in (("o-hairclip-1", "发夹"), ("o-dress-1", "连衣裙")):
        details = await _load(store, offer_id)
        assert details is not None
        for qty in (1, 2, 9, 10, 49, 50, 499, 500, 5000):
            result = index.search(f"{text} {qty}件")
            hits = [h for h in result.results if h.offer_id == offer_id]
            price = unit_price_at(details, qty)
            assert [h.unit_price for h in hits] == ([] if price is None else [price]), qty
