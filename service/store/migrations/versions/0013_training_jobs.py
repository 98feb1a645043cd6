"""training_jobs: training runs asked for over HTTP, one queued or running per kind; replayed Location headers

A job records its parameters, who asked, its progress, heartbeat and outcome (the registered model and its
figures, or why it failed); the database allows one ``queued`` or ``running`` job per kind. A stored
Idempotency-Key answer keeps its ``Location`` header, so a replayed 202 points at the same job.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ONE_ACTIVE = sa.text("status IN ('queued', 'running')")


def upgrade() -> None:
    op.create_table(
        "training_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("graph_path", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("progress", sa.Text(), nullable=True),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_training_jobs_status")),
        sa.ForeignKeyConstraint(
            ["model_id"], ["model_registry.id"], name=op.f("fk_training_jobs_model_id_model_registry")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_jobs")),
    )
    op.create_index(
        "ix_training_jobs_one_active",
        "training_jobs",
        ["kind"],
        unique=True,
        postgresql_where=ONE_ACTIVE,
        sqlite_where=ONE_ACTIVE,
    )
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("response_location", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("response_location")
    op.drop_index("ix_training_jobs_one_active", table_name="training_jobs")
    op.drop_table("training_jobs")
