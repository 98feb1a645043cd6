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
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from matcher import catalog, explain
from matcher.errors import MatcherError, RuleError, render_path
from matcher.jsonlogic import OPERATORS, JsonLogic, is_logic
from matcher.registry import DERIVED, OperatorError
from matcher.registry import OPERATORS as DOMAIN_OPERATORS
from matcher.registry import as_date as registry_date

UNKNOWN = type("Unknown", (), {"__repr__": lambda self: "UNKNOWN", "__bool__": lambda self: False})()
COMPARISONS = {">", ">=", "<", "<=", "==", "!=", "===", "!=="}
NEGATE = {">": "<=", ">=": "<", "<": ">=", "<=": ">", "==": "!=", "!=": "==", "===": "!==", "!==": "==="}
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


class _Expr:
    """A quantity computed from fields (``rd_expense - rd_expense_prev``): its value, kind and unit,
    how it reads (``text``: 上年度研发费用 − 前年度研发费用) and how it was computed (``calc``)."""

    __slots__ = ("value", "kind", "unit", "text", "calc", "composite")
    field = None

    def __init__(self, value, kind, unit, text, calc, composite=True):
        self.value, self.kind, self.unit, self.text, self.calc = value, kind, unit, text, calc
        self.composite = composite  # an operation of several parts: bracketed inside another


class _Missing:
    """An unknown value, carrying the fields whose absence made it unknown."""

    __slots__ = ("fields",)

    def __init__(self, fields: frozenset):
        self.fields = fields

    @staticmethod
    def union(items) -> _Missing:
        out: frozenset = frozenset()
        for m in items:
            out |= m.fields
        return _Missing(out)


_MEASURED = (_Var, _Expr)


def _plain(x):
    return x.value if isinstance(x, _MEASURED) else x


class PolicyLogic(JsonLogic):
    """Evaluates one rule for one enterprise: ``facts`` (typed values) and their ``sources``."""

    operators = {**OPERATORS, **dict.fromkeys(DOMAIN_OPERATORS)}

    def __init__(
        self, facts: dict, sources: dict | None = None, as_of: dt.date | None = None, context=None, thorough=False
    ):
        self.thorough = thorough  # explain every failed condition of an "and", not only the one that decided it
        self.facts = facts
        self.sources = sources or {}
        self.as_of = as_of or dt.date.today()
        self.context = context or {}  # values a rule may read beside the catalog (a supplement's parent_amount)
        self.node = Node("root")

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
        unknown = [a for a in args if isinstance(a, _Missing)]
        if op in ("!", "!!"):
            if unknown:
                self._leaf(path, op, args, None)
                return _Missing.union(unknown)
            out = (not _truth(args[0], path)) if op == "!" else _truth(args[0], path)
            if isinstance(args[0], _Var):
                self._leaf(path, op, args, out)
            return out
        domain = DOMAIN_OPERATORS.get(op)
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
        parent, node = self._open(op)
        out = None
        try:
            args = [self.apply(v, data, (path, i), depth + 1) for i, v in enumerate(values)]
            out = self.call(op, None, args, path)
        finally:
            self._close(parent, node, out)
        return out

    def _junction(self, values, data, path, depth, decisive: bool):
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
                return cond
            if _truth(cond, (path, i)):
                return self.apply(values[i + 1], data, (path, i + 1), depth + 1)
            i += 2
        return self.apply(values[i], data, (path, i), depth + 1) if i == len(values) - 1 else None

    # -- leaves ---------------------------------------------------------------------------
    def _leaf(self, path, op, args, outcome):
        measured = [a for a in args if isinstance(a, _MEASURED)]
        missing = [a for a in args if isinstance(a, _Missing)]
        if outcome is None:  # what to declare: a derived field stands for its missing inputs
            names = sorted(_Missing.union(missing).fields)
            derived = [n for n in names if n in DERIVED]
            ask = sorted({m for n in derived for m in DERIVED[n].to_declare(self.facts)} | set(names) - set(derived))
            labels = [catalog.FIELDS[n].label for n in ask]
            sentence = explain.unknown(labels)
            if derived:
                sentence = f"{'、'.join(catalog.FIELDS[n].label for n in derived)}无法计算：{sentence}"
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
        shown = explain.show(kind, s.value, unit, name) if s is not None else "—"
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
        if op in ("!", "!!") and name:
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


def _in_field(op, args) -> bool:
    return op == "in" and bool(args) and isinstance(args[0], (_Var, _Missing))


ORDERABLE = frozenset({"money", "count", "percent", "date"})


def _check_field_types(op, args, path) -> None:
    """A field is compared only in ways its type allows (no ordering of region codes)."""
    for a in args:
        if isinstance(a, _Var) and op in (">", ">=", "<", "<="):
            f = catalog.FIELDS[a.name]
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
    context = kind if kind in ("money", "percent") else None

    def part(a, how):
        if isinstance(a, _MEASURED):
            text = getattr(a, how)
            return f"（{text}）" if a.composite and len(args) > 1 else text
        d = explain.to_decimal(a)
        if d is None:
            return str(a)
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

    return _Expr(value, kind, unit, joined("text"), joined("calc"))


def evaluate_rule(
    rule,
    facts: dict,
    sources: dict | None = None,
    as_of: dt.date | None = None,
    checked: bool = False,
    context: dict | None = None,
    thorough: bool = False,
) -> Evaluation:
    """Evaluate a policy rule for one enterprise: value (or UNKNOWN), missing fields, the reasons and the tree.

    ``checked``: the rule comes from a parsed spec, whose rules :func:`matcher.spec.parse_spec`
    held to tighter size limits already, so the size check is not repeated on every decision.
    ``context``: values the rule may read with ``var`` beside the catalog's fields. ``thorough``: a failed
    ``and`` explains each of its unmet conditions (a self-test), not only the first, which decided it.
    """
    logic = PolicyLogic(facts, sources, as_of, context, thorough)
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
