"""tags, enterprise_tags, policy_tags: the tag taxonomy with parents, and every tag with its source

Nothing used the three tables before (they are recreated empty). A tag row is one taxonomy tag
(graph.tags: kind, code, Chinese label, parent); an enterprise's or a policy's tag is one row per source
— ``rule`` (derived from facts or the spec), ``model`` (a tagger, with its version and score) or
``officer`` (an analyst's correction, which may also say that a tag does not apply: ``present`` false).
An officer's row wins over the model's (docs/tags.md).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SOURCES = "source IN ('rule', 'model', 'officer')"


def _tagged(table: str, owner: str, owner_table: str) -> None:
    op.create_table(
        table,
        sa.Column(owner, sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Numeric(precision=8, scale=4), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(SOURCES, name=op.f(f"ck_{table}_source")),
        sa.CheckConstraint("source <> 'model' OR model_version IS NOT NULL", name=op.f(f"ck_{table}_model_version")),
        sa.ForeignKeyConstraint(
            [owner], [f"{owner_table}.id"], name=op.f(f"fk_{table}_{owner}_{owner_table}"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f(f"fk_{table}_tag_id_tags"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint(owner, "tag_id", "source", name=op.f(f"pk_{table}")),
    )
    op.create_index(op.f(f"ix_{table}_tag_id"), table, ["tag_id"], unique=False)


def upgrade() -> None:
    op.drop_table("enterprise_tags")
    op.drop_table("policy_tags")
    op.drop_table("tags")
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["parent_id"], ["tags.id"], name=op.f("fk_tags_parent_id_tags"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("kind", "code", name=op.f("uq_tags_kind_code")),
    )
    _tagged("enterprise_tags", "enterprise_id", "enterprises")
    _tagged("policy_tags", "policy_id", "policies")


def downgrade() -> None:
    op.drop_table("enterprise_tags")
    op.drop_table("policy_tags")
    op.drop_table("tags")
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("kind", "code", name=op.f("uq_tags_kind_code")),
    )
    op.create_table(
        "enterprise_tags",
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Numeric(precision=8, scale=4), nullable=True),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_enterprise_tags_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_enterprise_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("enterprise_id", "tag_id", "source", name=op.f("pk_enterprise_tags")),
    )
    op.create_table(
        "policy_tags",
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policies.id"], name=op.f("fk_policy_tags_policy_id_policies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_policy_tags_tag_id_tags"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("policy_id", "tag_id", name=op.f("pk_policy_tags")),
    )
