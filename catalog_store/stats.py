"""Catalog statistics: offers by top category, factories and offers by city, by badge."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog_store.models import Factory, Offer


@dataclass
class CatalogStats:
    factories: int = 0
    offers: int = 0
    active_offers: int = 0
    leaf_categories: int = 0
    by_top_category: list[tuple[str, int]] = field(default_factory=list)
    by_city: list[tuple[str, int, int]] = field(default_factory=list)  # city, factories, offers
    by_badge: list[tuple[str, int, int]] = field(default_factory=list)  # badge, factories, offers


async def catalog_stats(engine: AsyncEngine) -> CatalogStats:
    stats = CatalogStats()
    async with engine.connect() as conn:
        stats.factories = (
            await conn.execute(select(func.count()).select_from(Factory))
        ).scalar_one()
        stats.offers = (await conn.execute(select(func.count()).select_from(Offer))).scalar_one()
        stats.active_offers = (
            await conn.execute(select(func.count()).select_from(Offer).where(Offer.active))
        ).scalar_one()
        stats.leaf_categories = (
            await conn.execute(select(func.count(func.distinct(Offer.category_leaf))))
        ).scalar_one()
        top = await conn.execute(
            select(Offer.category_top, func.count())
            .group_by(Offer.category_top)
            .order_by(func.count().desc(), Offer.category_top)
        )
        stats.by_top_category = [(name, n) for name, n in top]
        per_factory = dict(
            (
                await conn.execute(
                    select(Offer.factory_id, func.count()).group_by(Offer.factory_id)
                )
            ).all()
        )
        city_factories: Counter[str] = Counter()
        city_offers: Counter[str] = Counter()
        badge_factories: Counter[str] = Counter()
        badge_offers: Counter[str] = Counter()
        for fid, city, badges in await conn.execute(
            select(Factory.id, Factory.city, Factory.badges)
        ):
            city_factories[city] += 1
            city_offers[city] += per_factory.get(fid, 0)
            for badge in badges or []:
                badge_factories[badge] += 1
                badge_offers[badge] += per_factory.get(fid, 0)
    stats.by_city = sorted(
        ((c, city_factories[c], city_offers[c]) for c in city_factories),
        key=lambda t: (-t[2], -t[1], t[0]),
    )
    stats.by_badge = sorted(
        ((b, badge_factories[b], badge_offers[b]) for b in badge_factories),
        key=lambda t: (-t[1], t[0]),
    )
    return stats
