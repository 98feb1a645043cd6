"""Benchmark the knowledge graph: build from the database, incremental updates, candidates plus features, recall.

Issue 12 targets: a graph of 100,000 enterprises and 1,000 policies builds in ≤ 60 s within ≤ 4 GB; an
incremental update of one enterprise ≤ 50 ms; candidates plus features for one enterprise against 1,000
policies p99 ≤ 10 ms; candidates keep ≥ 99 % of the policies the rule engine finds eligible or undetermined.

Not timed: a city is generated and imported into SQLite under --workdir (kept between runs), and its 46
policies are varied to --policies (other districts' scopes, other validity windows) by writing versions
straight into the store. Timed: ``zhida graph build`` in a child process (wall time and its own peak RSS),
beside the floor of reading the same rows from the database; then, in this process, loading the file,
updating single enterprises after a change of their facts, candidates plus features, and recall.

    python bench/bench_graph.py [--enterprises 100000] [--policies 1000] [--workdir /tmp/zhida-bench-graph]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def prepare(workdir: Path, n: int, policies: int, seed: int) -> str:
    from service.io.importer import import_enterprises, import_events, import_policies
    from service.io.rosters import import_rosters
    from service.store import make_engine, upgrade
    from service.synth.params import REFERENCE_DATE
    from service.synth.world import generate_world

    db = workdir / f"city-{n}-{seed}-{policies}.sqlite3"
    url = f"sqlite:///{db}"
    if db.exists():
        upgrade(url)
        return url
    world = workdir / f"world-{n}-{seed}"
    if not (world / "enterprises.csv").exists():
        say(f"生成 {n:,} 家企业的城市（种子 {seed}）……")
        generate_world(n, seed, "南京市", world)
    upgrade(url)
    engine = make_engine(url)
    say("导入政策、企业、名单与事件……")
    import_policies(engine, world / "policies")
    import_enterprises(engine, world / "enterprises.csv")
    import_rosters(engine, world / "rosters", REFERENCE_DATE)
    import_events(engine, world / "events.jsonl")
    pad_policies(engine, policies)
    return url


def pad_policies(engine, wanted: int) -> None:
    """Vary the city's policies until there are ``wanted``: the same measures offered by each district, and
    some already expired or not yet in force (bench data only: written straight into the store)."""
    import copy
    import json

    from sqlalchemy import select

    from graph.taxonomy import regions
    from service.store import session_scope
    from service.store.models import Budget, Policy, PolicyVersion
    from service.synth.params import REFERENCE_DATE

    with session_scope(engine) as session:
        rows = session.execute(
            select(Policy, PolicyVersion).join(
                PolicyVersion,
                (PolicyVersion.policy_id == Policy.id) & (PolicyVersion.version == Policy.current_version),
            )
        ).all()
        base = [(p.slug, pv.spec, pv) for p, pv in rows]
        city = "320100"
        # announced a month before the reference date, whether in force then, expired or still to come
        announced = dt.datetime.combine(REFERENCE_DATE - dt.timedelta(days=30), dt.time(), tzinfo=dt.UTC)
        districts = [r.code for r in regions().children(city)]
        k = 0
        while len(base) + k < wanted:
            slug, spec, pv = base[k % len(base)]
            copy_no = k // len(base)
            data = copy.deepcopy(spec)
            data["id"] = f"{slug}-v{copy_no:02d}"
            district = districts[copy_no % len(districts)]
            text = json.dumps(data["conditions"], ensure_ascii=False).replace(f'"{city}"', f'"{district}"')
            data["conditions"] = json.loads(text)
            data["region"] = district
            data.pop("exclusive_group", None)
            data.pop("supplement_of", None)
            shift = (copy_no % 5 - 2) * 365  # two in five expired or not yet in force on the reference date
            valid_from = dt.date.fromisoformat(data["valid_from"]) + dt.timedelta(days=shift)
            valid_to = dt.date.fromisoformat(data["valid_to"]) + dt.timedelta(days=shift)
            data["valid_from"], data["valid_to"] = valid_from.isoformat(), valid_to.isoformat()
            policy = Policy(slug=data["id"], status="published", current_version=1)
            session.add(policy)
            session.flush()
            session.add(Budget(policy_id=policy.id, total=pv.budget))
            session.add(
                PolicyVersion(
                    policy_id=policy.id,
                    version=1,
                    spec=data,
                    spec_hash=f"bench-{data['id']}",
                    name=f"{pv.name}（{regions().get(district).name}）",
                    mode=pv.mode,
                    region=district,
                    valid_from=valid_from,
                    valid_to=valid_to,
                    budget=pv.budget,
                    published_at=announced,
                )
            )
            k += 1
    say(f"政策已扩充到 {len(base) + k} 项")


def child_build(url: str, out: Path, as_of: dt.date) -> tuple[float, float, str]:
    """``zhida graph build`` in a child: (wall s, its peak RSS MB, its summary line)."""
    env = {**os.environ, "ZHIDA_DATABASE_URL": url}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "service", "graph", "build", "--as-of", as_of.isoformat(), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"zhida graph build 失败：{done.stderr.strip()}")
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, done.stdout.strip()


def floor_read(engine, as_of: dt.date) -> float:
    """What reading the build's rows costs without any graph: the verified facts table, the register,
    the policies and the payouts."""
    from sqlalchemy import select

    from service.knowledge import _current_versions, _receipts
    from service.ledger.sweeps import verified_table
    from service.store.models import Enterprise

    class _Marks:
        marks: dict = {}

    started = time.perf_counter()
    with engine.connect() as conn:
        _current_versions(conn)
        conn.execute(select(Enterprise.id, Enterprise.uscc, Enterprise.name, Enterprise.established_on)).all()
        list(_receipts(conn, _Marks()))
    verified_table(engine, as_of)
    return time.perf_counter() - started


def percentiles(xs) -> str:
    ms = np.array(xs) * 1e3
    return f"p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms, max {ms.max():.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--policies", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--queries", type=int, default=2000, help="enterprises whose candidates are timed")
    parser.add_argument("--updates", type=int, default=200, help="single-enterprise updates timed")
    parser.add_argument("--recall", type=int, default=20000, help="enterprises the recall is measured on (0: skip)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/zhida-bench-graph"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    from service.store import make_engine
    from service.synth.params import REFERENCE_DATE

    as_of = REFERENCE_DATE
    url = prepare(args.workdir, args.enterprises, args.policies, args.seed)
    engine = make_engine(url)

    say("计时：zhida graph build（子进程）……")
    out = args.workdir / "graph.pickle"
    wall, rss, line = child_build(url, out, as_of)
    say(line)
    floor = floor_read(engine, as_of)
    print(f"build: {wall:.1f} s wall, peak RSS {rss:,.0f} MB; floor (reading the same rows) {floor:.1f} s; "
          f"ratio {wall / floor:.2f}; file {out.stat().st_size / 1e6:.0f} MB")  # fmt: skip

    from graph.features import FeatureIndex
    from graph.knowledge import KnowledgeGraph

    started = time.perf_counter()
    kg = KnowledgeGraph.load(out)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    index = FeatureIndex(kg, as_of)
    index_s = time.perf_counter() - started
    live = int(index.live(as_of).sum())
    print(f"load: {load_s:.1f} s; feature index: {index_s:.1f} s ({len(index.profiles):,} enterprises, "
          f"{len(index.policies):,} policies, {live} in force on {as_of})")  # fmt: skip

    rng = np.random.default_rng(args.seed)
    keys = list(index.profiles)

    # candidates plus features, one enterprise at a time
    for key in keys[:50]:  # warm caches (the region scopes of each district)
        prof = index.profiles[key]
        index.features(prof, index.candidates(prof, as_of))
    times, sizes = [], []
    for i in rng.choice(len(keys), size=min(args.queries, len(keys)), replace=False):
        prof = index.profiles[keys[i]]
        t = time.perf_counter()
        cands = index.candidates(prof, as_of)
        index.features(prof, cands)
        times.append(time.perf_counter() - t)
        sizes.append(len(cands))
    floor_q = []
    for i in rng.choice(len(keys), size=200, replace=False):
        cols = index.profiles[keys[i]].tags
        t = time.perf_counter()
        index.targets[:, cols] @ index.idf[cols]  # one sparse slice and product: the least any query does
        floor_q.append(time.perf_counter() - t)
    p99 = np.percentile(times, 99)
    print(f"candidates + features: {percentiles(times)} over {len(times)} enterprises; "
          f"{np.mean(sizes):.0f} candidates on average of {len(index.policies)}; "
          f"floor (one sparse slice) p99 {np.percentile(floor_q, 99) * 1e3:.3f} ms, "
          f"ratio {p99 / np.percentile(floor_q, 99):.0f}")  # fmt: skip

    # incremental updates: a fact of one enterprise changes, the graph and the index follow
    from sqlalchemy import delete, select

    from service import knowledge
    from service.store import session_scope
    from service.store.models import Enterprise, FieldValue

    with engine.connect() as conn:
        ids = dict(conn.execute(select(Enterprise.uscc, Enterprise.id)).all())
    updates, floor_u = [], []
    for i in rng.choice(len(keys), size=min(args.updates, len(keys)), replace=False):
        uscc = keys[i]
        with session_scope(engine) as session:
            session.execute(
                delete(FieldValue).where(
                    FieldValue.enterprise_id == ids[uscc], FieldValue.field == "employees", FieldValue.as_of == as_of
                )
            )
            session.add(
                FieldValue(
                    enterprise_id=ids[uscc], field="employees", value=str(int(rng.integers(1, 2000))),
                    source="social_security", as_of=as_of,
                )
            )  # fmt: skip
        t = time.perf_counter()
        knowledge.update_enterprises(kg, engine, [ids[uscc]])
        index.update_enterprise(uscc)
        updates.append(time.perf_counter() - t)
        t = time.perf_counter()
        with engine.connect() as conn:
            conn.execute(select(FieldValue.field, FieldValue.value).where(FieldValue.enterprise_id == ids[uscc])).all()
        floor_u.append(time.perf_counter() - t)
    print(f"incremental update of one enterprise (read its facts, derive its tags, replace its edges, update the "
          f"index): {percentiles(updates)} over {len(updates)}; floor (one read of its facts) "
          f"p50 {np.median(floor_u) * 1e3:.2f} ms, ratio {np.median(updates) / np.median(floor_u):.1f}")  # fmt: skip

    if args.recall:
        recall(engine, index, as_of, args.recall, rng)
    return 0


def recall(engine, index, as_of: dt.date, n: int, rng) -> None:
    """Share of the (enterprise, policy in force) pairs the rule engine finds eligible or undetermined that the
    candidates keep, on ``n`` enterprises (all of them decided by the columnar engine, every policy)."""
    from sqlalchemy import select

    from matcher.columnar import FALSE, evaluate_conditions
    from service.knowledge import _current_versions
    from service.ledger.facts import spec_of
    from service.ledger.sweeps import verified_table
    from service.store.models import Enterprise

    started = time.perf_counter()
    table, ids = verified_table(engine, as_of)
    with engine.connect() as conn:
        uscc = dict(conn.execute(select(Enterprise.id, Enterprise.uscc)).all())
        versions = _current_versions(conn)
    rows = np.sort(rng.choice(len(ids), size=min(n, len(ids)), replace=False))
    kept = np.zeros((len(rows), len(index.policies)), dtype=bool)
    for j, r in enumerate(rows):
        kept[j, index.candidates(index.profiles[uscc[ids[r]]], as_of)] = True
    live = index.live(as_of)
    want = got = 0
    missed: dict[str, int] = {}
    for _, slug, pv in versions:
        p = index.pol_ix.get(slug)
        if p is None or not live[p]:  # not yet announced on the date, or not in force
            continue
        outcome, _ = evaluate_conditions(spec_of(pv).conditions, table)
        open_ = outcome[rows] != FALSE
        want += int(open_.sum())
        hit = int((open_ & kept[:, p]).sum())
        got += hit
        if hit < open_.sum():
            missed[slug] = int(open_.sum()) - hit
    share = got / want if want else 1.0
    print(f"recall: {share:.4f} ({got:,} of {want:,} eligible-or-undetermined pairs kept, {len(rows):,} "
          f"enterprises × {int(live.sum())} policies in force; {kept.sum() / kept.size:.1%} of all pairs are "
          f"candidates; {time.perf_counter() - started:.0f} s)")  # fmt: skip
    for slug, k in sorted(missed.items(), key=lambda x: -x[1])[:5]:
        print(f"  missed {k} pairs of {slug}")


if __name__ == "__main__":
    sys.exit(main())
