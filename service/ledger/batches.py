"""Large 免申即享 sweeps wait for an officer: batches held for approval, approved or rejected.

A sweep whose new payouts for one policy exceed the approval threshold creates them
``held`` in a :class:`~service.store.models.PayoutBatch` — budget reserved, no money
moving — until an officer approves (the payouts go to the bank on the next send; an
enterprise listed since the sweep is not paid) or rejects it (cancelled, budget returned).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from matcher.facts import close, pick
from matcher.settlement import REFUSALS, refusal
from service import audit
from service.errors import BadRequest, Conflict, NotFound
from service.store import rosters_on_record, session_scope, write_scope
from service.store.models import Budget, FieldValue, GroupClaim, Payout, PayoutBatch, Policy, PolicyVersion
from service.store.models import Decision as DecisionRow


def open_batch(session: Session, policy_id: int, threshold: Decimal, actor: str) -> PayoutBatch:
    """The policy's batch awaiting approval, opened if there is none. Call inside a write transaction.

    A sweep killed half-way and run again adds to the same open batch, so the
    payouts of one sweep are approved together whatever the crash did.
    """
    batch = session.scalar(
        select(PayoutBatch)
        .where(PayoutBatch.policy_id == policy_id, PayoutBatch.status == "awaiting_approval")
        .order_by(PayoutBatch.id)
        .limit(1)
        .with_for_update()
    )
    if batch is None:
        batch = PayoutBatch(policy_id=policy_id, threshold=threshold, status="awaiting_approval", created_by=actor)
        session.add(batch)
        session.flush()
        audit.append(session, actor, "batch.opened", f"batch:{batch.id}", {"policy": policy_id, "threshold": threshold})
    return batch


def batch_totals(session: Session, batch_ids) -> dict[int, dict]:
    """Per batch: how many payouts and how much money, by status."""
    from sqlalchemy import func

    out: dict[int, dict] = {}
    rows = session.execute(
        select(Payout.batch_id, Payout.status, func.count(), func.sum(Payout.amount))
        .where(Payout.batch_id.in_(list(batch_ids)))
        .group_by(Payout.batch_id, Payout.status)
    )
    for batch_id, status, count, amount in rows:
        entry = out.setdefault(batch_id, {"count": 0, "amount": Decimal("0.00"), "by_status": {}})
        amount = Decimal(amount or 0).quantize(Decimal("0.01"))
        entry["count"] += count
        entry["amount"] += amount
        entry["by_status"][status] = count
    return out


def decide_batch(session: Session, batch_id: int, approve: bool, comment: str | None, actor: str) -> PayoutBatch:
    """An officer's decision on a held batch: approved payouts go to the bank; rejected ones are
    cancelled and their reservation returns to the budget. Call inside a write transaction.

    Rejection is final for the batch's payouts: the ledger keeps them (cancelled) and
    the same (policy, enterprise, period) is not paid again.
    """
    if not approve and (not isinstance(comment, str) or not comment.strip()):
        raise BadRequest("驳回须写明理由 comment", field="comment")
    batch = session.scalar(select(PayoutBatch).where(PayoutBatch.id == batch_id).with_for_update())
    if batch is None:
        raise NotFound(f"兑现批次 {batch_id} 不存在")
    if batch.status != "awaiting_approval":
        raise Conflict(f"兑现批次 {batch_id} 已{'批准' if batch.status == 'approved' else '驳回'}，不能再次审批")
    held = (
        select(
            Payout.id,
            Payout.amount,
            Payout.enterprise_id,
            Payout.policy_id,
            Payout.period,
            PolicyVersion.exclusive_group,
        )
        .join(DecisionRow, DecisionRow.id == Payout.decision_id)
        .join(PolicyVersion, PolicyVersion.id == DecisionRow.policy_version_id)
        .where(Payout.batch_id == batch_id, Payout.status == "held")
    )
    rows = session.execute(held).all()
    # listed (失信 / 经营异常) since the sweep: approval is a decision too, so they are not paid
    barred = listed_enterprises(session, {r.enterprise_id for r in rows}, dt.date.today()) if approve else set()
    go = [(r.id, r.amount) for r in rows if approve and r.enterprise_id not in barred]
    stop = [r for r in rows if not approve or r.enterprise_id in barred]
    now = dt.datetime.now(dt.UTC)
    if go:
        session.execute(
            update(Payout).where(Payout.id.in_([i for i, _ in go])).values(status="decided", updated_at=now)
        )
    if stop:
        session.execute(
            update(Payout).where(Payout.id.in_([r.id for r in stop])).values(status="cancelled", updated_at=now)
        )
        release(session, stop, now)
    returned = sum((r.amount for r in stop), Decimal("0.00"))
    amount = sum((a for _, a in go if approve), Decimal("0.00")) if approve else returned
    ids = [i for i, _ in go] if approve else [r.id for r in stop]
    batch.status = "approved" if approve else "rejected"
    batch.decided_by = actor
    batch.decided_at = dt.datetime.now(dt.UTC)
    batch.comment = comment.strip() if isinstance(comment, str) and comment.strip() else None
    session.flush()
    audit.append(
        session,
        actor,
        f"batch.{batch.status}",
        f"batch:{batch.id}",
        {
            "policy": batch.policy_id,
            "payouts": len(ids),
            "amount": amount,
            "comment": batch.comment,
            **({"cancelled_listed": sorted(r.id for r in stop), "returned": returned} if approve and stop else {}),
        },
    )
    return batch


def release(session: Session, payouts, now) -> None:
    """Cancelled payouts give back what they held: their budget reservation, and their part of an
    exclusive group's account (so the group's next measure is not outranked by money never paid)."""
    by_policy: dict[int, Decimal] = {}
    by_claim: dict[tuple, Decimal] = {}
    for r in payouts:
        by_policy[r.policy_id] = by_policy.get(r.policy_id, Decimal("0.00")) + r.amount
        if r.exclusive_group:
            key = (r.enterprise_id, r.exclusive_group, r.period)
            by_claim[key] = by_claim.get(key, Decimal("0.00")) + r.amount
    for policy_id, amount in sorted(by_policy.items()):
        session.execute(update(Budget).where(Budget.policy_id == policy_id).values(reserved=Budget.reserved - amount))
    for (eid, group, period), amount in sorted(by_claim.items()):
        session.execute(
            update(GroupClaim)
            .where(GroupClaim.enterprise_id == eid, GroupClaim.exclusive_group == group, GroupClaim.period == period)
            .values(paid=GroupClaim.paid - amount, updated_at=now)
        )


def listed_enterprises(session: Session, enterprise_ids, as_of: dt.date) -> set[int]:
    """Which of these enterprises are on the 失信 list or in 经营异常 as of a date, by their verified facts
    (the precedence of :mod:`matcher.facts`, the refusals of :mod:`matcher.settlement`)."""
    rows: dict[int, list] = {}
    ids = list(enterprise_ids)
    for start in range(0, len(ids), 500):
        query = select(
            FieldValue.enterprise_id,
            FieldValue.field,
            FieldValue.value,
            FieldValue.source,
            FieldValue.as_of,
            FieldValue.recorded_at,
            FieldValue.id,
        ).where(FieldValue.enterprise_id.in_(ids[start : start + 500]), FieldValue.field.in_(list(REFUSALS)))
        for eid, *row in session.execute(query):
            rows.setdefault(eid, []).append(row)
    rosters = rosters_on_record(session)
    out = set()
    for eid, facts in rows.items():
        current = close(pick(facts, as_of, verified_only=True), rosters, as_of)  # a roster settles its field
        if refusal({name: value == "true" for name, (value, _, _) in current.items()}) is not None:
            out.add(eid)
    return out


def _json(batch: PayoutBatch, slug: str, totals: dict) -> dict:
    t = totals.get(batch.id) or {"count": 0, "amount": Decimal("0.00"), "by_status": {}}
    return {
        "id": batch.id,
        "policy_id": slug,
        "status": batch.status,
        "threshold": f"{batch.threshold:.2f}",
        "count": t["count"],
        "amount": f"{t['amount']:.2f}",
        "by_status": t["by_status"],
        "created_by": batch.created_by,
        "created_at": batch.created_at.isoformat(),
        "decided_by": batch.decided_by,
        "decided_at": batch.decided_at.isoformat() if batch.decided_at else None,
        "comment": batch.comment,
    }


def list_batches(engine, waiting_only: bool = True, limit: int = 500) -> list[dict]:
    """Batches, oldest waiting first (or newest first with ``waiting_only=False``), with their totals."""
    query = select(PayoutBatch, Policy.slug).join(Policy, Policy.id == PayoutBatch.policy_id)
    if waiting_only:
        query = query.where(PayoutBatch.status == "awaiting_approval").order_by(PayoutBatch.id)
    else:
        query = query.order_by(PayoutBatch.id.desc())
    with session_scope(engine) as s:
        rows = s.execute(query.limit(limit)).all()
        totals = batch_totals(s, [b.id for b, _ in rows])
        return [_json(b, slug, totals) for b, slug in rows]


def decide(engine, batch_id: int, approve: bool, comment: str | None, actor: str) -> dict:
    """Approve or reject one batch in a single write transaction (with its audit record)."""
    with write_scope(engine) as s:
        batch = decide_batch(s, batch_id, approve, comment, actor)
        slug = s.get(Policy, batch.policy_id).slug
        return _json(batch, slug, batch_totals(s, [batch.id]))
