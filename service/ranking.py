"""The ranker's features from the store, the same way for training and for serving.

A query (an enterprise, a policy, a time) is featured from a **snapshot** taken before it: the graph's
feature index, the verified facts and the rule progress as of the first day of the query's month, and the
events strictly before the query's time. Training features past queries from the snapshots of their months;
serving features today's candidates from today's snapshot — one code path (:func:`feature_matrix`), one
schema (``models.features``), so what the model learnt from is what it is served. A firm the snapshot does not
hold (a profile to match, :class:`Guest`) is featured by the same parts (:func:`guest_features`).
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, String, Text, cast, func, select, type_coerce

from graph.features import FeatureIndex
from graph.knowledge import KnowledgeGraph
from matcher.progress import progress_columns
from models import taste
from models.features import (
    FEATURES,
    SCALE_ORDER,
    SERVED_RANK,
    TASTE,
    assemble,
    engagement,
    log1p_or_nan,
    text_similarity,
)
from service.ledger.facts import spec_of
from service.store.models import Enterprise, Event, Policy

MODE_COLUMNS = {"automatic": "mode_automatic", "instant": "mode_instant", "review": "mode_review"}


def snapshot_day(at: pd.Timestamp | dt.datetime | dt.date) -> dt.date:
    """The snapshot a query at ``at`` is featured from: the first day of its month (strictly before it, but
    for a query made on the 1st at midnight, which sees the state of that morning)."""
    day = at.date() if isinstance(at, (pd.Timestamp, dt.datetime)) else at
    return day.replace(day=1)


@dataclass
class Snapshot:
    day: dt.date
    index: FeatureIndex
    table: object  # matcher.columnar.Table of the verified facts as of ``day``
    row: dict[str, int]  # uscc -> row of the table
    specs: dict[str, object]  # policy id -> parsed spec
    progress: dict[str, dict] = field(default_factory=dict)  # policy id -> progress_columns(...)
    taste: dict | None = None  # models.taste.preferences(...) as of ``day``, with its policy index
    bands: dict[str, int] = field(default_factory=dict)  # uscc -> size band, every firm of the register

    def progress_of(self, slug: str) -> dict:
        found = self.progress.get(slug)
        if found is None:
            found = self.progress[slug] = progress_columns(self.specs[slug], self.table)
        return found


def take_snapshot(
    engine,
    kg: KnowledgeGraph,
    day: dt.date,
    stored: tuple | None = None,
    usccs: set[str] | None = None,
    shared: dict | None = None,
) -> Snapshot:
    """``stored``: one read of the register (``service.ledger.sweeps.read_register``) shared by many days;
    ``usccs``: the firms whose facts are wanted (default all; the graph's index always holds every firm, whose
    counts its features read); ``shared``: ``graph.features.FeatureIndex``'s cache across the snapshots of
    one graph."""
    from service.ledger.sweeps import read_register, verified_table

    stored = stored if stored is not None else read_register(engine)
    ids = None if usccs is None else {e.id for e in stored[1] if e.uscc in usccs}
    table, ids = verified_table(engine, day, stored, ids)
    snap = Snapshot(day, FeatureIndex(kg, day, shared), table, rows_by_uscc(engine, ids), current_specs(engine))
    snap.bands = size_bands(stored, day)
    return snap


def policy_text(spec) -> str:
    return "；".join(x for x in (spec.name, spec.target, "、".join(spec.topics), spec.source_text or "") if x)


def load_events(engine, until: dt.datetime | None = None) -> pd.DataFrame:
    """Every event with a policy, as the ranker reads them: enterprise (uscc), policy (id), kind,
    occurred_at (UTC), payload; plus the policy's department and the firm's peer group (大类 and district)."""
    postgres = engine.dialect.name == "postgresql"
    if postgres:  # times as integer microseconds, payloads as text: no datetime or JSON object made row by row
        at = cast(func.extract("epoch", Event.occurred_at) * 1_000_000, BigInteger)
        payload = cast(Event.payload, Text)
    else:  # SQLite keeps both as text already
        at, payload = type_coerce(Event.occurred_at, String), type_coerce(Event.payload, String)
    stmt = (
        select(Enterprise.uscc, Policy.slug, Event.kind, at, payload, Enterprise.industry, Enterprise.region)
        .join(Enterprise, Enterprise.id == Event.enterprise_id)
        .join(Policy, Policy.id == Event.policy_id)
    )
    if until is not None:
        stmt = stmt.where(Event.occurred_at < until)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    df = pd.DataFrame(rows, columns=["enterprise", "policy", "kind", "occurred_at", "payload", "industry", "region"])
    if postgres:
        df["occurred_at"] = pd.to_datetime(df["occurred_at"].astype("int64"), unit="us", utc=True)
    else:
        df["occurred_at"] = pd.to_datetime(df["occurred_at"], utc=True, format="ISO8601")
    parsed = {text: json.loads(text) if text else {} for text in pd.unique(df["payload"])}  # payloads repeat
    df["payload"] = [dict(parsed[text]) for text in df["payload"]]
    df["group"] = df["industry"].str[:3] + "|" + df["region"]
    return df.drop(columns=["industry", "region"])


def feature_matrix(
    engine,
    kg: KnowledgeGraph,
    queries: pd.DataFrame,
    events: pd.DataFrame,
    snapshots: dict | None = None,
    progress=None,
    workers: int = 1,
    stored: tuple | None = None,
) -> np.ndarray:
    """Features of ``queries`` (enterprise uscc, policy id, at: tz-aware time; ``rank``: the position the
    policy was shown at, for past pushes — a candidate being served is at position 1) in ``models.features``
    order.

    ``snapshots`` caches :class:`Snapshot` by day across calls (a training run featuring many months).
    ``workers`` > 1: the months are featured in that many forked processes (each month is independent of the
    others, so the matrix is the same); the snapshots they take are not cached. Only for a process that runs
    no other threads (the CLI): a fork copies one thread. ``stored``: the register as
    :func:`service.ledger.sweeps.read_register` read it, when the caller has it already."""
    snapshots = {} if snapshots is None else snapshots
    queries = queries.reset_index(drop=True)
    n = len(queries)
    days = queries["at"].map(snapshot_day)
    parts: dict[str, np.ndarray] = {}
    put = _putter(parts, n)
    departments = policy_departments(kg)
    say = progress or (lambda text: None)
    job = _Months(engine, kg, queries, events, snapshots, register_fields(engine), departments, stored)
    chosen = sorted(days.unique())
    months = [(day, np.flatnonzero((days == day).to_numpy())) for day in chosen]
    if workers > 1 and len(months) > 2 and "fork" in multiprocessing.get_all_start_methods():
        done, (day, rows) = 1, months[0]
        job.featurise(day, rows, put)  # in this process: warms what the forked months share (the graph's profiles)
        say(f"快照 {day}（1/{len(months)}）：{len(rows):,} 行；其余 {len(months) - 1} 个月分 {workers} 个进程计算")
        for day, rows, columns in job.forked(months[1:], workers):
            for name, values in columns.items():
                put(name, rows, values)
            done += 1
            say(f"快照 {day}（{done}/{len(months)}）：{len(rows):,} 行")
    else:
        for done, (day, rows) in enumerate(months, 1):
            job.featurise(day, rows, put)
            say(f"快照 {day}（{done}/{len(chosen)}）：{len(rows):,} 行")
    fields = job.fields
    _history_parts(parts, queries, events, fields, departments)
    return assemble(parts, n)


def _putter(parts: dict[str, np.ndarray], n: int):
    def put(name: str, rows: np.ndarray, values) -> None:
        column = parts.get(name)
        if column is None:  # (not setdefault: its default would be built on every call)
            column = parts[name] = np.full(n, np.nan)
        column[rows] = values

    return put


def _snapshot_parts(snap: Snapshot, kg: KnowledgeGraph, part: pd.DataFrame, rows: np.ndarray, put) -> None:
    """What the snapshot of the queries' month says: the graph, the profile, the policy, the rule progress,
    the text and the communities of taste (fitted already)."""
    _graph_part(snap, part, rows, put)
    _profile_part(snap, part, rows, put)
    _policy_part(snap, kg, part, rows, put)
    _progress_part(snap, part, rows, put)
    _taste_part(snap, part, rows, put)


def _history_parts(parts: dict, queries: pd.DataFrame, events: pd.DataFrame, fields: dict, departments: dict) -> None:
    """What the events strictly before each query say (engagement), and where the policy was shown."""
    group = queries["enterprise"].map({u: f"{ind}|{reg}" for u, (ind, reg) in fields.items()}).to_numpy()
    q = queries.assign(department=queries["policy"].map(departments), group=group)
    shown = queries["rank"] if "rank" in queries else pd.Series(SERVED_RANK, index=queries.index)
    parts["shown_rank"] = pd.to_numeric(shown, errors="coerce").fillna(SERVED_RANK).to_numpy(dtype=float)
    events = events.assign(department=events["policy"].map(departments))
    for name, values in engagement(events, q).items():
        parts[name] = values


def policy_departments(kg: KnowledgeGraph) -> dict[str, str | None]:
    """Each policy's department, as the graph has it."""
    return {n.split(":", 1)[1]: d.get("department") for n, d in kg.g.nodes(data=True) if d.get("kind") == "policy"}


# -- a firm that is not stored -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Guest:
    """A firm the snapshot does not hold — a profile sent to be matched, or a firm registered since the graph
    was built — featured as a stored one is: its graph profile (``FeatureIndex.profile``), its facts as a
    one-row column table, its peer group (大类, district). It is nobody's peer; a profile has no history and no
    community of taste (those features are empty, as for a firm never seen)."""

    key: str  # no stored firm's uscc, so that no event is its own (or a stored firm's, to feature it anew)
    profile: object  # graph.features.Profile
    table: object  # matcher.columnar.Table of one row
    group: tuple[str, str]  # (大类 code, district code)


class _WithGuest:
    """A snapshot's graph index that also knows the guest's profile. Everything else is the index's own, so
    the guest is not counted among the firms (its peers are the stored firms alone)."""

    def __init__(self, index: FeatureIndex, guest: Guest):
        self._index = index
        self.profiles = {guest.key: guest.profile}

    def __getattr__(self, name: str):
        return getattr(self._index, name)


def guest_features(
    snap: Snapshot,
    kg: KnowledgeGraph,
    guest: Guest,
    policies: list[str],
    at: pd.Timestamp,
    events: pd.DataFrame,
    fields: dict,
    departments: dict,
    history: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """The features of ``guest`` against ``policies`` at ``at`` in ``models.features`` order: the same parts
    as :func:`feature_matrix` over the snapshot of ``at``'s month (``snap``) and the events before ``at``.
    ``fields`` and ``departments``: :func:`register_fields` and :func:`policy_departments`, read once by the
    caller; ``history``: :func:`guest_history`'s answer for these policies, when the caller kept it."""
    if snap.taste is None:
        snap.taste = _communities(snap, kg, taste.push_outcomes(events), fields, departments)
    queries = pd.DataFrame({"enterprise": guest.key, "policy": list(policies), "at": at})
    n = len(queries)
    parts: dict[str, np.ndarray] = {}
    put = _putter(parts, n)
    view = Snapshot(snap.day, _WithGuest(snap.index, guest), guest.table, {guest.key: 0}, snap.specs,
                    taste=snap.taste, bands=snap.bands)  # fmt: skip
    _snapshot_parts(view, kg, queries, np.arange(n), put)
    parts.update(history if history is not None else guest_history(guest, policies, at, events, fields, departments))
    return assemble(parts, n)


def guest_history(
    guest: Guest, policies: list[str], at: pd.Timestamp, events: pd.DataFrame, fields: dict, departments: dict
) -> dict[str, np.ndarray]:
    """The guest's history features (engagement, the position shown) against ``policies`` at ``at``.

    For a guest with no event of its own they depend only on its peer group and the policy (every engagement
    feature is keyed by the firm, whose counts are then zero, or by the policy): :func:`group_histories`."""
    queries = pd.DataFrame({"enterprise": guest.key, "policy": list(policies), "at": at})
    parts: dict[str, np.ndarray] = {}
    # only the guest's own events and those of these policies count: the same values from fewer rows
    mine = (events["enterprise"] == guest.key) | events["policy"].isin(list(policies))
    _history_parts(parts, queries, events[mine], {**fields, guest.key: guest.group}, departments)
    return parts


def group_histories(
    groups: list[tuple[str, str]],
    policies: list[str],
    at: pd.Timestamp,
    events: pd.DataFrame,
    fields: dict,
    departments: dict,
) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """:func:`guest_history` of a firm with no events of its own in each peer group, against ``policies``:
    one pass over the events for all the groups."""
    keys = [f"guest:{industry}|{district}" for industry, district in groups]
    queries = pd.DataFrame(
        {"enterprise": np.repeat(keys, len(policies)), "policy": np.tile(np.array(policies, dtype=object), len(keys))}
    ).assign(at=at)
    parts: dict[str, np.ndarray] = {}
    _history_parts(parts, queries, events, {**fields, **dict(zip(keys, groups, strict=True))}, departments)
    n = len(policies)
    return {g: {name: values[i * n : (i + 1) * n] for name, values in parts.items()} for i, g in enumerate(groups)}


@dataclass
class _Months:
    """The month-by-month part of :func:`feature_matrix`: each month's queries featured from its snapshot."""

    engine: object
    kg: KnowledgeGraph
    queries: pd.DataFrame
    events: pd.DataFrame
    snapshots: dict
    fields: dict
    departments: dict
    stored: tuple | None = None
    outcomes: pd.DataFrame | None = None
    shared: dict = field(default_factory=dict)  # the graph's undated profiles, read once for all the months

    def featurise(self, day: dt.date, rows: np.ndarray, put) -> None:
        part = self.queries.iloc[rows]
        wanted = set(part["enterprise"])
        snap = self.snapshots.get(day)
        if snap is None or not wanted <= snap.row.keys():  # a snapshot holds the facts of the firms it served
            if self.stored is None:
                from service.ledger.sweeps import read_register

                self.stored = read_register(self.engine)
            firms = wanted | (snap.row.keys() if snap is not None else set())
            snap = self.snapshots[day] = take_snapshot(self.engine, self.kg, day, self.stored, firms, self.shared)
        if snap.taste is None:
            self.outcomes = taste.push_outcomes(self.events) if self.outcomes is None else self.outcomes
            snap.taste = _communities(snap, self.kg, self.outcomes, self.fields, self.departments)
        _snapshot_parts(snap, self.kg, part, rows, put)

    def forked(self, months: list, workers: int):
        """Feature ``months`` in ``workers`` forked processes; yields ``(day, rows, {feature: values})`` in
        order. The children inherit this object (nothing large is pickled); each opens its own connections."""
        global _FORKED
        self.outcomes = taste.push_outcomes(self.events) if self.outcomes is None else self.outcomes
        _FORKED = self
        try:
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_forked_start) as pool:
                for (day, rows), columns in zip(months, pool.map(_forked_month, months), strict=True):
                    yield day, rows, columns
        finally:
            _FORKED = None


_FORKED: _Months | None = None  # the job a forked worker inherits


def _forked_start() -> None:
    _FORKED.engine.dispose(close=False)  # the parent's pooled connections are not the child's to use


def _forked_month(month: tuple) -> dict[str, np.ndarray]:
    day, rows = month
    out: dict[str, np.ndarray] = {}

    def put(name: str, at: np.ndarray, values) -> None:  # ``at``: rows of the whole matrix, ``rows`` sorted
        column = out.get(name)
        if column is None:
            column = out[name] = np.full(len(rows), np.nan)
        column[np.searchsorted(rows, at)] = values

    _FORKED.featurise(day, rows, put)
    _FORKED.snapshots.pop(day, None)  # a month is featured once: keep the child's memory flat
    return out


def _graph_part(snap: Snapshot, part: pd.DataFrame, rows: np.ndarray, put) -> None:
    ix = snap.index
    groups = [(u, idx) for u, idx in part.groupby("enterprise").indices.items() if u in ix.profiles]
    for start in range(0, len(groups), 2000):  # PageRank and tag views batched: a few sparse products
        batch = groups[start : start + 2000]
        profiles = [ix.profiles[u] for u, _ in batch]
        ppr, views = ix.ppr(profiles), ix.tag_views(profiles)
        for j, ((uscc, idx), ppr_row) in enumerate(zip(batch, ppr, strict=True)):
            pols = part["policy"].to_numpy()[idx]
            known = np.array([p in ix.pol_ix for p in pols])
            if not known.any():
                continue
            at = rows[idx][known]
            row = {k: (v if k == "total" else v[j]) for k, v in views.items()}
            feats = ix.features(ix.profiles[uscc], np.array([ix.pol_ix[p] for p in pols[known]]), ppr_row, row)
            for name, values in feats.items():
                put(name, at, values)


def _profile_part(snap: Snapshot, part: pd.DataFrame, rows: np.ndarray, put) -> None:
    t = snap.table
    r = part["enterprise"].map(snap.row)
    have = r.notna().to_numpy()
    i = r[have].astype(int).to_numpy()
    at = rows[have]
    for name, column, transform in (
        ("firm_age_years", "age_years", None),
        ("log_employees", "employees", log1p_or_nan),
        ("log_revenue", "revenue", log1p_or_nan),
    ):
        values, known = t.numeric(column)
        v = np.where(known[i], values[i], np.nan)
        put(name, at, transform(v) if transform else v)
    scale, known = t.text("scale")
    put("scale_ordinal", at, [SCALE_ORDER.get(str(s), np.nan) if k else np.nan for s, k in zip(scale[i], known[i])])
    quals, known = t.text("qualifications")
    put("n_qualifications", at, [len([q for q in str(s).split(";") if q and q != "none"]) if k else np.nan
                                 for s, k in zip(quals[i], known[i])])  # fmt: skip


def _policy_part(snap: Snapshot, kg: KnowledgeGraph, part: pd.DataFrame, rows: np.ndarray, put) -> None:
    nodes = {slug: kg.g.nodes.get(f"policy:{slug}") for slug in part["policy"].unique()}
    known = {slug: node for slug, node in nodes.items() if node is not None}
    mode = part["policy"].map({slug: node["mode"] for slug, node in known.items()})
    for name, column in MODE_COLUMNS.items():
        put(column, rows, (mode == name).to_numpy(dtype=float))
    day = pd.to_datetime(part["at"].map(lambda a: a.date())).to_numpy(dtype="datetime64[D]")
    for name, key, sign in (("days_to_deadline", "valid_to", 1), ("days_in_force", "valid_from", -1)):
        bound = part["policy"].map({slug: np.datetime64(node[key], "D") for slug, node in known.items()})
        days = (bound.to_numpy(dtype="datetime64[D]") - day).astype("timedelta64[D]").astype(float) * sign
        put(name, rows, np.where(bound.isna(), np.nan, days))


def _progress_part(snap: Snapshot, part: pd.DataFrame, rows: np.ndarray, put) -> None:
    revenue, revenue_known = snap.table.numeric("revenue")
    scopes, policy_texts, pairs_a, pairs_b, pair_rows = [], [], [], [], []
    scope_ix: dict[str, int] = {}
    policy_ix: dict[str, int] = {}
    scope_col, scope_known = snap.table.text("business_scope")
    for slug, idx in part.groupby("policy").indices.items():
        if slug not in snap.specs:
            continue
        r = part["enterprise"].to_numpy()[idx]
        have = np.array([u in snap.row for u in r])
        i = np.array([snap.row[u] for u in r[have]], dtype=np.int64)
        at = rows[idx][have]
        pr = snap.progress_of(slug)
        total = pr["met"][i] + pr["unmet"][i] + pr["unknown"][i]
        put("share_met", at, np.where(total > 0, pr["met"][i] / np.maximum(total, 1), 1.0))
        put("n_unmet", at, pr["unmet"][i])
        put("n_unknown", at, pr["unknown"][i])
        put("outcome_eligible", at, (pr["outcome"][i] == 1).astype(float))
        put("outcome_undetermined", at, (pr["outcome"][i] == -1).astype(float))
        amount = pr["amount"][i]
        put("log_amount", at, log1p_or_nan(amount))
        rev = np.where(revenue_known[i] & (revenue[i] > 0), revenue[i], np.nan)
        put("amount_to_revenue", at, amount / rev)
        policy_ix.setdefault(slug, len(policy_texts))
        if policy_ix[slug] == len(policy_texts):
            policy_texts.append(policy_text(snap.specs[slug]))
        for row_in_table, row_out in zip(i, at, strict=True):
            text = str(scope_col[row_in_table]) if scope_known[row_in_table] else ""
            if text not in scope_ix:
                scope_ix[text] = len(scopes)
                scopes.append(text)
            pairs_a.append(scope_ix[text])
            pairs_b.append(policy_ix[slug])
            pair_rows.append(row_out)
    if pair_rows:
        sims = text_similarity(scopes, policy_texts, (np.array(pairs_a), np.array(pairs_b)))
        put("scope_similarity", np.array(pair_rows), sims)
    else:
        put("scope_similarity", rows[:0], [])


def register_fields(engine) -> dict[str, tuple[str, str]]:
    """Each firm's 大类 and district (one read of the register): its peer group, and the prior of its
    community of taste."""
    with engine.connect() as conn:
        rows = conn.execute(select(Enterprise.uscc, Enterprise.industry, Enterprise.region)).all()
    return {u: (ind[:3], reg) for u, ind, reg in rows}


SIZE_BANDS = (10, 100, 300)  # employees: the bands of the community prior (about 微, 小, 中, 大)


def _communities(snap: Snapshot, kg: KnowledgeGraph, outcomes: pd.DataFrame, fields: dict, departments: dict):
    """Fit the communities of taste on what was opened before the snapshot's day (``models.taste``) and
    return the firm × policy preferences, with the policy index."""
    slugs = sorted(snap.specs)
    policies = {p: j for j, p in enumerate(slugs)}
    facet_names = sorted({f for p in slugs for f in _facets(snap.specs[p], departments.get(p))})
    facet_ix = {f: j for j, f in enumerate(facet_names)}
    facets = np.zeros((len(slugs), len(facet_names)))
    for p in slugs:
        for f in _facets(snap.specs[p], departments.get(p)):
            facets[policies[p], facet_ix[f]] = 1.0
    day = pd.Timestamp(snap.day, tz="UTC")
    order = list(fields)  # every firm of the register: the communities are everyone's
    firms = {u: i for i, u in enumerate(order)}
    opened, viewed = taste.counts_before(outcomes, day, firms, policies)
    band = np.array([snap.bands.get(u, len(SIZE_BANDS) + 1) for u in order], dtype=np.int64)
    codes = [pd.factorize(pd.Series([fields[u][i] for u in order]))[0] for i in (0, 1)]
    fitted = taste.fit(opened, viewed, [*codes, band])
    return {"policies": policies, "firms": firms, **taste.preferences(fitted, opened, viewed, facets)}


def size_bands(stored: tuple, day: dt.date) -> dict[str, int]:
    """Each firm's size band (employees below 10, 100, 300, or more; unknown: a band of its own) from its
    verified head count as of ``day``."""
    from matcher.facts import pick_frame

    _, ents, facts = stored
    heads = pick_frame(facts[facts["field"] == "employees"], day.isoformat(), verified_only=True)
    count = pd.to_numeric(heads.set_index("enterprise_id")["value"], errors="coerce").dropna()
    band = np.digitize(count.to_numpy(), SIZE_BANDS)
    by_id = dict(zip(count.index, band.tolist(), strict=True))
    return {e.uscc: by_id.get(e.id, len(SIZE_BANDS) + 1) for e in ents}


def _facets(spec, department: str | None) -> list[str]:
    return [f"topic:{t}" for t in spec.topics] + ([f"department:{department}"] if department else [])


def _taste_part(snap: Snapshot, part: pd.DataFrame, rows: np.ndarray, put) -> None:
    policies = snap.taste["policies"]
    f = part["enterprise"].map(snap.taste["firms"])
    p = part["policy"].map(policies)
    have = (f.notna() & p.notna()).to_numpy()
    fi, pi = f[have].astype(int).to_numpy(), p[have].astype(int).to_numpy()
    for name in TASTE:
        put(name, rows[have], snap.taste[name][fi, pi])
        put(name, rows[~have], np.nan)


# -- training --------------------------------------------------------------------------------------------


@dataclass
class TrainReport:
    version: str
    window: dict  # train_from, valid_from, test_from, until
    rows: dict  # rows and queries per period
    figures: dict  # slice -> scorer -> metrics
    gap_closed: float  # on NDCG@10, overall, against the best baseline
    best_iteration: int
    artifact: object = None

    def summary(self) -> dict:
        """The report as a training job keeps it: version, window, rows and queries per period, figures (slice ->
        scorer -> metrics), the share of the gap closed, the best baseline and the early-stopping iteration."""
        return {
            "version": self.version,
            "window": self.window,
            "rows": self.rows,
            "figures": self.figures,
            "gap_closed": self.gap_closed,
            "best_baseline": self.artifact.metrics["best_baseline"] if self.artifact is not None else None,
            "best_iteration": self.best_iteration,
        }

    def table(self) -> str:
        return _table(self.figures)


PERIODS = {"train": "训练", "valid": "验证", "test": "测试"}
PERIOD_DAYS = (7, 366)  # the least and most days of the validation and of the test period
SLICES = {
    "overall": "全部",
    "non_automatic": "非免申即享政策",
    "cold_start": "冷启动（训练截止后才有的政策）",
}


def known_from(kg: KnowledgeGraph) -> dict[str, dt.date]:
    """The day each policy became known: its publication or the start of its validity, whichever came first."""
    return {
        n.split(":", 1)[1]: min(d["valid_from"], d.get("published_on") or d["valid_from"])
        for n, d in kg.g.nodes(data=True)
        if d.get("kind") == "policy" and not d.get("missing")
    }


def score_slices(model, split, labels: pd.DataFrame, before: pd.DataFrame, kg: KnowledgeGraph, cutoff: dt.date):
    """One evaluator for the model (None: baselines only) and every baseline on ``split`` (whose rows are
    ``labels``'), overall, on the policies that are not 免申即享, and on the cold-start slice (policies known
    only from ``cutoff``, the end of the model's training data). Popularity is the take-up in ``before``: all
    that was known before the period scored, as the model's own features know it."""
    from models import ranker

    popularity = (before["label"] >= ranker.RELEVANT).groupby(before["policy"]).mean().to_dict()
    known = known_from(kg)
    automatic = labels["automatic"].to_numpy(dtype=bool)
    cold = np.array([known.get(p, dt.date.min) >= cutoff for p in split.policies])
    figures = {}
    for name, mask in (
        ("overall", np.ones(len(split.y), dtype=bool)),
        ("non_automatic", ~automatic),
        ("cold_start", cold),
    ):
        sub = _subset(split, mask)
        if not len(sub.y):
            continue
        scorers = {"ranker": ranker.score(model, sub.x)} if model is not None else {}
        scorers.update(ranker.baselines(sub, popularity))
        figures[name] = {s: ranker.evaluate(v, sub) for s, v in scorers.items()}
    return figures


@dataclass
class EvaluationReport:
    scorer: str  # the model's version, or "baselines"
    window: dict  # from, until, cutoff
    figures: dict
    gap_closed: float | None

    def table(self) -> str:
        return _table(self.figures)


def evaluate_period(
    engine, kg: KnowledgeGraph, start: dt.date, until: dt.date, artifact=None, progress=None, workers: int = 1
):
    """Score the pushes of ``start`` … ``until`` (exclusive) with ``artifact`` (a ``models.registry.Artifact``
    of the current schema; None: the baselines only) and every baseline, as they would be served. The
    cold-start slice holds the policies known only after the model's training data ended."""
    from models import ranker
    from models.labels import graded_labels, query_sizes
    from service.errors import BadRequest

    say = progress or (lambda text: None)
    lo = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    hi = dt.datetime.combine(until, dt.time(), tzinfo=dt.UTC)
    events = load_events(engine, until=hi)
    automatic = {n.split(":", 1)[1] for n, d in kg.g.nodes(data=True) if d.get("mode") == "automatic"}
    labels = graded_labels(events, automatic)
    first = labels.groupby("query")["pushed_at"].transform("min")
    inside = (first >= lo).to_numpy()
    part = labels[inside].reset_index(drop=True)
    if part.empty:
        raise BadRequest(f"{start} 至 {until} 之间没有推送记录，无法评估", field="from")
    cutoff = artifact.trained_until if artifact is not None else start
    say(f"评估期 {start} 至 {until}：{len(part)} 行/{part['query'].nunique()} 个查询；计算特征……")
    queries = part.rename(columns={"pushed_at": "at"})[["enterprise", "policy", "at"]]  # served at position 1
    x = feature_matrix(engine, kg, queries, events, progress=say, workers=workers)
    split = ranker.Split(x, part["label"].to_numpy(), query_sizes(part), part["policy"].to_numpy())
    model = artifact.model if artifact is not None else None
    figures = score_slices(model, split, part, labels[~inside], kg, cutoff)
    closed = None
    if model is not None:
        best = max(m["ndcg@10"] for s, m in figures["overall"].items() if s != "ranker")
        closed = ranker.gap_closed(figures["overall"]["ranker"]["ndcg@10"], best)
    window = {"from": start.isoformat(), "until": until.isoformat(), "cutoff": cutoff.isoformat()}
    return EvaluationReport(artifact.version if artifact is not None else "baselines", window, figures, closed)


def _table(figures: dict) -> str:
    lines = []
    for name, scorers in figures.items():
        lines.append(f"{SLICES.get(name, name)}（{int(next(iter(scorers.values()))['queries'])} 个查询）")
        for scorer, m in scorers.items():
            lines.append(
                f"  {scorer:<20} NDCG@5 {m['ndcg@5']:.3f}  NDCG@10 {m['ndcg@10']:.3f}  MAP {m['map']:.3f}  "
                f"recall@10 {m['recall@10']:.3f}  覆盖 {m['coverage']:.0%}"
            )
    return "\n".join(lines)


def train_ranker(
    engine,
    kg: KnowledgeGraph,
    until: dt.date,
    period_days: int = 60,
    seed: int = 1,
    progress=None,
    workers: int = 1,
) -> TrainReport:
    """Train on the past, stop early on the next period, test on the one after (ending at ``until``).
    ``workers``: processes featuring the months (:func:`feature_matrix`)."""
    import hashlib
    import json

    from models import ranker
    from models.features import SCHEMA_HASH
    from models.labels import graded_labels, query_sizes
    from models.registry import Artifact
    from service.push import outcomes
    from service.store import session_scope

    say = progress or (lambda text: None)
    with session_scope(engine) as session:  # what firms did on the platform since the last pass: labels too
        made = outcomes.from_ledger(session)
    if any(made.values()):
        say("新记录的办理结果：" + "，".join(f"{k} {v}" for k, v in made.items() if v))
    end = dt.datetime.combine(until, dt.time(), tzinfo=dt.UTC)
    test_from = end - dt.timedelta(days=period_days)
    valid_from = test_from - dt.timedelta(days=period_days)
    events = load_events(engine, until=end)
    automatic = {n.split(":", 1)[1] for n, d in kg.g.nodes(data=True) if d.get("mode") == "automatic"}
    labels = graded_labels(events, automatic)
    start = labels.groupby("query")["pushed_at"].transform("min")
    period = np.where(start >= test_from, "test", np.where(start >= valid_from, "valid", "train"))
    counts = {
        p: (int((period == p).sum()), int(labels["query"][period == p].nunique())) for p in ("train", "valid", "test")
    }
    shown = "，".join(f"{PERIODS[p]} {c[0]} 行/{c[1]} 个查询" for p, c in counts.items())
    say(f"标签：{shown}")
    if min(c[1] for c in counts.values()) == 0:
        from service.errors import BadRequest

        raise BadRequest(
            f"截至 {until} 的推送记录不足以按 {period_days} 天一期划分训练、验证、测试三期（各期查询数："
            f"{counts['train'][1]}、{counts['valid'][1]}、{counts['test'][1]}）",
            field="until",
        )
    queries = labels.rename(columns={"pushed_at": "at"})[["enterprise", "policy", "at", "rank"]]
    snapshots: dict = {}
    say("计算特征……")
    x = feature_matrix(engine, kg, queries, events, snapshots, progress=say, workers=workers)
    splits = {}
    for p in ("train", "valid", "test"):
        mask = period == p
        part = labels[mask]
        splits[p] = ranker.Split(x[mask], part["label"].to_numpy(), query_sizes(part), part["policy"].to_numpy())
    # scored as it would be served: every candidate at position 1 (the logged position is the old order's)
    splits["test"].x[:, FEATURES.index("shown_rank")] = SERVED_RANK
    say("训练 LightGBM lambdarank……")
    model = ranker.fit(splits["train"], splits["valid"], seed)
    best_iteration = int(model.best_iteration_ or model.n_estimators)
    test_part = labels[period == "test"].reset_index(drop=True)
    figures = score_slices(model, splits["test"], test_part, labels[period != "test"], kg, valid_from.date())
    overall = figures["overall"]
    best = max((m["ndcg@10"], s) for s, m in overall.items() if s != "ranker")
    closed = ranker.gap_closed(overall["ranker"]["ndcg@10"], best[0])
    window = {
        "train_until": valid_from.date().isoformat(),
        "valid_from": valid_from.date().isoformat(),
        "test_from": test_from.date().isoformat(),
        "until": until.isoformat(),
    }
    data = hashlib.sha256(np.ascontiguousarray(x).tobytes() + labels["label"].to_numpy().tobytes()).hexdigest()
    digest = hashlib.sha256(json.dumps([SCHEMA_HASH, ranker.PARAMS, seed, window, data]).encode()).hexdigest()[:12]
    artifact = Artifact(
        kind="ranker",
        version=f"rk-{digest}",
        model=model,
        schema_hash=SCHEMA_HASH,
        feature_names=tuple(FEATURES),
        params={**ranker.PARAMS, "seed": seed, "period_days": period_days, "best_iteration": best_iteration},
        trained_from=labels["pushed_at"].min().date(),
        trained_until=valid_from.date(),
        metrics={
            "ndcg@10": round(overall["ranker"]["ndcg@10"], 4),
            "gap_closed": round(closed, 4),
            "best_baseline": best[1],
            "figures": figures,
            "window": window,
        },  # fmt: skip
    )
    rows = {p: {"rows": c[0], "queries": c[1]} for p, c in counts.items()}
    return TrainReport(artifact.version, window, rows, figures, closed, best_iteration, artifact)


def _subset(split, mask: np.ndarray):
    """The rows of ``mask``, query blocks kept contiguous (a query keeps the rows it has in the slice)."""
    from models.ranker import Split

    sizes, start = [], 0
    for size in split.groups:
        sizes.append(int(mask[start : start + size].sum()))
        start += size
    sizes = np.array([s for s in sizes if s > 0], dtype=np.int64)
    return Split(split.x[mask], split.y[mask], sizes, split.policies[mask])


# -- batch scoring ---------------------------------------------------------------------------------------

DECISIONS = {1: "eligible", 0: "not_eligible", -1: "undetermined"}


@dataclass
class RankReport:
    enterprises: int
    rows: int
    scorer: str  # the model's version, or the baseline used
    warning: str | None


NO_MODEL = "没有在用的排序模型：按最佳基线（符合者优先、按金额）排序"


@dataclass(frozen=True)
class Scorer:
    """What orders the candidates: the promoted ranker, or — when none is promoted — the best baseline
    (eligible first, by amount), with a warning saying so."""

    name: str  # the model's version, or "eligible_by_amount"
    artifact: object | None = field(default=None, repr=False)  # models.registry.Artifact
    warning: str | None = None

    @property
    def label(self) -> str:
        from models.ranker import SCORER_LABELS

        return SCORER_LABELS["ranker"] + f" {self.name}" if self.artifact is not None else SCORER_LABELS[self.name]

    def score(self, x: np.ndarray, policies) -> np.ndarray:
        """Scores of the rows of ``x`` (features in ``models.features`` order; ``policies``: each row's)."""
        from models import ranker

        if not len(x):
            return np.zeros(0)
        if self.artifact is not None:
            return ranker.score(self.artifact.model, x)
        split = ranker.Split(x, np.zeros(len(x)), np.array([len(x)]), np.asarray(policies))
        return ranker.baselines(split, {})[self.name]


def serving_scorer(engine) -> Scorer:
    """The promoted ranker of this code's feature schema, else the best baseline with :data:`NO_MODEL`."""
    from models.features import SCHEMA_HASH
    from service.model_registry import load_production

    artifact = load_production(engine, "ranker", SCHEMA_HASH)
    if artifact is not None:
        return Scorer(artifact.version, artifact)
    return Scorer("eligible_by_amount", None, NO_MODEL)


def rank(engine, kg: KnowledgeGraph, day: dt.date, out, usccs: list[str] | None = None, progress=None) -> RankReport:
    """Write ``uscc,policy_id,score,decision`` for every candidate of the chosen enterprises (all if None),
    best first per enterprise: scored by the promoted ranker, or by the best baseline (eligible first, by
    amount) with a warning when none is promoted; ``decision`` is the rule engine's on the facts of ``day``."""
    import csv

    from matcher.progress import progress_columns
    from service.errors import NotFound

    say = progress or (lambda text: None)
    scorer = serving_scorer(engine)
    index = FeatureIndex(kg, day)
    chosen = list(index.profiles) if usccs is None else usccs
    for u in chosen:
        if u not in index.profiles:
            raise NotFound(f"图谱中没有企业 {u}（可先运行 zhida graph update）")
    at = serving_time(day)
    pairs = [(u, index.policies[p]) for u in chosen for p in index.candidates(index.profiles[u], day)]
    queries = pd.DataFrame(pairs, columns=["enterprise", "policy"]).assign(at=at)
    say(f"候选：{len(chosen)} 家企业，{len(queries)} 项候选政策")
    events = load_events(engine, until=at.to_pydatetime())
    say(f"事件 {len(events):,} 行；计算特征……")
    x = feature_matrix(engine, kg, queries, events, progress=say)
    say("打分……")
    scores = scorer.score(x, queries["policy"].to_numpy())
    say("规则核验（当日事实）……")
    from service.ledger.sweeps import verified_table

    table, ids = verified_table(engine, day)
    row_of = rows_by_uscc(engine, ids)
    snap_specs = current_specs(engine)
    decisions = np.full(len(queries), "undetermined", dtype=object)
    for slug, idx in queries.groupby("policy").indices.items():
        outcome = progress_columns(snap_specs[slug], table)["outcome"]
        rows = queries["enterprise"].to_numpy()[idx]
        decisions[idx] = [DECISIONS[int(outcome[row_of[u]])] for u in rows]
    queries = queries.assign(score=scores, decision=decisions)
    queries = queries.sort_values(["enterprise", "score"], ascending=[True, False], kind="stable")
    with open(out, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["uscc", "policy_id", "score", "decision"])
        for u, p, s, d in zip(queries["enterprise"], queries["policy"], queries["score"], queries["decision"]):
            w.writerow([u, p, f"{s:.6f}", d])
    return RankReport(len(chosen), len(queries), scorer.name, scorer.warning)


def serving_time(day: dt.date) -> pd.Timestamp:
    """The time today's candidates are served at: the end of ``day`` (every event of the day before it)."""
    return pd.Timestamp(dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC))


def current_specs(engine) -> dict:
    """The parsed spec of every published policy's current version, by policy id."""
    from service.knowledge import _current_versions

    with engine.connect() as conn:
        return {slug: spec_of(pv) for _, slug, pv in _current_versions(conn)}


def rows_by_uscc(engine, ids: list[int]) -> dict[str, int]:
    """``{uscc: row}`` of a column table whose rows are the enterprises ``ids``."""
    with engine.connect() as conn:
        uscc = dict(conn.execute(select(Enterprise.id, Enterprise.uscc)).all())
    return {uscc[i]: r for r, i in enumerate(ids)}
