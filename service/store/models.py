"""The domain tables (SQLAlchemy 2 declarative). Migrations in service/store/migrations.

Money columns (``service.store.types.Money``) are exact on every backend and come back as ``Decimal``. Facts about
an enterprise are rows of ``field_values`` (one per field, source and as-of
date), so verified and declared values live side by side and history is kept.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    Unicode,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

from matcher import catalog
from service.store.types import Money as MoneyType

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
Money = MoneyType()
UTCDateTime = DateTime(timezone=True)


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Enterprise(Base):
    __tablename__ = "enterprises"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(6), index=True)
    industry: Mapped[str] = mapped_column(String(8), index=True)
    established_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class FieldValue(Base):
    """One fact: a catalog field's value for an enterprise, from a source, as of a date."""

    __tablename__ = "field_values"
    __table_args__ = (
        UniqueConstraint("enterprise_id", "field", "source", "as_of"),
        Index(None, "enterprise_id", "field"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(32))
    as_of: Mapped[dt.date] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    @validates("source")
    def _known_source(self, key, source):
        """Sources are the effective catalog's (a deployment adds its own feeds), so the database cannot
        list them: every writer is held to the catalog here, and bulk writers check it before writing."""
        if source not in catalog.SOURCES:
            raise ValueError(f"数据来源 {source!r} 不在字段目录中（可用：{'、'.join(catalog.SOURCES)}）")
        return source


class RosterPublication(Base):
    """A published roster (名单) on record: from its ``as_of`` a firm it does not list is known not to be on it.

    One row per (roster, as_of); the roster's members are facts in ``field_values`` (service.io.rosters)."""

    __tablename__ = "roster_publications"
    __table_args__ = (UniqueConstraint("roster", "as_of"), CheckConstraint("members >= 0", name="members"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    roster: Mapped[str] = mapped_column(String(64))  # the catalog's roster id (matcher.catalog.ROSTERS)
    as_of: Mapped[dt.date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(32))  # whose list it is (a verified source of the catalog)
    members: Mapped[int] = mapped_column(Integer)  # firms of the register it lists
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the file imported
    file: Mapped[str] = mapped_column(String(255))
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(64))


class Policy(Base):
    __tablename__ = "policies"
    __table_args__ = (CheckConstraint(_in("status", ("draft", "published", "retired")), name="status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    current_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PolicyVersion(Base):
    """An immutable published spec; a changed spec is a new version, never an edit."""

    __tablename__ = "policy_versions"
    __table_args__ = (
        UniqueConstraint("policy_id", "version"),
        CheckConstraint(_in("mode", ("automatic", "instant", "review")), name="mode"),
        CheckConstraint("valid_to >= valid_from", name="validity"),
        CheckConstraint("budget >= 0", name="budget"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict] = mapped_column(JSON)
    spec_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(16))
    region: Mapped[str] = mapped_column(String(6))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date] = mapped_column(Date)
    budget: Mapped[Decimal] = mapped_column(Money)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    exclusive_group: Mapped[str | None] = mapped_column(String(64))  # 就高不重复
    supplement_of: Mapped[str | None] = mapped_column(String(64), index=True)  # 配套: the parent measure's id


TAG_SOURCES = ("rule", "model", "officer")


class Tag(Base):
    """One tag of the taxonomy (graph.tags), written by ``service.store.tags.sync``."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("kind", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tags.id", ondelete="SET NULL"))


def _tag_source_checks() -> tuple:
    return (
        CheckConstraint(_in("source", TAG_SOURCES), name="source"),
        CheckConstraint("source <> 'model' OR model_version IS NOT NULL", name="model_version"),
    )


class _TagAssignment:
    """Who says the tag applies: a rule, a model (its version and score) or an officer, who may also say
    it does not (``present`` false). An officer's row wins over the model's."""

    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    present: Mapped[bool] = mapped_column(Boolean, default=True)
    score: Mapped[Decimal | None] = mapped_column(Numeric(8, 4))
    model_version: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)


class EnterpriseTag(_TagAssignment, Base):
    __tablename__ = "enterprise_tags"
    __table_args__ = _tag_source_checks()
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"), primary_key=True)


class PolicyTag(_TagAssignment, Base):
    __tablename__ = "policy_tags"
    __table_args__ = _tag_source_checks()
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id", ondelete="CASCADE"), primary_key=True)


class Application(Base):
    __tablename__ = "applications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_versions.id"))
    declared: Mapped[dict] = mapped_column(JSON, default=dict)
    commitment_accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Decision(Base):
    __tablename__ = "decisions"
    __table_args__ = (
        CheckConstraint(_in("outcome", ("eligible", "not_eligible", "undetermined", "refused")), name="outcome"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_versions.id"))
    outcome: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal | None] = mapped_column(Money)
    trace: Mapped[list] = mapped_column(JSON, default=list)
    missing: Mapped[list] = mapped_column(JSON, default=list)
    as_of: Mapped[dt.date] = mapped_column(Date)
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    settlement: Mapped[str | None] = mapped_column(String(20))  # paid, already_paid, outranked, … (matcher.settlement)
    reason: Mapped[str | None] = mapped_column(Text)
    steps: Mapped[list | None] = mapped_column(JSON)  # how the amount was reached (matcher.decision.Step)
    facts: Mapped[dict | None] = mapped_column(JSON)  # a sweep's row: the facts decided on (explained when read)


class Budget(Base):
    """A policy's money: what is left is ``total - reserved - paid``, never below zero."""

    __tablename__ = "budgets"
    __table_args__ = (
        CheckConstraint("total >= 0 AND reserved >= 0 AND paid >= 0", name="non_negative"),
        CheckConstraint("total - reserved - paid >= 0", name="not_overspent"),
    )
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id", ondelete="CASCADE"), primary_key=True)
    total: Mapped[Decimal] = mapped_column(Money)
    reserved: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    paid: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))


# held: waiting for an officer to approve its sweep batch; cancelled: the batch was rejected
PAYOUT_STATUSES = ("held", "decided", "sent", "confirmed", "failed", "cancelled")
BATCH_STATUSES = ("awaiting_approval", "approved", "rejected")


class PayoutBatch(Base):
    """A sweep's payouts for one policy whose total exceeded the approval threshold: no money moves until approved."""

    __tablename__ = "payout_batches"
    __table_args__ = (
        CheckConstraint(_in("status", BATCH_STATUSES), name="status"),
        CheckConstraint("threshold >= 0", name="threshold"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), index=True)
    threshold: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(24), default="awaiting_approval")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str | None] = mapped_column(Text)


class Payout(Base):
    """One grant per (policy, enterprise, period), then top-ups after revisions (``seq`` 1, 2, …):
    the database says so, not only the code. ``clawed``: how much of it was taken back."""

    __tablename__ = "payouts"
    __table_args__ = (
        UniqueConstraint("policy_id", "enterprise_id", "period", "seq"),
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint(_in("status", PAYOUT_STATUSES), name="status"),
        CheckConstraint("clawed >= 0 AND clawed <= amount", name="clawed"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    period: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(16), default="decided")
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("payout_batches.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    clawed: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default="0")


class GroupClaim(Base):
    """就高不重复 in the database: per (enterprise, exclusive group, period) the group's payouts in all
    and the best entitlement seen; no writer can make ``paid`` exceed ``best``."""

    __tablename__ = "group_claims"
    __table_args__ = (
        CheckConstraint("paid >= 0", name="paid"),
        CheckConstraint("paid <= best", name="not_above_best"),
    )
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), primary_key=True)
    exclusive_group: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    paid: Mapped[Decimal] = mapped_column(Money)
    best: Mapped[Decimal] = mapped_column(Money)
    best_policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# push: a policy put in front of a firm in a 政策包 (one per firm, bundle period and policy); delivered: a channel
# acknowledged a message; open: the firm opened a message in its inbox; view: it opened one policy (docs/push.md)
EVENT_KINDS = ("push", "view", "apply", "approved", "rejected", "paid", "rating", "delivered", "open")


class Event(Base):
    """An interaction (push, view, apply, ...); ``event_id`` makes imports idempotent."""

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint(_in("kind", EVENT_KINDS), name="kind"),
        Index(None, "enterprise_id", "occurred_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("policies.id"))
    kind: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)


class AuditRecord(Base):
    """The hash-chained audit log; ``seq`` is assigned by the writer, gapless."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


ROLES = ("admin", "officer", "analyst", "system", "enterprise")


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role"),
        CheckConstraint("(role = 'enterprise') = (enterprise_id IS NOT NULL)", name="enterprise_scope"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ModelVersion(Base):
    """A trained model on record (its file under ``ZHIDA_MODELS_DIR``): what it was trained on, its figures,
    and its promotion. One ``production`` model per kind, by the database's own index."""

    __tablename__ = "model_registry"
    __table_args__ = (
        UniqueConstraint("kind", "version"),
        CheckConstraint(_in("status", ("candidate", "production", "retired")), name="status"),
        Index(
            "ix_model_registry_one_production",
            "kind",
            unique=True,
            postgresql_where=text("status = 'production'"),
            sqlite_where=text("status = 'production'"),
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(64))
    artifact_path: Mapped[str] = mapped_column(String(500))
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="candidate")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    schema_hash: Mapped[str | None] = mapped_column(String(64))  # the feature schema it was trained on
    params: Mapped[dict | None] = mapped_column(JSON)
    trained_from: Mapped[dt.date | None] = mapped_column(Date)
    trained_until: Mapped[dt.date | None] = mapped_column(Date)
    promoted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    promoted_by: Mapped[str | None] = mapped_column(String(64))


TRAINING_STATUSES = ("queued", "running", "done", "failed")
TRAINING_ACTIVE = ("queued", "running")


class TrainingJob(Base):
    """A training run asked for over HTTP (``service.jobs.training``): its parameters, who asked, its progress
    and outcome — the registered model and its figures, or the reason it failed. One queued or running job per
    kind, by the database's own index; ``heartbeat_at`` is refreshed while it runs, so a job whose process died
    is known by its silence."""

    __tablename__ = "training_jobs"
    __table_args__ = (
        CheckConstraint(_in("status", TRAINING_STATUSES), name="status"),
        Index(
            "ix_training_jobs_one_active",
            "kind",
            unique=True,
            postgresql_where=text(_in("status", TRAINING_ACTIVE)),
            sqlite_where=text(_in("status", TRAINING_ACTIVE)),
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    requested_by: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict] = mapped_column(JSON)  # until, period_days, seed
    graph_path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    owner: Mapped[str | None] = mapped_column(String(128))  # host:pid of the process running it
    progress: Mapped[str | None] = mapped_column(Text)  # the last step it reported
    model_id: Mapped[int | None] = mapped_column(ForeignKey("model_registry.id"))
    result: Mapped[dict | None] = mapped_column(JSON)  # the training report: window, rows, figures, gap closed
    error: Mapped[str | None] = mapped_column(Text)  # why it failed, in Chinese
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))  # the durable job that runs it (0014)


JOB_STATES = ("queued", "running", "done", "failed")


class Job(Base):
    """A durable background job (``service.jobs``): a kind of the registry and its parameters (ids and plain
    values only), its state, progress and outcome, and who runs it. Claimed by one worker at a time; a worker
    that stops beating (``heartbeat_at``) is presumed dead and the job is queued again, up to ``max_attempts``
    runs in all. At most one *queued* job per ``dedupe_key`` (a second identical request joins the first)."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in("state", JOB_STATES), name="state"),
        CheckConstraint("fraction IS NULL OR (fraction >= 0 AND fraction <= 1)", name="fraction"),
        CheckConstraint("attempts >= 0 AND max_attempts >= 1", name="attempts"),
        Index(None, "state", "run_after"),
        Index(None, "kind", "id"),
        Index(
            "ix_jobs_one_queued",
            "dedupe_key",
            unique=True,
            postgresql_where=text("state = 'queued'"),
            sqlite_where=text("state = 'queued'"),
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[str | None] = mapped_column(Text)  # the last step it reported, in Chinese
    fraction: Mapped[float | None] = mapped_column(Float)  # how much is done, 0–1, when the kind can tell
    result: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)  # why it failed, in Chinese
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # runs started (claims)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    owner: Mapped[str | None] = mapped_column(String(128))  # host:pid of the worker running it
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    requested_by: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    run_after: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)  # not claimed before this
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # of the latest attempt
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class JobMark(Base):
    """A named point in time the scheduler keeps between runs (the publication check's "checked up to")."""

    __tablename__ = "job_marks"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# APScheduler's SQLAlchemyJobStore table, created by migration 0014 (not by the scheduler, which runs as the
# application role and may not create tables); its definition is APScheduler 3's own.
SCHEDULER_JOBS = Table(
    "scheduler_jobs",
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)


class IdempotencyKey(Base):
    """A write request's key and its first response, replayed byte for byte (see service/http/idempotency.py)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("principal", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    principal: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # running | done
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    response_type: Mapped[str | None] = mapped_column(String(100))
    response_location: Mapped[str | None] = mapped_column(String(500))  # the answer's Location header, replayed
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Clawback(Base):
    """追回: money to recover — the excess after a revision lowered an entitlement (``revision``), or an
    officer's finding that declared facts were false (``finding``). Its amount returns to the budget."""

    __tablename__ = "clawbacks"
    __table_args__ = (
        CheckConstraint(_in("kind", ("revision", "finding")), name="kind"),
        CheckConstraint("amount > 0", name="amount"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payout_id: Mapped[int] = mapped_column(ForeignKey("payouts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24), default="finding", server_default="finding")
    amount: Mapped[Decimal] = mapped_column(Money)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | recovered
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# -- 政策包 delivery (service/push, docs/push.md) ---------------------------------------------------------------

OUTBOX_STATES = ("pending", "sent", "failed", "dead")
PUSH_CHANNELS = ("inbox", "webhook", "sms")


class OutboxMessage(Base):
    """One message of a bundle to one channel, delivered at least once by ``service.push.deliver_due``.

    A bundle period reaches a channel once: UNIQUE (enterprise, period, channel), where ``channel`` is
    ``inbox``, ``sms`` or ``webhook:<endpoint id>``. ``message_id`` is given to the receiver, who drops a
    duplicate by it. A run claims a message by a lease (``lease_until``, ``lease_token``) so that two runs
    never send it at once and a run killed half-way leaves it to the next once the lease has passed."""

    __tablename__ = "push_outbox"
    __table_args__ = (
        UniqueConstraint("enterprise_id", "period", "channel"),
        CheckConstraint(_in("state", OUTBOX_STATES), name="state"),
        CheckConstraint("attempts >= 0", name="attempts"),
        Index(None, "state", "next_attempt_at"),
        Index(None, "enterprise_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict] = mapped_column(JSON)  # the bundle's items for this message (service.push.bundle)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(32))


class PushedItem(Base):
    """What was last pushed to an enterprise of each policy: the item's fingerprint and when. An item
    pushed recently with the same fingerprint is left out of the next bundle."""

    __tablename__ = "push_items"
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"), primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id", ondelete="CASCADE"), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(32))
    pushed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PushPreference(Base):
    """An enterprise's choice for one channel kind; no row: the channel is on."""

    __tablename__ = "push_preferences"
    __table_args__ = (CheckConstraint(_in("channel", PUSH_CHANNELS), name="channel"),)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(64))


class PushContact(Base):
    """Where an enterprise is reached outside the platform: the mobile number its SMS go to (the register
    has no contact field, docs/fields.md); registered by the enterprise itself."""

    __tablename__ = "push_contacts"
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"), primary_key=True)
    sms_phone: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(64))


class Webhook(Base):
    """An endpoint that receives an enterprise's bundles, signed with its secret (HMAC-SHA256)."""

    __tablename__ = "push_webhooks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class InboxEntry(Base):
    """A bundle in the enterprise's in-app inbox (站内信), written once per outbox message."""

    __tablename__ = "inbox_entries"
    __table_args__ = (Index(None, "enterprise_id", "created_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    items: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
