"""Every firm against every policy, decided by the platform's engine over all firms at once.

The event simulation (:mod:`.events`) needs, per firm and policy: whether the
firm qualifies and for exactly how much (:func:`matcher.columnar.sweep`, the
same answers as :func:`matcher.decision.decide` row by row), what the amount
rule would offer it, whether it is in the policy's region, and how much the
policy's topics speak to it. Nothing here decides by its own rules.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import pandas as pd

from matcher import catalog
from matcher.columnar import TRUE, Table, evaluate_conditions, sweep
from matcher.spec import PolicySpec
from service.synth import params as P


def table(frame: pd.DataFrame, as_of: dt.date) -> Table:
    """The enterprises frame as the engine's columns, as the generator knows them (the roster fields explicit,
    as the platform reads them once the rosters are imported: :func:`.rosters.read`).

    Names, business scopes and USCCs stay out: no rule of the catalogue reads
    them, and as numpy text they are large.
    """
    read = [f.name for f in catalog.FACT_FIELDS if f.type not in ("text", "uscc", "records") and f.name in frame]
    return Table.from_frame(frame[read], as_of)


class Assessment(NamedTuple):
    """Every firm (rows) against every policy (columns), as the engine decides."""

    elig: np.ndarray  # int8: 1 eligible, 0 not, -1 undetermined (also: the amount needs a missing fact)
    cents: np.ndarray  # int64: the exact amount in 分 of eligible pairs
    offer: np.ndarray  # float yuan: what the amount rule would pay (NaN: a fact is missing)
    scope: np.ndarray  # bool: the firm is registered inside the policy's region
    relevance: np.ndarray  # [0, 1], :func:`relevance_matrix`
    size: np.ndarray  # per firm: revenue, else staff × a typical revenue per head


def assess(frame: pd.DataFrame, specs: list[PolicySpec], as_of: dt.date) -> Assessment:
    """:class:`Assessment` of the enterprises frame (the engine's columns live only while this runs)."""
    firms = table(frame, as_of)
    n, m = len(firms), len(specs)
    elig, cents = np.empty((n, m), np.int8), np.empty((n, m), np.int64)
    for j, spec in enumerate(specs):
        decided = sweep(spec, firms)
        elig[:, j], cents[:, j] = decided.outcome, decided.cents
    offer = np.stack([_offers(s, firms) for s in specs], axis=1)
    region = {"var": "region"}
    scope = np.stack([_holds(firms, {"in_region": [region, s.region]}) for s in specs], axis=1)
    revenue = firms.numeric("revenue")[0]
    size = np.where(revenue > 0, revenue, firms.numeric("employees")[0] * P.REVENUE_PER_EMPLOYEE["*"])
    return Assessment(elig, cents, offer, scope, relevance_matrix(specs, firms), size)


def _holds(facts: Table, rule: dict) -> np.ndarray:
    """Rows where a condition is known to hold."""
    return evaluate_conditions(rule, facts)[0] == TRUE


def _offers(spec: PolicySpec, facts: Table) -> np.ndarray:
    """What the amount rule would pay each firm if it qualified (yuan; NaN when a fact is missing).

    A firm weighs this before it knows whether it qualifies; a formula that
    comes out below zero (a shrinking firm's growth) offers nothing.
    """
    formula = {"max": [spec.amount.formula, "0"]}
    offer = sweep(replace(spec, conditions=True, amount=replace(spec.amount, formula=formula)), facts)
    return np.where(offer.outcome == TRUE, offer.cents / 100, np.nan)


# --------------------------------------------------------------------------- relevance


def _traits(facts: Table) -> dict[str, np.ndarray]:
    """Firm traits that make a topic speak to it (params.TOPIC_TRAITS)."""
    scale = facts.text("scale")[0]

    def num(name):
        return facts.numeric(name)[0]

    with np.errstate(invalid="ignore"):
        return {
            "small_or_micro": np.isin(scale, ["small", "micro"]),
            "sme": np.isin(scale, ["small", "micro", "medium"]),
            "large_or_medium": np.isin(scale, ["large", "medium"]),
            "young": num("age_years") < P.TRAIT_YOUNG_YEARS,
            "employer": num("insured_employees") >= P.TRAIT_EMPLOYER_MIN_INSURED,
            "hires_graduates": num("graduates_hired") >= 1,
            "trains": num("skill_certificates") >= 1,
            "borrows": num("loan_interest_paid") > 0,
            "patents": num("invention_patents") >= 1,
            "fast_growing": num("revenue_growth") >= P.TRAIT_FAST_GROWTH_PCT,
        }


def _named(rule, op: str) -> list[str]:
    """Second arguments of every ``op`` in a rule (industries, qualifications it names)."""
    out = []
    if isinstance(rule, dict):
        for key, args in rule.items():
            if key == op and isinstance(args, list) and len(args) == 2:
                out.append(str(args[1]))
            out += _named(args, op)
    elif isinstance(rule, list):
        for a in rule:
            out += _named(a, op)
    return out


def relevance_matrix(specs: list[PolicySpec], facts: Table) -> np.ndarray:
    """r[i, j] ∈ [0, 1]: how much policy j's topics speak to firm i (params.RELEVANCE)."""
    R = P.RELEVANCE
    industry = facts.text("industry")[0]
    codes, inverse = np.unique(industry, return_inverse=True)
    traits = _traits(facts)
    out = np.empty((len(facts), len(specs)))
    done: dict[tuple, int] = {}  # what a column depends on → a column with it (a district's version of a measure)
    for j, spec in enumerate(specs):
        topics = spec.topics
        named = _named(spec.conditions, "in_industry")
        quals = set(_named(spec.conditions, "has_qualification"))
        quals |= {P.TOPIC_QUALIFICATIONS[t] for t in topics if t in P.TOPIC_QUALIFICATIONS}
        key = (tuple(topics), tuple(named), tuple(sorted(quals)))
        if key in done:
            out[:, j] = out[:, done[key]]
            continue
        done[key] = j
        by_industry = np.array(
            [sum(1 for t in topics if c.startswith(P.TOPIC_SECTIONS.get(t, ("~",)))) for c in codes]
        )[inverse]
        by_trait = sum(traits[P.TOPIC_TRAITS[t]].astype(int) for t in topics if t in P.TOPIC_TRAITS)
        score = R["base"] + R["topic"] * np.minimum(by_industry + by_trait, R["topic_max"])
        if named:
            score = score + R["industry"] * np.array([c.startswith(tuple(named)) for c in codes])[inverse]
        if quals:
            held = [_holds(facts, {"has_qualification": [{"var": "qualifications"}, q]}) for q in sorted(quals)]
            score = score + R["qualification"] * np.logical_or.reduce(held)
        out[:, j] = np.minimum(score, 1.0)
    return out
