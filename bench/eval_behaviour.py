"""Does the generated history carry behaviour worth learning? NDCG@10 of simple non-learned scorers.

Generates a city (or reads one), splits its events at a date (train before,
test after) and ranks, for every (enterprise, push round) query of the test
period, the policies pushed in it. Labels are graded from the events: view 1,
apply 2, approved 3 (免申即享 notices are not choices and are left out).
Scorers see only what the platform sees (events before the split, the
enterprises, rosters and policies, the platform's own eligibility engine);
the ceiling reads truth/, which no model may. The generator is right when the
ceiling is clearly above "eligible first, by amount" and past-behaviour
scorers clearly beat random.

    python bench/eval_behaviour.py [--enterprises 20000] [--seeds 1 2] [--split 2026-01-01]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GRADE = {"view": 1, "apply": 2, "approved": 3}
K = 10


def load_events(path: Path) -> pd.DataFrame:
    """Events with their chain (the push round, ``a`` for 免申即享) and the push's round/rank."""
    ev = pd.read_json(path, lines=True, dtype={"uscc": str, "policy_id": str, "occurred_at": str}, convert_dates=False)
    ev["chain"] = ev["event_id"].str.rsplit(":", n=1).str[1]
    ev["at"] = pd.to_datetime(ev["occurred_at"].str[:19])
    return ev


def chains(ev: pd.DataFrame, automatic: set[str]) -> pd.DataFrame:
    """One row per recommended (enterprise, policy, round): push time, rank shown and the graded label."""
    push = ev[(ev["kind"] == "push") & (ev["chain"] != "a") & ~ev["policy_id"].isin(automatic)]
    push = push.assign(rank=[p["rank"] for p in push["payload"]])[["uscc", "policy_id", "chain", "at", "rank"]]
    grades = ev[ev["kind"].isin(list(GRADE))].assign(label=lambda d: d["kind"].map(GRADE))
    grades = grades.groupby(["uscc", "policy_id", "chain"], as_index=False)["label"].max()
    out = push.merge(grades, on=["uscc", "policy_id", "chain"], how="left")
    out["label"] = out["label"].fillna(0).astype(int)
    return out.reset_index(drop=True)


def ndcg_at_k(frame: pd.DataFrame, score: np.ndarray, tiebreak: np.ndarray) -> float:
    """Mean NDCG@10 over queries (uscc, chain) with at least one positive; gains 2^label − 1."""
    d = frame.assign(score=score, tb=tiebreak)
    d = d.sort_values(["uscc", "chain", "score", "tb"], ascending=[True, True, False, False], kind="stable")
    d["pos"] = d.groupby(["uscc", "chain"]).cumcount()
    gain = (2.0 ** d["label"] - 1) / np.log2(d["pos"] + 2)
    dcg = gain.where(d["pos"] < K, 0).groupby([d["uscc"], d["chain"]]).sum()
    ideal = d.sort_values(["uscc", "chain", "label"], ascending=[True, True, False], kind="stable")
    ipos = ideal.groupby(["uscc", "chain"]).cumcount()
    igain = ((2.0 ** ideal["label"] - 1) / np.log2(ipos + 2)).where(ipos < K, 0)
    idcg = igain.groupby([ideal["uscc"], ideal["chain"]]).sum()
    keep = idcg > 0
    return float((dcg[keep] / idcg[keep]).mean())


def evaluate(world: Path, split: dt.date, seed: int) -> dict:
    from matcher.spec import load_specs
    from service.synth import rosters
    from service.synth.assessment import assess
    from service.synth.params import REFERENCE_DATE

    specs, errors = load_specs(world / "policies")
    assert not errors, errors
    by_id = {s.id: s for s in specs}
    automatic = {s.id for s in specs if s.mode == "automatic"}
    ev = load_events(world / "events.jsonl")
    table = chains(ev, automatic)
    cut = pd.Timestamp(split)
    train, test = table[table["at"] < cut], table[table["at"] >= cut].copy()
    sizes = test.groupby(["uscc", "chain"])["policy_id"].transform("size")
    test = test[sizes >= 2].reset_index(drop=True)

    frame = rosters.read(world)
    firm_index = {u: i for i, u in enumerate(frame["uscc"])}
    pol_index = {s.id: j for j, s in enumerate(specs)}
    fi = test["uscc"].map(firm_index).to_numpy()
    pj = test["policy_id"].map(pol_index).to_numpy()
    a = assess(frame, specs, REFERENCE_DATE)  # the world is one snapshot of facts, as of its reference date
    rng = np.random.default_rng(seed)
    tiebreak = rng.random(len(test))
    scores: dict[str, np.ndarray] = {"random": rng.random(len(test))}

    # Popularity: mean label per push of the policy in the training period.
    prior = train["label"].mean()
    pop = train.groupby("policy_id")["label"].agg(["sum", "count"])
    pop_rate = (pop["sum"] + 5 * prior) / (pop["count"] + 5)
    scores["popularity"] = test["policy_id"].map(pop_rate).fillna(prior).to_numpy()

    # Eligible first, by amount (the platform's engine; undetermined after eligible, then not eligible).
    elig = a.elig[fi, pj]
    amount = np.nan_to_num(a.offer[fi, pj], nan=0.0)
    tier = np.select([elig == 1, elig == -1], [2, 1], 0)
    scores["eligible first, by amount"] = tier * 1e12 + np.minimum(amount, 1e11)

    # The firm's own past engagement with the policy's topics and department.
    topics = sorted({t for s in specs for t in s.topics})
    depts = sorted({s.department for s in specs})
    inc = np.zeros((len(specs), len(topics)))
    for j, s in enumerate(specs):
        for t in s.topics:
            inc[j, topics.index(t)] = 1 / len(s.topics)
    dept_of = np.array([depts.index(s.department) for s in specs])
    tf = train["uscc"].map(firm_index).to_numpy()
    tp = train["policy_id"].map(pol_index).to_numpy()
    tl = train["label"].to_numpy(float)
    n = len(frame)
    num_t, den_t = np.zeros((n, len(topics))), np.zeros((n, len(topics)))
    np.add.at(num_t, tf, inc[tp] * tl[:, None])
    np.add.at(den_t, tf, inc[tp])
    num_d, den_d = np.zeros((n, len(depts))), np.zeros((n, len(depts)))
    np.add.at(num_d, (tf, dept_of[tp]), tl)
    np.add.at(den_d, (tf, dept_of[tp]), 1)
    topic_rate = (num_t + prior) / (den_t + 1)
    dept_rate = (num_d + prior) / (den_d + 1)
    scores["own past (topics, department)"] = (inc[pj] * topic_rate[fi]).sum(axis=1) + dept_rate[fi, dept_of[pj]]

    # Similar firms: the same 大类 and district, their past take-up of this policy.
    group = frame["industry"].str[:3] + "|" + frame["region"]
    g_train = group.to_numpy()[tf]
    sim = pd.DataFrame({"g": g_train, "p": train["policy_id"].to_numpy(), "l": tl}).groupby(["g", "p"])["l"]
    sim = sim.agg(["sum", "count"])
    key = pd.MultiIndex.from_arrays([group.to_numpy()[fi], test["policy_id"].to_numpy()])
    s_sum = sim["sum"].reindex(key).fillna(0).to_numpy()
    s_cnt = sim["count"].reindex(key).fillna(0).to_numpy()
    base = scores["popularity"]
    scores["similar firms (大类 + district)"] = (s_sum + 5 * base) / (s_cnt + 5)

    # Ceiling: the truth's expected grade (for scoring only).
    meta = json.loads((world / "truth" / "meta.json").read_text(encoding="utf-8"))
    truth_col = test["policy_id"].map({p: j for j, p in enumerate(meta["policies"])}).to_numpy()
    take = np.load(world / "truth" / "takeup.npy")[fi, truth_col].astype(float)
    pv, pa, pok = take[:, 0], take[:, 1], take[:, 2]
    scores["ceiling (truth)"] = pv * (1 + pa * (1 + pok))

    result = {name: ndcg_at_k(test, s, tiebreak) for name, s in scores.items()}
    queries = test.groupby(["uscc", "chain"])["label"].max()
    return {
        "ndcg": result,
        "train_pushes": len(train),
        "test_pushes": len(test),
        "test_queries": int((queries > 0).sum()),
        "unused_policies": len(by_id) - test["policy_id"].nunique(),
    }


def aggregates(world: Path) -> dict:
    """Fatigue, deadline and channel effects as seen in the events alone."""
    ev = load_events(world / "events.jsonl")
    push = ev[(ev["kind"] == "push") & (ev["chain"] != "a")].copy()
    push["channel"] = [p["channel"] for p in push["payload"]]
    push["deadline"] = pd.to_datetime([p["deadline"] for p in push["payload"]])
    push["hour"] = push["at"].dt.hour
    push = push.sort_values(["uscc", "at"], kind="stable").reset_index(drop=True)
    t = push["at"].astype("int64") // 10**9
    key = push["uscc"].astype("category").cat.codes.to_numpy().astype(np.int64) * 10**10 + t.to_numpy()
    push["recent"] = np.searchsorted(key, key, "left") - np.searchsorted(key, key - 28 * 86400, "left")
    done = ev[ev["kind"].isin(["view", "apply"])].groupby(["uscc", "policy_id", "chain", "kind"]).size().unstack()
    push = push.join(done.reindex(columns=["view", "apply"]).notna(), on=["uscc", "policy_id", "chain"])
    push[["view", "apply"]] = push[["view", "apply"]].astype("boolean").fillna(False).astype(bool)
    push["last_month"] = (push["deadline"] - push["at"]).dt.days < 30
    viewed = push[push["view"]]
    return {
        "view_rate_by_recent": push.groupby(np.minimum(push["recent"], 8))["view"].mean().round(3).to_dict(),
        "view_rate_by_channel": push.groupby("channel")["view"].mean().round(3).to_dict(),
        "view_rate_by_hour": push.groupby("hour")["view"].mean().round(3).to_dict(),
        "apply_rate_of_viewers_last_month": round(float(viewed[viewed["last_month"]]["apply"].mean()), 3),
        "apply_rate_of_viewers_otherwise": round(float(viewed[~viewed["last_month"]]["apply"].mean()), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--city", default="南京市")
    parser.add_argument("--split", type=dt.date.fromisoformat, default=dt.date(2026, 1, 1))
    parser.add_argument("--world", type=Path, help="evaluate this generated city instead (one seed)")
    parser.add_argument("--aggregates", action="store_true", help="also print fatigue/deadline/channel rates")
    args = parser.parse_args()
    from service.synth.world import generate_world

    summary = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            world = args.world or Path(tmp) / "world"
            if not args.world:
                t0 = time.perf_counter()
                generate_world(args.enterprises, seed, args.city, world)
                print(f"seed {seed}: generated {args.enterprises} enterprises in {time.perf_counter() - t0:.1f} s")
            r = evaluate(world, args.split, seed)
            print(
                f"seed {seed}: split {args.split}, {r['train_pushes']} training pushes, "
                f"{r['test_pushes']} test pushes in {r['test_queries']} queries with a positive"
            )
            for name, v in r["ndcg"].items():
                print(f"  NDCG@10 {name:34s} {v:.3f}")
            if args.aggregates:
                for name, v in aggregates(world).items():
                    print(f"  {name}: {v}")
            nd = r["ndcg"]
            ceiling, rule = nd["ceiling (truth)"], nd["eligible first, by amount"]
            summary.append(
                f"seed {seed}: ceiling {ceiling:.3f} vs eligible-by-amount {rule:.3f} (+{ceiling - rule:.3f}), "
                f"own past {nd['own past (topics, department)']:.3f}, "
                f"similar {nd['similar firms (大类 + district)']:.3f}, random {nd['random']:.3f}"
            )
            if args.world:
                break
    print("summary: " + "; ".join(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
