"""The knowledge graph from the database: built once (``zhida graph build``), then kept current by changes.

Enterprises' tags are derived from their verified facts as of the graph's date (``matcher.profiles``: the
same facts a sweep decides on) plus the model's and officers' tags in ``enterprise_tags``; a policy's targets
are read from its conditions (``matcher.profiles.policy_targets``) plus its tags in ``policy_tags`` (topics
from the tagger, corrections) and its mode and benefit type; received edges come from the payouts in the
ledger (not cancelled or failed) and the recorded ``paid`` events. :func:`refresh` applies what changed since
the last build or refresh, one enterprise, policy or payout at a time, with no rebuild.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy import func, select

from graph.knowledge import KnowledgeGraph, TagEdge
from matcher.catalog import tag_taxonomy
from matcher.facts import pick
from matcher.profiles import derived_tags, known_kinds, policy_targets, table_tags
from service.ledger.facts import spec_of, typed_facts
from service.store import rosters_on_record
from service.store import tags as stored_tags
from service.store.models import Enterprise, Event, FieldValue, Payout, Policy, PolicyVersion

RECEIVED_STATUSES = ("decided", "sent", "confirmed")  # held, failed and cancelled payouts were not received
Progress = Callable[[str, int, int], None]


def default_path() -> Path:
    from service.settings import settings

    return Path(settings().models_dir) / "graph.pickle"


def build(engine, as_of: dt.date | None = None, progress: Progress | None = None) -> KnowledgeGraph:
    """The whole graph from the database, enterprises' tags as their facts stood on ``as_of`` (today)."""
    from service.ledger.sweeps import verified_table

    say = progress or (lambda stage, done, total: None)
    as_of = as_of or dt.date.today()
    started = dt.datetime.now(dt.UTC)
    kg = KnowledgeGraph(tag_taxonomy(), as_of)
    with engine.connect() as conn:
        versions = _current_versions(conn)
        model_policy_tags = stored_tags.effective(conn, "policy")
    say("policies", 0, len(versions))
    for i, (pid, slug, pv) in enumerate(versions):
        _set_policy(kg, slug, pv, model_policy_tags.get(pid, {}))
        say("policies", i + 1, len(versions))

    say("enterprises", 0, 1)
    table, ids = verified_table(engine, as_of)
    with engine.connect() as conn:
        register = {
            r.id: r
            for r in conn.execute(select(Enterprise.id, Enterprise.uscc, Enterprise.name, Enterprise.established_on))
        }
        extra = stored_tags.effective(conn, "enterprise")
    rows = table_tags(table)
    for i, (eid, (tags, known)) in enumerate(zip(ids, rows, strict=True)):
        r = register[eid]
        kg.set_enterprise(
            r.uscc,
            name=r.name,
            tags=_enterprise_edges(tags, extra.get(eid, {})),
            known=known,
            established_on=r.established_on,
        )
        if i % 10_000 == 9_999:
            say("enterprises", i + 1, len(ids))
    say("enterprises", len(ids), len(ids))

    with engine.connect() as conn:
        receipts = list(_receipts(conn, kg))
    say("received", 0, len(receipts))
    known_policies = {f"policy:{slug}" for _, slug, _ in versions}
    for uscc, slug, on, amount, source in receipts:
        if f"policy:{slug}" in known_policies and f"enterprise:{uscc}" in kg.g:
            kg.add_received(uscc, slug, on, amount, source=source)
    say("received", len(receipts), len(receipts))
    kg.built_at = kg.updated_at = started
    kg.changes = 0
    return kg


def refresh(kg: KnowledgeGraph, engine, since: dt.datetime | None = None) -> dict[str, int]:
    """Apply what changed in the database since ``since`` (the graph's last update): enterprises whose
    register entry, facts or tags changed; policies published or retagged; new payouts and paid events.
    Returns how many of each were applied."""
    since = since or kg.updated_at
    started = dt.datetime.now(dt.UTC)
    with engine.connect() as conn:
        changed_ents = set(conn.scalars(select(Enterprise.id).where(Enterprise.updated_at > since)))
        changed_ents |= set(conn.scalars(select(FieldValue.enterprise_id).where(FieldValue.recorded_at > since)))
        changed_ents |= stored_tags.recorded_since(conn, "enterprise", since)
        changed_pols = set(conn.scalars(select(PolicyVersion.policy_id).where(PolicyVersion.published_at > since)))
        changed_pols |= set(conn.scalars(select(Policy.id).where(Policy.status != "published")))
        changed_pols |= stored_tags.recorded_since(conn, "policy", since)
        receipts = list(_receipts(conn, kg, since))
    counts = {"enterprises": 0, "policies": 0, "received": 0}
    if changed_pols:
        counts["policies"] = update_policies(kg, engine, changed_pols)
    if changed_ents:
        counts["enterprises"] = update_enterprises(kg, engine, changed_ents)
    for uscc, slug, on, amount, source in receipts:
        if f"policy:{slug}" in kg.g and f"enterprise:{uscc}" in kg.g:
            kg.add_received(uscc, slug, on, amount, source=source)
            counts["received"] += 1
    kg.updated_at = started
    return counts


def update_enterprises(kg: KnowledgeGraph, engine, enterprise_ids: Iterable[int]) -> int:
    """Re-derive some enterprises' tags from their facts now on record (one round trip for all of them)."""
    ids = list(enterprise_ids)
    with engine.connect() as conn:
        ents = {r.id: r for r in conn.execute(select(Enterprise).where(Enterprise.id.in_(ids)))}
        rows: dict[int, list] = {i: [] for i in ids}
        fv = FieldValue
        for r in conn.execute(
            select(fv.enterprise_id, fv.field, fv.value, fv.source, fv.as_of, fv.recorded_at, fv.id).where(
                fv.enterprise_id.in_(ids)
            )
        ):
            rows[r[0]].append(tuple(r[1:]))
        rosters = rosters_on_record(conn)
        extra = stored_tags.effective(conn, "enterprise", ids)
    from matcher.facts import close

    for eid in ids:
        e = ents.get(eid)
        if e is None:  # deleted from the register
            continue
        current = close(pick(rows[eid], kg.as_of, verified_only=True), rosters, kg.as_of)
        facts, _ = typed_facts(current, e, kg.as_of)
        kg.set_enterprise(
            e.uscc,
            name=e.name,
            tags=_enterprise_edges(derived_tags(facts, kg.as_of), extra.get(eid, {})),
            known=known_kinds(facts),
            established_on=e.established_on,
        )
    return len(ents)


def update_policies(kg: KnowledgeGraph, engine, policy_ids: Iterable[int]) -> int:
    """Re-read some policies (a new version, a retirement, new tags)."""
    ids = set(policy_ids)
    with engine.connect() as conn:
        current = {pid: (slug, pv) for pid, slug, pv in _current_versions(conn, ids)}
        slugs = dict(conn.execute(select(Policy.id, Policy.slug).where(Policy.id.in_(ids))).all())
        extra = stored_tags.effective(conn, "policy", ids)
    for pid in ids:
        if pid in current:
            slug, pv = current[pid]
            _set_policy(kg, slug, pv, extra.get(pid, {}))
        elif pid in slugs:  # retired or back to draft: no longer a policy to match
            kg.remove(f"policy:{slugs[pid]}")
    return len(ids)


# -- reading the store ---------------------------------------------------------------------------------


def _current_versions(conn, ids: set[int] | None = None) -> list[tuple[int, str, PolicyVersion]]:
    stmt = (
        select(Policy.id, Policy.slug, PolicyVersion)
        .join(PolicyVersion, (PolicyVersion.policy_id == Policy.id) & (PolicyVersion.version == Policy.current_version))
        .where(Policy.status == "published")
        .order_by(Policy.slug)
    )
    if ids is not None:
        stmt = stmt.where(Policy.id.in_(ids))
    from sqlalchemy.orm import Session

    with Session(bind=conn) as session:
        return [(pid, slug, pv) for pid, slug, pv in session.execute(stmt)]


def _set_policy(kg: KnowledgeGraph, slug: str, pv: PolicyVersion, tagged: dict) -> None:
    spec = spec_of(pv)
    targets = [TagEdge(tag, "rule", group=group) for tag, group in policy_targets(spec)]
    targets += [TagEdge(f"mode:{spec.mode}", "rule"), TagEdge(f"benefit:{spec.benefit_type}", "rule")]
    named = {e.tag for e in targets}
    for tag, how in tagged.items():  # the tagger's topics and targets, officers' corrections
        if tag not in named or how["source"] != "rule":
            targets.append(TagEdge(tag, how["source"], how["score"], how["model_version"]))
    published = pv.published_at.date() if pv.published_at is not None else None
    kg.set_policy(
        slug,
        name=spec.name,
        mode=spec.mode,
        valid_from=spec.valid_from,
        valid_to=spec.valid_to,
        published_on=published,
        department=spec.department,
        document=spec.document,
        document_number=spec.document_number,
        supplement_of=spec.supplement_of,
        exclusive_group=spec.exclusive_group,
        targets=[t for t in targets if t.tag in kg.taxonomy],
    )


def _enterprise_edges(tags: list[str], extra: dict) -> list[TagEdge]:
    edges = [TagEdge(t, "rule") for t in tags]
    for tag, how in extra.items():
        if how["source"] != "rule" and tag in tag_taxonomy():
            edges.append(TagEdge(tag, how["source"], how["score"], how["model_version"]))
    return edges


def _receipts(conn, kg: KnowledgeGraph, since: dt.datetime | None = None):
    """``(uscc, policy id, date, amount, source)`` of the payouts received (since a time) and the recorded
    payments not read yet. Events are imported with their own past dates, so new ones are found by id: the
    graph keeps the highest it read (``kg.marks["event"]``)."""
    pay = (
        select(Enterprise.uscc, Policy.slug, Payout.created_at, Payout.amount)
        .join(Enterprise, Enterprise.id == Payout.enterprise_id)
        .join(Policy, Policy.id == Payout.policy_id)
        .where(Payout.status.in_(RECEIVED_STATUSES))
    )
    if since is not None:
        pay = pay.where(Payout.created_at > since)
    for uscc, slug, at, amount in conn.execute(pay):
        yield uscc, slug, _day(at), amount, "ledger"
    ev = (
        select(Enterprise.uscc, Policy.slug, Event.occurred_at)
        .join(Enterprise, Enterprise.id == Event.enterprise_id)
        .join(Policy, Policy.id == Event.policy_id)
        .where(Event.kind == "paid")
    )
    last = kg.marks.get("event", 0)
    kg.marks["event"] = conn.scalar(select(func.coalesce(func.max(Event.id), 0)))
    for uscc, slug, at in conn.execute(ev.where(Event.id > last, Event.id <= kg.marks["event"])):
        yield uscc, slug, _day(at), None, "event"


def _day(at) -> dt.date:
    return at.date() if isinstance(at, dt.datetime) else dt.date.fromisoformat(str(at)[:10])


# -- explanations --------------------------------------------------------------------------------------

OUTCOME_LABELS = {"eligible": "符合", "not_eligible": "不符合", "undetermined": "待补充信息后确定"}


def explain_match(engine, kg: KnowledgeGraph, uscc: str, slug: str, as_of: dt.date, idf=None) -> dict:
    """Why the policy was put before the firm (the graph's paths and sentence) and whether it qualifies (the
    decision core's explained trace, over its facts as of ``as_of``): the two told together, never mixed —
    only the rules decide."""
    from graph.explain import explain
    from service.ledger.facts import decide_stored
    from service.store import session_scope

    graph_part = explain(kg, uscc, slug, idf)
    with session_scope(engine) as session:
        decision, _ = decide_stored(session, uscc, slug, as_of)
    rule = [leaf.sentence for leaf in decision.trace]
    verdict = OUTCOME_LABELS.get(decision.outcome, decision.outcome)
    if decision.outcome == "eligible" and decision.amount is not None:
        verdict += f"，预计可获 {decision.amount:,.2f} 元"
    text = f"{graph_part.sentence}规则核验：{verdict}。" + ("依据：" + "；".join(rule) + "。" if rule else "")
    return {
        "policy_id": slug,
        "sentence": text,
        "graph": graph_part.to_json(),
        "decision": {
            "outcome": decision.outcome,
            "amount": None if decision.amount is None else f"{decision.amount:.2f}",
            "missing": list(decision.missing),
            "trace": rule,
        },
    }
