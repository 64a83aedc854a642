"""Migrations and column types of the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog_store import db
from catalog_store.models import Base, Factory, Money, UTCDateTime
from catalog_store.stats import catalog_stats
from tests.catalog_samples import write_catalog


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_migrations_create_every_model_table_and_go_down_and_up(engine: AsyncEngine) -> None:
    expected = set(Base.metadata.tables)
    assert expected <= await _tables(engine)
    await db.migrate(engine)  # idempotent
    await db.downgrade(engine, "base")
    assert not (expected & await _tables(engine))
    await db.migrate(engine)
    assert expected <= await _tables(engine)


async def test_migration_matches_the_models(engine: AsyncEngine) -> None:
    """Autogenerate finds nothing to do: the migration and the models agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def diff(conn):  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        return compare_metadata(ctx, Base.metadata)

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_money_is_exact_and_times_are_utc(engine: AsyncEngine) -> None:
    local = datetime(2026, 11, 29, 20, 0, tzinfo=timezone(timedelta(hours=8)))
    async with db.session_factory(engine)() as session, session.begin():
        session.add(
            Factory(
                id="f",
                name="厂",
                province="浙江",
                city="义乌",
                badges=[],
                extra={},
                content_hash="x",
                created_at=local,
                updated_at=local,
            )
        )
    async with engine.connect() as conn:
        row = (await conn.execute(select(Factory.created_at))).scalar_one()
    assert row == local and row.tzinfo is not None and row.utcoffset() == timedelta(0)
    assert row.hour == 12  # 20:00 in Beijing is 12:00 UTC


def test_money_type_refuses_fractions_of_a_fen() -> None:
    money = Money()
    assert money.process_bind_param(Decimal("0.10"), None) == 10
    assert money.process_bind_param(Decimal("123456789.99"), None) == 12345678999
    assert money.process_result_value(2150, None) == Decimal("21.50")
    assert str(money.process_result_value(5, None)) == "0.05"
    with pytest.raises(ValueError, match="fen"):
        money.process_bind_param(Decimal("0.001"), None)
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1), None)
    assert UTCDateTime().process_result_value(datetime(2026, 1, 1), None) == datetime(
        2026, 1, 1, tzinfo=UTC
    )


async def test_money_is_stored_as_integer_fen(engine: AsyncEngine, tmp_path: Path) -> None:
    from catalog_store.importer import import_catalog

    await import_catalog(engine, write_catalog(tmp_path / "c"))
    async with engine.connect() as conn:
        raw = (
            (
                await conn.execute(
                    text(
                        "select price from price_tiers where offer_id = 'o-hairclip-1' "
                        "order by min_qty"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert raw == [2500, 2150, 1800]


async def test_stats_count_by_top_category_city_and_badge(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    from catalog_store.importer import import_catalog

    await import_catalog(engine, write_catalog(tmp_path / "c"))
    stats = await catalog_stats(engine)
    assert (stats.factories, stats.offers, stats.active_offers, stats.leaf_categories) == (
        3,
        3,
        3,
        3,
    )
    assert dict(stats.by_top_category) == {"配饰": 1, "女装": 1, "家居日用": 1}
    assert {c: (f, o) for c, f, o in stats.by_city} == {
        "义乌": (1, 1),
        "广州": (1, 1),
        "永康": (1, 1),
    }
    assert {b: (f, o) for b, f, o in stats.by_badge} == {
        "super_factory": (1, 1),
        "trust_pass": (1, 1),
        "power_merchant": (1, 1),
    }


def test_json_columns_refuse_what_is_not_json_and_keep_what_orjson_cannot_write() -> None:
    import json
    from datetime import UTC, datetime
    from decimal import Decimal

    from catalog_store.db import json_serializer

    assert json_serializer({"颜色": "红色", "n": [1, 2.5, None, True]}) == (
        '{"颜色":"红色","n":[1,2.5,null,true]}'
    )
    for not_json in (Decimal("1.5"), datetime.now(UTC), {"at": datetime.now(UTC)}):
        with pytest.raises(TypeError, match="is not JSON"):
            json_serializer(not_json)
    # beyond orjson: an unknown key's huge number, a dict keyed by numbers
    assert json.loads(json_serializer({"big": 2**70})) == {"big": 2**70}
    assert json.loads(json_serializer({1: "a"})) == {"1": "a"}


async def test_upgrading_merges_saved_recipients_saved_twice(engine: AsyncEngine) -> None:
    """Before 0006 the same address could be saved twice; the upgrade keeps one row per
    address, with the latest use of any of them."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    await db.downgrade(engine, "0005")
    rows = [
        (1, 7, "2026-11-01 10:00:00"),
        (2, 7, "2026-11-20 10:00:00"),  # the same address again: the latest use
        (3, 7, "2026-11-05 10:00:00"),  # the same address a third time
        (4, 8, "2026-11-02 10:00:00"),  # another buyer
    ]
    async with engine.begin() as conn:
        for row_id, buyer, used in rows:
            await conn.execute(
                text(
                    "INSERT INTO saved_recipients (id, buyer_id, name, mobile, province, city,"
                    " district, street, created_at, last_used_at) VALUES (:id, :buyer, '王小明',"
                    " '13800138000', '浙江省', '杭州市', NULL, '文三路 90 号', :used, :used)"
                ),
                {"id": row_id, "buyer": buyer, "used": datetime.fromisoformat(used + "+00:00")},
            )
    await db.migrate(engine)
    async with engine.connect() as conn:
        left = (
            await conn.execute(
                text("SELECT id, buyer_id, last_used_at FROM saved_recipients ORDER BY id")
            )
        ).all()
    assert [(r[0], r[1]) for r in left] == [(3, 7), (4, 8)]
    latest = left[0][2]
    latest = datetime.fromisoformat(latest) if isinstance(latest, str) else latest
    assert latest.replace(tzinfo=UTC) == datetime(2026, 11, 20, 10, tzinfo=UTC)
