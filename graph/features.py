"""Candidates and graph features for (enterprise, policy) pairs, from a snapshot of the graph as of a date.

:class:`FeatureIndex` turns a :class:`~graph.knowledge.KnowledgeGraph` into sparse matrices once, so that one
enterprise against a thousand policies is a handful of matrix slices, and many enterprises at once (training)
are the same slices batched. Only what was known on ``as_of`` is used: policies published by then, payouts
received by then, so that training never sees the future. Documented in docs/graph.md.

Features (one value per candidate policy, NaN where it does not apply):

- ``tag_overlap``: IDF-weighted share of the policy's enterprise-kind targets the firm holds (ancestors count:
  a 制造业 target is met by a C3911 firm); ``tag_overlap_idf``: the weighted sum itself.
- ``industry_closeness`` / ``region_closeness``: how far down the official tree the firm and the policy's
  nearest target agree (1: the firm is inside the target; 0: not even the same 门类 / province; NaN: the
  policy names no industry / region).
- ``ppr``: personalised PageRank from the firm (its tags and the policies it received) over the tag / policy /
  department / document graph, with policies joined by the firms that received both.
- ``peers_received`` / ``peers_received_share``: firms of the same 大类 and scale (the firm itself left out)
  that received the policy, and their share of the group.
- ``department_history``: payouts the firm received from the policy's department before.
- ``received_before``: payouts of this policy the firm received before.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from graph.knowledge import KnowledgeGraph, enterprise_node, policy_node
from graph.taxonomy import regions

FEATURES = (
    "tag_overlap",
    "tag_overlap_idf",
    "industry_closeness",
    "region_closeness",
    "ppr",
    "peers_received",
    "peers_received_share",
    "department_history",
    "received_before",
)
PROFILE_KINDS = ("industry", "region", "scale", "age", "qualification", "ownership")  # what a firm can hold
ALWAYS_KNOWN = ("industry", "region")  # every registered firm has them
ALPHA = 0.15  # restart probability of the personalised PageRank
PPR_STEPS = 20  # power iterations: the error after k steps is at most (1 - ALPHA) ** k ≈ 4 %
CO_RECEIPT_NEIGHBOURS = 20  # policies each policy is joined to by common recipients


@dataclass
class Profile:
    """An enterprise as the index sees it: a stored one, or a profile sent to be matched and not stored."""

    tags: np.ndarray  # indexes of its tags with all their ancestors
    known: frozenset[str]  # tag kinds whose facts are known
    region: str | None
    received: list[tuple[int, dt.date]] = field(default_factory=list)  # (policy index, date), as of the index
    group: tuple[str | None, str | None] = (None, None)  # peers: (大类 tag, scale tag)
    key: str | None = None


class FeatureIndex:
    """Sparse views of the graph as of a date; cheap to query, updated in place by the graph's changes."""

    def __init__(self, kg: KnowledgeGraph, as_of: dt.date, shared: dict | None = None):
        """``shared``: a dict kept by the caller across indexes of one unchanging graph at several dates (a
        training run's monthly snapshots): what does not depend on the date (a firm's tags expanded, its
        receipts) is read from the graph once."""
        self.kg, self.as_of = kg, as_of
        self._shared = shared
        tags = list(kg.taxonomy)
        self.tag_ix = {t: i for i, t in enumerate(tags)}
        self.tag_kind = np.array([kg.taxonomy[t].kind for t in tags])
        self._chains = {}
        self._build_policies()
        self._build_enterprises()
        self._ppr_matrix = None
        self._ppr_rows = None

    # -- building ----------------------------------------------------------------------------------------

    def chain(self, tag: str) -> list[str]:
        """The tag and its ancestors, root first."""
        found = self._chains.get(tag)
        if found is None:
            out, t = [], tag
            while t is not None:
                out.append(t)
                t = self.kg.taxonomy[t].parent
            found = self._chains[tag] = out[::-1]
        return found

    def _build_policies(self) -> None:
        kg, day = self.kg, self.as_of
        keys = []
        for node, data in kg.g.nodes(data=True):
            if data.get("kind") != "policy" or data.get("missing"):
                continue
            published = data.get("published_on")
            if data["valid_from"] > day and (published is None or published > day):
                continue  # neither in force nor announced on the snapshot's date
            keys.append(node)
        keys.sort()
        self.policies = [k.split(":", 1)[1] for k in keys]
        self.pol_ix = {k: i for i, k in enumerate(self.policies)}
        n, n_tags = len(keys), len(self.tag_ix)
        self.valid_from = np.array([kg.g.nodes[k]["valid_from"] for k in keys], dtype="datetime64[D]")
        self.valid_to = np.array([kg.g.nodes[k]["valid_to"] for k in keys], dtype="datetime64[D]")
        self.mode = np.array([kg.g.nodes[k]["mode"] for k in keys], dtype=object)
        departments = sorted({kg.g.nodes[k].get("department") or "" for k in keys})
        self.dept_ix = {d: i for i, d in enumerate(departments)}
        self.dept = np.array([self.dept_ix[kg.g.nodes[k].get("department") or ""] for k in keys], dtype=np.int64)

        overlap_rows, overlap_cols = [], []
        closeness = {"industry": ([], [], [], []), "region": ([], [], [], [])}  # rows, cols, values, policy
        groups: dict[tuple[int, int], list[str]] = {}
        for p, node in enumerate(keys):
            seen = set()
            for tag, data in kg.edges_of(node, "targets"):
                kind = kg.taxonomy[tag].kind
                if data.get("group") is not None and data["source"] == "rule":
                    groups.setdefault((p, data["group"]), []).append(tag)
                if kind not in PROFILE_KINDS or tag in seen:
                    continue
                seen.add(tag)
                overlap_rows.append(p)
                overlap_cols.append(self.tag_ix[tag])
                if kind in closeness:
                    rows, cols, vals, pols = closeness[kind]
                    target = len(pols)
                    chain = self.chain(tag)
                    for t in chain:
                        rows.append(target)
                        cols.append(self.tag_ix[t])
                        vals.append(1.0 / len(chain))
                    pols.append(p)
        self.targets = sp.csc_matrix(
            (np.ones(len(overlap_rows)), (overlap_rows, overlap_cols)), shape=(n, n_tags), dtype=np.float64
        )
        self.closeness = {}
        for kind, (rows, cols, vals, pols) in closeness.items():
            m = sp.csc_matrix((vals, (rows, cols)), shape=(len(pols), n_tags))
            self.closeness[kind] = (m, np.array(pols, dtype=np.int64))
        # the any-of requirements of the conditions: a firm known to hold none of a group's tags is out
        self.req_policy = np.array([p for p, _ in groups], dtype=np.int64)
        self.req_kind = np.array([self.kg.taxonomy[tags[0]].kind for tags in groups.values()], dtype=object)
        self.req_tags = list(groups.values())
        rows = [i for i, tags in enumerate(groups.values()) for _ in tags]
        cols = [self.tag_ix[t] for tags in groups.values() for t in tags]
        self.req = sp.csc_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(groups), n_tags))
        self.req_region = [i for i, k in enumerate(self.req_kind) if k == "region"]
        self._region_cache: dict[str, np.ndarray] = {}

    def _build_enterprises(self) -> None:
        kg, day = self.kg, self.as_of
        self.profiles: dict[str, Profile] = {}
        self.df = np.zeros(len(self.tag_ix), dtype=np.float64)
        self.group_size: Counter = Counter()
        self.group_received: dict[tuple, np.ndarray] = {}
        self.co_receipt = np.zeros((len(self.policies), len(self.policies)), dtype=np.float32)
        for node, data in kg.g.nodes(data=True):
            if data.get("kind") == "enterprise":
                if data.get("established_on") is not None and data["established_on"] > day:
                    continue  # not yet registered on the snapshot's date
                self._add_profile(self.profile_of_node(node))
        self._ppr_matrix = None

    def profile_of_node(self, node: str) -> Profile:
        found = self._shared.get(node) if self._shared is not None else None
        if found is None:
            kg, data = self.kg, self.kg.g.nodes[node]
            leaf = [t for t, _ in kg.edges_of(node, "has_tag")]
            receipts = [(target.split(":", 1)[1], edge["on"]) for target, edge in kg.edges_of(node, "received")]
            found = (self.profile(leaf, data.get("known", frozenset()), (), key=node.split(":", 1)[1]), receipts)
            if self._shared is not None:
                self._shared[node] = found
        undated, receipts = found
        received = [(self.pol_ix[slug], on) for slug, on in receipts if slug in self.pol_ix and on <= self.as_of]
        return replace(undated, received=received)

    def profile(
        self, tags: list[str], known: frozenset[str] = frozenset(), received=(), key: str | None = None
    ) -> Profile:
        """A profile from tag ids (ancestors added here) and ``(policy index, date)`` receipts."""
        expanded = sorted({self.tag_ix[t] for tag in tags for t in self.chain(tag)})
        kinds = {self.kg.taxonomy[t].kind for t in tags}
        region = next((t.split(":", 1)[1] for t in tags if t.startswith("region:")), None)
        industry = next((self.chain(t)[1] for t in tags if t.startswith("industry:") and len(self.chain(t)) > 1), None)
        scale = next((t for t in tags if t.startswith("scale:")), None)
        return Profile(
            tags=np.array(expanded, dtype=np.int64),
            known=frozenset(known) | kinds | frozenset(ALWAYS_KNOWN),
            region=region,
            received=list(received),
            group=(industry, scale),
            key=key,
        )

    def _add_profile(self, prof: Profile, sign: int = 1) -> None:
        if sign > 0:
            self.profiles[prof.key] = prof
        self.df[prof.tags] += sign
        self.group_size[prof.group] += sign
        got = {p for p, _ in prof.received}
        if got:
            counts = self.group_received.setdefault(prof.group, np.zeros(len(self.policies), dtype=np.int64))
            counts[list(got)] += sign
            idx = np.array(sorted(got))
            self.co_receipt[np.ix_(idx, idx)] += sign
            self._ppr_matrix = None

    # -- changes -----------------------------------------------------------------------------------------

    def update_enterprise(self, key: str) -> None:
        """Re-read one enterprise from the graph (its tags, receipts), or drop it if the graph has none."""
        old = self.profiles.pop(key, None)
        if self._shared is not None:
            self._shared.pop(enterprise_node(key), None)  # the graph changed: read it again
        if old is not None:
            self._add_profile(old, -1)
        node = enterprise_node(key)
        if node in self.kg.g:
            self._add_profile(self.profile_of_node(node))

    def update_policies(self) -> None:
        """After a policy is added, changed or retired: the policy views and every profile are rebuilt (policies
        change rarely; an enterprise's change is :meth:`update_enterprise`, one firm)."""
        self._build_policies()
        self._build_enterprises()

    # -- queries -----------------------------------------------------------------------------------------

    @property
    def idf(self) -> np.ndarray:
        n = max(len(self.profiles), 1)
        return np.log((1.0 + n) / (1.0 + self.df)) + 1.0

    def live(self, day: dt.date | None = None) -> np.ndarray:
        d = np.datetime64(day or self.as_of, "D")
        return (self.valid_from <= d) & (self.valid_to >= d)

    def candidates(self, prof: Profile, day: dt.date | None = None, modes=None) -> np.ndarray:
        """Indexes of the policies worth ranking for the firm: valid on the day, of the modes asked, and
        with no requirement of their conditions that the firm is known not to meet (region by the same
        scope test the rule engine makes; industry, scale and qualifications by the tags)."""
        ok = self.live(day)
        if modes:
            ok &= np.isin(self.mode, list(modes))
        if len(self.req_policy):
            hits = np.asarray(self.req[:, prof.tags].sum(axis=1)).ravel() > 0
            if prof.region is not None and self.req_region:
                hits[self.req_region] = self._region_hits(prof.region)
            known = np.array([k in prof.known for k in self.req_kind], dtype=bool)
            out = self.req_policy[~hits & known]
            ok[out] = False
        return np.flatnonzero(ok)

    def _region_hits(self, region: str) -> np.ndarray:
        found = self._region_cache.get(region)
        if found is None:
            tree = regions()
            found = np.array(
                [any(tree.is_within(region, t.split(":", 1)[1]) for t in self.req_tags[i]) for i in self.req_region],
                dtype=bool,
            )
            self._region_cache[region] = found
        return found

    def features(
        self, prof: Profile, policies: np.ndarray, ppr: np.ndarray | None = None, views: dict | None = None
    ) -> dict[str, np.ndarray]:
        """The features of :data:`FEATURES` for the firm and each policy index given (``ppr``: the firm's row
        of a batched :meth:`ppr`; ``views``: its row of :meth:`tag_views`, when the caller did many firms at
        once)."""
        views = self.tag_views([prof], 0) if views is None else views
        held, total = views["held"], views["total"]
        out = {
            "tag_overlap": np.divide(held, total, out=np.full_like(held, np.nan), where=total > 0)[policies],
            "tag_overlap_idf": held[policies],
        }
        for kind, (_, pols) in self.closeness.items():
            best = np.full(len(self.policies), np.nan)
            np.fmax.at(best, pols, views[kind])
            out[f"{kind}_closeness"] = best[policies]
        out["ppr"] = (self.ppr([prof])[0] if ppr is None else ppr)[policies]
        own = np.zeros(len(self.policies))
        dept = np.zeros(len(self.dept_ix))
        for p, _ in prof.received:
            own[p] += 1
            dept[self.dept[p]] += 1
        group = self.group_received.get(prof.group)
        peers = (group if group is not None else np.zeros(len(self.policies))) - (own > 0)
        size = self.group_size.get(prof.group, 0) - (1 if prof.key in self.profiles else 0)
        out["peers_received"] = peers[policies].astype(np.float64)
        out["peers_received_share"] = peers[policies] / size if size > 0 else np.full(len(policies), np.nan)
        out["department_history"] = dept[self.dept[policies]]
        out["received_before"] = own[policies]
        return out

    def tag_views(self, profiles: list[Profile], row: int | None = None):
        """What the firms' tags meet of every policy, batched as one sparse product: ``held`` (IDF weight of
        the policy's targets the firm holds, firm × policy), ``total`` (the policy's whole weight) and, per
        closeness kind, each target's closeness (firm × target). ``row``: that firm's row alone, as a dict."""
        idf = self.idf
        cols = np.concatenate([p.tags for p in profiles]) if profiles else np.zeros(0, dtype=np.int64)
        firm = np.repeat(np.arange(len(profiles)), [len(p.tags) for p in profiles])
        has = sp.csr_matrix((np.ones(len(cols)), (firm, cols)), shape=(len(profiles), len(self.tag_ix)))
        out = {"held": (has @ sp.diags(idf) @ self.targets.T).toarray(), "total": self.targets @ idf}
        for kind, (m, _) in self.closeness.items():
            out[kind] = (has @ m.T).toarray()
        if row is None:
            return out
        return {k: (v if k == "total" else v[row]) for k, v in out.items()}

    # -- personalised PageRank ---------------------------------------------------------------------------

    def _transition(self) -> sp.csr_matrix:
        """Column-stochastic transitions over tags, policies, departments and documents (undirected)."""
        if self._ppr_matrix is not None:
            return self._ppr_matrix
        kg, n_tags = self.kg, len(self.tag_ix)
        index = dict(self.tag_ix)
        for p in self.policies:
            index[policy_node(p)] = len(index)
        rows, cols, vals = [], [], []

        def link(u: str, v: str, w: float = 1.0) -> None:
            if u in index and v in index:
                rows.extend((index[u], index[v]))
                cols.extend((index[v], index[u]))
                vals.extend((w, w))

        for t in kg.taxonomy.values():
            if t.parent:
                link(t.id, t.parent)
        for p in self.policies:
            node = policy_node(p)
            for v, data in kg.g[node].items():
                for kind in {d["kind"] for d in data.values()}:
                    if kind in ("targets", "supplements", "same_group"):
                        link(node, v)
                    elif kind in ("issued_by", "in_document"):
                        index.setdefault(v, len(index))
                        link(node, v)
        co = self.co_receipt.copy()
        np.fill_diagonal(co, 0)
        if co.any():
            k = min(CO_RECEIPT_NEIGHBOURS, len(self.policies) - 1)
            top = np.argpartition(-co, k, axis=1)[:, :k] if k > 0 else np.zeros((len(co), 0), dtype=int)
            scale = co.max()
            for p, neighbours in enumerate(top):
                for q in neighbours:
                    if co[p, q] > 0:
                        rows.append(n_tags + q)
                        cols.append(n_tags + p)
                        vals.append(float(co[p, q] / scale))
        n = len(index)
        a = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
        degree = np.asarray(a.sum(axis=0)).ravel()
        degree[degree == 0] = 1.0
        self._ppr_matrix = (a @ sp.diags(1.0 / degree)).tocsr()
        self._ppr_rows = None
        self._ppr_size = n
        return self._ppr_matrix

    def ppr(self, profiles: list[Profile]) -> np.ndarray:
        """Personalised PageRank of every policy for each firm: ``(len(profiles), n_policies)``.

        ``PPR_STEPS`` power iterations from a restart vector ``r`` are a fixed linear map ``x = A r``; only the
        policies' rows of ``A`` are read, so they are computed once per transition matrix by running the same
        iterations on ``Tᵀ`` from the policies (:meth:`_policy_rows`), and each firm is one sparse dot product."""
        rows = self._policy_rows()
        n_tags = len(self.tag_ix)
        idf = self.idf
        r_rows, r_cols, r_vals = [], [], []
        for j, prof in enumerate(profiles):
            if len(prof.tags):
                w = idf[prof.tags] / idf[prof.tags].sum() * (0.5 if prof.received else 1.0)
                r_rows.extend(prof.tags.tolist())
                r_cols.extend([j] * len(prof.tags))
                r_vals.extend(w.tolist())
            if prof.received:
                got = sorted({p for p, _ in prof.received})
                r_rows.extend(n_tags + p for p in got)
                r_cols.extend([j] * len(got))
                r_vals.extend([(0.5 if len(prof.tags) else 1.0) / len(got)] * len(got))
        restart = sp.csc_matrix((r_vals, (r_rows, r_cols)), shape=(self._ppr_size, len(profiles)))
        return np.asarray(restart.T @ rows.T)

    def _policy_rows(self) -> np.ndarray:
        """The policies' rows of the PageRank map ``A = α Σ_{i<K} ((1-α)T)^i + ((1-α)T)^K`` (``x_K`` after
        ``K`` steps of ``x ← α r + (1-α) T x`` from ``x_0 = r``), as ``(n_policies, n_nodes)``."""
        t = self._transition()
        if self._ppr_rows is None:
            n_tags, n_pol = len(self.tag_ix), len(self.policies)
            z = np.zeros((self._ppr_size, n_pol))
            z[n_tags + np.arange(n_pol), np.arange(n_pol)] = 1.0
            tt = t.T.tocsr()
            total = np.zeros_like(z)
            for _ in range(PPR_STEPS):
                total += ALPHA * z
                z = (1 - ALPHA) * (tt @ z)
            self._ppr_rows = (total + z).T
        return self._ppr_rows

    def rank_hint(self, prof: Profile, policies: np.ndarray) -> np.ndarray:
        """A graph-only order of candidates (overlap, then PageRank) for callers that have no ranker yet."""
        f = self.features(prof, policies)
        overlap = np.nan_to_num(f["tag_overlap"], nan=0.0)
        return policies[np.lexsort((-f["ppr"], -overlap))]
