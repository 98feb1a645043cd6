"""Settling one enterprise's measure with its supplements: read the ledger, plan, write — in one transaction.

The rules are :mod:`matcher.settlement`'s; this module finds what they need (the measure's
current supplements, the payouts, group claims and budgets the plan rests on) and hands
the plan to :mod:`service.ledger.executor`. Applications, reviews and revisions use it; a
sweep plans many enterprises at once (:mod:`service.ledger.sweeps`) with the same planner.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from matcher.decision import Decision
from matcher.settlement import Unit, decide_unit, period_of, plan
from service.ledger.executor import Target, read_ledgers, settle
from service.ledger.facts import VersionRef, spec_of
from service.store.models import Policy, PolicyVersion

_SUPPLEMENTS = (
    select(PolicyVersion.id, PolicyVersion.policy_id, PolicyVersion.version, PolicyVersion.spec_hash, Policy.slug)
    .join(Policy, (Policy.id == PolicyVersion.policy_id) & (Policy.current_version == PolicyVersion.version))
    .where(PolicyVersion.supplement_of == bindparam("slug"), Policy.status == "published")
    .order_by(Policy.slug)
)


def unit_of(session: Session, spec, ref: VersionRef, rows=None) -> tuple[Unit, dict]:
    """The measure with its published supplements, and each one's version (slug → VersionRef).
    ``rows``: the supplements' (id, policy_id, version, spec_hash, slug), when already read."""
    if rows is None:
        rows = session.connection().execute(_SUPPLEMENTS, {"slug": spec.id}).all()
    versions = {spec.id: ref}
    supplements = []
    for pv_id, policy_id, version, digest, slug in rows:
        sref = VersionRef(pv_id, policy_id, version, digest)
        versions[slug] = sref
        supplements.append(spec_of(sref, session))
    return Unit(spec, tuple(supplements)), versions


def settle_unit(
    session: Session,
    target: Target,
    unit: Unit,
    root: Decision,
    facts: dict,
    sources: dict,
    as_of: dt.date,
    today: dt.date,
    actor: str,
    review: bool = False,
    application=None,
):
    """Plan and write the settlement of ``unit`` for one enterprise whose root decision is ``root``.
    ``application(plan)``, when given, records the application the plan answers and returns its id
    (its status follows the plan). Returns ``(plan, written, target)``: the target names the application."""
    decisions = decide_unit(unit, facts, as_of, sources, root=root)
    policy_ids = {slug: ref.policy_id for slug, ref in target.versions.items()}
    period = period_of(unit.root.period, as_of)
    groups = [unit.group] if unit.group else []

    def attempt():
        ledgers, _ = read_ledgers(session, [target.enterprise_id], policy_ids, groups, period)
        p = plan(unit, decisions, facts, ledgers[target.enterprise_id], as_of, today, review=review)
        where = target if application is None else replace(target, application_id=application(p))
        return [(where, p)]

    plans, written = settle(session, attempt, actor)
    ((target, p),) = plans
    return p, written[0], target


__all__ = ["unit_of", "settle_unit"]
