"""Small hand-written catalogs for tests, and helpers to write them in the contract's format."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

FACTORIES: list[dict[str, Any]] = [
    {
        "id": "f-yiwu-1",
        "name": "义乌市晨光饰品厂",
        "province": "浙江",
        "city": "义乌",
        "industrial_belt": "义乌小商品",
        "badges": ["super_factory", "trust_pass"],
        "trust_years": 9,
        "pickup_48h_rate": 0.97,
        "response_rate": 0.92,
        "rating": 4.8,
        "supplier_chat_id": -1001234567890,
        "wechat_id": "chenguang_yw",
    },
    {
        "id": "f-gz-1",
        "name": "广州市白云区雅姿服饰有限公司",
        "province": "广东",
        "city": "广州",
        "industrial_belt": "广州女装",
        "badges": ["power_merchant"],
    },
    {"id": "f-yk-1", "name": "永康市锦鸿杯业有限公司", "province": "浙江", "city": "永康"},
]

OFFERS: list[dict[str, Any]] = [
    {
        "id": "o-hairclip-1",
        "factory_id": "f-yiwu-1",
        "title": "2026新款韩版珍珠发夹 边夹 一件代发",
        "category": ["配饰", "发夹"],
        "attributes": {"材质": "合金", "风格": "韩版"},
        "keywords": ["发夹", "边夹"],
        "unit": "个",
        "moq": 2,
        "price_tiers": [
            {"min_qty": 2, "price": 25.00},
            {"min_qty": 50, "price": 21.5},
            {"min_qty": 500, "price": 18},
        ],
        "dropship": {"supported": True, "price": 29.9, "ship_within_hours": 48},
        "skus": [
            {"id": "s-red", "specs": {"颜色": "红色"}, "stock": 120},
            {"id": "s-black", "specs": {"颜色": "黑色"}, "price": 26.5, "stock": 0},
        ],
        "customization": [
            {
                "kind": "logo",
                "name": "丝印logo",
                "min_qty": 100,
                "unit_fee": 0.5,
                "setup_fee": 200,
                "lead_days": 3,
            },
            {
                "kind": "sample",
                "name": "打样",
                "min_qty": 1,
                "unit_fee": 30,
                "setup_fee": 0,
                "lead_hours": 2,
            },
        ],
        "images": ["https://img.example.com/o-hairclip-1.jpg"],
        "bundle_tags": ["耳环", "发圈"],
        "sales_30d": 1200,
        "repurchase_rate": 0.31,
        "mix_wholesale": True,
        "shipping_fee": 0,
        "active": True,
        "origin_url": "https://detail.example.com/o-hairclip-1",
    },
    {
        "id": "o-dress-1",
        "factory_id": "f-gz-1",
        "title": "法式碎花连衣裙女夏 收腰显瘦长裙",
        "category": ["女装", "连衣裙"],
        "moq": 1,
        "price_tiers": [{"min_qty": 1, "price": 59}, {"min_qty": 10, "price": 52.8}],
        "skus": [
            {"id": "s-m", "specs": {"颜色": "蓝色", "尺码": "M"}, "stock": 30},
            {"id": "s-l", "specs": {"颜色": "蓝色", "尺码": "L"}, "stock": 12},
        ],
        "mix_wholesale": False,
        "shipping_fee": 8,
    },
    {
        "id": "o-cup-1",
        "factory_id": "f-yk-1",
        "title": "316不锈钢保温杯 大容量 定制logo",
        "category": ["家居日用", "保温杯"],
        "moq": 20,
        "price_tiers": [{"min_qty": 20, "price": 32.5}],
        "dropship": {"supported": False},
        "skus": [{"id": "s-500", "specs": {"颜色": "白色", "容量": "500ml"}, "stock": 800}],
    },
]


def catalog() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A fresh deep copy, safe to mutate in a test."""
    return copy.deepcopy(FACTORIES), copy.deepcopy(OFFERS)


def write_catalog(
    folder: Path,
    factories: list[dict[str, Any]] | None = None,
    offers: list[dict[str, Any]] | None = None,
) -> Path:
    base_factories, base_offers = catalog()
    folder.mkdir(parents=True, exist_ok=True)
    for name, records in (
        ("factories.jsonl", base_factories if factories is None else factories),
        ("offers.jsonl", base_offers if offers is None else offers),
    ):
        with (folder / name).open("w", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return folder
