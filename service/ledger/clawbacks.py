"""Revisions, clawbacks and listings: money that was paid on facts that later changed or proved false.

- A **revision** decides a paid measure again on the facts as they are recorded now (a
  department's corrected figures), as of the original decision's date: the difference
  becomes a top-up payment or a clawback of the excess (budget restored, audited), with
  the reason — :func:`matcher.settlement.plan_revision` says which.
- A **finding** that declared facts were false claws back a payout, or stops one that has
  not left yet. It does not list the enterprise:
- **listing** an enterprise on the 失信 list (or in 经营异常) is a separate officer action,
  recorded as a verified credit fact, after which every decision refuses it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from matcher import catalog
from matcher.decision import decide
from matcher.settlement import REFUSALS, Part, Plan, RevisionBlocked, decide_unit, plan_finding, plan_revision
from service import audit
from service.errors import BadRequest, Conflict, NotFound
from service.ledger.batches import release
from service.ledger.executor import Target, execute, read_ledgers, settle
from service.ledger.facts import VersionRef, facts_as_of, spec_of
from service.ledger.units import unit_of
from service.store.models import Application, Enterprise, FieldValue, Payout, Policy, PolicyVersion
from service.store.models import Clawback as ClawbackRow
from service.store.models import Decision as DecisionRow

ZERO = Decimal("0.00")


def _reason(reason) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise BadRequest("须写明理由 reason", field="reason")
    return reason.strip()


def _payout(session: Session, payout_id: int) -> Payout:
    payout = session.get(Payout, payout_id)
    if payout is None:
        raise NotFound(f"兑现记录 {payout_id} 不存在")
    return payout


def _current(session: Session, slug: str) -> tuple[VersionRef, object]:
    row = session.execute(
        select(PolicyVersion.id, PolicyVersion.policy_id, PolicyVersion.version, PolicyVersion.spec_hash)
        .join(Policy, (Policy.id == PolicyVersion.policy_id) & (Policy.current_version == PolicyVersion.version))
        .where(Policy.slug == slug)
    ).first()
    ref = VersionRef(*row)
    return ref, spec_of(ref, session)


def revise(session: Session, payout_id: int, reason: str, actor: str, today: dt.date) -> Plan:
    """Decide the payout's measure (with its supplements, and its exclusive group's other measures) again
    and write the difference. Call inside a write transaction; returns the plan written."""
    why = _reason(reason)
    payout = _payout(session, payout_id)
    grant = session.scalar(
        select(Payout).where(
            Payout.policy_id == payout.policy_id,
            Payout.enterprise_id == payout.enterprise_id,
            Payout.period == payout.period,
            Payout.seq == 0,
        )
    )
    first = session.get(DecisionRow, grant.decision_id) if grant.decision_id else None
    if first is None:
        raise Conflict(f"兑现 {payout_id} 没有判定记录，无法复核")
    enterprise = session.get(Enterprise, payout.enterprise_id)
    as_of = first.as_of
    facts, sources = facts_as_of(session, enterprise, as_of)
    if first.application_id is not None:  # what the enterprise declared, under its commitment; verified wins
        declared = session.get(Application, first.application_id).declared or {}
        for name, text in declared.items():
            if facts.get(name) is None:
                facts[name] = catalog.parse_value(name, text, today=as_of)
                sources[name] = "declared"
    slug = session.scalar(select(Policy.slug).where(Policy.id == payout.policy_id))
    ref, spec = _current(session, slug)
    root_slug = spec.supplement_of or spec.id
    if root_slug != spec.id:
        ref, spec = _current(session, root_slug)
    group = spec.exclusive_group
    roots = [(ref, spec)]
    if group:
        for pv_id, policy_id, version, digest in session.execute(
            select(PolicyVersion.id, PolicyVersion.policy_id, PolicyVersion.version, PolicyVersion.spec_hash)
            .join(Policy, (Policy.id == PolicyVersion.policy_id) & (Policy.current_version == PolicyVersion.version))
            .where(PolicyVersion.exclusive_group == group, Policy.slug != spec.id)
        ):
            other = VersionRef(pv_id, policy_id, version, digest)
            roots.append((other, spec_of(other, session)))
    group_units, versions = [], {}
    for r, s in roots:
        unit, vs = unit_of(session, s, r)
        versions.update(vs)
        group_units.append((unit, decide_unit(unit, facts, as_of, sources, root=decide(s, facts, as_of, sources))))
    target = Target(enterprise.id, enterprise.uscc, versions)
    policy_ids = {slug: v.policy_id for slug, v in versions.items()}

    def attempt():
        ledgers, _ = read_ledgers(session, [enterprise.id], policy_ids, [group] if group else [], payout.period)
        return [(target, plan_revision(group_units, facts, ledgers[enterprise.id], as_of, today, why))]

    try:
        plans, _ = settle(session, attempt, actor)
    except RevisionBlocked as e:  # money still on its way: 409 until the bank answers
        raise Conflict(str(e)) from None
    audit.append(session, actor, "revision", f"payout:{payout_id}", {"reason": why, "as_of": as_of})
    return plans[0][1]


def claw_back(session: Session, payout_id: int, reason: str, actor: str, amount=None) -> dict:
    """An officer's finding that declared facts were false: take the payout back (``amount``, default all of
    it still outstanding). Money that has not left is stopped instead; money at the bank waits for its answer.
    The enterprise is not listed by this (see :func:`list_enterprise`)."""
    why = _reason(reason)
    payout = _payout(session, payout_id)
    outstanding = payout.amount - payout.clawed
    if amount is not None:
        try:
            amount = Decimal(str(amount)).quantize(Decimal("0.01"))
        except ArithmeticError:
            raise BadRequest(f"amount 应为金额（元），收到 {amount!r}", field="amount") from None
        if not amount.is_finite() or amount <= 0 or amount > outstanding:
            raise BadRequest(f"追回金额应大于 0 且不超过未追回的 {outstanding} 元", field="amount")
    if payout.status == "sent":
        raise Conflict(f"兑现 {payout_id} 已提交银行、尚未确认，待银行回单后再追回")
    if payout.status == "cancelled" or outstanding <= 0:
        raise Conflict(f"兑现 {payout_id} 已撤销或已全部追回")
    slug = session.scalar(select(Policy.slug).where(Policy.id == payout.policy_id))
    ref, spec = _current(session, slug)
    enterprise = session.get(Enterprise, payout.enterprise_id)
    now = dt.datetime.now(dt.UTC)
    if payout.status != "confirmed":  # not paid yet: stop it whole
        session.execute(update(Payout).where(Payout.id == payout.id).values(status="cancelled", updated_at=now))
        row = session.execute(
            select(Payout.id, Payout.amount, Payout.enterprise_id, Payout.policy_id, Payout.period).where(
                Payout.id == payout.id
            )
        ).one()
        release(session, [_WithGroup(row, _group_of(session, payout))], now)
        audit.append(session, actor, "payout.stopped", f"payout:{payout_id}", {"reason": why, "amount": payout.amount})
        return {"payout_id": payout_id, "action": "stopped", "amount": f"{payout.amount:.2f}", "reason": why}
    take = amount if amount is not None else outstanding
    target = Target(enterprise.id, enterprise.uscc, {spec.id: ref})
    account = None
    group = _group_of(session, payout)
    if group:
        ledgers, _ = read_ledgers(session, [enterprise.id], {spec.id: ref.policy_id}, [group], payout.period)
        held = ledgers[enterprise.id].claims.get(group)
        account = (group, payout.period, held) if held is not None else None
    part = Part(payout.id, payout.seq, payout.amount, payout.clawed, payout.status)
    execute(session, [(target, plan_finding(spec.id, part, take, why, account))], actor, clawback_kind="finding")
    claw_id = session.scalar(
        select(ClawbackRow.id).where(ClawbackRow.payout_id == payout.id).order_by(ClawbackRow.id.desc())
    )
    return {
        "payout_id": payout_id,
        "action": "clawed_back",
        "clawback_id": claw_id,
        "amount": f"{take:.2f}",
        "reason": why,
    }


class _WithGroup:
    """A payout row with its exclusive group, as :func:`service.ledger.batches.release` reads it."""

    def __init__(self, row, group):
        self.id, self.amount, self.enterprise_id, self.policy_id, self.period = row
        self.exclusive_group = group


def _group_of(session: Session, payout: Payout) -> str | None:
    if payout.decision_id is None:
        return None
    return session.scalar(
        select(PolicyVersion.exclusive_group)
        .join(DecisionRow, DecisionRow.policy_version_id == PolicyVersion.id)
        .where(DecisionRow.id == payout.decision_id)
    )


def list_enterprise(session: Session, uscc: str, flag: str, reason: str, actor: str, today: dt.date) -> dict:
    """An officer lists an enterprise (失信 or 经营异常) after a finding: a verified credit fact from today."""
    why = _reason(reason)
    if flag not in REFUSALS:
        raise BadRequest(f"list 应为 {'、'.join(REFUSALS)} 之一", field="list")
    enterprise = session.scalar(select(Enterprise).where(Enterprise.uscc == uscc))
    if enterprise is None:
        raise NotFound(f"企业 {uscc} 不存在")
    source = catalog.FIELDS[flag].source
    entry = session.scalar(
        select(FieldValue).where(
            FieldValue.enterprise_id == enterprise.id,
            FieldValue.field == flag,
            FieldValue.source == source,
            FieldValue.as_of == today,
        )
    )
    if entry is None:
        session.add(FieldValue(enterprise_id=enterprise.id, field=flag, value="true", source=source, as_of=today))
    else:
        entry.value = "true"
    session.flush()
    audit.append(session, actor, "listing.added", uscc, {"list": flag, "reason": why, "as_of": today})
    return {"uscc": uscc, "list": flag, "label": catalog.FIELDS[flag].label, "as_of": today.isoformat(), "reason": why}
