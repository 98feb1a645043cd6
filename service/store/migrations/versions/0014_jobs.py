"""jobs: durable background jobs; job_marks; the scheduler's job store; training jobs run as durable jobs

``jobs`` holds every background job (a sweep, a graph rebuild, a training run …): its kind and parameters,
state, progress, outcome, attempts and the worker that runs it (``owner``, ``heartbeat_at``); at most one
queued job per ``dedupe_key``. ``job_marks`` keeps the scheduler's named points in time (the publication
check's "checked up to"). ``scheduler_jobs`` is APScheduler 3's SQLAlchemyJobStore table, created here so that
the scheduler, running as the application role, need not create tables. A training job now names the durable
job that runs it (``training_jobs.job_id``).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ONE_QUEUED = sa.text("state = 'queued'")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Text(), nullable=True),
        sa.Column("fraction", sa.Float(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_jobs_state")),
        sa.CheckConstraint("fraction IS NULL OR (fraction >= 0 AND fraction <= 1)", name=op.f("ck_jobs_fraction")),
        sa.CheckConstraint("attempts >= 0 AND max_attempts >= 1", name=op.f("ck_jobs_attempts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_state_run_after", "jobs", ["state", "run_after"])
    op.create_index("ix_jobs_kind_id", "jobs", ["kind", "id"])
    op.create_index(
        "ix_jobs_one_queued", "jobs", ["dedupe_key"], unique=True, postgresql_where=ONE_QUEUED, sqlite_where=ONE_QUEUED
    )
    op.create_table(
        "job_marks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_marks")),
    )
    op.create_table(
        "scheduler_jobs",
        sa.Column("id", sa.Unicode(length=191), nullable=False),
        sa.Column("next_run_time", sa.Float(precision=25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduler_jobs")),
    )
    op.create_index("ix_scheduler_jobs_next_run_time", "scheduler_jobs", ["next_run_time"])
    with op.batch_alter_table("training_jobs") as batch:
        batch.add_column(sa.Column("job_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_training_jobs_job_id_jobs"), "jobs", ["job_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("training_jobs") as batch:
        batch.drop_constraint(op.f("fk_training_jobs_job_id_jobs"), type_="foreignkey")
        batch.drop_column("job_id")
    op.drop_index("ix_scheduler_jobs_next_run_time", table_name="scheduler_jobs")
    op.drop_table("scheduler_jobs")
    op.drop_table("job_marks")
    op.drop_index("ix_jobs_one_queued", table_name="jobs")
    op.drop_index("ix_jobs_kind_id", table_name="jobs")
    op.drop_index("ix_jobs_state_run_after", table_name="jobs")
    op.drop_table("jobs")
