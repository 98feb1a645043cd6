"""Benchmark the ranker: training on about 1,000,000 event rows, scoring one enterprise's 1,000 candidates,
and ``zhida rank --all``.

Issue 13 targets: training on 1,000,000 event rows ≤ 3 min on 2 cores, peak memory reported; scoring 1,000
candidates for one enterprise ≤ 5 ms; ``zhida rank --all`` for 100,000 enterprises ≤ 5 min.

Not timed: the city (``--database-url`` and ``--graph`` of an imported city, or else one generated and
imported into SQLite under --workdir as bench_graph.py does, kept between runs). Timed, each in a child
process with its own wall time and peak RSS: ``zhida train --until D`` where D is the first day of the month
by which the log holds ``--events`` rows, and ``zhida rank --all``; beside each, its floor — reading the same
events (training) or the same register and events (ranking) from the database, which any method must do.
In this process: the promoted model scoring a 1,000 × features matrix (p50/p99 over repeats), beside the
floor of LightGBM's booster predicting the same matrix from a bare NumPy array.

    python bench/bench_ranker.py [--database-url URL --graph FILE] [--enterprises 100000] [--events 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def child(args: list[str], env: dict) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (GB) of that child alone (``os.wait4``) and output of ``zhida ARGS``."""
    zhida = str(Path(sys.executable).with_name("zhida"))
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log:
        started = time.perf_counter()
        proc = subprocess.Popen([zhida, *args], env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        output = log.read()
    if proc.returncode:
        raise SystemExit(f"zhida {' '.join(args)} 失败：\n{output}")
    say("".join(f"    {line}\n" for line in output.splitlines() if line.startswith("[")).rstrip())  # its progress
    return wall, usage.ru_maxrss / 1024**2, output


def month_with(engine, rows: int) -> tuple[dt.date, int]:
    """The first day of the month by which the log holds at least ``rows`` events, and how many it holds."""
    import pandas as pd
    from sqlalchemy import select

    from service.store.models import Event

    with engine.connect() as conn:
        times = pd.to_datetime(pd.Series(conn.execute(select(Event.occurred_at)).scalars().all()), utc=True)
    months = times.dt.strftime("%Y-%m").value_counts().sort_index().cumsum()
    enough = months[months >= rows]
    if enough.empty:
        raise SystemExit(f"日志只有 {len(times):,} 行事件，不足 {rows:,} 行：请生成更大的城市（--enterprises）")
    year, month = map(int, enough.index[0].split("-"))
    first = dt.date(year + month // 12, month % 12 + 1, 1)
    return first, int((times < pd.Timestamp(first, tz="UTC")).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--graph", type=Path, default=None)
    ap.add_argument("--enterprises", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--period-days", type=int, default=60)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "zhida-bench-ranker")
    ap.add_argument("--repeats", type=int, default=300)
    a = ap.parse_args()

    from graph.knowledge import KnowledgeGraph
    from models import ranker
    from models.features import FEATURES, SCHEMA_HASH
    from service import knowledge
    from service.model_registry import load_production, promote, versions
    from service.ranking import load_events
    from service.store import make_engine
    from service.synth.params import REFERENCE_DATE

    a.workdir.mkdir(parents=True, exist_ok=True)
    url = a.database_url
    if url is None:
        from bench_graph import prepare

        url = prepare(a.workdir, a.enterprises, 46, 1)
    engine = make_engine(url)
    graph = a.graph or a.workdir / f"graph-{a.enterprises}.pickle"
    if not graph.exists():
        say("构建知识图谱……")
        knowledge.build(engine, REFERENCE_DATE).save(graph)
    env = {**os.environ, "ZHIDA_DATABASE_URL": url, "ZHIDA_MODELS_DIR": str(a.workdir / "models")}

    until, rows = month_with(engine, a.events)
    say(f"训练：截至 {until}（日志 {rows:,} 行事件）……")
    started = time.perf_counter()
    load_events(engine, until=dt.datetime.combine(until, dt.time(), tzinfo=dt.UTC))
    read_floor = time.perf_counter() - started
    wall, peak, out = child(
        ["train", "--until", until.isoformat(), "--period-days", str(a.period_days), "--graph", str(graph)], env
    )
    say(out.strip().splitlines()[-1])
    version = versions(engine, "ranker")[-1].version
    promote(engine, "ranker", version, "bench")

    artifact = load_production(engine, "ranker", SCHEMA_HASH)
    x = np.random.default_rng(1).random((1000, len(FEATURES)))
    booster = artifact.model.booster_
    times, floors = [], []
    for _ in range(a.repeats):
        t = time.perf_counter()
        ranker.score(artifact.model, x)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        booster.predict(x)
        floors.append(time.perf_counter() - t)
    p50, p99 = np.percentile(np.array(times) * 1e3, [50, 99])
    f50 = float(np.median(floors) * 1e3)

    say("为全部企业排序……")
    kg = KnowledgeGraph.load(graph)
    day = REFERENCE_DATE
    firms = sum(1 for _, d in kg.g.nodes(data=True) if d.get("kind") == "enterprise")
    started = time.perf_counter()
    load_events(engine, until=dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC))
    from service.ledger.sweeps import verified_table

    verified_table(engine, day)
    rank_floor = time.perf_counter() - started
    out_csv = a.workdir / "rank-all.csv"
    rank_wall, rank_peak, out = child(
        ["rank", "--all", "--out", str(out_csv), "--as-of", day.isoformat(), "--graph", str(graph)], env
    )
    ranked = sum(1 for _ in open(out_csv, encoding="utf-8")) - 1
    say(out.strip().splitlines()[-1])

    print(f"training on {rows:,} event rows (until {until}): {wall:.1f} s, peak RSS {peak:.2f} GB "
          f"(floor: reading the events {read_floor:.1f} s; ×{wall / read_floor:.1f})")  # fmt: skip
    print(f"scoring 1,000 candidates: p50 {p50:.2f} ms, p99 {p99:.2f} ms (floor: bare booster {f50:.2f} ms; "
          f"×{p50 / f50:.1f})")  # fmt: skip
    print(f"rank --all: {firms:,} enterprises, {ranked:,} rows in {rank_wall:.1f} s, peak RSS {rank_peak:.2f} GB "
          f"(floor: reading the register and events {rank_floor:.1f} s; ×{rank_wall / rank_floor:.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
