"""Sources of facts come from the field catalog, which a deployment extends as data

- field_values: the CHECK listing the shipped sources goes; a deployment's catalog file may add its
  own feeds (公积金中心 …), and every writer checks a value's source against the effective catalog.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SHIPPED = ("market_regulation", "tax", "social_security", "science_tech", "credit", "declared", "derived")


def upgrade() -> None:
    with op.batch_alter_table("field_values") as batch:
        batch.drop_constraint(op.f("ck_field_values_source"), type_="check")


def downgrade() -> None:
    listed = ", ".join(f"'{s}'" for s in SHIPPED)
    with op.batch_alter_table("field_values") as batch:
        batch.create_check_constraint("source", f"source IN ({listed})")
