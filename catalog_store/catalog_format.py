"""The catalog interchange format (``shared/specs/catalog-format.md``), validated with pydantic.

This module owns what a valid factory or offer line is, how a line is read (JSON numbers as
exact ``Decimal``, never binary floats), what a record *means* (defaults applied, so that
``25`` and ``25.00``, or an absent ``dropship`` and ``{"supported": false}``, are one record)
and how a record is written back as JSON with money as exact decimals. Import and export both
go through it, so the contract lives in one place.

Records are validated into plain dicts (pydantic ``TypedDict`` schemas): unknown keys stay in
the dict, and validation costs a third of what nested models cost, which matters at a
million offers.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,  # pydantic needs these on Python 3.11
)

import jiter
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    with_config,
)
from typing_extensions import TypedDict

ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
TITLE_MAX_CHARS = 300
NAME_MAX_CHARS = 200
MAX_MONEY = Decimal("1000000000")  # ten digits of yuan: far above any offer, within BIGINT fen
_CENT = Decimal("0.01")
ZERO = Decimal(0)
NO_DROPSHIP: dict[str, Any] = {"supported": False, "price": None, "ship_within_hours": None}

BADGES = ("super_factory", "power_merchant", "specialized_sme", "little_giant", "trust_pass")
BADGE_NAMES = {
    "super_factory": "超级工厂",
    "power_merchant": "实力商家",
    "specialized_sme": "专精特新",
    "little_giant": "小巨人",
    "trust_pass": "诚信通",
}
CUSTOMIZATION_KINDS = ("logo", "packaging", "color", "size", "material", "engraving", "sample")
COLOR_KEY = "颜色"
SIZE_KEY = "尺码"


def _json_number(value: Any) -> Any:
    """Accept JSON integers as decimals; a bool or a string stays a type error."""
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value


def _money(value: Decimal) -> Decimal:
    # one check in place of pydantic's max_digits/decimal_places, which run in Python and
    # were the slowest part of validating an offer
    if not value.is_finite():
        raise ValueError("must be a finite number")
    if value < 0:
        raise ValueError("must not be negative")
    if value >= MAX_MONEY:
        raise ValueError(f"must be below {MAX_MONEY} CNY")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and value != value.quantize(_CENT):
        raise ValueError("at most 2 decimal places (fen)")
    return value


Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX_CHARS)
]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX_CHARS)
]
Money = Annotated[Decimal, BeforeValidator(_json_number), AfterValidator(_money)]
Rate = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Rating = Annotated[float, Field(ge=0, le=5, allow_inf_nan=False)]
Days = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0)]
Positive = Annotated[int, Field(ge=1)]

# strict: a JSON string "25" where a number belongs is a wrong type, not a number.
# extra="allow": unknown keys are kept and stored, never an error.
_CONFIG = ConfigDict(strict=True, extra="allow")


@with_config(_CONFIG)
class FactoryRecord(TypedDict):
    id: Id
    name: Text
    province: Text
    city: Text
    industrial_belt: NotRequired[Text | None]
    badges: NotRequired[list[Literal[BADGES]]]  # type: ignore[valid-type]
    trust_years: NotRequired[Count | None]
    pickup_48h_rate: NotRequired[Rate | None]
    response_rate: NotRequired[Rate | None]
    rating: NotRequired[Rating | None]
    supplier_chat_id: NotRequired[int | None]


@with_config(_CONFIG)
class PriceTierRecord(TypedDict):
    min_qty: Positive
    price: Money


@with_config(_CONFIG)
class DropshipRecord(TypedDict):
    supported: bool
    price: NotRequired[Money | None]
    ship_within_hours: NotRequired[Count | None]


@with_config(_CONFIG)
class SkuRecord(TypedDict):
    id: Id
    specs: NotRequired[dict[str, str]]
    price: NotRequired[Money | None]
    stock: Count


@with_config(_CONFIG)
class CustomizationRecord(TypedDict):
    kind: Literal[CUSTOMIZATION_KINDS]  # type: ignore[valid-type]
    name: Text
    min_qty: NotRequired[Positive]
    unit_fee: NotRequired[Money]
    setup_fee: NotRequired[Money]
    lead_days: NotRequired[Days | None]
    lead_hours: NotRequired[Count | None]


@with_config(_CONFIG)
class OfferRecord(TypedDict):
    id: Id
    factory_id: Id
    title: Title
    category: Annotated[list[Text], Field(min_length=1, max_length=8)]
    attributes: NotRequired[dict[str, str]]
    keywords: NotRequired[list[str]]
    unit: NotRequired[Text]
    moq: Positive
    price_tiers: Annotated[list[PriceTierRecord], Field(min_length=1, max_length=50)]
    dropship: NotRequired[DropshipRecord | None]
    skus: NotRequired[Annotated[list[SkuRecord], Field(max_length=500)]]
    customization: NotRequired[Annotated[list[CustomizationRecord], Field(max_length=50)]]
    images: NotRequired[list[str]]
    bundle_tags: NotRequired[list[str]]
    sales_30d: NotRequired[Count | None]
    repurchase_rate: NotRequired[Rate | None]
    mix_wholesale: NotRequired[bool]
    shipping_fee: NotRequired[Money | None]
    active: NotRequired[bool]


FACTORY_ADAPTER = TypeAdapter(FactoryRecord)
OFFER_ADAPTER = TypeAdapter(OfferRecord)

# What an absent optional key means. Filled in by ``normalize_*`` so that the store, the
# content hash and the export all see one meaning.
_FACTORY_DEFAULTS: dict[str, Any] = {
    "industrial_belt": None,
    "badges": [],
    "trust_years": None,
    "pickup_48h_rate": None,
    "response_rate": None,
    "rating": None,
    "supplier_chat_id": None,
}
OFFER_DEFAULTS: dict[str, Any] = {
    "attributes": {},
    "keywords": [],
    "unit": "件",
    "skus": [],
    "customization": [],
    "images": [],
    "bundle_tags": [],
    "sales_30d": None,
    "repurchase_rate": None,
    "mix_wholesale": True,
    "shipping_fee": None,
    "active": True,
}
_DROPSHIP_DEFAULTS: dict[str, Any] = {"price": None, "ship_within_hours": None}
_SKU_DEFAULTS: dict[str, Any] = {"specs": {}, "price": None}
OPTION_DEFAULTS: dict[str, Any] = {
    "min_qty": 1,
    "unit_fee": Decimal(0),
    "setup_fee": Decimal(0),
    "lead_days": None,
    "lead_hours": None,
}

FACTORY_KEYS = frozenset(FactoryRecord.__annotations__)
OFFER_KEYS = frozenset(OfferRecord.__annotations__)
TIER_KEYS = frozenset(PriceTierRecord.__annotations__)
DROPSHIP_KEYS = frozenset(DropshipRecord.__annotations__)
SKU_KEYS = frozenset(SkuRecord.__annotations__)
OPTION_KEYS = frozenset(CustomizationRecord.__annotations__)


def extra_of(record: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """The unknown keys of a record (kept as extra data)."""
    if len(record) <= len(known) and record.keys() <= known:
        return {}
    return {k: v for k, v in record.items() if k not in known}


def _with_defaults(record: dict[str, Any], defaults: dict[str, Any]) -> None:
    for key, value in defaults.items():
        if record.get(key) is None and value is not None:
            record[key] = value.copy() if isinstance(value, list | dict) else value
        elif key not in record:
            record[key] = value


def normalize_factory(record: dict[str, Any]) -> dict[str, Any]:
    _with_defaults(record, _FACTORY_DEFAULTS)
    return record


def normalize_offer(record: dict[str, Any]) -> dict[str, Any]:
    """Apply the contract's defaults in place (absent, null and default are one meaning)."""
    _with_defaults(record, OFFER_DEFAULTS)
    dropship = record.get("dropship") or {"supported": False}
    _with_defaults(dropship, _DROPSHIP_DEFAULTS)
    record["dropship"] = dropship
    for sku in record["skus"]:
        _with_defaults(sku, _SKU_DEFAULTS)
    for option in record["customization"]:
        _with_defaults(option, OPTION_DEFAULTS)
    return record


def offer_problems(offer: dict[str, Any]) -> list[tuple[str | None, str]]:
    """Rules across fields that a schema cannot say: (field, message) pairs."""
    problems: list[tuple[str | None, str]] = []
    tiers = offer["price_tiers"]
    for i in range(1, len(tiers)):
        if tiers[i]["min_qty"] <= tiers[i - 1]["min_qty"]:
            problems.append(
                (
                    f"price_tiers[{i}].min_qty",
                    f"tiers must be in ascending min_qty: {tiers[i]['min_qty']} after "
                    f"{tiers[i - 1]['min_qty']}",
                )
            )
    if tiers[0]["min_qty"] != offer["moq"]:
        problems.append(
            (
                "price_tiers[0].min_qty",
                f"the first tier's min_qty ({tiers[0]['min_qty']}) must equal moq ({offer['moq']})",
            )
        )
    seen: set[str] = set()
    for i, sku in enumerate(offer.get("skus") or ()):
        if sku["id"] in seen:
            problems.append((f"skus[{i}].id", f"duplicate SKU id {sku['id']!r}"))
        seen.add(sku["id"])
    dropship = offer.get("dropship")
    if dropship and dropship["supported"] and dropship.get("price") is None:
        problems.append(("dropship.price", "required when drop-ship is supported"))
    return problems


# --- reading -------------------------------------------------------------------------------


class LineProblem(Exception):
    """A line that is not a JSON object of the right shape; ``field`` may be None."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def parse_json_line(data: bytes | str) -> Any:
    """Parse one JSON line with numbers as exact Decimal (jiter's decimal mode).

    NaN and Infinity are not JSON and are refused.
    """
    raw = data.encode() if isinstance(data, str) else data
    try:
        return jiter.from_json(raw.strip(), float_mode="decimal", allow_inf_nan=False)
    except ValueError as exc:
        # the position is within this one line: "line 1" would only confuse
        detail = re.sub(r"at line 1 column (\d+)", r"at column \1", str(exc))
        raise LineProblem(None, f"broken JSON: {detail}") from exc


def error_field(loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic location such as ('price_tiers', 1, 'price') into price_tiers[1].price."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "nullable")) or part in _SCHEMA_STEPS:
            continue  # a validator or union branch, not a key
        else:
            out += f".{part}" if out else str(part)
    return out


_SCHEMA_STEPS = {"decimal", "int", "float", "str", "bool", "list", "dict", "typed-dict"}

_EXPECTED = {
    "is_instance_of": "a number",
    "decimal_type": "a number",
    "int_type": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def describe_validation_error(exc: ValidationError) -> list[tuple[str | None, str]]:
    """(field, message) pairs, worded for the person who wrote the catalog, one per field."""
    pairs: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        field = error_field(tuple(err["loc"]))
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        value = err.get("input")
        kind = err["type"]
        if kind == "missing":
            msg = "required key is missing"
        elif kind in _EXPECTED:
            msg = f"wrong type: expected {_EXPECTED[kind]}, got {_json_type(value)}"
        elif kind == "greater_than_equal" and err.get("ctx", {}).get("ge") == 0:
            msg = "must not be negative"
        elif kind == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == ID_PATTERN:
            msg = "an id is 1 to 64 letters, digits, '-', '_' or '.'"
        elif kind == "string_too_long" and isinstance(value, str):
            msg = f"{len(value):,} characters; at most {err['ctx']['max_length']}"
        # a union (value | null) reports each branch; the first message is the useful one
        pairs.setdefault(field, msg)
    return [(field or None, msg) for field, msg in pairs.items()]


def validate_factory(data: Any) -> dict[str, Any]:
    """A validated, normalized factory record; raises LineProblem or ValidationError."""
    if not isinstance(data, dict):
        raise LineProblem(None, "line is not a JSON object")
    return normalize_factory(FACTORY_ADAPTER.validate_python(data))


def validate_offer(data: Any, *, normalize: bool = True) -> dict[str, Any]:
    """A validated offer record, normalized unless asked not to (the importer applies the
    defaults while building rows); raises LineProblem, ValidationError, CrossFieldProblems."""
    if not isinstance(data, dict):
        raise LineProblem(None, "line is not a JSON object")
    record = OFFER_ADAPTER.validate_python(data)
    problems = offer_problems(record)
    if problems:
        raise CrossFieldProblems(problems)
    return normalize_offer(record) if normalize else record


class CrossFieldProblems(Exception):
    def __init__(self, problems: list[tuple[str | None, str]]) -> None:
        super().__init__("; ".join(m for _, m in problems))
        self.problems = problems


# --- writing -------------------------------------------------------------------------------

_SAFE_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def dump_json(value: Any) -> str:
    """Compact JSON with Decimal written as an exact JSON number (``25.00``), UTF-8 kept."""
    if isinstance(value, Decimal):
        text = format(value, "f")
        if not _SAFE_NUMBER.match(text):
            raise ValueError(f"not a finite decimal: {value!r}")
        return text
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(
                f"{json.dumps(str(k), ensure_ascii=False)}:{dump_json(v)}" for k, v in value.items()
            )
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(dump_json(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def json_safe(value: Any) -> Any:
    """Unknown keys are stored in JSON columns: make their Decimal values storable exactly."""
    if isinstance(value, Decimal):
        return {"$decimal": format(value, "f")}
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def json_restore(value: Any) -> Any:
    """Inverse of :func:`json_safe`."""
    if isinstance(value, dict):
        if value.keys() == {"$decimal"}:
            return Decimal(value["$decimal"])
        return {k: json_restore(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_restore(v) for v in value]
    return value
