"""A small three-valued JsonLogic evaluator, for the generator's own use.

It covers the operators the generated specs use and computes amounts in
Decimal, so the expected decisions and amounts written into each spec's test
cases are exact. The platform's rule engine lives in ``matcher`` and is
checked against these cases independently.
"""

from __future__ import annotations

import datetime as dt
import operator
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from matcher.derived import with_derived

UNKNOWN = type("Unknown", (), {"__repr__": lambda self: "UNKNOWN"})()
CENT = Decimal("0.01")
ROUNDING = {"half_up": ROUND_HALF_UP, "down": ROUND_DOWN}
COMPARE = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def num(x) -> Decimal:
    if isinstance(x, bool):
        raise TypeError("boolean used as a number")
    if isinstance(x, float):
        return Decimal(repr(x))
    return Decimal(str(x)) if not isinstance(x, Decimal) else x


def _region_prefix(code: str) -> str:
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def _cmp(op, a, b) -> bool:
    numeric = (int, Decimal)
    if (isinstance(a, numeric) or isinstance(b, numeric)) and not isinstance(a, bool) and not isinstance(b, bool):
        a, b = num(a), num(b)
    return COMPARE[op](a, b)


def ev(rule, data: dict):
    """``(value, missing)``: value may be UNKNOWN, and then ``missing`` names the fields."""
    if not isinstance(rule, dict):
        return rule, frozenset()
    ((op, args),) = rule.items()
    if op == "var":
        name = args[0] if isinstance(args, list) else args
        value = data.get(name)
        return (UNKNOWN, frozenset([name])) if value is None else (value, frozenset())
    if not isinstance(args, list):
        args = [args]
    if op in ("and", "or"):  # Kleene logic, stopping at the first deciding argument
        decisive = op == "or"
        unknown: frozenset = frozenset()
        seen_unknown = False
        for a in args:
            v, m = ev(a, data)
            if v is UNKNOWN:
                seen_unknown, unknown = True, unknown | m
            elif bool(v) is decisive:
                return decisive, frozenset()
        return (UNKNOWN, unknown) if seen_unknown else (not decisive, frozenset())
    if op == "if":
        i = 0
        while i + 1 < len(args):
            cond, m = ev(args[i], data)
            if cond is UNKNOWN:
                return UNKNOWN, m
            if cond:
                return ev(args[i + 1], data)
            i += 2
        return ev(args[i], data) if i < len(args) else (None, frozenset())
    values = [ev(a, data) for a in args]
    unknown = [m for v, m in values if v is UNKNOWN]
    if unknown:
        return UNKNOWN, frozenset().union(*unknown)
    return _leaf(op, [v for v, _ in values]), frozenset()


def _leaf(op: str, vals: list):
    """Apply a non-logical operator to evaluated arguments."""
    if op == "!":
        return not vals[0]
    if op in ("==", "!=", ">", ">=", "<", "<="):
        return _cmp(op, vals[0], vals[1])
    if op == "in":
        return vals[0] in vals[1]
    if op == "in_region":
        return str(vals[0]).startswith(_region_prefix(str(vals[1])))
    if op == "in_industry":
        return str(vals[0]).startswith(str(vals[1]))
    if op == "has_qualification":
        return vals[1] in vals[0]
    nums = [num(v) for v in vals]
    if op == "+":
        return sum(nums, Decimal(0))
    if op == "*":
        out = Decimal(1)
        for x in nums:
            out *= x
        return out
    if op == "-":
        return nums[0] - nums[1] if len(nums) == 2 else -nums[0]
    if op == "/":
        return nums[0] / nums[1]
    if op == "min":
        return min(nums)
    if op == "max":
        return max(nums)
    raise ValueError(f"operator {op!r} not supported by the generator's evaluator")


def decide(spec: dict, facts: dict, as_of: dt.date) -> tuple[str, Decimal | None, list[str]]:
    """(decision, amount, missing) for typed ``facts`` under ``spec``."""
    return decide_data(spec, with_derived(facts, as_of))


def decide_data(spec: dict, data: dict) -> tuple[str, Decimal | None, list[str]]:
    """:func:`decide` over facts that already carry their derived fields."""
    ok, missing = ev(spec["conditions"], data)
    if ok is UNKNOWN:
        return "undetermined", None, sorted(missing)
    if not ok:
        return "not_eligible", None, []
    amount = spec["amount"]
    value, m = ev(amount["formula"], data)
    if value is UNKNOWN:
        return "undetermined", None, sorted(m)
    value = num(value)
    if amount.get("floor") is not None:
        value = max(value, num(amount["floor"]))
    if amount.get("cap") is not None:
        value = min(value, num(amount["cap"]))
    return "eligible", value.quantize(CENT, rounding=ROUNDING[amount.get("rounding", "half_up")]), []


def compile_test(rule):
    """A fast ``data -> True | False | UNKNOWN`` for a condition (no missing-field tracking).

    The events generator asks this question a million times; closures built
    once per rule avoid re-walking the JSON each time. Same semantics as :func:`ev`.
    """
    if not isinstance(rule, dict):
        return lambda data: rule
    ((op, args),) = rule.items()
    if op == "var":
        name = args[0] if isinstance(args, list) else args

        def var(data):
            value = data.get(name)
            return UNKNOWN if value is None else value

        return var
    if not isinstance(args, list):
        args = [args]
    parts = [compile_test(a) for a in args]
    if op in ("and", "or"):
        decisive = op == "or"

        def junction(data):
            seen_unknown = False
            for part in parts:
                v = part(data)
                if v is UNKNOWN:
                    seen_unknown = True
                elif bool(v) is decisive:
                    return decisive
            return UNKNOWN if seen_unknown else (not decisive)

        return junction
    if op == "if":

        def branch(data):
            i = 0
            while i + 1 < len(parts):
                cond = parts[i](data)
                if cond is UNKNOWN:
                    return UNKNOWN
                if cond:
                    return parts[i + 1](data)
                i += 2
            return parts[i](data) if i < len(parts) else None

        return branch

    def apply(data):
        values = [p(data) for p in parts]
        if UNKNOWN in values:
            return UNKNOWN
        return _leaf(op, values)

    return apply
