"""Interaction histories: push → view → apply → approved/rejected → paid → rating.

Over the year before the reference date, inside each policy's validity:

- 免申即享 (automatic): every firm in scope that the conditions accept is
  notified (push) and paid in the policy's batch, without applying;
- recommendations: each firm is pushed a few policies of its area, chosen
  with probability ∝ exp(w · relevance); a push may be viewed, a view may
  lead to an application, an application is decided (approved / rejected)
  and an approval paid; finished chains are sometimes rated (好差评).

Take-up is the logistic model documented in ``params.TAKEUP``: eligibility
(decided by the platform's own engine over every firm at once,
:mod:`.assessment`), the amount relative to the firm's revenue, topical
relevance, and the firm's engagement (a latent propensity plus its earlier
applications). Ineligible applications are rejected, undetermined ones are
returned naming the facts to declare, and no policy pays out more than its
budget. Everything is vectorised: a Python
loop runs over the (at most seven) recommendation slots, not over firms.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import NamedTuple

import numpy as np
import pandas as pd

from matcher.decision import decide
from matcher.spec import PolicySpec
from service.synth import params as P
from service.synth.assessment import assess, table

KINDS = ("push", "view", "apply", "approved", "rejected", "paid", "rating")
KIND_ORDER = {k: i for i, k in enumerate(KINDS)}  # ties in time keep the causal order
DAY = 86400.0


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class Events:
    """Events as parallel arrays (time in seconds after ``start``, local China time)."""

    def __init__(self, start: np.datetime64, usccs: np.ndarray, policy_ids: list[str]):
        self.start = start
        self.usccs = usccs
        self.policy_ids = np.array(policy_ids)
        self._parts: list[tuple] = []

    def add(self, seconds, firm, policy, kind: str, payload, chain) -> None:
        """``chain``: the firm's push round the event follows from (1, 2, …), 0 for a 免申即享 notice."""
        if len(firm):
            payload = np.asarray(payload, dtype=object)
            if payload.ndim == 0:
                payload = np.full(len(firm), payload.item(), dtype=object)
            kinds = np.full(len(firm), KIND_ORDER[kind])
            self._parts.append((np.asarray(seconds, float), firm, policy, kinds, payload, np.asarray(chain, np.int64)))

    def finish(self) -> None:
        """Concatenate and sort by (time, firm, causal kind order)."""
        if not self._parts:
            self.seconds = np.zeros(0, np.int64)
            self.firm = self.policy = self.kind = self.chain = np.zeros(0, np.int64)
            self.payload = np.zeros(0, object)
            return
        seconds, firm, policy, kind, payload, chain = (np.concatenate(x) for x in zip(*self._parts))
        seconds = np.floor(seconds).astype(np.int64)
        order = np.lexsort((kind, firm, seconds))
        self.seconds, self.firm, self.policy, self.kind, self.payload, self.chain = (
            seconds[order],
            firm[order],
            policy[order],
            kind[order],
            payload[order],
            chain[order],
        )
        self._parts = []

    def __len__(self) -> int:
        return len(self.seconds)

    def lines(self, chunk: int = 50_000):
        """JSON Lines, one event each (keys: event_id, uscc, policy_id, kind, occurred_at, payload).

        ``event_id`` is ``uscc:policy:kind:chain``, the chain ``r<round>`` or ``a`` for a 免申即享 payout:
        a measure can be pushed and applied for again in a later round. Built a
        chunk at a time, so a million events never sit in memory as text.
        """
        base = self.start.astype("datetime64[s]")
        kind_names = np.array(KINDS)
        for lo in range(0, len(self.seconds), chunk):
            part = slice(lo, lo + chunk)
            stamps = np.datetime_as_string(base + self.seconds[part], unit="s").tolist()
            usccs = self.usccs[self.firm[part]].tolist()
            pids = self.policy_ids[self.policy[part]].tolist()
            kinds = kind_names[self.kind[part]].tolist()
            chains = [f"r{c}" if c else "a" for c in self.chain[part].tolist()]
            for u, p, k, c, t, pl in zip(usccs, pids, kinds, chains, stamps, self.payload[part].tolist()):
                yield (
                    f'{{"event_id":"{u}:{p}:{k}:{c}","uscc":"{u}","policy_id":"{p}","kind":"{k}",'
                    f'"occurred_at":"{t}+08:00","payload":{pl}}}\n'
                )

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.lines()]


def _payloads(template: str, values) -> np.ndarray:
    """``template % value`` for many values, formatting each distinct value once."""
    values = list(values)
    cache: dict = {}
    return np.array([cache.setdefault(v, template % v) for v in values], dtype=object)


def _yuan(cents: np.ndarray) -> np.ndarray:
    """Exact amounts in 分 as text ("1234.50")."""
    return np.array([f"{c // 100}.{c % 100:02d}" for c in cents.tolist()], dtype=object)


def _json(x) -> str:
    return json.dumps(x, ensure_ascii=False, separators=(",", ":"))


class Truth(NamedTuple):
    """What the generator knows and no event shows: for scoring only, never for a model (see truth/)."""

    cluster: np.ndarray  # per firm: its latent community
    engagement: np.ndarray  # per firm: latent engagement ~ N(0, 1)
    push_rate: np.ndarray  # per firm: the platform's rounds per month
    topic_taste: np.ndarray  # firm × topic
    department_taste: np.ndarray  # firm × department
    topics: list
    departments: list
    takeup: np.ndarray  # firm × policy × (P(view | opened, rank 1), P(apply | view), P(approved | apply))
    scored: np.ndarray  # firm × policy: pushable in the scored period (in scope, not automatic, live)
    scored_from: dt.date


def _latent(frame: pd.DataFrame, specs: list[PolicySpec], rng: np.random.Generator, of: np.ndarray):
    """Communities, engagement and tastes: persistent, shared by firms alike, only partly visible in the fields.

    ``of[j]``: the measure policy j is a district's version of, or -1. A version
    is the same programme: its city measure's appeal (plus a little of its
    own), and a district office the catalogue does not know shares the taste
    for its city bureau (the department of the city measure).
    """
    n, k = len(frame), P.LATENT_CLUSTERS
    logits = np.zeros((n, k))
    band = np.digitize(pd.to_numeric(frame["employees"], errors="coerce").fillna(0), [10, 100, 300])  # ≈ the scale
    for column in (frame["industry"].str[:3], frame["region"], pd.Series(band)):
        codes, inverse = np.unique(column.to_numpy(dtype=str), return_inverse=True)
        logits += rng.normal(0, P.CLUSTER_FIELD_SD, (len(codes), k))[inverse]
    cluster = np.argmax(logits + rng.gumbel(size=(n, k)), axis=1)
    engagement = rng.normal(0, 1, n)
    topics = sorted({t for s in specs for t in s.topics})
    departments = sorted({s.department for s, o in zip(specs, of) if o < 0})
    topic_taste = rng.normal(0, 1, (k, len(topics)))[cluster] + rng.normal(0, P.FIRM_TASTE_SD, (n, len(topics)))
    dept_taste = rng.normal(0, 1, (k, len(departments)))[cluster] + rng.normal(
        0, P.FIRM_TASTE_SD, (n, len(departments))
    )
    incidence = np.zeros((len(topics), len(specs)))
    for j, s in enumerate(specs):
        for t in s.topics:
            incidence[topics.index(t), j] = 1.0 / len(s.topics)
    line = [s.department if s.department in departments else specs[o].department for s, o in zip(specs, of)]
    dept_of = np.array([departments.index(d) for d in line])
    taste = topic_taste @ incidence + P.DEPARTMENT_TASTE_WEIGHT * dept_taste[:, dept_of]
    taste /= taste.std() or 1.0  # τ in standard units, so the TAKEUP weights read directly
    appeal = rng.normal(0, P.POLICY_APPEAL_SD, len(specs))
    version = np.flatnonzero(of >= 0)
    appeal[version] = appeal[of[version]] + appeal[version] * (P.DISTRICT_APPEAL_SD / P.POLICY_APPEAL_SD)
    return cluster, engagement, topics, departments, topic_taste, dept_taste, taste, appeal


def _closes(specs: list[PolicySpec], start: np.datetime64, rng: np.random.Generator) -> np.ndarray:
    """Seconds after ``start`` at which each policy's application periods close (policy × period, inf padded).

    An annual measure closes once a year at the end of a month of its own; a
    once-only measure at valid_to. The last period of a measure closes at valid_to.
    """
    months = rng.choice(P.DEADLINE_MONTHS, len(specs))
    first_year = int(str(start)[:4]) - 1
    out = np.full((len(specs), 6), np.inf)
    for j, s in enumerate(specs):
        end = (np.datetime64(s.valid_to, "D") + 1 - start).astype(float) * DAY
        if s.period == "annual":
            for y in range(6):
                close = np.datetime64(f"{first_year + y}-{months[j]:02d}", "M") + 1  # the month's end (exclusive)
                out[j, y] = min((close.astype("datetime64[D]") - start).astype(float) * DAY, end)
        else:
            out[j, 0] = end
    return out


def simulate(
    frame: pd.DataFrame,
    specs: list[PolicySpec],
    rng: np.random.Generator,
    reference_date: dt.date = P.REFERENCE_DATE,
    progress=None,
    versions_of=None,
) -> Events:
    """The interaction histories of every firm, as :class:`Events` in time order (``events.truth``: the latent
    behaviour, for scoring only).

    ``versions_of``: per policy, the index of the city measure it is a
    district's own version of, or -1 (None: no versions); see :func:`_latent`.
    """
    T = P.TAKEUP
    say = progress or (lambda done, total: None)
    n, m = len(frame), len(specs)
    start = np.datetime64(reference_date - dt.timedelta(days=P.EVENT_DAYS), "D")
    events = Events(start, frame["uscc"].to_numpy(dtype=str), [s.id for s in specs])
    events.truth = None
    if n == 0 or m == 0:
        events.finish()
        return events
    say(0, 4)

    # Who qualifies, for how much, and how much each policy's tags speak to each firm.
    elig, cents, amount, scope, rel, size = assess(frame, specs, reference_date)
    mode = np.array([s.mode for s in specs])
    automatic = mode == "automatic"
    # A policy is live from max(window start, valid_from) to min(reference date, valid_to + 1 day).
    window_end = float(P.EVENT_DAYS) * DAY
    live_from = np.array([max(0.0, (np.datetime64(s.valid_from, "D") - start).astype(float) * DAY) for s in specs])
    live_to = np.array(
        [min(window_end, (np.datetime64(s.valid_to, "D") + 1 - start).astype(float) * DAY) for s in specs]
    )
    live = live_to - live_from > P.CHAIN_MARGIN_DAYS * DAY
    last_push = np.maximum(live_from + DAY, live_to - P.CHAIN_MARGIN_DAYS * DAY)
    # A firm that cannot compute its amount (data missing) expects the policy's typical one.
    typical = np.zeros(m)
    for j in range(m):
        known = scope[:, j] & (amount[:, j] > 0)
        typical[j] = np.median(amount[known, j]) if known.any() else 0.0
    of = np.full(m, -1) if versions_of is None else np.asarray(versions_of, dtype=np.int64)
    if of.shape != (m,) or (of >= m).any() or (of[of[of >= 0]] >= 0).any():
        raise ValueError("versions_of: per policy the index of a measure that is no version itself, or -1")
    cluster, engagement, topics, departments, topic_taste, dept_taste, taste, appeal = _latent(frame, specs, rng, of)
    closes = _closes(specs, start, rng)
    channels = np.array(list(P.CHANNELS))
    channel_p = np.array(list(P.CHANNELS.values()))
    say(1, 4)

    # 免申即享: every eligible firm in scope is notified and paid in the policy's batch.
    auto_pair = scope & (elig == 1) & (automatic & live)[None, :]
    af, ap = np.nonzero(auto_pair)
    batch = np.floor((live_from + rng.uniform(0.1, 0.9, m) * (last_push - live_from)) / DAY) * DAY
    spread = np.floor(rng.uniform(0, P.AUTOMATIC_BATCH_SPREAD_DAYS, len(af))) * DAY
    t_notice = batch[ap] + spread + _office_hours(rng, len(af))
    t_auto_paid = _office_after(rng, t_notice + rng.uniform(*P.PAY_DELAY_DAYS["automatic"], len(af)) * DAY)

    # Push rounds: how many each firm gets (the platform's rate), when, and at what hour.
    push_end = window_end - P.CHAIN_MARGIN_DAYS * DAY
    rate = P.ROUNDS_PER_MONTH * np.exp(rng.normal(-(P.ROUNDS_RATE_SD**2) / 2, P.ROUNDS_RATE_SD, n))
    n_rounds = np.minimum(rng.poisson(rate * push_end / DAY / 30.44), P.ROUNDS_MAX)
    rf = np.repeat(np.arange(n), n_rounds)
    hours = np.array(list(P.PUSH_HOURS))
    hour = hours[rng.choice(len(hours), len(rf), p=np.array(list(P.PUSH_HOURS.values())))]
    rt = np.floor(rng.uniform(0, push_end, len(rf)) / DAY) * DAY + hour * 3600 + np.floor(rng.uniform(0, 3600, len(rf)))
    order = np.lexsort((rt, rf))
    rf, rt, hour = rf[order], rt[order], hour[order]
    first = np.r_[0, np.cumsum(n_rounds)[:-1]]
    rk = np.arange(len(rf)) - np.repeat(first, n_rounds)  # the firm's round number, from 0
    r_channel = rng.choice(len(channels), len(rf), p=channel_p)
    r_size = rng.integers(P.POLICIES_PER_ROUND[0], P.POLICIES_PER_ROUND[1] + 1, len(rf))

    # Each round bundles open policies the firm was not pushed in the same application period, in the
    # platform's own order (its tags and eligibility check).
    bonus = np.select(
        [elig == 1, elig == -1], [P.PUSH_ELIGIBILITY_BONUS["eligible"], P.PUSH_ELIGIBILITY_BONUS["undetermined"]], 0.0
    )
    platform = np.where(scope & ~automatic[None, :], P.PUSH_RELEVANCE_WEIGHT * rel + bonus, -np.inf)
    pushed_period = np.full((n, m), -1, np.int8)
    width = P.POLICIES_PER_ROUND[1]
    parts = []
    for r in range(P.ROUNDS_MAX):
        at = np.flatnonzero(rk == r)
        if not len(at):
            break
        f, t = rf[at], rt[at]
        period = (closes[None, :, :] <= t[:, None, None]).sum(axis=2).astype(np.int8)
        open_now = (live_from[None, :] <= t[:, None]) & (t[:, None] <= last_push[None, :]) & live[None, :]
        fresh = pushed_period[f] != period
        keys = np.where(open_now & fresh, platform[f] + rng.gumbel(size=(len(at), m)), -np.inf)
        ranked = np.argsort(-keys, axis=1, kind="stable")[:, :width]
        taken = (np.arange(width)[None, :] < r_size[at][:, None]) & np.isfinite(np.take_along_axis(keys, ranked, 1))
        row, rank = np.nonzero(taken)
        pol = ranked[row, rank]
        per = period[row, pol]
        pushed_period[f[row], pol] = per
        parts.append((at[row], pol, rank, per))
    pr, pp, rank, per = (np.concatenate(x) for x in zip(*parts))
    order = np.lexsort((rank, pr))  # by firm, round, rank
    pr, pp, rank, per = pr[order], pp[order], rank[order], per[order]
    pf, t_push = rf[pr], rt[pr]
    deadline = closes[pp, per]
    say(2, 4)

    # Fatigue: policies pushed to the firm in the FATIGUE_DAYS before this round (not counting it).
    key = pf.astype(np.int64) * 10**9 + t_push.astype(np.int64)
    recent = np.searchsorted(key, key, "left") - np.searchsorted(key, key - int(P.FATIGUE_DAYS * DAY), "left")
    # Is the round opened (engagement, channel, hour, fatigue)? Then each policy viewed (taste, rank).
    ch_effect = np.array([P.CHANNEL_EFFECT[c] for c in channels])
    hour_effect = np.array([P.HOUR_EFFECT.get(h, 0.0) for h in range(24)])
    round_of = pr
    first_item = np.r_[True, pr[1:] != pr[:-1]]
    r_recent = np.zeros(len(rf))
    r_recent[pr[first_item]] = recent[first_item]
    p_open = _sigmoid(
        T["open_intercept"]
        + T["open_engagement"] * engagement[rf]
        + ch_effect[r_channel]
        + hour_effect[hour]
        + T["open_fatigue"] * np.minimum(r_recent, 12)
    )
    opened = rng.random(len(rf)) < p_open
    tau = taste[pf, pp]
    r = rel[pf, pp]
    e = engagement[pf]
    el = elig[pf, pp]
    p_view = _sigmoid(
        T["view_intercept"] + T["view_taste"] * tau + T["view_relevance"] * r + T["view_rank"] * rank + appeal[pp]
    )
    viewed = opened[round_of] & (rng.random(len(pf)) < p_view)

    # Applications, round by round, so that an approval in an earlier period makes a habit.
    amt = amount[pf, pp]
    amt = np.where(np.isnan(amt), typical[pp], amt)
    with np.errstate(divide="ignore", invalid="ignore"):
        size_term = np.clip(np.log(100 * amt / size[pf]), *P.AMOUNT_TERM_CLIP)
    size_term = np.nan_to_num(size_term, nan=P.AMOUNT_TERM_CLIP[0])
    rush = deadline - t_push <= P.DEADLINE_RUSH_DAYS * DAY
    base_apply = (
        T["apply_intercept"]
        + T["apply_eligible"] * (el == 1)
        + T["apply_undetermined"] * (el == -1)
        + T["apply_amount"] * size_term
        + T["apply_taste"] * tau
        + T["apply_relevance"] * r
        + T["apply_engagement"] * e
        + appeal[pp]
        + T["apply_deadline"] * rush
    )
    is_review = mode[pp] == "review"
    p_ok = np.where(is_review, P.APPROVE_ELIGIBLE["review"], P.APPROVE_ELIGIBLE["instant"])
    u_apply, u_ok = rng.random(len(pf)), rng.random(len(pf))
    applied = np.zeros(len(pf), bool)
    approved = np.zeros(len(pf), bool)
    won = np.zeros((n, m), bool)  # approved for the measure in an earlier period
    item_round = rk[pr]
    for k in range(P.ROUNDS_MAX):
        at = np.flatnonzero(item_round == k)
        if not len(at):
            break
        p_apply = _sigmoid(base_apply[at] + T["apply_habit"] * won[pf[at], pp[at]])
        applied[at] = viewed[at] & (u_apply[at] < p_apply)
        approved[at] = applied[at] & (el[at] == 1) & (u_ok[at] < p_ok[at])
        won[pf[at[approved[at]]], pp[at[approved[at]]]] = True

    t_view = t_push + np.minimum(rng.exponential(P.VIEW_DELAY_MEAN_HOURS, len(pf)), P.VIEW_DELAY_MAX_HOURS) * 3600 + 60
    t_apply = _office_after(rng, t_view + rng.uniform(*P.APPLY_DELAY_HOURS, len(pf)) * 3600)
    limit_days = np.array([max(s.time_limit_days, 1) for s in specs])[pp]
    # 审核 within its time limit (working days ≈ 1.4 calendar days); 即申即办 in seconds to minutes.
    t_decide = t_apply + np.where(
        is_review,
        rng.uniform(0.2, 1.0, len(pf)) * limit_days * 1.4 * DAY,
        rng.uniform(*P.INSTANT_DECISION_SECONDS, len(pf)),
    )
    pay_lo = np.where(is_review, P.PAY_DELAY_DAYS["review"][0], P.PAY_DELAY_DAYS["instant"][0])
    pay_hi = np.where(is_review, P.PAY_DELAY_DAYS["review"][1], P.PAY_DELAY_DAYS["instant"][1])
    t_decide = np.where(is_review, _office_after(rng, t_decide), t_decide)
    t_paid = _office_after(rng, t_decide + rng.uniform(pay_lo, pay_hi) * DAY)

    # Exact amounts and budgets.
    auto_cents = cents[af, ap]
    app_cents = np.where(approved, cents[pf, pp], 0)
    auto_ok, over = _within_budgets(specs, ap, t_notice, auto_cents, pp, t_decide, app_cents, approved)
    auto_amount = _yuan(auto_cents)
    app_amount = np.full(len(pf), None, dtype=object)
    app_amount[approved] = _yuan(app_cents[approved])
    approved &= ~over
    say(3, 4)

    # Automatic chains (chain tag 0: not part of a push round).
    a = np.flatnonzero(auto_ok)
    zero = np.zeros(len(af), np.int64)
    ch = channels[rng.choice(len(channels), len(af), p=channel_p)]
    events.add(t_notice[a], af[a], ap[a], "push", _payloads('{"channel":"%s","automatic":true}', ch[a]), zero[a])
    paid_auto = _payloads('{"amount":"%s","mode":"automatic"}', auto_amount[a])
    events.add(t_auto_paid[a], af[a], ap[a], "paid", paid_auto, zero[a])
    rate_auto = a[rng.random(len(a)) < P.RATING_SHARE]
    t_rate = t_auto_paid[rate_auto] + rng.uniform(*P.RATING_DELAY_DAYS, len(rate_auto)) * DAY
    events.add(t_rate, af[rate_auto], ap[rate_auto], "rating", _scores(rng, "paid", len(rate_auto)), zero[rate_auto])

    # Recommendation chains (chain tag: the firm's round number, from 1).
    tag = item_round + 1
    due = np.datetime_as_string(start + (np.ceil(deadline / DAY).astype(np.int64) - 1), unit="D")
    push_text = [
        f'{{"channel":"{c}","round":{g},"rank":{k + 1},"deadline":"{d}"}}'
        for c, g, k, d in zip(channels[r_channel[pr]].tolist(), tag.tolist(), rank.tolist(), due.tolist())
    ]
    events.add(t_push, pf, pp, "push", push_text, tag)
    v = np.flatnonzero(viewed)
    dwell = np.round(np.exp(rng.normal(np.log(30) + 0.5 * tau[v], 0.8))).astype(np.int64) + 3
    events.add(t_view[v], pf[v], pp[v], "view", _payloads('{"seconds":%d}', dwell.tolist()), tag[v])
    ap_rows = np.flatnonzero(applied)
    events.add(t_apply[ap_rows], pf[ap_rows], pp[ap_rows], "apply", '{"commitment":true}', tag[ap_rows])
    ok = np.flatnonzero(approved)
    events.add(t_decide[ok], pf[ok], pp[ok], "approved", _payloads('{"amount":"%s"}', app_amount[ok]), tag[ok])
    paid = [f'{{"amount":"{x}","mode":"{mo}"}}' for x, mo in zip(app_amount[ok], mode[pp[ok]])]
    events.add(t_paid[ok], pf[ok], pp[ok], "paid", paid, tag[ok])
    no = np.flatnonzero(applied & ~approved)
    reasons = _reasons(specs, frame, pf[no], pp[no], el[no], over[no], reference_date)
    events.add(t_decide[no], pf[no], pp[no], "rejected", reasons, tag[no])
    ended_ok = rng.random(len(ok)) < P.RATING_SHARE
    events.add(
        t_paid[ok][ended_ok] + rng.uniform(*P.RATING_DELAY_DAYS, ended_ok.sum()) * DAY,
        pf[ok][ended_ok],
        pp[ok][ended_ok],
        "rating",
        _scores(rng, "paid", int(ended_ok.sum())),
        tag[ok][ended_ok],
    )
    ended_no = rng.random(len(no)) < P.RATING_SHARE
    events.add(
        t_decide[no][ended_no] + rng.uniform(*P.RATING_DELAY_DAYS, ended_no.sum()) * DAY,
        pf[no][ended_no],
        pp[no][ended_no],
        "rating",
        _scores(rng, "rejected", int(ended_no.sum())),
        tag[no][ended_no],
    )
    events.finish()

    # The truth of the scored period: take-up of every pair at a typical push (opened, first in its round,
    # not in a deadline rush), with the habits formed before the period.
    scored_from = reference_date - dt.timedelta(days=P.TRUTH_DAYS)
    cut = (np.datetime64(scored_from, "D") - start).astype(float) * DAY
    habit = np.zeros((n, m), bool)
    before = approved & (t_push < cut)
    habit[pf[before], pp[before]] = True
    amt_all = np.where(np.isnan(amount), typical[None, :], amount)
    with np.errstate(divide="ignore", invalid="ignore"):
        size_all = np.nan_to_num(np.clip(np.log(100 * amt_all / size[:, None]), *P.AMOUNT_TERM_CLIP), nan=-4.0)
    takeup = np.empty((n, m, 3), np.float32)
    takeup[:, :, 0] = _sigmoid(T["view_intercept"] + T["view_taste"] * taste + T["view_relevance"] * rel + appeal)
    takeup[:, :, 1] = _sigmoid(
        T["apply_intercept"]
        + T["apply_eligible"] * (elig == 1)
        + T["apply_undetermined"] * (elig == -1)
        + T["apply_amount"] * size_all
        + T["apply_taste"] * taste
        + T["apply_relevance"] * rel
        + T["apply_engagement"] * engagement[:, None]
        + appeal
        + T["apply_habit"] * habit
    )
    ok_rate = np.where(mode == "review", P.APPROVE_ELIGIBLE["review"], P.APPROVE_ELIGIBLE["instant"])
    takeup[:, :, 2] = (elig == 1) * ok_rate[None, :]
    scored = scope & ~automatic[None, :] & (live_to > cut)[None, :] & live[None, :]
    events.truth = Truth(
        cluster, engagement, rate, topic_taste, dept_taste, topics, departments, takeup, scored, scored_from
    )
    say(4, 4)
    return events


def _office_hours(rng, size: int) -> np.ndarray:
    """Seconds into a day between 08:30 and 18:00 (platforms push and pay in office hours)."""
    return rng.uniform(8.5 * 3600, 18 * 3600, size)


def _office_after(rng, t: np.ndarray) -> np.ndarray:
    """The first office-hours moment of ``t``'s day, or of the next day if that has passed."""
    moment = np.floor(t / DAY) * DAY + _office_hours(rng, len(t))
    return np.where(moment <= t, moment + DAY, moment)


def _scores(rng, outcome: str, size: int) -> list[str]:
    p = np.array(P.RATING_SCORES[outcome])
    return _payloads('{"score":%d}', (rng.choice(5, size, p=p / p.sum()) + 1).tolist()).tolist()


def _within_budgets(specs, ap, t_notice, auto_cents, pp, t_decide, app_cents, approved):
    """Pay in time order until a policy's budget is spent: (automatic paid mask, approvals refused)."""
    n_auto = len(ap)
    policy = np.concatenate([ap, pp[approved]])
    when = np.concatenate([t_notice, t_decide[approved]])
    cents = np.concatenate([auto_cents, app_cents[approved]]).astype(np.int64)
    refused = np.zeros(len(policy), bool)
    budgets = np.array([int(s.budget * 100) for s in specs], dtype=np.int64)
    totals = np.bincount(policy, weights=cents.astype(float), minlength=len(specs))
    for j in np.flatnonzero(totals > budgets):  # rare: only policies whose demand exceeds the budget
        rows = np.flatnonzero(policy == j)
        left = budgets[j]
        for i in rows[np.argsort(when[rows], kind="stable")]:
            if cents[i] <= left:
                left -= cents[i]
            else:
                refused[i] = True
    over = np.zeros(len(approved), bool)
    over[np.flatnonzero(approved)] = refused[n_auto:]
    return ~refused[:n_auto], over


def _reasons(specs, frame, firms, policies, elig, over, as_of) -> list[str]:
    """Why each refused application was refused (payload of ``rejected``)."""
    asked = np.flatnonzero((elig == -1) & ~over)
    facts = table(frame.iloc[firms[asked]], as_of) if len(asked) else None  # decided again, for their list
    missing = dict(zip(asked.tolist(), range(len(asked))))
    out = []
    for k, (p, e, o) in enumerate(zip(policies.tolist(), elig.tolist(), over.tolist())):
        if o:
            out.append('{"reason":"政策资金额度已用完"}')
        elif e == 1:
            out.append('{"reason":"申报材料不符合要求，请补正后重新申报"}')
        elif e == 0:
            out.append('{"reason":"不符合申报条件"}')
        else:
            need = decide(specs[p], facts.facts(missing[k]), as_of).missing
            out.append(_json({"reason": "缺少核验数据，请补充申报", "missing": list(need)}))
    return out


def generate(frame, specs, rng, reference_date=P.REFERENCE_DATE, progress=None) -> list[dict]:
    """:func:`simulate` as a list of event dicts (small worlds, tests)."""
    return simulate(frame, specs, rng, reference_date, progress).records()


__all__ = ["simulate", "generate", "Events", "Truth"]
