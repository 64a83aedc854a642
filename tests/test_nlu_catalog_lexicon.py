"""The lexicon follows the catalog in the store; ``sourcing-bot parse`` prints parses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli import main
from catalog_store.importer import import_catalog
from catalog_store.lexicon_source import build_catalog_lexicon, ensure_catalog_lexicon
from nlu import Parser
from nlu.lexicon import load_lexicon
from tests.catalog_samples import catalog, write_catalog


def _box_offers(n: int) -> list[dict]:
    _, offers = catalog()
    base = offers[2]
    return [
        {
            **base,
            "id": f"o-box-{i}",
            "title": f"桌面整理盒 抽屉式 {i}号",
            "category": ["家居日用", "收纳盒"],
            "keywords": ["整理盒", "收纳"],
        }
        for i in range(n)
    ]


async def test_lexicon_follows_the_catalog(engine: AsyncEngine, tmp_path: Path) -> None:
    path = tmp_path / "lexicon" / "catalog.json"
    await import_catalog(engine, write_catalog(tmp_path / "v1"))
    assert await ensure_catalog_lexicon(engine, path) is True
    assert await ensure_catalog_lexicon(engine, path) is False  # unchanged catalog: kept

    before = Parser(load_lexicon(path))
    assert before.parse("法式长裙").category == "连衣裙"  # a seed synonym of a catalog leaf
    assert before.parse("桌面整理盒").category is None  # no such goods in this catalog yet

    factories, offers = catalog()
    await import_catalog(engine, write_catalog(tmp_path / "v2", factories, offers + _box_offers(4)))
    assert await ensure_catalog_lexicon(engine, path) is True  # a new import: rebuilt
    after = Parser(load_lexicon(path))
    parsed = after.parse("桌面整理盒 义乌")
    assert parsed.category == "收纳盒"  # the sellers' own word for the new leaf
    assert parsed.region == "义乌"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["synonyms"]["整理盒"] == "收纳盒"
    assert data["leaves"]["收纳盒"] == ["家居日用", "收纳盒"]


async def test_compound_keywords_are_not_synonyms(engine: AsyncEngine, tmp_path: Path) -> None:
    factories, offers = catalog()
    boxes = _box_offers(5)
    for offer in boxes:
        offer["keywords"] = ["ins风收纳盒", "整理盒"]
    await import_catalog(engine, write_catalog(tmp_path / "c", factories, offers + boxes))
    data = await build_catalog_lexicon(engine)
    assert "ins风收纳盒" not in data["synonyms"]  # a style plus the leaf name
    assert data["synonyms"]["整理盒"] == "收纳盒"
    assert data["colors"]["红色"] == "红色" and data["regions"]["义乌小商品"] == "义乌"


def test_parse_command(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "import", str(write_catalog(tmp_path / "cat"))]) == 0
    assert (data_dir / "lexicon" / "catalog.json").is_file()  # built by the import
    capsys.readouterr()

    assert main(["parse", "--json", "五十元以内的碎花长裙 一件带发"]) == 0
    parsed = json.loads(capsys.readouterr().out)
    assert parsed["category"] == "连衣裙"
    assert parsed["price_max"] == "50.00"
    assert parsed["dropship"] is True
    assert parsed["corrections"] == [{"from": "一件带发", "to": "一件代发"}]

    queries = tmp_path / "queries.txt"
    queries.write_text("转人工\n義烏 髮夾 批發\n\n保温杯 100件起\n", encoding="utf-8")
    assert main(["parse", "--json", "--batch", str(queries)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4  # one object per line in, in order, the empty line included
    got = [json.loads(line) for line in lines]
    assert [g["intent"] for g in got] == ["human_agent", "search", "unknown", "search"]
    assert got[1]["region"] == "义乌" and got[1]["category"] == "发夹"
    assert got[3]["quantity"] == 100

    assert main(["parse", "连衣裙"]) == 0
    assert "category       连衣裙" in capsys.readouterr().out
    assert main(["parse"]) == 2
