"""Deciding one policy for one enterprise: eligible / not eligible / undetermined, and how much.

Pure: facts in, decision out. Storing, reserving budget and paying happen in
``service``; this module only says what the rules say.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from matcher import catalog, scale
from matcher.derived import DERIVED, with_derived
from matcher.engine import UNKNOWN, Leaf, evaluate_rule
from matcher.errors import RuleError
from matcher.spec import Amount, PolicySpec

CENT = Decimal("0.01")
ROUNDING = {"half_up": ROUND_HALF_UP, "down": ROUND_DOWN}
DERIVED_INPUTS = {
    "age_years": ("established_on",),
    "rd_ratio": ("rd_expense", "revenue"),
    "revenue_growth": ("revenue", "revenue_prev"),
}


@dataclass
class Decision:
    policy_id: str
    outcome: str  # eligible | not_eligible | undetermined
    amount: Decimal | None = None
    missing: tuple[str, ...] = ()
    trace: list[Leaf] = field(default_factory=list)
    as_of: dt.date | None = None
    note: str = ""

    def to_json(self) -> dict:
        return {
            "policy_id": self.policy_id,
            "outcome": self.outcome,
            "amount": f"{self.amount:.2f}" if self.amount is not None else None,
            "missing": list(self.missing),
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "note": self.note,
            "trace": [leaf.to_json() for leaf in self.trace],
        }


def facts_to_declare(missing, facts: dict) -> tuple[str, ...]:
    """Missing derived fields stand for the facts they are computed from."""
    out = set()
    for name in missing:
        if name == "scale":
            industry = facts.get("industry")
            needed = scale.required_fields(industry) if industry else ("industry",)
            out.update(n for n in needed if facts.get(n) is None)
        elif name in DERIVED_INPUTS:
            out.update(n for n in DERIVED_INPUTS[name] if facts.get(n) is None)
        else:
            out.add(name)
    return tuple(sorted(out))


def compute_amount(amount: Amount, data: dict, as_of: dt.date) -> tuple[Decimal | None, frozenset, list]:
    """Formula → floor → cap → rounding to 分, in Decimal."""
    formula = amount.formula
    if isinstance(formula, (dict, list)):
        ev = evaluate_rule(formula, data, as_of=as_of, checked=True)
        if ev.value is UNKNOWN:
            return None, ev.missing, ev.trace
        value, trace = ev.value, ev.trace
    else:
        value, trace = formula, []
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str, float)):
        raise RuleError("amount.formula", f"金额公式的结果应为数字，实际为 {value!r}")
    value = Decimal(str(value))
    if value < 0:
        raise RuleError("amount.formula", f"金额公式算出负数 {value}")
    if amount.floor is not None:
        value = max(value, amount.floor)
    if amount.cap is not None:
        value = min(value, amount.cap)
    return value.quantize(CENT, rounding=ROUNDING[amount.rounding]), frozenset(), trace


def decide(spec: PolicySpec, facts: dict, as_of: dt.date | None = None, sources: dict | None = None) -> Decision:
    """The decision of ``spec`` for an enterprise with typed ``facts`` (and their sources)."""
    as_of = as_of or dt.date.today()
    data = with_derived(facts, as_of)
    sources = dict(sources or {})
    for name in DERIVED:
        sources.setdefault(name, "derived")
    ev = evaluate_rule(spec.conditions, data, sources, as_of, checked=True)
    if ev.value is UNKNOWN:
        return Decision(
            spec.id, "undetermined", missing=facts_to_declare(ev.missing, facts), trace=ev.trace, as_of=as_of
        )
    if ev.value is not True and ev.value is not False:
        raise RuleError("conditions", f"申报条件的结果应为真或假，实际为 {ev.value!r}")
    if not ev.value:
        return Decision(spec.id, "not_eligible", trace=ev.trace, as_of=as_of)
    value, missing, _ = compute_amount(spec.amount, data, as_of)
    if value is None:
        return Decision(
            spec.id,
            "undetermined",
            missing=facts_to_declare(missing, facts),
            trace=ev.trace,
            as_of=as_of,
            note="条件已满足，计算金额还需补充数据",
        )
    return Decision(spec.id, "eligible", amount=value, trace=ev.trace, as_of=as_of)


def apply_exclusive_groups(results: list[tuple[PolicySpec, Decision]]) -> list[tuple[PolicySpec, Decision]]:
    """就高不重复: within an exclusive group only the highest eligible amount is paid.

    The others keep their eligibility but their amount becomes 0.00 with a note
    naming the measure that was paid instead. Ties go to the policy id first in order.
    """
    best: dict[str, tuple[Decimal, str]] = {}
    for spec, d in results:
        if spec.exclusive_group and d.outcome == "eligible":
            current = best.get(spec.exclusive_group)
            if current is None or (d.amount, _neg(spec.id)) > (current[0], _neg(current[1])):
                best[spec.exclusive_group] = (d.amount, spec.id)
    out = []
    for spec, d in results:
        group = spec.exclusive_group
        if group and d.outcome == "eligible" and best[group][1] != spec.id:
            d = Decision(
                d.policy_id,
                d.outcome,
                Decimal("0.00"),
                d.missing,
                d.trace,
                d.as_of,
                note=f"与 {best[group][1]} 同属“{group}”，就高不重复，按较高者兑现",
            )
        out.append((spec, d))
    return out


def _neg(s: str) -> tuple:
    return tuple(-ord(c) for c in s)


def typed_facts(raw: dict, today: dt.date | None = None) -> dict:
    """Catalog-typed facts from raw values (a spec's test case, an API body)."""
    return {k: catalog.parse_value(k, v, today=today) for k, v in raw.items()}
