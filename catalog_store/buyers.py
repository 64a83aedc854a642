"""The buyers the bot talks to: who they are and whether they block the bot.

Every function takes an ``AsyncSession`` and runs one statement on it; none commits. The
caller owns the transaction, as in::

    async with session_factory() as session, session.begin():
        await upsert_buyer(session, user.id, user.first_name, user.username, user.language_code)

Writes are single atomic upserts (``INSERT ... ON CONFLICT DO UPDATE`` on SQLite and
PostgreSQL), so two updates of one buyer arriving at once never fail on the primary key.

This module knows nothing of Telegram's types (the store never imports Telegram code): the
bot passes plain ids and strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_store.models import Buyer, utcnow

__all__ = ["is_blocked", "mark_blocked", "upsert_buyer"]


def _insert(session: AsyncSession) -> Any:
    """The dialect's INSERT construct with ``on_conflict_do_update``."""
    name = session.get_bind().dialect.name
    if name == "sqlite":
        return sqlite.insert(Buyer)
    if name == "postgresql":
        return postgresql.insert(Buyer)
    raise NotImplementedError(f"buyers: no upsert for the {name} dialect")


async def upsert_buyer(
    session: AsyncSession,
    user_id: int,
    first_name: str,
    username: str | None,
    language_code: str | None,
    *,
    now: datetime | None = None,
) -> Buyer:
    """Record that ``user_id`` wrote to the bot and return the buyer as stored now.

    A new buyer is inserted. A known one gets the current names, ``last_seen_at`` and a
    cleared ``blocked_at`` (a buyer who writes again has unblocked the bot). The language is
    only replaced by a known one: Telegram leaves ``language_code`` out now and then, and a
    missing value should not erase the one we had. ``username`` is replaced even by None
    (the user removed it). ``now`` (UTC, aware) is for tests; default: the current time.
    """
    now = now or utcnow()
    stmt = _insert(session).values(
        id=user_id,
        first_name=first_name or "",
        username=username,
        language_code=language_code,
        blocked_at=None,
        created_at=now,
        last_seen_at=now,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[Buyer.id],
        set_={
            "first_name": stmt.excluded.first_name,
            "username": stmt.excluded.username,
            "language_code": func.coalesce(stmt.excluded.language_code, Buyer.language_code),
            "last_seen_at": stmt.excluded.last_seen_at,
            "blocked_at": None,
        },
    ).returning(Buyer)
    result = await session.scalars(stmt, execution_options={"populate_existing": True})
    return result.one()


async def mark_blocked(session: AsyncSession, user_id: int, *, now: datetime | None = None) -> None:
    """Record that ``user_id`` blocks the bot (or deleted their account).

    A buyer we never stored gets a minimal row (empty name; ``created_at`` and
    ``last_seen_at`` are ``now``). A buyer already marked keeps the first ``blocked_at``,
    so it says since when sends fail. ``upsert_buyer`` clears the mark.
    """
    now = now or utcnow()
    stmt = _insert(session).values(
        id=user_id, first_name="", blocked_at=now, created_at=now, last_seen_at=now
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[Buyer.id],
        set_={"blocked_at": func.coalesce(Buyer.blocked_at, stmt.excluded.blocked_at)},
    )
    await session.execute(stmt)


async def is_blocked(session: AsyncSession, user_id: int) -> bool:
    """True when ``user_id`` is marked as blocking the bot; False for unknown users."""
    blocked_at = await session.scalar(select(Buyer.blocked_at).where(Buyer.id == user_id))
    return blocked_at is not None
