"""Time one 政策包 round over a whole register: plan every enterprise's bundle, and (``--round``) queue and
deliver them through the outbox to the inbox.

Issue 15 target: bundles for 100,000 enterprises against 500 policies ≤ 5 min on 2 cores, peak memory
reported. Not timed: the city (``--database-url`` and ``--models-dir`` of an imported city with its graph and,
for the ranker's order, a promoted model), e.g. ``zhida generate --enterprises 100000 --policies 500``. Timed:
:func:`service.push.planning.plan_bundles` by stage (reading the register, the events and the ledger; the
rules, one columnar pass per policy; the ranker over what the rules let in; assembling the bundles), beside the
floor of the same run — reading the register and the events alone, which any round must do. ``--round`` then
runs :func:`service.push.rounds.run_round` (it writes: outbox messages, pushed items, push events; a second
round the same week queues nothing new).

    python bench/bench_bundles.py --database-url URL --models-dir DIR [--day 2026-06-30] [--round [--no-deliver]]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def say(text: str, fraction=None) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--models-dir", required=True)
    ap.add_argument("--day", default="2026-06-30")
    ap.add_argument("--round", action="store_true", help="also queue and deliver (writes to the database)")
    ap.add_argument("--no-deliver", action="store_true", help="with --round: queue only, send nothing")
    a = ap.parse_args()
    os.environ["ZHIDA_DATABASE_URL"] = a.database_url
    os.environ["ZHIDA_MODELS_DIR"] = a.models_dir
    from graph.knowledge import KnowledgeGraph
    from service import knowledge
    from service.ledger.sweeps import read_register
    from service.push.planning import plan_bundles
    from service.ranking import load_events, serving_time
    from service.store import make_engine

    day = dt.date.fromisoformat(a.day)
    engine = make_engine(a.database_url)
    kg = KnowledgeGraph.load(knowledge.default_path())

    started = time.perf_counter()
    stored = read_register(engine)
    events = load_events(engine, until=serving_time(day).to_pydatetime())
    floor = time.perf_counter() - started
    firms, n_events = len(stored[1]), len(events)
    del stored, events
    say(f"floor (register and events read): {floor:.1f} s — {firms:,} firms, {n_events:,} events")

    started = time.perf_counter()
    plan = plan_bundles(engine, kg, day, progress=say)
    took = time.perf_counter() - started
    stages = "  ".join(f"{k} {v:.1f} s" for k, v in plan.seconds.items())
    print(plan.summary())
    print(f"plan: {took:.1f} s (floor × {took / floor:.1f}); {stages}; peak RSS {peak_gb():.2f} GB")
    if a.round:
        from service.push.rounds import run_round

        del plan  # the round plans again: one plan in memory at a time

        started = time.perf_counter()
        report = run_round(engine, kg, day, dt.datetime.now(dt.UTC), deliver=not a.no_deliver, progress=say)
        took = time.perf_counter() - started
        print(report.summary())
        print(f"queue {report.queue_seconds:.1f} s for {report.planned:,}; deliver {report.deliver_seconds:.1f} s")
        what = "plan, queue" if a.no_deliver else "plan, queue, deliver"
        print(f"round ({what}): {took:.1f} s (floor × {took / floor:.1f}); peak RSS {peak_gb():.2f} GB")


if __name__ == "__main__":
    main()
