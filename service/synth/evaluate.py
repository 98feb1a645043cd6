"""A small three-valued JsonLogic evaluator, for the generator's own use.

It knows exactly the operators the generated specs use — ``and``, ``or``,
``!``, ``if``, ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``, ``+``,
``-``, ``*``, ``/``, ``min``, ``max``, ``var`` and the domain operators
``in_region``, ``in_industry``, ``has_qualification`` — in two forms:

- :func:`decide` (scalar, Decimal): exact decisions and amounts, used to write
  the expected results into each spec's test cases. Missing data make a
  condition *unknown* (Kleene logic); a missing derived field asks for the
  facts it is computed from, as the platform's rule engine does.
- :class:`Columns` / :func:`conditions_columns` / :func:`amounts_columns`
  (numpy, float64): the same rules over every firm at once, approximate at
  rounding boundaries, used to decide who takes a policy up in the event
  histories. :func:`exact_amounts` re-computes in Decimal every amount whose
  float value sits too close to a rounding boundary.

The platform's rule engine lives in ``matcher`` and is checked against the
spec test cases independently.
"""

from __future__ import annotations

import datetime as dt
import operator
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

import numpy as np

from matcher import catalog, scale
from matcher.registry import with_derived

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


def region_prefix(code: str) -> str:
    """The prefix every district inside ``code`` starts with (320100 -> 3201)."""
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


# --------------------------------------------------------------------------- scalar


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
    if op in COMPARE:
        return _cmp(op, vals[0], vals[1])
    if op == "in":
        return vals[0] in vals[1]
    if op == "in_region":
        return str(vals[0]).startswith(region_prefix(str(vals[1])))
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


def to_declare(missing, facts: dict) -> list[str]:
    """Missing derived fields stand for the facts they are computed from (the engine's own rule)."""
    from matcher.decision import facts_to_declare

    return list(facts_to_declare(missing, facts))


def decide(spec: dict, facts: dict, as_of: dt.date) -> tuple[str, Decimal | None, list[str]]:
    """(decision, amount, missing) for typed ``facts`` under ``spec``."""
    decision, amount, missing = decide_data(spec, with_derived(facts, as_of))
    return decision, amount, to_declare(missing, facts)


def decide_data(spec: dict, data: dict) -> tuple[str, Decimal | None, list[str]]:
    """:func:`decide` over facts that already carry their derived fields (missing as named in the rule)."""
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


# --------------------------------------------------------------------------- columnar


class Columns:
    """Catalog-formatted text columns (an enterprises frame) as typed numpy columns.

    Numbers are float64 with NaN for missing, codes and enums are ``str``
    arrays ("" missing), flags are booleans with a known mask, and every
    qualification is its own boolean column. Derived fields are computed as
    in :mod:`matcher.derived`, in float.
    """

    def __init__(self, frame, as_of: dt.date):
        self.n = len(frame)
        self.as_of = as_of
        self.numeric: dict[str, np.ndarray] = {}
        self.text: dict[str, np.ndarray] = {}
        self.flags: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.quals: dict[str, np.ndarray] = {}
        for f in catalog.FACT_FIELDS:
            if f.type in ("text", "uscc"):
                continue  # names, scopes and codes: no rule reads them, and they are large
            raw = frame[f.name].to_numpy(dtype=str)
            if f.numeric:
                out = np.full(self.n, np.nan)
                known = raw != ""
                out[known] = raw[known].astype(float)
                self.numeric[f.name] = out
            elif f.type == "bool":
                self.flags[f.name] = (raw == "true", raw != "")
            elif f.type == "set":
                for q in f.choices:
                    self.quals[q] = np.char.find(np.char.add(np.char.add(";", raw), ";"), f";{q};") >= 0
            else:
                self.text[f.name] = raw
        self._derive()

    def _derive(self) -> None:
        est = self.text["established_on"]
        known = est != ""
        days = np.where(known, est, "1970-01-01").astype("datetime64[D]")
        y = days.astype("datetime64[Y]").astype(np.int64) + 1970
        # Whole years: an anniversary counts on the day (matcher.derived.years_between).
        month_day = np.array([s[5:] for s in est.tolist()], dtype=str)
        age = (self.as_of.year - y) - (month_day > self.as_of.strftime("%m-%d"))
        self.numeric["age_years"] = np.where(known, age, np.nan).astype(float)
        rd, rev, prev = (self.numeric[k] for k in ("rd_expense", "revenue", "revenue_prev"))
        with np.errstate(divide="ignore", invalid="ignore"):
            self.numeric["rd_ratio"] = _round2(np.where(rev != 0, rd * 100 / rev, np.nan))
            self.numeric["revenue_growth"] = _round2(np.where(prev != 0, (rev - prev) * 100 / prev, np.nan))
        emp, assets = self.numeric["employees"], self.numeric["total_assets"]
        s = scale.classify_arrays(
            self.text["industry"], emp, ~np.isnan(emp), rev, ~np.isnan(rev), assets, ~np.isnan(assets)
        )
        self.text["scale"] = np.array(["" if v is None else v for v in s], dtype=str)

    def get(self, name: str):
        """(values, known) of a field."""
        if name in self.numeric:
            v = self.numeric[name]
            return v, ~np.isnan(v)
        if name in self.text:
            v = self.text[name]
            return v, v != ""
        if name in self.flags:
            return self.flags[name]
        raise KeyError(name)


def _round2(x: np.ndarray) -> np.ndarray:
    return np.floor(x * 100 + 0.5) / 100


def col(rule, cols: Columns):
    """Evaluate ``rule`` over all firms: (values, known). Constants come back as (value, None)."""
    n = cols.n
    if not isinstance(rule, dict):
        return rule, None
    ((op, args),) = rule.items()
    if op == "var":
        return cols.get(args[0] if isinstance(args, list) else args)
    if not isinstance(args, list):
        args = [args]
    if op == "has_qualification":
        q = args[1]
        return cols.quals[q].copy(), np.ones(n, bool)
    if op in ("in_region", "in_industry"):
        values, known = col(args[0], cols)
        prefix = region_prefix(str(args[1])) if op == "in_region" else str(args[1])
        return np.char.startswith(values, prefix), known
    if op in ("and", "or"):
        parts = [_truth(a, cols) for a in args]
        if op == "and":
            false = np.logical_or.reduce([k & ~v for v, k in parts])
            true = np.logical_and.reduce([k & v for v, k in parts])
        else:
            true = np.logical_or.reduce([k & v for v, k in parts])
            false = np.logical_and.reduce([k & ~v for v, k in parts])
        return true, true | false
    if op == "!":
        v, k = _truth(args[0], cols)
        return ~v, k
    if op == "if":
        out = np.full(n, np.nan)
        known = np.ones(n, bool)
        decided = np.zeros(n, bool)
        i = 0
        while i + 1 < len(args):
            cv, ck = _truth(args[i], cols)
            vv, vk = _number(args[i + 1], cols)
            take = ~decided & ck & cv
            out[take], known[take] = vv[take], vk[take]
            unknown = ~decided & ~ck
            known[unknown] = False
            decided |= take | unknown
            i += 2
        if i < len(args):
            vv, vk = _number(args[i], cols)
            rest = ~decided
            out[rest], known[rest] = vv[rest], vk[rest]
        return out, known
    if op in COMPARE:
        (a, ka), (b, kb) = col(args[0], cols), col(args[1], cols)
        numeric = (ka is None or a.dtype.kind == "f") and (kb is None or b.dtype.kind == "f")
        if numeric:
            a = float(a) if ka is None else a
            b = float(b) if kb is None else b
        with np.errstate(invalid="ignore"):
            value = COMPARE[op](a, b)
        known = _both(ka, kb, n)
        return np.broadcast_to(value, (n,)).copy(), known
    if op == "in":
        values, known = col(args[0], cols)
        return np.isin(values, list(args[1])), known
    if op in ("+", "-", "*", "/", "min", "max"):
        parts = [_number(a, cols) for a in args]
        vals = [v for v, _ in parts]
        known = np.logical_and.reduce([k for _, k in parts])
        with np.errstate(divide="ignore", invalid="ignore"):
            if op == "+":
                value = np.sum(vals, axis=0)
            elif op == "*":
                value = np.prod(vals, axis=0)
            elif op == "-":
                value = vals[0] - vals[1] if len(vals) == 2 else -vals[0]
            elif op == "/":
                value = vals[0] / vals[1]
            elif op == "min":
                value = np.min(vals, axis=0)
            else:
                value = np.max(vals, axis=0)
        return value, known
    raise ValueError(f"operator {op!r} not supported by the generator's evaluator")


def _both(ka, kb, n):
    if ka is None and kb is None:
        return np.ones(n, bool)
    if ka is None:
        return kb.copy()
    if kb is None:
        return ka.copy()
    return ka & kb


def _truth(rule, cols: Columns):
    v, k = col(rule, cols)
    if k is None:
        return np.full(cols.n, bool(v)), np.ones(cols.n, bool)
    return v.astype(bool), k


def _number(rule, cols: Columns):
    v, k = col(rule, cols)
    if k is None:
        return np.full(cols.n, float(v)), np.ones(cols.n, bool)
    return v.astype(float), k


def conditions_columns(spec: dict, cols: Columns) -> np.ndarray:
    """1 eligible-by-conditions, 0 not, -1 unknown, for every firm (int8)."""
    v, k = _truth(spec["conditions"], cols)
    return np.where(k, v.astype(np.int8), np.int8(-1)).astype(np.int8)


def amounts_columns(spec: dict, cols: Columns) -> np.ndarray:
    """The amount rule for every firm, regardless of conditions (float yuan, NaN unknown)."""
    amount = spec["amount"]
    value, known = _number(amount["formula"], cols)
    if amount.get("floor") is not None:
        value = np.maximum(value, float(amount["floor"]))
    if amount.get("cap") is not None:
        value = np.minimum(value, float(amount["cap"]))
    if amount.get("rounding", "half_up") == "down":
        value = np.floor(value * 100 + 1e-7) / 100
    else:
        value = _round2(value)
    return np.where(known, value, np.nan)


def exact_amounts(spec: dict, cols: Columns, rows: np.ndarray, row_facts) -> list[str]:
    """Amounts of ``rows`` as exact text ("1234.50").

    The float amount is right to the 分 unless its value lies within float
    error of a rounding boundary; those rows are re-computed in Decimal from
    ``row_facts(i)`` (typed facts) with the scalar evaluator.
    """
    amount = spec["amount"]
    value, known = _number(amount["formula"], cols)
    value, known = value[rows], known[rows]
    if amount.get("floor") is not None:
        value = np.maximum(value, float(amount["floor"]))
    if amount.get("cap") is not None:
        value = np.minimum(value, float(amount["cap"]))
    scaled = value * 100
    frac = scaled - np.floor(scaled)
    if amount.get("rounding", "half_up") == "down":
        cents = np.floor(scaled + 1e-6)
        risky = (frac < 1e-5) | (frac > 1 - 1e-5)
    else:
        cents = np.floor(scaled + 0.5)
        risky = np.abs(frac - 0.5) < 1e-5
    risky |= ~known | (np.abs(value) > 1e11)
    cents = cents.astype(np.int64)
    out = [f"{c // 100}.{c % 100:02d}" for c in cents.tolist()]
    for j in np.flatnonzero(risky):
        decision, exact, _ = decide(spec, row_facts(int(rows[j])), cols.as_of)
        out[j] = f"{exact:.2f}" if exact is not None else ""
    return out
