"""From catalog lines to database rows: the CPU-heavy, side-effect-free half of an import.

``prepare_chunk`` turns a chunk of raw lines into either rejections (with file, line and
field) or rows ready for a driver-level ``executemany`` (the column types' own bind
processors already applied). It touches no database and no shared state, so an import can
run it in worker processes while the main process writes.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import Table
from sqlalchemy.engine import Dialect, make_url

from catalog_store.catalog_format import (
    COLOR_KEY,
    DROPSHIP_KEYS,
    FACTORY_KEYS,
    OFFER_KEYS,
    OPTION_KEYS,
    SIZE_KEY,
    SKU_KEYS,
    TIER_KEYS,
    CrossFieldProblems,
    LineProblem,
    content_digest,
    describe_validation_error,
    extra_of,
    json_safe,
    parse_json_line,
    validate_factory,
    validate_offer,
)
from catalog_store.models import CustomizationOption, Factory, Offer, PriceTier, Sku

Kind = Literal["factory", "offer"]
REPORT_TEXT_CHARS = 2000

FACTORIES: Table = Factory.__table__  # type: ignore[assignment]
OFFERS: Table = Offer.__table__  # type: ignore[assignment]
TIERS: Table = PriceTier.__table__  # type: ignore[assignment]
SKUS: Table = Sku.__table__  # type: ignore[assignment]
OPTIONS: Table = CustomizationOption.__table__  # type: ignore[assignment]
CHILD_TABLES = (TIERS, SKUS, OPTIONS)


@dataclass(frozen=True, slots=True)
class InputLine:
    number: int
    data: bytes | None  # None when the reader already refused the line (see ``problem``)
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    line: int
    id: str
    factory_id: str | None  # offers only
    digest: str
    rows: dict[str, list[tuple[Any, ...]]]  # table name -> parameter tuples


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    record_id: str | None
    errors: list[tuple[str | None, str]]
    text: str | None


def _safe_extra(record: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    extra = extra_of(record, known)
    return json_safe(extra) if extra else {}


def factory_row(f: dict[str, Any], digest: str, now: datetime) -> dict[str, Any]:
    return {
        "id": f["id"],
        "name": f["name"],
        "province": f["province"],
        "city": f["city"],
        "industrial_belt": f["industrial_belt"],
        "badges": list(f["badges"]),
        "trust_years": f["trust_years"],
        "pickup_48h_rate": f["pickup_48h_rate"],
        "response_rate": f["response_rate"],
        "rating": f["rating"],
        "supplier_chat_id": f["supplier_chat_id"],
        "extra": _safe_extra(f, FACTORY_KEYS),
        "content_hash": digest,
        "created_at": now,
        "updated_at": now,
    }


def offer_rows(o: dict[str, Any], digest: str, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """The offer's row and its children's rows, keyed by table name."""
    oid = o["id"]
    ds = o["dropship"]
    offer = {
        "id": oid,
        "factory_id": o["factory_id"],
        "title": o["title"],
        "category": o["category"],
        "category_top": o["category"][0],
        "category_leaf": o["category"][-1],
        "attributes": o["attributes"],
        "keywords": o["keywords"],
        "unit": o["unit"],
        "moq": o["moq"],
        "dropship_supported": ds["supported"],
        "dropship_price": ds["price"],
        "dropship_ship_within_hours": ds["ship_within_hours"],
        "dropship_extra": _safe_extra(ds, DROPSHIP_KEYS) or None,
        "images": o["images"],
        "bundle_tags": o["bundle_tags"],
        "sales_30d": o["sales_30d"],
        "repurchase_rate": o["repurchase_rate"],
        "mix_wholesale": o["mix_wholesale"],
        "shipping_fee": o["shipping_fee"],
        "active": o["active"],
        "extra": _safe_extra(o, OFFER_KEYS),
        "content_hash": digest,
        "created_at": now,
        "updated_at": now,
    }
    tiers = [
        {
            "offer_id": oid,
            "min_qty": t["min_qty"],
            "price": t["price"],
            "extra": _safe_extra(t, TIER_KEYS),
        }
        for t in o["price_tiers"]
    ]
    skus = [
        {
            "offer_id": oid,
            "sku_id": s["id"],
            "position": i,
            "specs": s["specs"],
            "color": s["specs"].get(COLOR_KEY),
            "size": s["specs"].get(SIZE_KEY),
            "price": s["price"],
            "stock": s["stock"],
            "extra": _safe_extra(s, SKU_KEYS),
        }
        for i, s in enumerate(o["skus"])
    ]
    options = [
        {
            "offer_id": oid,
            "position": i,
            "kind": c["kind"],
            "name": c["name"],
            "min_qty": c["min_qty"],
            "unit_fee": c["unit_fee"],
            "setup_fee": c["setup_fee"],
            "lead_days": c["lead_days"],
            "lead_hours": c["lead_hours"],
            "extra": _safe_extra(c, OPTION_KEYS),
        }
        for i, c in enumerate(o["customization"])
    ]
    return {"offers": [offer], "price_tiers": tiers, "skus": skus, "customization_options": options}


class InsertPlan:
    """Driver-level SQL for one table, and how to turn a row dict into its parameters."""

    def __init__(
        self, insert_sql: str, upsert_sql: str | None, keys: list[str], processors: list[Any]
    ) -> None:
        self.insert_sql = insert_sql
        self.upsert_sql = upsert_sql  # tables keyed by ``id`` only
        self.keys = tuple(keys)
        self._get = operator.itemgetter(*keys)
        # only the columns whose type converts the value (money, JSON, times) cost a call
        self._convert = [(i, p) for i, p in enumerate(processors) if p is not None]

    def params(self, row: dict[str, Any]) -> tuple[Any, ...]:
        values = list(self._get(row))
        for i, proc in self._convert:
            values[i] = proc(values[i])
        return tuple(values)


@functools.cache
def dialect_for(url: str) -> Dialect:
    from catalog_store.db import json_serializer

    return make_url(url).get_dialect()(json_serializer=json_serializer)  # type: ignore[call-arg]


@functools.cache
def insert_plan(url: str, table_name: str) -> InsertPlan:
    """Core's executemany spends most of an import building parameters row by row; applying
    the column types' own bind processors here stores the same values at a fraction of it."""
    dialect = dialect_for(url)
    table = {t.name: t for t in (FACTORIES, OFFERS, *CHILD_TABLES)}[table_name]
    columns = list(table.columns)
    if dialect.paramstyle == "qmark":
        marks = ["?"] * len(columns)
    elif dialect.paramstyle == "numeric_dollar":
        marks = [f"${i}" for i in range(1, len(columns) + 1)]
    else:
        marks = ["%s"] * len(columns)
    quote = dialect.identifier_preparer.quote
    names = [quote(c.name) for c in columns]
    insert = f"INSERT INTO {quote(table.name)} ({', '.join(names)}) VALUES ({', '.join(marks)})"
    upsert = None
    if [c.name for c in table.primary_key.columns] == ["id"]:
        # an update keeps the row (orders will refer to it) and its created_at
        updates = ", ".join(
            f"{n} = excluded.{n}"
            for c, n in zip(columns, names, strict=True)
            if c.name not in ("id", "created_at")
        )
        upsert = f"{insert} ON CONFLICT ({quote('id')}) DO UPDATE SET {updates}"
    return InsertPlan(
        insert,
        upsert,
        [c.key for c in columns],
        [c.type.bind_processor(dialect) for c in columns],
    )


def _text(data: bytes | None) -> str | None:
    if data is None:
        return None
    return data[: REPORT_TEXT_CHARS * 4].decode("utf-8", "replace")[:REPORT_TEXT_CHARS].rstrip("\n")


def prepare_line(kind: Kind, url: str, now: datetime, line: InputLine) -> Prepared | Rejected:
    if line.data is None:
        return Rejected(line.number, None, [(None, line.problem or "unreadable line")], None)
    try:
        line.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = f"not valid UTF-8: byte 0x{line.data[exc.start]:02x} at byte {exc.start + 1}"
        return Rejected(line.number, None, [(None, problem)], _text(line.data))
    data: Any = None
    try:
        data = parse_json_line(line.data)
        record = validate_factory(data) if kind == "factory" else validate_offer(data)
    except LineProblem as exc:
        return Rejected(line.number, None, [(exc.field, exc.message)], _text(line.data))
    except ValidationError as exc:
        record_id = data.get("id") if isinstance(data.get("id"), str) else None
        return Rejected(line.number, record_id, describe_validation_error(exc), _text(line.data))
    except CrossFieldProblems as exc:
        return Rejected(line.number, data["id"], exc.problems, _text(line.data))
    digest = content_digest(record)
    if kind == "factory":
        rows = {"factories": [factory_row(record, digest, now)]}
        factory_id = None
    else:
        rows = offer_rows(record, digest, now)
        factory_id = record["factory_id"]
    params = {
        table: [insert_plan(url, table).params(r) for r in table_rows]
        for table, table_rows in rows.items()
    }
    return Prepared(line.number, record["id"], factory_id, digest, params)


def prepare_chunk(
    kind: Kind, url: str, now: datetime, lines: list[InputLine]
) -> list[Prepared | Rejected]:
    """Validate and convert a chunk of lines; safe to run in a worker process."""
    return [prepare_line(kind, url, now, line) for line in lines]
