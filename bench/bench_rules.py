"""Benchmark the rule engine (issue 3; records: issue 11, point 3).

1. Scalar: one decision with its trace, one enterprise and one policy — p50/p99 latency.
   Target p99 ≤ 1 ms.
2. Columnar: P policies over N enterprises (default 100 × 1,000,000), conditions and
   amounts of eligible rows. Target ≤ 10 s on 2 cores. Run twice in the same process:
   the city's generated policies alone, then with ``--record-policies`` of them (default 12)
   replaced by measures over the 新招用人员 records (``new_hires``: filter, some, all, none,
   counts and sums; about 3 records per enterprise), and the ratio of the two.

    python bench/bench_rules.py [--enterprises 1000000] [--policies 100] [--record-policies 12] [--scalar 20000]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import os
import platform
import resource
import sys
import tempfile
import time

import numpy as np
import pandas as pd

V = lambda name: {"var": name}  # noqa: E731
COUNT = {"+": [V("accumulator"), 1]}


def count(rule):
    return {"reduce": [{"filter": [V("new_hires"), rule]}, COUNT, 0]}


def measures(months: int) -> list:
    """Measures over the new hires, as a city would write them (amounts in yuan per qualifying hire);
    ``months``: the insurance months a hire needs (varied, so that copies are not the same rules)."""
    this_year = {">=": [V("hired_on"), "2026-01-01"]}
    insured = {
        "and": [V("labour_contract"), {">=": [V("insured_months"), months]}, V("pension_insured"), V("injury_insured")]
    }
    graduate = {">=": [{"var": ["graduate_year", 0]}, 2024]}
    youth = {"and": [V("registered_unemployed"), {"<=": [16, V("age"), 24]}]}
    kuogang = {"and": [this_year, {"or": [graduate, youth]}, insured]}
    hard_to_employ = {
        "and": [V("registered_unemployed"), {">=": [V("unemployed_months"), months + 3]}, V("labour_contract")]
    }
    older = {"and": [{">=": [V("age"), 42 + months]}, V("labour_contract")]}
    return _measures(this_year, insured, graduate, youth, kuogang, hard_to_employ, older)


def _measures(THIS_YEAR, INSURED, GRADUATE, YOUTH, KUOGANG, HARD_TO_EMPLOY, OLDER):  # noqa: N803
    return [
    ("kuogang-buzhu", "一次性扩岗补助", {"some": [V("new_hires"), KUOGANG]}, {"*": [count(KUOGANG), 1500]}, None),
    ("gaoxiao-biye-shebao", "吸纳高校毕业生社保补贴", {">=": [count({"and": [GRADUATE, INSURED]}), 2]},
     {"*": [count({"and": [GRADUATE, INSURED]}), 3000]}, "60000.00"),
    ("jiuye-kunnan-butie", "吸纳就业困难人员补贴", {"some": [V("new_hires"), HARD_TO_EMPLOY]},
     {"*": [{"min": [count(HARD_TO_EMPLOY), 10]}, 2000]}, None),
    ("guifan-yonggong", "规范用工奖励", {"and": [{"all": [V("new_hires"), INSURED]}, {">=": [count(THIS_YEAR), 5]}]},
     "20000.00", None),
    ("wu-weiqian-hetong", "无未签合同用工的小微企业稳岗奖励",
     {"and": [{"none": [V("new_hires"), {"!": V("labour_contract")}]}, {"<=": [V("employees"), 50]},
              {">=": [count(V("labour_contract")), 1]}]}, "5000.00", None),
    ("qingnian-jiuye", "青年就业见习补贴", {">=": [count({"and": [YOUTH, INSURED]}), 1]},
     {"*": [count({"and": [YOUTH, INSURED]}), 1800]}, "90000.00"),
    ("dalin-jiuye", "吸纳大龄人员就业补贴", {"some": [{"map": [V("new_hires"), V("age")]}, {">=": [V(""), 50]}]},
     {"*": [count(OLDER), 1000]}, None),
    ("shebao-yueshu-butie", "新招用人员社保补贴（按月）",
     {">=": [{"reduce": [{"filter": [V("new_hires"), INSURED]}, {"+": [V("accumulator"), V("current.insured_months")]},
                         0]}, 12]},
     {"*": [{"reduce": [{"filter": [V("new_hires"), INSURED]}, {"+": [V("accumulator"), V("current.insured_months")]},
                        0]}, 200]}, "50000.00"),
    ]  # fmt: skip


def record_specs(base: dict, k: int) -> list:
    """``k`` measures over the new hires (the templates above, thresholds varied), scoped like the city's."""
    from matcher.spec import parse_spec

    out = []
    for i in range(k):
        templates = measures(3 + i // 8)
        slug, name, conditions, formula, cap = templates[i % len(templates)]
        data = copy.deepcopy(base)
        data.update(
            id=f"{slug}-{i}",
            name=name,
            mode="automatic",
            conditions={"and": [{"in_region": [V("region"), "320100"]}, {"!": V("on_dishonesty_list")}, conditions]},
            amount={"formula": formula, "rounding": "half_up", **({"cap": cap} if cap else {})},
            tests=[{"name": "缺少新招用人员时待补充", "facts": {}, "expect": {"decision": "undetermined"}}],
            declarable=[],
            exclusive_group=None,
            supplement_of=None,
        )
        data = {k: v for k, v in data.items() if v is not None}
        out.append(parse_spec(data))
    return out


def new_hires(frame, rng, as_of: dt.date):
    """Synthetic 新招用人员 for every enterprise: a long frame (one row per record) and which firms have a
    value. Hires per firm grow with its size (0–20, about 3 on average); 1 % of firms have no record list
    on file (unknown), and each sub-field is missing in about 0.5 % of records."""
    n = len(frame)
    employees = frame["employees"].replace("", "1").astype(float).to_numpy()
    per_firm = np.minimum(rng.poisson(np.clip(1.2 * employees**0.6, 0.5, 16)), 20)
    known = rng.random(n) >= 0.01
    per_firm[~known] = 0
    owner = np.repeat(np.arange(n), per_firm)
    r = len(owner)
    age = np.clip(np.round(17 + rng.gamma(2.0, 5.5, r)), 16, 60)
    graduate = (age <= 30) & (rng.random(r) < 0.45)
    graduate_year = np.where(graduate, 2026 - np.minimum(rng.integers(0, 6, r), np.maximum(age - 21, 0)), np.nan)
    registered = rng.random(r) < 0.12
    hired = np.datetime64(as_of) - rng.integers(0, 365, r).astype("timedelta64[D]")
    months = np.minimum(12, (np.datetime64(as_of) - hired).astype(int) // 30)
    insured = np.where(rng.random(r) < 0.9, months, rng.integers(0, 3, r))
    columns = {
        "owner": owner,
        "hired_on": hired,
        "age": age,
        "graduate_year": graduate_year,
        "registered_unemployed": registered.astype(float),
        "unemployed_months": np.where(registered, rng.integers(1, 25, r), 0).astype(float),
        "labour_contract": (rng.random(r) < 0.93).astype(float),
        "insured_months": insured.astype(float),
        "pension_insured": (rng.random(r) < 0.96).astype(float),
        "injury_insured": (rng.random(r) < 0.94).astype(float),
    }
    for name, values in columns.items():  # a few gaps in the social-security feed
        if name != "owner":
            gap = rng.random(r) < 0.005
            columns[name] = (
                np.where(gap, np.datetime64("NaT"), values) if name == "hired_on" else np.where(gap, np.nan, values)
            )
    return pd.DataFrame(columns), known


def columnar(specs, table, label: str) -> tuple[float, float, int, int]:
    from matcher.columnar import sweep

    table.clear_caches()  # each run starts cold: what a sweep keeps serves only the policies of its run
    wall, cpu = time.perf_counter(), time.process_time()
    eligible = exact = 0
    for i, spec in enumerate(specs):
        result = sweep(spec, table)
        eligible += result.eligible
        exact += len(result.exact)
        if (i + 1) % 25 == 0:
            print(f"  {label}: {i + 1}/{len(specs)} policies, {time.perf_counter() - wall:.1f} s", flush=True)
    return time.perf_counter() - wall, time.process_time() - cpu, eligible, exact


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=1_000_000)
    parser.add_argument("--policies", type=int, default=100)
    parser.add_argument("--record-policies", type=int, default=12, help="of the policies, how many use new_hires")
    parser.add_argument("--scalar", type=int, default=20_000, help="scalar decisions to time")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from matcher.columnar import table_from_frame
    from matcher.decision import decide, typed_facts
    from matcher.spec import load_specs
    from service.synth import enterprises as synth_enterprises
    from service.synth.world import generate_world

    as_of = dt.date(2026, 6, 30)
    load = os.getloadavg()[0]
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, load {load:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        generate_world(50, args.seed, "南京市", tmp)
        city, _ = load_specs(f"{tmp}/policies")
    plain = [city[i % len(city)] for i in range(args.policies)]
    k = min(args.record_policies, args.policies)
    with_records = plain[: args.policies - k] + record_specs(city[0].to_json(), k)

    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    frame = synth_enterprises.generate(args.enterprises, rng, "南京市", as_of)
    hires, known = new_hires(frame, rng, as_of)
    print(
        f"generated {args.enterprises} enterprises and {len(hires)} new-hire records "
        f"({len(hires) / args.enterprises:.2f} per firm, at most {np.bincount(hires['owner']).max()}) "
        f"in {time.perf_counter() - t0:.1f} s (not timed below)"
    )

    # 2. columnar (first: the table is also what the scalar sample reads its records from)
    t0 = time.perf_counter()
    table = table_from_frame(frame, as_of, records={"new_hires": (hires, known)})
    t_table = time.perf_counter() - t0

    # 1. scalar
    sample = frame.sample(n=min(args.scalar, len(frame)), random_state=args.seed)
    facts = []
    for i, r in zip(sample.index, sample.to_dict("records")):
        f = typed_facts({k: v for k, v in r.items() if k != "as_of" and v != ""}, as_of)
        f["new_hires"] = table.records("new_hires").value(int(i))
        facts.append(f)
    times, cpu_times, is_record = [], [], []
    record_ids = {spec.id for spec in with_records[args.policies - k :]}
    for i, f in enumerate(facts):
        spec = with_records[i % len(with_records)]
        t, c = time.perf_counter_ns(), time.thread_time_ns()
        decide(spec, f, as_of)
        cpu_times.append(time.thread_time_ns() - c)
        times.append(time.perf_counter_ns() - t)
        is_record.append(spec.id in record_ids)
    times_ms, cpu_ms, is_record = np.array(times) / 1e6, np.array(cpu_times) / 1e6, np.array(is_record)
    p50, p99 = np.percentile(times_ms, [50, 99])
    cpu99 = np.percentile(cpu_ms, 99)
    r50, r99 = np.percentile(times_ms[is_record], [50, 99]) if is_record.any() else (0.0, 0.0)
    rcpu99 = np.percentile(cpu_ms[is_record], 99) if is_record.any() else 0.0
    print(
        f"scalar decide with trace: {len(times)} decisions, p50 {p50:.3f} ms, p99 {p99:.3f} ms "
        f"({'OK' if p99 <= 1 else 'OVER'} target p99 ≤ 1 ms); CPU time p99 {cpu99:.3f} ms; "
        f"the {int(is_record.sum())} over new_hires: p50 {r50:.3f} ms, p99 {r99:.3f} ms (CPU time {rcpu99:.3f} ms)"
    )

    w_plain, c_plain, e_plain, x_plain = columnar(plain, table, "city policies")
    w_rec, c_rec, e_rec, x_rec = columnar(with_records, table, f"with {k} record policies")
    only = with_records[args.policies - k :]
    w_only, c_only, e_only, _ = columnar(only, table, "record policies alone")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"columnar: table of {len(table)} enterprises and {len(table.records('new_hires'))} records built in "
        f"{t_table:.1f} s; peak RSS {peak:.0f} MB"
    )
    print(
        f"  {len(plain)} city policies: {w_plain:.1f} s wall, {c_plain:.1f} s CPU "
        f"({e_plain} eligible pairs, {x_plain} rows re-decided by the scalar engine)"
    )
    print(
        f"  {len(with_records)} policies, {k} over new_hires: {w_rec:.1f} s wall, {c_rec:.1f} s CPU "
        f"({e_rec} eligible pairs, {x_rec} rows re-decided by the scalar engine)"
    )
    print(
        f"  the {k} record policies alone: {w_only:.1f} s wall, {c_only:.1f} s CPU, "
        f"{1000 * c_only / k:.0f} ms CPU each against {1000 * c_plain / len(plain):.0f} ms for a city policy "
        f"({e_only} eligible pairs)"
    )
    print(
        f"summary: scalar p99 {p99:.3f} ms; columnar {len(with_records)} × {len(table)} with {k} record policies "
        f"in {w_rec:.1f} s ({'OK' if w_rec <= 10 else 'OVER'} target ≤ 10 s), without {w_plain:.1f} s, "
        f"ratio {w_rec / w_plain:.2f} (CPU {c_rec / c_plain:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
