"""roster_publications: the published rosters (名单) on record, one row per (roster, as_of)

From a roster's as_of, a firm it does not list is known not to be on it (docs/rosters.md).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roster_publications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("roster", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("file", sa.String(length=255), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("members >= 0", name=op.f("ck_roster_publications_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roster_publications")),
        sa.UniqueConstraint("roster", "as_of", name=op.f("uq_roster_publications_roster_as_of")),
    )


def downgrade() -> None:
    op.drop_table("roster_publications")
