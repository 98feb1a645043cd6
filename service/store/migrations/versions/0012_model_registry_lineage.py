"""model_registry: what each model was trained on and who promoted it; one production model per kind

A registered model records its feature schema hash (a model is never served with features of another
shape), its parameters and training window, and its promotion; the database allows one ``production``
model per kind, so a promotion and a rollback cannot leave two.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ONE_IN_PRODUCTION = sa.text("status = 'production'")


def upgrade() -> None:
    with op.batch_alter_table("model_registry") as batch:
        batch.add_column(sa.Column("schema_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("trained_from", sa.Date(), nullable=True))
        batch.add_column(sa.Column("trained_until", sa.Date(), nullable=True))
        batch.add_column(sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("promoted_by", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_model_registry_one_production",
        "model_registry",
        ["kind"],
        unique=True,
        postgresql_where=ONE_IN_PRODUCTION,
        sqlite_where=ONE_IN_PRODUCTION,
    )


def downgrade() -> None:
    op.drop_index("ix_model_registry_one_production", table_name="model_registry")
    with op.batch_alter_table("model_registry") as batch:
        for column in ("promoted_by", "promoted_at", "trained_until", "trained_from", "params", "schema_hash"):
            batch.drop_column(column)
