"""The knowledge graph of 政策找人: enterprises, policies, tags, departments and documents, and how they join.

A networkx ``MultiDiGraph`` (edges keyed by kind, so two facts about one pair stay two edges). Nodes are
``enterprise:<统一社会信用代码>``, ``policy:<id>``, ``department:<name>``, ``document:<title>`` and the tag ids
of :mod:`graph.tags` (``industry:C39``). Every edge carries its ``kind`` (:data:`EDGE_KINDS`) and its
``source``: ``taxonomy`` (the official trees), ``rule`` (derived from facts or read from a policy's
conditions), ``model`` (with ``model_version``), ``officer`` (an analyst's correction), ``spec`` (what a
policy file states: its department, document, group and parent) or ``ledger`` / ``event`` (a payout, a
recorded payment). Built from the database by :mod:`service.knowledge`; changed one enterprise, policy or
payout at a time, never rebuilt for a change; saved with :data:`FORMAT` and refused when the format differs.
Documented in docs/graph.md.
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import networkx as nx

from graph.errors import GraphError
from graph.tags import Tag

FORMAT = 1

NODE_KINDS = {"enterprise": "企业", "policy": "政策", "tag": "标签", "department": "部门", "document": "政策文件"}
EDGE_KINDS = {
    "has_tag": "具有标签",  # enterprise -> tag (the most specific of each tree; ancestors through is_a)
    "targets": "面向",  # policy -> tag (``group``: one any-of requirement of its conditions, or None)
    "is_a": "属于",  # tag -> parent tag
    "issued_by": "发布部门",  # policy -> department
    "in_document": "出自文件",  # policy -> document
    "supplements": "配套",  # policy -> the measure it supplements
    "same_group": "同组（就高不重复）",  # policy <-> policy of one exclusive group
    "received": "已获支持",  # enterprise -> policy (``on``: the date, ``amount``: yuan)
}
EDGE_SOURCES = ("taxonomy", "rule", "model", "officer", "spec", "ledger", "event")


@dataclass(frozen=True, slots=True)
class TagEdge:
    """A tag as one source gives it (the enterprise's or the policy's)."""

    tag: str
    source: str = "rule"
    score: float | None = None
    model_version: str | None = None
    group: int | None = None  # policies only: the any-of requirement the tag belongs to


def enterprise_node(key: str) -> str:
    return f"enterprise:{key}"


def policy_node(key: str) -> str:
    return f"policy:{key}"


class KnowledgeGraph:
    """The graph and the few operations that keep it true as the register, the policies and the ledger change."""

    def __init__(self, taxonomy: dict[str, Tag], as_of: dt.date):
        self.g = nx.MultiDiGraph()
        self.taxonomy = taxonomy
        self.as_of = as_of  # the facts the enterprises' tags were derived from
        self.built_at = dt.datetime.now(dt.UTC)
        self.updated_at = self.built_at  # the last change read from the database (service.knowledge.refresh)
        self.changes = 0  # changes applied since the build
        self.marks: dict[str, int] = {}  # how far the builder read append-only sources (the last event id)
        for t in taxonomy.values():
            self.g.add_node(t.id, kind="tag", tag_kind=t.kind, label=t.label)
        for t in taxonomy.values():
            if t.parent:
                self.g.add_edge(t.id, t.parent, key="is_a", kind="is_a", source="taxonomy")

    # -- reading -------------------------------------------------------------------------------------------

    def nodes_of(self, kind: str) -> list[str]:
        return [n for n, k in self.g.nodes(data="kind") if k == kind]

    def edges_of(self, node: str, kind: str) -> list[tuple[str, dict]]:
        """``(target, attributes)`` of the node's outgoing edges of one kind."""
        if node not in self.g:
            return []
        return [(v, data) for _, v, k, data in self.g.out_edges(node, keys=True, data=True) if data["kind"] == kind]

    def tags_of(self, node: str) -> list[str]:
        kind = "has_tag" if node.startswith("enterprise:") else "targets"
        return sorted({v for v, _ in self.edges_of(node, kind)})

    def stats(self) -> dict:
        nodes: dict[str, int] = {}
        for _, k in self.g.nodes(data="kind"):
            nodes[k] = nodes.get(k, 0) + 1
        edges: dict[str, int] = {}
        for _, _, kind in self.g.edges(data="kind"):
            edges[kind] = edges.get(kind, 0) + 1
        return {"nodes": nodes, "edges": edges}

    # -- changes -------------------------------------------------------------------------------------------

    def set_enterprise(
        self,
        key: str,
        *,
        name: str,
        tags: list[TagEdge],
        known: frozenset[str] = frozenset(),
        established_on: dt.date | None = None,
    ) -> None:
        """Add or replace an enterprise: its attributes and its has-tag edges (its receipts are kept).

        Only the most specific tag of each tree becomes an edge; the ancestors are one ``is_a`` walk away.
        ``known``: the tag kinds whose facts are known (a firm known to hold no qualification has none of
        those tags, and candidates may rely on it)."""
        node = enterprise_node(key)
        if node in self.g:
            for _, v, k in list(self.g.out_edges(node, keys=True)):
                if k.startswith("has_tag|"):
                    self.g.remove_edge(node, v, key=k)
        self.g.add_node(node, kind="enterprise", name=name, known=frozenset(known), established_on=established_on)
        for edge in self._most_specific(tags):
            self._check_tag(edge.tag)
            self.g.add_edge(node, edge.tag, key=f"has_tag|{edge.source}", **_attrs("has_tag", edge))
        self.changes += 1

    def set_policy(
        self,
        key: str,
        *,
        name: str,
        mode: str,
        valid_from: dt.date,
        valid_to: dt.date,
        published_on: dt.date | None,
        department: str | None = None,
        document: str | None = None,
        document_number: str | None = None,
        supplement_of: str | None = None,
        exclusive_group: str | None = None,
        targets: list[TagEdge] = (),
    ) -> None:
        """Add or replace a policy's attributes and edges (receipts of it are kept)."""
        node = policy_node(key)
        if node in self.g:
            for u, v, k in list(self.g.out_edges(node, keys=True)) + [
                (u, v, k) for u, v, k in self.g.in_edges(node, keys=True) if k == "same_group"
            ]:
                if not k.startswith("received"):
                    self.g.remove_edge(u, v, key=k)
        self.g.add_node(
            node,
            kind="policy",
            name=name,
            mode=mode,
            valid_from=valid_from,
            valid_to=valid_to,
            published_on=published_on,
            department=department,
            exclusive_group=exclusive_group,
        )
        for edge in targets:
            self._check_tag(edge.tag)
            key_ = f"targets|{edge.source}|{edge.group if edge.group is not None else '-'}"
            self.g.add_edge(node, edge.tag, key=key_, **_attrs("targets", edge), group=edge.group)
        if department:
            self.g.add_node(f"department:{department}", kind="department", name=department)
            self.g.add_edge(node, f"department:{department}", key="issued_by", kind="issued_by", source="spec")
        if document:
            doc = f"document:{document}"
            self.g.add_node(doc, kind="document", name=document, number=document_number)
            self.g.add_edge(node, doc, key="in_document", kind="in_document", source="spec")
        if supplement_of:
            parent = policy_node(supplement_of)
            if parent not in self.g:
                self.g.add_node(parent, kind="policy", name=supplement_of, missing=True)
            self.g.add_edge(node, parent, key="supplements", kind="supplements", source="spec")
        if exclusive_group:
            for other, group in self.g.nodes(data="exclusive_group"):
                if group == exclusive_group and other != node:
                    self.g.add_edge(node, other, key="same_group", kind="same_group", source="spec")
                    self.g.add_edge(other, node, key="same_group", kind="same_group", source="spec")
        self.changes += 1

    def add_received(
        self, enterprise: str, policy: str, on: dt.date, amount: Decimal | None = None, *, source: str = "ledger"
    ) -> None:
        """A firm received a policy's support on a date (one edge per date: annual measures repeat)."""
        u, v = enterprise_node(enterprise), policy_node(policy)
        for node in (u, v):
            if node not in self.g:
                raise GraphError(f"图中没有 {node}：请先加入该企业或政策")
        self.g.add_edge(u, v, key=f"received|{on.isoformat()}", kind="received", source=source, on=on, amount=amount)
        self.changes += 1

    def remove(self, node: str) -> None:
        if node in self.g:
            self.g.remove_node(node)
            self.changes += 1

    def most_specific(self, tags: list[str]) -> list[str]:
        """The tags an enterprise with ``tags`` (ancestors included or not) has edges to: the most specific of
        each tree, as :meth:`set_enterprise` keeps them."""
        return [e.tag for e in self._most_specific([TagEdge(t, "rule") for t in tags])]

    def _most_specific(self, tags: list[TagEdge]) -> list[TagEdge]:
        """Drop a tag that is an ancestor of another tag given (the chain is in the taxonomy already)."""
        named = {e.tag for e in tags}
        covered = set()
        for t in named:
            parent = self.taxonomy[t].parent if t in self.taxonomy else None
            while parent:
                covered.add(parent)
                parent = self.taxonomy[parent].parent
        seen, out = set(), []
        for e in tags:
            if e.tag not in covered and (e.tag, e.source) not in seen:
                seen.add((e.tag, e.source))
                out.append(e)
        return out

    def _check_tag(self, tag: str) -> None:
        if tag not in self.taxonomy:
            raise GraphError(f"标签 {tag!r} 不在标签体系中")

    # -- files ---------------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write atomically (a reader never sees half a file). A pickle: load only files this deployment wrote."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "format": FORMAT,
            "as_of": self.as_of,
            "built_at": self.built_at,
            "updated_at": self.updated_at,
            "changes": self.changes,
            "marks": self.marks,
            "taxonomy": self.taxonomy,
            "graph": self.g,
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".graph-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:  # plain pickle: joblib's search for arrays costs 10× on a graph
                pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    @classmethod
    def load(cls, path: str | Path) -> KnowledgeGraph:
        path = Path(path)
        if not path.exists():
            raise GraphError(f"知识图谱文件 {path} 不存在：请先运行 zhida graph build")
        try:
            with path.open("rb") as fh:  # the deployment's own file: never load one from elsewhere
                state = pickle.load(fh)
        except Exception as e:  # a truncated or foreign file
            why = type(e).__name__
            raise GraphError(f"知识图谱文件 {path} 无法读取（{why}）：请重新运行 zhida graph build") from None
        if not isinstance(state, dict) or "format" not in state:
            raise GraphError(f"{path} 不是 zhida 的知识图谱文件")
        if state["format"] != FORMAT:
            found = state["format"]
            raise GraphError(
                f"知识图谱文件 {path} 的格式版本为 {found}，本程序读取版本 {FORMAT}：请重新运行 zhida graph build"
            )
        kg = cls.__new__(cls)
        kg.g, kg.taxonomy, kg.as_of = state["graph"], state["taxonomy"], state["as_of"]
        kg.built_at, kg.updated_at, kg.changes = state["built_at"], state["updated_at"], state["changes"]
        kg.marks = state["marks"]
        return kg


def _attrs(kind: str, edge: TagEdge) -> dict:
    out = {"kind": kind, "source": edge.source}
    if edge.score is not None:
        out["score"] = edge.score
    if edge.model_version:
        out["model_version"] = edge.model_version
    return out
