"""Decisions over stored data: which facts count as of a date, which policy version, and replay.

The rule engine is pure (:mod:`matcher.decision`); this module feeds it the
facts that counted on a date and the policy version in force, records what it
decided, and can decide again later from the record with the same result.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Date, bindparam, null, select, union_all
from sqlalchemy.orm import Session

from matcher import catalog
from matcher.decision import Decision, decide
from matcher.spec import parse_spec
from service.errors import NotFound
from service.store import current_facts, pick_current
from service.store.models import Decision as DecisionRow
from service.store.models import Enterprise, FieldValue, Policy, PolicyVersion, RosterPublication


def facts_as_of(session: Session, enterprise: Enterprise, as_of: dt.date) -> tuple[dict, dict]:
    """Typed facts and their sources, as they stood on ``as_of`` (the rosters on record settle roster fields)."""
    return typed_facts(current_facts(session, enterprise.id, as_of=as_of), enterprise, as_of)


def typed_facts(current: dict, enterprise, as_of: dt.date) -> tuple[dict, dict]:
    """The engine's facts from :func:`~service.store.current_facts` and the enterprise's register entry."""
    facts, sources = {}, {}
    for name, (text, source, _) in current.items():
        if name in catalog.FIELDS:
            facts[name] = catalog.parse_value(name, text, today=as_of)
            sources[name] = source
    facts.update(region=enterprise.region, industry=enterprise.industry)
    sources.update(region="market_regulation", industry="market_regulation")
    if enterprise.established_on is not None:
        facts["established_on"] = enterprise.established_on
        sources["established_on"] = "market_regulation"
    return facts, sources


@dataclass(frozen=True, slots=True)
class Subject:
    """The register entry of an enterprise, as a decision needs it."""

    id: int
    uscc: str
    region: str
    industry: str
    established_on: dt.date | None


@dataclass(frozen=True, slots=True)
class VersionRef:
    """A policy version without its spec text (the parsed spec is cached per process: :func:`spec_of`)."""

    id: int
    policy_id: int
    version: int
    spec_hash: str


_fv = FieldValue.__table__.c
_rp = RosterPublication.__table__.c
_APPLICANT = union_all(
    select(
        Enterprise.id.label("e_id"),
        Enterprise.uscc,
        Enterprise.region,
        Enterprise.industry,
        Enterprise.established_on,
        PolicyVersion.id.label("pv_id"),
        PolicyVersion.policy_id,
        PolicyVersion.version,
        PolicyVersion.spec_hash,
        _fv.field,
        _fv.value,
        _fv.source,
        _fv.as_of,
        _fv.recorded_at,
        _fv.id.label("fv_id"),
    )
    .select_from(Enterprise)
    .join(Policy, Policy.slug == bindparam("slug"))
    .join(PolicyVersion, (PolicyVersion.policy_id == Policy.id) & (PolicyVersion.version == Policy.current_version))
    .outerjoin(FieldValue, (_fv.enterprise_id == Enterprise.id) & (_fv.as_of <= bindparam("as_of", type_=Date)))
    .where(Enterprise.uscc == bindparam("uscc")),
    # the rosters on record, in the same round trip: one row each, without an enterprise
    select(*([null()] * 9), _rp.roster, null(), _rp.source, _rp.as_of, null(), null()).where(
        _rp.as_of <= bindparam("as_of", type_=Date)
    ),
)  # built once: constructing a statement costs more than running it


def applicant(session: Session, uscc: str, slug: str, as_of: dt.date):
    """The enterprise, the policy's current version and the enterprise's facts as of ``as_of`` (roster fields
    settled by the rosters on record), in one query (the hot path of 即申即办). Returns
    ``(Subject, VersionRef, facts, sources)``, or None when the enterprise or the policy does not exist."""
    rows = session.connection().execute(_APPLICANT, {"slug": slug, "as_of": as_of, "uscc": uscc}).all()
    return applicant_of(rows, as_of)


def applicant_of(rows, as_of: dt.date):
    """:func:`applicant`'s answer from its rows (one per fact, or one with no fact, and one per roster on record
    without an enterprise; named as in its query), or None when there is no enterprise row."""
    r = next((r for r in rows if r.e_id is not None), None)
    if r is None:
        return None
    ent = Subject(r.e_id, r.uscc, r.region, r.industry, r.established_on)
    ref = VersionRef(r.pv_id, r.policy_id, r.version, r.spec_hash)
    current = pick_current(
        ((r.field, r.value, r.source, r.as_of, r.recorded_at, r.fv_id) for r in rows if r.fv_id is not None),
        as_of,
        [(r.field, r.as_of) for r in rows if r.e_id is None],
    )
    facts, sources = typed_facts(current, ent, as_of)
    return ent, ref, facts, sources


def policy_version(session: Session, slug: str, version: int | None = None) -> PolicyVersion:
    """The policy's current version (or ``version``), in one query."""
    number = PolicyVersion.version == (version if version is not None else Policy.current_version)
    row = session.scalar(
        select(PolicyVersion).join(Policy, Policy.id == PolicyVersion.policy_id).where(Policy.slug == slug, number)
    )
    if row is None:
        if session.scalar(select(Policy.id).where(Policy.slug == slug)) is None:
            raise NotFound(f"政策 {slug} 不存在")
        raise NotFound(f"政策 {slug} 没有第 {version} 版")
    return row


_SPECS: dict[tuple[int, str], object] = {}


def spec_of(pv, session: Session | None = None, load=None):
    """The parsed spec of a stored version. A version never changes (its hash names its content),
    so each is parsed once per process rather than on every decision. ``pv`` is a
    :class:`PolicyVersion` or a :class:`VersionRef`, whose spec is read on first use with
    ``session``, or with ``load(version_id)`` where the caller works on the driver directly."""
    key = (pv.id, pv.spec_hash)
    spec = _SPECS.get(key)
    if spec is None:
        if isinstance(pv, PolicyVersion):
            text = pv.spec
        else:
            text = load(pv.id) if load is not None else session.scalar(_SPEC.params(id=pv.id))
        if len(_SPECS) >= 4096:
            _SPECS.clear()
        spec = _SPECS[key] = parse_spec(text)
    return spec


_SPEC = select(PolicyVersion.spec).where(PolicyVersion.id == bindparam("id"))


def decide_stored(
    session: Session, uscc: str, slug: str, as_of: dt.date, version: int | None = None
) -> tuple[Decision, PolicyVersion]:
    """Decide a stored enterprise under a policy version, as of a date (a look: nothing is recorded; a decision
    row is written only by a settlement, with its audit record)."""
    enterprise = session.scalar(select(Enterprise).where(Enterprise.uscc == uscc))
    if enterprise is None:
        raise NotFound(f"企业 {uscc} 不存在")
    pv = policy_version(session, slug, version)
    facts, sources = facts_as_of(session, enterprise, as_of)
    return decide(spec_of(pv), facts, as_of, sources), pv


def replay(session: Session, decision_id: int) -> Decision:
    """Decide again exactly as a recorded decision was made: same version, same as-of date."""
    row = session.get(DecisionRow, decision_id)
    if row is None:
        raise NotFound(f"决定 {decision_id} 不存在")
    pv = session.get(PolicyVersion, row.policy_version_id)
    enterprise = session.get(Enterprise, row.enterprise_id)
    facts, sources = facts_as_of(session, enterprise, row.as_of)
    return decide(spec_of(pv), facts, row.as_of, sources)


def explanation(session: Session, row: DecisionRow) -> Decision:
    """The decision a row records, with its explanation. An application's row keeps it rendered; a sweep's
    row keeps the verified facts it was decided on, and the explanation is rendered from them here by the
    same pure function (the same version, the same facts, the same date: the same decision)."""
    if row.trace or not row.facts:
        return Decision.from_json(
            {
                "policy_id": session.get(PolicyVersion, row.policy_version_id).spec["id"],
                "outcome": "eligible" if row.outcome == "refused" else row.outcome,
                "amount": f"{row.amount:.2f}" if row.amount is not None else None,
                "missing": row.missing or [],
                "as_of": row.as_of.isoformat(),
                "trace": row.trace or [],
                "steps": row.steps or [],
            }
        )
    facts = {name: catalog.load_value(name, text) for name, text in row.facts.items()}
    sources = {name: catalog.FIELDS[name].source for name in facts}
    return decide(spec_of(session.get(PolicyVersion, row.policy_version_id)), facts, row.as_of, sources)
