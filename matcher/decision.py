"""Deciding one policy for one enterprise: eligible / not eligible / undetermined, how much, and why.

Pure: facts in, decision out, with no I/O and no hidden "today" (the date is an
argument). Paying, refusing listed enterprises, 就高不重复 and 配套 are planned by
:mod:`matcher.settlement`; this module only says what the policy's rules say.

A :class:`Decision` explains itself: the conditions that decided it (see
:func:`matcher.engine.reasons`), each amount step (formula → floor → cap →
rounding), and for an undetermined decision the facts to declare. It is made of
JSON-native values, so ``Decision.from_json(d.to_json()) == d`` for every decision.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from matcher import catalog, explain
from matcher.engine import UNKNOWN, Leaf, _Expr, evaluate_rule
from matcher.errors import RuleError
from matcher.registry import DERIVED, facts_to_declare, with_derived
from matcher.spec import Amount, PolicySpec

CENT = Decimal("0.01")
ROUNDING = {"half_up": ROUND_HALF_UP, "down": ROUND_DOWN}
ROUNDING_WORDS = {"half_up": "四舍五入", "down": "舍去"}
OUTCOMES = ("eligible", "not_eligible", "undetermined")
PARENT_AMOUNT = "parent_amount"  # what a supplement's amount formula reads: its parent measure's amount


@dataclass(frozen=True)
class Step:
    """One step of an amount: ``kind`` formula | floor | cap | rounding | fixed | parent; ``value`` exact text."""

    kind: str
    sentence: str
    value: str

    def to_json(self) -> dict:
        return {"kind": self.kind, "sentence": self.sentence, "value": self.value}

    @classmethod
    def from_json(cls, data: dict) -> Step:
        return cls(data["kind"], data["sentence"], data["value"])


@dataclass(frozen=True)
class Decision:
    policy_id: str
    outcome: str  # eligible | not_eligible | undetermined
    amount: Decimal | None = None
    missing: tuple[str, ...] = ()
    trace: tuple[Leaf, ...] = ()
    as_of: dt.date | None = None
    note: str = ""
    steps: tuple[Step, ...] = ()

    @property
    def reasons(self) -> list[str]:
        """The explanation as sentences: the conditions, then how the amount was reached."""
        return [leaf.sentence for leaf in self.trace] + [s.sentence for s in self.steps]

    @property
    def missing_labels(self) -> list[str]:
        return [catalog.FIELDS[n].label for n in self.missing]

    def to_json(self) -> dict:
        return {
            "policy_id": self.policy_id,
            "outcome": self.outcome,
            "amount": f"{self.amount:.2f}" if self.amount is not None else None,
            "missing": list(self.missing),
            "missing_labels": self.missing_labels,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "note": self.note,
            "trace": [leaf.to_json() for leaf in self.trace],
            "steps": [s.to_json() for s in self.steps],
        }

    @classmethod
    def from_json(cls, data: dict) -> Decision:
        return cls(
            data["policy_id"],
            data["outcome"],
            Decimal(data["amount"]) if data.get("amount") is not None else None,
            tuple(data.get("missing") or ()),
            tuple(Leaf.from_json(x) for x in data.get("trace") or ()),
            dt.date.fromisoformat(data["as_of"]) if data.get("as_of") else None,
            data.get("note") or "",
            tuple(Step.from_json(x) for x in data.get("steps") or ()),
        )


def quantity(value: Decimal, label: str) -> _Expr:
    """A money value a rule may read beside the catalog (a supplement's ``parent_amount``), named for explanations."""
    return _Expr(value, "money", None, label, f"{label} {explain.money(value)}", composite=False)


def compute_amount(
    amount: Amount, data: dict, as_of: dt.date, context: dict | None = None, memo: dict | None = None
) -> tuple[Decimal | None, frozenset, tuple[Step, ...]]:
    """Formula → floor → cap → rounding to 分, in Decimal, each step explained (``memo``: see
    :func:`matcher.engine.evaluate_rule`)."""
    formula = amount.formula
    steps: list[Step] = []
    if isinstance(formula, (dict, list)):
        ev = evaluate_rule(formula, data, as_of=as_of, checked=True, context=context, memo=memo)
        if ev.value is UNKNOWN:
            return None, ev.missing, ()
        value = ev.value
        why = "；".join(leaf.sentence for leaf in ev.trace)
        if isinstance(value, bool) or not isinstance(value, (int, Decimal, str, float)):
            raise RuleError("amount.formula", f"金额公式的结果应为数字，实际为 {value!r}")
        value = Decimal(str(value))
        how = f"{ev.shown} = {explain.money(value)}" if ev.shown else f"按 {explain.money(value)}"
        steps.append(Step("formula", f"{why}：{how}" if why else how, f"{value:f}"))
    else:
        value = Decimal(str(formula))
        steps.append(Step("fixed", f"定额 {explain.money(value)}", f"{value:f}"))
    if value < 0:
        raise RuleError("amount.formula", f"金额公式算出负数 {value}")
    if amount.floor is not None and value < amount.floor:
        value = amount.floor
        steps.append(Step("floor", f"低于下限，按下限 {explain.money(value)}", f"{value:f}"))
    if amount.cap is not None and value > amount.cap:
        value = amount.cap
        steps.append(Step("cap", f"超过上限，按上限 {explain.money(value)}", f"{value:f}"))
    rounded = value.quantize(CENT, rounding=ROUNDING[amount.rounding])
    if rounded != value:
        words = ROUNDING_WORDS[amount.rounding]
        steps.append(Step("rounding", f"按{words}保留到分：{explain.money(rounded)}", f"{rounded:f}"))
    return rounded, frozenset(), tuple(steps)


def decide(
    spec: PolicySpec,
    facts: dict,
    as_of: dt.date,
    sources: dict | None = None,
    parent_amount: Decimal | None = None,
    thorough: bool = False,
) -> Decision:
    """The decision of ``spec`` for an enterprise with typed ``facts`` (and their sources) as of a date.

    A supplement (配套) is decided with its parent's amount (``parent_amount``), which
    its amount formula reads as ``{"var": "parent_amount"}``. ``thorough``: a decision that is not
    eligible names every unmet condition (a self-test), not only the one that decided it.
    """
    if not isinstance(as_of, dt.date):
        raise TypeError("decide() needs the date to decide as of: there is no hidden today")
    data = with_derived(facts, as_of)
    sources = dict(sources or {})
    for name in DERIVED:
        sources.setdefault(name, "derived")
    memo: dict = {}  # the conditions and the amount ask a list's condition of the same records
    ev = evaluate_rule(spec.conditions, data, sources, as_of, checked=True, thorough=thorough, memo=memo)
    trace = tuple(ev.trace)
    if ev.value is UNKNOWN:
        return Decision(spec.id, "undetermined", missing=facts_to_declare(ev.missing, facts), trace=trace, as_of=as_of)
    if ev.value is not True and ev.value is not False:
        raise RuleError("conditions", f"申报条件的结果应为真或假，实际为 {ev.value!r}")
    if not ev.value:
        return Decision(spec.id, "not_eligible", trace=trace, as_of=as_of)
    context = None
    if parent_amount is not None:
        context = {PARENT_AMOUNT: quantity(parent_amount, f"上级政策（{spec.supplement_of}）兑现金额")}
    value, missing, steps = compute_amount(spec.amount, data, as_of, context, memo)
    if value is None:
        return Decision(
            spec.id,
            "undetermined",
            missing=facts_to_declare(missing, facts),
            trace=trace,
            as_of=as_of,
            note="条件已满足，计算金额还需补充数据",
        )
    return Decision(spec.id, "eligible", amount=value, trace=trace, as_of=as_of, steps=steps)


def typed_facts(raw: dict, today: dt.date | None = None) -> dict:
    """Catalog-typed facts from raw values (a spec's test case, an API body)."""
    return {k: catalog.parse_value(k, v, today=today) for k, v in raw.items()}


__all__ = ["Decision", "Step", "decide", "compute_amount", "facts_to_declare", "typed_facts", "quantity"]
