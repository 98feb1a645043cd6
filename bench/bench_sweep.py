"""Benchmark a 免申即享 sweep: N enterprises (default 100,000) against every automatic policy.

Generates and imports a city into a fresh SQLite store (not timed), then times
`run_sweep` (evaluation, refusals, budget reservation, payouts and audit records)
and prints a one-line summary. Issue 4 target: 100,000 enterprises × 20 automatic
policies ≤ 60 s.

    python bench/bench_sweep.py [--enterprises 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import tempfile
import time
from pathlib import Path


def _pad_automatic(folder: Path, wanted: int) -> None:
    """Clone the city's automatic policies (new ids, own budgets, no exclusive group) until there are ``wanted``."""
    import yaml

    automatic = [
        p for p in sorted(folder.glob("*.yaml")) if yaml.safe_load(p.read_text(encoding="utf-8"))["mode"] == "automatic"
    ]
    k = 0
    while len(automatic) + k < wanted:
        source = automatic[k % len(automatic)]
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
        data["id"] = f"{data['id']}-b{k}"
        data.pop("exclusive_group", None)  # a clone is a measure of its own, not a rival of the original
        (folder / f"{data['id']}.yaml").write_text(
            yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
        k += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--policies", type=int, default=20, help="automatic policies (the city's are cloned to reach it)"
    )
    args = parser.parse_args()

    from service.io.importer import import_enterprises, import_policies
    from service.io.rosters import import_rosters
    from service.ledger.sweeps import run_sweep
    from service.store import make_engine, upgrade
    from service.synth.world import generate_world

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate_world(args.enterprises, args.seed, "南京市", tmp / "w")
        _pad_automatic(tmp / "w" / "policies", args.policies)
        url = f"sqlite:///{tmp / 'sweep.sqlite3'}"
        upgrade(url)
        engine = make_engine(url)
        import_policies(engine, tmp / "w" / "policies")
        import_enterprises(engine, tmp / "w" / "enterprises.csv")
        import_rosters(engine, tmp / "w" / "rosters", dt.date(2026, 6, 30))  # the city's 名单: who is on them
        print(f"prepared {args.enterprises} enterprises", flush=True)
        t0 = time.perf_counter()
        reports = run_sweep(engine, as_of=dt.date(2026, 6, 30))
        elapsed = time.perf_counter() - t0
    paid = sum(r.outcomes["paid"] for r in reports)
    money = sum(r.money for r in reports)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for r in reports:
        print(" ", r.line())
    print(
        f"summary: sweep of {args.enterprises} enterprises × {len(reports)} automatic policies in {elapsed:.1f} s, "
        f"{paid} payouts, {money} yuan, peak RSS {peak:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
