"""The outbox: a bundle becomes messages in the caller's transaction (:func:`enqueue`); they go out later, at
least once, through the channels (:mod:`service.push.delivery`). docs/push.md says it in prose.

``enqueue`` applies the respect rules in this order, and says which stopped a bundle:

1. ``empty`` — the bundle has no item;
2. ``no_channel`` — every channel is off (opted out), unregistered (no webhook, no number) or not configured;
3. ``already_queued`` — this period's bundle was queued already (UNIQUE enterprise, period, channel);
4. ``capped`` — the enterprise had ``ZHIDA_PUSH_CAP`` bundles in the last ``ZHIDA_PUSH_CAP_DAYS`` days;
5. ``nothing_new`` — every item was pushed in the last ``ZHIDA_PUSH_REPEAT_DAYS`` days with the same
   fingerprint.

Otherwise it writes one message per channel with the new and changed items (``queued``), records them as
pushed, and records a ``push`` event per item. A message to a channel that waits out quiet hours (webhook,
SMS) is due at their end; the inbox's is due at once. Officers list the messages and send a dead one again
(:func:`messages`, :func:`retry`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import audit
from service.errors import Conflict, NotFound
from service.push import outcomes, preferences, respect
from service.push._sql import bulk_insert, is_postgres
from service.push.bundle import Bundle
from service.push.channels import QUIET
from service.push.errors import BundleError
from service.settings import PushSettings, settings
from service.store.models import Enterprise, OutboxMessage, Policy, PushedItem

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


@dataclass
class _Known:
    """What the respect rules read of a batch of enterprises: one statement per table for the whole batch."""

    ents: dict  # id -> (id, uscc, name)
    enabled: dict  # id -> {kind: on}
    hooks: dict  # id -> [webhook id]
    phones: dict  # id -> number
    queued: dict  # (id, period) -> {channel}
    recent: dict  # id -> bundle periods in the cap's window
    policy_ids: dict  # slug -> policy row id
    last: dict  # (id, policy row id) -> (fingerprint, pushed_at)


def _read(session: Session, bundles: list[Bundle], since: dt.datetime, lock: bool) -> _Known:
    ids = sorted({b.enterprise_id for b in bundles})
    stmt = select(Enterprise.id, Enterprise.uscc, Enterprise.name).where(Enterprise.id.in_(ids)).order_by(Enterprise.id)
    if lock:
        stmt = stmt.with_for_update()  # one enqueue per enterprise at a time: the cap counts what is committed
    ents = {row.id: row for row in session.execute(stmt)}
    periods = {b.period for b in bundles}
    queued: dict = {}
    for eid, period, channel in session.execute(
        select(OutboxMessage.enterprise_id, OutboxMessage.period, OutboxMessage.channel).where(
            OutboxMessage.enterprise_id.in_(ids), OutboxMessage.period.in_(periods)
        )
    ):
        queued.setdefault((eid, period), set()).add(channel)
    recent = dict(
        session.execute(
            select(OutboxMessage.enterprise_id, func.count(func.distinct(OutboxMessage.period)))
            .where(OutboxMessage.enterprise_id.in_(ids), OutboxMessage.created_at >= since)
            .group_by(OutboxMessage.enterprise_id)
        ).all()
    )
    slugs = {item.policy_id for b in bundles for item in b.items}
    policy_ids = dict(session.execute(select(Policy.slug, Policy.id).where(Policy.slug.in_(slugs))).all())
    last = {
        (eid, pid): (fingerprint, at)
        for eid, pid, fingerprint, at in session.execute(
            # by the key's leading column alone: with the policies' list too, PostgreSQL's planner took a sequential
            # scan of the whole table once it held a million rows (a round's batches grew slower and slower)
            select(PushedItem.enterprise_id, PushedItem.policy_id, PushedItem.fingerprint, PushedItem.pushed_at).where(
                PushedItem.enterprise_id.in_(ids)
            )
        )
    }
    return _Known(
        ents, preferences.enabled_of(session, ids), preferences.webhooks_of(session, ids),
        preferences.phones_of(session, ids), queued, recent, policy_ids, last,
    )  # fmt: skip


def _channels(known: _Known, enterprise_id: int, config: PushSettings) -> list[ChannelOutcome]:
    """Every channel of the enterprise, ready (``status`` "ready") or why not."""
    on = known.enabled[enterprise_id]
    out = [ChannelOutcome("inbox", "ready", "")]
    if not on["inbox"]:
        out = [ChannelOutcome("inbox", "opted_out", "企业已关闭站内信")]
    hooks = known.hooks[enterprise_id]
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
    elif enterprise_id not in known.phones:
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
    return enqueue_many(session, [bundle], now, config=config, dry_run=dry_run)[0]


def enqueue_many(
    session: Session,
    bundles: list[Bundle],
    now: dt.datetime,
    *,
    config: PushSettings | None = None,
    dry_run: bool = False,
) -> list[EnqueueResult]:
    """:func:`enqueue` for many bundles in one transaction, with a few statements for all of them (a round
    queues a whole register). Bundles of one enterprise are taken in turn, each seeing what the one before
    it wrote. An unknown enterprise or policy refuses the whole batch (:class:`BundleError`)."""
    config = config or settings().push
    now = respect.aware(now)
    first, later, seen = [], [], set()  # positions in ``bundles``
    for k, bundle in enumerate(bundles):
        (later if bundle.enterprise_id in seen else first).append(k)
        seen.add(bundle.enterprise_id)
    known = _read(session, bundles, respect.cap_window_start(now, config), is_postgres(session) and not dry_run)
    for bundle in bundles:
        ent = known.ents.get(bundle.enterprise_id)
        if ent is None or ent.uscc != bundle.uscc:
            raise BundleError(f"企业 {bundle.uscc}（编号 {bundle.enterprise_id}）不存在")
        unknown = [item.policy_id for item in bundle.items if item.policy_id not in known.policy_ids]
        if unknown:
            raise BundleError(f"政策 {'、'.join(unknown)} 不存在")
    decided = [_decide(bundles[k], known, now, config, dry_run) for k in first]
    if not dry_run:
        decided = _write(session, decided, known, now)
    results = {k: result for k, (result, _) in zip(first, decided, strict=True)}
    if later:
        again = enqueue_many(session, [bundles[k] for k in later], now, config=config, dry_run=dry_run)
        results.update(zip(later, again, strict=True))
    return [results[k] for k in range(len(bundles))]


def _decide(bundle: Bundle, known: _Known, now: dt.datetime, config: PushSettings, dry_run: bool):
    """The respect rules for one bundle, on what was read: ``(result, writes)``; ``writes`` is None for a
    bundle that stops, else ``(ready channels with their due time, payload, kept items)``."""
    ent = known.ents[bundle.enterprise_id]
    if not bundle.items:
        return _stopped(bundle, "empty"), None
    channels = _channels(known, ent.id, config)
    ready = [c.channel for c in channels if c.status == "ready"]
    if not ready:
        return _stopped(bundle, "no_channel", channels), None

    queued = known.queued.get((ent.id, bundle.period), set())
    if queued:
        said = [
            ChannelOutcome(c.channel, "already_queued", "本期已发送过")
            if c.channel in queued
            else ChannelOutcome(c.channel, "skipped", "本期政策包已发出，该渠道从下一期起接收")
            if c.status == "ready"
            else c
            for c in channels
        ]
        return _stopped(bundle, "already_queued", said), None

    recent = known.recent.get(ent.id, 0)
    if recent >= config.cap:
        reason = f"近 {config.cap_days} 天已推送 {recent} 期政策包（上限 {config.cap} 期）"
        return _stopped(bundle, "capped", channels, reason), None

    kept, left_out = [], {}
    for item in bundle.items:
        prev = known.last.get((ent.id, known.policy_ids[item.policy_id]))
        if prev is None or prev[0] != item.fingerprint() or respect.repeat_due(prev[1], now, config):
            kept.append(item)
        else:
            day = respect.local(respect.utc(prev[1]), config).date()
            left_out[item.policy_id] = f"{day.isoformat()} 已推送，内容未变"
    if not kept:
        return _stopped(bundle, "nothing_new", channels, left_out=left_out), None

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
    result = _stopped(bundle, "queued", said, items=slugs_kept, left_out=left_out, dry_run=dry_run)
    return result, (due, payload, kept)


def _write(session: Session, decided: list, known: _Known, now: dt.datetime) -> list:
    """Write the queued bundles' messages (one statement), then, for those a concurrent run had not queued
    first, what was pushed and the ``push`` events (one statement each)."""
    messages = []
    for result, writes in decided:
        if writes is None:
            continue
        due, payload, _ = writes
        for channel, at in due.items():
            messages.append({
                "message_id": str(uuid.uuid4()), "enterprise_id": result.enterprise_id, "period": result.period,
                "channel": channel, "payload": payload, "state": "pending", "attempts": 0, "next_attempt_at": at,
                "created_at": now,
            })  # fmt: skip
    if not messages:
        return decided
    key = ["enterprise_id", "period", "channel"]
    written = set(bulk_insert(session, OutboxMessage.__table__, messages, key, returning="message_id"))
    by_bundle: dict = {}
    for m in messages:
        if m["message_id"] in written:
            by_bundle.setdefault((m["enterprise_id"], m["period"]), []).append(m["message_id"])

    out, pushed, events = [], [], []
    for result, writes in decided:
        if writes is None:
            out.append((result, writes))
            continue
        due, payload, kept = writes
        mine = by_bundle.get((result.enterprise_id, result.period))
        if not mine:  # a concurrent run queued this period first
            said = [ChannelOutcome(c, "already_queued", "本期已发送过") for c in due]
            out.append((_stopped_result(result, "already_queued", said), None))
            continue
        eid, uscc = result.enterprise_id, payload["uscc"]
        for item in kept:
            pushed.append({"enterprise_id": eid, "policy_id": known.policy_ids[item.policy_id],
                           "fingerprint": item.fingerprint(), "period": result.period, "pushed_at": now})  # fmt: skip
        kinds = sorted({c.partition(":")[0] for c in due})
        items = [(known.policy_ids[i["policy_id"]], i) for i in payload["items"]]
        events.extend(outcomes.push_rows(eid, uscc, result.period, items, kinds, now))
        out.append((replace(result, message_ids=tuple(mine)), writes))
    bulk_insert(session, PushedItem.__table__, pushed, ["enterprise_id", "policy_id"],
                update=["fingerprint", "period", "pushed_at"])  # fmt: skip
    outcomes.record(session, events, count=False)
    return out


def _stopped_result(result: EnqueueResult, outcome: str, channels) -> EnqueueResult:
    return replace(result, outcome=outcome, reason=OUTCOMES[outcome], channels=tuple(channels), items=(),
                   left_out={}, message_ids=())  # fmt: skip


# -- for officers: the messages, and a dead one sent again ----------------------------------------------------


def shown(row: OutboxMessage, uscc: str) -> dict:
    def iso(at):
        return respect.utc(at).isoformat() if at else None

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
    row.state, row.attempts, row.next_attempt_at = "pending", 0, respect.aware(now)
    row.lease_until = row.lease_token = None
    session.flush()
    return row
