"""Catalog tables: factories, offers, price tiers, SKUs, customization options.

Money columns (price, dropship_price, shipping_fee, unit_fee, setup_fee) hold integer fen;
times are UTC.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "factories",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("province", sa.String(length=200), nullable=False),
        sa.Column("city", sa.String(length=200), nullable=False),
        sa.Column("industrial_belt", sa.String(length=200), nullable=True),
        sa.Column("badges", sa.JSON(), nullable=False),
        sa.Column("trust_years", sa.Integer(), nullable=True),
        sa.Column("pickup_48h_rate", sa.Float(), nullable=True),
        sa.Column("response_rate", sa.Float(), nullable=True),
        sa.Column("rating", sa.Float(), nullable=True),
        sa.Column("supplier_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_factories")),
    )
    with op.batch_alter_table("factories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_factories_city"), ["city"], unique=False)

    op.create_table(
        "offers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("factory_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("category", sa.JSON(), nullable=False),
        sa.Column("category_top", sa.String(length=200), nullable=False),
        sa.Column("category_leaf", sa.String(length=200), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("unit", sa.String(length=200), nullable=False),
        sa.Column("moq", sa.Integer(), nullable=False),
        sa.Column("dropship_supported", sa.Boolean(), nullable=False),
        sa.Column("dropship_price", sa.BigInteger(), nullable=True),
        sa.Column("dropship_ship_within_hours", sa.Integer(), nullable=True),
        sa.Column("dropship_extra", sa.JSON(), nullable=True),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("bundle_tags", sa.JSON(), nullable=False),
        sa.Column("sales_30d", sa.Integer(), nullable=True),
        sa.Column("repurchase_rate", sa.Float(), nullable=True),
        sa.Column("mix_wholesale", sa.Boolean(), nullable=False),
        sa.Column("shipping_fee", sa.BigInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["factory_id"], ["factories.id"], name=op.f("fk_offers_factory_id_factories")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
    )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index("ix_offers_category_leaf", ["category_leaf"], unique=False)
        batch_op.create_index(batch_op.f("ix_offers_category_top"), ["category_top"], unique=False)
        batch_op.create_index(batch_op.f("ix_offers_factory_id"), ["factory_id"], unique=False)

    op.create_table(
        "customization_options",
        sa.Column("offer_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("min_qty", sa.Integer(), nullable=False),
        sa.Column("unit_fee", sa.BigInteger(), nullable=False),
        sa.Column("setup_fee", sa.BigInteger(), nullable=False),
        sa.Column("lead_days", sa.Float(), nullable=True),
        sa.Column("lead_hours", sa.Integer(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["offers.id"],
            name=op.f("fk_customization_options_offer_id_offers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("offer_id", "position", name=op.f("pk_customization_options")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("customization_options", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customization_options_kind"), ["kind"], unique=False)

    op.create_table(
        "price_tiers",
        sa.Column("offer_id", sa.String(length=64), nullable=False),
        sa.Column("min_qty", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["offers.id"],
            name=op.f("fk_price_tiers_offer_id_offers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("offer_id", "min_qty", name=op.f("pk_price_tiers")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "skus",
        sa.Column("offer_id", sa.String(length=64), nullable=False),
        sa.Column("sku_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("specs", sa.JSON(), nullable=False),
        sa.Column("color", sa.String(length=200), nullable=True),
        sa.Column("size", sa.String(length=200), nullable=True),
        sa.Column("price", sa.BigInteger(), nullable=True),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offers.id"], name=op.f("fk_skus_offer_id_offers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("offer_id", "sku_id", name=op.f("pk_skus")),
        sqlite_with_rowid=False,
    )

    op.create_table(
        "catalog_imports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("factories_new", sa.Integer(), nullable=False),
        sa.Column("factories_changed", sa.Integer(), nullable=False),
        sa.Column("offers_new", sa.Integer(), nullable=False),
        sa.Column("offers_changed", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_imports")),
    )


def downgrade() -> None:
    op.drop_table("catalog_imports")
    op.drop_table("skus")
    op.drop_table("price_tiers")
    with op.batch_alter_table("customization_options", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customization_options_kind"))

    op.drop_table("customization_options")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offers_factory_id"))
        batch_op.drop_index(batch_op.f("ix_offers_category_top"))
        batch_op.drop_index("ix_offers_category_leaf")

    op.drop_table("offers")
    with op.batch_alter_table("factories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_factories_city"))

    op.drop_table("factories")
