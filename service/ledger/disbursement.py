"""Payout lifecycle: decided → sent → confirmed, or failed → retried.

:func:`send` hands decided (and failed, for a retry) payouts to the bank and
marks them sent; payouts already marked sent but never answered are sent again,
which is safe because the bank pays a reference once. :func:`reconcile` applies
the bank's answers: a confirmation moves the amount from reserved to paid (once —
a second answer for the same payout changes nothing); a failure marks the payout
failed, keeping its reservation for the retry. A crash at any point is resumed by
running them again: nothing is lost and nothing is paid twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from service import audit
from service.ledger.bank import BankResult, BankTimeout, Transfer
from service.store import session_scope, write_scope
from service.store.models import Budget, Enterprise, Payout, Policy

PREFIX = "zhida-"


def reference(payout_id: int) -> str:
    return f"{PREFIX}{payout_id}"


@dataclass
class Round:
    sent: int = 0
    confirmed: int = 0
    failed: int = 0
    ignored: int = 0
    timeouts: int = 0


def send(engine, bank, actor: str = "system:bank", batch: int = 500) -> Round:
    """Submit decided, failed and unanswered sent payouts; mark them sent once the bank took them."""
    report = Round()
    with session_scope(engine) as s:
        rows = s.execute(
            select(Payout.id, Payout.amount, Enterprise.uscc, Enterprise.name, Policy.slug)
            .join(Enterprise, Enterprise.id == Payout.enterprise_id)
            .join(Policy, Policy.id == Payout.policy_id)
            .where(Payout.status.in_(("decided", "failed", "sent")))
            .order_by(Payout.id)
        ).all()
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        transfers = [Transfer(reference(r.id), r.uscc, r.name, r.amount, f"惠企政策兑现 {r.slug}") for r in chunk]
        try:
            bank.submit(transfers)
        except BankTimeout:
            report.timeouts += 1  # unknown whether received: leave as is; the next round resubmits
            continue
        with write_scope(engine) as s:
            ids = [r.id for r in chunk]
            changed = s.execute(
                update(Payout).where(Payout.id.in_(ids), Payout.status.in_(("decided", "failed"))).values(status="sent")
            ).rowcount
            audit.append(s, actor, "payout.sent", f"batch:{ids[0]}-{ids[-1]}", {"payouts": ids})
            report.sent += changed
    return report


def reconcile(engine, bank, actor: str = "system:bank") -> Round:
    """Apply the bank's answers exactly once each."""
    report = Round()
    for result in bank.results():
        _apply(engine, result, actor, report)
    return report


def _apply(engine, result: BankResult, actor: str, report: Round) -> None:
    if not result.reference.startswith(PREFIX) or not result.reference[len(PREFIX) :].isdigit():
        report.ignored += 1
        return
    payout_id = int(result.reference[len(PREFIX) :])
    with write_scope(engine) as s:
        payout = s.get(Payout, payout_id)
        if payout is None or payout.status in ("confirmed", "held", "cancelled"):
            report.ignored += 1  # unknown, a second answer, or a payout never sent (held, cancelled)
            return
        if result.status == "confirmed":
            s.execute(
                update(Budget)
                .where(Budget.policy_id == payout.policy_id)
                .values(reserved=Budget.reserved - payout.amount, paid=Budget.paid + payout.amount)
            )
            payout.status = "confirmed"
            report.confirmed += 1
        else:
            payout.status = "failed"
            report.failed += 1
        audit.append(
            s,
            actor,
            f"payout.{payout.status}",
            result.reference,
            {"payout": payout.id, "amount": payout.amount, "reason": result.reason},
        )
