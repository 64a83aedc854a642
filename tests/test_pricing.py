"""catalog_store.pricing: the contract's price rules (worked examples), refusals with the
nearest valid quantity, the stock check; catalog_store.carriers: tracking-number shapes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog_store import db
from catalog_store.carriers import CARRIERS, normalize_tracking_no, tracking_problem
from catalog_store.importer import import_catalog
from catalog_store.offer_details import (
    CustomizationView,
    FactoryView,
    OfferDetails,
    SkuView,
    TierView,
    load_offer,
)
from catalog_store.pricing import (
    NO_SKU,
    Quote,
    QuoteCustomization,
    QuoteLine,
    QuoteRefused,
    check_quantity,
    quote,
)
from tests.catalog_samples import write_catalog

NOW = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)
D = Decimal


def _offer(**changes: Any) -> OfferDetails:
    """The contract's worked example: tiers {2: 25.00, 50: 21.50, 500: 18.00}."""
    base = OfferDetails(
        offer_id="o-1",
        title="韩版珍珠发夹",
        category_top="配饰",
        category_leaf="发夹",
        unit="个",
        moq=2,
        tiers=[TierView(2, D("25.00")), TierView(50, D("21.50")), TierView(500, D("18.00"))],
        dropship_supported=True,
        dropship_price=D("29.90"),
        dropship_ship_within_hours=24,
        images=[],
        bundle_tags=[],
        skus=[
            SkuView("red", "红色", None, {"颜色": "红色"}, None, 100),
            SkuView("black", "黑色", None, {"颜色": "黑色"}, D("26.50"), 100),
            SkuView("white", "白色", None, {"颜色": "白色"}, None, 3),
        ],
        customization=[
            CustomizationView("logo", "丝印logo", 100, D("0.50"), D("200.00"), 3, None),
            CustomizationView("sample", "打样", 1, D("30.00"), D("15.00"), None, 2),
            CustomizationView("packaging", "礼盒", 10, D("1.20"), D("0.00"), 1.5, None),
        ],
        factory=FactoryView("f-1", "厂", "浙江", "义乌", None, [], None, None, None, None),
        active=True,
        mix_wholesale=True,
        shipping_fee=D("12.00"),
        sales_30d=None,
        attributes={},
    )
    return dataclasses.replace(base, **changes)


def _refusal(*args: Any) -> QuoteRefused:
    with pytest.raises(QuoteRefused) as caught:
        quote(*args)
    return caught.value


# --- the contract's worked examples -------------------------------------------------------


def test_wholesale_worked_examples() -> None:
    offer = _offer(shipping_fee=None)
    ten = quote(offer, "wholesale", [("red", 10)], [], NOW)
    assert ten.goods_total == D("250.00")
    assert ten.lines == (QuoteLine("red", {"颜色": "红色"}, 10, D("25.00"), D("250.00")),)
    assert (ten.shipping_fee, ten.customization_total, ten.total) == (
        D("0.00"),
        D("0.00"),
        D("250.00"),
    )
    sixty = quote(offer, "wholesale", [("red", 60)], [], NOW)
    assert (sixty.lines[0].unit_price, sixty.total) == (D("21.50"), D("1290.00"))
    assert quote(offer, "wholesale", [("red", 500)], [], NOW).total == D("9000.00")
    one = _refusal(offer, "wholesale", [("red", 1)], [], NOW)
    assert (one.code, one.nearest) == ("below_moq", 2)


def test_wholesale_with_mixing_prices_every_sku_at_the_order_total() -> None:
    offer = _offer()
    q = quote(offer, "wholesale", [("red", 30), ("white", 20), ("black", 10)], [], NOW)
    # 60 pieces in all: the 50-tier for the tiered SKUs; black has its own flat price
    assert [(line.sku_id, line.unit_price, line.line_total) for line in q.lines] == [
        ("red", D("21.50"), D("645.00")),
        ("white", D("21.50"), D("430.00")),
        ("black", D("26.50"), D("265.00")),
    ]
    assert q.goods_total == D("1340.00")
    assert q.shipping_fee == D("12.00")
    assert q.total == D("1352.00")
    assert q.qty == 60
    # one piece of each of two SKUs meets the MOQ of 2 with 混批
    assert quote(offer, "wholesale", [("red", 1), ("white", 1)], [], NOW).total == D("62.00")
    # the same SKU twice is one line
    merged = quote(offer, "wholesale", [("red", 30), ("red", 30)], [], NOW)
    assert [(line.sku_id, line.qty) for line in merged.lines] == [("red", 60)]


def test_wholesale_without_mixing_needs_the_moq_per_sku_at_its_own_tier() -> None:
    offer = _offer(mix_wholesale=False, moq=10, tiers=[TierView(10, D("5")), TierView(50, D("4"))])
    q = quote(offer, "wholesale", [("red", 50), ("white", 10)], [], NOW)
    assert [(line.unit_price, line.line_total) for line in q.lines] == [
        (D("4.00"), D("200.00")),
        (D("5.00"), D("50.00")),
    ]
    refused = _refusal(offer, "wholesale", [("red", 50), ("white", 9)], [], NOW)
    assert (refused.code, refused.nearest) == ("sku_below_moq", 10)
    assert "white" in refused.message


def test_dropship_is_the_dropship_price_from_one_piece_shipping_included() -> None:
    offer = _offer()
    q = quote(offer, "dropship", [("red", 1), ("black", 2)], [], NOW)
    assert [line.unit_price for line in q.lines] == [D("29.90"), D("29.90")]
    assert (q.goods_total, q.shipping_fee, q.total) == (D("89.70"), D("0.00"), D("89.70"))
    assert q.lead_hours == 24
    assert q.ship_by == NOW + timedelta(hours=24)
    # no ship-within hours in the catalog: 48
    assert (
        quote(_offer(dropship_ship_within_hours=None), "dropship", [("red", 1)], [], NOW).lead_hours
        == 48
    )
    assert _refusal(_offer(dropship_supported=False), "dropship", [("red", 1)], [], NOW).code == (
        "no_dropship"
    )


def test_sample_is_each_piece_at_the_sample_fee_and_its_lead() -> None:
    q = quote(_offer(), "sample", [("red", 2)], [], NOW)
    assert [(line.unit_price, line.line_total) for line in q.lines] == [(D("30.00"), D("60.00"))]
    assert q.customization == (
        QuoteCustomization(1, "sample", "打样", D("0.00"), D("15.00"), 2, D("15.00")),
    )
    assert (q.goods_total, q.customization_total, q.shipping_fee, q.total) == (
        D("60.00"),
        D("15.00"),
        D("0.00"),
        D("75.00"),
    )
    assert q.lead_hours == 2  # 2-hour 打样
    no_sample = _offer(customization=[_offer().customization[0]])
    assert _refusal(no_sample, "sample", [("red", 1)], [], NOW).code == "no_sample"


def test_customization_is_unit_fee_times_pieces_plus_setup_once_from_min_qty() -> None:
    offer = _offer(shipping_fee=None)
    q = quote(offer, "wholesale", [("red", 60), ("white", 40)], [0, 2, 0], NOW)
    assert q.customization == (
        QuoteCustomization(0, "logo", "丝印logo", D("0.50"), D("200.00"), 100, D("250.00")),
        QuoteCustomization(2, "packaging", "礼盒", D("1.20"), D("0.00"), 100, D("120.00")),
    )
    assert q.goods_total == D("2150.00")  # 100 × 21.50
    assert q.customization_total == D("370.00")
    assert q.total == D("2520.00")
    assert q.lead_hours == 48 + 72 + 36  # base + 3 days + 1.5 days
    refused = _refusal(offer, "wholesale", [("red", 60)], [0], NOW)
    assert (refused.code, refused.nearest) == ("customization_min_qty", 100)
    assert _refusal(offer, "wholesale", [("red", 60)], [7], NOW).code == "bad_customization"
    assert _refusal(offer, "wholesale", [("red", 60)], [1], NOW).code == "bad_customization"
    # drop-ship customization too, from its min_qty
    assert quote(offer, "dropship", [("red", 10)], [2], NOW).customization_total == D("12.00")


def test_bad_lines_are_refused() -> None:
    offer = _offer()
    assert _refusal(offer, "wholesale", [], [], NOW).code == "bad_qty"
    assert _refusal(offer, "dropship", [("red", 0)], [], NOW).code == "bad_qty"
    assert _refusal(offer, "dropship", [("red", -3)], [], NOW).code == "bad_qty"
    assert _refusal(offer, "dropship", [("red", 1.5)], [], NOW).code == "bad_qty"
    assert _refusal(offer, "dropship", [("green", 1)], [], NOW).code == "unknown_sku"
    assert _refusal(offer, "dropship", [(NO_SKU, 1)], [], NOW).code == "unknown_sku"
    with pytest.raises(ValueError, match="pricing rule"):
        quote(offer, "custom", [("red", 1)], [], NOW)


def test_an_offer_without_skus_is_one_line_without_a_sku() -> None:
    offer = _offer(skus=[])
    q = quote(offer, "wholesale", [(NO_SKU, 10)], [], NOW)
    assert (q.lines[0].sku_id, q.lines[0].specs, q.goods_total) == (NO_SKU, {}, D("250.00"))
    assert check_quantity(offer, "wholesale", [(NO_SKU, 10_000)], [], {}) is None


def test_money_is_decimal_throughout() -> None:
    q = quote(_offer(), "dropship", [("red", 3)], [], NOW)
    assert isinstance(q, Quote)
    for value in (q.goods_total, q.total, q.lines[0].unit_price, q.lines[0].line_total):
        assert isinstance(value, Decimal)
    assert str(q.total) == "89.70"  # 3 × 29.90 exactly, never 89.69999…


# --- check_quantity -----------------------------------------------------------------------


def test_check_quantity_covers_moq_stock_and_customization() -> None:
    offer = _offer()
    stock = {"red": 100, "black": 100, "white": 3}
    assert check_quantity(offer, "wholesale", [("red", 10)], [], stock) is None
    below = check_quantity(offer, "wholesale", [("red", 1)], [], stock)
    assert below is not None and (below.code, below.nearest) == ("below_moq", 2)
    short = check_quantity(offer, "wholesale", [("red", 10), ("white", 5)], [], stock)
    assert short is not None and (short.code, short.nearest) == ("out_of_stock", 3)
    # what is left of the stock would not make a valid order: no nearest
    tight = _offer(mix_wholesale=False, moq=5)
    none_left = check_quantity(tight, "wholesale", [("white", 5)], [], stock)
    assert none_left is not None and (none_left.code, none_left.nearest) == ("out_of_stock", None)
    sold_out = check_quantity(offer, "dropship", [("red", 1)], [], {"red": 0})
    assert sold_out is not None and (sold_out.code, sold_out.nearest) == ("out_of_stock", None)
    missing = check_quantity(offer, "dropship", [("red", 1)], [], {})
    assert missing is not None and missing.code == "out_of_stock"
    logo = check_quantity(offer, "wholesale", [("red", 50)], [0], stock)
    assert logo is not None and (logo.code, logo.nearest) == ("customization_min_qty", 100)
    nomix = _offer(mix_wholesale=False)
    per_sku = check_quantity(nomix, "wholesale", [("red", 10), ("white", 1)], [], stock)
    assert per_sku is not None and (per_sku.code, per_sku.nearest) == ("sku_below_moq", 2)


# --- on the stored catalog ----------------------------------------------------------------


async def test_quote_on_the_imported_sample_catalog(engine: AsyncEngine, tmp_path: Path) -> None:
    await import_catalog(engine, write_catalog(tmp_path / "c"))
    async with db.session_factory(engine)() as session:
        hairclip = await load_offer(session, "o-hairclip-1")
        dress = await load_offer(session, "o-dress-1")
    assert hairclip is not None and dress is not None
    assert quote(hairclip, "wholesale", [("s-red", 10)], [], NOW).total == D("250.00")
    assert quote(hairclip, "wholesale", [("s-red", 60)], [], NOW).total == D("1290.00")
    assert _refusal(hairclip, "wholesale", [("s-red", 1)], [], NOW).code == "below_moq"
    assert quote(hairclip, "dropship", [("s-red", 1)], [], NOW).total == D("29.90")
    assert quote(hairclip, "sample", [("s-red", 1)], [], NOW).total == D("30.00")
    # dress: no 混批, 8.00 shipping, tiers {1: 59, 10: 52.8}
    q = quote(dress, "wholesale", [("s-m", 10), ("s-l", 2)], [], NOW)
    assert (q.goods_total, q.shipping_fee, q.total) == (D("646.00"), D("8.00"), D("654.00"))


# --- carriers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("carrier", "good", "bad"),
    [
        (
            "SF",
            ["SF1234567890123", "sf 1234 5678 9012"],
            ["1234567890123", "SF123", "SF12345678901234567"],
        ),
        ("ZTO", ["773012345678901", "123456789012"], ["ZT12345678901", "12345678901"]),
        ("YTO", ["YT1234567890123", "yt123456789012345"], ["1234567890123", "YT123456789012"]),
        ("STO", ["773098765432"], ["STO773098765432", "13800138000"]),
        ("YD", ["4312345678901", "431234567890123"], ["431234567890", "4312345678901234"]),
        ("JD", ["JDVA12345678901", "JD0123456789012AB"], ["JD123", "VA12345678901"]),
        (
            "EMS",
            ["EA123456789CN", "1234567890123", "ea-123456789-cn"],
            ["EA123456789US", "123456789012"],
        ),
        ("JT", ["JT1234567890123", "JT 5000 1234 5678 9"], ["J1234567890123", "JT12345"]),
    ],
)
def test_tracking_number_shapes(carrier: str, good: list[str], bad: list[str]) -> None:
    for number in good:
        assert tracking_problem(carrier, number) is None, number
    for number in bad:
        problem = tracking_problem(carrier, number)
        assert problem is not None and CARRIERS[carrier].name_zh in problem, number


def test_carriers_list_and_normalization() -> None:
    assert set(CARRIERS) == {"SF", "ZTO", "YTO", "STO", "YD", "JD", "EMS", "JT"}
    assert CARRIERS["SF"].name_zh == "顺丰速运" and CARRIERS["JT"].name_en == "J&T Express"
    assert normalize_tracking_no(" sf-1234 5678 9012 ") == "SF123456789012"
    assert tracking_problem("UPS", "1Z999") is not None
    assert tracking_problem("sf", "SF123456789012") is None
    assert tracking_problem("SF", "  ") == "no tracking number"
