"""Short integer keys for offers, for buttons.

Telegram limits callback data to 64 bytes and a catalog id may be 64 characters, so a button
names an offer by a small integer from ``offer_keys``. Keys are handed out on first use, never
reused, and outlive re-imports, so an old message's button still finds its offer (or learns
that it was taken off sale).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_store.models import OfferKey


async def keys_for(session: AsyncSession, offer_ids: Sequence[str]) -> dict[str, int]:
    """The key of each offer id, creating the missing ones (in its own transaction)."""
    if not offer_ids:
        return {}
    wanted = list(dict.fromkeys(offer_ids))
    async with session.begin():
        found = dict(
            (
                await session.execute(
                    select(OfferKey.offer_id, OfferKey.key).where(OfferKey.offer_id.in_(wanted))
                )
            )
            .tuples()
            .all()
        )
        missing = [oid for oid in wanted if oid not in found]
        if missing:
            insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
            await session.execute(
                insert(OfferKey)
                .values([{"offer_id": oid} for oid in missing])
                .on_conflict_do_nothing(index_elements=["offer_id"])
            )
            found.update(
                (
                    await session.execute(
                        select(OfferKey.offer_id, OfferKey.key).where(
                            OfferKey.offer_id.in_(missing)
                        )
                    )
                )
                .tuples()
                .all()
            )
    return found


async def offer_id_for(session: AsyncSession, key: int) -> str | None:
    """The offer a button's key names, or None for a key never handed out (forged)."""
    async with session.begin():
        return await session.scalar(select(OfferKey.offer_id).where(OfferKey.key == key))
