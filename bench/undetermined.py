"""How much of a generated city is undetermined: the share of (enterprise, measure) pairs the engine cannot decide.

Generates a city (default 3,000 enterprises of 南京市, seed 1), imports it into a fresh SQLite
store by the normal path (policies, enterprises and, unless ``--no-rosters``, the rosters the
generator wrote, as of the reference date), then, as of the reference date:

- sweeps every automatic measure as a dry run (``run_sweep``), as ``zhida sweep --dry-run`` does;
- decides every measure of the city (all modes) over the verified register with the columnar
  engine (``verified_table`` + ``matcher.columnar.sweep``), as the sandbox does.

It prints, for both, the undetermined share overall and for the measures whose conditions test a
qualification (``has_qualification``), and the facts most often missing (待补充). Numbers:
docs/rosters.md.

    python bench/undetermined.py [--enterprises 3000] [--seed 1] [--no-rosters] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path


def _names(rule, op: str) -> bool:
    if isinstance(rule, dict):
        return op in rule or any(_names(v, op) for v in rule.values())
    if isinstance(rule, list):
        return any(_names(v, op) for v in rule)
    return False


def measure(n: int, seed: int, city: str, rosters: bool, folder: Path) -> dict:
    from matcher import catalog
    from matcher.columnar import sweep
    from service.io.importer import import_enterprises, import_policies
    from service.ledger.sweeps import _undetermined, automatic_versions, run_sweep, verified_table
    from service.store import make_engine, session_scope, upgrade
    from service.synth import params
    from service.synth.world import generate_world

    as_of = params.REFERENCE_DATE
    generate_world(n, seed, city, folder / "world")
    url = f"sqlite:///{folder / 'city.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    import_policies(engine, folder / "world" / "policies")
    import_enterprises(engine, folder / "world" / "enterprises.csv")
    imported = []
    if rosters and (folder / "world" / "rosters").is_dir():
        from service.io.rosters import import_rosters

        report = import_rosters(engine, folder / "world" / "rosters", as_of)
        assert report.committed, report.summary()
        imported = sorted(report.rosters)

    out = {"enterprises": n, "seed": seed, "city": city, "as_of": as_of.isoformat(), "rosters": imported}

    # 免申即享: the sweep's own report (dry run)
    reports = run_sweep(engine, as_of=as_of, dry_run=True)
    with session_scope(engine) as s:
        specs = {slug: v.spec for slug, v in automatic_versions(s, as_of).items()}
    out["sweep"] = _summary(
        n, [(r.policy_id, r.undetermined, r.missing) for r in reports if r.policy_id in specs], specs, catalog
    )
    out["sweep"]["lines"] = [r.line() for r in reports]

    # every measure of the city, column-wise over the verified register
    from matcher.spec import load_specs

    table, _ = verified_table(engine, as_of)
    every, _ = load_specs(folder / "world" / "policies")
    rows = []
    for spec in every:
        undetermined, missing = _undetermined(sweep(spec, table))
        rows.append((spec.id, undetermined, missing))
    out["all"] = _summary(n, rows, {s.id: s for s in every}, catalog)
    return out


def _summary(n: int, rows, specs: dict, catalog) -> dict:
    def share(subset):
        pairs = n * len(subset)
        undetermined = sum(u for _, u, _ in subset)
        missing = Counter()
        for _, _, m in subset:
            missing.update(m)
        return {
            "measures": len(subset),
            "pairs": pairs,
            "undetermined": undetermined,
            "share": round(undetermined / pairs, 4) if pairs else 0.0,
            "missing": [(catalog.FIELDS[f].label, f, c) for f, c in missing.most_common(6)],
        }

    quals = [r for r in rows if _names(specs[r[0]].conditions, "has_qualification")]
    return {
        "overall": share(rows),
        "qualification": share(quals),
        "by_measure": {pid: u for pid, u, _ in rows},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--city", default="南京市")
    parser.add_argument("--no-rosters", action="store_true", help="do not import the rosters")
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(args.enterprises, args.seed, args.city, not args.no_rosters, Path(tmp))
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return 0
    print(f"{result['city']} {result['enterprises']} 家，种子 {result['seed']}，截至 {result['as_of']}；"
          f"名单：{'、'.join(result['rosters']) or '未导入'}")  # fmt: skip
    for key, title in (("sweep", "免申即享（扫描，模拟）"), ("all", "全部政策（列式引擎）")):
        for part, name in (("overall", "全部"), ("qualification", "资质类")):
            s = result[key][part]
            top = "、".join(f"{label} {c}" for label, _, c in s["missing"])
            print(f"{title} {name} {s['measures']} 项：待定 {s['undetermined']}/{s['pairs']} = {s['share']:.1%}；"
                  f"待补充：{top}")  # fmt: skip
    for line in result["sweep"]["lines"]:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
