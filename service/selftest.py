"""自测 (self-test): one enterprise — stored, or a profile not stored — against one policy, read-only.

Which conditions it meets, which it does not and by how much (还差 20万元), which the data leave open and what
to declare for them (by the field's Chinese label), and the amount it would get: decided when it qualifies,
else the formula's estimate on the facts known. Every part comes from the decision core: the decision
(:func:`service.matching.decide_all`, the match list's), the per-condition progress (:func:`matcher.progress.
rule_progress`, the same engine, one top-level condition at a time) and the distance as the explanation
writes it (:func:`matcher.explain.distance_of`). Nothing is written; a profile is neither stored nor logged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from matcher import catalog
from matcher.explain import distance_of
from matcher.progress import rule_progress
from matcher.settlement import refusal
from service.errors import BadRequest, NotFound
from service.knowledge import OUTCOME_LABELS
from service.matching import decide_all, policy_json
from service.subjects import Subject, profile_subject, stored_subject


@dataclass
class SelfTest:
    subject: dict
    as_of: str
    policy_id: str
    name: str
    policy: dict  # as in a match: mode, benefit type, department, deadline … (service.matching.policy_json)
    in_force: bool  # valid on the day (a self-test may look at a policy not open yet, or closed)
    decision: str
    decision_label: str
    refused: str | None  # 失信, 经营异常: refused whatever the rules say
    summary: str
    met: list[dict] = field(default_factory=list)  # sentence, field, label
    not_met: list[dict] = field(default_factory=list)  # … value, threshold, gap (exact), distance (还差 20万元)
    unknown: list[dict] = field(default_factory=list)  # sentence, field, label
    to_declare: list[dict] = field(default_factory=list)  # for the conditions and the amount: field, label, how
    trace: list[str] = field(default_factory=list)  # the decision's own explanation
    note: str = ""
    amount: str | None = None  # yuan, two places
    amount_basis: str | None = None  # decided | estimate | None
    amount_steps: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def self_test(serving, engine, policy_id: str, *, uscc: str | None = None, profile: dict | None = None) -> SelfTest:
    """Self-test a stored enterprise (``uscc``) or a profile (``profile``: catalog fields) against a published
    policy, on the facts of ``serving.day``.

    Raises ``BadRequest`` when neither or both of ``uscc`` and ``profile`` are given, for a malformed uscc and
    for a bad profile field (as :func:`service.matching.match_profile`); ``NotFound`` for an enterprise the
    register does not hold or a policy that is not published; ``Unprocessable`` for a profile value the catalog
    refuses."""
    if (uscc is None) == (profile is None):
        raise BadRequest("自测须给出企业（uscc）或企业画像（profile）之一", field="uscc")
    spec = serving.specs.get(policy_id) if isinstance(policy_id, str) else None
    if spec is None:
        raise NotFound(f"政策 {policy_id} 不存在或未发布", field="policy_id")
    day = serving.day
    subject = stored_subject(engine, uscc, day) if uscc is not None else profile_subject(profile, day)
    facts, sources = subject.facts_for(spec)
    decision = decide_all(subject, [spec.id], serving.specs, day)[spec.id]
    progress = rule_progress(spec, facts, day, sources, decision=decision)
    leaves = [*progress.met_leaves, *progress.leaves]
    p = progress
    summary = f"共 {p.total} 项条件：已满足 {p.met} 项，未满足 {p.unmet} 项，待补充信息 {p.unknown} 项"
    basis = None
    if progress.amount is not None:
        basis = "decided" if decision.outcome == "eligible" else "estimate"
    return SelfTest(
        subject=subject.to_json(),
        as_of=day.isoformat(),
        policy_id=spec.id,
        name=spec.name,
        policy=policy_json(serving, spec.id),
        in_force=spec.valid_from <= day <= spec.valid_to,
        decision=decision.outcome,
        decision_label=OUTCOME_LABELS[decision.outcome],
        refused=refusal(subject.facts),
        summary=summary,
        met=[_leaf(leaf) for leaf in leaves if leaf.outcome is True],
        not_met=[_unmet(leaf) for leaf in leaves if leaf.outcome is False],
        unknown=[_leaf(leaf) for leaf in leaves if leaf.outcome is None],
        to_declare=[_declare(subject, spec, name) for name in sorted({*progress.missing, *decision.missing})],
        trace=[leaf.sentence for leaf in decision.trace],
        note=decision.note,
        amount=f"{progress.amount:.2f}" if progress.amount is not None else None,
        amount_basis=basis,
        amount_steps=[s.sentence for s in progress.steps],
    )


def _leaf(leaf) -> dict:
    return {"sentence": leaf.sentence, "field": leaf.field, "label": leaf.label}


def _unmet(leaf) -> dict:
    found = distance_of(leaf.sentence)
    return {
        **_leaf(leaf),
        "value": leaf.value,
        "threshold": leaf.threshold,
        "gap": leaf.gap,
        "distance": " ".join(found) if found else None,
    }


def _declare(subject: Subject, spec, name: str) -> dict:
    """A fact the rules need and the data do not give: who provides it, and whether the firm may declare it."""
    f = catalog.FIELDS[name]
    source = catalog.SOURCES.get(f.source, f.source)
    declarable = spec.mode != "automatic" and name in spec.declarable
    if subject.kind == "profile":
        how = f"请在企业画像中提供{f.label}"
    elif declarable:
        how = f"请在申报时填报{f.label}（信用承诺）"
    elif spec.mode == "automatic":
        how = f"{f.label}须由{source}部门提供：数据到位后自动核验，无需申请"
    else:
        how = f"{f.label}须由{source}部门提供，本政策不接受自主申报"
    return {"field": name, "label": f.label, "source": f.source, "source_label": source, "declarable": declarable,
            "how": how}  # fmt: skip
