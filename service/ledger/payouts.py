"""From a decision to money: refusals, budget reservation, the ledger and its audit record.

Money moves only on the rule engine's decision over verified data; this module
adds what a payments system must guarantee, inside the caller's write
transaction (:func:`service.store.write_scope`):

- enterprises on the 失信 list or in 经营异常 are refused, with the reason;
- the budget is reserved by a conditional UPDATE (``total - reserved - paid >= amount``)
  backed by a CHECK constraint, so concurrent deciders can never overspend it;
- one payout per (policy, enterprise, period), enforced by a unique constraint:
  a concurrent twin ends as ``already_paid`` and its reservation is undone;
- the decision, the payout and the audit record commit together or not at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from matcher.catalog import VERIFIED_SOURCES
from matcher.decision import Decision
from service import audit
from service.errors import BadRequest, Conflict, NotFound
from service.store import insert_or_skip
from service.store.models import Budget, Enterprise, Payout, PayoutBatch, PolicyVersion
from service.store.models import Decision as DecisionRow
from service.store.types import Money

REFUSALS = {
    "on_dishonesty_list": "列入失信被执行人名单，依法不予支持",
    "in_abnormal_operation": "列入经营异常名录，暂不予支持",
}


@dataclass(frozen=True)
class Settlement:
    outcome: str  # paid | already_paid | refused | budget_exhausted | not_eligible | undetermined
    amount: Decimal | None
    reason: str
    payout_id: int | None
    decision_id: int | None


def period_of(spec_period: str, as_of: dt.date) -> str:
    """The ledger period: the calendar year for annual measures, ``once`` otherwise."""
    return str(as_of.year) if spec_period == "annual" else "once"


_budget = Budget.__table__.c
_payout = Payout.__table__.c
NEW_DECISION = insert(DecisionRow.__table__).returning(DecisionRow.__table__.c.id)
_PAID_BEFORE = select(_payout.id, _payout.status, _payout.amount, _payout.decision_id).where(
    _payout.policy_id == bindparam("policy_id"),
    _payout.enterprise_id == bindparam("enterprise_id"),
    _payout.period == bindparam("period"),
)
_RESERVE = (
    update(Budget.__table__)
    .where(
        _budget.policy_id == bindparam("b_policy"),
        _budget.total - _budget.reserved - _budget.paid >= bindparam("b_amount", type_=Money()),
    )
    .values(reserved=_budget.reserved + bindparam("b_amount", type_=Money()))
)
_UNRESERVE = (
    update(Budget.__table__)
    .where(_budget.policy_id == bindparam("b_policy"))
    .values(reserved=_budget.reserved - bindparam("b_amount", type_=Money()))
)
_NEW_PAYOUT = insert_or_skip(
    Payout.__table__,
    ["policy_id", "enterprise_id", "period", "amount", "status", "decision_id", "batch_id", "created_at", "updated_at"],
    conflict=["policy_id", "enterprise_id", "period"],
    returning="id",
)  # statements built once: on the hot path, building one costs more than running it


EXHAUSTED = "资金预算已用完，暂无法兑现"


def repeat(period: str, status: str = "decided") -> str:
    """The reason given when this (policy, enterprise, period) has its payout already."""
    why = "兑现批次已被驳回" if status == "cancelled" else "已兑现"
    return f"本期（{period}）{why}，不重复支付"


def refusal(facts: dict) -> str | None:
    """Why an enterprise is refused whatever the rules say (失信, 经营异常), or None."""
    for flag, reason in REFUSALS.items():
        if facts.get(flag) is True:
            return reason
    return None


def unmet(decision: Decision) -> str:
    """The reason given for a decision that is not eligible or not yet decidable."""
    return "不符合申报条件" if decision.outcome == "not_eligible" else "需补充：" + "、".join(decision.missing)


def decision_row(enterprise_id: int, pv_id: int, decision: Decision, outcome: str, application_id=None) -> dict:
    """The values of a decision row: the amount only where money is due."""
    return {
        "application_id": application_id,
        "enterprise_id": enterprise_id,
        "policy_version_id": pv_id,
        "outcome": outcome,
        "amount": decision.amount if outcome == "eligible" else None,
        "trace": [leaf.to_json() for leaf in decision.trace],
        "missing": list(decision.missing),
        "as_of": decision.as_of or dt.date.today(),
        "decided_at": dt.datetime.now(dt.UTC),
    }


def _record(session, enterprise, pv, decision: Decision, outcome: str, application_id=None) -> int:
    """Insert the decision row and return its id (one statement, no ORM unit of work: this runs on every decision)."""
    row = decision_row(enterprise.id, pv.id, decision, outcome, application_id)
    return session.connection().execute(NEW_DECISION, row).scalar_one()


def settle(
    session: Session,
    enterprise: Enterprise,
    pv: PolicyVersion,
    decision: Decision,
    facts: dict,
    actor: str,
    application_id: int | None = None,
    spec=None,
) -> Settlement:
    """Turn ``decision`` into a payout, or say exactly why not. Call inside a write transaction.

    ``enterprise`` and ``pv`` may be the light :class:`~service.ledger.facts.Subject` and
    :class:`~service.ledger.facts.VersionRef`, given with ``spec``, the version's parsed spec.
    """
    spec_id, period_kind = (spec.id, spec.period) if spec is not None else (pv.spec["id"], pv.spec["period"])
    subject = f"{spec_id}:{enterprise.uscc}"
    conn = session.connection()
    reason = refusal(facts)
    if reason is not None:
        decision_id = _record(session, enterprise, pv, decision, "refused", application_id)
        audit.append(session, actor, "decision.refused", subject, {"decision": decision_id, "reason": reason})
        return Settlement("refused", None, reason, None, decision_id)
    if decision.outcome != "eligible":
        decision_id = _record(session, enterprise, pv, decision, decision.outcome, application_id)
        audit.append(
            session,
            actor,
            f"decision.{decision.outcome}",
            subject,
            {"decision": decision_id, "missing": list(decision.missing)},
        )
        return Settlement(decision.outcome, None, unmet(decision), None, decision_id)

    period = period_of(period_kind, decision.as_of or dt.date.today())
    key = {"policy_id": pv.policy_id, "enterprise_id": enterprise.id, "period": period}
    existing = conn.execute(_PAID_BEFORE, key).first()
    if existing is not None:
        audit.append(
            session,
            actor,
            "decision.already_paid",
            subject,
            {"payout": existing.id, "period": period, "application": application_id},
        )
        return Settlement(
            "already_paid", existing.amount, repeat(period, existing.status), existing.id, existing.decision_id
        )
    amount = decision.amount
    decision_id = _record(session, enterprise, pv, decision, "eligible", application_id)
    if conn.execute(_RESERVE, {"b_policy": pv.policy_id, "b_amount": amount}).rowcount != 1:
        audit.append(session, actor, "decision.budget_exhausted", subject, {"decision": decision_id, "amount": amount})
        return Settlement("budget_exhausted", amount, EXHAUSTED, None, decision_id)
    now = dt.datetime.now(dt.UTC)
    payout_id = conn.execute(
        _NEW_PAYOUT,
        {
            **key,
            "amount": amount,
            "status": "decided",
            "decision_id": decision_id,
            "batch_id": None,
            "created_at": now,
            "updated_at": now,
        },
    ).scalar()
    if payout_id is None:  # a concurrent twin committed the same (policy, enterprise, period) first
        conn.execute(_UNRESERVE, {"b_policy": pv.policy_id, "b_amount": amount})
        twin = conn.execute(_PAID_BEFORE, key).first()
        return Settlement(
            "already_paid",
            twin.amount if twin else amount,
            repeat(period),
            twin.id if twin else None,
            decision_id,
        )
    audit.append(
        session,
        actor,
        "payout.decided",
        subject,
        {
            "decision": decision_id,
            "payout": payout_id,
            "amount": amount,
            "period": period,
            "policy_version": pv.version,
        },
    )
    return Settlement("paid", amount, "", payout_id, decision_id)


def settle_many(
    session: Session,
    pv: PolicyVersion,
    items: list[tuple[Enterprise, Decision, dict]],
    actor: str,
    batch: PayoutBatch | None = None,
) -> list[Settlement]:
    """:func:`settle` for a batch of eligible decisions of one policy, with a handful of statements.

    Same outcomes as settling the items one after another in order: refusals,
    already-paid, then the budget taken first-come while it lasts. A payout that a
    concurrent writer committed meanwhile is skipped by ``ON CONFLICT DO NOTHING``
    and its reservation given back, all in the caller's transaction. With a
    ``batch`` awaiting approval, the payouts are created ``held`` in it (outcome
    ``held``): the budget is reserved, but no money moves until an officer approves.
    """

    out: list[Settlement | None] = [None] * len(items)
    entries: list[tuple[str, str, str, dict]] = []
    period = period_of(pv.spec["period"], items[0][1].as_of if items else dt.date.today())
    ids = [e.id for e, _, _ in items]
    before = session.execute(
        select(Payout.enterprise_id, Payout.id, Payout.status).where(
            Payout.policy_id == pv.policy_id, Payout.period == period, Payout.enterprise_id.in_(ids)
        )
    ).all()
    paid_before = {e: i for e, i, _ in before}
    cancelled = {e for e, _, status in before if status == "cancelled"}
    budget = session.execute(select(Budget).where(Budget.policy_id == pv.policy_id).with_for_update()).scalar_one()
    remaining = budget.total - budget.reserved - budget.paid
    decisions, take = [], []
    for k, (ent, d, facts) in enumerate(items):
        subject = f"{pv.spec['id']}:{ent.uscc}"
        refused = refusal(facts)
        outcome = "refused" if refused else "eligible"
        decisions.append(decision_row(ent.id, pv.id, d, outcome))
        if refused:
            out[k] = Settlement("refused", None, refused, None, None)
            entries.append((actor, "decision.refused", subject, {"reason": refused}))
        elif ent.id in paid_before:
            status = "cancelled" if ent.id in cancelled else "decided"
            out[k] = Settlement("already_paid", d.amount, repeat(period, status), paid_before[ent.id], None)
        elif d.amount <= remaining:
            remaining -= d.amount
            take.append(k)
        else:
            out[k] = Settlement("budget_exhausted", d.amount, EXHAUSTED, None, None)
            entries.append((actor, "decision.budget_exhausted", subject, {"amount": d.amount}))
    decision_ids = (
        session.execute(insert(DecisionRow).returning(DecisionRow.id, sort_by_parameter_order=True), decisions)
        .scalars()
        .all()
    )
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    created = {}
    if take:
        stmt = (
            dialect.insert(Payout)
            .on_conflict_do_nothing(index_elements=["policy_id", "enterprise_id", "period"])
            .returning(Payout.enterprise_id, Payout.id)
        )
        now = dt.datetime.now(dt.UTC)
        rows = [
            {
                "policy_id": pv.policy_id,
                "enterprise_id": items[k][0].id,
                "period": period,
                "amount": items[k][1].amount,
                "status": "held" if batch is not None else "decided",
                "decision_id": decision_ids[k],
                "batch_id": batch.id if batch is not None else None,
                "created_at": now,
                "updated_at": now,
            }
            for k in take
        ]
        created = dict(session.execute(stmt, rows).all())
    reserved = sum((items[k][1].amount for k in take if items[k][0].id in created), Decimal("0.00"))
    session.execute(update(Budget).where(Budget.policy_id == pv.policy_id).values(reserved=Budget.reserved + reserved))
    for k in take:
        ent, d, _ = items[k]
        if ent.id in created:
            held = batch is not None
            out[k] = Settlement(
                "held" if held else "paid",
                d.amount,
                f"待审批（批次 {batch.id}）" if held else "",
                created[ent.id],
                decision_ids[k],
            )
            entries.append(
                (
                    actor,
                    "payout.held" if held else "payout.decided",
                    f"{pv.spec['id']}:{ent.uscc}",
                    {
                        "decision": decision_ids[k],
                        "payout": created[ent.id],
                        "amount": d.amount,
                        "period": period,
                        "policy_version": pv.version,
                        **({"batch": batch.id} if batch is not None else {}),
                    },
                )
            )
        else:  # a concurrent writer paid it between our read and our insert
            out[k] = Settlement("already_paid", d.amount, repeat(period), None, decision_ids[k])
    audit.append_many(session, entries)
    session.expire(budget)
    return out  # type: ignore[return-value]


def claw_back(session: Session, payout_id: int, reason: str, actor: str):
    """A finding that declared facts were false: a 追回 record, and the enterprise enters the 失信 list.

    The dishonesty entry is a fact from the 信用 source, so every later decision
    refuses the enterprise. Idempotent: a second finding for the same payout
    returns the existing clawback.
    """
    from service.store.models import Clawback, FieldValue

    if not reason or not reason.strip():
        raise BadRequest("追回须写明理由", field="reason")
    payout = session.get(Payout, payout_id)
    if payout is None:
        raise NotFound(f"兑现记录 {payout_id} 不存在")
    existing = session.scalar(select(Clawback).where(Clawback.payout_id == payout_id))
    if existing is not None:
        return existing
    claw = Clawback(payout_id=payout_id, amount=payout.amount, reason=reason.strip(), actor=actor)
    session.add(claw)
    today = dt.date.today()
    entry = session.scalar(
        select(FieldValue).where(
            FieldValue.enterprise_id == payout.enterprise_id,
            FieldValue.field == "on_dishonesty_list",
            FieldValue.source == "credit",
            FieldValue.as_of == today,
        )
    )
    if entry is None:
        session.add(
            FieldValue(
                enterprise_id=payout.enterprise_id,
                field="on_dishonesty_list",
                value="true",
                source="credit",
                as_of=today,
            )
        )
    else:
        entry.value = "true"
    session.flush()
    audit.append(
        session,
        actor,
        "payout.clawback",
        f"payout:{payout_id}",
        {"clawback": claw.id, "amount": payout.amount, "reason": claw.reason, "enterprise": payout.enterprise_id},
    )
    return claw


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
    held = select(Payout.id, Payout.amount, Payout.enterprise_id).where(
        Payout.batch_id == batch_id, Payout.status == "held"
    )
    rows = session.execute(held).all()
    # listed (失信 / 经营异常) since the sweep: approval is a decision too, so they are not paid
    barred = listed_enterprises(session, {e for _, _, e in rows}) if approve else set()
    go = [(i, a) for i, a, e in rows if approve and e not in barred]
    stop = [(i, a) for i, a, e in rows if not approve or e in barred]
    now = dt.datetime.now(dt.UTC)
    if go:
        session.execute(
            update(Payout).where(Payout.id.in_([i for i, _ in go])).values(status="decided", updated_at=now)
        )
    if stop:
        session.execute(
            update(Payout).where(Payout.id.in_([i for i, _ in stop])).values(status="cancelled", updated_at=now)
        )
    returned = sum((a for _, a in stop), Decimal("0.00"))
    if returned:
        session.execute(
            update(Budget).where(Budget.policy_id == batch.policy_id).values(reserved=Budget.reserved - returned)
        )
    amount = sum((a for _, a in go if approve), Decimal("0.00")) if approve else returned
    ids = [i for i, _ in (go if approve else stop)]
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
            **({"cancelled_listed": sorted(i for i, _ in stop), "returned": returned} if approve and stop else {}),
        },
    )
    return batch


def listed_enterprises(session: Session, enterprise_ids, as_of: dt.date | None = None) -> set[int]:
    """Which of these enterprises are on the 失信 list or in 经营异常 now, by the latest verified credit fact."""
    from service.store.models import FieldValue

    as_of = as_of or dt.date.today()
    latest: dict[tuple[int, str], tuple] = {}
    ids = list(enterprise_ids)
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(
                FieldValue.enterprise_id, FieldValue.field, FieldValue.value, FieldValue.as_of, FieldValue.recorded_at
            ).where(
                FieldValue.enterprise_id.in_(ids[start : start + 500]),
                FieldValue.field.in_(list(REFUSALS)),
                FieldValue.source.in_(list(VERIFIED_SOURCES)),
                FieldValue.as_of <= as_of,
            )
        )
        for eid, name, value, day, recorded in rows:
            key = (eid, name)
            if key not in latest or (day, recorded) > latest[key][1:]:
                latest[key] = (value, day, recorded)
    return {eid for (eid, _), (value, _, _) in latest.items() if value == "true"}
