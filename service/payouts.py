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

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from matcher.decision import Decision
from service import audit
from service.store.models import Budget, Enterprise, Payout, PolicyVersion
from service.store.models import Decision as DecisionRow

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


def _record(session, enterprise, pv, decision: Decision, outcome: str, application_id=None) -> DecisionRow:
    row = DecisionRow(
        application_id=application_id,
        enterprise_id=enterprise.id,
        policy_version_id=pv.id,
        outcome=outcome,
        amount=decision.amount if outcome == "eligible" else None,
        trace=[leaf.to_json() for leaf in decision.trace],
        missing=list(decision.missing),
        as_of=decision.as_of or dt.date.today(),
    )
    session.add(row)
    session.flush()
    return row


def settle(
    session: Session,
    enterprise: Enterprise,
    pv: PolicyVersion,
    decision: Decision,
    facts: dict,
    actor: str,
    application_id: int | None = None,
) -> Settlement:
    """Turn ``decision`` into a payout, or say exactly why not. Call inside a write transaction."""
    subject = f"{pv.spec['id']}:{enterprise.uscc}"
    audit.lock(session)
    for flag, reason in REFUSALS.items():
        if facts.get(flag) is True:
            row = _record(session, enterprise, pv, decision, "refused", application_id)
            audit.append(session, actor, "decision.refused", subject, {"decision": row.id, "reason": reason})
            return Settlement("refused", None, reason, None, row.id)
    if decision.outcome != "eligible":
        row = _record(session, enterprise, pv, decision, decision.outcome, application_id)
        audit.append(
            session,
            actor,
            f"decision.{decision.outcome}",
            subject,
            {"decision": row.id, "missing": list(decision.missing)},
        )
        reason = "不符合申报条件" if decision.outcome == "not_eligible" else "需补充：" + "、".join(decision.missing)
        return Settlement(decision.outcome, None, reason, None, row.id)

    period = period_of(pv.spec["period"], decision.as_of or dt.date.today())
    existing = session.scalar(
        select(Payout).where(
            Payout.policy_id == pv.policy_id, Payout.enterprise_id == enterprise.id, Payout.period == period
        )
    )
    if existing is not None:
        return Settlement(
            "already_paid", existing.amount, f"本期（{period}）已兑现，不重复支付", existing.id, existing.decision_id
        )
    amount = decision.amount
    row = _record(session, enterprise, pv, decision, "eligible", application_id)
    try:
        with session.begin_nested():  # reservation and payout stand or fall together
            reserved = session.execute(
                update(Budget)
                .where(Budget.policy_id == pv.policy_id, Budget.total - Budget.reserved - Budget.paid >= amount)
                .values(reserved=Budget.reserved + amount)
            ).rowcount
            if reserved != 1:
                raise _BudgetExhausted
            payout = Payout(
                policy_id=pv.policy_id,
                enterprise_id=enterprise.id,
                period=period,
                amount=amount,
                status="decided",
                decision_id=row.id,
            )
            session.add(payout)
            session.flush()
    except _BudgetExhausted:
        audit.append(session, actor, "decision.budget_exhausted", subject, {"decision": row.id, "amount": amount})
        return Settlement("budget_exhausted", amount, "资金预算已用完，暂无法兑现", None, row.id)
    except IntegrityError:  # a concurrent twin committed the same (policy, enterprise, period) first
        twin = session.scalar(
            select(Payout).where(
                Payout.policy_id == pv.policy_id, Payout.enterprise_id == enterprise.id, Payout.period == period
            )
        )
        return Settlement(
            "already_paid",
            twin.amount if twin else amount,
            f"本期（{period}）已兑现，不重复支付",
            twin.id if twin else None,
            row.id,
        )
    audit.append(
        session,
        actor,
        "payout.decided",
        subject,
        {"decision": row.id, "payout": payout.id, "amount": amount, "period": period, "policy_version": pv.version},
    )
    return Settlement("paid", amount, "", payout.id, row.id)


class _BudgetExhausted(Exception):
    pass
