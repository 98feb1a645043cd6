"""Interaction histories: push → view → apply → approved/rejected → paid → rating.

Take-up is a logistic model (coefficients in ``params.TAKEUP``) of
- eligibility, decided by the exact evaluator on the firm's facts;
- the amount relative to the firm's size (log of amount / revenue);
- topical relevance of the policy to the firm (industry and qualifications);
- the firm's engagement: a latent propensity plus how often it applied before.
Automatic (免申即享) policies pay eligible firms without an application.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import numpy as np
import pandas as pd

from matcher import catalog
from matcher.derived import with_derived
from service.synth import params as P
from service.synth.evaluate import UNKNOWN, compile_test, decide_data, ev

TZ = dt.timezone(dt.timedelta(hours=8))
CHANNELS = ("app", "sms", "wechat", "email")
# Topic -> GB/T 4754 prefixes it speaks to (relevance beyond explicit conditions).
TOPIC_SECTIONS = {
    "科技创新": ("C", "I", "M"),
    "研发投入": ("C", "I", "M"),
    "数字经济": ("C39", "I"),
    "软件": ("I65",),
    "人工智能": ("I65", "M73"),
    "消费": ("F", "H"),
    "商贸流通": ("F",),
    "餐饮住宿": ("H",),
    "外贸": ("F51", "C"),
    "建筑业": ("E",),
    "智能制造": ("C",),
    "绿色制造": ("C", "D"),
    "装备制造": ("C34", "C35", "C38"),
    "电子商务": ("F52", "I"),
}
QUAL_TOPICS = {
    "high_tech": "高新技术企业",
    "srdi_sme": "专精特新",
    "little_giant": "小巨人",
    "gazelle": "瞪羚企业",
    "unicorn": "独角兽企业",
}


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def typed_facts(frame: pd.DataFrame) -> list[dict]:
    """Rows of the enterprises frame as typed facts (Decimal money, frozenset qualifications)."""
    cols = {}
    for f in catalog.FACT_FIELDS:
        raw = frame[f.name].tolist()
        if f.type == "money":
            cols[f.name] = [Decimal(x) if x else None for x in raw]
        elif f.type == "count":
            cols[f.name] = [int(x) if x else None for x in raw]
        elif f.type == "bool":
            cols[f.name] = [x == "true" for x in raw]
        elif f.type == "set":
            cols[f.name] = [frozenset(x.split(";")) if x else frozenset() for x in raw]
        elif f.type == "date":
            cols[f.name] = [dt.date.fromisoformat(x) for x in raw]
        else:
            cols[f.name] = raw
    names = list(cols)
    return [dict(zip(names, values)) for values in zip(*cols.values())]


def relevance(spec: dict, facts: dict) -> float:
    """0..1: how much the policy's topics speak to this firm."""
    score = 0.2
    for topic in spec["topics"]:
        prefixes = TOPIC_SECTIONS.get(topic)
        if prefixes and facts["industry"].startswith(prefixes):
            score += 0.35
    for q, topic in QUAL_TOPICS.items():
        if q in facts["qualifications"] and topic in spec["topics"]:
            score += 0.5
    if facts["industry"][0] in "CIM" and "中小企业" in spec["topics"]:
        score += 0.15
    return min(score, 1.0)


def _in_scope(spec_region: str, firm_region: str) -> bool:
    if spec_region.endswith("0000"):
        return firm_region[:2] == spec_region[:2]
    if spec_region.endswith("00"):
        return firm_region[:4] == spec_region[:4]
    return firm_region == spec_region


def generate(
    frame: pd.DataFrame,
    specs: list[dict],
    rng: np.random.Generator,
    reference_date: dt.date = P.REFERENCE_DATE,
    progress=None,
) -> list[dict]:
    """Events of every firm over the year before ``reference_date``, in time order."""
    T = P.TAKEUP
    facts_list = typed_facts(frame)
    n = len(facts_list)
    engagement = rng.normal(0, 1, n)
    pushes = rng.integers(P.PUSHES_PER_FIRM[0], P.PUSHES_PER_FIRM[1] + 1, n)
    start = dt.datetime.combine(reference_date, dt.time(9), TZ) - dt.timedelta(days=P.EVENT_DAYS)
    by_region: dict[str, list[int]] = {}
    rel_cache: dict[tuple, np.ndarray] = {}
    tests = [compile_test(s["conditions"]) for s in specs]
    events: list[tuple] = []
    for i, facts in enumerate(facts_list):
        if progress and i % 10_000 == 0:
            progress(i, n)
        data = with_derived(facts, reference_date)
        scope = by_region.get(facts["region"])
        if scope is None:
            scope = by_region[facts["region"]] = [
                j for j, s in enumerate(specs) if _in_scope(s["region"], facts["region"])
            ]
        rel_key = (facts["industry"], facts["qualifications"])
        rel_all = rel_cache.get(rel_key)
        if rel_all is None:
            rel_all = rel_cache[rel_key] = np.array([relevance(s, facts) for s in specs])
        rel = rel_all[scope]
        k = min(int(pushes[i]), len(scope))
        weights = np.exp(2.0 * rel)
        chosen = rng.choice(len(scope), k, replace=False, p=weights / weights.sum())
        times = np.sort(rng.uniform(0, P.EVENT_DAYS - 40, k))  # chains end before the reference date
        u = rng.random((k, 6))
        applied_before = 0
        uscc = facts["uscc"]
        revenue = float(facts["revenue"] or 1)
        for slot, pick in enumerate(chosen):
            spec = specs[scope[pick]]
            r = float(rel[pick])
            eligible = tests[scope[pick]](data) is True
            t = start + dt.timedelta(days=float(times[slot]))
            pid = spec["id"]

            def add(kind, when, payload, uscc=uscc, pid=pid):
                events.append((when, uscc, pid, kind, payload))

            add("push", t, {"channel": CHANNELS[int(u[slot, 0] * len(CHANNELS))], "relevance": round(r, 2)})
            amount = decide_data(spec, data)[1] if eligible else None
            if spec["mode"] == "automatic":
                if eligible:
                    paid_at = t + dt.timedelta(days=2 + float(u[slot, 1]) * 5)
                    add("paid", paid_at, {"amount": f"{amount:.2f}", "mode": "automatic"})
                    if u[slot, 2] < T["rating_share"]:
                        add("rating", paid_at + dt.timedelta(days=1), {"score": 5 if u[slot, 3] < 0.8 else 4})
                continue
            p_view = _sigmoid(T["view_intercept"] + T["view_relevance"] * r + T["view_engagement"] * engagement[i])
            if u[slot, 1] >= p_view:
                continue
            t_view = t + dt.timedelta(hours=1 + float(u[slot, 2]) * 72)
            add("view", t_view, {})
            size_term = math.log(float(amount) / revenue * 100 + 1e-3) if amount else -3.0
            p_apply = _sigmoid(
                T["apply_intercept"]
                + T["apply_eligible"] * eligible
                + T["apply_amount"] * size_term
                + T["apply_relevance"] * r
                + T["apply_engagement"] * engagement[i]
                + T["apply_history"] * min(applied_before, 3)
            )
            if u[slot, 3] >= p_apply:
                continue
            applied_before += 1
            t_apply = t_view + dt.timedelta(hours=2 + float(u[slot, 4]) * 96)
            add("apply", t_apply, {"commitment": True})
            p_ok = T["approve_eligible"] if eligible else T["approve_ineligible"]
            limit = max(spec["time_limit_days"], 1)
            t_done = t_apply + dt.timedelta(days=float(u[slot, 5]) * limit)
            if u[slot, 5] < p_ok and amount is not None:
                add("approved", t_done, {"amount": f"{amount:.2f}"})
                add("paid", t_done + dt.timedelta(days=3), {"amount": f"{amount:.2f}", "mode": spec["mode"]})
                if u[slot, 0] < T["rating_share"]:
                    add("rating", t_done + dt.timedelta(days=4), {"score": 5 if u[slot, 2] < 0.7 else 4})
            else:
                add("rejected", t_done, {"reason": "不符合申报条件"})
                if u[slot, 0] < T["rating_share"]:
                    add("rating", t_done + dt.timedelta(days=1), {"score": 2 if u[slot, 2] < 0.6 else 3})
    order = {"push": 0, "view": 1, "apply": 2, "approved": 3, "rejected": 3, "paid": 4, "rating": 5}
    events.sort(key=lambda e: (e[0], e[1], order[e[3]]))
    stamps = _local_iso([e[0] for e in events])
    return [
        {
            "event_id": f"{uscc}:{pid}:{kind}",
            "uscc": uscc,
            "policy_id": pid,
            "kind": kind,
            "occurred_at": stamp,
            "payload": payload,
        }
        for stamp, (_, uscc, pid, kind, payload) in zip(stamps, events)
    ]


def _local_iso(times: list[dt.datetime]) -> list[str]:
    """ISO 8601 in China time to the second, vectorised (isoformat per event is slow)."""
    if not times:
        return []
    epoch = dt.datetime(1970, 1, 1, tzinfo=TZ)
    seconds = np.array([(t - epoch).total_seconds() for t in times]).astype(np.int64)
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    return [s + "+08:00" for s in text.tolist()]


def eligible_share(specs, facts_list, as_of) -> dict[str, float]:
    """Share of firms each policy finds eligible (for summaries and tests)."""
    out = {}
    for spec in specs:
        hits = sum(ev(spec["conditions"], with_derived(f, as_of))[0] is True for f in facts_list)
        out[spec["id"]] = hits / max(len(facts_list), 1)
    return out


__all__ = ["generate", "typed_facts", "relevance", "eligible_share", "UNKNOWN"]
