"""From catalog lines to database rows: the CPU-heavy, side-effect-free half of an import.

``prepare_chunk`` turns a chunk of raw lines into a ``PreparedChunk``: per line, either a
rejection (with file, line and field) or the record's id, factory and content hash; and per
table, the rows of the valid records with the column types' own bind processors already
applied. Each row starts with its record's index in the chunk, so the writer can leave out
records it refuses or finds unchanged.

Rows take one of two shapes (``RowFormat``). On SQLite, one JSON array per table and chunk,
inserted by a single ``INSERT ... SELECT ... FROM json_each(?)``: SQLite unpacks it in C
without holding the GIL, and a worker process ships one byte string instead of a hundred
Python objects per offer. Elsewhere (PostgreSQL), parameter tuples for the driver's
``executemany``. It touches no database and no shared state, so an import can run it in
worker processes while the main process writes.
"""

from __future__ import annotations

import functools
import hashlib
import marshal
import operator
import os
import pickle
import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import JSON, Table
from sqlalchemy.engine import Dialect, make_url

from catalog_store.catalog_format import (
    COLOR_KEY,
    DROPSHIP_KEYS,
    FACTORY_KEYS,
    NO_DROPSHIP,
    OFFER_DEFAULTS,
    OFFER_KEYS,
    OPTION_DEFAULTS,
    OPTION_KEYS,
    SIZE_KEY,
    SKU_KEYS,
    TIER_KEYS,
    CrossFieldProblems,
    LineProblem,
    describe_validation_error,
    extra_of,
    json_safe,
    parse_json_line,
    validate_factory,
    validate_offer,
)
from catalog_store.db import json_bytes, json_serializer
from catalog_store.models import CustomizationOption, Factory, Money, Offer, PriceTier, Sku
from nlu.normalize import normalize

Kind = Literal["factory", "offer"]
RowFormat = Literal["json", "tuples"]
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


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    record_id: str | None
    errors: list[tuple[str | None, str]]
    text: str | None


# a table's rows for one chunk: UTF-8 JSON of [[index, value, ...], ...] ("json"), or a list
# of (index, value, ...) tuples ("tuples"); index: the record's place in ``records``
TableRows = bytes | list[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class PreparedChunk:
    records: list[Prepared | Rejected]  # one per line, in line order
    rows: dict[str, TableRows]  # table name -> the rows of the chunk's valid records
    prepared: int  # how many records are Prepared (each has rows)


def tables_of(kind: Kind) -> tuple[Table, ...]:
    return (FACTORIES,) if kind == "factory" else (OFFERS, *CHILD_TABLES)


def _safe_extra(record: dict[str, Any], known: frozenset[str]) -> dict[str, Any] | None:
    """Unknown keys, storable; None (SQL NULL, no JSON to write) for the usual record."""
    extra = extra_of(record, known)
    return json_safe(extra) if extra else None


# the columns an import stamps after the content hash is taken, so that the hash is of the
# content alone and a re-import of the same content finds the same hash
STAMPS = ("content_hash", "created_at", "updated_at", "title_tokens")
_UNSTAMPED = dict.fromkeys(STAMPS)


def factory_row(f: dict[str, Any]) -> dict[str, Any]:
    """The factories row of a validated, normalized factory record (stamps left empty)."""
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
        **_UNSTAMPED,
    }


def offer_rows(o: dict[str, Any]) -> dict[str, list[Any]]:
    """The offer's row (a dict, stamps left empty) and its children's rows (parameter tuples
    in ``CHILD_COLUMNS`` order, ready to bind), keyed by table name.

    ``o`` is a validated offer; absent optional keys take the contract's defaults here, read
    from the same tables ``catalog_format.normalize_offer`` applies (without copying the
    record, which a million-offer import cannot afford).
    """
    oid = o["id"]
    get = o.get
    ds = get("dropship") or NO_DROPSHIP
    offer = {
        "id": oid,
        "factory_id": o["factory_id"],
        "title": o["title"],
        "category": o["category"],
        "category_top": o["category"][0],
        "category_leaf": o["category"][-1],
        "attributes": get("attributes") or {},
        "keywords": get("keywords") or [],
        "unit": get("unit") or OFFER_DEFAULTS["unit"],
        "moq": o["moq"],
        "dropship_supported": ds["supported"],
        "dropship_price": ds.get("price"),
        "dropship_ship_within_hours": ds.get("ship_within_hours"),
        "dropship_extra": _safe_extra(ds, DROPSHIP_KEYS),
        "images": get("images") or [],
        "bundle_tags": get("bundle_tags") or [],
        "sales_30d": get("sales_30d"),
        "repurchase_rate": get("repurchase_rate"),
        "mix_wholesale": get("mix_wholesale", OFFER_DEFAULTS["mix_wholesale"]),
        "shipping_fee": get("shipping_fee"),
        "active": get("active", OFFER_DEFAULTS["active"]),
        "extra": _safe_extra(o, OFFER_KEYS),
        **_UNSTAMPED,
    }
    # children go straight to parameter tuples in CHILD_COLUMNS order: an offer has a dozen
    # of them, and a dict per row cost more than everything the database did with it
    tiers = [
        (oid, t["min_qty"], _fen(t["price"]), _extra_json(t, TIER_KEYS)) for t in o["price_tiers"]
    ]
    skus = []
    for i, sku in enumerate(get("skus") or ()):
        specs = sku.get("specs") or {}
        price = sku.get("price")
        skus.append(
            (
                oid,
                sku["id"],
                i,
                json_serializer(specs),
                specs.get(COLOR_KEY),
                specs.get(SIZE_KEY),
                None if price is None else _fen(price),
                sku["stock"],
                _extra_json(sku, SKU_KEYS),
            )
        )
    options = [
        (
            oid,
            i,
            c["kind"],
            c["name"],
            c.get("min_qty", OPTION_DEFAULTS["min_qty"]),
            _fen(c.get("unit_fee", OPTION_DEFAULTS["unit_fee"])),
            _fen(c.get("setup_fee", OPTION_DEFAULTS["setup_fee"])),
            c.get("lead_days"),
            c.get("lead_hours"),
            _extra_json(c, OPTION_KEYS),
        )
        for i, c in enumerate(get("customization") or ())
    ]
    return {"offers": [offer], "price_tiers": tiers, "skus": skus, "customization_options": options}


_fen = Money.process_bind_param_fast

# the column order of the parameter lists ``offer_rows`` builds for child tables
CHILD_COLUMNS: dict[str, tuple[str, ...]] = {
    "price_tiers": ("offer_id", "min_qty", "price", "extra"),
    "skus": ("offer_id", "sku_id", "position", "specs", "color", "size", "price", "stock", "extra"),
    "customization_options": (
        "offer_id",
        "position",
        "kind",
        "name",
        "min_qty",
        "unit_fee",
        "setup_fee",
        "lead_days",
        "lead_hours",
        "extra",
    ),
}


def _extra_json(record: dict[str, Any], known: frozenset[str]) -> str | None:
    extra = _safe_extra(record, known)
    return None if extra is None else json_serializer(extra)


class InsertPlan:
    """Driver-level SQL for one table, and how to turn a row dict into its parameters."""

    def __init__(
        self,
        table: Table,
        columns: list[Any],
        dialect: Dialect,
    ) -> None:
        quote = dialect.identifier_preparer.quote
        names = [quote(c.name) for c in columns]
        if dialect.paramstyle == "qmark":
            marks = ["?"] * len(columns)
        elif dialect.paramstyle == "numeric_dollar":
            marks = [f"${i}" for i in range(1, len(columns) + 1)]
        else:
            marks = ["%s"] * len(columns)
        into = f"INSERT INTO {quote(table.name)} ({', '.join(names)})"
        self.insert_sql = f"{into} VALUES ({', '.join(marks)})"
        on_conflict = ""
        if [c.name for c in table.primary_key.columns] == ["id"]:
            # an update keeps the row (orders will refer to it) and its created_at
            updates = ", ".join(
                f"{n} = excluded.{n}"
                for c, n in zip(columns, names, strict=True)
                if c.name not in ("id", "created_at")
            )
            on_conflict = f" ON CONFLICT ({quote('id')}) DO UPDATE SET {updates}"
        self.upsert_sql = f"{self.insert_sql}{on_conflict}" if on_conflict else None
        # SQLite: a chunk's rows as one JSON array [[index, value, ...], ...]; element 0 is the
        # record's index, so "kept" inserts only the records the writer lets through.
        # (json_extract rather than ->>: SQLite before 3.38 has only the former.)
        picks = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(1, len(columns) + 1))
        # the rows arrive as UTF-8 bytes (a BLOB to the driver): CAST reads them as text
        select = f"{into} SELECT {picks} FROM json_each(CAST(? AS TEXT))"
        # "WHERE true" keeps SQLite from reading ON CONFLICT as part of the SELECT's join
        self.json_sql = f"{select} WHERE true{on_conflict}"
        self.json_kept_sql = (
            f"{select} WHERE json_extract(value, '$[0]') IN (SELECT value FROM json_each(?))"
            f"{on_conflict}"
        )
        keys = [c.key for c in columns]
        processors = [_processor(c, dialect) for c in columns]
        self.keys = tuple(keys)
        self._get = operator.itemgetter(*keys)
        # only the columns whose type converts the value (money, JSON, times) cost a call
        self._convert = [(i, p) for i, p in enumerate(processors) if p is not None]
        self._stamp_at = [keys.index(k) for k in STAMPS if k in keys]

    def params(self, row: dict[str, Any]) -> list[Any]:
        values = list(self._get(row))
        for i, proc in self._convert:
            if values[i] is not None:
                values[i] = proc(values[i])
        return values

    def stamp(
        self, values: list[Any], digest: str, now: Any, tokens: str | None = None
    ) -> tuple[Any, ...]:
        """Fill content_hash, created_at, updated_at (and an offer's title tokens, which
        depend on the lexicon of the day, not on the content) into a parent row's values.
        ``now`` is already in its bound form (see ``bound_now``)."""
        stamps = (digest, now, now, tokens)
        for i, value in zip(self._stamp_at, stamps, strict=False):
            values[i] = value
        return tuple(values)


@functools.cache
def dialect_for(url: str) -> Dialect:
    return make_url(url).get_dialect()(json_serializer=json_serializer)  # type: ignore[call-arg]


@functools.cache
def insert_plan(url: str, table_name: str) -> InsertPlan:
    """Core's executemany spends most of an import building parameters row by row; applying
    the column types' own bind processors here stores the same values at a fraction of it."""
    dialect = dialect_for(url)
    table = {t.name: t for t in (FACTORIES, OFFERS, *CHILD_TABLES)}[table_name]
    columns = list(table.columns)
    if table_name in CHILD_COLUMNS:
        columns = [table.c[name] for name in CHILD_COLUMNS[table_name]]
    return InsertPlan(table, columns, dialect)


def bound_now(url: str, now: datetime, row_format: RowFormat) -> Any:
    """The import's clock as the created_at/updated_at columns bind it, once per chunk.

    In JSON rows it is the text Python's sqlite3 module writes for a datetime (what every
    other write to these columns stores), so both paths store the same thing."""
    proc = _processor(OFFERS.c.created_at, dialect_for(url))
    value = proc(now) if proc is not None else now
    if row_format == "json" and isinstance(value, datetime):
        return value.isoformat(" ")
    return value


def _processor(column: Any, dialect: Dialect) -> Any:
    # the same values Core would bind, with one call instead of a chain of wrappers
    if isinstance(column.type, Money):
        return Money.process_bind_param_fast
    if isinstance(column.type, JSON):
        return json_serializer
    return column.type.bind_processor(dialect)


def _text(data: bytes | None) -> str | None:
    if data is None:
        return None
    return data[: REPORT_TEXT_CHARS * 4].decode("utf-8", "replace")[:REPORT_TEXT_CHARS].rstrip("\n")


def title_tokens(title: str) -> str:
    """The title as the query parser segments it (normalized, space-separated)."""
    import nlu  # the parser is loaded once per process, on the first offer

    parser = nlu.default_parser()
    return " ".join(w for w, _, _ in parser.segment(normalize(title)))


def prepare_line(
    kind: Kind, url: str, now: Any, line: InputLine
) -> tuple[Prepared | Rejected, dict[str, list[Any]] | None]:
    """One line's outcome and, when valid, its rows by table (parent row stamped)."""
    if line.data is None:
        return Rejected(line.number, None, [(None, line.problem or "unreadable line")], None), None
    try:
        line.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = f"not valid UTF-8: byte 0x{line.data[exc.start]:02x} at byte {exc.start + 1}"
        return Rejected(line.number, None, [(None, problem)], _text(line.data)), None
    data: Any = None
    try:
        data = parse_json_line(line.data)
        if kind == "factory":
            record = validate_factory(data)
        else:
            record = validate_offer(data, normalize=False)
    except LineProblem as exc:
        return Rejected(line.number, None, [(exc.field, exc.message)], _text(line.data)), None
    except ValidationError as exc:
        record_id = data.get("id") if isinstance(data.get("id"), str) else None
        errors = describe_validation_error(exc)
        return Rejected(line.number, record_id, errors, _text(line.data)), None
    except CrossFieldProblems as exc:
        return Rejected(line.number, data["id"], exc.problems, _text(line.data)), None
    rows = {"factories": [factory_row(record)]} if kind == "factory" else offer_rows(record)
    parent = "factories" if kind == "factory" else "offers"
    plan = insert_plan(url, parent)
    rows[parent] = [plan.params(rows[parent][0])]
    # the hash is of the values as stored, so 25 and 25.00, or an absent key and its default,
    # hash alike: importing the same catalog, or its own export, changes nothing
    # (stamps are still empty when the hash is taken, so every value here is plain JSON)
    digest = hashlib.blake2b(json_bytes(rows), digest_size=16).hexdigest()
    # title tokens depend on the lexicon, not the content: stamped after the hash
    tokens = title_tokens(record["title"]) if kind == "offer" else None
    rows[parent] = [plan.stamp(rows[parent][0], digest, now, tokens)]
    prepared = Prepared(line.number, record["id"], record.get("factory_id"), digest)
    return prepared, rows


def prepare_chunk(
    kind: Kind, url: str, now: datetime, lines: list[InputLine], row_format: RowFormat
) -> PreparedChunk:
    """Validate and convert a chunk of lines; safe to run in a worker process."""
    stamp_now = bound_now(url, now, row_format)
    records: list[Prepared | Rejected] = []
    by_table: dict[str, list[tuple[Any, ...]]] = {t.name: [] for t in tables_of(kind)}
    prepared = 0
    for index, line in enumerate(lines):
        record, rows = prepare_line(kind, url, stamp_now, line)
        records.append(record)
        if rows is not None:
            prepared += 1
            tag = (index,)
            for name, table_rows in rows.items():
                by_table[name].extend([tag + row for row in table_rows])
    out: dict[str, TableRows] = dict(by_table)
    if row_format == "json":
        out = {name: json_bytes(table_rows) for name, table_rows in by_table.items()}
    return PreparedChunk(records, out, prepared)


def start_worker(lexicon: Path | None) -> None:
    """A worker process's set-up: segment titles with the importing process's lexicon.

    Ctrl-C reaches every process of the terminal's group; the importing process handles it
    (rolls back, then shuts the pool down), so a worker ignores it instead of dying
    mid-chunk and breaking the pool under the rollback."""
    import nlu

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a pool's workers wait on a queue they also hold the writing end of, so they would
    # outlive an importer that is killed outright: they leave when it is gone
    parent = os.getppid()

    def leave_with_parent() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=leave_with_parent, name="leave-with-parent", daemon=True).start()
    nlu.configure(lexicon)


def prepare_chunk_packed(
    kind: Kind, url: str, now: datetime, lines: list[InputLine], row_format: RowFormat
) -> bytes:
    """``prepare_chunk`` for a worker process: the result packed for the trip back.

    marshal handles the plain values rows are made of several times faster than pickle,
    which the process pool would otherwise spend on every row; values it cannot carry
    (datetimes bound as objects, on PostgreSQL) fall back to pickle.
    """
    chunk = prepare_chunk(kind, url, now, lines, row_format)
    plain = (
        [
            (0, p.line, p.id, p.factory_id, p.digest)
            if isinstance(p, Prepared)
            else (1, p.line, p.record_id, p.errors, p.text)
            for p in chunk.records
        ],
        chunk.rows,
        chunk.prepared,
    )
    try:
        return b"M" + marshal.dumps(plain)
    except ValueError:
        return b"P" + pickle.dumps(plain, protocol=pickle.HIGHEST_PROTOCOL)


def unpack_chunk(packed: bytes) -> PreparedChunk:
    records, rows, prepared = (
        marshal.loads(packed[1:]) if packed[:1] == b"M" else pickle.loads(packed[1:])
    )
    return PreparedChunk(
        [
            Prepared(t[1], t[2], t[3], t[4]) if t[0] == 0 else Rejected(t[1], t[2], t[3], t[4])
            for t in records
        ],
        rows,
        prepared,
    )
