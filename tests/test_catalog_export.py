"""Export writes the contract's format; import → export round-trips, on both databases."""

from __future__ import annotations

import json
import tarfile
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog_store.catalog_format import parse_json_line, validate_factory, validate_offer
from catalog_store.exporter import export_catalog
from catalog_store.importer import import_catalog
from tests.catalog_samples import catalog, write_catalog


def _records(path: Path) -> list[dict[str, Any]]:
    return [parse_json_line(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _normalized(record: dict[str, Any], validate: Any) -> dict[str, Any]:
    """What a record means, independent of number spelling (25 vs 25.00) and defaults."""
    return validate(record)


async def test_export_means_what_was_imported(engine: AsyncEngine, tmp_path: Path) -> None:
    source = write_catalog(tmp_path / "src")
    await import_catalog(engine, source)
    assert await export_catalog(engine, tmp_path / "out") == (3, 3)

    for name, model in (("factories.jsonl", validate_factory), ("offers.jsonl", validate_offer)):
        original = sorted(
            (_normalized(r, model) for r in _records(source / name)), key=lambda r: r["id"]
        )
        exported = [_normalized(r, model) for r in _records(tmp_path / "out" / name)]
        assert exported == original, name

    offers = {r["id"]: r for r in _records(tmp_path / "out" / "offers.jsonl")}
    clip = offers["o-hairclip-1"]
    # unknown keys come back, money is written exactly
    assert clip["origin_url"] == "https://detail.example.com/o-hairclip-1"
    assert clip["price_tiers"][1] == {"min_qty": 50, "price": Decimal("21.50")}
    text = (tmp_path / "out" / "offers.jsonl").read_text(encoding="utf-8")
    assert '"price":21.50' in text and "法式碎花连衣裙" in text  # UTF-8, not \\u escapes


async def test_round_trip_is_byte_identical(
    engine: AsyncEngine, second_engine: AsyncEngine, tmp_path: Path
) -> None:
    await import_catalog(engine, write_catalog(tmp_path / "src"))
    await export_catalog(engine, tmp_path / "first")
    result = await import_catalog(second_engine, tmp_path / "first")
    assert result.ok and result.offers.new == 3
    await export_catalog(second_engine, tmp_path / "second")
    for name in ("factories.jsonl", "offers.jsonl"):
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes()
    # and importing the export over the original store changes nothing
    again = await import_catalog(engine, tmp_path / "first")
    assert again.offers.changed == 0 and again.factories.changed == 0


async def test_extra_decimal_values_round_trip(
    engine: AsyncEngine, second_engine: AsyncEngine, tmp_path: Path
) -> None:
    factories, offers = catalog()
    offers[0]["commission"] = {"rate": 0.125, "floor": 3.10}
    offers[0]["skus"][0]["weight_kg"] = 0.35
    offers[0]["dropship"]["warehouse"] = "义乌仓"
    await import_catalog(engine, write_catalog(tmp_path / "src", factories, offers))
    await export_catalog(engine, tmp_path / "out")
    clip = next(r for r in _records(tmp_path / "out" / "offers.jsonl") if r["id"] == "o-hairclip-1")
    assert clip["commission"] == {"rate": Decimal("0.125"), "floor": Decimal("3.10")}
    assert clip["skus"][0]["weight_kg"] == Decimal("0.35")
    assert clip["dropship"]["warehouse"] == "义乌仓"


@pytest.mark.parametrize("name", ["catalog.tar.gz", "catalog.zip"])
async def test_export_to_archives(
    engine: AsyncEngine, second_engine: AsyncEngine, tmp_path: Path, name: str
) -> None:
    await import_catalog(engine, write_catalog(tmp_path / "src"))
    archive = tmp_path / name
    assert await export_catalog(engine, archive) == (3, 3)
    if name.endswith(".zip"):
        assert sorted(zipfile.ZipFile(archive).namelist()) == ["factories.jsonl", "offers.jsonl"]
    else:
        with tarfile.open(archive) as tar:
            assert sorted(tar.getnames()) == ["factories.jsonl", "offers.jsonl"]
    assert not archive.with_name(name + ".part").exists()
    result = await import_catalog(second_engine, archive)
    assert result.ok and result.offers.new == 3


async def test_export_of_an_empty_store(engine: AsyncEngine, tmp_path: Path) -> None:
    assert await export_catalog(engine, tmp_path / "out") == (0, 0)
    assert (tmp_path / "out" / "offers.jsonl").read_text() == ""


def test_dump_json_writes_decimals_exactly() -> None:
    from catalog_store.catalog_format import dump_json

    assert dump_json({"p": Decimal("25.00"), "q": [Decimal("0.1"), 2, None, True], "t": "裙"}) == (
        '{"p":25.00,"q":[0.1,2,null,true],"t":"裙"}'
    )
    with pytest.raises(ValueError):
        dump_json(Decimal("NaN"))
    assert json.loads(dump_json({"p": Decimal("1E+2")})) == {"p": 100}
