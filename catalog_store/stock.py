"""What can still be sold: a SKU's stock minus what open orders hold.

``skus.stock`` is the factory's on-hand count as of the last import; reservations live in
``stock_reservations``, apart from it, so a re-import neither releases nor double-counts
them. A reservation is open while ``released_at`` is null (an order that is rejected,
cancelled or expired releases its reservations).

``available(session, offer_id)`` reads it for every SKU of an offer in one statement; it
takes a session and commits nothing (in a write transaction it sees that transaction's own
reservations). Offers without SKUs keep no stock count and are not in the result.
"""

from __future__ import annotations

from sqlalchemy import Subquery, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_store.models import Sku, StockReservation

__all__ = ["available", "reserved_qty"]


def reserved_qty(offer_id: str) -> Subquery:
    """A subquery: (sku_id, reserved) over the offer's open reservations."""
    return (
        select(StockReservation.sku_id, func.sum(StockReservation.qty).label("reserved"))
        .where(StockReservation.offer_id == offer_id, StockReservation.released_at.is_(None))
        .group_by(StockReservation.sku_id)
        .subquery()
    )


async def available(session: AsyncSession, offer_id: str) -> dict[str, int]:
    """Per SKU of the offer: stock − Σ qty of unreleased reservations, never below 0."""
    reserved = reserved_qty(offer_id)
    rows = await session.execute(
        select(Sku.sku_id, Sku.stock, func.coalesce(reserved.c.reserved, 0))
        .outerjoin(reserved, reserved.c.sku_id == Sku.sku_id)
        .where(Sku.offer_id == offer_id)
        .order_by(Sku.position)
    )
    return {sku_id: max(0, int(stock) - int(held)) for sku_id, stock, held in rows}
