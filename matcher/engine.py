"""The policy rule engine: strict, Decimal, three-valued JsonLogic that explains itself.

On top of plain JsonLogic (:mod:`matcher.jsonlogic`):

- **Decimal**: every number is a ``Decimal``; money never touches float.
- **Three values**: a ``var`` naming a field the enterprise has no value for is
  :data:`UNKNOWN`. ``and``/``or``/``!``/``if`` follow Kleene logic (false and
  unknown = false; true or unknown = true); any other operator with an unknown
  argument is unknown. A condition that ends unknown names exactly the missing
  fields that kept it from deciding.
- **Strict**: comparing a number with text, a date with a number, and the like
  is a :class:`~matcher.errors.RuleError` naming the rule path — never a silent
  ``false``.
- **Domain operators** from :mod:`matcher.registry` (``in_region``,
  ``in_industry``, ``has_qualification``, ``years_since``, ``before``, ``after``).
- **Explanation**: every leaf condition — a comparison of a field, or of a
  computed quantity such as ``rd_expense - rd_expense_prev``, with a threshold —
  becomes a :class:`Leaf` with a Chinese sentence, the values and, for a failed
  numeric threshold, the distance in the unit of the compared quantity. The
  leaves form a tree (``and``/``or``/``!``/``if``), from which :func:`reasons`
  keeps what matters: every condition of an ``and``; for an ``or``, the branch
  that held, or when none held the nearest one.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from matcher import catalog, explain, records
from matcher.errors import MatcherError, RuleError, render_path
from matcher.jsonlogic import OPERATORS, JsonLogic, is_logic
from matcher.registry import DERIVED, OperatorError
from matcher.registry import OPERATORS as DOMAIN_OPERATORS
from matcher.registry import as_date as registry_date

UNKNOWN = type("Unknown", (), {"__repr__": lambda self: "UNKNOWN", "__bool__": lambda self: False})()
COMPARISONS = {">", ">=", "<", "<=", "==", "!=", "===", "!=="}
NEGATE = {">": "<=", ">=": "<", "<": ">=", "<=": ">", "==": "!=", "!=": "==", "===": "!==", "!==": "==="}
NEGATE.update({"some": "none", "none": "some"})  # a list quantifier reads as its opposite under a "!"
_FLIP = {">": "<", "<": ">", ">=": "<=", "<=": ">="}


@dataclass(frozen=True)
class Leaf:
    """One leaf condition as evaluated for one enterprise; every member is JSON-native.

    ``label`` names what was compared (a field's label, or a computed quantity such as
    "上年度研发费用 − 前年度研发费用"); ``value``, ``threshold`` and ``gap`` are exact text
    (money "1500000.00"), numbers, booleans or lists; ``outcome`` None means unknown.
    """

    path: str
    op: str
    field: str | None
    label: str
    value: object
    source: str | None
    threshold: object
    outcome: bool | None
    sentence: str
    gap: str | None = None

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "op": self.op,
            "field": self.field,
            "label": self.label,
            "value": self.value,
            "source": self.source,
            "threshold": self.threshold,
            "outcome": self.outcome,
            "sentence": self.sentence,
            "gap": self.gap,
        }

    @classmethod
    def from_json(cls, data: dict) -> Leaf:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})


class Node:
    """The explanation tree: ``kind`` is and / or / if / ! / !! / leaf / root. A comparison leaf is
    rendered (its Chinese sentence) only if an explanation keeps it."""

    __slots__ = ("kind", "outcome", "children", "render", "op", "_leaf")

    def __init__(self, kind: str, outcome: bool | None = None, leaf: Leaf | None = None, render=None, op=None):
        self.kind, self.outcome, self._leaf, self.render, self.op = kind, outcome, leaf, render, op
        self.children: list[Node] = []

    @property
    def leaf(self) -> Leaf:
        if self._leaf is None:
            self._leaf = self.render(self.op, self.outcome)
        return self._leaf

    @property
    def closeness(self) -> float:
        """A failed numeric leaf: its distance relative to the threshold (0 otherwise)."""
        return self.render.closeness(self.op) if self.render is not None and self.outcome is False else 0.0


@dataclass
class Evaluation:
    value: object
    missing: frozenset = frozenset()
    trace: list[Leaf] = field(default_factory=list)  # the reasons (see :func:`reasons`)
    tree: Node | None = None
    shown: str | None = None  # a computed value: how it was computed, with the values


def dec(x, path: str) -> Decimal:
    """A number as Decimal; text must be a number, booleans and dates are not."""
    if isinstance(x, Decimal):
        return x
    if isinstance(x, bool) or x is None:
        raise RuleError(path, f"需要数字，实际为 {x!r}")
    if isinstance(x, int):
        return Decimal(x)
    if isinstance(x, float):
        return Decimal(repr(x))
    if isinstance(x, str):
        try:
            d = Decimal(x.strip())
        except InvalidOperation:
            raise RuleError(path, f"需要数字，实际为文本 {x!r}") from None
        if d.is_finite():
            return d
    raise RuleError(path, f"需要数字，实际为 {x!r}")


def as_date(x, path) -> dt.date:
    try:
        return registry_date(x)
    except OperatorError as e:
        raise RuleError(path, str(e)) from None


# -- values that remember where they come from ----------------------------------------------


class _Var:
    """A value read from a field: it knows its label, kind and unit, so a comparison can explain itself."""

    __slots__ = ("name", "value")

    def __init__(self, name, value):
        self.name, self.value = name, value

    @property
    def field(self) -> str:
        return self.name

    @property
    def kind(self) -> str:
        return catalog.FIELDS[self.name].type

    @property
    def unit(self) -> str | None:
        return catalog.FIELDS[self.name].unit

    @property
    def text(self) -> str:
        return catalog.FIELDS[self.name].label

    @property
    def calc(self) -> str:
        return f"{self.text} {explain.show(self.kind, self.value, self.unit, self.name)}"

    composite = False
    note = ""
    display = None
    per = None


class _SubVar(_Var):
    """A sub-field of the record being iterated (``age`` of one 新招用人员): typed like a field, read by its label."""

    __slots__ = ("spec",)

    def __init__(self, spec, value):
        super().__init__(spec.name, value)
        self.spec = spec

    field = None

    @property
    def kind(self) -> str:
        return self.spec.type

    @property
    def unit(self) -> str | None:
        return self.spec.unit

    @property
    def text(self) -> str:
        return self.spec.label

    @property
    def calc(self) -> str:
        return f"{self.text} {explain.show(self.kind, self.value, self.unit)}"


class _Expr:
    """A quantity computed from fields (``rd_expense - rd_expense_prev``): its value, kind and unit,
    how it reads (``text``: 上年度研发费用 − 前年度研发费用) and how it was computed (``calc``)."""

    __slots__ = ("value", "kind", "unit", "text", "calc", "composite", "field", "note", "display", "per")

    def __init__(self, value, kind, unit, text, calc, composite=True, field=None, note="", display=None, per=None):
        self.value, self.kind, self.unit, self.text, self.calc = value, kind, unit, text, calc
        self.composite = composite  # an operation of several parts: bracketed inside another
        self.field = field  # the catalog field it counts or sums (a records field), if any
        self.note = note  # read after the value: "（共 9人）"
        self.display = display  # the value as it reads, when not one number ("6至8人")
        self.per = per  # a count of records: a literal it is multiplied by is an amount per record ("每人")


class _Missing:
    """An unknown value, carrying the fields whose absence made it unknown; ``notes`` say why in words
    when a field's label alone would not (records whose sub-fields are missing); ``subs`` are the labels
    of the sub-fields missing in the record being iterated."""

    __slots__ = ("fields", "notes", "subs")

    def __init__(self, fields: frozenset, notes: tuple = (), subs: tuple = ()):
        self.fields, self.notes, self.subs = fields, notes, subs

    @staticmethod
    def union(items) -> _Missing:
        out: frozenset = frozenset()
        notes: dict = {}
        subs: dict = {}
        for m in items:
            out |= m.fields
            notes.update(dict.fromkeys(m.notes))
            subs.update(dict.fromkeys(m.subs))
        return _Missing(out, tuple(notes), tuple(subs))


class _Bounds(_Missing):
    """A count or sum over a list with undecided records: unknown, but known to lie in ``[lo, hi]``, so a
    comparison may still be decided (:func:`matcher.records.decide_bounds`). ``subject`` names it."""

    __slots__ = ("lo", "hi", "subject")

    def __init__(self, fields, notes, lo, hi, subject):
        super().__init__(fields, notes)
        self.lo, self.hi, self.subject = lo, hi, subject


class _Items:
    """A list being iterated: a records field's records, or values mapped from them, each with its
    membership (True: in the list; None: undecided, a filter's condition was unknown for it)."""

    __slots__ = ("elements", "member", "why", "field", "is_records", "total", "text")

    def __init__(self, elements, member, why, field, is_records, total, text):
        self.elements, self.member, self.why = elements, member, why  # why: the unknown that left it undecided
        self.field, self.is_records, self.total, self.text = field, is_records, total, text

    @property
    def unit(self) -> str:
        return records.unit_of(self.field)

    @property
    def label(self) -> str:
        return self.field.label if self.field is not None else "列表"

    @property
    def filtered(self) -> bool:
        return self.text != self.label

    def undecided(self, extra=None, counts=None) -> _Missing:
        """Unknown because of the undecided records (an earlier filter's, or ``extra[i]``: the unknown value of
        this operator's condition for record ``i``); ``counts[i]`` False leaves record ``i`` out of the words."""
        fields: set = set()
        tally: dict[str, int] = {}
        for i, why in enumerate(self.why):
            parts = [w for w in (why, extra[i] if extra is not None else None) if isinstance(w, _Missing)]
            if not parts or (counts is not None and not counts[i]):
                continue
            labels: dict = {}
            for w in parts:
                fields |= w.fields
                labels.update(dict.fromkeys(w.subs))
            for label in labels or ("部分数据",):
                tally[label] = tally.get(label, 0) + 1
        if not fields and self.field is not None:
            fields = {self.field.name}
        return _Missing(frozenset(fields), (records.unsure(self.label, self.unit, tally),))


_MEASURED = (_Var, _Expr)
_SUBFIELDS: dict[int, tuple] = {}


def _subfields(f) -> dict:
    """A records field's sub-fields by name (kept per field object: the catalog replaces its fields whole)."""
    entry = _SUBFIELDS.get(id(f))
    if entry is None or entry[0] is not f:
        entry = _SUBFIELDS[id(f)] = (f, {s.name: s for s in f.fields})
    return entry[1]


_NO_ACC = object()  # not inside a reducer


def _plain(x):
    return x.value if isinstance(x, _MEASURED) else x


class PolicyLogic(JsonLogic):
    """Evaluates one rule for one enterprise: ``facts`` (typed values) and their ``sources``."""

    operators = {**OPERATORS, **dict.fromkeys(DOMAIN_OPERATORS)}

    def __init__(
        self,
        facts: dict,
        sources: dict | None = None,
        as_of: dt.date | None = None,
        context=None,
        thorough=False,
        memo: dict | None = None,
    ):
        self.memo = memo  # a record's condition, by rule and record, shared by the evaluations of one decision
        self.thorough = thorough  # explain every failed condition of an "and", not only the one that decided it
        self.facts = facts
        self.sources = sources or {}
        self.as_of = as_of or dt.date.today()
        self.context = context or {}  # values a rule may read beside the catalog (a supplement's parent_amount)
        self.node = Node("root")
        self.scopes: list = []  # inside filter/map/reduce/all/some/none: (list, element, accumulator)
        self.quiet = False  # evaluating a list's records: no explanation nodes

    controls = JsonLogic.controls | {"!", "!!"}  # and, or, if, ! and !! each open a node of the tree

    def _open(self, kind: str) -> tuple[Node, Node]:
        parent, node = self.node, Node(kind)
        self.node = node
        return parent, node

    def _close(self, parent: Node, node: Node, out) -> None:
        self.node = parent
        node.outcome = None if isinstance(out, _Missing) else (out if isinstance(out, bool) else True)
        parent.children.append(_negated(node) if node.kind == "!" else node)

    # -- values -------------------------------------------------------------------------------
    def var(self, data, args, path):
        name = args[0] if args else None
        if isinstance(name, _MEASURED):
            name = name.value
        if self.scopes:
            return self._scoped_var(name, args, path)
        if isinstance(name, str) and name in self.context:
            return self.context[name]
        if not isinstance(name, str) or name not in catalog.FIELDS:
            raise RuleError(path, f"字段 {name!r} 不在字段目录中")
        value = self.facts.get(name)
        if value is None:
            if len(args) > 1:  # an explicit default stands in for a missing value
                return _plain(args[1])
            return _Missing(frozenset([name]))
        return _Var(name, value)

    def missing(self, data, args, path):
        keys = args[0] if args and isinstance(args[0], list) else args
        return [k for k in keys if self.facts.get(k) is None]

    def call(self, op, fn, args, path):
        for a in args:
            if isinstance(a, _Items) or (isinstance(a, _Var) and a.kind == "records"):
                raise RuleError(path, _list_misuse(op, a))
        unknown = [a for a in args if isinstance(a, _Missing)]
        if op in ("!", "!!"):
            if unknown:
                if not self.node.children:  # an unknown condition under it has said what is missing
                    self._leaf(path, op, args, None)
                return _Missing.union(unknown)
            out = (not _truth(args[0], path)) if op == "!" else _truth(args[0], path)
            if isinstance(args[0], _Var):
                self._leaf(path, op, args, out)
            return out
        domain = DOMAIN_OPERATORS.get(op)
        if op in COMPARISONS and len(unknown) == 1 and isinstance(unknown[0], _Bounds) and len(args) == 2:
            decided = self._bounded(op, args, unknown[0], path)
            if decided is not None:
                return decided
        if op in COMPARISONS or (domain is not None and domain.result == "bool") or _in_field(op, args):
            if unknown:
                self._leaf(path, op, args, None)
                return _Missing.union(unknown)
            _check_field_types(op, args, path)
            plain = [_plain(a) for a in args]
            if domain is not None:
                out = _domain(domain, plain, self.as_of, path)
            elif op == "in":
                out = _in(plain, path)
            else:
                out = _compare(op, plain, path)
            self._leaf(path, op, args, out)
            return out
        if unknown:
            return _Missing.union(unknown)
        values = [_plain(a) for a in args]
        if op in ARITHMETIC:
            out = ARITHMETIC[op](values, path)
            return _computed(op, args, out) if any(isinstance(a, _MEASURED) for a in args) else out
        if op == "in":
            return _in(values, path)
        if domain is not None:  # a value-valued domain operator (years_since)
            out = _domain(domain, values, self.as_of, path)
            if isinstance(args[0], _MEASURED):
                text = f"{args[0].text}至今年数"
                return _Expr(out, "count", "年", text, f"{text} {out}年")
            return out
        return super().call(op, fn, values, path)

    def op_and(self, values, data, path, depth):
        return self._junction(values, data, path, depth, decisive=False)

    def op_or(self, values, data, path, depth):
        return self._junction(values, data, path, depth, decisive=True)

    def op_not(self, values, data, path, depth):
        return self._negation("!", values, data, path, depth)

    def op_notnot(self, values, data, path, depth):
        return self._negation("!!", values, data, path, depth)

    def _negation(self, op, values, data, path, depth):
        if self.quiet:
            return self.call(op, None, [self.apply(v, data, (path, i), depth + 1) for i, v in enumerate(values)], path)
        parent, node = self._open(op)
        out = None
        try:
            args = [self.apply(v, data, (path, i), depth + 1) for i, v in enumerate(values)]
            out = self.call(op, None, args, path)
        finally:
            self._close(parent, node, out)
        return out

    def _junction(self, values, data, path, depth, decisive: bool):
        if self.quiet:
            return self._decide(values, data, path, depth, decisive)
        parent, node = self._open("or" if decisive else "and")
        out = None
        try:
            out = self._decide(values, data, path, depth, decisive)
        finally:
            self._close(parent, node, out)
        return out

    def _decide(self, values, data, path, depth, decisive: bool):
        unknown = []
        for i, v in enumerate(values):
            out = self.apply(_condition(v), data, (path, i), depth + 1)
            if isinstance(out, _SubVar):  # a record's flag as a condition ("签订劳动合同") explains itself
                self._leaf((path, i), "!!", [out], _truth(out, (path, i)))
            if isinstance(out, _Missing):
                unknown.append(out)
            elif _truth(out, (path, i)) is decisive:
                if not decisive and self.thorough:  # a failed "and": what else is unmet, explained too
                    self._explain_rest(values, i + 1, data, path, depth)
                return decisive
        return _Missing.union(unknown) if unknown else (not decisive)

    def _explain_rest(self, values, start, data, path, depth):
        """Evaluate the conditions after a decisive one for the explanation only: their values and
        errors change nothing (JsonLogic short-circuits, so a later one may rely on an earlier one)."""
        for i in range(start, len(values)):
            keep = len(self.node.children)
            try:
                self.apply(_condition(values[i]), data, (path, i), depth + 1)
            except (MatcherError, ArithmeticError):
                del self.node.children[keep:]

    def op_if(self, values, data, path, depth):
        if self.quiet:
            return self._choose(values, data, path, depth)
        parent, node = self._open("if")
        out = None
        try:
            out = self._choose(values, data, path, depth)
        finally:
            self._close(parent, node, out)
        return out

    def _choose(self, values, data, path, depth):
        i = 0
        while i < len(values) - 1:
            cond = self.apply(values[i], data, (path, i), depth + 1)
            if isinstance(cond, _Missing):
                return _Missing.union([cond])
            if _truth(cond, (path, i)):
                return self.apply(values[i + 1], data, (path, i + 1), depth + 1)
            i += 2
        return self.apply(values[i], data, (path, i), depth + 1) if i == len(values) - 1 else None

    # -- lists of records (matcher.records) ----------------------------------------------------
    def _scoped_var(self, name, args, path):
        items, element, acc = self.scopes[-1]
        default = _plain(args[1]) if len(args) > 1 else None
        if acc is not _NO_ACC:  # the reducer of a reduce
            if name == "accumulator":
                return acc
            if name == "current" and not items.is_records:
                return element
            if isinstance(name, str) and name.startswith("current.") and items.is_records:
                return self._sub(items, element, name[len("current.") :], default, path)
            want = "current.字段名" if items.is_records else "current"
            raise RuleError(path, f"reduce 的运算式只能读取 accumulator 和 {want}（实际 {name!r}）")
        if items.is_records:
            return self._sub(items, element, name, default, path)
        if name in ("", None):
            return element
        raise RuleError(path, f'列表的元素用 {{"var": ""}} 读取（实际 {name!r}）')

    @staticmethod
    def _sub(items, record, name, default, path):
        f = items.field
        spec = _subfields(f).get(name) if isinstance(name, str) else None
        if spec is None:
            names = "、".join(s.name for s in f.fields)
            raise RuleError(path, f"{f.label}（{f.name}）的记录没有字段 {name!r}（可用：{names}）")
        value = record.get(name)
        if value is None:
            if default is None:
                return _Missing(frozenset([f.name]), subs=(spec.label,))
            value = default
        return _SubVar(spec, value)

    def _list(self, op, values, data, path, depth):
        """The list an iterating operator walks: a records field, an earlier filter's or map's list, or a
        literal list; a missing records field is unknown."""
        if len(values) < 2:
            raise RuleError(path, f"{op} 至少需要 2 个参数（列表和运算式）")
        src = self.apply(values[0], data, (path, 0), depth + 1)
        if isinstance(src, _Items):
            return src
        if isinstance(src, _Missing):
            return _Missing.union([src])
        if isinstance(src, _Var) and src.kind == "records":
            f = catalog.FIELDS[src.name]
            n = len(src.value)
            return _Items(list(src.value), [True] * n, [None] * n, f, True, n, f.label)
        if isinstance(src, list):
            n = len(src)
            return _Items(src, [True] * n, [None] * n, None, False, n, "列表")
        raise RuleError((path, 0), f"{op} 的第一个参数应为记录列表字段（如 new_hires）或列表，实际为 {_plain(src)!r}")

    def _each(self, items, rule, path, depth, trees=False):
        """``rule`` for every element: [(value, tree)]. With ``trees``, each element's leaves are kept apart
        (one tree per element, to explain it); without, none are made (a record's condition explains
        itself only through its list's leaf, which asks again for the records it names)."""
        outer, out, quiet = self.node, [], self.quiet
        memo = self.memo if not trees and items.is_records and self.memo is not None else None
        key = json.dumps(rule, sort_keys=True, default=str) if memo is not None else None
        self.quiet = not trees
        try:
            for element in items.elements:
                if memo is not None and (key, id(element)) in memo:
                    out.append((memo[key, id(element)], None))
                    continue
                self.node = Node("root") if trees else outer
                self.scopes.append((items, element, _NO_ACC))
                try:
                    value = self.apply(rule, element, path, depth + 1)
                finally:
                    self.scopes.pop()
                if memo is not None:
                    memo[key, id(element)] = value
                out.append((value, self.node if trees else None))
        finally:
            self.node, self.quiet = outer, quiet
        return out

    def _conditions(self, items, rule, path, depth, trees=False):
        results = self._each(items, rule, path, depth, trees)
        preds = []
        for value, tree in results:
            p = None if isinstance(value, _Missing) else _truth(value, path)
            if tree is not None:
                if isinstance(value, _SubVar):
                    self.node, outer = tree, self.node
                    self._leaf(path, "!!", [value], p)
                    self.node = outer
                tree.outcome = p
            preds.append(p)
        return results, preds

    def op_some(self, values, data, path, depth):
        return self._quantify("some", values, data, path, depth)

    def op_all(self, values, data, path, depth):
        return self._quantify("all", values, data, path, depth)

    def op_none(self, values, data, path, depth):
        return self._quantify("none", values, data, path, depth)

    def _quantify(self, op, values, data, path, depth):
        items = self._list(op, values, data, path, depth)
        if isinstance(items, _Missing):
            self._leaf(path, op, [items], None)
            return items
        results, preds = self._conditions(items, values[1], (path, 1), depth)
        out = records.quantify(op, items.member, preds)
        if not self.quiet:
            render = _ListRender(self, path, items, results, preds, (values[1], depth))
            self.node.children.append(Node("leaf", out, render=render, op=op))
        if out is None:
            return _ListRender.unknown(op, items, results, preds)
        return out

    def op_filter(self, values, data, path, depth):
        items = self._list("filter", values, data, path, depth)
        if isinstance(items, _Missing):
            return items
        results, preds = self._conditions(items, values[1], (path, 1), depth)
        kept = [[], [], []]
        for element, m, why, p, (value, _) in zip(items.elements, items.member, items.why, preds, results):
            c = records.k_and(m, p)
            if c is False:
                continue
            kept[0].append(element)
            kept[1].append(c)
            kept[2].append(None if c else _Missing.union([w for w in (why, value) if isinstance(w, _Missing)]))
        text = items.text if items.filtered else f"符合条件的{items.text}"
        return _Items(*kept, items.field, items.is_records, items.total, text)

    def op_map(self, values, data, path, depth):
        items = self._list("map", values, data, path, depth)
        if isinstance(items, _Missing):
            return items
        mapped = [value for value, _ in self._each(items, values[1], (path, 1), depth)]
        return _Items(mapped, list(items.member), list(items.why), items.field, False, items.total, items.text)

    def op_reduce(self, values, data, path, depth):
        items = self._list("reduce", values, data, path, depth)
        initial = self.apply(values[2], data, (path, 2), depth + 1) if len(values) > 2 else None
        if isinstance(items, _Missing) or isinstance(initial, _Missing):
            return _Missing.union([x for x in (items, initial) if isinstance(x, _Missing)])
        pattern = records.reducer_pattern(values[1])
        start = records._number(_plain(initial))
        if pattern is not None and start is not None:
            return self._tally(pattern, items, start, path)
        if any(m is None for m in items.member):
            return items.undecided()
        acc, quiet = initial, self.quiet
        self.quiet = True  # the reducer's steps explain nothing
        try:
            for element in items.elements:
                self.scopes.append((items, element, acc))
                try:
                    acc = self.apply(values[1], element, (path, 1), depth + 1)
                finally:
                    self.scopes.pop()
                if isinstance(acc, _Missing):
                    return items.undecided([acc] * len(items.elements)) if acc.subs else _Missing.union([acc])
        finally:
            self.quiet = quiet
        return acc

    def _tally(self, pattern, items, start, path):
        """A count or a sum (:func:`matcher.records.reducer_pattern`): exact, explained, and bounded when some
        records are undecided."""
        kind, arg = pattern
        unit = items.unit
        name = items.field.name if items.field is not None else None
        if kind == "count":
            sure = sum(1 for m in items.member if m is True)
            unsure = len(items.member) - sure
            lo, hi = start + arg * sure, start + arg * (sure + unsure)
            if arg != 1 or start != 0:
                subject = None
            else:
                note = f"（共 {items.total}{unit}）" if items.filtered else ""
                text = items.text
                subject = _Expr(lo, "count", unit, text, "", composite=False, field=name, note=note, per=unit)
                subject.calc = f"{text} {lo}{unit}{note}"
        else:
            spec = None
            if items.is_records:
                spec = items.field.subfield(arg)
                if spec is None:
                    names = "、".join(s.name for s in items.field.fields)
                    raise RuleError((path, 1), f"{items.label}的记录没有字段 {arg!r}（可用：{names}）")
            values, extra = [], []
            for element in items.elements:
                v = element.get(arg) if spec is not None else _plain(element)
                if isinstance(v, _Missing):
                    extra.append(v)
                elif v is None:
                    extra.append(_Missing(frozenset([name] if name else []), subs=(spec.label,) if spec else ()))
                else:
                    extra.append(None)
                    values.append(dec(v, (path, 1)))
            if any(e is not None for e in extra):
                return items.undecided(extra)
            lo = hi = start
            for m, v in zip(items.member, values):
                lo += v if m else min(v, 0)
                hi += v if m else max(v, 0)
            if start != 0 or spec is None:
                subject = None
            else:
                text = f"{items.text}的{spec.label}合计"
                shown = explain.show(spec.type, lo, spec.unit)
                subject = _Expr(lo, spec.type, spec.unit, text, f"{text} {shown}", composite=False, field=name)
        if lo == hi and all(m is True for m in items.member):
            return subject if subject is not None else lo
        if lo > hi:
            lo, hi = hi, lo
        fields = items.undecided()
        return _Bounds(fields.fields, fields.notes, lo, hi, subject)

    def _bounded(self, op, args, bounds, path):
        """A comparison of a bounded count or sum with a known value: decided when the whole range agrees."""
        first = args[0] is bounds
        other = args[1] if first else args[0]
        plain = _plain(other)
        out = records.decide_bounds(op, lambda o, a, b: _compare(o, [a, b], path), bounds.lo, bounds.hi, plain, first)
        if out is None:
            return None
        shown_op = op if first else _FLIP.get(op, op)
        s = bounds.subject
        if s is None:
            s = _Expr(bounds.lo, "number", None, "计算结果", "", composite=False)
        near = bounds.hi if shown_op in (">=", ">") else bounds.lo
        if s.kind == "count":
            display = f"{bounds.lo}至{bounds.hi}{s.unit or ''}"
        else:
            display = f"{explain.show(s.kind, bounds.lo, s.unit)}至{explain.show(s.kind, bounds.hi, s.unit)}"
        subject = _Expr(near, s.kind, s.unit, s.text, "", composite=False, field=s.field, note=s.note, display=display)
        if not self.quiet:
            self.node.children.append(Node("leaf", out, render=_Render(self, path, subject, [other]), op=shown_op))
        return out

    # -- leaves ---------------------------------------------------------------------------
    def _leaf(self, path, op, args, outcome):
        if self.quiet:
            return
        measured = [a for a in args if isinstance(a, _MEASURED)]
        missing = [a for a in args if isinstance(a, _Missing)]
        if outcome is None:  # what to declare: a derived field stands for its missing inputs
            union = _Missing.union(missing)
            names = sorted(union.fields)
            derived = [n for n in names if n in DERIVED]
            ask = sorted({m for n in derived for m in DERIVED[n].to_declare(self.facts)} | set(names) - set(derived))
            if union.notes:  # records with missing sub-fields say which; the other fields are asked for
                told = {n for n in ask if catalog.FIELDS[n].type == "records"}
                ask = [n for n in ask if n not in told]
            labels = [catalog.FIELDS[n].label for n in ask]
            sentence = explain.unknown(labels) if labels or not union.notes else ""
            if derived:
                sentence = f"{'、'.join(catalog.FIELDS[n].label for n in derived)}无法计算：{sentence}"
            if union.notes:
                sentence = "；".join([*union.notes, *([sentence] if sentence else [])])
            name = names[0] if names else None
            shown = "、".join(catalog.FIELDS[n].label for n in names)
            leaf = Leaf(render_path(path), op, name, shown, None, None, None, None, sentence)
            self.node.children.append(Node("leaf", None, leaf))
            return
        subject = measured[0] if measured else None
        others = [a for a in args if a is not subject]
        flipped = subject is not None and args[0] is not subject and op in COMPARISONS
        shown_op = _FLIP.get(op, op) if flipped else op
        self.node.children.append(Node("leaf", outcome, render=_Render(self, path, subject, others), op=shown_op))


class _Render:
    """Renders a comparison leaf for an operator and outcome (again, negated, under a ``!``)."""

    __slots__ = ("logic", "path", "subject", "others")

    def __init__(self, logic, path, subject, others):
        self.logic, self.path, self.subject, self.others = logic, path, subject, others

    def closeness(self, op: str) -> float:
        s = self.subject
        if s is None or op not in (">=", ">", "<=", "<") or len(self.others) != 1:
            return 0.0
        if s.kind not in ("money", "count", "percent", "number", "date"):
            return 0.0
        return _gap(s.kind, op, s.value, _plain(self.others[0]))[1]

    def __call__(self, op: str, outcome: bool) -> Leaf:
        s = self.subject
        name = s.field if s is not None else None
        kind = s.kind if s is not None else None
        unit = s.unit if s is not None else None
        label = s.text if s is not None else "条件"
        shown = "—"
        if s is not None:
            shown = (s.display or explain.show(kind, s.value, unit, name)) + s.note
        threshold = [_plain(o) for o in self.others]
        limit_value = threshold[0] if len(threshold) == 1 else (threshold or None)
        limit = _limit(self.others, kind, unit, name)
        gap = None
        if (
            s is not None
            and not outcome
            and op in (">=", ">", "<=", "<")
            and len(self.others) == 1
            and kind in ("money", "count", "percent", "number", "date")
        ):
            gap = _gap(kind, op, s.value, _plain(self.others[0]))[0]
        domain = DOMAIN_OPERATORS.get(op)
        source = self.logic.sources.get(name) if name else None
        if op in ("!", "!!") and s is not None:
            sentence = f"{label}：{'是' if bool(s.value) else '否'}"
        elif domain is not None and domain.explain is not None:
            shown_limit = limit_value if isinstance(limit_value, str) else str(limit_value)
            sentence = domain.explain(label, shown, shown_limit, outcome)
        elif domain is not None:
            sentence = f"{label} {shown}，{limit}：{'满足' if outcome else '不满足'}条件"
        elif op == "in":
            sentence = f"{label} {shown}，{'属于' if outcome else '不属于'} {limit}"
        else:
            # a strict bound met exactly ("未超过要求的 100万元") has no distance worth saying ("还差 0.00元")
            gap_text = explain.distance(kind, gap, unit) if gap is not None and gap != 0 else None
            sentence = explain.comparison(op, label, shown, limit, outcome, gap_text)
        leaf = Leaf(
            render_path(self.path),
            op,
            name,
            label,
            explain.encode(s.value) if s is not None else None,
            source,
            explain.encode(limit_value),
            outcome,
            sentence,
            explain.encode(gap),
        )
        return leaf


def _condition(rule):
    """A yes/no field standing alone as a condition of an ``and``/``or`` is read as ``!!`` of it, so it is
    explained ("已申报享受研发费用加计扣除：否") like any other condition; its value is the same."""
    if type(rule) is dict and len(rule) == 1 and "var" in rule:
        name = rule["var"]
        name = name[0] if isinstance(name, list) and name else name
        f = catalog.FIELDS.get(name) if isinstance(name, str) else None
        if f is not None and f.type == "bool":
            return {"!!": [rule]}
    return rule


class _ListRender:
    """Renders a some / all / none leaf: how many records meet the condition, and why the others do not."""

    __slots__ = ("logic", "path", "items", "results", "preds", "rule")

    def __init__(self, logic, path, items, results, preds, rule):
        self.logic, self.path, self.items, self.results, self.preds = logic, path, items, results, preds
        self.rule = rule  # the condition and its depth, to explain the records that fail it

    def closeness(self, op: str) -> float:
        return 0.0

    @staticmethod
    def unknown(op, items, results, preds) -> _Missing:
        if op == "all":
            counts = [(m is None or p is None) and not (m is True and p is False) for m, p in zip(items.member, preds)]
        else:
            counts = [records.k_and(m, p) is None for m, p in zip(items.member, preds)]
        return items.undecided([v for v, _ in results], counts)

    def __call__(self, op: str, outcome) -> Leaf:
        items, preds = self.items, self.preds
        name = items.field.name if items.field is not None else None
        hits = sum(1 for m, p in zip(items.member, preds) if m is True and p is True)
        failed = [e for e, m, p in zip(items.elements, items.member, preds) if m is True and p is False]
        if outcome is None:
            sentence = "；".join(self.unknown(op, items, self.results, preds).notes)
        else:
            why = ""
            if (op == "some" and not outcome) or (op == "all" and not outcome):
                rule, depth = self.rule
                them = _Items(failed, [True] * len(failed), [None] * len(failed), items.field, items.is_records, 0, "")
                trees = [tree for _, tree in self.logic._conditions(them, rule, (self.path, 1), depth, trees=True)[0]]
                labels = [[leaf.label for leaf in reasons(tree) if leaf.outcome is False] for tree in trees]
                why = records.breakdown(labels, items.unit)
            sentence = records.quantifier_sentence(
                op, items.text, items.unit, outcome, len(items.elements), hits, len(failed), why
            )
        source = self.logic.sources.get(name) if name else None
        return Leaf(render_path(self.path), op, name, items.text, hits, source, None, outcome, sentence)


def _limit(others, kind, unit, name) -> str:
    parts = []
    for o in others:
        if isinstance(o, _MEASURED):
            parts.append(f"{o.text} {explain.show(o.kind, o.value, o.unit, o.field)}")
        else:
            parts.append(explain.show(kind, o, unit, name))
    return "、".join(parts) if parts else "—"


def _gap(kind, op, value, threshold) -> tuple[Decimal | int | None, float]:
    if kind == "date":
        try:
            days = abs((as_date(threshold, "") - as_date(value, "")).days)
        except RuleError:
            return None, 0.0
        return days, float(days) / 365.0
    a, b = explain.to_decimal(value), explain.to_decimal(threshold)
    if a is None or b is None:
        return None, 0.0
    gap = (b - a) if op in (">=", ">") else (a - b)
    gap = abs(gap)
    return gap, float(gap / max(abs(b), Decimal(1)))


def _negated(node: Node) -> Node:
    """``!`` of one comparison reads as the opposite comparison ("!(收入 > 1亿)" → "收入未超过上限 1亿")."""
    if len(node.children) == 1 and node.children[0].render is not None and node.outcome is not None:
        child = node.children[0]
        if child.op in NEGATE:
            return Node("leaf", node.outcome, render=child.render, op=NEGATE[child.op])
    return node


# -- reasons: what of the tree a decision shows ---------------------------------------------


def reasons(node: Node | None) -> list[Leaf]:
    """The leaves that explain ``node``'s outcome: every condition of an ``and`` (the failed ones when it
    failed, the unknown ones when it is unknown); the branch of an ``or`` that held, or the nearest one."""
    if node is None:
        return []
    if node.kind == "leaf":
        return [node.leaf]
    kids = node.children
    if node.kind in ("and", "root"):
        if node.outcome is False:
            pick = [k for k in kids if k.outcome is False]
        elif node.outcome is None and node.kind == "and":
            pick = [k for k in kids if k.outcome is None]
        else:
            pick = kids
        pick = pick or kids
    elif node.kind == "or":
        if node.outcome is True:
            pick = [k for k in kids if k.outcome is True][:1]
        elif node.outcome is False:
            pick = [min(kids, key=_distance)] if kids else []
        else:
            pick = [k for k in kids if k.outcome is None]
    else:
        pick = kids
    out: list[Leaf] = []
    for k in pick:
        out.extend(reasons(k))
    return out


def _distance(node: Node) -> tuple[int, int, float]:
    """How far a failed branch is from holding: how many of its conditions fail, how many are unknown,
    then how far the failed ones miss (relative to their thresholds)."""
    failed, unknown, far = 0, 0, 0.0
    stack = [node]
    while stack:
        n = stack.pop()
        if n.kind == "leaf":
            if n.outcome is False:
                failed += 1
                far += n.closeness
            elif n.outcome is None:
                unknown += 1
        else:
            stack.extend(n.children)
    return failed, unknown, far


# -- operators ------------------------------------------------------------------------------


def _list_misuse(op, a) -> str:
    label = a.label if isinstance(a, _Items) else catalog.FIELDS[a.name].label
    return (
        f"{label}是记录列表，不能直接用于 {op}：用 some / all / none 判断，"
        '或用 reduce 计数（{"reduce": [列表, {"+": [{"var": "accumulator"}, 1]}, 0]}）'
    )


def _in_field(op, args) -> bool:
    return op == "in" and bool(args) and isinstance(args[0], (_Var, _Missing))


ORDERABLE = frozenset({"money", "count", "percent", "date"})


def _check_field_types(op, args, path) -> None:
    """A field is compared only in ways its type allows (no ordering of region codes)."""
    for a in args:
        if isinstance(a, _Var) and op in (">", ">=", "<", "<="):
            f = a.spec if isinstance(a, _SubVar) else catalog.FIELDS[a.name]
            if f.type not in ORDERABLE:
                raise RuleError(path, f"{f.label}（{a.name}，类型 {f.type}）不能比较大小")


def _domain(op, values, as_of, path):
    lo, hi = op.arity
    if not lo <= len(values) <= hi:
        want = f"{lo}" if lo == hi else f"{lo} 或 {hi}"
        raise RuleError(path, f"{op.name} 需要 {want} 个参数，实际 {len(values)} 个")
    try:
        return op.scalar(values, as_of)
    except OperatorError as e:
        raise RuleError(path, str(e)) from None


def _truth(x, path) -> bool:
    x = _plain(x)
    if isinstance(x, bool):
        return x
    if isinstance(x, (list, frozenset, set, str)):
        return len(x) > 0
    if isinstance(x, (int, Decimal)):
        return x != 0
    if x is None:
        return False
    raise RuleError(path, f"无法作为条件判断的值 {x!r}")


def _kind(x):
    if isinstance(x, bool):
        return "bool"
    if isinstance(x, (int, float, Decimal)):
        return "number"
    if isinstance(x, dt.date):
        return "date"
    if isinstance(x, str):
        return "text"
    if isinstance(x, (frozenset, set, list)):
        return "set"
    return type(x).__name__


def _compare(op, values, path):
    if len(values) not in (2, 3):
        raise RuleError(path, f"运算符 {op!r} 需要 2 个参数（区间比较 3 个），实际 {len(values)} 个")
    kinds = {_kind(v) for v in values}
    if "number" in kinds:
        values = [dec(v, path) for v in values]
    elif "date" in kinds:
        values = [as_date(v, path) for v in values]
    elif len(kinds) > 1:
        raise RuleError(path, f"无法比较不同类型的值：{'、'.join(sorted(kinds))}")
    elif op in (">", ">=", "<", "<=") and kinds <= {"bool", "set"}:
        raise RuleError(path, f"{'、'.join(kinds)} 类型的值不能比较大小")
    a, b = values[0], values[1]
    if op in ("==", "==="):
        return a == b
    if op in ("!=", "!=="):
        return a != b
    fn = {">": lambda x, y: x > y, ">=": lambda x, y: x >= y, "<": lambda x, y: x < y, "<=": lambda x, y: x <= y}[op]
    if len(values) == 3:
        return fn(a, b) and fn(b, values[2])
    return fn(a, b)


def _in(values, path):
    if len(values) != 2:
        raise RuleError(path, f"in 需要 2 个参数，实际 {len(values)} 个")
    a, b = values
    if isinstance(b, str):
        return str(a) in b
    if isinstance(b, (list, frozenset, set)):
        return a in b
    raise RuleError(path, f"in 的第二个参数应为列表或文本，实际为 {b!r}")


def _arith(op):
    def run(values, path):
        nums = [dec(v, path) for v in values]
        if op == "+":
            return sum(nums, Decimal(0))
        if op == "*":
            out = Decimal(1)
            for x in nums:
                out *= x
            return out
        if op == "-":
            if len(nums) == 1:
                return -nums[0]
            if len(nums) != 2:
                raise RuleError(path, f"- 需要 1 或 2 个参数，实际 {len(nums)} 个")
            return nums[0] - nums[1]
        if len(nums) != 2 and op in ("/", "%"):
            raise RuleError(path, f"{op} 需要 2 个参数，实际 {len(nums)} 个")
        if op == "/":
            if nums[1] == 0:
                raise RuleError(path, "除数为零")
            return nums[0] / nums[1]
        if op == "%":
            if nums[1] == 0:
                raise RuleError(path, "除数为零")
            return nums[0] % nums[1]
        if not nums:
            raise RuleError(path, f"{op} 至少需要 1 个参数")
        return min(nums) if op == "min" else max(nums)

    return run


ARITHMETIC = {op: _arith(op) for op in ("+", "*", "-", "/", "%", "min", "max")}


def _result_kind(op, args) -> tuple[str, str | None]:
    """The kind (and unit) of a computed quantity: money − money is money, money × a rate is money,
    money ÷ money is a plain number; counts keep their unit when added or subtracted."""
    measured = [a for a in args if isinstance(a, _MEASURED)]
    kinds = {a.kind for a in measured}
    units = {a.unit for a in measured}
    same = len(kinds) == 1
    kind = next(iter(kinds)) if same else "number"
    unit = next(iter(units)) if len(units) == 1 else None
    if op in ("+", "-", "min", "max") and same:
        return kind, unit
    if op in ("*", "/") and len(measured) == 1 and kind in ("money", "percent"):
        if op == "/" and args[0] is not measured[0]:
            return "number", None
        return kind, unit
    return "number", None


def _computed(op, args, value) -> _Expr:
    kind, unit = _result_kind(op, args)
    measured = [a for a in args if isinstance(a, _MEASURED)]
    per = measured[0].per if all(a.per and a.per == measured[0].per for a in measured) else None
    if op == "*" and per and len(measured) == 1:  # records × an amount per record: money ("× 每人 1,500元")
        kind, unit = "money", None
    elif not (kind == "count" and op in ("+", "-", "min", "max")):
        per = None
    context = kind if kind in ("money", "percent") else None

    def part(a, how):
        if isinstance(a, _MEASURED):
            text = getattr(a, how)
            return f"（{text}）" if a.composite and len(args) > 1 else text
        d = explain.to_decimal(a)
        if d is None:
            return str(a)
        if op == "*" and measured and measured[0].per and kind == "money":
            return f"每{measured[0].per} {explain.per_record(d)}"
        if op == "*" and context:
            return explain.rate(d)
        return explain.show(context or "number", d) if op in ("+", "-", "min", "max") else explain.rate(d)

    def joined(how):
        parts = [part(a, how) for a in args]
        if op in ("min", "max"):
            return f"{'与'.join(parts)}中的较{'小' if op == 'min' else '大'}者"
        if op == "-" and len(parts) == 1:
            return f"−{parts[0]}"
        return f" {explain.SYMBOLS.get(op, op)} ".join(parts).replace("） ", "）").replace(" （", "（")

    return _Expr(value, kind, unit, joined("text"), joined("calc"), per=per if kind == "count" else None)


def evaluate_rule(
    rule,
    facts: dict,
    sources: dict | None = None,
    as_of: dt.date | None = None,
    checked: bool = False,
    context: dict | None = None,
    thorough: bool = False,
    memo: dict | None = None,
) -> Evaluation:
    """Evaluate a policy rule for one enterprise: value (or UNKNOWN), missing fields, the reasons and the tree.

    ``checked``: the rule comes from a parsed spec, whose rules :func:`matcher.spec.parse_spec`
    held to tighter size limits already, so the size check is not repeated on every decision.
    ``context``: values the rule may read with ``var`` beside the catalog's fields. ``thorough``: a failed
    ``and`` explains each of its unmet conditions (a self-test), not only the first, which decided it.
    ``memo``: a dict kept across the evaluations of one decision over the same ``facts`` (its conditions,
    then its amount), where a list's condition is worked out once per record.
    """
    logic = PolicyLogic(facts, sources, as_of, context, thorough, memo)
    if not checked:
        from matcher.jsonlogic import check_size

        check_size(rule)
    out = logic.apply(rule, {}, "", 0)
    root = logic.node
    if isinstance(out, _Missing):
        root.outcome = None
        return Evaluation(UNKNOWN, out.fields, reasons(root), root)
    plain = _plain(out)
    root.outcome = plain if isinstance(plain, bool) else True
    shown = out.calc if isinstance(out, _Expr) else None
    return Evaluation(plain, frozenset(), reasons(root), root, shown)


__all__ = ["UNKNOWN", "Leaf", "Node", "Evaluation", "PolicyLogic", "evaluate_rule", "reasons", "is_logic"]
