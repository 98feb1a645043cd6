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

    def add(self, seconds, firm, policy, kind: str, payload) -> None:
        if len(firm):
            payload = np.asarray(payload, dtype=object)
            if payload.ndim == 0:
                payload = np.full(len(firm), payload.item(), dtype=object)
            kinds = np.full(len(firm), KIND_ORDER[kind])
            self._parts.append((np.asarray(seconds, float), firm, policy, kinds, payload))

    def finish(self) -> None:
        """Concatenate and sort by (time, firm, causal kind order)."""
        if not self._parts:
            self.seconds = np.zeros(0, np.int64)
            self.firm = self.policy = self.kind = np.zeros(0, np.int64)
            self.payload = np.zeros(0, object)
            return
        seconds, firm, policy, kind, payload = (np.concatenate(x) for x in zip(*self._parts))
        seconds = np.floor(seconds).astype(np.int64)
        order = np.lexsort((kind, firm, seconds))
        self.seconds, self.firm, self.policy, self.kind, self.payload = (
            seconds[order],
            firm[order],
            policy[order],
            kind[order],
            payload[order],
        )
        self._parts = []

    def __len__(self) -> int:
        return len(self.seconds)

    def lines(self, chunk: int = 50_000):
        """JSON Lines, one event each (keys: event_id, uscc, policy_id, kind, occurred_at, payload).

        Built a chunk at a time, so a million events never sit in memory as text.
        """
        base = self.start.astype("datetime64[s]")
        kind_names = np.array(KINDS)
        for lo in range(0, len(self.seconds), chunk):
            part = slice(lo, lo + chunk)
            stamps = np.datetime_as_string(base + self.seconds[part], unit="s").tolist()
            usccs = self.usccs[self.firm[part]].tolist()
            pids = self.policy_ids[self.policy[part]].tolist()
            kinds = kind_names[self.kind[part]].tolist()
            for u, p, k, t, pl in zip(usccs, pids, kinds, stamps, self.payload[part].tolist()):
                yield (
                    f'{{"event_id":"{u}:{p}:{k}","uscc":"{u}","policy_id":"{p}","kind":"{k}",'
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


def simulate(
    frame: pd.DataFrame,
    specs: list[PolicySpec],
    rng: np.random.Generator,
    reference_date: dt.date = P.REFERENCE_DATE,
    progress=None,
) -> Events:
    """The interaction histories of every firm, as :class:`Events` in time order."""
    T = P.TAKEUP
    say = progress or (lambda done, total: None)
    n, m = len(frame), len(specs)
    start = np.datetime64(reference_date - dt.timedelta(days=P.EVENT_DAYS), "D")
    events = Events(start, frame["uscc"].to_numpy(dtype=str), [s.id for s in specs])
    if n == 0 or m == 0:
        events.finish()
        return events
    say(0, 4)

    # Who qualifies, for how much, and how much each policy speaks to each firm.
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
    engagement = rng.normal(0, 1, n)
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

    # Recommendations: k policies of the firm's area, ∝ exp(w · relevance) (Gumbel top-k).
    lo, hi = P.PUSHES_PER_FIRM
    k = rng.integers(lo, hi + 1, n)
    candidate = scope & ~auto_pair & live[None, :]
    bonus = np.select(
        [elig == 1, elig == -1], [P.PUSH_ELIGIBILITY_BONUS["eligible"], P.PUSH_ELIGIBILITY_BONUS["undetermined"]], 0.0
    )
    keys = np.where(candidate, P.PUSH_RELEVANCE_WEIGHT * rel + bonus + rng.gumbel(size=(n, m)), -np.inf)
    ranked = np.argsort(-keys, axis=1, kind="stable")[:, :hi]
    taken = (np.arange(hi)[None, :] < k[:, None]) & np.isfinite(np.take_along_axis(keys, ranked, axis=1))
    pf = np.repeat(np.arange(n), hi)[taken.ravel()]
    pp = ranked.ravel()[taken.ravel()]
    t_push = live_from[pp] + rng.uniform(0, 1, len(pf)) * (last_push[pp] - live_from[pp])
    t_push = np.floor(t_push / DAY) * DAY + _office_hours(rng, len(pf))
    order = np.lexsort((t_push, pf))
    pf, pp, t_push = pf[order], pp[order], t_push[order]
    first = np.r_[0, np.flatnonzero(np.diff(pf)) + 1]
    slot = np.arange(len(pf)) - np.repeat(first, np.diff(np.r_[first, len(pf)]))
    say(2, 4)

    # Views and applications, slot by slot so that earlier applications count.
    r = rel[pf, pp]
    e = engagement[pf]
    el = elig[pf, pp]
    amt = amount[pf, pp]
    amt = np.where(np.isnan(amt), typical[pp], amt)
    with np.errstate(divide="ignore", invalid="ignore"):
        size_term = np.clip(np.log(100 * amt / size[pf]), *P.AMOUNT_TERM_CLIP)
    size_term = np.nan_to_num(size_term, nan=P.AMOUNT_TERM_CLIP[0])
    p_view = _sigmoid(T["view_intercept"] + T["view_relevance"] * r + T["view_engagement"] * e)
    viewed = rng.random(len(pf)) < p_view
    u_apply = rng.random(len(pf))
    applied = np.zeros(len(pf), bool)
    history = np.zeros(n)
    for s in range(hi):
        at = np.flatnonzero(slot == s)
        if not len(at):
            break
        p_apply = _sigmoid(
            T["apply_intercept"]
            + T["apply_eligible"] * (el[at] == 1)
            + T["apply_undetermined"] * (el[at] == -1)
            + T["apply_amount"] * size_term[at]
            + T["apply_relevance"] * r[at]
            + T["apply_engagement"] * e[at]
            + T["apply_history"] * np.minimum(history[pf[at]], 3)
        )
        applied[at] = viewed[at] & ~automatic[pp[at]] & (u_apply[at] < p_apply)
        history[pf[at[applied[at]]]] += 1

    t_view = t_push + np.minimum(rng.exponential(P.VIEW_DELAY_MEAN_HOURS, len(pf)), P.VIEW_DELAY_MAX_HOURS) * 3600 + 60
    t_apply = _office_after(rng, t_view + rng.uniform(*P.APPLY_DELAY_HOURS, len(pf)) * 3600)
    is_review = mode[pp] == "review"
    limit_days = np.array([max(s.time_limit_days, 1) for s in specs])[pp]
    # 审核 within its time limit (working days ≈ 1.4 calendar days); 即申即办 in seconds to minutes.
    t_decide = t_apply + np.where(
        is_review,
        rng.uniform(0.2, 1.0, len(pf)) * limit_days * 1.4 * DAY,
        rng.uniform(*P.INSTANT_DECISION_SECONDS, len(pf)),
    )
    p_ok = np.where(is_review, P.APPROVE_ELIGIBLE["review"], P.APPROVE_ELIGIBLE["instant"])
    approved = applied & (el == 1) & (rng.random(len(pf)) < p_ok)
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

    # Automatic chains.
    a = np.flatnonzero(auto_ok)
    ch = channels[rng.choice(len(channels), len(af), p=channel_p)]
    events.add(
        t_notice[a],
        af[a],
        ap[a],
        "push",
        [f'{{"channel":"{c}","relevance":{x},"automatic":true}}' for c, x in zip(ch[a], _r2(rel[af[a], ap[a]]))],
    )
    events.add(t_auto_paid[a], af[a], ap[a], "paid", [f'{{"amount":"{x}","mode":"automatic"}}' for x in auto_amount[a]])
    rate_auto = a[rng.random(len(a)) < P.RATING_SHARE]
    t_rate = t_auto_paid[rate_auto] + rng.uniform(*P.RATING_DELAY_DAYS, len(rate_auto)) * DAY
    events.add(t_rate, af[rate_auto], ap[rate_auto], "rating", _scores(rng, "paid", len(rate_auto)))

    # Recommendation chains.
    ch = channels[rng.choice(len(channels), len(pf), p=channel_p)]
    events.add(t_push, pf, pp, "push", [f'{{"channel":"{c}","relevance":{x}}}' for c, x in zip(ch, _r2(r))])
    v = np.flatnonzero(viewed)
    dwell = np.round(np.exp(rng.normal(np.log(30) + 1.2 * r[v], 0.8))).astype(np.int64) + 3
    events.add(t_view[v], pf[v], pp[v], "view", _payloads('{"seconds":%d}', dwell.tolist()))
    ap_rows = np.flatnonzero(applied)
    events.add(t_apply[ap_rows], pf[ap_rows], pp[ap_rows], "apply", '{"commitment":true}')
    ok = np.flatnonzero(approved)
    events.add(t_decide[ok], pf[ok], pp[ok], "approved", [f'{{"amount":"{x}"}}' for x in app_amount[ok]])
    paid = [f'{{"amount":"{x}","mode":"{mo}"}}' for x, mo in zip(app_amount[ok], mode[pp[ok]])]
    events.add(t_paid[ok], pf[ok], pp[ok], "paid", paid)
    no = np.flatnonzero(applied & ~approved)
    reasons = _reasons(specs, frame, pf[no], pp[no], el[no], over[no], reference_date)
    events.add(t_decide[no], pf[no], pp[no], "rejected", reasons)
    ended_ok = rng.random(len(ok)) < P.RATING_SHARE
    events.add(
        t_paid[ok][ended_ok] + rng.uniform(*P.RATING_DELAY_DAYS, ended_ok.sum()) * DAY,
        pf[ok][ended_ok],
        pp[ok][ended_ok],
        "rating",
        _scores(rng, "paid", int(ended_ok.sum())),
    )
    ended_no = rng.random(len(no)) < P.RATING_SHARE
    events.add(
        t_decide[no][ended_no] + rng.uniform(*P.RATING_DELAY_DAYS, ended_no.sum()) * DAY,
        pf[no][ended_no],
        pp[no][ended_no],
        "rating",
        _scores(rng, "rejected", int(ended_no.sum())),
    )
    events.finish()
    say(4, 4)
    return events


def _office_hours(rng, size: int) -> np.ndarray:
    """Seconds into a day between 08:30 and 18:00 (platforms push and pay in office hours)."""
    return rng.uniform(8.5 * 3600, 18 * 3600, size)


def _office_after(rng, t: np.ndarray) -> np.ndarray:
    """The first office-hours moment of ``t``'s day, or of the next day if that has passed."""
    moment = np.floor(t / DAY) * DAY + _office_hours(rng, len(t))
    return np.where(moment <= t, moment + DAY, moment)


def _r2(x: np.ndarray) -> list[str]:
    return [f"{v:.2f}" for v in np.round(x, 2).tolist()]


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


__all__ = ["simulate", "generate", "Events"]
