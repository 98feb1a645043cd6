"""Benchmark: generate N enterprises (default 100,000) and import them into a fresh SQLite store.

Prints wall time and peak memory (RSS) of each stage and of the whole run, then
a one-line summary. Target (issue 2): ≤ 60 s and ≤ 2 GB on 2 cores.

    python bench/bench_generate_import.py [--enterprises 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--city", default="南京市")
    args = parser.parse_args()

    from service.io.importer import import_enterprises, import_events, import_policies
    from service.io.rosters import import_rosters
    from service.store import make_engine, upgrade
    from service.synth.params import REFERENCE_DATE
    from service.synth.world import generate_world

    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        summary = generate_world(
            args.enterprises,
            args.seed,
            args.city,
            tmp / "world",
            progress=lambda s, d, t: print(f"  generate {s} {d}/{t}", flush=True) if d == t else None,
        )
        t_gen = time.perf_counter() - t0
        print(
            f"generate: {t_gen:.1f} s, peak RSS {peak_mb():.0f} MB "
            f"({summary['enterprises']} enterprises, {summary['policies']} policies, "
            f"{summary['events']} events)"
        )

        url = f"sqlite:///{tmp / 'bench.sqlite3'}"
        t1 = time.perf_counter()
        upgrade(url)
        engine = make_engine(url)
        import_policies(engine, tmp / "world" / "policies")
        report = import_enterprises(
            engine,
            tmp / "world" / "enterprises.csv",
            progress=lambda s, d, t: print(f"  import {s} {d}/{t}", flush=True) if d == t else None,
        )
        assert report.committed, report.summary()
        listed = import_rosters(engine, tmp / "world" / "rosters", REFERENCE_DATE)  # the city's 名单
        t_imp = time.perf_counter() - t1
        assert listed.committed, listed.summary()
        print(
            f"import enterprises and rosters: {t_imp:.1f} s, {report.facts} field values, "
            f"{sum(r.written for r in listed.results)} roster facts, peak RSS {peak_mb():.0f} MB"
        )
        t2 = time.perf_counter()
        ev = import_events(engine, tmp / "world" / "events.jsonl")
        t_ev = time.perf_counter() - t2
        print(f"import events (not in the target): {t_ev:.1f} s, {ev.written} events")
    total = t_gen + t_imp
    verdict = "OK" if total <= 60 and peak_mb() <= 2048 else "OVER TARGET"
    print(
        f"summary: generate+import {args.enterprises} enterprises in {total:.1f} s "
        f"(generate {t_gen:.1f} s, import {t_imp:.1f} s), peak RSS {peak_mb():.0f} MB — {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
