"""payout batches awaiting an officer's approval; payout statuses held and cancelled

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from service.store.types import Money

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OLD = "status IN ('decided', 'sent', 'confirmed', 'failed')"
NEW = "status IN ('held', 'decided', 'sent', 'confirmed', 'failed', 'cancelled')"


def upgrade() -> None:
    op.create_table(
        "payout_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("threshold", Money(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('awaiting_approval', 'approved', 'rejected')", name=op.f("ck_payout_batches_status")
        ),
        sa.CheckConstraint("threshold >= 0", name=op.f("ck_payout_batches_threshold")),
        sa.ForeignKeyConstraint(["policy_id"], ["policies.id"], name=op.f("fk_payout_batches_policy_id_policies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_batches")),
    )
    op.create_index(op.f("ix_payout_batches_policy_id"), "payout_batches", ["policy_id"])
    with op.batch_alter_table("payouts") as batch:
        batch.add_column(sa.Column("batch_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_payouts_batch_id_payout_batches"), "payout_batches", ["batch_id"], ["id"])
        batch.create_index(op.f("ix_payouts_batch_id"), ["batch_id"])
        batch.drop_constraint(op.f("ck_payouts_status"), type_="check")
        batch.create_check_constraint(op.f("ck_payouts_status"), NEW)


def downgrade() -> None:
    with op.batch_alter_table("payouts") as batch:
        batch.drop_constraint(op.f("ck_payouts_status"), type_="check")
        batch.create_check_constraint(op.f("ck_payouts_status"), OLD)
        batch.drop_index(op.f("ix_payouts_batch_id"))
        batch.drop_constraint(op.f("fk_payouts_batch_id_payout_batches"), type_="foreignkey")
        batch.drop_column("batch_id")
    op.drop_index(op.f("ix_payout_batches_policy_id"), table_name="payout_batches")
    op.drop_table("payout_batches")
