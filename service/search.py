"""Policy search in plain Chinese (issue 14): what the query says about the firm, the policies in force ranked
by their text, and those the firm it describes cannot meet left out, each with the reason.

One call, :func:`search_policies`, for the HTTP endpoint and anything else: the published policies' current
versions are read from the store, the query is understood (``models.query_understanding``), the policies
are ranked (``models.policy_search``: BM25 over jieba words, topic and target boosts), and each policy the
query found is decided for the described firm by the rule engine (``matcher.partial``: facts the query
does not give are unknown). A policy is left out only when it is not in force on the day or when no firm
the query describes can meet it; an undetermined one stays, with what the firm would still have to say.
Documented, with an evaluation, in docs/search.md.
"""

from __future__ import annotations

import datetime as dt
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field

from matcher import catalog
from matcher.catalog import tag_taxonomy
from matcher.partial import Partial, PartialDecision, decide_partial
from matcher.profiles import policy_targets
from matcher.spec import MODE_LABELS
from models.policy_search import (
    PolicyDoc,
    SearchIndex,
    asks,
    policy_document,
    policy_topics,
    query_terms,
    rank,
    unmatched,
)
from models.query_understanding import Understanding, understand
from service.errors import BadRequest

MAX_QUERY_CHARS = 200
MAX_LIMIT = 50
OUTCOME_LABELS = {
    "eligible": "按所述情况符合条件",
    "undetermined": "可能符合，还需核实",
    "not_eligible": "不符合条件",
}
LEFT_OUT_LABELS = {"not_in_force": "不在有效期内", "not_eligible": "所述企业不符合条件"}


@dataclass
class SearchResult:
    """A search's answer, JSON-ready through :meth:`to_json`."""

    query: str
    day: dt.date
    understanding: dict
    results: list[dict]
    left_out: list[dict]
    considered: int  # published policies searched
    found: int  # policies the query found before any was left out
    browse: bool  # the query only described the firm: every policy it may meet is a result
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        reasons: dict[str, int] = {}
        for item in self.left_out:
            reasons[item["reason"]] = reasons.get(item["reason"], 0) + 1
        return {
            "query": self.query,
            "day": self.day.isoformat(),
            "understanding": self.understanding,
            "considered": self.considered,
            "found": self.found,
            "browse": self.browse,
            "results": self.results,
            "left_out": {
                "count": len(self.left_out),
                "by_reason": [{"reason": r, "label": LEFT_OUT_LABELS[r], "count": n} for r, n in reasons.items()],
                "policies": self.left_out,
            },
            "notes": self.notes,
        }


def check_query(q) -> str:
    """The query, stripped, or :class:`BadRequest` with a Chinese detail."""
    if not isinstance(q, str):
        raise BadRequest("查询应为文本", field="q")
    for ch in q:
        if ch == "\x00":
            raise BadRequest("查询含有空字符（NUL）", field="q")
        category = unicodedata.category(ch)
        if category == "Cs":
            raise BadRequest("查询含有无效的 Unicode 字符（孤立的代理项）", field="q")
        if category == "Cc" and ch not in "\t\n\r":
            raise BadRequest(f"查询含有控制字符 U+{ord(ch):04X}", field="q")
    text = q.strip()
    if not text:
        raise BadRequest("请输入要搜索的内容，例如：成立两年的小型软件企业有什么研发补贴", field="q")
    if len(text) > MAX_QUERY_CHARS:
        raise BadRequest(f"查询过长：{len(text)} 个字符，最多 {MAX_QUERY_CHARS} 个", field="q")
    return text


def search_policies(engine, q: str, day: dt.date, limit: int = 10) -> SearchResult:
    """Search the published policies for ``q`` as of ``day`` (the day ages are counted to and validity is
    checked on); at most ``limit`` results, best first."""
    text = check_query(q)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"结果条数 limit 应为 1–{MAX_LIMIT} 的整数", field="limit")
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        raise TypeError("search_policies() needs the day to search as of: there is no hidden today")
    catalogue = _catalogue(engine)
    taxonomy = tag_taxonomy()
    home = tuple(sorted({p.spec.region for p in catalogue.policies}))
    u = understand(text, day, taxonomy, home)
    terms, dropped = query_terms(u)
    hits = rank(catalogue.index, u, terms, taxonomy)
    browse = not asks(u, terms, catalogue.index) and any(f.kind not in ("topic", "wish") for f in u.findings)
    partial = partial_of(u)
    kept, left_out = [], []
    found = 0
    for hit in hits:
        if not (hit.matched or browse):
            continue
        found += 1
        policy = catalogue.policies[hit.index]
        spec = policy.spec
        if not spec.valid_from <= day <= spec.valid_to:
            when = f"{spec.valid_from} 起施行" if day < spec.valid_from else f"已于 {spec.valid_to} 到期"
            left_out.append(_left(spec, "not_in_force", f"不在有效期内（{when}）", []))
            continue
        decision = decide_partial(spec, partial, day)
        if decision.outcome == "not_eligible":
            sentences = [leaf.sentence for leaf in decision.trace if leaf.outcome is False] or [
                leaf.sentence for leaf in decision.trace
            ]
            left_out.append(_left(spec, "not_eligible", "按所述情况不符合：" + "；".join(sentences), sentences))
            continue
        kept.append((hit, policy, decision))
    order = {"eligible": 0, "undetermined": 1}
    kept.sort(key=lambda k: (-k[0].score, order[k[2].outcome], k[1].slug))
    notes = []
    missed = unmatched(terms, catalogue.index)
    if missed:
        notes.append(f"没有政策提到：{'、'.join(missed)}")
    if not u.findings and not any(t.role == "ask" for t in terms):
        notes.append("未能识别出企业情况或政策主题：请说明企业的行业、规模、成立年限、所在区和想了解的支持方向")
    elif not kept and not left_out:
        notes.append("没有找到与查询相关的在用政策")
    understanding = {
        **u.as_dict(),
        "terms": [t.as_dict() for t in terms],
        "ignored": dropped,
        "facts": _facts_json(partial),
    }
    results = [_result(hit, policy, decision, taxonomy) for hit, policy, decision in kept[:limit]]
    return SearchResult(text, day, understanding, results, left_out, len(catalogue.policies), found, browse, notes)


# -- the described firm as the rule engine reads it -------------------------------------------------------


def partial_of(u: Understanding) -> Partial:
    """The firm the query describes, for :func:`matcher.partial.decide_partial`: the industries and regions it
    lies inside, the 成立日期, head count and revenue ranges, the scales it may be and the qualifications it
    holds; nothing else is known."""
    within, ranges, choices = {}, {}, {}
    if u.industries:
        within["industry"] = u.industries
    if u.regions:
        within["region"] = u.regions
    if u.established is not None:
        ranges["established_on"] = u.established
    for kind in ("employees", "revenue"):
        found = u.range_of(kind)
        if found is not None:
            ranges[kind] = found
    if u.scales:
        choices["scale"] = u.scales
    return Partial(within=within, ranges=ranges, choices=choices, held=u.held or None)


def _facts_json(p: Partial) -> list[dict]:
    """What the rule engine was told, by field (Chinese labels): the rest is unknown."""
    out = []
    for name, codes in p.within.items():
        out.append({"field": name, "label": catalog.FIELDS[name].label, "within": list(codes)})
    for name, (low, high) in p.ranges.items():
        shown = [None if v is None else str(v) for v in (low, high)]
        out.append({"field": name, "label": catalog.FIELDS[name].label, "range": shown})
    for name, options in p.choices.items():
        out.append({"field": name, "label": catalog.FIELDS[name].label, "one_of": list(options)})
    if p.held:
        label = catalog.FIELDS["qualifications"].label
        out.append({"field": "qualifications", "label": label, "holds": sorted(p.held)})
    return out


# -- the searched policies: read once per set of current versions ----------------------------------------


@dataclass(frozen=True)
class _Policy:
    slug: str
    spec: object


@dataclass(frozen=True)
class _Catalogue:
    policies: tuple[_Policy, ...]
    index: SearchIndex


_cache: OrderedDict = OrderedDict()
_lock = threading.Lock()


def _catalogue(engine) -> _Catalogue:
    """The published policies' current specs and their search index; the index is rebuilt only when a
    version or a topic tag changed."""
    from sqlalchemy import select

    from service.knowledge import _current_versions
    from service.ledger.facts import spec_of
    from service.store import tags as stored_tags
    from service.store.models import Policy, PolicyVersion

    current = (PolicyVersion.policy_id == Policy.id) & (PolicyVersion.version == Policy.current_version)
    stmt = select(Policy.id, Policy.slug, PolicyVersion.spec_hash).join(PolicyVersion, current)
    with engine.connect() as conn:
        heads = conn.execute(stmt.where(Policy.status == "published").order_by(Policy.slug)).all()
        tagged = stored_tags.effective(conn, "policy", [pid for pid, _, _ in heads])
    topics = {pid: tuple(sorted(t for t in tagged.get(pid, {}) if t.startswith("topic:"))) for pid, _, _ in heads}
    key = (str(engine.url), tuple((slug, spec_hash, topics[pid]) for pid, slug, spec_hash in heads))
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    with engine.connect() as conn:
        versions = _current_versions(conn, {pid for pid, _, _ in heads})
    policies, docs = [], []
    for pid, slug, pv in versions:
        spec = spec_of(pv)
        text = policy_document(spec.name, spec.target, spec.topics, spec.document, spec.source_text or "")
        policies.append(_Policy(slug, spec))
        docs.append(PolicyDoc(slug, text, policy_topics(text, topics[pid]), tuple(policy_targets(spec))))
    built = _Catalogue(tuple(policies), SearchIndex(docs))
    with _lock:
        _cache[key] = built
        while len(_cache) > 8:
            _cache.popitem(last=False)
    return built


# -- JSON ---------------------------------------------------------------------------------------------------


def _left(spec, reason: str, explanation: str, conditions: list[str]) -> dict:
    return {
        "policy_id": spec.id,
        "name": spec.name,
        "reason": reason,
        "explanation": explanation,
        "conditions": conditions,
    }


def _result(hit, policy: _Policy, decision: PartialDecision, taxonomy) -> dict:
    spec = policy.spec
    label = lambda tag: taxonomy[tag].label if tag in taxonomy else tag  # noqa: E731
    why = []
    if hit.words:
        why.append("文字匹配：" + "、".join(hit.words))
    if hit.topics:
        why.append("主题：" + "、".join(label(f"topic:{t}") for t in hit.topics))
    if hit.targets:
        why.append("面向：" + "、".join(label(t) for t in hit.targets))
    shown = decision.to_json()
    return {
        "policy_id": spec.id,
        "name": spec.name,
        "department": spec.department,
        "mode": spec.mode,
        "mode_label": MODE_LABELS[spec.mode],
        "valid_to": spec.valid_to.isoformat(),
        "score": round(hit.score, 4),
        "matched": {
            "words": hit.words,
            "topics": [{"code": t, "label": label(f"topic:{t}")} for t in hit.topics],
            "targets": [{"tag": t, "label": label(t)} for t in hit.targets],
            "parts": {"text": hit.text, "topic": hit.topic, "target": hit.target},
            "why": "；".join(why),
        },
        "decision": {
            "outcome": decision.outcome,
            "label": OUTCOME_LABELS[decision.outcome],
            "reasons": shown["reasons"],
            "missing": shown["missing"],
            "missing_labels": shown["missing_labels"],
            "depends_on": shown["split_labels"],
        },
    }


__all__ = ["SearchResult", "search_policies", "check_query", "partial_of", "MAX_QUERY_CHARS", "MAX_LIMIT"]
