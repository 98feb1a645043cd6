"""clawbacks (追回)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from service.store.types import Money

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clawbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payout_id", sa.Integer(), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["payout_id"], ["payouts.id"], name=op.f("fk_clawbacks_payout_id_payouts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clawbacks")),
        sa.UniqueConstraint("payout_id", name=op.f("uq_clawbacks_payout_id")),
    )


def downgrade() -> None:
    op.drop_table("clawbacks")
