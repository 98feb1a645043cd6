"""The policy rule engine: strict, Decimal, three-valued JsonLogic with a trace.

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
- **Domain operators**: ``in_region``, ``in_industry``, ``has_qualification``,
  ``years_since``, ``before``, ``after`` (see docs/rule-engine.md).
- **Trace**: every leaf condition records the field, the enterprise's value and
  its source, the threshold, the outcome, a Chinese sentence and, for failed
  numeric thresholds, the distance ("还差 180万元").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from graph import UnknownCode, industries, regions
from matcher import catalog
from matcher.errors import RuleError
from matcher.jsonlogic import OPERATORS, JsonLogic, is_logic

UNKNOWN = type("Unknown", (), {"__repr__": lambda self: "UNKNOWN", "__bool__": lambda self: False})()
COMPARISONS = {">", ">=", "<", "<=", "==", "!=", "===", "!=="}
NEGATE = {">": "<=", ">=": "<", "<": ">=", "<=": ">", "==": "!=", "!=": "==", "===": "!==", "!==": "==="}


@dataclass(frozen=True)
class Leaf:
    """One leaf condition as evaluated for one enterprise."""

    path: str
    op: str
    field: str | None
    value: object
    source: str | None
    threshold: object
    outcome: bool | None  # None: unknown (data missing)
    sentence: str
    gap: Decimal | None = None

    def to_json(self) -> dict:
        def j(v):
            if isinstance(v, Decimal):
                return f"{v:f}"
            if isinstance(v, (dt.date, frozenset, set)):
                return v.isoformat() if isinstance(v, dt.date) else sorted(v)
            return v

        return {
            "path": self.path,
            "op": self.op,
            "field": self.field,
            "value": j(self.value),
            "source": self.source,
            "threshold": j(self.threshold),
            "outcome": self.outcome,
            "sentence": self.sentence,
            "gap": j(self.gap),
        }


@dataclass
class Evaluation:
    value: object
    missing: frozenset = frozenset()
    trace: list[Leaf] = field(default_factory=list)


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


def as_date(x, path: str) -> dt.date:
    if isinstance(x, dt.datetime):
        return x.date()
    if isinstance(x, dt.date):
        return x
    if isinstance(x, str):
        try:
            return dt.date.fromisoformat(x)
        except ValueError:
            pass
    raise RuleError(path, f"需要日期 YYYY-MM-DD，实际为 {x!r}")


def _region_within(code: str, area: str, path: str) -> bool:
    try:
        return regions().is_within(code, area)
    except UnknownCode as e:
        raise RuleError(path, str(e)) from None


def _industry_within(code: str, ancestor: str, path: str) -> bool:
    try:
        return industries().is_within(code, ancestor)
    except UnknownCode as e:
        raise RuleError(path, str(e)) from None


class _Var:
    """A value read from a field, remembered so a comparison can explain itself."""

    __slots__ = ("name", "value")

    def __init__(self, name, value):
        self.name, self.value = name, value


class PolicyLogic(JsonLogic):
    """Evaluates one rule for one enterprise: ``facts`` (typed values) and their ``sources``."""

    operators = {
        **OPERATORS,
        **dict.fromkeys(("in_region", "in_industry", "has_qualification", "before", "after", "years_since"), None),
    }

    def __init__(self, facts: dict, sources: dict | None = None, as_of: dt.date | None = None):
        self.facts = facts
        self.sources = sources or {}
        self.as_of = as_of or dt.date.today()
        self.trace: list[Leaf] = []
        self.missing_sets: dict[int, frozenset] = {}

    # -- values -------------------------------------------------------------
    def var(self, data, args, path):
        name = args[0] if args else None
        if isinstance(name, _Var):
            name = name.value
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
            out = (not _plain(args[0])) if op == "!" else bool(_plain(args[0]))
            if isinstance(args[0], _Var):
                self._leaf(path, op, args, out)
            return out
        if op in COMPARISONS or op in DOMAIN or (op == "in" and args and isinstance(args[0], (_Var, _Missing))):
            if unknown:
                self._leaf(path, op, args, None)
                return _Missing.union(unknown)
            _check_field_types(op, args, path)
            plain = [_plain(a) for a in args]
            if op in DOMAIN:
                out = DOMAIN[op](self, plain, path)
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
            return ARITHMETIC[op](values, path)
        if op == "in":
            return _in(values, path)
        if op in ("years_since",):
            return DOMAIN_VALUES[op](self, values, path)
        return super().call(op, fn, values, path)

    def op_and(self, values, data, path, depth):
        return self._junction(values, data, path, depth, decisive=False)

    def op_or(self, values, data, path, depth):
        return self._junction(values, data, path, depth, decisive=True)

    def _junction(self, values, data, path, depth, decisive: bool):
        unknown = []
        for i, v in enumerate(values):
            out = self.apply(v, data, f"{path}[{i}]", depth + 1)
            if isinstance(out, _Missing):
                unknown.append(out)
            elif _truth(out, f"{path}[{i}]") is decisive:
                return decisive
        return _Missing.union(unknown) if unknown else (not decisive)

    def op_if(self, values, data, path, depth):
        i = 0
        while i < len(values) - 1:
            cond = self.apply(values[i], data, f"{path}[{i}]", depth + 1)
            if isinstance(cond, _Missing):
                return cond
            if _truth(cond, f"{path}[{i}]"):
                return self.apply(values[i + 1], data, f"{path}[{i + 1}]", depth + 1)
            i += 2
        return self.apply(values[i], data, f"{path}[{i}]", depth + 1) if i == len(values) - 1 else None

    # -- trace --------------------------------------------------------------
    def _leaf(self, path, op, args, outcome):
        fields = [a for a in args if isinstance(a, _Var)]
        missing = [a for a in args if isinstance(a, _Missing)]
        name = fields[0].name if fields else (sorted(missing[0].fields)[0] if missing else None)
        value = fields[0].value if fields else None
        others = [_plain(a) for a in args if not isinstance(a, (_Var, _Missing))]
        others += [a.value for a in fields[1:]]  # comparing two fields: the second is the threshold
        threshold = others[0] if len(others) == 1 else (others or None)
        flipped = bool(fields) and args and args[0] is not fields[0] and op in COMPARISONS
        shown_op = _FLIP.get(op, op) if flipped else op
        sentence, gap = explain(shown_op, name, value, threshold, outcome)
        self.trace.append(
            Leaf(
                path, shown_op, name, value, self.sources.get(name) if name else None, threshold, outcome, sentence, gap
            )
        )


_FLIP = {">": "<", "<": ">", ">=": "<=", "<=": ">="}


ORDERABLE = frozenset({"money", "count", "percent", "date"})


def _check_field_types(op, args, path) -> None:
    """A field is compared only in ways its type allows (no ordering of region codes)."""
    for a in args:
        if isinstance(a, _Var) and op in (">", ">=", "<", "<="):
            f = catalog.FIELDS[a.name]
            if f.type not in ORDERABLE:
                raise RuleError(path, f"{f.label}（{a.name}，类型 {f.type}）不能比较大小")


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


def _plain(x):
    return x.value if isinstance(x, _Var) else x


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


def _two(values, path, op):
    if len(values) != 2:
        raise RuleError(path, f"{op} 需要 2 个参数，实际 {len(values)} 个")
    return values


def _in_region(self, values, path):
    code, area = _two(values, path, "in_region")
    return _region_within(str(code), str(area), path)


def _in_industry(self, values, path):
    code, ancestor = _two(values, path, "in_industry")
    return _industry_within(str(code), str(ancestor), path)


def _has_qualification(self, values, path):
    held, wanted = _two(values, path, "has_qualification")
    if wanted not in catalog.QUALIFICATIONS:
        raise RuleError(path, f"资质 {wanted!r} 不存在")
    if not isinstance(held, (frozenset, set, list)):
        raise RuleError(path, "has_qualification 的第一个参数应为资质集合")
    return wanted in held


def _before(self, values, path):
    a, b = _two(values, path, "before")
    return as_date(a, path) < as_date(b, path)


def _after(self, values, path):
    a, b = _two(values, path, "after")
    return as_date(a, path) > as_date(b, path)


def _years_since(self, values, path):
    from matcher.derived import years_between

    if len(values) not in (1, 2):
        raise RuleError(path, f"years_since 需要 1 或 2 个参数，实际 {len(values)} 个")
    end = as_date(values[1], path) if len(values) == 2 else self.as_of
    return Decimal(years_between(as_date(values[0], path), end))


DOMAIN = {
    "in_region": _in_region,
    "in_industry": _in_industry,
    "has_qualification": _has_qualification,
    "before": _before,
    "after": _after,
}
DOMAIN_VALUES = {"years_since": _years_since}
OPERATOR_NAMES = frozenset(DOMAIN) | frozenset(DOMAIN_VALUES)


# -- explanations ------------------------------------------------------------
def _show(name, value) -> str:
    if name is None:
        return str(value)
    f = catalog.FIELDS[name]
    if f.type in ("money", "count", "percent") and not isinstance(value, (int, Decimal)):
        try:
            value = dec(value, "")
        except RuleError:
            return str(value)
    if f.type == "money":
        return catalog.label_value(name, Decimal(value))
    if f.type == "count" and isinstance(value, Decimal):
        value = int(value) if value == value.to_integral_value() else value
    if f.type == "enum" and isinstance(value, list):
        return "、".join(catalog.label_value(name, v) for v in value)
    return catalog.label_value(name, value)


def explain(op, name, value, threshold, outcome) -> tuple[str, Decimal | None]:
    """A Chinese sentence for one leaf, and for a failed numeric threshold the distance to it."""
    label = catalog.FIELDS[name].label if name else "条件"
    if outcome is None:
        return f"{label}未提供，请补充申报", None
    if op in ("!", "!!") and name:
        held = bool(value)
        return (f"{label}：{'是' if held else '否'}", None)
    if op == "in_region":
        where = regions().full_name(threshold) if threshold in regions() else threshold
        return (f"注册地{_show(name, value)}{'在' if outcome else '不在'}{where}范围内", None)
    if op == "in_industry":
        ind = industries().get(threshold).name if threshold in industries() else threshold
        return (f"所属行业{_show(name, value)}{'属于' if outcome else '不属于'}{ind}", None)
    if op == "has_qualification":
        q = catalog.QUALIFICATIONS.get(threshold, threshold)
        return (f"{'已' if outcome else '未'}取得{q}资质", None)
    shown, limit = _show(name, value), _show(name, threshold) if name else str(threshold)
    if op == "in":
        return f"{label} {shown}，{'属于' if outcome else '不属于'} {limit}", None
    numeric = (
        name and catalog.FIELDS[name].numeric and threshold is not None and not isinstance(threshold, (list, bool))
    )
    gap = None
    if numeric and not outcome and op in (">=", ">"):
        gap = dec(threshold, "") - dec(value, "")
    elif numeric and not outcome and op in ("<=", "<"):
        gap = dec(value, "") - dec(threshold, "")
    gap_text = (
        f"，还差 {_show(name, gap)}"
        if gap is not None and op in (">=", ">")
        else (f"，超出 {_show(name, gap)}" if gap is not None else "")
    )
    words = {
        ">=": ("达到要求的", "低于要求的"),
        ">": ("高于要求的", "未超过要求的"),
        "<=": ("未超过上限", "超过上限"),
        "<": ("低于上限", "未低于上限"),
        "==": ("符合要求的", "不符合要求的"),
        "===": ("符合要求的", "不符合要求的"),
        "!=": ("不是排除的", "是排除的"),
        "!==": ("不是排除的", "是排除的"),
    }.get(op)
    if words is None:
        return f"{label} {shown}：{'满足' if outcome else '不满足'}条件", None
    return f"{label} {shown}，{words[0 if outcome else 1]} {limit}{gap_text if not outcome else ''}", gap


def evaluate_rule(
    rule, facts: dict, sources: dict | None = None, as_of: dt.date | None = None, checked: bool = False
) -> Evaluation:
    """Evaluate a policy rule for one enterprise: value (or UNKNOWN), missing fields, trace.

    ``checked``: the rule comes from a parsed spec, whose rules :func:`matcher.spec.parse_spec`
    held to tighter size limits already, so the size check is not repeated on every decision.
    """
    logic = PolicyLogic(facts, sources, as_of)
    if not checked:
        from matcher.jsonlogic import check_size

        check_size(rule)
    out = logic.apply(rule, {}, "", 0)
    if isinstance(out, _Missing):
        return Evaluation(UNKNOWN, out.fields, logic.trace)
    return Evaluation(_plain(out), frozenset(), logic.trace)


__all__ = ["UNKNOWN", "Leaf", "Evaluation", "PolicyLogic", "evaluate_rule", "explain", "is_logic"]
