"""Why a policy fits an enterprise, from the graph: the paths that join them, said as one Chinese sentence.

A path is enterprise —has_tag→ tag —is_a→ … → tag ←targets— policy (what the firm is meets what the policy
is for), or enterprise —received→ policy —issued_by→ department ←issued_by— policy (the department knows the
firm), or peers that received the policy. The most meaningful come first: a rare tag (high IDF) says more
than a common one, and a requirement of the conditions more than a mention. The decision core's trace is
added by the caller (``service.knowledge.explain_match``): the graph says why the policy is worth a look,
the rules say whether the firm qualifies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graph.knowledge import KnowledgeGraph, enterprise_node, policy_node

ORDER = ("region", "scale", "age", "qualification", "ownership", "industry")  # as 面向…企业 reads
FIRM_ORDER = ("industry", "region", "scale", "age", "qualification", "ownership")  # as 贵企业… reads


@dataclass(frozen=True)
class Path:
    nodes: tuple[str, ...]
    kinds: tuple[str, ...]  # the edge kinds along the path
    weight: float  # how much it says (the matched tag's IDF; history and peers a fixed share)
    text: str  # the clause it gives


@dataclass
class Explanation:
    sentence: str
    paths: list[Path] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "sentence": self.sentence,
            "paths": [{"nodes": list(p.nodes), "edges": list(p.kinds), "text": p.text} for p in self.paths],
        }


def explain(kg: KnowledgeGraph, enterprise: str, policy: str, idf: dict[str, float] | None = None) -> Explanation:
    """The paths between a stored enterprise and a policy, best first, and the sentence they make."""
    e = enterprise_node(enterprise)
    leaf = [t for t, _ in kg.edges_of(e, "has_tag")]
    return explain_profile(kg, leaf, policy, idf, enterprise_node_id=e)


def explain_profile(
    kg: KnowledgeGraph,
    tags: list[str],
    policy: str,
    idf: dict[str, float] | None = None,
    enterprise_node_id: str = "enterprise:?",
) -> Explanation:
    """As :func:`explain`, for a profile given by its tags (a firm not stored)."""
    tax, p = kg.taxonomy, policy_node(policy)
    weight = idf or {}
    chains = {t: _chain(kg, t) for t in tags}
    held = {a: t for t, chain in chains.items() for a in chain}  # each tag the firm has, via which leaf
    targets: dict[str, list[tuple[str, bool]]] = {}
    groups: dict[str, list[str]] = {}
    for tag, data in kg.edges_of(p, "targets"):
        targets.setdefault(tax[tag].kind, []).append((tag, data.get("group") is not None))
        if data.get("group") is not None:
            groups.setdefault(tag, [])
            groups[tag] = [t for t, d in kg.edges_of(p, "targets") if d.get("group") == data["group"]]

    paths: list[Path] = []
    firm_says: dict[str, str] = {}
    policy_says: dict[str, str] = {}
    for kind in ORDER:
        met = [(t, required) for t, required in targets.get(kind, ()) if t in held]
        if not met:
            continue
        target, required = max(met, key=lambda m: (m[1], len(_chain(kg, m[0]))))
        via = held[target]
        chain = _chain(kg, via)
        hops = tuple(chain[chain.index(target) :][::-1])  # leaf up to the target
        firm_says[kind] = _firm_clause(kg, kind, via)
        if kind in ("scale", "age") and len(groups.get(target, ())) > 1:  # 面向中型、小型、微型企业
            policy_says[kind] = "、".join(_policy_label(kg, kind, t, via) for t in groups[target])
        else:
            policy_says[kind] = _policy_label(kg, kind, target, via)
        w = weight.get(target, 1.0) * (2.0 if required else 1.0)
        paths.append(
            Path(
                (enterprise_node_id, *hops, p),
                ("has_tag", *(["is_a"] * (len(hops) - 1)), "targets"),
                w,
                f"{firm_says[kind]}，本政策面向{policy_says[kind]}",
            )
        )
    paths += _history(kg, enterprise_node_id, p)
    paths.sort(key=lambda x: -x.weight)

    name = kg.g.nodes[p].get("name", policy) if p in kg.g else policy
    if firm_says:
        firm = "，".join(firm_says[k] for k in FIRM_ORDER if k in firm_says)
        who = "".join(policy_says[k] for k in ORDER if k in policy_says and k != "industry")
        industry = policy_says.get("industry", "")
        sentence = f"贵企业{firm}，本政策（{name}）面向{who}{industry}企业"
    else:
        sentence = f"本政策（{name}）不限贵企业所在的地区、行业与规模"
    extra = [x.text for x in paths if x.kinds[0] != "has_tag"][:2]
    if extra:
        sentence += "；" + "；".join(extra)
    return Explanation(sentence + "。", paths)


def _chain(kg: KnowledgeGraph, tag: str) -> list[str]:
    out, t = [], tag
    while t is not None:
        out.append(t)
        t = kg.taxonomy[t].parent
    return out[::-1]


def _code(tag: str) -> str:
    return tag.split(":", 1)[1]


def _firm_clause(kg: KnowledgeGraph, kind: str, leaf: str) -> str:
    tax = kg.taxonomy
    if kind == "industry":
        chain = _chain(kg, leaf)
        major = chain[1] if len(chain) > 1 else chain[0]  # 大类: how people name an industry
        return f"属于 {_code(major)} {tax[major].label}"
    if kind == "region":
        return f"位于{tax[leaf].label}"
    if kind == "scale":
        return f"为{tax[leaf].label}企业" if not tax[leaf].label.endswith("企业") else f"为{tax[leaf].label}"
    if kind == "qualification":
        return f"已取得{tax[leaf].label}资质"
    return tax[leaf].label


def _policy_label(kg: KnowledgeGraph, kind: str, target: str, via: str) -> str:
    tax = kg.taxonomy
    if kind == "region":
        return "该区" if target == via and _code(target)[4:] != "00" else tax[target].label
    if kind == "industry":
        return tax[target].label.removesuffix("业") if tax[target].label.endswith("制造业") else tax[target].label
    if kind == "scale":
        return tax[target].label.removesuffix("企业")
    if kind == "qualification":
        return tax[target].label
    return tax[target].label


def _history(kg: KnowledgeGraph, e: str, p: str) -> list[Path]:
    """The department's history with the firm, and the firm's own earlier receipts of this policy."""
    if e not in kg.g or p not in kg.g:
        return []
    out = []
    department = next((d for d, _ in kg.edges_of(p, "issued_by")), None)
    got = kg.edges_of(e, "received")
    same = [q for q, _ in got if q == p]
    if same:
        out.append(Path((e, p), ("received",), 0.5, f"贵企业此前已获得本政策支持 {len(same)} 次"))
    if department:
        from_dept = sorted({q for q, _ in got if q != p and department in {d for d, _ in kg.edges_of(q, "issued_by")}})
        if from_dept:
            names = "、".join(f"《{kg.g.nodes[q].get('name', q)}》" for q in from_dept[:2])
            more = f"等 {len(from_dept)} 项" if len(from_dept) > 2 else ""
            out.append(
                Path(
                    (e, from_dept[0], department, p),
                    ("received", "issued_by", "issued_by"),
                    0.8,
                    f"贵企业曾获得{kg.g.nodes[department]['name']}的{names}{more}支持",
                )
            )
    return out
