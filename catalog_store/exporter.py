"""``catalog export``: write the store back out in the catalog contract's format.

Output is a folder, or a ``.tar.gz`` / ``.zip`` when the path ends so. Records come out in id
order with keys in the contract's order, money as exact decimals and unknown keys restored,
so that import → export → import → export gives byte-identical files.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import Row, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from catalog_store.catalog_format import dump_json, json_restore
from catalog_store.catalog_source import FACTORIES_FILE, OFFERS_FILE
from catalog_store.import_rows import FACTORIES as _factories
from catalog_store.import_rows import OFFERS as _offers
from catalog_store.import_rows import OPTIONS as _options
from catalog_store.import_rows import SKUS as _skus
from catalog_store.import_rows import TIERS as _tiers

EXPORT_BATCH = 2000


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    """Optional keys are written only when they carry a value."""
    if value is not None:
        out[key] = value


def _with_extra(out: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    for key, value in json_restore(extra or {}).items():
        out.setdefault(key, value)
    return out


def factory_record(r: Row[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": r.id, "name": r.name, "province": r.province, "city": r.city}
    _put(out, "industrial_belt", r.industrial_belt)
    if r.badges:
        out["badges"] = list(r.badges)
    for key in ("trust_years", "pickup_48h_rate", "response_rate", "rating", "supplier_chat_id"):
        _put(out, key, getattr(r, key))
    return _with_extra(out, r.extra)


def offer_record(
    r: Row[Any], tiers: list[Row[Any]], skus: list[Row[Any]], options: list[Row[Any]]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": r.id,
        "factory_id": r.factory_id,
        "title": r.title,
        "category": list(r.category),
    }
    if r.attributes:
        out["attributes"] = dict(r.attributes)
    if r.keywords:
        out["keywords"] = list(r.keywords)
    out["unit"] = r.unit
    out["moq"] = r.moq
    out["price_tiers"] = [
        _with_extra({"min_qty": t.min_qty, "price": t.price}, t.extra) for t in tiers
    ]
    # always written, {"supported": false} included: an absent object means the same
    dropship: dict[str, Any] = {"supported": r.dropship_supported}
    _put(dropship, "price", r.dropship_price)
    _put(dropship, "ship_within_hours", r.dropship_ship_within_hours)
    out["dropship"] = _with_extra(dropship, r.dropship_extra)
    if skus:
        out["skus"] = []
        for s in skus:
            sku: dict[str, Any] = {"id": s.sku_id, "specs": dict(s.specs)}
            _put(sku, "price", s.price)
            sku["stock"] = s.stock
            out["skus"].append(_with_extra(sku, s.extra))
    if options:
        out["customization"] = []
        for c in options:
            option: dict[str, Any] = {
                "kind": c.kind,
                "name": c.name,
                "min_qty": c.min_qty,
                "unit_fee": c.unit_fee,
                "setup_fee": c.setup_fee,
            }
            _put(option, "lead_days", c.lead_days)
            _put(option, "lead_hours", c.lead_hours)
            out["customization"].append(_with_extra(option, c.extra))
    if r.images:
        out["images"] = list(r.images)
    if r.bundle_tags:
        out["bundle_tags"] = list(r.bundle_tags)
    _put(out, "sales_30d", r.sales_30d)
    _put(out, "repurchase_rate", r.repurchase_rate)
    out["mix_wholesale"] = r.mix_wholesale
    _put(out, "shipping_fee", r.shipping_fee)
    out["active"] = r.active
    return _with_extra(out, r.extra)


async def _children(
    conn: AsyncConnection, table: Table, ids: list[str], order: Any
) -> dict[str, list[Row[Any]]]:
    grouped: dict[str, list[Row[Any]]] = defaultdict(list)
    rows = await conn.execute(
        select(table).where(table.c.offer_id.in_(ids)).order_by(table.c.offer_id, order)
    )
    for row in rows:
        grouped[row.offer_id].append(row)
    return grouped


async def iter_offer_records(conn: AsyncConnection) -> AsyncIterator[dict[str, Any]]:
    """Every offer as a contract record, in id order, read in batches (keyset pagination)."""
    last: str | None = None
    while True:
        query = select(_offers).order_by(_offers.c.id).limit(EXPORT_BATCH)
        if last is not None:
            query = query.where(_offers.c.id > last)
        batch = (await conn.execute(query)).all()
        if not batch:
            return
        ids = [r.id for r in batch]
        tiers = await _children(conn, _tiers, ids, _tiers.c.min_qty)
        skus = await _children(conn, _skus, ids, _skus.c.position)
        options = await _children(conn, _options, ids, _options.c.position)
        for r in batch:
            yield offer_record(r, tiers[r.id], skus[r.id], options[r.id])
        last = ids[-1]


async def _write_folder(engine: AsyncEngine, folder: Path) -> tuple[int, int]:
    folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - a CLI job, not the bot's loop
    n_factories = n_offers = 0
    async with engine.connect() as conn:
        with (folder / FACTORIES_FILE).open("w", encoding="utf-8", newline="\n") as out:
            for row in await conn.execute(select(_factories).order_by(_factories.c.id)):
                out.write(dump_json(factory_record(row)) + "\n")
                n_factories += 1
        with (folder / OFFERS_FILE).open("w", encoding="utf-8", newline="\n") as out:
            async for record in iter_offer_records(conn):
                out.write(dump_json(record) + "\n")
                n_offers += 1
    return n_factories, n_offers


async def export_catalog(engine: AsyncEngine, path: Path) -> tuple[int, int]:
    """Write the whole catalog to ``path``; returns (factories, offers) written."""
    name = path.name.lower()
    if not name.endswith((".tar.gz", ".tgz", ".zip")):
        return await _write_folder(engine, path)
    with tempfile.TemporaryDirectory() as tmp:
        counts = await _write_folder(engine, Path(tmp))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial_path = path.with_name(path.name + ".part")
        if name.endswith(".zip"):
            with zipfile.ZipFile(partial_path, "w", zipfile.ZIP_DEFLATED) as archive:
                for member in (FACTORIES_FILE, OFFERS_FILE):
                    archive.write(Path(tmp) / member, member)
        else:
            with tarfile.open(partial_path, "w:gz") as archive:
                for member in (FACTORIES_FILE, OFFERS_FILE):
                    data = (Path(tmp) / member).read_bytes()
                    info = tarfile.TarInfo(member)
                    info.size = len(data)
                    info.mode = 0o644
                    archive.addfile(info, io.BytesIO(data))
        shutil.move(partial_path, path)  # the archive appears whole or not at all
    return counts
