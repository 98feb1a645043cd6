"""就高不重复 enforced by the database (group_claims), top-ups and partial clawbacks, settlements on decision rows

- group_claims: per (enterprise, exclusive group, period) what the group has paid and the best
  entitlement seen; CHECK paid <= best, so no writer can pay a group more than its best measure.
- payouts: seq (0 the grant, 1, 2, … top-ups after revisions), unique per (policy, enterprise,
  period, seq); clawed (what was taken back of it), CHECK 0 <= clawed <= amount.
- clawbacks: several per payout (each revision takes back the excess); kind says why.
- policy_versions: exclusive_group and supplement_of, so a measure's group and supplements are found
  without reading every spec.
- decisions: settlement (paid, already_paid, outranked, …), its reason and the amount's steps, beside the rules' outcome;
  a sweep's rows keep the facts they were decided on, their explanation rendered when read.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from service.store.types import Money

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "group_claims",
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("exclusive_group", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("paid", Money(), nullable=False),
        sa.Column("best", Money(), nullable=False),
        sa.Column("best_policy_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("paid >= 0", name=op.f("ck_group_claims_paid")),
        sa.CheckConstraint("paid <= best", name=op.f("ck_group_claims_not_above_best")),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_group_claims_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(
            ["best_policy_id"], ["policies.id"], name=op.f("fk_group_claims_best_policy_id_policies")
        ),
        sa.PrimaryKeyConstraint("enterprise_id", "exclusive_group", "period", name=op.f("pk_group_claims")),
    )
    with op.batch_alter_table("payouts") as batch:
        batch.add_column(sa.Column("seq", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("clawed", Money(), nullable=False, server_default="0"))
        batch.drop_constraint(op.f("uq_payouts_policy_id_enterprise_id_period"), type_="unique")
        batch.create_unique_constraint(
            op.f("uq_payouts_policy_id_enterprise_id_period_seq"), ["policy_id", "enterprise_id", "period", "seq"]
        )
        batch.create_check_constraint(op.f("ck_payouts_clawed"), "clawed >= 0 AND clawed <= amount")
    with op.batch_alter_table("clawbacks") as batch:
        batch.drop_constraint(op.f("uq_clawbacks_payout_id"), type_="unique")
        batch.create_index(op.f("ix_clawbacks_payout_id"), ["payout_id"])
        batch.add_column(sa.Column("kind", sa.String(length=24), nullable=False, server_default="finding"))
        batch.create_check_constraint(op.f("ck_clawbacks_kind"), "kind IN ('revision', 'finding')")
        batch.create_check_constraint(op.f("ck_clawbacks_amount"), "amount > 0")
    with op.batch_alter_table("policy_versions") as batch:
        batch.add_column(sa.Column("exclusive_group", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("supplement_of", sa.String(length=64), nullable=True))
        batch.create_index(op.f("ix_policy_versions_supplement_of"), ["supplement_of"])
    bind = op.get_bind()
    versions = sa.table(
        "policy_versions",
        sa.column("id", sa.Integer),
        sa.column("spec", sa.JSON),
        sa.column("exclusive_group", sa.String),
    )
    for row in bind.execute(sa.select(versions.c.id, versions.c.spec)).all():
        group = (row.spec or {}).get("exclusive_group")
        if group:
            bind.execute(versions.update().where(versions.c.id == row.id).values(exclusive_group=group))
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("settlement", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("steps", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("facts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("facts")
        batch.drop_column("steps")
        batch.drop_column("reason")
        batch.drop_column("settlement")
    with op.batch_alter_table("policy_versions") as batch:
        batch.drop_index(op.f("ix_policy_versions_supplement_of"))
        batch.drop_column("supplement_of")
        batch.drop_column("exclusive_group")
    with op.batch_alter_table("clawbacks") as batch:
        batch.drop_constraint(op.f("ck_clawbacks_amount"), type_="check")
        batch.drop_constraint(op.f("ck_clawbacks_kind"), type_="check")
        batch.drop_column("kind")
        batch.drop_index(op.f("ix_clawbacks_payout_id"))
        batch.create_unique_constraint(op.f("uq_clawbacks_payout_id"), ["payout_id"])
    with op.batch_alter_table("payouts") as batch:
        batch.drop_constraint(op.f("ck_payouts_clawed"), type_="check")
        batch.drop_constraint(op.f("uq_payouts_policy_id_enterprise_id_period_seq"), type_="unique")
        batch.create_unique_constraint(
            op.f("uq_payouts_policy_id_enterprise_id_period"), ["policy_id", "enterprise_id", "period"]
        )
        batch.drop_column("clawed")
        batch.drop_column("seq")
    op.drop_table("group_claims")
