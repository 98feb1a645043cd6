"""How far an enterprise is from a policy: each condition met, unmet (and by how much) or unknown, and the
amount it would get — the rule-progress features of the ranker and the shape of a self-test (自测).

Read by the same engine that decides (``matcher.engine``), one top-level condition at a time, so progress
never disagrees with the decision: a firm whose conditions are all met is eligible (or undetermined only
for its amount's data).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import numpy as np

from matcher.decision import Decision, Step, compute_amount, decide
from matcher.engine import UNKNOWN, Leaf, evaluate_rule
from matcher.errors import MatcherError
from matcher.registry import DERIVED, facts_to_declare, with_derived
from matcher.spec import PolicySpec


@dataclass(frozen=True)
class Progress:
    outcome: str  # the decision's: eligible | not_eligible | undetermined
    met: int
    unmet: int
    unknown: int
    amount: Decimal | None  # the decision's amount, or what the formula gives on the facts known (an estimate)
    nearest_gap: float | None  # the smallest relative gap of an unmet threshold (gap / |threshold|)
    leaves: tuple[Leaf, ...] = field(default=(), repr=False)  # unmet and unknown conditions, explained
    met_leaves: tuple[Leaf, ...] = field(default=(), repr=False)  # the conditions met, explained
    missing: tuple[str, ...] = ()  # the facts to declare for the unknown conditions (derived ones: their inputs)
    steps: tuple[Step, ...] = field(default=(), repr=False)  # how the amount was reached (decided or estimated)
    decision: Decision | None = field(default=None, repr=False, compare=False)  # the decision it agrees with

    @property
    def total(self) -> int:
        return self.met + self.unmet + self.unknown

    @property
    def share_met(self) -> float:
        return self.met / self.total if self.total else 1.0


def conditions_of(spec: PolicySpec) -> list:
    """The top-level conditions (the parts of the outermost ``and``)."""
    c = spec.conditions
    if isinstance(c, dict) and set(c) == {"and"} and isinstance(c["and"], list):
        return list(c["and"])
    return list(c) if isinstance(c, list) else [c]


def rule_progress(
    spec: PolicySpec,
    facts: dict,
    as_of: dt.date,
    sources: dict | None = None,
    decision: Decision | None = None,
) -> Progress:
    """Progress of typed ``facts`` under ``spec`` as of a date (``decision``: the spec's decision on these
    facts when the caller has it — a supplement's, decided with its parent's amount)."""
    decision = decision if decision is not None else decide(spec, facts, as_of, sources)
    data = with_derived(facts, as_of)
    srcs = dict(sources or {})
    for name in DERIVED:
        srcs.setdefault(name, "derived")
    met = unmet = unknown = 0
    gaps: list[float] = []
    leaves: list[Leaf] = []
    met_leaves: list[Leaf] = []
    missing: set[str] = set()
    for condition in conditions_of(spec):
        ev = evaluate_rule(condition, data, srcs, as_of, checked=True, thorough=True)
        if ev.value is UNKNOWN:
            unknown += 1
            leaves += ev.trace
            missing |= ev.missing
        elif ev.value:
            met += 1
            met_leaves += ev.trace
        else:
            unmet += 1
            leaves += ev.trace
            gaps += [g for g in (_relative_gap(leaf) for leaf in ev.trace) if g is not None]
    amount, steps = decision.amount, decision.steps
    if amount is None and decision.outcome != "eligible":
        amount, steps = estimate(spec, data, as_of)
    return Progress(
        decision.outcome,
        met,
        unmet,
        unknown,
        amount,
        min(gaps) if gaps else None,
        tuple(leaves),
        tuple(met_leaves),
        facts_to_declare(missing, facts) if missing else (),
        steps,
        decision,
    )


def estimate(spec: PolicySpec, data: dict, as_of: dt.date) -> tuple[Decimal | None, tuple[Step, ...]]:
    """What the amount formula gives on the facts known (``data``: with the derived fields), explained step by
    step: an estimate for a firm that does not (yet) qualify, never a payout; None when the data do not give
    one (a missing fact, or a formula that gives nothing sensible on facts that do not qualify)."""
    try:
        amount, missing, steps = compute_amount(spec.amount, data, as_of)
    except MatcherError:
        return None, ()
    return (amount, steps) if not missing else (None, ())


def _relative_gap(leaf: Leaf) -> float | None:
    if leaf.outcome is not False or leaf.gap is None:
        return None
    try:
        gap, threshold = abs(Decimal(str(leaf.gap))), abs(Decimal(str(leaf.threshold)))
    except (InvalidOperation, TypeError, ValueError):
        return None
    return float(gap / threshold) if threshold else None


def progress_columns(spec: PolicySpec, table) -> dict[str, np.ndarray]:
    """:func:`rule_progress` for every row of a column table (``matcher.columnar``) at once: ``met``,
    ``unmet``, ``unknown`` (counts of top-level conditions), ``outcome`` (1 eligible, 0 not, −1 undetermined)
    and ``amount`` (yuan as float: the decision's for eligible rows, else the formula's estimate, NaN where
    the data do not give one). The ranker's features for training and for serving both come from here."""
    from matcher.columnar import FALSE, TRUE, _amounts, _Fallback, evaluate_conditions, sweep
    from matcher.columnar import UNKNOWN as COL_UNKNOWN

    n = len(table)
    met, unmet, unknown = (np.zeros(n, dtype=np.int64) for _ in range(3))
    for condition in conditions_of(spec):
        out, _ = evaluate_conditions(condition, table)
        met += out == TRUE
        unmet += out == FALSE
        unknown += out == COL_UNKNOWN
    decided = sweep(spec, table)
    amount = np.where(decided.outcome == TRUE, decided.cents / 100.0, np.nan)
    try:
        cents, known, _, _ = _amounts(spec, table)
        estimate = np.where(known & (cents >= 0), np.asarray(cents, dtype=float) / 100.0, np.nan)
    except _Fallback:
        estimate = np.full(n, np.nan)
    return {
        "met": met,
        "unmet": unmet,
        "unknown": unknown,
        "outcome": decided.outcome.astype(np.int64),
        "amount": np.where(np.isnan(amount), estimate, amount),
    }
