"""The serving snapshot: what ordering every enterprise's candidate policies needs, built once for a day.

Ranking a firm's candidates needs the graph's index, the feature snapshot of the month (facts, communities of
taste), the event log and the scorer — seconds to read and fit, the same for every firm. :func:`build` does
that once and, as ``zhida rank --all`` does, features every stored firm's candidates in one batch with
:func:`service.ranking.feature_matrix` (the one feature definition training uses) and keeps their scores: a
request then only looks its firm up. A firm the graph does not hold yet (registered since the last ``zhida
graph update``) and a profile that is not stored are featured on demand as a guest
(:func:`service.ranking.guest_features`, the same parts) — slower, but the same features.

The scorer is the promoted ranker, or — when none is promoted — the best baseline (eligible first, by
amount), with a warning, as ``zhida rank`` does. Scores rank one firm's candidates; they decide nothing:
the decisions are made per request on the facts of the day (``service.matching``).

:class:`ServingCache` keeps one snapshot per process and builds a new one when the day, the graph file or the
promoted model changes.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from graph.features import FeatureIndex
from graph.knowledge import KnowledgeGraph
from models.registry import ModelError
from service.model_registry import production
from service.outcomes import decide_register
from service.ranking import (
    NO_MODEL,
    Guest,
    Scorer,
    current_specs,
    feature_matrix,
    group_histories,
    guest_features,
    load_events,
    policy_departments,
    register_fields,
    serving_scorer,
    serving_time,
    snapshot_day,
    take_snapshot,
)

log = logging.getLogger(__name__)

GROUPS_KEPT = 512  # peer groups outside the register whose history features a snapshot keeps for profiles
RETRY_AFTER = 60  # seconds between attempts to build a snapshot in the background after one failed
PAGES_KEPT = 4096  # match pages a snapshot keeps, encoded (10–40 kB each: at most some 100 MB per process)
HISTORY_ROWS = 500_000  # at most this many (group × policy) rows of history features computed with the snapshot


@dataclass
class Serving:
    day: dt.date  # decisions and candidates are of this day
    at: pd.Timestamp  # features see the events before this time (the end of the day)
    kg: KnowledgeGraph
    index: FeatureIndex  # the graph as of the day: candidates, profiles, IDF for explanations
    scorer: Scorer
    specs: dict  # policy id -> the current version's spec (published policies)
    snapshot: object  # service.ranking.Snapshot of the day's month, its communities fitted (for guests)
    events: pd.DataFrame = field(repr=False)
    fields: dict = field(repr=False)  # service.ranking.register_fields
    departments: dict = field(repr=False)
    ranked: dict = field(repr=False)  # uscc -> (policy ids best first, their scores)
    deadlines: dict = field(default_factory=dict)  # policy id -> the close of its current application period
    promoted: str | None = None  # the version promoted when it was built (None: none was)
    outcomes: object = None  # service.outcomes.RegisterOutcomes: every stored firm's rule outcomes of the day
    seconds: float = 0.0  # how long the build took
    _idf: dict | None = field(default=None, repr=False)
    _event_firms: set | None = field(default=None, repr=False)
    _register_histories: dict = field(default_factory=dict, repr=False)  # peer group -> history features
    _histories: OrderedDict = field(default_factory=OrderedDict, repr=False)  # other groups, the latest kept
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _pages: OrderedDict = field(default_factory=OrderedDict, repr=False)  # answered pages, the latest kept

    def page(self, key, make):
        """A match page of this snapshot, encoded, made once per ``key`` — the subject, the digest of its facts,
        the query and the cursor: everything a page is made of that the snapshot does not fix — and kept for
        the next request (at most :data:`PAGES_KEPT`, the least recently asked dropped first). Kept as bytes:
        one object per page, nothing for the garbage collector to walk."""
        with self._lock:
            found = self._pages.get(key)
            if found is not None:
                self._pages.move_to_end(key)
                return found
        made = make()
        with self._lock:
            self._pages[key] = made
            while len(self._pages) > PAGES_KEPT:
                self._pages.popitem(last=False)
        return made

    @property
    def key(self) -> str:
        """Names this snapshot: a cursor from another one (another day, model or graph) is not honoured."""
        text = f"{self.day}|{self.scorer.name}|{self.kg.built_at}|{self.kg.updated_at}|{self.kg.changes}"
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def idf(self) -> dict[str, float]:
        """The tags' IDF weights, as the explanations read them."""
        if self._idf is None:
            self._idf = dict(zip(self.index.tag_ix, self.index.idf, strict=True))
        return self._idf

    def ranking(self, uscc: str) -> tuple[tuple[str, ...], np.ndarray] | None:
        """A stored firm's candidates best first with their scores, or None if the graph does not hold it."""
        return self.ranked.get(uscc)

    def rank_guest(self, guest: Guest) -> tuple[tuple[str, ...], np.ndarray]:
        """A firm that is not in the snapshot, featured and scored now: its candidates best first."""
        candidates = [self.index.policies[p] for p in self.index.candidates(guest.profile, self.day)]
        if not candidates:
            return (), np.zeros(0)
        history = None
        if guest.key not in self._firms_with_events():  # its history features are its peer group's
            kept = self._group_history(guest.group)
            at = [self.index.pol_ix[p] for p in candidates]
            history = {name: values[at] for name, values in kept.items()}
        x = guest_features(self.snapshot, self.kg, guest, candidates, self.at, self.events, self.fields,
                           self.departments, history)  # fmt: skip
        return _ordered(candidates, self.scorer.score(x, candidates))

    def _firms_with_events(self) -> set[str]:
        if self._event_firms is None:
            self._event_firms = set(self.events["enterprise"].unique())
        return self._event_firms

    def _group_history(self, group: tuple[str, str]) -> dict[str, np.ndarray]:
        """The history features of a firm with no events of its own, in ``group``, against every policy of the
        day's index (:func:`service.ranking.group_histories`): the register's groups computed with the
        snapshot, any other kept for the next firm of the group."""
        found = self._register_histories.get(group)
        if found is not None:
            return found
        with self._lock:
            found = self._histories.get(group)
            if found is not None:
                self._histories.move_to_end(group)
                return found
        found = group_histories([group], self.index.policies, self.at, self.events, self.fields,
                                self.departments)[group]  # fmt: skip
        with self._lock:
            self._histories[group] = found
            while len(self._histories) > GROUPS_KEPT:
                self._histories.popitem(last=False)
        return found

    def current(self, engine) -> bool:
        """Whether the promoted model is still the one this snapshot scored with."""
        row = production(engine, "ranker")
        return (row.version if row is not None else None) == self.promoted


def build(engine, kg: KnowledgeGraph, day: dt.date, progress=None) -> Serving:
    """The serving snapshot of ``day``: every stored firm of the graph ranked (read-only)."""
    say = progress or (lambda text: None)
    started = time.perf_counter()
    promoted = production(engine, "ranker")
    try:
        scorer = serving_scorer(engine)
    except ModelError as e:  # a model this code cannot serve (another feature schema): the baseline, said so
        scorer = Scorer("eligible_by_amount", None, f"在用排序模型无法使用（{e}）：{NO_MODEL.split('：', 1)[1]}")
    index = FeatureIndex(kg, day)
    at = serving_time(day)
    events = load_events(engine, until=at.to_pydatetime())
    pairs = [(u, index.policies[p]) for u in index.profiles for p in index.candidates(index.profiles[u], day)]
    queries = pd.DataFrame(pairs, columns=["enterprise", "policy"]).assign(at=at)
    say(f"候选：{len(index.profiles):,} 家企业，{len(queries):,} 项候选政策；计算特征……")
    snapshots: dict = {}
    ranked: dict[str, tuple[tuple[str, ...], np.ndarray]] = {u: ((), np.zeros(0)) for u in index.profiles}
    if len(queries):
        x = feature_matrix(engine, kg, queries, events, snapshots, progress=say)
        queries = queries.assign(score=scorer.score(x, queries["policy"].to_numpy()))
        for uscc, part in queries.groupby("enterprise", sort=False):
            ranked[uscc] = _ordered(part["policy"].tolist(), part["score"].to_numpy())
    month = snapshot_day(at)
    snap = snapshots.get(month) or take_snapshot(engine, kg, month)
    serving = Serving(
        day=day,
        at=at,
        kg=kg,
        index=index,
        scorer=scorer,
        specs=current_specs(engine),
        snapshot=snap,
        events=events,
        fields=register_fields(engine),
        departments=policy_departments(kg),
        ranked=ranked,
        deadlines=application_deadlines(events, day),
        promoted=promoted.version if promoted is not None else None,
    )
    serving.outcomes = decide_register(engine, serving.specs, day, say)
    groups = sorted(set(serving.fields.values()))  # profiles are most often of a group the register has
    if len(groups) * len(index.policies) <= HISTORY_ROWS:
        say(f"同组历史特征：{len(groups):,} 个行业与地区组合")
        serving._register_histories = group_histories(groups, index.policies, at, events, serving.fields,
                                                      serving.departments)  # fmt: skip
    serving.seconds = time.perf_counter() - started
    say(f"服务快照已就绪（{scorer.label}），用时 {serving.seconds:.1f} s")
    return serving


def _ordered(policies: list[str], scores: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """Best first; equal scores in policy id order, so the order is the same on every call."""
    scores = np.asarray(scores, dtype=np.float64)
    if not len(policies):
        return (), scores
    order = np.lexsort((np.array(policies), -scores))
    return tuple(policies[i] for i in order), scores[order]


def application_deadlines(events: pd.DataFrame, day: dt.date) -> dict[str, dt.date]:
    """The close of each policy's current application period as the platform's latest push of it logged it
    (``payload.deadline``, as the ranker's ``days_to_application_deadline`` reads it), if not passed by ``day``."""
    pushes = events[events["kind"] == "push"].sort_values("occurred_at", kind="stable")
    logged = pushes["payload"].map(lambda p: p.get("deadline") if isinstance(p, dict) else None)
    latest = pd.DataFrame({"policy": pushes["policy"], "deadline": logged}).dropna()
    latest = latest.drop_duplicates("policy", keep="last")
    out = {}
    for slug, text in zip(latest["policy"], latest["deadline"], strict=True):
        try:
            close = dt.date.fromisoformat(str(text))
        except ValueError:
            continue
        if close >= day:
            out[slug] = close
    return out


class ServingCache:
    """One serving snapshot per process, built again when the day, the graph file or the promoted model changes.

    Which model is promoted is asked of the database at most every ``recheck`` seconds (a promotion is served
    within that time), not per request. The first snapshot is built by the first request that needs it (the
    others wait for it: a lock). With ``background``, a stale snapshot keeps answering while its successor is
    built in a thread — a day's first requests are not held for the minute a build takes on a large register —
    and the answers say which day they are of (``as_of``); without it, the request that finds the snapshot
    stale builds the next one and the others wait. A build that fails is logged and tried again after
    :data:`RETRY_AFTER` seconds, the old snapshot answering meanwhile."""

    def __init__(self, recheck: float = 5.0, background: bool = False, freeze: bool = False) -> None:
        self._lock = threading.Lock()
        self._serving: Serving | None = None
        self._graph: tuple | None = None  # (path, mtime, KnowledgeGraph)
        self.recheck, self.background, self.freeze = recheck, background, freeze
        self._checked = 0.0  # time.monotonic() of the last look at the promoted model
        self._building: threading.Thread | None = None
        self._failed_at = -RETRY_AFTER

    def get(self, engine, day: dt.date | None = None, graph_path: Path | None = None) -> Serving:
        """The snapshot of ``day`` (today) over the graph at ``graph_path`` (``$ZHIDA_MODELS_DIR/graph.pickle``).

        Raises ``Conflict`` when there is no readable graph file (``zhida graph build`` first)."""
        day = day or dt.date.today()
        with self._lock:
            kg = self._load_graph(graph_path)
            s = self._serving
            now = time.monotonic()
            recheck = now - self._checked >= self.recheck
            if recheck:
                self._checked = now
            if s is not None and s.day == day and s.kg is kg and not (recheck and not s.current(engine)):
                return s
            if s is None or not self.background:
                s = self._serving = build(engine, kg, day)
                self._frozen()
                return s
            if self._building is None and now - self._failed_at >= RETRY_AFTER:
                self._building = threading.Thread(target=self._rebuild, args=(engine, kg, day), daemon=True,
                                                  name="zhida-serving-build")  # fmt: skip
                self._building.start()
            return s

    def wait(self, timeout: float | None = None) -> None:
        """Until a build running in the background is done (tests, a warm-up)."""
        thread = self._building
        if thread is not None:
            thread.join(timeout)

    def _rebuild(self, engine, kg: KnowledgeGraph, day: dt.date) -> None:
        try:
            made = build(engine, kg, day)
        except Exception:
            log.exception("服务快照重建失败：沿用 %s 的快照，%d 秒后重试", self._serving.day, RETRY_AFTER)
            with self._lock:
                self._failed_at, self._building = time.monotonic(), None
            return
        with self._lock:
            self._serving, self._building = made, None
        self._frozen()

    def _frozen(self) -> None:
        """With ``freeze`` (a server process): the snapshot's million objects moved out of the collector's
        reach (``gc.freeze``), as the app's are at start-up — else every full collection walks them, a pause of
        half a second in which the worker answers nobody. The previous snapshot's cycles are collected first."""
        if self.freeze:
            gc.unfreeze()
            gc.collect()
            gc.freeze()

    def _load_graph(self, graph_path: Path | None) -> KnowledgeGraph:
        from graph.errors import GraphError
        from service import knowledge
        from service.errors import Conflict

        path = Path(graph_path or knowledge.default_path())
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            raise Conflict(f"知识图谱文件 {path} 不存在：请先运行 zhida graph build") from None
        if self._graph is None or self._graph[:2] != (path, mtime):
            try:
                self._graph = (path, mtime, KnowledgeGraph.load(path))
            except GraphError as e:
                raise Conflict(str(e)) from None
        return self._graph[2]
