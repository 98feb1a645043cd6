"""push_outbox, push_items, push_preferences, push_contacts, push_webhooks, inbox_entries; event kinds
``delivered`` and ``open``; push_deliveries dropped

The 政策包 goes out through an outbox (service/push, docs/push.md): one message per bundle period and channel
(UNIQUE enterprise, period, channel), delivered at least once with a stable message id, retried with backoff,
dead after too many failures. ``push_items`` keeps what was last pushed of each policy to each enterprise (its
fingerprint and when), so an unchanged item is not pushed again soon. An enterprise opts out per channel
(``push_preferences``), registers the mobile number its SMS go to (``push_contacts``) and its webhooks
(``push_webhooks``); the inbox channel writes ``inbox_entries``. Two event kinds: ``delivered`` (a channel
acknowledged a message) and ``open`` (the firm opened it in its inbox). ``push_deliveries``, which nothing
wrote or read, is replaced by the outbox.

Revision ID: 0015
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

OLD_KINDS = "kind IN ('push', 'view', 'apply', 'approved', 'rejected', 'paid', 'rating')"
NEW_KINDS = "kind IN ('push', 'view', 'apply', 'approved', 'rejected', 'paid', 'rating', 'delivered', 'open')"
UTC = sa.DateTime(timezone=True)


def _enterprise(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["enterprise_id"], ["enterprises.id"], name=op.f(f"fk_{table}_enterprise_id_enterprises"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "push_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("sent_at", UTC, nullable=True),
        sa.Column("lease_until", UTC, nullable=True),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'sent', 'failed', 'dead')", name=op.f("ck_push_outbox_state")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_push_outbox_attempts")),
        _enterprise("push_outbox"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_outbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_push_outbox_message_id")),
        sa.UniqueConstraint(
            "enterprise_id", "period", "channel", name=op.f("uq_push_outbox_enterprise_id_period_channel")
        ),
    )
    op.create_index(op.f("ix_push_outbox_state_next_attempt_at"), "push_outbox", ["state", "next_attempt_at"])
    op.create_index(op.f("ix_push_outbox_enterprise_id_created_at"), "push_outbox", ["enterprise_id", "created_at"])
    op.create_table(
        "push_items",
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("pushed_at", UTC, nullable=False),
        _enterprise("push_items"),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policies.id"], name=op.f("fk_push_items_policy_id_policies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("enterprise_id", "policy_id", name=op.f("pk_push_items")),
    )
    op.create_table(
        "push_preferences",
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("channel IN ('inbox', 'webhook', 'sms')", name=op.f("ck_push_preferences_channel")),
        _enterprise("push_preferences"),
        sa.PrimaryKeyConstraint("enterprise_id", "channel", name=op.f("pk_push_preferences")),
    )
    op.create_table(
        "push_contacts",
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("sms_phone", sa.String(length=20), nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        _enterprise("push_contacts"),
        sa.PrimaryKeyConstraint("enterprise_id", name=op.f("pk_push_contacts")),
    )
    op.create_table(
        "push_webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("disabled_at", UTC, nullable=True),
        _enterprise("push_webhooks"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_webhooks")),
    )
    op.create_index(op.f("ix_push_webhooks_enterprise_id"), "push_webhooks", ["enterprise_id"])
    op.create_table(
        "inbox_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("read_at", UTC, nullable=True),
        _enterprise("inbox_entries"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_entries")),
        sa.UniqueConstraint("message_id", name=op.f("uq_inbox_entries_message_id")),
    )
    op.create_index(op.f("ix_inbox_entries_enterprise_id_created_at"), "inbox_entries", ["enterprise_id", "created_at"])
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint(op.f("ck_events_kind"), type_="check")
        batch.create_check_constraint("kind", NEW_KINDS)
    with op.batch_alter_table("push_deliveries") as batch:
        batch.drop_index("ix_push_deliveries_enterprise_id")
    op.drop_table("push_deliveries")


def downgrade() -> None:
    op.create_table(
        "push_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("bundle", sa.JSON(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("sent_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_push_deliveries_enterprise_id_enterprises")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_deliveries")),
    )
    op.create_index(op.f("ix_push_deliveries_enterprise_id"), "push_deliveries", ["enterprise_id"])
    op.execute("DELETE FROM events WHERE kind IN ('delivered', 'open')")
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint(op.f("ck_events_kind"), type_="check")
        batch.create_check_constraint("kind", OLD_KINDS)
    for table in ("inbox_entries", "push_webhooks", "push_contacts", "push_preferences", "push_items", "push_outbox"):
        op.drop_table(table)
