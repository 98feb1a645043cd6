"""The match list (政策找人 for one enterprise): what ``GET /v1/enterprises/{uscc}/matches`` and ``POST
/v1/match`` return. Read-only: nothing is written, a profile is neither stored nor logged.

Each candidate — a policy in force on the day that the graph does not rule out (docs/graph.md) — comes with
the scorer's score and place (the serving snapshot, :mod:`service.serving`), the rule decision with its
explained trace (:func:`matcher.decision.decide`; a supplement with its parent, :func:`matcher.settlement.
decide_unit`), the amount — decided, or the formula's estimate for a firm that does not qualify yet
(:func:`matcher.progress.estimate`) — with its steps, the handling mode, the deadline and the graph's reasons
(:mod:`graph.explain`). The score only orders the list; the decision alone says whether the firm qualifies,
and a listed firm (失信, 经营异常) is refused whatever it says (``refused``).

Pages: ``limit`` items (1–100, default 20) in the snapshot's order (score, then policy id); ``next_cursor``
resumes strictly after the last one given, so pages of one order never repeat or skip a policy. A cursor
belongs to one snapshot and one query (subject and filters): another is a ``BadRequest``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

from graph.explain import explain, explain_profile
from graph.tags import BENEFIT_LABELS
from matcher.decision import Decision, decide
from matcher.progress import estimate
from matcher.registry import with_derived
from matcher.settlement import Unit, decide_unit, refusal
from matcher.spec import BENEFIT_TYPES, MODE_LABELS
from service import cursors
from service.errors import BadRequest
from service.knowledge import OUTCOME_LABELS
from service.outcomes import subject_digest
from service.subjects import Subject, graph_tags, profile_subject, stored_subject

DEFAULT_LIMIT, MAX_LIMIT = 20, 100
FILTERS = ("decision", "mode", "benefit_type", "topic", "department")


@dataclass(frozen=True)
class Query:
    """Checked filters (each a set of accepted values: empty accepts all) and the page size."""

    decision: tuple[str, ...] = ()
    mode: tuple[str, ...] = ()
    benefit_type: tuple[str, ...] = ()
    topic: tuple[str, ...] = ()
    department: tuple[str, ...] = ()
    limit: int = DEFAULT_LIMIT

    def filters(self) -> dict:
        return {name: list(getattr(self, name)) for name in FILTERS if getattr(self, name)}


@dataclass
class MatchItem:
    policy_id: str
    name: str
    position: int  # 1-based, in the whole filtered list
    score: float
    decision: str  # eligible | not_eligible | undetermined
    decision_label: str
    refused: str | None  # why the firm is refused whatever the rules say (失信, 经营异常), or None
    trace: list[str]  # the conditions that decided it, in Chinese
    conditions: list[dict]  # the same, for machines: field, value, threshold, outcome, gap (matcher.engine.Leaf)
    missing: list[str]  # the facts to declare (undetermined)
    missing_labels: list[str]
    note: str
    amount: str | None  # yuan, two places
    amount_basis: str | None  # decided (eligible) | estimate (the formula on the facts known) | None
    amount_steps: list[str]
    policy: dict  # mode, benefit type, department, topics, deadline, group, supplement (policy_json)
    graph: dict  # why it is worth a look: sentence and paths (graph.explain)


@dataclass
class MatchPage:
    subject: dict
    as_of: str
    scorer: dict  # name, label, warning (no promoted model: the baseline)
    filters: dict
    total: int  # candidates passing the filters
    decisions: dict  # candidates passing the other filters, by decision
    limit: int
    items: list[MatchItem] = field(default_factory=list)
    next_cursor: str | None = None

    def to_json(self) -> dict:
        """As JSON: the members hold JSON values already (no deep copy, unlike ``dataclasses.asdict``)."""
        return {**vars(self), "items": [dict(vars(i)) for i in self.items]}


def matches(
    serving,
    engine,
    uscc: str,
    *,
    decision=None,
    mode=None,
    benefit_type=None,
    topic=None,
    department=None,
    limit=None,
    cursor: str | None = None,
    secret: bytes | str | None = None,
    encode=None,
):
    """A stored enterprise's candidate policies, ranked, decided on its facts of ``serving.day``, explained.

    Filters take a value, a comma-separated text or a list (codes or Chinese labels). Raises ``BadRequest``
    (naming the field) for a malformed uscc, a bad filter, limit or cursor; ``NotFound`` for an enterprise the
    register does not hold. With ``encode`` (``MatchPage`` → bytes), the encoded page is returned, and kept by
    the snapshot for the same question on the same facts (:meth:`service.serving.Serving.page`)."""
    query = parse_query(serving, decision=decision, mode=mode, benefit_type=benefit_type, topic=topic,
                        department=department, limit=limit)  # fmt: skip
    subject = stored_subject(engine, uscc, serving.day)

    def make() -> MatchPage:
        ranked = serving.ranking(subject.uscc)
        if ranked is None:  # registered since the graph was built: featured now, from its own facts
            month = stored_subject(engine, subject.uscc, serving.snapshot.day).verified  # as the snapshot reads them
            ranked = serving.rank_guest(guest_of(serving, subject, month))
        return _page(serving, subject, ranked, query, cursor, secret)

    if encode is None:
        return make()
    facts = (subject_digest(subject.facts), subject_digest(subject.verified))
    return serving.page((subject.key, facts, query, cursor), lambda: encode(make()))


def match_profile(
    serving,
    profile: dict,
    *,
    decision=None,
    mode=None,
    benefit_type=None,
    topic=None,
    department=None,
    limit=None,
    cursor: str | None = None,
    secret: bytes | str | None = None,
    encode=None,
):
    """:func:`matches` for a profile in the catalog's fields that is not stored (its facts taken as given).

    Raises ``BadRequest`` for an unknown, derived or missing field (``profile.NAME``) and as :func:`matches`
    for the filters, limit and cursor; ``Unprocessable`` for a value the catalog refuses."""
    query = parse_query(serving, decision=decision, mode=mode, benefit_type=benefit_type, topic=topic,
                        department=department, limit=limit)  # fmt: skip
    subject = profile_subject(profile, serving.day)  # its key is a digest of its facts

    def make() -> MatchPage:
        return _page(serving, subject, serving.rank_guest(guest_of(serving, subject)), query, cursor, secret)

    return make() if encode is None else serving.page((subject.key, query, cursor), lambda: encode(make()))


def guest_of(serving, subject: Subject, facts: dict | None = None):
    """The subject as the serving snapshot features a firm it does not hold (``service.ranking.Guest``):
    ``facts`` (default: its verified facts) are what the month's snapshot reads of it."""
    from matcher.columnar import Table
    from service.ranking import Guest

    tags, known = graph_tags(subject, serving.day)
    profile = serving.index.profile(serving.kg.most_specific(tags), known, key=subject.key)  # as a stored firm's
    facts = subject.verified if facts is None else facts
    table = Table.from_records([facts], serving.snapshot.day)
    return Guest(subject.key, profile, table, (str(facts["industry"])[:3], str(facts["region"])))


# -- the page ------------------------------------------------------------------------------------------------


def _page(serving, subject: Subject, ranked, query: Query, cursor, secret) -> MatchPage:
    policies, scores = ranked
    specs = serving.specs
    keep = [i for i, slug in enumerate(policies) if slug in specs and _passes(serving, slug, query)]
    outcomes, decisions = outcomes_of(serving, subject, [policies[i] for i in keep])
    counts = Counter(outcomes[policies[i]] for i in keep)
    if query.decision:
        keep = [i for i in keep if outcomes[policies[i]] in query.decision]
    digest = _digest(subject, query)
    start = 0
    if cursor is not None:
        after = _resume(cursors.decode(cursor, secret), serving.key, digest)
        start = next((j for j, i in enumerate(keep) if (-scores[i], policies[i]) > after), len(keep))
    shown = keep[start : start + query.limit]
    unexplained = [policies[i] for i in shown if policies[i] not in decisions]
    if unexplained:  # the page's decisions with their traces (the same outcomes: the same facts, the same engine)
        decisions.update(decide_all(subject, unexplained, specs, serving.day))
    refused = refusal(subject.facts)
    tags = None if subject.in_store and serving.ranking(subject.uscc) is not None else graph_tags(subject, serving.day)
    items = []
    for j, i in enumerate(shown):
        slug = policies[i]
        why = _graph(serving, subject, slug, tags)
        items.append(item(serving, subject, slug, decisions[slug], start + j + 1, float(scores[i]), refused, why))
    next_cursor = None
    if start + len(shown) < len(keep) and shown:
        last = shown[-1]
        payload = {"v": 1, "s": serving.key, "q": digest, "k": [float(scores[last]), policies[last]]}
        next_cursor = cursors.encode(payload, secret)
    return MatchPage(
        subject=subject.to_json(),
        as_of=serving.day.isoformat(),
        scorer={"name": serving.scorer.name, "label": serving.scorer.label, "warning": serving.scorer.warning},
        filters=query.filters(),
        total=len(keep),
        decisions={k: counts.get(k, 0) for k in OUTCOME_LABELS},
        limit=query.limit,
        items=items,
        next_cursor=next_cursor,
    )


def outcomes_of(serving, subject: Subject, slugs: list[str]) -> tuple[dict[str, str], dict[str, Decision]]:
    """The outcome of each policy for the subject, and the decisions made for it now. A stored firm whose facts
    are the ones the snapshot decided on (``service.outcomes``) takes the snapshot's outcomes, and only its
    supplements are decided now; any other subject has every policy decided now."""
    known = serving.outcomes.of(subject) if getattr(serving, "outcomes", None) is not None else None
    if known is None:
        decided = decide_all(subject, slugs, serving.specs, serving.day)
        return {slug: d.outcome for slug, d in decided.items()}, decided
    rest = [slug for slug in slugs if slug not in known]
    decided = decide_all(subject, rest, serving.specs, serving.day) if rest else {}
    return {slug: known[slug] if slug in known else decided[slug].outcome for slug in slugs}, decided


def _resume(payload: dict, serving_key: str, digest: str) -> tuple[float, str]:
    """Where a cursor resumes: after ``(-score, policy id)`` of the last item given."""
    key = payload.get("k")
    if payload.get("v") != 1 or not isinstance(key, list) or len(key) != 2:
        raise BadRequest("cursor 无效：请使用上一页返回的 next_cursor，或去掉 cursor 从第一页开始", field="cursor")
    score, slug = key
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not isinstance(slug, str):
        raise BadRequest("cursor 无效：请使用上一页返回的 next_cursor，或去掉 cursor 从第一页开始", field="cursor")
    if payload.get("s") != serving_key:
        raise BadRequest("cursor 所属的排序已更新（新的一天、新的排序模型或图谱）：请去掉 cursor 从第一页开始",
                         field="cursor")  # fmt: skip
    if payload.get("q") != digest:
        raise BadRequest("cursor 属于另一次查询（企业或筛选条件不同）：请去掉 cursor 从第一页开始", field="cursor")
    return (-float(score), slug)


def _digest(subject: Subject, query: Query) -> str:
    text = json.dumps([subject.key, query.filters()], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _graph(serving, subject: Subject, slug: str, tags) -> dict:
    if tags is None:  # a stored firm the graph holds: its own edges (and receipts)
        return explain(serving.kg, subject.uscc, slug, serving.idf).to_json()
    node = f"enterprise:{subject.uscc}" if subject.uscc else "enterprise:?"
    leaf = serving.kg.most_specific(tags[0])
    return explain_profile(serving.kg, leaf, slug, serving.idf, enterprise_node_id=node).to_json()


def decide_all(subject: Subject, slugs: list[str], specs: dict, day: dt.date) -> dict[str, Decision]:
    """The rule decision of each policy for the subject on ``day``: a 免申即享 measure on the verified facts,
    the others on those that count; a supplement (配套) with its parent, as its payout would be decided."""
    out: dict[str, Decision] = {}
    for slug in slugs:
        spec = specs[slug]
        if not spec.supplement_of or spec.supplement_of not in specs:
            facts, sources = subject.facts_for(spec)
            out[slug] = decide(spec, facts, day, sources)
    for slug in slugs:
        spec = specs[slug]
        if spec.supplement_of and spec.supplement_of in specs:
            parent = specs[spec.supplement_of]
            facts, sources = subject.facts_for(spec)
            root = out.get(parent.id) if parent.mode == spec.mode else None
            out[slug] = decide_unit(Unit(parent, (spec,)), facts, day, sources, root=root)[1]
    return out


def item(serving, subject: Subject, slug: str, decision: Decision, position: int, score: float, refused, why):
    spec = serving.specs[slug]
    amount, steps, basis = decision.amount, decision.steps, "decided"
    if decision.outcome != "eligible":
        amount, steps, basis = None, (), None
        if not spec.supplement_of:  # a supplement's amount is its parent's business
            facts, _ = subject.facts_for(spec)
            amount, steps = estimate(spec, with_derived(facts, serving.day), serving.day)
            basis = "estimate" if amount is not None else None
    return MatchItem(
        policy_id=slug,
        name=spec.name,
        position=position,
        score=score,
        decision=decision.outcome,
        decision_label=OUTCOME_LABELS[decision.outcome],
        refused=refused,
        trace=[leaf.sentence for leaf in decision.trace],
        conditions=[leaf.to_json() for leaf in decision.trace],
        missing=list(decision.missing),
        missing_labels=decision.missing_labels,
        note=decision.note,
        amount=f"{amount:.2f}" if amount is not None else None,
        amount_basis=basis,
        amount_steps=[s.sentence for s in steps],
        policy=policy_json(serving, slug),
        graph=why,
    )


def policy_json(serving, slug: str) -> dict:
    """What a match shows of the policy: how it is handled, what it gives, who issues it, until when."""
    spec = serving.specs[slug]
    closes = serving.deadlines.get(slug)
    deadline = min(closes, spec.valid_to) if closes else spec.valid_to
    return {
        "mode": spec.mode,
        "mode_label": MODE_LABELS[spec.mode],
        "benefit_type": spec.benefit_type,
        "benefit_label": BENEFIT_LABELS.get(spec.benefit_type, spec.benefit_type),
        "department": spec.department,
        "topics": sorted(_topics(serving, slug)),
        "valid_from": spec.valid_from.isoformat(),
        "valid_to": spec.valid_to.isoformat(),
        "application_deadline": closes.isoformat() if closes else None,
        "deadline": deadline.isoformat(),
        "days_left": (deadline - serving.day).days,
        "exclusive_group": spec.exclusive_group,
        "supplement_of": spec.supplement_of,
    }


# -- filters -------------------------------------------------------------------------------------------------


def parse_query(serving, *, decision=None, mode=None, benefit_type=None, topic=None, department=None, limit=None):
    """The filters and page size checked: ``BadRequest`` naming the parameter for a value it does not take."""
    return Query(
        decision=_choice(decision, "decision", OUTCOME_LABELS),
        mode=_choice(mode, "mode", MODE_LABELS),
        benefit_type=_choice(benefit_type, "benefit_type", {b: BENEFIT_LABELS.get(b, b) for b in BENEFIT_TYPES}),
        topic=_known(topic, "topic", lambda: _all_topics(serving), "政策主题"),
        department=_known(department, "department", lambda: _departments(serving), "发布部门"),
        limit=_limit(limit),
    )


def _passes(serving, slug: str, q: Query) -> bool:
    spec = serving.specs[slug]
    return (
        (not q.mode or spec.mode in q.mode)
        and (not q.benefit_type or spec.benefit_type in q.benefit_type)
        and (not q.department or spec.department in q.department)
        and (not q.topic or not _topics(serving, slug).isdisjoint(q.topic))
    )


def _topics(serving, slug: str) -> set[str]:
    """The policy's topics: its spec's own words, and the graph's topic tags (the tagger's, an officer's) by
    code and by label."""
    out = set(serving.specs[slug].topics)
    node = f"policy:{slug}"
    if node in serving.kg.g:
        for tag, _ in serving.kg.edges_of(node, "targets"):
            if tag.startswith("topic:"):
                out |= {tag.split(":", 1)[1], serving.kg.taxonomy[tag].label}
    return out


def _all_topics(serving) -> list[str]:
    """Every topic a filter may name: the policies' and the taxonomy's (a topic no policy has yet gives none)."""
    tax = serving.kg.taxonomy
    named = {part for t in tax if t.startswith("topic:") for part in (t.split(":", 1)[1], tax[t].label)}
    return sorted(named.union(*(_topics(serving, slug) for slug in serving.specs)))


def _departments(serving) -> list[str]:
    return sorted({spec.department for spec in serving.specs.values()})


def _values(raw, name: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, (list, tuple)) or not all(isinstance(x, str) for x in items):
        raise BadRequest(f"参数 {name} 应为文本（多个值以逗号分隔）", field=name)
    return tuple(dict.fromkeys(x.strip() for x in items if x.strip()))


def _choice(raw, name: str, choices: dict[str, str]) -> tuple[str, ...]:
    by_label = {label: code for code, label in choices.items()}
    out = []
    for value in _values(raw, name):
        code = value if value in choices else by_label.get(value)
        if code is None:
            allowed = "、".join(f"{c}（{label}）" for c, label in choices.items())
            raise BadRequest(f"参数 {name} 的值 {_short(value)!r} 无效：可用 {allowed}", field=name)
        out.append(code)
    return tuple(out)


def _known(raw, name: str, listed, what: str) -> tuple[str, ...]:
    values = _values(raw, name)
    known = listed() if values else []
    for value in values:
        if value not in known:
            shown = "、".join(known[:12]) + ("等" if len(known) > 12 else "")
            raise BadRequest(f"参数 {name} 的值 {_short(value)!r} 不是已知的{what}（例如：{shown}）", field=name)
    return values


def _limit(raw) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    wanted = f"参数 limit 应为 1 到 {MAX_LIMIT} 之间的整数"
    try:
        if isinstance(raw, (bool, float)):
            raise ValueError
        value = raw if isinstance(raw, int) else int(str(raw).strip())
    except ValueError:
        raise BadRequest(f"{wanted}（收到 {_short(str(raw))!r}）", field="limit") from None
    if not 1 <= value <= MAX_LIMIT:
        raise BadRequest(f"{wanted}（收到 {value}）", field="limit")
    return value


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:40] + "…"
