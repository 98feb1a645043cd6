"""The one executor of settlement plans (:mod:`matcher.settlement`): SQL for persistence only.

A plan says what to write; this module writes it in the caller's transaction, with
multi-row statements so a sweep's thousand firms cost a handful of round trips:

1. the decision rows (the rules' outcome, the settlement, its reason, the explanation);
2. budget reservations, each a conditional UPDATE (``total - reserved - paid >= amount``,
   backed by a CHECK constraint);
3. the payouts, ``INSERT … ON CONFLICT DO NOTHING`` on (policy, enterprise, period, seq);
4. each exclusive group's account, moved from the paid amount the plan saw to the new one
   (compare-and-set; CHECK paid <= best);
5. clawbacks, each taking back part of a payout (compare-and-set on what was clawed) and
   restoring the budget;
6. one audit record per decision row, and per clawback.

Should any conditional write find the ledger changed since it was read (a concurrent
writer), :class:`Stale` is raised: the caller rolls back to its savepoint, reads the
ledger again and asks :mod:`matcher.settlement` for a new plan (see :func:`settle`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from matcher.settlement import AUDIT_ACTIONS, Claim, Ledger, Paid, Part, Plan
from service import audit
from service.errors import Conflict
from service.store.models import Budget, GroupClaim, Payout, Policy
from service.store.models import Clawback as ClawbackRow
from service.store.models import Decision as DecisionRow
from service.store.types import Money

ZERO = Decimal("0.00")
ATTEMPTS = 8  # re-plans after a concurrent writer changed the ledger, before giving up


class Stale(Exception):
    """The ledger changed between reading it and writing the plan: read again and re-plan."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a plan is written: the enterprise, each measure's policy row and current version."""

    enterprise_id: int
    uscc: str
    versions: dict  # slug -> VersionRef (id, policy_id, version)
    application_id: int | None = None
    facts: dict | None = None  # the facts decided on, as stored text: kept on rows not explained yet (a sweep's)


@dataclass(frozen=True, slots=True)
class Written:
    decision_id: int | None
    payout_id: int | None


# -- reading what a plan rests on ----------------------------------------------------------

_p = Payout.__table__.c
_g = GroupClaim.__table__.c
_b = Budget.__table__.c


def read_ledgers(
    session: Session, enterprise_ids, policy_ids: dict[str, int], groups, period: str, lock_budgets: bool = False
) -> tuple[dict[int, Ledger], dict[str, Decimal]]:
    """Per enterprise, its payouts and group claims for ``period`` under these measures; and each
    measure's remaining budget (locked for the transaction when ``lock_budgets``, as a sweep does)."""
    conn = session.connection()
    slug_of = {pid: slug for slug, pid in policy_ids.items()}
    ids = sorted(set(enterprise_ids))
    parts: dict[int, dict[str, list[tuple]]] = defaultdict(lambda: defaultdict(list))
    claims: dict[int, dict[str, Claim]] = defaultdict(dict)
    best_slug = dict(conn.execute(select(Policy.id, Policy.slug)).all()) if groups else {}
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        rows = conn.execute(
            select(_p.enterprise_id, _p.policy_id, _p.id, _p.seq, _p.amount, _p.clawed, _p.status).where(
                _p.policy_id.in_(list(slug_of)), _p.period == period, _p.enterprise_id.in_(chunk)
            )
        )
        for eid, pid, payout_id, seq, amount, clawed, status in rows:
            parts[eid][slug_of[pid]].append(Part(payout_id, seq, amount, clawed, status))
        if groups:
            rows = conn.execute(
                select(_g.enterprise_id, _g.exclusive_group, _g.paid, _g.best, _g.best_policy_id).where(
                    _g.exclusive_group.in_(sorted(groups)), _g.period == period, _g.enterprise_id.in_(chunk)
                )
            )
            for eid, group, paid, best, best_policy in rows:
                claims[eid][group] = Claim(paid, best, best_slug.get(best_policy))
    query = select(_b.policy_id, _b.total - _b.reserved - _b.paid).where(_b.policy_id.in_(list(slug_of)))
    if lock_budgets:
        query = query.with_for_update()
    remaining = {slug_of[pid]: Decimal(left).quantize(Decimal("0.01")) for pid, left in conn.execute(query)}
    out = {}
    for eid in ids:
        paid = {}
        for slug, ps in parts.get(eid, {}).items():
            grant = next((p for p in ps if p.seq == 0), None)
            if grant is not None:
                paid[slug] = Paid(grant.payout_id, grant.status, grant.amount, tuple(sorted(ps, key=lambda p: p.seq)))
        out[eid] = Ledger(paid, dict(claims.get(eid, {})), remaining)
    return out, remaining


# -- writing a plan ------------------------------------------------------------------------

NEW_DECISION = insert(DecisionRow.__table__).returning(DecisionRow.__table__.c.id)
_RESERVE = (
    update(Budget.__table__)
    .where(
        _b.policy_id == bindparam("b_policy"),
        _b.total - _b.reserved - _b.paid >= bindparam("b_amount", type_=Money()),
    )
    .values(reserved=_b.reserved + bindparam("b_amount", type_=Money()))
)
_RESTORE = (
    update(Budget.__table__)
    .where(_b.policy_id == bindparam("b_policy"))
    .values(paid=_b.paid - bindparam("b_amount", type_=Money()))
)
_MOVE_CLAIM = (
    update(GroupClaim.__table__)
    .where(
        _g.enterprise_id == bindparam("c_enterprise"),
        _g.exclusive_group == bindparam("c_group"),
        _g.period == bindparam("c_period"),
        _g.paid == bindparam("c_expected", type_=Money()),
    )
    .values(paid=bindparam("c_paid", type_=Money()), best=bindparam("c_best", type_=Money()))
    .values(best_policy_id=bindparam("c_best_policy"), updated_at=bindparam("c_now"))
)
_CLAW = (
    update(Payout.__table__)
    .where(_p.id == bindparam("w_payout"), _p.clawed == bindparam("w_expected", type_=Money()))
    .values(clawed=_p.clawed + bindparam("w_amount", type_=Money()), updated_at=bindparam("w_now"))
)


def decision_values(target: Target, outcome, now: dt.datetime) -> dict:
    """A decision row's values: the rules' outcome and entitlement, the settlement and the explanation."""
    d = outcome.decision
    ref = target.versions[outcome.policy_id]
    return {
        "application_id": target.application_id,
        "enterprise_id": target.enterprise_id,
        "policy_version_id": ref.id,
        "outcome": outcome.rule_outcome,
        "amount": d.amount if d.outcome == "eligible" and outcome.settlement != "refused" else None,
        "trace": [leaf.to_json() for leaf in d.trace],
        "missing": list(d.missing),
        "as_of": d.as_of,
        "decided_at": now,
        "settlement": outcome.settlement,
        "reason": outcome.reason or None,
        "steps": [s.to_json() for s in d.steps],
        "facts": target.facts if not d.trace else None,
    }


def execute(
    session: Session,
    plans: list[tuple[Target, Plan]],
    actor: str,
    batch_ids: dict | None = None,
    clawback_kind: str = "revision",
) -> list[dict[str, Written]]:
    """Write the plans in the caller's transaction; raise :class:`Stale` if the ledger moved under them.
    ``batch_ids``: the approval batch each measure's held payouts join (slug → batch id)."""
    batch_ids = batch_ids or {}
    conn = session.connection()
    now = dt.datetime.now(dt.UTC)
    rows, where = [], []
    for k, (target, p) in enumerate(plans):
        for o in p.outcomes:
            if o.record:
                rows.append(decision_values(target, o, now))
                where.append((k, o.policy_id))
    decision_ids = {}
    if rows:
        decision_ids = dict(zip(where, conn.execute(_NEW_DECISIONS, rows).scalars().all()))
    reserve: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for target, p in plans:
        for g in p.grants:
            reserve[target.versions[g.policy_id].policy_id] += g.amount
    for policy_id, amount in sorted(reserve.items()):
        if conn.execute(_RESERVE, {"b_policy": policy_id, "b_amount": amount}).rowcount != 1:
            raise Stale(f"预算已变化：政策 {policy_id}")
    payouts, where = [], []
    for k, (target, p) in enumerate(plans):
        for g in p.grants:
            payouts.append(
                {
                    "policy_id": target.versions[g.policy_id].policy_id,
                    "enterprise_id": target.enterprise_id,
                    "period": g.period,
                    "seq": g.seq,
                    "amount": g.amount,
                    "clawed": ZERO,
                    "status": g.status,
                    "decision_id": decision_ids.get((k, g.policy_id)),
                    "batch_id": batch_ids.get(g.policy_id) if g.status == "held" else None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            where.append((k, g.policy_id))
    payout_ids: dict[tuple[int, str], int] = {}
    if payouts:  # one multi-row statement; a row a concurrent writer inserted first is skipped, and is missing
        made = {
            (r.policy_id, r.enterprise_id, r.period, r.seq): r.id
            for r in conn.execute(_new_payouts(conn.dialect.name), payouts)
        }
        for (k, slug), row in zip(where, payouts):
            new = made.get((row["policy_id"], row["enterprise_id"], row["period"], row["seq"]))
            if new is None:
                raise Stale(f"已有兑现：{slug}")
            payout_ids[(k, slug)] = new
    _move_claims(conn, [(target, p.claim) for target, p in plans if p.claim is not None], now)
    entries = []
    for target, p in plans:
        for c in p.clawbacks:
            entries.append(_claw(conn, target, c, actor, clawback_kind, now))
    out: list[dict[str, Written]] = []
    for k, (target, p) in enumerate(plans):
        written = {}
        for o in p.outcomes:
            payout_id = payout_ids.get((k, o.policy_id))
            decision_id = decision_ids.get((k, o.policy_id))
            written[o.policy_id] = Written(decision_id, payout_id or o.payout_id)
            if o.record:
                entries.append(audit_entry(actor, target, p, o, decision_id, payout_id, batch_ids.get(o.policy_id)))
        out.append(written)
    audit.append_many(session, entries)
    return out


_NEW_DECISIONS = insert(DecisionRow.__table__).returning(DecisionRow.__table__.c.id, sort_by_parameter_order=True)


@functools.cache
def _new_payouts(dialect: str):
    """``INSERT … ON CONFLICT DO NOTHING RETURNING`` the key and id, for many rows in one statement (built once)."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert_ = (postgresql if dialect == "postgresql" else sqlite).insert
    table = Payout.__table__
    return (
        insert_(table)
        .on_conflict_do_nothing(index_elements=["policy_id", "enterprise_id", "period", "seq"])
        .returning(table.c.policy_id, table.c.enterprise_id, table.c.period, table.c.seq, table.c.id)
    )


def _move_claims(conn, claims: list[tuple[Target, object]], now) -> None:
    """Each group's account moved as its plan says: new accounts in one multi-row insert, then each existing
    one by compare-and-set from the paid amount its plan saw (in plan order, so a batch's chain holds)."""
    if not claims:
        return
    new, moves = [], []
    for target, claim in claims:
        ref = target.versions.get(claim.best_policy)
        best_policy = ref.policy_id if ref is not None else _policy_id(conn, claim.best_policy)
        if claim.expected is None:
            new.append(
                {
                    "enterprise_id": target.enterprise_id,
                    "exclusive_group": claim.group,
                    "period": claim.period,
                    "paid": claim.paid,
                    "best": claim.best,
                    "best_policy_id": best_policy,
                    "updated_at": now,
                }
            )
        else:
            moves.append(
                {
                    "c_enterprise": target.enterprise_id,
                    "c_group": claim.group,
                    "c_period": claim.period,
                    "c_expected": claim.expected,
                    "c_paid": claim.paid,
                    "c_best": claim.best,
                    "c_best_policy": best_policy,
                    "c_now": now,
                }
            )
    if new:
        made = {tuple(r) for r in conn.execute(_new_claims(conn.dialect.name), new)}
        if len(made) != len(new):  # a concurrent writer opened one of these accounts first
            raise Stale("同组兑现已变化")
    for values in moves:
        if conn.execute(_MOVE_CLAIM, values).rowcount != 1:
            raise Stale(f"同组兑现已变化：{values['c_group']}")


def _policy_id(conn, slug: str) -> int:
    return conn.execute(select(Policy.id).where(Policy.slug == slug)).scalar_one()


@functools.cache
def _new_claims(dialect: str):
    """``INSERT … ON CONFLICT DO NOTHING RETURNING`` the accounts' keys, for many rows in one statement."""
    from sqlalchemy.dialects import postgresql, sqlite

    table = GroupClaim.__table__
    return (
        (postgresql if dialect == "postgresql" else sqlite)
        .insert(table)
        .on_conflict_do_nothing(index_elements=["enterprise_id", "exclusive_group", "period"])
        .returning(table.c.enterprise_id, table.c.exclusive_group, table.c.period)
    )


_NEW_CLAWBACK = insert(ClawbackRow.__table__).returning(ClawbackRow.__table__.c.id)


def _claw(conn, target: Target, c, actor: str, kind: str, now) -> tuple:
    """Take back part of a payout (compare-and-set on what was clawed before) and restore the budget;
    returns the audit entry."""
    done = conn.execute(_CLAW, {"w_payout": c.payout_id, "w_expected": c.expected, "w_amount": c.amount, "w_now": now})
    if done.rowcount != 1:
        raise Stale(f"追回已变化：兑现 {c.payout_id}")
    conn.execute(_RESTORE, {"b_policy": target.versions[c.policy_id].policy_id, "b_amount": c.amount})
    values = {
        "payout_id": c.payout_id,
        "kind": kind,
        "amount": c.amount,
        "reason": c.reason,
        "actor": actor,
        "status": "open",
        "created_at": now,
    }
    claw_id = conn.execute(_NEW_CLAWBACK, values).scalar_one()
    payload = {"clawback": claw_id, "amount": c.amount, "reason": c.reason, "kind": kind}
    return (actor, "payout.clawback", f"payout:{c.payout_id}", payload | {"enterprise": target.enterprise_id})


# outcomes whose reason is their own (the decision row keeps the rules' reasons for the others)
_REASONED = frozenset({"refused", "outranked", "parent_unpaid", "budget_exhausted", "already_paid", "paid", "held"})


def audit_entry(actor, target: Target, p: Plan, o, decision_id, payout_id, batch_id) -> tuple:
    """The audit record of one recorded outcome: its action names the settlement; the payload holds
    the decision's id and what money it moved or refused, and why when that is the ledger's reason."""
    ref = target.versions[o.policy_id]
    payload = {"decision": decision_id}
    if o.amount is not None:
        payload["amount"] = o.amount
    if payout_id is not None or o.payout_id is not None:
        payload["payout"] = payout_id or o.payout_id
    grant = next((g for g in p.grants if g.policy_id == o.policy_id), None)
    if grant is not None:
        payload["period"] = grant.period
        if grant.status == "held":
            payload["batch"] = batch_id
    if o.settlement in ("paid", "held"):
        payload["policy_version"] = ref.version
    if o.reason and o.settlement in _REASONED:
        payload["reason"] = o.reason
    if o.winner:
        payload["winner"] = o.winner
    if o.decision.missing:
        payload["missing"] = list(o.decision.missing)
    if target.application_id is not None:
        payload["application"] = target.application_id
    action = AUDIT_ACTIONS.get(o.settlement, f"decision.{o.settlement}")
    return (actor, action, f"{o.policy_id}:{target.uscc}", payload)


def settle(session: Session, attempt: Callable[[], list[tuple[Target, Plan]]], actor: str, **how):
    """Read, plan and write, again from a fresh read if a concurrent writer changed the ledger meanwhile.

    ``attempt()`` reads the ledger and returns the plans; each try runs in a savepoint, so a
    stale one leaves nothing behind. Returns ``(plans, written)``.
    """
    for _ in range(ATTEMPTS):
        try:
            with session.begin_nested():
                plans = attempt()
                written = execute(session, plans, actor, **how)
            return plans, written
        except Stale:  # the savepoint rolled back; nothing was queued for the audit log (that comes last)
            continue
    raise Conflict("兑现账目被并发修改，多次重试仍未完成，请稍后重试")


__all__ = ["Stale", "Target", "Written", "read_ledgers", "execute", "settle", "decision_values"]
