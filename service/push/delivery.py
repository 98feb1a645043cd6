"""Delivery: the messages due go out through the channels, at least once (docs/push.md).

:func:`deliver_due` claims due messages under a lease (on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so
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

from sqlalchemy import or_, select, update

from service.push import outcomes, respect
from service.push._sql import is_postgres
from service.push.channels import Channel, Message
from service.push.errors import PermanentError, RetryableError
from service.settings import PushSettings, settings
from service.store import write_scope
from service.store.models import OutboxMessage, PushPreference

# -- claims, sends and records ------------------------------------------------------------------------------


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


def _claim(engine, at: dt.datetime, kinds: list[str], n: int, config: PushSettings, report):
    """Take up to ``n`` due messages of ``kinds`` under a fresh lease (one short transaction); those of a
    channel the enterprise has turned off since they were queued die here. Returns ``(claimed, found)``:
    ``found`` is False once nothing is due."""
    with write_scope(engine) as session:
        return _take(session, at, kinds, n, config, report, lease=True)


def _take(session, at: dt.datetime, kinds: list[str], n: int, config: PushSettings, report, lease: bool):
    """The due messages of ``kinds`` (up to ``n``), locked; with ``lease``, leased for sending outside the
    transaction. ``(claimed, found)`` as :func:`_claim`."""
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
        return [], False
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
        if lease:
            row.lease_until = at + dt.timedelta(seconds=config.lease)
            row.lease_token = token
        p = row.payload
        message = Message(
            message_id=row.message_id, channel=row.channel, enterprise_id=row.enterprise_id, uscc=p["uscc"],
            enterprise_name=p["name"], period=row.period, items=tuple(p["items"]),
            created_at=respect.utc(row.created_at), attempt=row.attempts + 1,
        )  # fmt: skip
        claimed.append(_Claimed(row.id, row.attempts, token, message))
    return claimed, True


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
    start, began = respect.aware(now), time.monotonic()

    def clock() -> dt.datetime:
        return start + dt.timedelta(seconds=time.monotonic() - began)

    report = DeliveryReport()
    handled = 0
    for kind, channel in list(by_kind.items()):
        if hasattr(channel, "write"):  # the platform's own store: a batch delivered in one transaction
            handled += _deliver_local(engine, channel, clock, config, limit, report)
            del by_kind[kind]
    while by_kind and (limit is None or handled < limit):
        n = batch if limit is None else min(batch, limit - handled)
        claimed, found = _claim(engine, clock(), list(by_kind), n, config, report)
        if not found:
            break
        for c in claimed:
            handled += 1
            _deliver(engine, c, by_kind[c.message.kind], clock, config, rng, report)
    return report


LOCAL_BATCH = 500  # messages delivered to a local channel (the inbox) per transaction


def _deliver_local(engine, channel, clock, config: PushSettings, limit: int | None, report: DeliveryReport) -> int:
    """Deliver the due messages of a channel that writes into zhida's own database (``channel.write(session,
    messages)``): take a batch, write it, mark it sent and record its ``delivered`` events, all in one
    transaction — nothing is sent outside it, so no lease is needed and a kill loses or repeats nothing.
    Returns how many messages were handled."""
    handled = 0
    while limit is None or handled < limit:
        n = LOCAL_BATCH if limit is None else min(LOCAL_BATCH, limit - handled)
        with write_scope(engine) as session:
            at = clock()
            taken, found = _take(session, at, [channel.name], n, config, report, lease=False)
            if not found:
                return handled
            channel.write(session, [c.message for c in taken])
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([c.row_id for c in taken]))
                .values(state="sent", attempts=OutboxMessage.attempts + 1, last_error=None, sent_at=at,
                        lease_until=None, lease_token=None)
            )  # fmt: skip
            m = [c.message for c in taken]
            outcomes.record(
                session,
                [outcomes.delivered_row(x.enterprise_id, x.message_id, x.channel, x.period, c.attempts + 1, at)
                 for x, c in zip(m, taken, strict=True)],
                count=False,
            )  # fmt: skip
        handled += len(taken)
        report.sent += len(taken)
        report.results.extend((c.message.message_id, c.message.channel, "sent", None) for c in taken)
    return handled


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
