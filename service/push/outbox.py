"""The outbox: a bundle becomes messages in the caller's transaction (:func:`enqueue`), and messages go out
at least once, later, through the channels (:func:`deliver_due`). docs/push.md says it in prose.

``enqueue`` applies the respect rules in this order, and says which stopped a bundle:

1. ``empty`` — the bundle has no item;
2. ``no_channel`` — every channel is off (opted out), unregistered (no webhook, no number) or not configured;
3. ``already_queued`` — this period's bundle was queued already (UNIQUE enterprise, period, channel);
4. ``capped`` — the enterprise had ``ZHIDA_PUSH_CAP`` bundles in the last ``ZHIDA_PUSH_CAP_DAYS`` days;
5. ``nothing_new`` — every item was pushed in the last ``ZHIDA_PUSH_REPEAT_DAYS`` days with the same
   fingerprint.

Otherwise it writes one message per channel with the new and changed items (``queued``), records them as
pushed, and records a ``push`` event per item. A message to a channel that waits out quiet hours (webhook,
SMS) is due at their end; the inbox's is due at once.

``deliver_due`` claims due messages under a lease (on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so
concurrent runs take different messages), sends each outside any transaction, and records the outcome:
``sent`` (and a ``delivered`` event), ``failed`` with the next attempt after a backoff with full jitter, or
``dead`` after ``ZHIDA_PUSH_MAX_ATTEMPTS`` failures or a permanent one. A run killed half-way leaves its
claimed messages to the next run once their lease has passed; a message the receiver acknowledged is marked
sent right after, so only a kill between the two can send it again, and the message id covers that.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from service import audit
from service.errors import Conflict, NotFound
from service.push import outcomes, preferences, respect
from service.push._sql import insert, is_postgres
from service.push.bundle import Bundle
from service.push.channels import QUIET, Channel, Message
from service.push.errors import BundleError, PermanentError, RetryableError
from service.settings import PushSettings, settings
from service.store import write_scope
from service.store.models import Enterprise, OutboxMessage, Policy, PushedItem, PushPreference

OUTCOMES = {
    "queued": "已加入发送队列",
    "empty": "政策包没有条目",
    "no_channel": "没有可用的推送渠道",
    "already_queued": "本期政策包已发送过",
    "capped": "已达推送频次上限",
    "nothing_new": "没有新的或有变化的政策",
}


@dataclass(frozen=True)
class ChannelOutcome:
    channel: str  # inbox, sms, webhook:<id>; or a kind (webhook, sms) that has no endpoint
    status: str  # queued | opted_out | no_contact | not_configured | already_queued | skipped
    reason: str  # in Chinese
    due_at: dt.datetime | None = None  # queued: when it may go (the end of quiet hours, or now)


@dataclass(frozen=True)
class EnqueueResult:
    enterprise_id: int
    period: str
    outcome: str  # a key of OUTCOMES
    reason: str  # in Chinese
    channels: tuple[ChannelOutcome, ...] = ()
    items: tuple[str, ...] = ()  # the policies in the messages (new or changed), in order
    left_out: dict[str, str] = field(default_factory=dict)  # policy -> why it was left out
    message_ids: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def queued(self) -> bool:
        return self.outcome == "queued"

    def as_dict(self) -> dict:
        return {
            "enterprise_id": self.enterprise_id,
            "period": self.period,
            "outcome": self.outcome,
            "reason": self.reason,
            "channels": [
                {"channel": c.channel, "status": c.status, "reason": c.reason,
                 "due_at": c.due_at.isoformat() if c.due_at else None}
                for c in self.channels
            ],
            "items": list(self.items),
            "left_out": dict(self.left_out),
            "message_ids": list(self.message_ids),
            "dry_run": self.dry_run,
        }  # fmt: skip


def _aware(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None:
        raise ValueError("now 须带时区（UTC）")
    return now.astimezone(dt.UTC)


def _channels(session: Session, enterprise_id: int, config: PushSettings) -> list[ChannelOutcome]:
    """Every channel of the enterprise, ready (``status`` "ready") or why not."""
    on = preferences.enabled(session, enterprise_id)
    out = [ChannelOutcome("inbox", "ready", "")]
    if not on["inbox"]:
        out = [ChannelOutcome("inbox", "opted_out", "企业已关闭站内信")]
    hooks = preferences.active_webhooks(session, enterprise_id)
    if not on["webhook"]:
        out.append(ChannelOutcome("webhook", "opted_out", "企业已关闭 Webhook 推送"))
    elif not hooks:
        out.append(ChannelOutcome("webhook", "no_contact", "企业未登记 Webhook"))
    else:
        out.extend(ChannelOutcome(f"webhook:{h}", "ready", "") for h in hooks)
    if not on["sms"]:
        out.append(ChannelOutcome("sms", "opted_out", "企业已关闭短信推送"))
    elif not config.sms_url:
        out.append(ChannelOutcome("sms", "not_configured", "平台未配置短信网关"))
    elif not preferences.phone(session, enterprise_id):
        out.append(ChannelOutcome("sms", "no_contact", "企业未登记接收短信的手机号"))
    else:
        out.append(ChannelOutcome("sms", "ready", ""))
    return out


def _stopped(bundle: Bundle, outcome: str, channels=(), reason: str | None = None, **extra) -> EnqueueResult:
    return EnqueueResult(
        bundle.enterprise_id, bundle.period, outcome, reason or OUTCOMES[outcome], tuple(channels), **extra
    )


def enqueue(
    session: Session, bundle: Bundle, now: dt.datetime, *, config: PushSettings | None = None, dry_run: bool = False
) -> EnqueueResult:
    """Decide what of ``bundle`` goes out and where, and (unless ``dry_run``) write it in ``session``'s
    transaction: outbox messages, what was pushed, ``push`` events. Nothing is sent here."""
    config = config or settings().push
    now = _aware(now)
    stmt = select(Enterprise.id, Enterprise.uscc, Enterprise.name).where(Enterprise.id == bundle.enterprise_id)
    if is_postgres(session) and not dry_run:
        stmt = stmt.with_for_update()  # one enqueue per enterprise at a time: the cap counts what is committed
    ent = session.execute(stmt).first()
    if ent is None or ent.uscc != bundle.uscc:
        raise BundleError(f"企业 {bundle.uscc}（编号 {bundle.enterprise_id}）不存在")
    if not bundle.items:
        return _stopped(bundle, "empty")
    channels = _channels(session, ent.id, config)
    ready = [c.channel for c in channels if c.status == "ready"]
    if not ready:
        return _stopped(bundle, "no_channel", channels)

    queued = set(
        session.scalars(
            select(OutboxMessage.channel).where(
                OutboxMessage.enterprise_id == ent.id, OutboxMessage.period == bundle.period
            )
        )
    )
    if queued:
        said = [
            ChannelOutcome(c.channel, "already_queued", "本期已发送过")
            if c.channel in queued
            else ChannelOutcome(c.channel, "skipped", "本期政策包已发出，该渠道从下一期起接收")
            if c.status == "ready"
            else c
            for c in channels
        ]
        return _stopped(bundle, "already_queued", said)

    since = respect.cap_window_start(now, config)
    recent = session.scalar(
        select(func.count(func.distinct(OutboxMessage.period))).where(
            OutboxMessage.enterprise_id == ent.id, OutboxMessage.created_at >= since
        )
    )
    if recent >= config.cap:
        reason = f"近 {config.cap_days} 天已推送 {recent} 期政策包（上限 {config.cap} 期）"
        return _stopped(bundle, "capped", channels, reason)

    slugs = [item.policy_id for item in bundle.items]
    ids = dict(session.execute(select(Policy.slug, Policy.id).where(Policy.slug.in_(slugs))).all())
    unknown = [s for s in slugs if s not in ids]
    if unknown:
        raise BundleError(f"政策 {'、'.join(unknown)} 不存在")
    last = {
        row.policy_id: row
        for row in session.execute(
            select(PushedItem.policy_id, PushedItem.fingerprint, PushedItem.pushed_at).where(
                PushedItem.enterprise_id == ent.id, PushedItem.policy_id.in_(ids.values())
            )
        )
    }
    kept, left_out = [], {}
    for item in bundle.items:
        prev = last.get(ids[item.policy_id])
        if prev is None or prev.fingerprint != item.fingerprint() or respect.repeat_due(prev.pushed_at, now, config):
            kept.append(item)
        else:
            day = respect.local(prev.pushed_at.replace(tzinfo=prev.pushed_at.tzinfo or dt.UTC), config).date()
            left_out[item.policy_id] = f"{day.isoformat()} 已推送，内容未变"
    if not kept:
        return _stopped(bundle, "nothing_new", channels, left_out=left_out)

    items = [{**item.as_dict(), "rank": k} for k, item in enumerate(kept, 1)]
    payload = {"uscc": ent.uscc, "name": ent.name, "period": bundle.period, "items": items}
    due = {c: (respect.quiet_until(now, config) if QUIET[c.partition(":")[0]] else now) for c in ready}
    said = [
        ChannelOutcome(c.channel, "queued", "免打扰时段，届时发送" if due[c.channel] > now else "", due[c.channel])
        if c.status == "ready"
        else c
        for c in channels
    ]
    slugs_kept = tuple(item.policy_id for item in kept)
    if dry_run:
        return _stopped(bundle, "queued", said, items=slugs_kept, left_out=left_out, dry_run=True)

    written = []
    for channel in ready:
        message_id = str(uuid.uuid4())
        stmt = insert(session, OutboxMessage.__table__).values(
            message_id=message_id, enterprise_id=ent.id, period=bundle.period, channel=channel, payload=payload,
            state="pending", attempts=0, next_attempt_at=due[channel], created_at=now,
        )  # fmt: skip
        stmt = stmt.on_conflict_do_nothing(index_elements=["enterprise_id", "period", "channel"])
        if session.execute(stmt.returning(OutboxMessage.id)).first() is not None:
            written.append(message_id)
    if not written:  # a concurrent run queued this period first
        return _stopped(bundle, "already_queued", [ChannelOutcome(c, "already_queued", "本期已发送过") for c in ready])

    for item in kept:
        stmt = insert(session, PushedItem.__table__).values(
            enterprise_id=ent.id, policy_id=ids[item.policy_id], fingerprint=item.fingerprint(),
            period=bundle.period, pushed_at=now,
        )  # fmt: skip
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["enterprise_id", "policy_id"],
                set_={"fingerprint": stmt.excluded.fingerprint, "period": bundle.period, "pushed_at": now},
            )
        )
    kinds = sorted({c.partition(":")[0] for c in ready})
    outcomes.record(
        session,
        outcomes.push_rows(ent.id, ent.uscc, bundle.period, [(ids[i["policy_id"]], i) for i in items], kinds, now),
    )
    return _stopped(bundle, "queued", said, items=slugs_kept, left_out=left_out, message_ids=tuple(written))


# -- delivery ------------------------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0  # failed this time, to be retried
    dead: int = 0
    deferred: int = 0  # claimed in quiet hours: due again at their end
    results: list[tuple[str, str, str, str | None]] = field(default_factory=list)  # message id, channel, state, error

    def as_dict(self) -> dict:
        return {"sent": self.sent, "failed": self.failed, "dead": self.dead, "deferred": self.deferred}


@dataclass(frozen=True)
class _Claimed:
    row_id: int
    attempts: int
    token: str
    message: Message


def _kind_filter(kinds: Iterable[str]):
    return or_(*[c for k in kinds for c in (OutboxMessage.channel == k, OutboxMessage.channel.like(f"{k}:%"))])


def _claim(engine, at: dt.datetime, kinds: list[str], n: int, config: PushSettings, report) -> list[_Claimed]:
    """Take up to ``n`` due messages of ``kinds`` under a fresh lease (one short transaction); those of a
    channel the enterprise has turned off since they were queued die here."""
    with write_scope(engine) as session:
        stmt = (
            select(OutboxMessage)
            .where(
                OutboxMessage.state.in_(("pending", "failed")),
                OutboxMessage.next_attempt_at <= at,
                or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until <= at),
                _kind_filter(kinds),
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(n)
        )
        if is_postgres(session):
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(session.scalars(stmt))
        if not rows:
            return []
        off = set(
            session.execute(
                select(PushPreference.enterprise_id, PushPreference.channel).where(
                    PushPreference.enterprise_id.in_({r.enterprise_id for r in rows}), PushPreference.enabled.is_(False)
                )
            ).all()
        )
        token = uuid.uuid4().hex
        claimed = []
        for row in rows:
            if (row.enterprise_id, row.channel.partition(":")[0]) in off:
                row.state, row.last_error = "dead", "企业已关闭该渠道，不再发送"
                row.lease_until = row.lease_token = None
                report.dead += 1
                report.results.append((row.message_id, row.channel, "dead", row.last_error))
                continue
            row.lease_until = at + dt.timedelta(seconds=config.lease)
            row.lease_token = token
            p = row.payload
            message = Message(
                message_id=row.message_id, channel=row.channel, enterprise_id=row.enterprise_id, uscc=p["uscc"],
                enterprise_name=p["name"], period=row.period, items=tuple(p["items"]),
                created_at=_utc(row.created_at), attempt=row.attempts + 1,
            )  # fmt: skip
            claimed.append(_Claimed(row.id, row.attempts, token, message))
        return claimed


def _utc(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def _settle(engine, claimed: _Claimed, at: dt.datetime, state: str, error: str | None, next_at=None) -> bool:
    """Record one attempt's outcome. ``sent`` is recorded whoever holds the lease now (it was delivered);
    a failure only by the lease's holder, so a run that lost its lease does not overwrite another's record."""
    m = claimed.message
    values = {"state": state, "attempts": OutboxMessage.attempts + 1, "last_error": error, "lease_until": None,
              "lease_token": None}  # fmt: skip
    where = [OutboxMessage.id == claimed.row_id, OutboxMessage.state.in_(("pending", "failed"))]
    if state == "sent":
        values["sent_at"] = at
    else:
        where.append(OutboxMessage.lease_token == claimed.token)
        if next_at is not None:
            values["next_attempt_at"] = next_at
    with write_scope(engine) as session:
        done = session.execute(update(OutboxMessage).where(*where).values(**values)).rowcount
        if done and state == "sent":
            outcomes.record(
                session,
                [outcomes.delivered_row(m.enterprise_id, m.message_id, m.channel, m.period, claimed.attempts + 1, at)],
            )
    return bool(done)


def _defer(engine, claimed: _Claimed, until: dt.datetime) -> None:
    with write_scope(engine) as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == claimed.row_id, OutboxMessage.lease_token == claimed.token)
            .values(next_attempt_at=until, lease_until=None, lease_token=None)
        )


def deliver_due(
    engine,
    now: dt.datetime,
    channels: Iterable[Channel],
    *,
    config: PushSettings | None = None,
    limit: int | None = None,
    batch: int = 10,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Send the messages due at ``now`` through ``channels`` (one per kind; messages of other kinds are left
    for another run), at most ``limit``. ``now`` moves on with the time the run takes. Safe to run
    concurrently and to kill: see the module's docstring."""
    config = config or settings().push
    by_kind = {c.name: c for c in channels}
    start, began = _aware(now), time.monotonic()

    def clock() -> dt.datetime:
        return start + dt.timedelta(seconds=time.monotonic() - began)

    report = DeliveryReport()
    handled = 0
    while limit is None or handled < limit:
        n = batch if limit is None else min(batch, limit - handled)
        claimed = _claim(engine, clock(), list(by_kind), n, config, report)
        if not claimed:
            break
        for c in claimed:
            handled += 1
            _deliver(engine, c, by_kind[c.message.kind], clock, config, rng, report)
    return report


def _deliver(engine, claimed: _Claimed, channel: Channel, clock, config, rng, report: DeliveryReport) -> None:
    m = claimed.message
    at = clock()
    if channel.quiet and respect.in_quiet_hours(at, config):
        _defer(engine, claimed, respect.quiet_until(at, config))
        report.deferred += 1
        report.results.append((m.message_id, m.channel, "deferred", None))
        return
    try:
        channel.send(m)
    except PermanentError as e:
        state, error, next_at = "dead", str(e), None
    except Exception as e:  # RetryableError, or a fault of the channel: retried, dead after N
        error = str(e) if isinstance(e, RetryableError) else f"{type(e).__name__}: {e}"
        if claimed.attempts + 1 >= config.max_attempts:
            state, next_at = "dead", None
            error = f"连续失败 {claimed.attempts + 1} 次：{error}"
        else:
            state = "failed"
            next_at = clock() + dt.timedelta(seconds=respect.backoff(claimed.attempts + 1, config, rng))
    else:
        state, error, next_at = "sent", None, None
    _settle(engine, claimed, clock(), state, error[:2000] if error else None, next_at)
    setattr(report, state, getattr(report, state) + 1)
    report.results.append((m.message_id, m.channel, state, error))


# -- for officers: the messages, and a dead one sent again ----------------------------------------------------


def shown(row: OutboxMessage, uscc: str) -> dict:
    def iso(at):
        return _utc(at).isoformat() if at else None

    return {
        "id": row.id,
        "message_id": row.message_id,
        "uscc": uscc,
        "period": row.period,
        "channel": row.channel,
        "state": row.state,
        "attempts": row.attempts,
        "next_attempt_at": iso(row.next_attempt_at) if row.state in ("pending", "failed") else None,
        "last_error": row.last_error,
        "created_at": iso(row.created_at),
        "sent_at": iso(row.sent_at),
        "items": [item["policy_id"] for item in row.payload.get("items", [])],
    }


def messages(session: Session, *, state: str | None = None, enterprise_id: int | None = None, limit: int = 100):
    stmt = select(OutboxMessage, Enterprise.uscc).join(Enterprise, Enterprise.id == OutboxMessage.enterprise_id)
    if state:
        stmt = stmt.where(OutboxMessage.state == state)
    if enterprise_id is not None:
        stmt = stmt.where(OutboxMessage.enterprise_id == enterprise_id)
    return session.execute(stmt.order_by(OutboxMessage.id.desc()).limit(limit)).all()


def retry(session: Session, row_id: int, actor: str, now: dt.datetime) -> OutboxMessage:
    """Send a dead (or failing) message again from its first attempt, now; audited."""
    row = session.get(OutboxMessage, row_id)
    if row is None:
        raise NotFound(f"推送消息 {row_id} 不存在")
    if row.state not in ("dead", "failed"):
        raise Conflict(f"推送消息 {row_id} 的状态为 {row.state}，只有发送失败或已放弃的消息可以重发")
    audit.append(session, actor, "push.retry", row.message_id, {"message": row.id, "was": row.state,
                 "attempts": row.attempts, "last_error": row.last_error})  # fmt: skip
    row.state, row.attempts, row.next_attempt_at = "pending", 0, _aware(now)
    row.lease_until = row.lease_token = None
    session.flush()
    return row
