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

A records field (新招用人员) is a flat :class:`~matcher.records.RecordTable`, one row per
record; ``filter``, ``map``, ``all``, ``some``, ``none`` and the counts and sums of
``reduce`` evaluate their condition on every record at once and fold it per enterprise
with ``np.bincount`` (:mod:`matcher.records` states the three-valued semantics).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from matcher import catalog, records
from matcher.decision import CENT, Decision, decide
from matcher.errors import RuleError
from matcher.records import RecordTable
from matcher.registry import DERIVED, OPERATORS, OperatorError, facts_to_declare, with_derived
from matcher.registry import as_date as registry_date
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
        self,
        n: int,
        as_of: dt.date,
        numeric: dict,
        text: dict,
        row_fn,
        facts_fn,
        ambiguous=None,
        cells_fn=None,
        lists: dict | None = None,
    ):
        self.n, self.as_of = n, as_of
        self._numeric, self._text = numeric, text
        self._row, self._facts, self._cells = row_fn, facts_fn, cells_fn
        self._lists = lists or {}  # records field -> RecordTable
        self.ambiguous = ambiguous if ambiguous is not None else np.zeros(n, dtype=bool)

    def __len__(self) -> int:
        return self.n

    def numeric(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return self._numeric[name]

    def text(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return self._text[name]

    CACHES = ("_domain_cache", "_factor_cache", "_conditions", "_reduced")

    def clear_caches(self) -> None:
        """Forget what sweeps kept on the table (domain answers, factorised columns, the conditions and
        counts of records): memory back, and the next sweep starts cold."""
        for owner in (self, *self._lists.values()):
            for name in self.CACHES:
                owner.__dict__.pop(name, None)

    def records(self, name: str) -> RecordTable:
        """A records field of every enterprise, one row per record."""
        table = self._lists.get(name)
        if table is None:  # not given: unknown for every enterprise
            table = self._lists[name] = RecordTable.from_values(catalog.FIELDS[name], [None] * self.n)
        return table

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
        numeric, text, lists = {}, {}, {}
        for name, f in catalog.FIELDS.items():
            col = [r.get(name) for r in rows]
            known = np.array([v is not None for v in col], dtype=bool)
            if f.type == "records":
                lists[name] = RecordTable.from_values(f, col)
            elif f.type in ("money", "count", "percent"):
                numeric[name] = (np.array([float(v) if v is not None else np.nan for v in col]), known)
            elif f.type == "bool":
                text[name] = (np.array([bool(v) for v in col], dtype=bool), known)
            elif f.type == "set":
                text[name] = (np.array([";".join(sorted(v)) if v is not None else "" for v in col], dtype=str), known)
            elif f.type == "date":
                text[name] = (np.array([v.isoformat() if v is not None else "" for v in col], dtype=str), known)
            else:
                text[name] = (np.array([v if v is not None else "" for v in col], dtype=str), known)
        return cls(len(rows), as_of, numeric, text, rows.__getitem__, list(records).__getitem__, lists=lists)

    @classmethod
    def from_frame(cls, frame, as_of: dt.date, records: dict | None = None) -> Table:
        """From catalog-formatted text columns (an enterprises.csv read as strings), vectorised; a records
        field from its canonical JSON column, or from a long frame of its own (see :func:`table_from_frame`)."""
        return table_from_frame(frame, as_of, records)


@dataclass
class _Node:
    kind: str  # bool | num | obj | date | days | set | const | records | items
    values: object
    known: np.ndarray | None = None
    miss: dict | None = None  # field -> rows where its absence makes this node unknown
    exact: bool = False  # a field or literal whose float compares exactly like its Decimal (see _exact_const)
    field: str | None = None  # the catalog field a var node reads
    lo: np.ndarray | None = None  # a count or sum over undecided records: its bounds,
    hi: np.ndarray | None = None
    bounded: np.ndarray | None = None  # on these rows (unknown, yet a comparison may be decided)


@dataclass
class _Items:
    """A list being iterated, for every enterprise: the records of ``table``, each with its membership
    (int8: 1 in, 0 out, -1 undecided), and the values a ``map`` gave them (a record-level node)."""

    table: RecordTable
    member: np.ndarray
    mapped: _Node | None = None


class _Level:
    """The records of a list, as the rows a condition inside filter / map / all / some / none reads."""

    def __init__(self, items: _Items):
        self.items = items
        self.table = items.table
        self.fields = self.table.fields

    def __len__(self) -> int:
        return len(self.table)

    def var(self, args) -> _Node:
        name = args[0] if args else None
        if self.items.mapped is not None:
            if name in ("", None) and len(args) <= 1:
                return self.items.mapped
            raise _Fallback
        f = self.fields.get(name) if isinstance(name, str) else None
        if f is None or len(args) > 2:
            raise _Fallback
        values, known = self.table.column(name)
        if len(args) == 2:  # a default stands in for a missing sub-field
            default = args[1]
            if not f.numeric or not _exact_const(default):
                raise _Fallback
            values, known = np.where(known, values, float(Decimal(str(default)))), np.ones(len(known), dtype=bool)
        if f.numeric:
            return _Node("num", values, known, {}, exact=True, field=name)
        if f.type == "bool":
            return _Node("bool", values & known, known, {}, field=name)
        if f.type == "date":
            return _Node("days", values, known, {}, field=name)
        return _Node("obj", values, known, {}, field=name)


class _Columns:
    def __init__(self, table: Table, level: _Level | None = None):
        self.t = table
        self.level = level  # None: the register, one row per enterprise; else the records of a list
        self.fields = catalog.FIELDS if level is None else level.fields
        self.n = len(table) if level is None else len(level)
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
        if self.level is not None:
            return self.level.var(args)
        name = args[0] if args else None
        if len(args) != 1 or not isinstance(name, str) or name not in catalog.FIELDS:
            raise _Fallback
        f = catalog.FIELDS[name]
        if f.type == "records":
            table = self.t.records(name)
            return _Node("records", table, table.known, {name: ~table.known}, field=name)
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
        if self.level is not None:  # records: three values as int8, and / or as min / max (no missing to name)
            out = (np.maximum if decisive else np.minimum).reduce([records.three(x.values, x.known) for x in nodes])
            return _Node("bool", out == records.TRUE3, out != records.UNKNOWN3, {})
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
        if len(args) == 3 and op in (">", ">=", "<", "<="):
            return self._between(op, [self.ev(a) for a in args])
        if len(args) != 2:
            raise _Fallback
        a, b = self.ev(args[0]), self.ev(args[1])
        if a.kind in ("date", "days") or b.kind in ("date", "days"):
            return self._dates(op, a, b)
        if a.kind == "num" or b.kind == "num":
            scalar = not (a.kind == "const" and b.kind == "const")
            x, kx, mx = self._num(a, scalar)
            y, ky, my = self._num(b, scalar)
            known = kx if ky is None else ky if kx is None else kx & ky
            result, close = self._order(op, a, b, x, y)
            if close is not None:
                self.uncertain |= known & close
            values = result & known
            for s, o, first in ((a, ky, True), (b, kx, False)):  # a count or sum known only within bounds
                other = b if first else a
                if s.bounded is not None and other.bounded is None:
                    decided, value, unsure = self._bounds(op, s, other, y if first else x, first)
                    decided &= s.bounded if o is None else s.bounded & o
                    if unsure is not None:
                        self.uncertain |= decided & unsure
                    values = np.where(decided, value, values)
                    known = known | decided
            return _Node("bool", values, known, _merge(self.n, known, mx, my))
        if a.kind == "obj" and b.kind == "const" and op in ("==", "!=") and isinstance(b.values, str):
            eq = self._lookup(a, lambda uniq: uniq == b.values) & a.known
            return _Node("bool", eq if op == "==" else ~eq, a.known, a.miss)
        raise _Fallback

    def _order(self, op, a, b, x, y):
        """``x op y`` in float, and the rows too close to call (None: none; exact nodes: only huge ties)."""
        with np.errstate(invalid="ignore"):
            result = _COMPARE[op](x, y)
            if self._exact(a) and self._exact(b):  # plain fields and short literals: only huge ties are unsure
                small = [abs(float(v)) < EXACT_LIMIT for v in (x, y) if np.ndim(v) == 0]
                close = None if any(small) else (x == y) & (np.abs(x) >= EXACT_LIMIT)
            else:
                close = np.abs(x - y) <= REL_TOL * np.maximum(1.0, np.maximum(np.abs(x), np.abs(y)))
        return result, close

    def _bounds(self, op, s: _Node, other: _Node, values, first: bool):
        """A comparison of a bounded quantity (:func:`matcher.records.decide_bounds`), vectorised: the rows it
        decides, the answer, and the rows too close to call."""
        lo = self._order(op, s, other, s.lo, values) if first else self._order(op, other, s, values, s.lo)
        hi = self._order(op, s, other, s.hi, values) if first else self._order(op, other, s, values, s.hi)
        unsure = None if lo[1] is None and hi[1] is None else _either(lo[1], hi[1])
        if op in ("==", "!="):
            single = s.lo == s.hi
            with np.errstate(invalid="ignore"):
                outside = (values < s.lo) | (values > s.hi)
            decided = single | outside
            value = np.where(single, lo[0], op == "!=")
            return decided, value, unsure
        return lo[0] == hi[0], lo[0], unsure

    def _between(self, op, nodes):
        """``{"<=": [a, x, b]}``: a ≤ x ≤ b, as the scalar engine reads three operands."""
        if not any(n.kind == "num" for n in nodes):
            raise _Fallback
        parts = [self._num(n, scalar=True) for n in nodes]
        knowns = [k for _, k, _ in parts if k is not None]
        if not knowns:
            raise _Fallback
        known = np.logical_and.reduce(knowns) if len(knowns) > 1 else knowns[0]
        r1, c1 = self._order(op, nodes[0], nodes[1], parts[0][0], parts[1][0])
        r2, c2 = self._order(op, nodes[1], nodes[2], parts[1][0], parts[2][0])
        close = _either(c1, c2)
        if close is not None:
            self.uncertain |= known & close
        miss = _merge(self.n, known, *(m for _, _, m in parts))
        return _Node("bool", r1 & r2 & known, known, miss)

    def _dates(self, op, a: _Node, b: _Node):
        """Dates against a date written YYYY-MM-DD (or each other): ISO text of the register, days of records."""
        if op not in (">", ">=", "<", "<=", "==", "!="):
            raise _Fallback
        sides = []
        for node, other in ((a, b), (b, a)):
            if node.kind in ("date", "days"):
                sides.append((node.values, node.known, node.miss or {}))
            elif node.kind == "const" and isinstance(node.values, str):
                try:
                    day = registry_date(node.values)
                except OperatorError:
                    raise _Fallback from None
                value = day.isoformat() if other.kind == "date" else float((day - records.EPOCH).days)
                sides.append((np.array(value) if other.kind == "date" else np.float64(value), None, {}))
            else:
                raise _Fallback
        if a.kind in ("date", "days") and b.kind in ("date", "days") and a.kind != b.kind:
            raise _Fallback
        (x, kx, mx), (y, ky, my) = sides
        known = kx if ky is None else ky if kx is None else kx & ky
        return _Node("bool", _COMPARE[op](x, y) & known, known, _merge(self.n, known, mx, my))

    def _exact(self, node: _Node) -> bool:
        if node.kind == "num":
            return node.exact
        return node.kind == "const" and _exact_const(node.values)

    def _num(self, node: _Node, scalar: bool = False):
        """Values, known and missing of a number; a literal as a full column, or (``scalar``) as one float
        with ``known`` None (known everywhere)."""
        if node.kind == "num":
            return node.values, node.known, node.miss or {}
        if node.kind == "const" and not isinstance(node.values, bool):
            try:
                value = float(node.values)
            except (TypeError, ValueError):
                raise _Fallback from None
            if scalar:
                return np.float64(value), None, {}
            return np.full(self.n, value), self.all_known(), {}
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
            out = self._lookup(a, lambda uniq: np.isin(uniq, np.array(b.values, dtype=str)))
            return _Node("bool", out & a.known, a.known, a.miss)
        raise _Fallback

    def _lookup(self, node: _Node, test) -> np.ndarray:
        """``test`` of a code or enum column, made on its distinct values only."""
        if node.field is None or self.level is not None:
            return test(node.values)
        codes, uniq = _factorized(self.t, node.field, node.values)
        return test(uniq)[codes]

    def op_domain(self, op, args):
        domain = OPERATORS[op]
        if op in ("before", "after") and len(args) == 2:
            a, b = self.ev(args[0]), self.ev(args[1])
            if a.kind in ("date", "days") and b.kind == "const":
                return self._dates("<" if op == "before" else ">", a, b)
            raise _Fallback
        if len(args) != 2 or domain.vector is None:
            raise _Fallback
        a, b = self.ev(args[0]), self.ev(args[1])
        if b.kind != "const" or not isinstance(b.values, str) or a.field is None:
            raise _Fallback
        if domain.first is not None and self.fields[a.field].type != domain.first:
            raise _Fallback
        key = (op, a.field, b.values)
        owner = self.t if self.level is None else self.level.table
        cache = owner.__dict__.setdefault("_domain_cache", {})
        out = cache.get(key)  # every city policy asks the same in_region question
        if out is None:
            codes, uniq = _factorized(owner, a.field, a.values)  # codes, sets: a few distinct values
            try:
                out = cache[key] = domain.vector(uniq, b.values)[codes] & a.known
            except Exception:
                raise _Fallback from None
        return _Node("bool", out, a.known, a.miss)

    # -- lists of records -------------------------------------------------------------------
    def _items(self, node: _Node) -> tuple[_Items, np.ndarray, str]:
        """The list an iterating operator walks, which enterprises have it, and the field."""
        if node.kind == "records":
            table = node.values
            return _Items(table, np.full(len(table), records.TRUE3, dtype=np.int8)), table.known, node.field
        if node.kind == "items":
            return node.values, node.known, node.field
        raise _Fallback  # a literal list, or a list inside a list: the scalar path

    def _inside(self, items: _Items, rule, condition: bool = False) -> _Node:
        """``rule`` evaluated on every record of the list (as a condition: true / false); near ties mark
        their enterprises."""
        inner = _Columns(self.t, _Level(items))
        node = inner.ev(rule)
        if condition:
            node = inner._as_bool(node)
        self.uncertain[items.table.owner[inner.uncertain]] = True
        return node

    def _condition(self, items: _Items, args) -> np.ndarray:
        """A list's condition on every record, as three values. Kept on the table by the list and the rule
        (a measure's conditions and amount ask it twice; measures of one city share conditions)."""
        try:  # a record's condition depends on the record alone (and, over a mapped list, on the map)
            key = json.dumps([args[0] if items.mapped is not None else None, args[1]], sort_keys=True)
        except (TypeError, ValueError):
            key = None
        cache = items.table.__dict__.setdefault("_conditions", {})
        if key is not None and key in cache:
            pred, unsure = cache[key]
        else:
            inner = _Columns(self.t, _Level(items))
            cond = inner._as_bool(inner.ev(args[1]))
            pred, unsure = records.three(cond.values, cond.known), inner.uncertain
            if key is not None:
                if len(cache) >= 64:
                    cache.pop(next(iter(cache)))
                cache[key] = (pred, unsure)
        self.uncertain[items.table.owner[unsure]] = True
        return pred

    def op_iterate(self, op, args):
        if self.level is not None or len(args) < 2:
            raise _Fallback  # a list inside a list's condition: the scalar path
        items, present, name = self._items(self.ev(args[0]))
        if op == "reduce":  # kept for the amount, which asks the count again (a few, each n numbers)
            cache = items.table.__dict__.setdefault("_reduced", {})
            try:
                key = json.dumps(args, sort_keys=True)
            except (TypeError, ValueError):
                return self._reduce(items, present, name, args)
            if key not in cache:
                before = self.uncertain.copy()
                node = self._reduce(items, present, name, args)
                if len(cache) >= 4:
                    cache.pop(next(iter(cache)))
                cache[key] = (node, self.uncertain & ~before)
            node, unsure = cache[key]
            self.uncertain |= unsure
            return node
        if op == "map":
            mapped = self._inside(items, args[1])
            return _Node("items", _Items(items.table, items.member, mapped), present, {name: ~present}, field=name)
        pred = self._condition(items, args)
        if op == "filter":
            member = np.minimum(items.member, pred)
            return _Node("items", _Items(items.table, member, items.mapped), present, {name: ~present}, field=name)
        out = records.v_quantify(op, items.table, items.member, pred)
        known = present & (out != records.UNKNOWN3)
        return _Node("bool", known & (out == records.TRUE3), known, {name: ~known})

    def _reduce(self, items: _Items, present, name, args):
        """A count or a sum (:func:`matcher.records.reducer_pattern`) per enterprise; other reducers: scalar."""
        pattern = records.reducer_pattern(args[1])
        start = records._number(args[2]) if len(args) > 2 and not isinstance(args[2], (dict, list)) else None
        if pattern is None or start is None:
            raise _Fallback
        table, member = items.table, items.member
        sure, unsure = member == records.TRUE3, member == records.UNKNOWN3
        _, u, t = records.tally(table, member)
        if pattern[0] == "count":
            step = pattern[1]
            if not (_exact_const(step) and step == step.to_integral_value() and start == start.to_integral_value()):
                raise _Fallback
            lo, hi = float(start) + float(step) * t, float(start) + float(step) * (t + u)
            complete = np.ones(self.n, dtype=bool)
        else:
            if items.mapped is not None:
                if pattern[1] is not None or items.mapped.kind != "num" or not items.mapped.exact:
                    raise _Fallback
                values, vknown = items.mapped.values, items.mapped.known
            else:
                sub = table.fields.get(pattern[1]) if pattern[1] is not None else None
                if sub is None or not sub.numeric:
                    raise _Fallback
                values, vknown = table.column(sub.name)
            if (start * 100) != (start * 100).to_integral_value():
                raise _Fallback
            cents = np.where(vknown, np.rint(values * 100), 0.0)  # exact integers (2-place values)
            inside = member != records.FALSE3
            gaps = inside & ~vknown
            complete = records.total(table, gaps) == 0 if gaps.any() else np.ones(self.n, bool)
            t = records.total(table, np.where(sure, cents, 0.0))
            neg = pos = 0.0
            if unsure.any():
                neg = records.total(table, np.where(unsure, np.minimum(cents, 0.0), 0.0))
                pos = records.total(table, np.where(unsure, np.maximum(cents, 0.0), 0.0))
            if np.abs(cents).max(initial=0.0) * table.sizes.max(initial=0) >= 2.0**52:  # beyond exact integers
                self.uncertain |= records.total(table, np.where(inside, np.abs(cents), 0.0)) >= 2.0**52
            base = float(start) * 100
            lo, hi = (base + t + neg) / 100, (base + t + pos) / 100
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
        certain = present & complete & (u == 0)
        bounded = present & complete & (u > 0)
        return _Node(
            "num",
            np.where(certain, lo, np.nan),
            certain,
            {name: ~certain},
            exact=True,
            lo=lo,
            hi=hi,
            bounded=bounded,
        )


_COMPARE = {
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


def _either(a, b):
    return b if a is None else a if b is None else a | b


def _factorized(owner, name: str, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A low-cardinality column as codes into its distinct values (computed once per table and column)."""
    import pandas as pd

    cache = owner.__dict__.setdefault("_factor_cache", {})
    if name not in cache:
        codes, uniq = pd.factorize(values)
        cache[name] = (codes, np.asarray(uniq, dtype=values.dtype))
    return cache[name]


class _Fixed:
    """An amount formula in exact integers, as the scalar engine computes it in Decimal: a value is a
    numerator array and its number of decimals. Fields, counts and sums the columnar engine reads exactly
    enter with two decimals; literals with their own; ``+ - * min max if`` keep them exact; anything else
    (a division, a number too large for int64) leaves the formula to the float path."""

    LIMIT = 2.0**62

    def __init__(self, cols: _Columns):
        self.cols, self.n = cols, cols.n

    def ev(self, rule):
        if not isinstance(rule, (dict, list)):
            return self._const(rule)
        if isinstance(rule, list) or len(rule) != 1:
            raise _Fallback
        ((op, args),) = rule.items()
        args = args if isinstance(args, list) else [args]
        if op in ("+", "-", "*", "min", "max") and args:
            return self._arith(op, [self.ev(a) for a in args])
        if op in ("if", "?:"):
            return self._if(args)
        node = self.cols.ev(rule)
        if node.kind != "num" or not node.exact:
            raise _Fallback
        known = node.known
        cents = np.rint(np.where(known, node.values, 0.0) * 100)
        self._check(np.abs(cents).max(initial=0.0))
        return cents.astype(np.int64), 2, known, node.miss or {}

    def _const(self, value):
        d = records._number(value)
        if d is None:
            raise _Fallback
        places = max(0, -d.as_tuple().exponent)
        if places > 6:
            raise _Fallback
        num = int(d.scaleb(places))
        self._check(abs(num))
        return np.full(self.n, num, dtype=np.int64), places, np.ones(self.n, dtype=bool), {}

    def _check(self, bound) -> None:
        if not bound < self.LIMIT:
            raise _Fallback

    def _align(self, parts):
        e = max(p[1] for p in parts)
        out = []
        for num, pe, known, miss in parts:
            if pe != e:
                factor = 10 ** (e - pe)
                self._check(float(np.abs(num).max(initial=0)) * factor)
                num = num * factor
            out.append((num, e, known, miss))
        return out, e

    def _arith(self, op, parts):
        known = np.logical_and.reduce([p[2] for p in parts])
        miss = _merge(self.n, known, *(p[3] for p in parts))
        if op == "*":
            num, e, bound = parts[0][0], parts[0][1], float(np.abs(parts[0][0]).max(initial=0))
            for p in parts[1:]:
                bound *= float(np.abs(p[0]).max(initial=0))
                self._check(bound)
                num, e = num * p[0], e + p[1]
            if e > 18:
                raise _Fallback
            return num, e, known, miss
        parts, e = self._align(parts)
        nums = [p[0] for p in parts]
        self._check(sum(float(np.abs(x).max(initial=0)) for x in nums))
        if op == "+":
            num = np.sum(nums, axis=0)
        elif op == "-":
            if len(nums) > 2:
                raise _Fallback
            num = -nums[0] if len(nums) == 1 else nums[0] - nums[1]
        else:
            num = (np.minimum if op == "min" else np.maximum).reduce(nums)
        return num, e, known, miss

    def _if(self, args):
        if len(args) % 2 == 0 or len(args) < 3:
            raise _Fallback
        *pairs, last = args
        branches = [self.ev(pairs[j + 1]) for j in range(0, len(pairs), 2)] + [self.ev(last)]
        branches, e = self._align(branches)
        value, _, known, miss = branches[-1]
        value, known = value.copy(), known.copy()
        zero = np.zeros(self.n, dtype=bool)
        for j in range(len(pairs) - 2, -1, -2):  # the innermost (last) branch first, earlier ones override
            cond = self.cols._as_bool(self.cols.ev(pairs[j]))
            then_v, _, then_k, then_m = branches[j // 2]
            unknown, take = ~cond.known, cond.known & cond.values
            keep = cond.known & ~cond.values
            value = np.where(take, then_v, value)
            known = (take & then_k) | (keep & known)
            names = set(miss) | set(then_m) | set(cond.miss or {})
            miss = {
                m: (unknown & (cond.miss or {}).get(m, zero))
                | (take & then_m.get(m, zero))
                | (keep & miss.get(m, zero))
                for m in names
            }
        return value, e, known, miss


def _exact_amounts(amount, fixed: _Fixed, ambiguous):
    """Formula → floor → cap → rounding to 分 in exact integers (:class:`_Fixed`)."""
    num, e, known, miss = fixed.ev(amount.formula)
    if e < 2:
        fixed._check(float(np.abs(num).max(initial=0)) * 10 ** (2 - e))
        num, e = num * 10 ** (2 - e), 2
    ambiguous = ambiguous | (known & (num < 0))  # a negative amount is an error: the scalar path says so
    scale = 10 ** (e - 2)
    for bound, pick in ((amount.floor, np.maximum), (amount.cap, np.minimum)):
        if bound is not None:
            b = int(bound * 100) * scale
            fixed._check(abs(b))
            num = pick(num, b)
    if scale > 1:
        num = (num + scale // 2) // scale if amount.rounding == "half_up" else num // scale
    return np.where(known, num, 0), known, miss, ambiguous & known


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
    "before": "domain",
    "after": "domain",
    "filter": "iterate",
    "map": "iterate",
    "reduce": "iterate",
    "all": "iterate",
    "some": "iterate",
    "none": "iterate",
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
        cents = np.where(eligible & known & ~ambiguous, value, 0).astype(np.int64)  # ambiguous rows: decided below
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
    """Amounts in 分: exact integers where the formula allows (:class:`_Fixed`), else float-computed integers
    and the rows too close to a boundary to trust."""
    n = len(table)
    amount = spec.amount
    cols = _Columns(table)
    try:
        return _exact_amounts(amount, _Fixed(cols), cols.uncertain.copy())
    except _Fallback:
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
    ambiguous |= ~(np.abs(scaled) < 2.0**53)  # beyond float's exact integers (or not finite): the scalar path
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


def table_from_frame(frame, as_of: dt.date, records: dict | None = None) -> Table:
    """A :class:`Table` from catalog-formatted text columns, without a Python loop per row.

    A records field is read from its column of canonical JSON (one cell per enterprise, as the store
    keeps it; "" unknown), or, faster, from ``records[name]``: a long frame with one row per record (an
    ``owner`` column, the enterprise's row in ``frame``, or a ``uscc`` column) and its sub-field columns,
    typed or catalog text (see :meth:`matcher.records.RecordTable.from_rows`); ``(rows, known)`` says which
    enterprises have a value (default: all of them, a firm without rows having none).
    """
    from matcher.decision import typed_facts

    n = len(frame)
    numeric, text, lists = {}, {}, {}
    given = {}
    for name, spec in (records or {}).items():
        f = catalog.field(name)
        rows, known = spec if isinstance(spec, tuple) else (spec, None)
        usccs = frame["uscc"].to_numpy() if "uscc" in frame and "owner" not in rows else None
        lists[name] = given[name] = RecordTable.from_rows(f, n, rows, known=known, uscc=usccs)
    for f in catalog.FACT_FIELDS:
        if f.type == "records":
            if f.name not in lists:
                cells = frame[f.name].fillna("").astype(str).to_numpy() if f.name in frame else np.full(n, "")
                lists[f.name] = RecordTable.from_text(f, cells)
            continue
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
        out = {
            name: col[i]
            for name, col in arrays.items()
            if isinstance(col[i], str) and col[i] != "" and name not in given
        }
        for name, table in given.items():
            value = table.value(i)
            if value is not None:
                out[name] = catalog.format_value(name, value)
        return out

    def facts(i):  # for the rows the scalar path decides (stored, canonical text: read back, not parsed again)
        raw = cells(i)
        try:
            return {name: catalog.load_value(name, text) for name, text in raw.items()}
        except (ValueError, ArithmeticError):  # text that is not canonical: parsed and checked
            return typed_facts(raw, as_of)

    return Table(n, as_of, numeric, text, lambda i: with_derived(facts(i), as_of), facts, ambiguous, cells, lists)


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
