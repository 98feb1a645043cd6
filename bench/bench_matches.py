"""Benchmark the match list: one stored enterprise against all its candidates (ranked, decided, explained, one
page of 20 serialised to JSON), a profile that is not stored, and a self-test.

Issue 14 target: one enterprise against all candidates in tens of milliseconds on the demo city.

Not timed: the city (``--database-url`` and ``--graph`` of an imported city, or else one generated and imported
into SQLite under --workdir as bench_graph.py does, kept between runs) and, when no ranker is promoted and the
city is the benchmark's own, training and promoting one (``--no-train``: serve the baseline). Timed once: the
serving snapshot (every stored firm's candidates featured and scored, ``service.serving.build``). Timed per call,
p50/p99 over ``--repeats`` firms drawn at random: ``service.matching.matches`` for a stored firm (its facts read
from the database, every candidate decided, the page explained and serialised); ``match_profile`` for the same
firm's facts sent as a profile (its peer group's history features computed with the snapshot), and once, the
history features of a peer group the register does not have; ``service.selftest.self_test`` of the firm against
its first candidate.

    python bench/bench_matches.py [--database-url URL --graph FILE] [--enterprises 2000] [--repeats 500]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def percentiles(seconds: list[float]) -> str:
    p50, p99 = np.percentile(np.array(seconds) * 1e3, [50, 99])
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--graph", type=Path, default=None)
    ap.add_argument("--enterprises", type=int, default=2000)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "zhida-bench-matches")
    ap.add_argument("--repeats", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-train", action="store_true", help="没有在用模型时不训练，按基线排序")
    a = ap.parse_args()

    from graph.knowledge import KnowledgeGraph
    from matcher import catalog
    from service import knowledge
    from service import serving as serving_mod
    from service.matching import match_profile, matches
    from service.model_registry import production, promote, register
    from service.ranking import train_ranker
    from service.selftest import self_test
    from service.store import make_engine
    from service.subjects import stored_subject
    from service.synth.params import REFERENCE_DATE

    a.workdir.mkdir(parents=True, exist_ok=True)
    own = a.database_url is None
    url = a.database_url
    if own:
        from bench_graph import prepare

        url = prepare(a.workdir, a.enterprises, 46, 7)
    engine = make_engine(url)
    graph = a.graph or a.workdir / f"graph-{a.enterprises}.pickle"
    if not graph.exists():
        say("构建知识图谱……")
        knowledge.build(engine, REFERENCE_DATE).save(graph)
    kg = KnowledgeGraph.load(graph)
    day = REFERENCE_DATE
    if production(engine, "ranker") is None and own and not a.no_train:
        say("训练并推广排序模型……")
        report = train_ranker(engine, kg, day.replace(day=1), period_days=60, seed=1)
        register(engine, report.artifact, a.workdir / "models")
        promote(engine, "ranker", report.version, "bench")

    say("构建服务快照……")
    serving = serving_mod.build(engine, kg, day, progress=say)
    firms = sorted(u for u, (policies, _) in serving.ranked.items() if len(policies))
    random.seed(a.seed)
    chosen = random.sample(firms, min(a.repeats, len(firms)))
    candidates = [len(serving.ranked[u][0]) for u in chosen]

    matches(serving, engine, chosen[0])  # the first call imports what the others share
    stored, pages = [], []
    for uscc in chosen:
        started = time.perf_counter()
        page = matches(serving, engine, uscc)
        text = json.dumps(page.to_json(), ensure_ascii=False)
        stored.append(time.perf_counter() - started)
        pages.append(len(text.encode()))

    profiles = []
    for uscc in chosen[: min(100, len(chosen))]:
        facts = stored_subject(engine, uscc, day).verified
        profiles.append({k: catalog.format_value(k, v) for k, v in facts.items() if v is not None})
    profiled, tests = [], []
    for profile in profiles:
        started = time.perf_counter()
        match_profile(serving, profile)
        profiled.append(time.perf_counter() - started)
    started = time.perf_counter()
    serving._group_history(("Z99", "999999"))  # a peer group the register does not have: computed on demand
    new_group = time.perf_counter() - started
    for uscc in chosen:
        started = time.perf_counter()
        self_test(serving, engine, serving.ranked[uscc][0][0], uscc=uscc)
        tests.append(time.perf_counter() - started)

    n_firms = len(serving.ranked)
    print(f"city: {n_firms:,} enterprises, {len(serving.specs)} policies; scorer {serving.scorer.label}")
    print(f"serving snapshot (every firm's candidates featured and scored): {serving.seconds:.1f} s")
    print(f"stored enterprise, all candidates (median {int(np.median(candidates))}, max {max(candidates)}), "
          f"page of 20 as JSON (median {int(np.median(pages)):,} bytes): {percentiles(stored)} "
          f"over {len(stored)} firms")  # fmt: skip
    print(f"profile (the facts of a stored firm, sent as a profile): {percentiles(profiled)} over {len(profiles)}; "
          f"a peer group the register does not have adds {new_group:.2f} s once")  # fmt: skip
    print(f"self-test, one policy: {percentiles(tests)} over {len(tests)} firms")


if __name__ == "__main__":
    main()
