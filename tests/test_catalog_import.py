"""Catalog import against the contract, on SQLite and on PostgreSQL."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog_store.catalog_source import CatalogSourceError
from catalog_store.importer import import_catalog
from catalog_store.models import (
    CatalogImport,
    CustomizationOption,
    Factory,
    Offer,
    PriceTier,
    Sku,
)
from tests.catalog_samples import catalog, write_catalog
from tests.conftest import make_store

TABLES = (Factory, Offer, PriceTier, Sku, CustomizationOption, CatalogImport)


async def snapshot(engine: AsyncEngine, content_only: bool = False) -> dict[str, list[Any]]:
    """Every row of every catalog table, to prove an import left the store as it was.

    ``content_only`` leaves out the import log and the import's clock (created/updated_at).
    """
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with engine.connect() as conn:
        for model in TABLES:
            table = model.__table__
            if content_only and model is CatalogImport:
                continue
            columns = [
                c
                for c in table.columns
                if not (content_only and c.name in ("created_at", "updated_at"))
            ]
            rows = (await conn.execute(select(*columns))).all()
            out[table.name] = sorted(tuple(map(repr, r)) for r in rows)
    return out


async def test_good_catalog_is_stored_exactly(engine: AsyncEngine, tmp_path: Path) -> None:
    result = await import_catalog(engine, write_catalog(tmp_path / "cat"))
    assert result.ok and result.committed
    assert (result.factories.new, result.offers.new) == (3, 3)

    async with engine.connect() as conn:
        clip = (await conn.execute(select(Offer).where(Offer.id == "o-hairclip-1"))).one()
        tiers = (
            await conn.execute(
                select(PriceTier.min_qty, PriceTier.price)
                .where(PriceTier.offer_id == "o-hairclip-1")
                .order_by(PriceTier.min_qty)
            )
        ).all()
        skus = (
            await conn.execute(
                select(Sku.sku_id, Sku.color, Sku.size, Sku.price, Sku.stock)
                .where(Sku.offer_id == "o-hairclip-1")
                .order_by(Sku.position)
            )
        ).all()
        options = (
            await conn.execute(
                select(CustomizationOption).where(CustomizationOption.offer_id == "o-hairclip-1")
            )
        ).all()
        factory = (await conn.execute(select(Factory).where(Factory.id == "f-yiwu-1"))).one()
        dress = (await conn.execute(select(Offer).where(Offer.id == "o-dress-1"))).one()

    assert [(q, p) for q, p in tiers] == [
        (2, Decimal("25.00")),
        (50, Decimal("21.50")),
        (500, Decimal("18.00")),
    ]
    assert all(isinstance(p, Decimal) for _, p in tiers)
    assert clip.dropship_supported is True
    assert clip.dropship_price == Decimal("29.90")
    assert clip.category_top == "配饰" and clip.category_leaf == "发夹"
    assert clip.extra == {"origin_url": "https://detail.example.com/o-hairclip-1"}
    assert clip.shipping_fee == Decimal("0.00")
    assert skus == [
        ("s-red", "红色", None, None, 120),
        ("s-black", "黑色", None, Decimal("26.50"), 0),
    ]
    assert [(o.kind, o.unit_fee, o.setup_fee) for o in options] == [
        ("logo", Decimal("0.50"), Decimal("200.00")),
        ("sample", Decimal("30.00"), Decimal("0.00")),
    ]
    assert factory.extra == {"wechat_id": "chenguang_yw"}
    assert factory.supplier_chat_id == -1001234567890
    assert factory.badges == ["super_factory", "trust_pass"]
    assert (
        factory.created_at.tzinfo is not None
        and factory.created_at.utcoffset().total_seconds() == 0
    )
    assert dress.mix_wholesale is False and dress.dropship_supported is False
    assert dress.unit == "件"  # the contract's default


async def test_importing_the_same_catalog_again_changes_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    folder = write_catalog(tmp_path / "cat")
    await import_catalog(engine, folder)
    before = await snapshot(engine)
    again = await import_catalog(engine, folder)
    assert (again.factories.unchanged, again.offers.unchanged) == (3, 3)
    assert (again.offers.new, again.offers.changed) == (0, 0)
    after = await snapshot(engine)
    before.pop("catalog_imports")
    after.pop("catalog_imports")  # the run itself is logged, nothing else moves
    assert after == before


async def test_a_changed_offer_is_replaced_whole(engine: AsyncEngine, tmp_path: Path) -> None:
    await import_catalog(engine, write_catalog(tmp_path / "v1"))
    factories, offers = catalog()
    offers[0]["title"] = "2026新款珍珠发夹"
    offers[0]["skus"] = [{"id": "s-gold", "specs": {"颜色": "金色"}, "stock": 5}]
    offers[0]["price_tiers"] = [{"min_qty": 2, "price": 24}]
    result = await import_catalog(engine, write_catalog(tmp_path / "v2", factories, offers))
    assert (result.offers.changed, result.offers.unchanged, result.offers.new) == (1, 2, 0)
    async with engine.connect() as conn:
        offer = (await conn.execute(select(Offer).where(Offer.id == "o-hairclip-1"))).one()
        skus = (await conn.execute(select(Sku.sku_id).where(Sku.offer_id == "o-hairclip-1"))).all()
        tiers = (
            await conn.execute(select(PriceTier.price).where(PriceTier.offer_id == "o-hairclip-1"))
        ).all()
    assert offer.title == "2026新款珍珠发夹"
    assert offer.updated_at >= offer.created_at
    assert [s for (s,) in skus] == ["s-gold"]
    assert [p for (p,) in tiers] == [Decimal("24.00")]


def _archive(folder: Path, target: Path, top: str | None) -> Path:
    names = ["factories.jsonl", "offers.jsonl"]
    if target.name.endswith(".zip"):
        with zipfile.ZipFile(target, "w") as z:
            for n in names:
                z.write(folder / n, f"{top}/{n}" if top else n)
    else:
        with tarfile.open(target, "w:gz") as t:
            for n in names:
                t.add(folder / n, f"{top}/{n}" if top else n)
    return target


@pytest.mark.parametrize(
    "name,top", [("c.tar.gz", None), ("c.zip", None), ("c.tar.gz", "catalog"), ("c.zip", "catalog")]
)
async def test_archives_import_like_folders(
    engine: AsyncEngine, tmp_path: Path, name: str, top: str | None
) -> None:
    archive = _archive(write_catalog(tmp_path / "cat"), tmp_path / name, top)
    result = await import_catalog(engine, archive)
    assert result.ok and result.offers.new == 3


async def test_missing_file_or_unknown_source_is_a_clear_error(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    folder = write_catalog(tmp_path / "cat")
    (folder / "offers.jsonl").unlink()
    with pytest.raises(CatalogSourceError, match=r"no offers\.jsonl"):
        await import_catalog(engine, folder)
    (tmp_path / "catalog.rar").write_bytes(b"x")
    with pytest.raises(CatalogSourceError, match=r"a \.tar\.gz or a \.zip"):
        await import_catalog(engine, tmp_path / "catalog.rar")
    with pytest.raises(CatalogSourceError, match="not a readable"):
        (tmp_path / "broken.zip").write_bytes(b"not a zip")
        await import_catalog(engine, tmp_path / "broken.zip")


def _offers_with(change: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    factories, offers = catalog()
    change(offers[1])
    return factories, offers


def _set(key: str, value: Any) -> Any:
    return lambda o: o.__setitem__(key, value)


# (case, how to spoil the catalog, expected location, expected words in the message)
BAD_OFFERS: list[tuple[str, Any, str, str]] = [
    ("missing key", lambda o: o.pop("moq"), "offers.jsonl:2 (id o-dress-1): moq", "required key"),
    ("wrong type", _set("moq", "1"), "offers.jsonl:2 (id o-dress-1): moq", "expected an integer"),
    (
        "price as string",
        lambda o: o["price_tiers"][0].__setitem__("price", "59"),
        "price_tiers[0].price",
        "expected a number",
    ),
    (
        "negative price",
        lambda o: o["price_tiers"][1].__setitem__("price", -1),
        "offers.jsonl:2 (id o-dress-1): price_tiers[1].price",
        "must not be negative",
    ),
    (
        "negative stock",
        lambda o: o["skus"][0].__setitem__("stock", -3),
        "skus[0].stock",
        "must not be negative",
    ),
    (
        "unknown factory",
        _set("factory_id", "f-nowhere"),
        "offers.jsonl:2 (id o-dress-1): factory_id",
        "no factory has id 'f-nowhere'",
    ),
    (
        "tiers out of order",
        _set("price_tiers", [{"min_qty": 1, "price": 59}, {"min_qty": 1, "price": 50}]),
        "price_tiers",
        "ascending min_qty",
    ),
    ("first tier is not moq", _set("moq", 5), "offers.jsonl:2 (id o-dress-1)", "must equal moq"),
    ("bad id", _set("id", "有 空格"), "offers.jsonl:2 (id 有 空格): id", "1 to 64 letters"),
    (
        "10 MB title",
        _set("title", "连衣裙" * 3_500_000),
        "offers.jsonl:2 (id o-dress-1): title",
        "10,500,000 characters; at most 300",
    ),
    (
        "unknown customization kind",
        _set("customization", [{"kind": "tattoo", "name": "x"}]),
        "customization[0].kind",
        "'logo'",
    ),
    (
        "fraction of a fen",
        lambda o: o["price_tiers"][0].__setitem__("price", 59.999),
        "price_tiers[0].price",
        "2 decimal places",
    ),
    (
        "drop-ship without price",
        _set("dropship", {"supported": True}),
        "dropship.price",
        "required when drop-ship is supported",
    ),
]


@pytest.mark.parametrize("case,spoil,where,words", BAD_OFFERS, ids=[c[0] for c in BAD_OFFERS])
async def test_bad_offer_is_refused_and_store_unchanged(
    engine: AsyncEngine, tmp_path: Path, case: str, spoil: Any, where: str, words: str
) -> None:
    # a store that already holds data, so "unchanged" means something
    await import_catalog(engine, write_catalog(tmp_path / "good"))
    factories, offers = catalog()
    offers.append({**offers[0], "id": "o-new-1", "title": "全新发夹"})
    spoil(offers[1])
    before = await snapshot(engine)
    result = await import_catalog(engine, write_catalog(tmp_path / "bad", factories, offers))
    assert not result.committed and not result.ok
    assert result.rejected_lines == 1
    messages = [str(e) for e in result.errors]
    assert any(where in m and words in m for m in messages), messages
    assert await snapshot(engine) == before


async def _refused_with(engine: AsyncEngine, folder: Path, expected: str) -> None:
    before = await snapshot(engine)
    result = await import_catalog(engine, folder)
    assert not result.committed
    messages = [str(e) for e in result.errors]
    assert any(expected in m for m in messages), messages
    assert await snapshot(engine) == before


async def test_duplicate_id_names_both_lines(engine: AsyncEngine, tmp_path: Path) -> None:
    factories, offers = catalog()
    offers.append(dict(offers[0]))
    await _refused_with(
        engine,
        write_catalog(tmp_path / "c", factories, offers),
        "offers.jsonl:4 (id o-hairclip-1): id: duplicate id: first seen at line 1",
    )


async def test_duplicate_factory_id(engine: AsyncEngine, tmp_path: Path) -> None:
    factories, offers = catalog()
    factories.append(dict(factories[1]))
    await _refused_with(
        engine,
        write_catalog(tmp_path / "c", factories, offers),
        "factories.jsonl:4 (id f-gz-1): id: duplicate id: first seen at line 2",
    )


async def test_broken_json_line(engine: AsyncEngine, tmp_path: Path) -> None:
    folder = write_catalog(tmp_path / "c")
    lines = (folder / "offers.jsonl").read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2][:-5]
    (folder / "offers.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    await _refused_with(engine, folder, "offers.jsonl:3: broken JSON")


async def test_non_object_line(engine: AsyncEngine, tmp_path: Path) -> None:
    folder = write_catalog(tmp_path / "c")
    with (folder / "offers.jsonl").open("a", encoding="utf-8") as f:
        f.write("[1, 2, 3]\n")
    await _refused_with(engine, folder, "offers.jsonl:4: line is not a JSON object")


@pytest.mark.parametrize("name", ["factories.jsonl", "offers.jsonl"])
async def test_empty_file(engine: AsyncEngine, tmp_path: Path, name: str) -> None:
    folder = write_catalog(tmp_path / "c")
    (folder / name).write_bytes(b"\n  \n")
    await _refused_with(engine, folder, f"{name}:1: the file is empty")


async def test_invalid_utf8(engine: AsyncEngine, tmp_path: Path) -> None:
    folder = write_catalog(tmp_path / "c")
    raw = (folder / "offers.jsonl").read_bytes().splitlines(keepends=True)
    raw[1] = raw[1].replace("法式".encode(), b"\xff\xfe")
    (folder / "offers.jsonl").write_bytes(b"".join(raw))
    await _refused_with(engine, folder, "offers.jsonl:2: not valid UTF-8: byte 0xff")


async def test_nan_is_not_a_number(engine: AsyncEngine, tmp_path: Path) -> None:
    folder = write_catalog(tmp_path / "c")
    text = (
        (folder / "offers.jsonl")
        .read_text(encoding="utf-8")
        .replace('"price": 59}', '"price": NaN}')
    )
    (folder / "offers.jsonl").write_text(text, encoding="utf-8")
    await _refused_with(engine, folder, "offers.jsonl:2: broken JSON: expected value at column ")


async def test_every_error_is_reported_not_only_the_first(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    factories, offers = catalog()
    offers[0]["moq"] = 0
    offers[2]["price_tiers"][0]["price"] = -5
    result = await import_catalog(engine, write_catalog(tmp_path / "c", factories, offers))
    assert result.rejected_lines == 2
    assert {e.line for e in result.errors} == {1, 3}


async def test_partial_imports_valid_lines_and_reports_the_rest(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    factories, offers = catalog()
    factories[2]["rating"] = 9  # rejects factory f-yk-1 ...
    offers[1]["moq"] = -1
    report = tmp_path / "reports" / "rejected.jsonl"
    result = await import_catalog(
        engine, write_catalog(tmp_path / "c", factories, offers), partial=True, report_path=report
    )
    assert result.committed
    assert (result.factories.new, result.factories.rejected) == (2, 1)
    # ... so its offer o-cup-1 is rejected too, pointing at the factory's line
    assert (result.offers.new, result.offers.rejected) == (1, 2)
    entries = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert [(e["file"], e["line"], e["field"]) for e in entries] == [
        ("factories.jsonl", 3, "rating"),
        ("offers.jsonl", 2, "moq"),
        ("offers.jsonl", 3, "factory_id"),
    ]
    assert "rejected at factories.jsonl line 3" in entries[2]["error"]
    assert entries[1]["text"].startswith('{"id": "o-dress-1"')
    async with engine.connect() as conn:
        ids = sorted((await conn.execute(select(Offer.id))).scalars())
    assert ids == ["o-hairclip-1"]


async def test_offer_may_name_a_factory_already_in_the_store(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await import_catalog(engine, write_catalog(tmp_path / "first"))
    factories, offers = catalog()
    update = [{**offers[2], "id": "o-cup-2", "title": "保温杯 新款"}]
    result = await import_catalog(engine, write_catalog(tmp_path / "second", factories[:1], update))
    assert result.ok and result.offers.new == 1


async def test_reading_does_not_trip_on_a_byte_order_mark(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    folder = write_catalog(tmp_path / "c")
    data = (folder / "factories.jsonl").read_bytes()
    (folder / "factories.jsonl").write_bytes(b"\xef\xbb\xbf" + data)
    assert (await import_catalog(engine, folder)).ok


def test_tar_member_paths_are_not_written_to_disk(tmp_path: Path) -> None:
    """A hostile member name cannot escape: members are read as streams, never extracted."""
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        for name in ("../../escape.txt", "factories.jsonl"):
            data = b'{"id": "x"}\n'
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    from catalog_store.catalog_source import open_catalog

    with pytest.raises(CatalogSourceError, match=r"no offers\.jsonl"), open_catalog(archive):
        pass
    assert not (tmp_path.parent.parent / "escape.txt").exists()


async def test_worker_processes_give_the_same_result_in_the_same_order(
    engine: AsyncEngine, second_engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large catalogs are validated in worker processes; results and errors must not change."""
    import catalog_store.importer as importer

    monkeypatch.setattr(importer, "CHUNK_LINES", 7)  # many chunks, so order across workers matters
    factories, offers = catalog()
    many = []
    for i in range(60):
        offer = {**offers[i % 3], "id": f"o-{i:03d}"}
        if i % 13 == 5:
            offer["moq"] = -1
        many.append(offer)
    many.append({**offers[0], "id": "o-007"})  # a duplicate across chunks
    folder = write_catalog(tmp_path / "c", factories, many)

    serial = await import_catalog(engine, folder, partial=True, workers=0)
    parallel = await import_catalog(second_engine, folder, partial=True, workers=2)
    assert parallel.workers == 2 and serial.workers == 0
    assert [str(e) for e in parallel.errors] == [str(e) for e in serial.errors]
    assert [e.line for e in serial.errors] == [6, 19, 32, 45, 58, 61]
    assert parallel.offers == serial.offers
    assert await snapshot(second_engine, content_only=True) == await snapshot(
        engine, content_only=True
    )


def test_worker_processes_are_started_only_where_they_pay() -> None:
    from catalog_store.importer import AUTO_WORKERS_MIN_BYTES, worker_count

    big = AUTO_WORKERS_MIN_BYTES
    assert worker_count(None, big, cpus=2) == 2  # beside the writer, sharing the cores
    assert worker_count(None, big, cpus=16) == 3  # beyond three the writer sets the pace
    assert worker_count(None, big, cpus=1) == 0
    assert worker_count(None, big - 1, cpus=16) == 0  # small catalog: starting them costs more
    assert worker_count(0, big, cpus=16) == 0  # asked for none
    assert worker_count(2, 10, cpus=1) == 2  # asked for two


def _raw_rows(url_engine: AsyncEngine) -> Any:
    async def read() -> dict[str, list[list[tuple[str, Any]]]]:
        out = {}
        async with url_engine.connect() as conn:
            for model in TABLES[:-1]:
                table = model.__table__
                keys = ", ".join(c.name for c in table.primary_key.columns)
                rows = await conn.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY {keys}")
                names = list(rows.keys())
                out[table.name] = [
                    [(n, type(v).__name__, v) for n, v in zip(names, row, strict=True)]
                    for row in rows
                ]
        return out

    return read()


async def test_json_rows_store_exactly_what_parameter_rows_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite a chunk's rows go in as one JSON array unpacked by SQLite; the values, their
    SQL types and the import's timestamps must come out as the driver would bind them.
    (PostgreSQL always binds parameter rows.)"""
    first = await make_store("sqlite", tmp_path, "json-rows")
    second = await make_store("sqlite", tmp_path, "tuple-rows")
    try:
        await _compare_row_formats(first.engine, second.engine, tmp_path, monkeypatch)
    finally:
        await first.close()
        await second.close()


async def _compare_row_formats(
    engine: AsyncEngine, second_engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    import catalog_store.importer as importer

    factories, offers = catalog()
    factories[0]["pickup_48h_rate"] = 0.30000000000000004  # a float with 17 digits
    factories[0]["supplier_chat_id"] = -1009223372036854775  # near the 64-bit edge
    factories[0]["huge"] = 2**70  # an unknown key beyond 64 bits, kept as extra data
    offers[0]["title"] = 'a "quoted" \\ back\\slash 👩‍👩‍👧 \u2028 line-separator 标题'
    offers[0]["attributes"] = {"材质": "合金", "note": "tab\there"}
    offers[1]["sales_30d"] = 0
    folder = write_catalog(tmp_path / "cat", factories, offers)

    as_json = await import_catalog(engine, folder)

    async def tuples(_conn: Any) -> str:
        return "tuples"

    monkeypatch.setattr(importer, "_row_format", tuples)
    as_tuples = await import_catalog(second_engine, folder)
    assert as_json.ok and as_tuples.ok

    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?\+00:00$")
    json_rows, tuple_rows = await _raw_rows(engine), await _raw_rows(second_engine)
    for rows in (json_rows, tuple_rows):
        for name in ("factories", "offers"):
            for row in rows[name]:
                for column, kind, value in row:
                    if column in ("created_at", "updated_at"):
                        assert kind == "str" and stamp.match(value), (name, column, value)

    def without_clock(rows: dict[str, Any]) -> dict[str, Any]:
        return {
            name: [[c for c in row if c[0] not in ("created_at", "updated_at")] for row in table]
            for name, table in rows.items()
        }

    assert without_clock(json_rows) == without_clock(tuple_rows)
    by_id = {dict((c[0], c[2]) for c in row)["id"]: row for row in json_rows["factories"]}
    factory = {c[0]: c[2] for c in by_id[factories[0]["id"]]}
    assert factory["pickup_48h_rate"] == 0.30000000000000004
    assert factory["supplier_chat_id"] == -1009223372036854775
    assert json.loads(factory["extra"])["huge"] == 2**70
    async with engine.connect() as conn:
        title = (
            await conn.execute(select(Offer.title).where(Offer.id == offers[0]["id"]))
        ).scalar_one()
    assert title == offers[0]["title"]


async def test_workers_segment_titles_with_this_process_lexicon(
    engine: AsyncEngine, second_engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Titles are segmented where lines are validated: in worker processes, which must load
    the lexicon the importing process was configured with, or the search index would differ."""
    import nlu
    from catalog_store.lexicon_source import ensure_catalog_lexicon

    factories, offers = catalog()
    # the catalog's own words (a leaf, a keyword) that the seeds do not segment whole
    shapewear = [
        {
            **offers[2],
            "id": f"o-shape-{i}",
            "title": f"小蛮腰收腹裤 高腰 {i}号",
            "category": ["女装", "收腹裤"],
            "keywords": ["小蛮腰", "塑身"],
        }
        for i in range(4)
    ]
    folder = write_catalog(tmp_path / "cat", factories, offers + shapewear)
    lexicon = tmp_path / "lexicon.json"
    source = await make_store("sqlite", tmp_path, "lexicon-source")
    try:
        await import_catalog(source.engine, folder, workers=0)
        await ensure_catalog_lexicon(source.engine, lexicon)
    finally:
        await source.close()

    before = nlu.configured_lexicon()
    monkeypatch.setattr(nlu.parser, "_default", nlu.default_parser())  # restored afterwards
    monkeypatch.setattr(nlu.parser, "_default_lexicon", before)
    nlu.configure(lexicon)
    in_process = await import_catalog(engine, folder, workers=0)
    in_workers = await import_catalog(second_engine, folder, workers=1)
    assert in_process.ok and in_workers.ok and in_workers.workers == 1

    async def tokens(e: AsyncEngine) -> dict[str, str]:
        async with e.connect() as conn:
            rows = await conn.execute(select(Offer.id, Offer.title_tokens))
            return {i: t for i, t in rows}

    here, there = await tokens(engine), await tokens(second_engine)
    assert here == there
    assert here["o-shape-0"].split()[:2] == ["小蛮腰", "收腹裤"]  # the seeds alone: 小蛮 腰 收腹 裤


async def test_long_lines_are_chunked_by_size_and_stored_whole(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk's rows go to SQLite as one value: long lines (unknown keys are kept, whatever
    their size) make chunks of fewer lines rather than one value past SQLite's limit."""
    import catalog_store.importer as importer

    factories, offers = catalog()
    big = "长" * 300_000  # 900 kB of UTF-8 in an unknown key
    offers[1]["supplier_notes"] = big
    folder = write_catalog(tmp_path / "cat", factories, offers)
    sizes: list[int] = []
    prepare = importer.prepare_chunk

    def counting(kind: Any, url: Any, now: Any, lines: Any, row_format: Any) -> Any:
        sizes.append(len(lines))
        return prepare(kind, url, now, lines, row_format)

    monkeypatch.setattr(importer, "prepare_chunk", counting)
    monkeypatch.setattr(importer, "CHUNK_BYTES", 100_000)
    result = await import_catalog(engine, folder, workers=0)
    assert result.ok and result.offers.new == 3
    assert sizes == [3, 2, 1]  # factories; offers cut after the long second line
    async with engine.connect() as conn:
        extra = (
            await conn.execute(select(Offer.extra).where(Offer.id == offers[1]["id"]))
        ).scalar_one()
    assert extra == {"supplier_notes": big}


async def test_hashes_from_an_older_version_rewrite_each_record_once(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A store whose content hashes were taken another way (an older version) is rewritten
    once, whole chunks at a time: rows updated in place (created_at kept), children replaced
    without duplicates; the next import of the same catalog changes nothing."""
    from sqlalchemy import update

    folder = write_catalog(tmp_path / "cat")
    await import_catalog(engine, folder)
    before = await snapshot(engine, content_only=True)
    async with engine.begin() as conn:
        created = dict((await conn.execute(select(Offer.id, Offer.created_at))).all())
        await conn.execute(update(Offer).values(content_hash="from-an-older-version"))
        await conn.execute(update(Factory).values(content_hash="from-an-older-version"))

    again = await import_catalog(engine, folder)
    assert (again.factories.changed, again.offers.changed, again.offers.new) == (3, 3, 0)
    assert await snapshot(engine, content_only=True) == before
    async with engine.connect() as conn:
        assert dict((await conn.execute(select(Offer.id, Offer.created_at))).all()) == created
    third = await import_catalog(engine, folder)
    assert (third.offers.unchanged, third.factories.unchanged) == (3, 3)


async def test_progress_counts_bytes_once_per_chunk(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The progress bar hears of each chunk once it is handed to the writer (per line, its
    speed column would only measure how fast lines are read), and ends at the full size."""
    import catalog_store.importer as importer

    monkeypatch.setattr(importer, "CHUNK_LINES", 2)
    folder = write_catalog(tmp_path / "cat")

    class Recorder:
        total = 0
        steps: list[int] = []  # noqa: RUF012 - one instance, one test

        def start(self, total_bytes: int) -> None:
            self.total = total_bytes

        def advance(self, nbytes: int) -> None:
            self.steps.append(nbytes)

    progress = Recorder()
    result = await import_catalog(engine, folder, progress=progress, workers=0)
    assert result.ok
    assert len(progress.steps) == 4  # 3 factories and 3 offers, in chunks of 2 lines
    assert sum(progress.steps) == progress.total == sum(f.stat().st_size for f in folder.iterdir())
