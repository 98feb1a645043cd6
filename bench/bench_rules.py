"""Benchmark the rule engine (issue 3).

1. Scalar: one decision with its trace, one enterprise and one policy — p50/p99 latency.
   Target p99 ≤ 1 ms.
2. Columnar: P policies over N enterprises (default 100 × 1,000,000), conditions and
   amounts of eligible rows. Target ≤ 10 s on 2 cores.

    python bench/bench_rules.py [--enterprises 1000000] [--policies 100] [--scalar 20000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import sys
import tempfile
import time

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=1_000_000)
    parser.add_argument("--policies", type=int, default=100)
    parser.add_argument("--scalar", type=int, default=20_000, help="scalar decisions to time")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from matcher.columnar import sweep, table_from_frame
    from matcher.decision import decide, typed_facts
    from matcher.spec import load_specs
    from service.synth import enterprises as synth_enterprises
    from service.synth.world import generate_world

    as_of = dt.date(2026, 6, 30)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        generate_world(50, args.seed, "南京市", tmp)
        specs, _ = load_specs(f"{tmp}/policies")
    specs = [specs[i % len(specs)] for i in range(args.policies)]

    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    frame = synth_enterprises.generate(args.enterprises, rng, "南京市", as_of)
    print(f"generated {args.enterprises} enterprises in {time.perf_counter() - t0:.1f} s (not timed below)")

    # 1. scalar
    sample = frame.sample(n=min(args.scalar, len(frame)), random_state=args.seed)
    facts = [
        typed_facts({k: v for k, v in r.items() if k != "as_of" and v != ""}, as_of) for r in sample.to_dict("records")
    ]
    times = []
    for i, f in enumerate(facts):
        spec = specs[i % len(specs)]
        t = time.perf_counter_ns()
        decide(spec, f, as_of)
        times.append(time.perf_counter_ns() - t)
    times_ms = np.array(times) / 1e6
    p50, p99 = np.percentile(times_ms, [50, 99])
    print(
        f"scalar decide with trace: {len(times)} decisions, p50 {p50:.3f} ms, p99 {p99:.3f} ms "
        f"({'OK' if p99 <= 1 else 'OVER'} target p99 ≤ 1 ms)"
    )

    # 2. columnar
    t0 = time.perf_counter()
    table = table_from_frame(frame, as_of)
    t_table = time.perf_counter() - t0
    t0 = time.perf_counter()
    eligible = exact = 0
    for i, spec in enumerate(specs):
        result = sweep(spec, table)
        eligible += result.eligible
        exact += len(result.exact)
        if (i + 1) % 10 == 0:
            print(f"  columnar {i + 1}/{len(specs)} policies, {time.perf_counter() - t0:.1f} s", flush=True)
    t_cols = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"columnar: table of {len(table)} enterprises built in {t_table:.1f} s; "
        f"{len(specs)} policies evaluated in {t_cols:.1f} s ({eligible} eligible pairs with exact amounts, "
        f"{exact} rows re-decided by the scalar engine), "
        f"peak RSS {peak:.0f} MB"
    )
    print(
        f"summary: scalar p99 {p99:.3f} ms; columnar {len(specs)} × {len(table)} in {t_cols:.1f} s "
        f"({'OK' if t_cols <= 10 else 'OVER'} target ≤ 10 s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
