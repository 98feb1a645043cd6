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
COMPARE = {"==": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge,
           "<": operator.lt, "<=": operator.le}


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
    if (isinstance(a, numeric) or isinstance(b, numeric)) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        a, b = num(a), num(b)
    return COMPARE[op](a, b)


def ev(rule, data: dict):
    """``(value, missing)``: value may be UNKNOWN, and then ``missing`` names the fields."""
    if not isinstance(rule, dict):
        return rule, frozenset()
    (op, args), = rule.items()
    if op == "var":
        name = args[0] if isinstance(args, list) else args
        value = data.get(name)
        return (UNKNOWN, frozenset([name])) if value is None else (value, frozenset())
    if not isinstance(args, list):
        args = [args]
    if op in ("and", "or"):
        results = [ev(a, data) for a in args]
        decisive = op == "or"
        if any(v is not UNKNOWN and bool(v) is decisive for v, _ in results):
            return decisive, frozenset()
        unknown = [m for v, m in results if v is UNKNOWN]
        if unknown:
            return UNKNOWN, frozenset().union(*unknown)
        return (not decisive), frozenset()
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
    vals = [v for v, _ in values]
    if op == "!":
        return (not vals[0]), frozenset()
    if op in ("==", "!=", ">", ">=", "<", "<="):
        return _cmp(op, vals[0], vals[1]), frozenset()
    if op == "in":
        return vals[0] in vals[1], frozenset()
    if op == "in_region":
        return str(vals[0]).startswith(_region_prefix(str(vals[1]))), frozenset()
    if op == "in_industry":
        return str(vals[0]).startswith(str(vals[1])), frozenset()
    if op == "has_qualification":
        return vals[1] in vals[0], frozenset()
    nums = [num(v) for v in vals]
    if op == "+":
        return sum(nums, Decimal(0)), frozenset()
    if op == "*":
        out = Decimal(1)
        for x in nums:
            out *= x
        return out, frozenset()
    if op == "-":
        return (nums[0] - nums[1] if len(nums) == 2 else -nums[0]), frozenset()
    if op == "/":
        return nums[0] / nums[1], frozenset()
    if op == "min":
        return min(nums), frozenset()
    if op == "max":
        return max(nums), frozenset()
    raise ValueError(f"operator {op!r} not supported by the generator's evaluator")


def decide(spec: dict, facts: dict, as_of: dt.date) -> tuple[str, Decimal | None, list[str]]:
    """(decision, amount, missing) for typed ``facts`` under ``spec``."""
    data = with_derived(facts, as_of)
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
