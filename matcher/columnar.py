"""One rule over many enterprises at once (numpy), with exactly the scalar answers.

Sweeps and the sandbox evaluate a policy over a whole city. Conditions are
evaluated column-wise with Kleene logic; numbers are compared as float64 for
speed, and every row where a comparison is too close to call in float (or where
the scalar engine would raise, such as a division by zero) is re-decided by the
scalar engine in :mod:`matcher.engine`. Amounts are computed in Decimal by the
scalar path for the eligible rows only. The result is therefore identical to
calling :func:`matcher.decision.decide` row by row — a property test checks it.

Operators the columnar path does not cover make the rule fall back to the
scalar path for all rows: slower, never different.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from graph import industries, regions
from matcher import catalog
from matcher.decision import Decision, compute_amount, decide, facts_to_declare
from matcher.derived import with_derived
from matcher.errors import RuleError
from matcher.spec import PolicySpec

TRUE, FALSE, UNKNOWN = 1, 0, -1
REL_TOL = 1e-9


class _Fallback(Exception):
    """The columnar path cannot take this rule; use the scalar one."""


@dataclass
class Table:
    """Typed facts of many enterprises, with derived fields, as columns."""

    rows: list[dict]  # typed facts with derived fields (for the scalar fallback)
    facts: list[dict]  # typed facts as given
    as_of: dt.date

    @classmethod
    def from_records(cls, records: list[dict], as_of: dt.date) -> Table:
        return cls([with_derived(r, as_of) for r in records], list(records), as_of)

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> np.ndarray:
        cache = self.__dict__.setdefault("_cols", {})
        if name not in cache:
            cache[name] = np.array([r.get(name) for r in self.rows], dtype=object)
        return cache[name]

    def numeric(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        cache = self.__dict__.setdefault("_nums", {})
        if name not in cache:
            col = self.column(name)
            known = np.array([v is not None for v in col], dtype=bool)
            values = np.array([float(v) if v is not None else np.nan for v in col], dtype=float)
            cache[name] = (values, known)
        return cache[name]


@dataclass
class _Node:
    kind: str  # bool | num | obj | const
    values: object
    known: np.ndarray | None = None
    miss: dict | None = None  # field -> rows where its absence makes this node unknown


class _Columns:
    def __init__(self, table: Table):
        self.t = table
        self.n = len(table)
        self.uncertain = np.zeros(self.n, dtype=bool)

    def all_known(self):
        return np.ones(self.n, dtype=bool)

    def ev(self, rule) -> _Node:
        if isinstance(rule, list):
            if all(not isinstance(x, (dict, list)) for x in rule):
                return _Node("const", rule)
            raise _Fallback
        if not isinstance(rule, dict):
            return _Node("const", rule)
        if len(rule) != 1:
            raise _Fallback
        ((op, args),) = rule.items()
        if not isinstance(args, list):
            args = [args]
        handler = getattr(self, "op_" + _NAMES.get(op, "none"), None)
        if handler is None:
            raise _Fallback
        return handler(op, args)

    # -- leaves ---------------------------------------------------------------
    def op_var(self, op, args):
        name = args[0] if args else None
        if len(args) != 1 or not isinstance(name, str) or name not in catalog.FIELDS:
            raise _Fallback
        f = catalog.FIELDS[name]
        if f.type in ("money", "count", "percent"):
            values, known = self.t.numeric(name)
            return _Node("num", values, known, {name: ~known})
        col = self.t.column(name)
        known = np.array([v is not None for v in col], dtype=bool)
        if f.type == "bool":
            return _Node("bool", np.array([bool(v) for v in col]), known, {name: ~known})
        return _Node("obj", col, known, {name: ~known})

    # -- logic ----------------------------------------------------------------
    def _as_bool(self, node: _Node) -> _Node:
        if node.kind == "bool":
            return node
        if node.kind == "const" and isinstance(node.values, bool):
            return _Node("bool", np.full(self.n, node.values), self.all_known(), {})
        raise _Fallback  # truthiness of numbers/text: leave it to the scalar path

    def op_not(self, op, args):
        if len(args) != 1:
            raise _Fallback
        node = self._as_bool(self.ev(args[0]))
        out = ~node.values if op == "!" else node.values.copy()
        return _Node("bool", out, node.known, node.miss)

    def op_junction(self, op, args):
        decisive = op == "or"
        nodes = [self._as_bool(self.ev(a)) for a in args]
        if not nodes:
            return _Node("bool", np.full(self.n, not decisive), self.all_known(), {})
        decided = np.zeros(self.n, dtype=bool)
        for node in nodes:
            decided |= node.known & (node.values == decisive)
        unknown = ~decided & np.logical_or.reduce([~node.known for node in nodes])
        miss: dict = {}
        for node in nodes:
            rows = unknown & ~node.known
            for name, mask in (node.miss or {}).items():
                miss[name] = miss.get(name, np.zeros(self.n, dtype=bool)) | (mask & rows)
        values = np.where(decided, decisive, not decisive)
        return _Node("bool", values, ~unknown, miss)

    # -- comparisons and domain operators -----------------------------------
    def op_compare(self, op, args):
        if len(args) != 2:
            raise _Fallback
        a, b = self.ev(args[0]), self.ev(args[1])
        if a.kind == "num" or b.kind == "num":
            x, kx, mx = self._num(a)
            y, ky, my = self._num(b)
            known = kx & ky
            with np.errstate(invalid="ignore"):
                close = np.abs(x - y) <= REL_TOL * np.maximum(1.0, np.maximum(np.abs(x), np.abs(y)))
                result = {">": x > y, ">=": x >= y, "<": x < y, "<=": x <= y, "==": x == y, "!=": x != y}[op]
            self.uncertain |= known & close
            return _Node("bool", np.where(known, result, False), known, _merge(self.n, known, mx, my))
        if (
            a.kind == "obj"
            and b.kind == "const"
            and op in ("==", "!=")
            and isinstance(b.values, str)
            and all(isinstance(v, str) for v in a.values[a.known])
        ):
            eq = a.values == b.values
            return _Node("bool", eq if op == "==" else ~eq, a.known, a.miss)
        raise _Fallback

    def _num(self, node: _Node):
        if node.kind == "num":
            return node.values, node.known, node.miss or {}
        if node.kind == "const" and not isinstance(node.values, bool):
            try:
                return np.full(self.n, float(node.values)), self.all_known(), {}
            except (TypeError, ValueError):
                raise _Fallback from None
        raise _Fallback

    def op_arith(self, op, args):
        parts = [self._num(self.ev(a)) for a in args]
        if not parts:
            raise _Fallback
        known = np.logical_and.reduce([k for _, k, _ in parts])
        miss = _merge(self.n, known, *(m for _, _, m in parts))
        vals = [v for v, _, _ in parts]
        with np.errstate(all="ignore"):
            if op == "+":
                out = np.sum(vals, axis=0)
            elif op == "*":
                out = np.prod(vals, axis=0)
            elif op == "-":
                out = -vals[0] if len(vals) == 1 else vals[0] - vals[1]
            elif op == "/" and len(vals) == 2:
                self.uncertain |= known & (vals[1] == 0)
                out = vals[0] / vals[1]
            elif op == "min":
                out = np.min(vals, axis=0)
            elif op == "max":
                out = np.max(vals, axis=0)
            else:
                raise _Fallback
        return _Node("num", out, known, miss)

    def op_in(self, op, args):
        if len(args) != 2:
            raise _Fallback
        a, b = self.ev(args[0]), self.ev(args[1])
        if a.kind in ("obj",) and b.kind == "const" and isinstance(b.values, list):
            allowed = set(b.values)
            out = np.array([v in allowed for v in a.values])
            return _Node("bool", out & a.known, a.known, a.miss)
        raise _Fallback

    def op_domain(self, op, args):
        if len(args) != 2:
            raise _Fallback
        a, b = self.ev(args[0]), self.ev(args[1])
        if a.kind != "obj" or b.kind != "const" or not isinstance(b.values, str):
            raise _Fallback
        target = b.values
        try:
            if op == "in_region":
                prefix = _region_prefix(regions().canonical(target))
                test = lambda v: v.startswith(prefix)  # noqa: E731
            elif op == "in_industry":
                prefix = industries().canonical(target)
                test = lambda v: v.startswith(prefix)  # noqa: E731
            else:
                if target not in catalog.QUALIFICATIONS:
                    raise _Fallback
                test = lambda v: target in v  # noqa: E731
        except Exception:
            raise _Fallback from None
        out = np.array([v is not None and test(v) for v in a.values], dtype=bool)
        return _Node("bool", out, a.known, a.miss)


_NAMES = {
    "var": "var",
    "!": "not",
    "!!": "not",
    "and": "junction",
    "or": "junction",
    ">": "compare",
    ">=": "compare",
    "<": "compare",
    "<=": "compare",
    "==": "compare",
    "!=": "compare",
    "+": "arith",
    "-": "arith",
    "*": "arith",
    "/": "arith",
    "min": "arith",
    "max": "arith",
    "in": "in",
    "in_region": "domain",
    "in_industry": "domain",
    "has_qualification": "domain",
}


def _region_prefix(code: str) -> str:
    level = regions().get(code).level
    return code[: (2, 4, 6)[level]]


def _merge(n, known, *masks):
    out: dict = {}
    for m in masks:
        for name, mask in m.items():
            out[name] = out.get(name, np.zeros(n, dtype=bool)) | (mask & ~known)
    return out


def evaluate_conditions(rule, table: Table) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Per row: TRUE / FALSE / UNKNOWN, and the missing fields of unknown rows.

    Rows the float path cannot decide exactly are re-decided by the scalar engine.
    """
    from matcher.engine import UNKNOWN as SCALAR_UNKNOWN
    from matcher.engine import evaluate_rule

    n = len(table)
    cols = _Columns(table)
    try:
        node = cols._as_bool(cols.ev(rule))
        outcome = np.where(node.known, node.values.astype(np.int8), UNKNOWN).astype(np.int8)
        missing_masks = node.miss or {}
        redo = np.flatnonzero(cols.uncertain)
    except _Fallback:
        outcome, missing_masks, redo = np.full(n, UNKNOWN, dtype=np.int8), {}, np.arange(n)
    names = sorted(missing_masks)
    missing: list[tuple[str, ...]] = [()] * n
    unknown_rows = np.flatnonzero(outcome == UNKNOWN)
    for i in unknown_rows:
        missing[i] = tuple(m for m in names if missing_masks[m][i])
    for i in redo:
        ev = evaluate_rule(rule, table.rows[i], as_of=table.as_of)
        if ev.value is SCALAR_UNKNOWN:
            outcome[i], missing[i] = UNKNOWN, tuple(sorted(ev.missing))
        else:
            if ev.value is not True and ev.value is not False:
                raise RuleError("conditions", f"申报条件的结果应为真或假，实际为 {ev.value!r}")
            outcome[i], missing[i] = (TRUE if ev.value else FALSE), ()
    return outcome, missing


def decide_columns(spec: PolicySpec, table: Table) -> list[Decision]:
    """The scalar :func:`~matcher.decision.decide` for every row, without the trace, computed column-wise."""
    outcome, missing = evaluate_conditions(spec.conditions, table)
    out = []
    for i in range(len(table)):
        if outcome[i] == FALSE:
            out.append(Decision(spec.id, "not_eligible", as_of=table.as_of))
        elif outcome[i] == UNKNOWN:
            out.append(
                Decision(
                    spec.id, "undetermined", missing=facts_to_declare(missing[i], table.facts[i]), as_of=table.as_of
                )
            )
        else:
            value, miss, _ = compute_amount(spec.amount, table.rows[i], table.as_of)
            if value is None:
                out.append(
                    Decision(
                        spec.id,
                        "undetermined",
                        missing=facts_to_declare(miss, table.facts[i]),
                        as_of=table.as_of,
                        note="条件已满足，计算金额还需补充数据",
                    )
                )
            else:
                out.append(Decision(spec.id, "eligible", amount=value, as_of=table.as_of))
    return out


__all__ = ["Table", "evaluate_conditions", "decide_columns", "decide", "TRUE", "FALSE", "UNKNOWN"]
