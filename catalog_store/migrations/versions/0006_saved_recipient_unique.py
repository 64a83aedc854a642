"""One saved recipient per buyer, name, mobile and street.

Two orders placed at once with the same new address could both insert it (a read, then a
write); a unique index lets the store upsert in one statement instead. Duplicates that
already exist are merged first: the newest row stays, with the latest use of any of them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_SAME = (
    "s2.buyer_id = saved_recipients.buyer_id AND s2.name = saved_recipients.name"
    " AND s2.mobile = saved_recipients.mobile AND s2.street = saved_recipients.street"
)


def upgrade() -> None:
    op.execute(
        "UPDATE saved_recipients SET last_used_at = "
        f"(SELECT max(s2.last_used_at) FROM saved_recipients s2 WHERE {_SAME})"
    )
    op.execute(
        "DELETE FROM saved_recipients WHERE id NOT IN (SELECT max(id) FROM saved_recipients "
        "GROUP BY buyer_id, name, mobile, street)"
    )
    op.create_index(
        "uq_saved_recipients_buyer_id_name_mobile_street",
        "saved_recipients",
        ["buyer_id", "name", "mobile", "street"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_saved_recipients_buyer_id_name_mobile_street", table_name="saved_recipients")
