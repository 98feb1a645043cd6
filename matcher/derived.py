"""Derived fields, computed in one place from an enterprise's facts as of a date.

Missing inputs give ``None``, never a guess: the rule engine then reports the
condition as unknown and names the facts to declare.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from matcher import scale

CENT = Decimal("0.01")
DERIVED = ("age_years", "rd_ratio", "revenue_growth", "scale")


def years_between(start: dt.date, end: dt.date) -> int:
    """Whole years from ``start`` to ``end`` (an anniversary on ``end`` counts)."""
    years = end.year - start.year
    if (end.month, end.day) < (start.month, start.day):
        years -= 1
    return years


def _pct(num, den) -> Decimal | None:
    if num is None or den is None or Decimal(den) == 0:
        return None
    return (Decimal(num) * 100 / Decimal(den)).quantize(CENT, rounding=ROUND_HALF_UP)


def derive(facts: dict, as_of: dt.date) -> dict:
    est = facts.get("established_on")
    revenue, prev = facts.get("revenue"), facts.get("revenue_prev")
    growth = None
    if revenue is not None and prev is not None and Decimal(prev) != 0:
        growth = _pct(Decimal(revenue) - Decimal(prev), prev)
    industry = facts.get("industry")
    return {
        "age_years": years_between(est, as_of) if est is not None else None,
        "rd_ratio": _pct(facts.get("rd_expense"), revenue),
        "revenue_growth": growth,
        "scale": scale.classify(industry, facts.get("employees"), revenue, facts.get("total_assets"))
        if industry
        else None,
    }


def with_derived(facts: dict, as_of: dt.date) -> dict:
    return {**facts, **derive(facts, as_of)}
