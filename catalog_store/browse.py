"""A buyer's searches as the conversation uses them: stored, refined, paged.

A search is stored (``buyer_searches``) with its text and the refinements pressed since
(price band, drop-ship only, a category picked from a clarifying question, a relaxed
constraint). Buttons name the search by its id, so every page and refinement of an old
message keeps working after a restart, and a search of another buyer is refused. No
Telegram here: the handlers render a ``SearchPage``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_store.models import BuyerSearch
from catalog_store.search import RERANK, SearchResult, SearchService
from nlu import ParsedQuery

PAGE_SIZE = 5
VAGUE_LEAVES = 3  # the top 20 spanning this many leaf categories asks which one is meant
MAX_QUERY_CHARS = 200  # longer is not a search query (a pasted article, a forwarded chat)

# the parsed query's fields a refinement may set (values JSON-safe: prices as strings)
REFINABLE = frozenset(
    {
        "category",
        "price_min",
        "price_max",
        "dropship",
        "badges",
        "colors",
        "sizes",
        "region",
        "quantity",
        "customization",
        "materials",
    }
)
ALL_CATEGORIES = "all_categories"  # refinement flag: the buyer chose to see every category


@dataclass(frozen=True)
class StoredSearch:
    id: int
    buyer_id: int
    text: str
    refinements: dict[str, Any]


@dataclass(frozen=True)
class SearchPage:
    search: StoredSearch
    query: ParsedQuery
    result: SearchResult
    page: int  # 0-based
    pages: int  # pages that can be shown (ranking keeps the best RERANK)
    vague: bool  # ask which category before showing results

    @property
    def reachable(self) -> int:
        return min(self.result.total, RERANK)


async def start_search(
    session: AsyncSession, buyer_id: int, text: str, refinements: dict[str, Any] | None = None
) -> StoredSearch:
    refinements = _checked(refinements or {})
    async with session.begin():
        row = BuyerSearch(buyer_id=buyer_id, text=text, refinements=refinements)
        session.add(row)
        await session.flush()
        return StoredSearch(row.id, buyer_id, text, dict(refinements))


async def refine_search(
    session: AsyncSession, search: StoredSearch, changes: dict[str, Any]
) -> StoredSearch:
    """A new stored search: the old one with ``changes`` on top (old buttons stay valid)."""
    return await start_search(
        session, search.buyer_id, search.text, {**search.refinements, **changes}
    )


async def load_search(session: AsyncSession, search_id: int, buyer_id: int) -> StoredSearch | None:
    """The search a button names, or None when it does not exist or is another buyer's."""
    async with session.begin():
        row = await session.scalar(select(BuyerSearch).where(BuyerSearch.id == search_id))
    if row is None or row.buyer_id != buyer_id:
        return None
    return StoredSearch(row.id, row.buyer_id, row.text, dict(row.refinements))


def refined_query(service: SearchService, search: StoredSearch) -> ParsedQuery:
    """The search's text as parsed now, with its refinements applied."""
    query = service.parser.parse(search.text)
    overrides = {k: v for k, v in search.refinements.items() if k in REFINABLE}
    if not overrides:
        return query
    return ParsedQuery.model_validate({**query.model_dump(), **overrides})


def changes_from(query: ParsedQuery) -> dict[str, Any]:
    """A ``modify`` message ("要红色的", "数量改成3") as refinements of the last search."""
    changes: dict[str, Any] = {}
    for name in query.changes:
        if name in REFINABLE:
            value = getattr(query, name)
            changes[name] = str(value) if isinstance(value, Decimal) else value
    return changes


def show_page(service: SearchService, search: StoredSearch, page: int = 0) -> SearchPage:
    """One page of results; ``page`` is clamped into the pages that exist."""
    if service.index is None:
        raise RuntimeError("the search index is not built")
    query = refined_query(service, search)
    first = service.index.search(query, limit=PAGE_SIZE, offset=0)
    pages = max(1, math.ceil(min(first.total, RERANK) / PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    result = (
        first
        if page == 0
        else service.index.search(query, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    )
    vague = (
        len(result.top_leaves) >= VAGUE_LEAVES
        and query.category is None
        and not search.refinements.get(ALL_CATEGORIES)
    )
    return SearchPage(search, query, result, page, pages, vague)


def _checked(refinements: dict[str, Any]) -> dict[str, Any]:
    """Refinements must name refinable fields with values the parsed query accepts."""
    unknown = set(refinements) - REFINABLE - {ALL_CATEGORIES}
    if unknown:
        raise ValueError(f"not refinable: {sorted(unknown)}")
    try:
        ParsedQuery.model_validate(
            {"text": "", "normalized": "", "intent": "search"}
            | {k: v for k, v in refinements.items() if k in REFINABLE}
        )
    except ValidationError as exc:
        raise ValueError(f"bad refinement: {exc}") from exc
    return refinements


@dataclass(frozen=True)
class Relaxation:
    """One way out of an empty result: ``changes`` to the search, ``value`` to name it."""

    kind: str  # price_max, price_min, dropship, quantity, colors, sizes, customization,
    # region, badges
    value: str
    changes: dict[str, Any]


MAX_RELAXATIONS = 3


def relaxations(page: SearchPage) -> list[Relaxation]:
    """The nearest searches that do find something, from what emptied this one."""
    reason = page.result.empty_reason
    if reason is None:
        return []
    kind, options = reason.constraint, reason.options
    if kind in ("price_max", "price_min") and options:
        return [Relaxation(kind, options[0], {kind: options[0]})]
    if kind == "quantity" and options:
        return [Relaxation(kind, options[0], {"quantity": int(options[0])})]
    if kind == "dropship":
        return [Relaxation(kind, "", {"dropship": False})]
    if kind in ("colors", "sizes", "region"):
        return [
            Relaxation(kind, value, {kind: value if kind == "region" else [value]})
            for value in options[:MAX_RELAXATIONS]
        ]
    if kind == "customization":
        return [Relaxation(kind, "", {"customization": []})]
    if kind == "badges":
        return [Relaxation(kind, "", {"badges": []})]
    return []
