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
from decimal import Decimal

import numpy as np

from matcher import catalog
from matcher.decision import CENT, Decision, decide
from matcher.errors import RuleError
from matcher.registry import DERIVED, OPERATORS, facts_to_declare, with_derived
from matcher.spec import PolicySpec

TRUE, FALSE, UNKNOWN = 1, 0, -1
REL_TOL = 1e-9
EXACT_LIMIT = 1e9  # below this, decimals with ≤ 6 places differ by more than float spacing


def _exact_const(value) -> bool:
    """A literal whose float is ordered exactly like its Decimal against 2-place fields."""
    if isinstance(value, bool):
        return False
    try:
        d = Decimal(str(value))
    except Exception:
        return False
    return d.is_finite() and abs(d) < Decimal(EXACT_LIMIT) and d.as_tuple().exponent >= -6


class _Fallback(Exception):
    """The columnar path cannot take this rule; use the scalar one."""


class Table:
    """Typed facts of many enterprises as columns, with the derived fields.

    Numbers are float64 with a ``known`` mask; text, codes and enums are numpy
    strings ("" when missing); qualifications are ``;``-joined text; flags are
    booleans. ``row(i)`` gives the typed facts of one enterprise for the exact
    scalar path, and ``ambiguous`` marks rows whose derived percentages sit on a
    rounding boundary in float (they are always re-decided exactly).
    """

    def __init__(
        self, n: int, as_of: dt.date, numeric: dict, text: dict, row_fn, facts_fn, ambiguous=None, cells_fn=None
    ):
        self.n, self.as_of = n, as_of
        self._numeric, self._text = numeric, text
        self._row, self._facts, self._cells = row_fn, facts_fn, cells_fn
        self.ambiguous = ambiguous if ambiguous is not None else np.zeros(n, dtype=bool)

    def __len__(self) -> int:
        return self.n

    def numeric(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return self._numeric[name]

    def text(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return self._text[name]

    def row(self, i: int) -> dict:
        return self._row(i)

    def facts(self, i: int) -> dict:
        return self._facts(i)

    def cells(self, i: int) -> dict[str, str]:
        """The facts of one enterprise as canonical text (what the store keeps), missing ones left out."""
        if self._cells is not None:
            return self._cells(i)
        return {name: catalog.format_value(name, v) for name, v in self._facts(i).items() if v is not None}

    @classmethod
    def from_records(cls, records: list[dict], as_of: dt.date) -> Table:
        """From typed facts (dicts of catalog values); derived fields computed per row."""
        rows = [with_derived(r, as_of) for r in records]
        numeric, text = {}, {}
        for name, f in catalog.FIELDS.items():
            col = [r.get(name) for r in rows]
            known = np.array([v is not None for v in col], dtype=bool)
            if f.type in ("money", "count", "percent"):
                numeric[name] = (np.array([float(v) if v is not None else np.nan for v in col]), known)
            elif f.type == "bool":
                text[name] = (np.array([bool(v) for v in col], dtype=bool), known)
            elif f.type == "set":
                text[name] = (np.array([";".join(sorted(v)) if v is not None else "" for v in col], dtype=str), known)
            elif f.type == "date":
                text[name] = (np.array([v.isoformat() if v is not None else "" for v in col], dtype=str), known)
            else:
                text[name] = (np.array([v if v is not None else "" for v in col], dtype=str), known)
        return cls(len(rows), as_of, numeric, text, rows.__getitem__, list(records).__getitem__)

    @classmethod
    def from_frame(cls, frame, as_of: dt.date) -> Table:
        """From catalog-formatted text columns (an enterprises.csv read as strings), vectorised."""
        return table_from_frame(frame, as_of)


@dataclass
class _Node:
    kind: str  # bool | num | obj | date | set | const
    values: object
    known: np.ndarray | None = None
    miss: dict | None = None  # field -> rows where its absence makes this node unknown
    exact: bool = False  # a field or literal whose float compares exactly like its Decimal (see _exact_const)
    field: str | None = None  # the catalog field a var node reads


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
            return _Node("num", values, known, {name: ~known}, exact=True)
        values, known = self.t.text(name)
        if f.type == "bool":
            return _Node("bool", values & known, known, {name: ~known}, field=name)
        if f.type in ("date", "set"):
            return _Node(f.type, values, known, {name: ~known}, field=name)
        return _Node("obj", values, known, {name: ~known}, field=name)

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
                if self._exact(a) and self._exact(b):  # plain fields and short literals: only huge ties are unsure
                    close = (x == y) & (np.abs(x) >= EXACT_LIMIT)
                else:
                    close = np.abs(x - y) <= REL_TOL * np.maximum(1.0, np.maximum(np.abs(x), np.abs(y)))
                result = {">": x > y, ">=": x >= y, "<": x < y, "<=": x <= y, "==": x == y, "!=": x != y}[op]
            self.uncertain |= known & close
            return _Node("bool", np.where(known, result, False), known, _merge(self.n, known, mx, my))
        if a.kind == "obj" and b.kind == "const" and op in ("==", "!=") and isinstance(b.values, str):
            eq = (a.values == b.values) & a.known
            return _Node("bool", eq if op == "==" else ~eq, a.known, a.miss)
        raise _Fallback

    def _exact(self, node: _Node) -> bool:
        if node.kind == "num":
            return node.exact
        return node.kind == "const" and _exact_const(node.values)

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

    def op_if(self, op, args):
        """Numeric if/else-if chains (tiers); the first deciding condition wins, as in the scalar path."""
        if len(args) % 2 == 0 or len(args) < 3:
            raise _Fallback
        *pairs, last = args
        value, known, miss = self._num(self.ev(last))
        value, known = np.array(value, dtype=float), known.copy()
        for j in range(len(pairs) - 2, -1, -2):  # innermost (last) branch first, earlier ones override
            cond = self._as_bool(self.ev(pairs[j]))
            then_v, then_k, then_m = self._num(self.ev(pairs[j + 1]))
            unknown, take = ~cond.known, cond.known & cond.values
            keep = cond.known & ~cond.values
            value = np.where(take, then_v, value)
            known = (take & then_k) | (keep & known)
            names = set(miss) | set(then_m) | set(cond.miss or {})
            zero = np.zeros(self.n, dtype=bool)
            miss = {
                m: (unknown & (cond.miss or {}).get(m, zero))
                | (take & then_m.get(m, zero))
                | (keep & miss.get(m, zero))
                for m in names
            }
        return _Node("num", value, known, miss)

    def op_in(self, op, args):
        if len(args) != 2:
            raise _Fallback
        a, b = self.ev(args[0]), self.ev(args[1])
        if a.kind == "obj" and b.kind == "const" and isinstance(b.values, list):
            if not all(isinstance(v, str) for v in b.values):
                raise _Fallback
            out = np.isin(a.values, np.array(b.values, dtype=str))
            return _Node("bool", out & a.known, a.known, a.miss)
        raise _Fallback

    def op_domain(self, op, args):
        domain = OPERATORS[op]
        if len(args) != 2 or domain.vector is None:
            raise _Fallback
        a, b = self.ev(args[0]), self.ev(args[1])
        if b.kind != "const" or not isinstance(b.values, str) or a.field is None:
            raise _Fallback
        if domain.first is not None and catalog.FIELDS[a.field].type != domain.first:
            raise _Fallback
        key = (op, a.field, b.values)
        cache = self.t.__dict__.setdefault("_domain_cache", {})
        out = cache.get(key)  # every city policy asks the same in_region question
        if out is None:
            try:
                out = cache[key] = domain.vector(a.values, b.values) & a.known
            except Exception:
                raise _Fallback from None
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
    "if": "if",
    "?:": "if",
    "in_region": "domain",
    "in_industry": "domain",
    "has_qualification": "domain",
}


def _merge(n, known, *masks):
    out: dict = {}
    for m in masks:
        for name, mask in m.items():
            out[name] = out.get(name, np.zeros(n, dtype=bool)) | (mask & ~known)
    return out


def _conditions(rule, table: Table):
    """Vectorised conditions: (outcome int8, missing masks, rows to re-decide exactly)."""
    n = len(table)
    cols = _Columns(table)
    try:
        node = cols._as_bool(cols.ev(rule))
        outcome = np.where(node.known, node.values.astype(np.int8), UNKNOWN).astype(np.int8)
        return outcome, node.miss or {}, cols.uncertain | table.ambiguous
    except _Fallback:
        return np.full(n, UNKNOWN, dtype=np.int8), {}, np.ones(n, dtype=bool)


def _missing_of(masks: dict, i: int) -> tuple[str, ...]:
    return tuple(sorted(name for name, mask in masks.items() if mask[i]))


def evaluate_conditions(rule, table: Table) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Per row: TRUE / FALSE / UNKNOWN, and the missing fields of unknown rows.

    Rows the float path cannot decide exactly are re-decided by the scalar engine.
    """
    from matcher.engine import UNKNOWN as SCALAR_UNKNOWN
    from matcher.engine import evaluate_rule

    outcome, masks, redo = _conditions(rule, table)
    missing: list[tuple[str, ...]] = [()] * len(table)
    for i in np.flatnonzero(outcome == UNKNOWN):
        missing[i] = _missing_of(masks, i)
    for i in np.flatnonzero(redo):
        ev = evaluate_rule(rule, table.row(i), as_of=table.as_of)
        if ev.value is SCALAR_UNKNOWN:
            outcome[i], missing[i] = UNKNOWN, tuple(sorted(ev.missing))
        else:
            if ev.value is not True and ev.value is not False:
                raise RuleError("conditions", f"申报条件的结果应为真或假，实际为 {ev.value!r}")
            outcome[i], missing[i] = (TRUE if ev.value else FALSE), ()
    return outcome, missing


@dataclass
class Sweep:
    """One policy decided for every row of a table: arrays, plus exact overrides.

    ``outcome``: 1 eligible, 0 not eligible, -1 undetermined; ``cents``: the
    amount of eligible rows in 分 (exact integers); rows in ``exact`` were
    decided by the scalar engine and hold their :class:`Decision`.
    """

    spec: PolicySpec
    table: Table
    outcome: np.ndarray
    cents: np.ndarray
    masks: dict
    amount_unknown: np.ndarray
    exact: dict

    def decision(self, i: int) -> Decision:
        if i in self.exact:
            return self.exact[i]
        sid, as_of = self.spec.id, self.table.as_of
        o = self.outcome[i]
        if o == TRUE:
            return Decision(sid, "eligible", amount=(Decimal(int(self.cents[i])) / 100).quantize(CENT), as_of=as_of)
        if o == FALSE:
            return Decision(sid, "not_eligible", as_of=as_of)
        note = "条件已满足，计算金额还需补充数据" if self.amount_unknown[i] else ""
        return Decision(
            sid,
            "undetermined",
            missing=facts_to_declare(_missing_of(self.masks, i), self.table.facts(i)),
            as_of=as_of,
            note=note,
        )

    def decisions(self) -> list[Decision]:
        return [self.decision(i) for i in range(len(self.table))]

    @property
    def eligible(self) -> int:
        return int((self.outcome == TRUE).sum())

    @property
    def total(self) -> Decimal:
        """Money for all eligible rows, exact."""
        return (Decimal(int(self.cents[self.outcome == TRUE].sum())) / 100).quantize(CENT)


def sweep(spec: PolicySpec, table: Table) -> Sweep:
    """Decide ``spec`` for every row: the scalar answers, computed column-wise."""
    n, as_of = len(table), table.as_of
    outcome, masks, redo = _conditions(spec.conditions, table)
    cents = np.zeros(n, dtype=np.int64)
    amount_unknown = np.zeros(n, dtype=bool)
    eligible = outcome == TRUE
    try:
        value, known, amask, ambiguous = _amounts(spec, table)
        redo = redo | (eligible & ambiguous)
        cents = np.where(eligible & known, value, 0).astype(np.int64)
        amount_unknown = eligible & ~known
        for name, mask in amask.items():
            masks[name] = masks.get(name, np.zeros(n, dtype=bool)) | (mask & amount_unknown)
        outcome = np.where(amount_unknown, UNKNOWN, outcome).astype(np.int8)
    except _Fallback:
        redo = redo | eligible
    exact = {}
    for i in np.flatnonzero(redo):
        d = decide(spec, table.facts(i), as_of)
        exact[int(i)] = Decision(spec.id, d.outcome, d.amount, d.missing, [], as_of, d.note)
        outcome[i] = {"eligible": TRUE, "not_eligible": FALSE}.get(d.outcome, UNKNOWN)
        cents[i] = int(d.amount * 100) if d.amount is not None else 0
    return Sweep(spec, table, outcome, cents, masks, amount_unknown, exact)


def _amounts(spec: PolicySpec, table: Table):
    """Amounts in 分 as float-computed integers, and the rows too close to a boundary to trust."""
    n = len(table)
    amount = spec.amount
    cols = _Columns(table)
    if isinstance(amount.formula, (dict, list)):
        node = cols.ev(amount.formula)
        x, known, miss = cols._num(node)
    else:
        x, known, miss = np.full(n, float(Decimal(str(amount.formula)))), np.ones(n, dtype=bool), {}
    x = np.array(x, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):  # unknown rows are NaN; they are masked out
        return _round_amounts(amount, x, known, miss, cols.uncertain.copy())


def _round_amounts(amount, x, known, miss, ambiguous):
    """Floor, cap and rounding to 分 in float, flagging rows too close to a boundary to trust."""
    # negative amounts raise in the scalar path; tiny ones may be float noise around zero
    ambiguous = ambiguous | (known & ((x < 0) | ((x != 0) & (np.abs(x) < 1e-9))))
    for bound, pick in ((amount.floor, np.maximum), (amount.cap, np.minimum)):
        if bound is not None:
            b = float(bound)
            ambiguous |= np.abs(x - b) <= 1e-9 * max(1.0, abs(b))
            x = pick(x, b)
    scaled = x * 100
    tol = np.maximum(1e-6, np.abs(scaled) * 1e-12)
    frac = scaled - np.floor(scaled)
    if amount.rounding == "down":
        cents = np.floor(scaled)
        ambiguous |= (frac < tol) | (frac > 1 - tol)
        cents = np.where(frac > 1 - tol, cents + 1, cents)  # exact integers stay exact
    else:
        cents = np.floor(scaled + 0.5)
        ambiguous |= np.abs(frac - 0.5) < tol
    return np.nan_to_num(cents), known, miss, ambiguous & known


def decide_columns(spec: PolicySpec, table: Table) -> list[Decision]:
    """The scalar :func:`~matcher.decision.decide` for every row (without the trace), column-wise."""
    return sweep(spec, table).decisions()


def table_from_frame(frame, as_of: dt.date) -> Table:
    """A :class:`Table` from catalog-formatted text columns, without a Python loop per row."""
    from matcher.decision import typed_facts

    n = len(frame)
    numeric, text = {}, {}
    for f in catalog.FACT_FIELDS:
        raw = frame[f.name].fillna("").astype(str).to_numpy() if f.name in frame else np.full(n, "")
        known = raw != ""
        if f.type in ("money", "count", "percent"):
            numeric[f.name] = (np.where(known, raw, "nan").astype(float), known)
        elif f.type == "bool":
            text[f.name] = (raw == "true", known)
        else:
            text[f.name] = (raw.astype(str), known)
    ambiguous = np.zeros(n, dtype=bool)
    for name, derived in DERIVED.items():
        values, known, unsure = derived.vector(numeric, text, as_of)
        (numeric if catalog.FIELDS[name].numeric else text)[name] = (values, known)
        ambiguous |= unsure
    arrays = {name: frame[name].to_numpy() for name in frame.columns if name in catalog.FIELDS}  # views, no copy

    def cells(i):
        return {name: col[i] for name, col in arrays.items() if isinstance(col[i], str) and col[i] != ""}

    def facts(i):  # for the rows the scalar path decides (stored, canonical text: read back, not parsed again)
        raw = cells(i)
        try:
            return {name: catalog.load_value(name, text) for name, text in raw.items()}
        except (ValueError, ArithmeticError):  # text that is not canonical: parsed and checked
            return typed_facts(raw, as_of)

    return Table(n, as_of, numeric, text, lambda i: with_derived(facts(i), as_of), facts, ambiguous, cells)


__all__ = [
    "Table",
    "Sweep",
    "sweep",
    "table_from_frame",
    "evaluate_conditions",
    "decide_columns",
    "TRUE",
    "FALSE",
    "UNKNOWN",
]
