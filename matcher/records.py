"""Lists of records (a ``records`` field such as 新招用人员 ``new_hires``): what the iteration operators mean
with unknown data, how they read in Chinese, and the record table both engines share.

A records field holds, for one enterprise, a list of records, each with the typed sub-fields of its
catalog entry. Rules iterate over it with the JsonLogic operators ``filter``, ``map``, ``reduce``,
``all``, ``some`` and ``none``; inside them ``{"var": "age"}`` reads the current record's sub-field
(``{"var": "current.age"}`` and ``{"var": "accumulator"}`` inside a ``reduce``, ``{"var": ""}`` the
current value of a mapped list).

Three values (Kleene), record by record:

- a missing records field is unknown (the enterprise is asked for it); a known empty list is not;
- a record's condition is unknown when a sub-field it needs is missing;
- ``filter`` keeps a record whose condition is true, drops one whose condition is false, and keeps a
  record whose condition is unknown *as unknown*: its membership is undecided;
- ``some`` is true if a record certainly in the list meets the condition, false if none can, unknown
  otherwise; ``none`` is its negation; ``all`` is false if a record certainly in the list fails,
  true if the list certainly has records and every one that may be in it meets the condition,
  unknown otherwise (as in JsonLogic, ``all`` of an empty list is false);
- a count (``reduce`` with ``{"+": [{"var": "accumulator"}, 1]}``) or a sum (``{"+": [{"var":
  "accumulator"}, {"var": "current.x"}]}``) over a list with undecided records is only *bounded*:
  at least the certain ones, at most all of them. A comparison with a number is decided when both
  bounds give the same answer ("at least 6 qualifying hires" meets "at least 1"); everything else
  (arithmetic, an amount) is unknown until the data are complete. Any other reducer over a list
  with undecided records is unknown.

The scalar engine (:mod:`matcher.engine`) and the columnar one (:mod:`matcher.columnar`, through
:class:`RecordTable`) implement exactly this; property tests keep them equal.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np

from matcher import catalog

ITERATORS = ("filter", "map", "reduce", "all", "some", "none")
QUANTIFIERS = ("all", "some", "none")
DEFAULT_UNIT = "条"
EPOCH = dt.date(1970, 1, 1)


def unit_of(f: catalog.Field | None) -> str:
    return (f.unit if f is not None else None) or DEFAULT_UNIT


# -- Kleene logic on True / False / None -------------------------------------------------------


def k_and(a, b):
    if a is False or b is False:
        return False
    return True if a is True and b is True else None


def k_or(a, b):
    if a is True or b is True:
        return True
    return False if a is False and b is False else None


def k_not(a):
    return None if a is None else not a


def some(members, preds):
    """``some``: OR over the records of (member ∧ condition); members are True or None (undecided)."""
    out = False
    for m, p in zip(members, preds, strict=True):
        c = k_and(m, p)
        if c is True:
            return True
        if c is None:
            out = None
    return out


def every(members, preds):
    """``all``: the list certainly or possibly has a record, and every record that may be in it meets the
    condition: (OR members) ∧ AND (¬member ∨ condition)."""
    nonempty = False
    each = True
    for m, p in zip(members, preds, strict=True):
        nonempty = k_or(nonempty, m)
        each = k_and(each, k_or(k_not(m), p))
    return k_and(nonempty, each)


def quantify(op: str, members, preds):
    if op == "some":
        return some(members, preds)
    if op == "none":
        return k_not(some(members, preds))
    return every(members, preds)


# -- reducers both engines recognise -------------------------------------------------------------


def _var_name(node):
    if isinstance(node, dict) and len(node) == 1 and "var" in node:
        args = node["var"]
        name = args[0] if isinstance(args, list) and len(args) == 1 else args
        return name if isinstance(name, str) else None
    return None


def _number(x) -> Decimal | None:
    if isinstance(x, bool) or not isinstance(x, (int, float, str, Decimal)):
        return None
    try:
        d = Decimal(repr(x) if isinstance(x, float) else str(x).strip())
    except ArithmeticError:
        return None
    return d if d.is_finite() else None


def reducer_pattern(rule):
    """``("count", step)`` for ``{"+": [{"var": "accumulator"}, step]}`` (a number; either order),
    ``("sum", name)`` for ``{"+": [{"var": "accumulator"}, {"var": "current.NAME"}]}`` (``name`` None
    for ``{"var": "current"}`` over a mapped list), else None: a reducer evaluated step by step."""
    if not isinstance(rule, dict) or len(rule) != 1 or "+" not in rule:
        return None
    args = rule["+"]
    if not isinstance(args, list) or len(args) != 2:
        return None
    names = [_var_name(a) for a in args]
    if names.count("accumulator") != 1:
        return None
    other = args[1] if names[0] == "accumulator" else args[0]
    name = names[1] if names[0] == "accumulator" else names[0]
    if name is None:
        step = _number(other)
        return ("count", step) if step is not None else None
    if name == "current":
        return ("sum", None)
    if name.startswith("current.") and name.count(".") == 1:
        return ("sum", name.split(".", 1)[1])
    return None


# -- bounded quantities --------------------------------------------------------------------------


def decide_bounds(op: str, compare, lo, hi, other, bounded_first: bool):
    """A comparison of a quantity known only to lie in ``[lo, hi]`` with a known ``other``: True or False
    when every value of the range gives that answer, else None. ``compare(op, a, b)`` compares two
    values; ``bounded_first``: the quantity is the first operand."""

    def at(x):
        return compare(op, x, other) if bounded_first else compare(op, other, x)

    if op in ("==", "===", "!=", "!=="):
        if lo == hi:
            return at(lo)
        below, above = compare("<", other, lo), compare(">", other, hi)
        if below or above:
            return op in ("!=", "!==")
        return None
    a, b = at(lo), at(hi)
    return a if a == b else None


# -- how lists read --------------------------------------------------------------------------------


def counted(n, unit: str) -> str:
    return f"{n}{unit}"


def breakdown(labels_per_record, unit: str, limit: int = 3) -> str:
    """Why the records that failed did: ``年龄 2人、签订劳动合同 1人`` (each record once per condition)."""
    tally: dict[str, int] = {}
    for labels in labels_per_record:
        for label in dict.fromkeys(labels):
            tally[label] = tally.get(label, 0) + 1
    if not tally:
        return ""
    items = sorted(tally.items(), key=lambda kv: -kv[1])
    shown = "、".join(f"{label}不符合 {counted(n, unit)}" for label, n in items[:limit])
    return shown + ("等" if len(items) > limit else "")


def unsure(text: str, unit: str, tally: dict[str, int]) -> str:
    """``新招用人员中 2人的招用前失业登记月数未提供，请补充``."""
    parts = "，".join(f"{counted(n, unit)}的{label}" for label, n in tally.items()) or "部分记录的数据"
    return f"{text}中 {parts}未提供，无法判断，请补充"


def quantifier_sentence(op: str, text: str, unit: str, outcome, n: int, hits: int, fails: int, why: str) -> str:
    """A ``some`` / ``all`` / ``none`` leaf: ``新招用人员 9人中有 6人符合条件``."""
    if n == 0:
        return f"{text} 0{unit}，{'没有符合条件的' if op != 'none' else '没有所列情形的'}记录"
    head = f"{text} {counted(n, unit)}中"
    tail = f"（{why}）" if why else ""
    if op == "some":
        if outcome:
            return f"{head}有 {counted(hits, unit)}符合条件"
        return f"{head}没有符合条件的{'人员' if unit == '人' else '记录'}{tail}"
    if op == "none":
        if outcome:
            return f"{head}没有所列情形"
        return f"{head}有 {counted(hits, unit)}属于所列情形"
    if outcome:
        return f"{text} {counted(n, unit)}均符合条件"
    return f"{head}有 {counted(fails, unit)}不符合条件{tail}"


# -- the record table: one records field for a whole register, one row per record -------------------


class RecordTable:
    """A records field of ``n`` enterprises as one flat table: ``owner[r]`` is the enterprise (row of the
    register) of record ``r``, owners ascending and a firm's records in their order; each sub-field is
    an array with a known mask (numbers float64, dates as days since 1970-01-01, flags bool, the rest
    text). ``known[i]``: enterprise ``i`` has a value (a known empty list included)."""

    def __init__(self, field: catalog.Field, n: int, owner: np.ndarray, known: np.ndarray, columns: dict):
        self.field, self.n = field, n
        self.owner = np.asarray(owner, dtype=np.int64)
        self.known = np.asarray(known, dtype=bool)
        self.columns = columns  # sub-field -> (values, known)
        self.fields = {s.name: s for s in field.fields}
        self.starts = np.searchsorted(self.owner, np.arange(n + 1))
        self.sizes = np.diff(self.starts).astype(float)  # records per enterprise

    def __len__(self) -> int:
        return len(self.owner)

    def column(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return self.columns[name]

    def value(self, i: int) -> tuple[dict, ...] | None:
        """Enterprise ``i``'s typed records (None when unknown), for the exact scalar path."""
        if not self.known[i]:
            return None
        lo, hi = self.starts[i], self.starts[i + 1]
        out = []
        for r in range(lo, hi):
            rec = {}
            for s in self.field.fields:
                values, known = self.columns[s.name]
                rec[s.name] = _typed(s, values[r]) if known[r] else None
            out.append(rec)
        return tuple(out)

    # -- building ---------------------------------------------------------------------------------
    @classmethod
    def from_values(cls, field: catalog.Field, values: list) -> RecordTable:
        """From each enterprise's typed value (a tuple of dicts, or None when unknown)."""
        owner, rows = [], []
        for i, v in enumerate(values):
            for rec in v or ():
                owner.append(i)
                rows.append(rec)
        columns = {s.name: _column(s, [r.get(s.name) for r in rows]) for s in field.fields}
        known = np.array([v is not None for v in values], dtype=bool)
        return cls(field, len(values), np.array(owner, dtype=np.int64), known, columns)

    @classmethod
    def from_text(cls, field: catalog.Field, cells: np.ndarray) -> RecordTable:
        """From canonical text cells (the store's JSON, as :func:`matcher.catalog.format_value` wrote it;
        ``""`` unknown)."""
        values = [catalog.load_value(field.name, c) if c else None for c in cells]
        return cls.from_values(field, values)

    @classmethod
    def from_rows(cls, field: catalog.Field, n: int, rows, owner=None, known=None, uscc=None) -> RecordTable:
        """From a long frame, one row per record (as ``zhida import records`` reads it): ``owner`` (the
        enterprise's row) or a ``uscc`` column matched against ``uscc`` (the register's codes, in row order),
        and sub-field columns, typed (numbers, bools, datetimes) or catalog text. ``known``: which
        enterprises have a value (default: all; a firm without rows then has an empty list)."""
        if owner is None:
            if "owner" in rows:
                owner = rows["owner"].to_numpy()
            else:
                index = {code: i for i, code in enumerate(uscc)}
                codes = rows["uscc"].to_numpy()
                owner = np.array([index.get(c, -1) for c in codes], dtype=np.int64)
                if (owner < 0).any():
                    bad = codes[np.flatnonzero(owner < 0)[0]]
                    raise ValueError(f"{field.label}记录中的企业 {bad} 不在名册中")
        owner = np.asarray(owner, dtype=np.int64)
        order = np.argsort(owner, kind="stable")
        owner = owner[order]
        columns = {}
        for s in field.fields:
            if s.name in rows:
                columns[s.name] = _frame_column(s, rows[s.name].to_numpy()[order])
            else:
                columns[s.name] = _column(s, [None] * len(owner))
        known = np.ones(n, dtype=bool) if known is None else np.asarray(known, dtype=bool)
        if len(owner) and not known[owner].all():
            raise ValueError(f"{field.label}：未知（known 为否）的企业不能有记录")
        return cls(field, n, owner, known, columns)


def _typed(s: catalog.Field, v):
    if s.type in ("money", "percent"):
        return Decimal(repr(float(v))).quantize(catalog.CENT)
    if s.type == "count":
        return int(v)
    if s.type == "bool":
        return bool(v)
    if s.type == "date":
        return EPOCH + dt.timedelta(days=int(v))
    return str(v)


def _column(s: catalog.Field, values: list) -> tuple[np.ndarray, np.ndarray]:
    known = np.array([v is not None for v in values], dtype=bool)
    if s.numeric:
        return np.array([float(v) if v is not None else np.nan for v in values], dtype=float), known
    if s.type == "date":
        return np.array([(v - EPOCH).days if v is not None else 0 for v in values], dtype=float), known
    if s.type == "bool":
        return np.array([bool(v) for v in values], dtype=bool), known
    return np.array([v if v is not None else "" for v in values], dtype=str), known


def _frame_column(s: catalog.Field, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A sub-field column of a long frame: typed arrays as they are, text as catalog text ("" unknown)."""
    kind = raw.dtype.kind
    if kind in "iufb" or kind == "M":
        if kind == "M":
            days = raw.astype("datetime64[D]").astype(np.int64).astype(float)
            known = ~np.isnat(raw)
            return np.where(known, days, 0.0), known
        if s.type == "bool":
            return raw.astype(bool), np.ones(len(raw), dtype=bool)
        values = raw.astype(float)
        return values, ~np.isnan(values)
    import pandas as pd

    text = pd.Series(raw, dtype=object).fillna("").astype(str).to_numpy().astype(str)
    known = text != ""
    if s.numeric:
        return np.where(known, text, "nan").astype(float), known
    if s.type == "bool":
        return np.isin(np.char.lower(text), ["true", "1", "是", "yes"]), known
    if s.type == "date":
        dates = np.where(known, text, "NaT").astype("datetime64[D]")
        return np.where(known, dates.astype(np.int64), 0).astype(float), known
    return text, known


# -- per-enterprise folds (numpy) ----------------------------------------------------------------
# Record-level three values are int8: 2 true, 1 unknown, 0 false (a record a filter dropped is a false
# member), so that Kleene and / or / not are min / max / 2 − x.

TRUE3, UNKNOWN3, FALSE3 = 2, 1, 0


def three(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """A condition's (values, known) as record-level three values (``values`` false where unknown)."""
    return ((values & known).view(np.int8) << 1) | (~known).view(np.int8)


_SPREAD = float(2**26)  # a firm's count of unknowns stays below it (records per firm < 67 million)
_WEIGHTS = np.array([0.0, 1.0, _SPREAD])  # false, unknown, true


def tally(table: RecordTable, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per enterprise, how many of its records are false, unknown and true: one ``np.bincount`` over the
    records (true counted in units of 2²⁶, unknown in ones; exact in float64)."""
    both = np.bincount(table.owner, weights=_WEIGHTS[c], minlength=table.n)
    true = np.floor(both / _SPREAD)
    unknown = both - true * _SPREAD
    return table.sizes - true - unknown, unknown, true


def total(table: RecordTable, values: np.ndarray) -> np.ndarray:
    """Per enterprise, the sum of its records' ``values`` (float64; exact for integers below 2⁵³)."""
    return np.bincount(table.owner, weights=values, minlength=table.n)


def fold_or(table: RecordTable, c: np.ndarray) -> np.ndarray:
    """OR of each enterprise's record values (false for none)."""
    _, unknown, true = tally(table, c)
    return np.where(true > 0, TRUE3, np.where(unknown > 0, UNKNOWN3, FALSE3)).astype(np.int8)


def fold_and(table: RecordTable, c: np.ndarray) -> np.ndarray:
    """AND of each enterprise's record values (true for none)."""
    false, unknown, _ = tally(table, c)
    return np.where(false > 0, FALSE3, np.where(unknown > 0, UNKNOWN3, TRUE3)).astype(np.int8)


def v_quantify(op: str, table: RecordTable, member: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """:func:`quantify` for every enterprise at once, in the three values above."""
    if op in ("some", "none"):
        out = fold_or(table, np.minimum(member, pred))
        return (TRUE3 - out).astype(np.int8) if op == "none" else out
    nonempty = fold_or(table, member)
    each = fold_and(table, np.maximum(TRUE3 - member, pred).astype(np.int8))
    return np.minimum(nonempty, each)
