"""Graded relevance labels for the ranker, from what the platform logged after each push.

A query is one enterprise in one push round (a 政策包): the policies pushed to it together. An item's grade
is the furthest its firm went with that policy after the push and before the policy was pushed to it again
(or :data:`HORIZON_DAYS` passed): 0 nothing, 1 viewed, 2 applied, 3 approved or paid. A pushed 免申即享
policy is graded by the view alone (at most 1, flagged ``automatic``): opening the message is a choice, its
payout is not — it follows the rules, and would teach the ranker what the rule engine already knows. A push
that notifies a 免申即享 payout (``payload.automatic``) recommends nothing and makes no query. Rows
come out contiguous per query, as LightGBM's ``group`` needs them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GRADES = {"view": 1, "apply": 2, "approved": 3, "paid": 3}
LABEL_GAIN = (0.0, 1.0, 3.0, 7.0)  # 2^grade − 1: one gain per grade, explicit for lambdarank
HORIZON_DAYS = 90


def push_rounds(pushes: pd.DataFrame) -> pd.Series:
    """The round of each push: the generator's or the platform's ``round`` when logged, else the firm's
    pushes of one day (a daily bundle)."""
    day = pushes["occurred_at"].dt.strftime("%Y-%m-%d")
    logged = pushes["payload"].map(lambda p: p.get("round") if isinstance(p, dict) else None)
    return logged.where(logged.notna(), day).astype(str)


def graded_labels(events: pd.DataFrame, automatic: set[str] | frozenset[str] = frozenset()) -> pd.DataFrame:
    """``events`` (columns enterprise, policy, kind, occurred_at (tz-aware), payload) → one row per pushed
    (enterprise, round, policy): ``query, enterprise, policy, pushed_at, label, rank`` (the position it was
    shown at, when logged), ``automatic``, sorted by query."""
    ev = events[events["policy"].notna()]
    pushes = ev[ev["kind"] == "push"]
    notice = pushes["payload"].map(lambda p: isinstance(p, dict) and p.get("automatic") is True)
    pushes = pushes[~notice.astype(bool)].copy()
    if pushes.empty:
        return pd.DataFrame(columns=["query", "enterprise", "policy", "pushed_at", "label", "rank", "automatic"])
    pushes["round"] = push_rounds(pushes)
    pushes["rank"] = pushes["payload"].map(lambda p: p.get("rank") if isinstance(p, dict) else None)
    pushes = pushes.sort_values("occurred_at").reset_index(drop=True)
    pushes["push_id"] = np.arange(len(pushes))
    acts = ev[ev["kind"].isin(list(GRADES))].copy()
    acts["grade"] = acts["kind"].map(GRADES).astype(int)
    acts = acts[(acts["grade"] == 1) | ~acts["policy"].isin(automatic)]  # an automatic payout is no choice
    acts = acts.sort_values("occurred_at")
    # each act belongs to the latest earlier push of the same policy to the same firm
    found = pd.merge_asof(
        acts[["enterprise", "policy", "occurred_at", "grade"]],
        pushes[["enterprise", "policy", "occurred_at", "push_id"]].rename(columns={"occurred_at": "pushed_at"}),
        left_on="occurred_at",
        right_on="pushed_at",
        by=["enterprise", "policy"],
        direction="backward",
    )
    found = found[found["push_id"].notna()]
    found = found[found["occurred_at"] - found["pushed_at"] <= pd.Timedelta(days=HORIZON_DAYS)]
    best = found.groupby("push_id")["grade"].max()
    pushes["label"] = pushes["push_id"].map(best).fillna(0).astype(int)
    pushes["query"] = pushes["enterprise"].astype(str) + "|" + pushes["round"]
    out = pushes.rename(columns={"occurred_at": "pushed_at"})
    # one row per (query, policy): a policy pushed twice in one round keeps its best grade
    out = out.groupby(["query", "enterprise", "policy"], as_index=False).agg(
        pushed_at=("pushed_at", "min"), label=("label", "max"), rank=("rank", "min")
    )
    first = out.groupby("query")["pushed_at"].transform("min")
    out["automatic"] = out["policy"].isin(automatic)
    return out.assign(_t=first).sort_values(["_t", "query", "policy"]).drop(columns="_t").reset_index(drop=True)


def query_sizes(labels: pd.DataFrame) -> np.ndarray:
    """LightGBM's ``group``: the size of each query, in the order the rows come."""
    codes, first = pd.factorize(labels["query"], sort=False)
    return np.bincount(codes)[: len(first)]
