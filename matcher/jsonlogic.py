"""JsonLogic (jsonlogic.com), exactly as the reference implementation behaves.

``evaluate(rule, data)`` is the whole public API of plain JsonLogic. It passes
the official test suite (tests/test_jsonlogic_conformance.py runs every case),
never calls ``eval``/``exec``, refuses rules deeper than :data:`MAX_DEPTH` or
larger than :data:`MAX_NODES` before evaluating anything, and cannot loop
forever: the only loops (``map``, ``filter``, ``reduce``, ``all``, ``none``,
``some``) run over arrays that already exist in the data.

The operators follow json-logic-js, including JavaScript's loose equality and
number coercion, so rules written for other JsonLogic libraries mean the same
here. Policy rules use the strict, Decimal, three-valued engine in
:mod:`matcher.engine`, which builds on this one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal

from matcher.errors import RuleError

MAX_DEPTH = 64
MAX_NODES = 10_000
LOGIC = frozenset({"if", "?:", "and", "or", "filter", "map", "reduce", "all", "none", "some"})
METHODS = {"?:": "if", "!": "not", "!!": "notnot"}  # operators whose method name is not "op_" + the operator


def is_logic(x) -> bool:
    return isinstance(x, dict) and len(x) == 1


def truthy(x) -> bool:
    """JsonLogic truthiness: [] is false, "0" is true, NaN is false."""
    if isinstance(x, list):
        return len(x) > 0
    if isinstance(x, float) and math.isnan(x):
        return False
    return bool(x)


def js_str(x) -> str:
    if x is None:
        return "null"
    if x is True:
        return "true"
    if x is False:
        return "false"
    if isinstance(x, float):
        if math.isnan(x):
            return "NaN"
        if math.isinf(x):
            return "Infinity" if x > 0 else "-Infinity"
        return str(int(x)) if x == int(x) else repr(x)
    if isinstance(x, Decimal):
        return format(x.normalize(), "f") if x == x.to_integral_value() else format(x, "f")
    if isinstance(x, list):
        return ",".join("" if v is None else js_str(v) for v in x)
    if isinstance(x, dict):
        return "[object Object]"
    return str(x)


def to_number(x):
    """JavaScript ``ToNumber``."""
    if isinstance(x, bool):
        return 1 if x else 0
    if isinstance(x, (int, float, Decimal)):
        return x
    if x is None:
        return 0
    if isinstance(x, list):
        return to_number(js_str(x))
    if isinstance(x, str):
        s = x.strip()
        if s == "":
            return 0
        try:
            return int(s) if s.lstrip("+-").isdigit() else float(s)
        except ValueError:
            return math.nan
    return math.nan


def parse_float(x):
    """JavaScript ``parseFloat(String(x))``: the longest numeric prefix, else NaN."""
    if isinstance(x, (int, float, Decimal)) and not isinstance(x, bool):
        return x
    s = js_str(x).strip()
    best = math.nan
    for end in range(len(s), 0, -1):
        try:
            best = float(s[:end])
            break
        except ValueError:
            continue
    return best


def _same_kind(a, b) -> bool:
    num = (int, float, Decimal)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    return (isinstance(a, num) and isinstance(b, num)) or type(a) is type(b)


def strict_eq(a, b) -> bool:
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return a is b
    return _same_kind(a, b) and a == b


def loose_eq(a, b) -> bool:
    """JavaScript ``==``."""
    if a is None or b is None:
        return a is None and b is None
    if _same_kind(a, b) and not isinstance(a, (list, dict)):
        return a == b
    if isinstance(a, bool):
        return loose_eq(1 if a else 0, b)
    if isinstance(b, bool):
        return loose_eq(a, 1 if b else 0)
    if isinstance(a, (list, dict)) and isinstance(b, (list, dict)):
        return a is b
    if isinstance(a, (list, dict)):
        return loose_eq(js_str(a), b)
    if isinstance(b, (list, dict)):
        return loose_eq(a, js_str(b))
    return to_number(a) == to_number(b)


def js_less(a, b) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a < b
    x, y = to_number(a), to_number(b)
    if _nan(x) or _nan(y):
        return False
    return x < y


def _nan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _substr(source, start=0, length=None):
    s = js_str(source)
    start = int(to_number(start))
    if start < 0:
        start = max(len(s) + start, 0)
    if length is None:
        return s[start:]
    length = int(to_number(length))
    if length < 0:
        tail = s[start:]
        return tail[: max(len(tail) + length, 0)]
    return s[start : start + length]


def _merge(*args):
    out = []
    for a in args:
        out.extend(a) if isinstance(a, list) else out.append(a)
    return out


def _min_max(fn, args):
    if not args:
        return None
    values = [to_number(a) for a in args]
    if any(_nan(v) for v in values):
        return math.nan
    return fn(values)


def _div(a, b):
    x, y = to_number(a), to_number(b)
    if y == 0:
        return math.nan if x == 0 or _nan(x) else math.copysign(math.inf, x) * math.copysign(1, y)
    return x / y


def _mod(a, b):
    x, y = to_number(a), to_number(b)
    if y == 0:
        return math.nan
    return math.fmod(x, y) if isinstance(x, float) or isinstance(y, float) else int(math.fmod(x, y))


def _lt(a, b, c=None, *_):
    return js_less(a, b) if c is None else js_less(a, b) and js_less(b, c)


def _le(a, b, c=None, *_):
    def le(x, y):
        return js_less(x, y) or (not js_less(y, x) and _comparable(x, y) and loose_eq(x, y))

    return le(a, b) if c is None else le(a, b) and le(b, c)


def _comparable(x, y) -> bool:
    if isinstance(x, str) and isinstance(y, str):
        return True
    return not (_nan(to_number(x)) or _nan(to_number(y)))


def _ge(a, b, *_):
    return _le(b, a)


def _plus(*args):
    total = 0
    for a in args:
        total += parse_float(a)
    return total


def _times(*args):
    out = 1
    for a in args:
        out *= parse_float(a)
    return out


def _minus(a, b=None, *_):
    return -to_number(a) if b is None else to_number(a) - to_number(b)


def _in(a, b):
    if isinstance(b, str):
        return js_str(a) in b
    if isinstance(b, list):
        return any(strict_eq(a, x) for x in b)
    return False


OPERATORS: dict[str, Callable] = {
    "==": lambda a=None, b=None, *_: loose_eq(a, b),
    "===": lambda a=None, b=None, *_: strict_eq(a, b),
    "!=": lambda a=None, b=None, *_: not loose_eq(a, b),
    "!==": lambda a=None, b=None, *_: not strict_eq(a, b),
    ">": lambda a, b, *_: js_less(b, a),
    ">=": _ge,
    "<": _lt,
    "<=": _le,
    "!!": lambda a=None, *_: truthy(a),
    "!": lambda a=None, *_: not truthy(a),
    "%": lambda a, b, *_: _mod(a, b),
    "log": lambda a=None, *_: a,
    "in": lambda a, b=None, *_: _in(a, b),
    "cat": lambda *args: "".join(js_str(a) for a in args),
    "substr": _substr,
    "+": _plus,
    "*": _times,
    "-": _minus,
    "/": lambda a, b, *_: _div(a, b),
    "min": lambda *args: _min_max(min, args),
    "max": lambda *args: _min_max(max, args),
    "merge": _merge,
}


class JsonLogic:
    """An evaluator; subclasses change how values and operators behave (see matcher.engine)."""

    operators: dict[str, Callable] = OPERATORS
    controls: frozenset = LOGIC  # operators that evaluate their own arguments (methods ``op_<name>``)

    def evaluate(self, rule, data=None):
        check_size(rule)
        return self.apply(rule, data if data is not None else {}, "", 0)

    # -- the walk -----------------------------------------------------------
    def apply(self, rule, data, path: str, depth: int):
        if depth > MAX_DEPTH:
            raise RuleError(path or "(规则)", f"规则嵌套超过 {MAX_DEPTH} 层")
        if isinstance(rule, list):
            return [self.apply(r, data, (path, i), depth + 1) for i, r in enumerate(rule)]
        if not is_logic(rule):
            return rule
        ((op, values),) = rule.items()
        here = (path, op)
        if not isinstance(values, list):
            values = [values]
        if op == "var":
            return self.var(data, [self.apply(v, data, here, depth + 1) for v in values], here)
        if op in ("missing", "missing_some"):
            args = [self.apply(v, data, (here, i), depth + 1) for i, v in enumerate(values)]
            return self.missing(data, args, here) if op == "missing" else self.missing_some(data, args, here)
        if op in self.controls:
            return getattr(self, "op_" + METHODS.get(op, op))(values, data, here, depth)
        if op not in self.operators:
            raise RuleError(here, f"未知运算符 {op!r}")
        fn = self.operators[op]
        args = [self.apply(v, data, (here, i), depth + 1) for i, v in enumerate(values)]
        return self.call(op, fn, args, here)

    def call(self, op, fn, args, path):
        try:
            return fn(*args)
        except TypeError:
            raise RuleError(path, f"运算符 {op!r} 的参数个数不对（{len(args)} 个）") from None

    # -- data access ---------------------------------------------------------
    def var(self, data, args, path):
        key = args[0] if args else None
        default = args[1] if len(args) > 1 else None
        if key is None or key == "" or key == []:
            return data
        current = data
        for part in js_str(key).split("."):
            if current is None:
                return default
            if isinstance(current, dict):
                if part not in current:
                    return default
                current = current[part]
            elif isinstance(current, list):
                try:
                    current = current[int(part)]
                except (ValueError, IndexError):
                    return default
            else:
                return default
        return current

    def missing(self, data, args, path):
        keys = args[0] if args and isinstance(args[0], list) else args
        return [k for k in keys if self.var(data, [k], path) in (None, "")]

    def missing_some(self, data, args, path):
        need, keys = args[0], args[1]
        absent = self.missing(data, keys, path)
        return [] if len(keys) - len(absent) >= need else absent

    # -- operators that control evaluation ----------------------------------
    def op_if(self, values, data, path, depth):
        i = 0
        while i < len(values) - 1:
            if truthy(self.apply(values[i], data, (path, i), depth + 1)):
                return self.apply(values[i + 1], data, (path, i + 1), depth + 1)
            i += 2
        return self.apply(values[i], data, (path, i), depth + 1) if i == len(values) - 1 else None

    def op_and(self, values, data, path, depth):
        current = None
        for i, v in enumerate(values):
            current = self.apply(v, data, (path, i), depth + 1)
            if not truthy(current):
                return current
        return current

    def op_or(self, values, data, path, depth):
        current = None
        for i, v in enumerate(values):
            current = self.apply(v, data, (path, i), depth + 1)
            if truthy(current):
                return current
        return current

    def _scope(self, values, data, path, depth):
        scoped = self.apply(values[0], data, (path, 0), depth + 1) if values else None
        return scoped if isinstance(scoped, list) else None

    def op_filter(self, values, data, path, depth):
        items = self._scope(values, data, path, depth)
        if items is None:
            return []
        return [x for x in items if truthy(self.apply(values[1], x, (path, 1), depth + 1))]

    def op_map(self, values, data, path, depth):
        items = self._scope(values, data, path, depth)
        if items is None:
            return []
        return [self.apply(values[1], x, (path, 1), depth + 1) for x in items]

    def op_reduce(self, values, data, path, depth):
        items = self._scope(values, data, path, depth)
        initial = self.apply(values[2], data, (path, 2), depth + 1) if len(values) > 2 else None
        if items is None:
            return initial
        acc = initial
        for x in items:
            acc = self.apply(values[1], {"current": x, "accumulator": acc}, (path, 1), depth + 1)
        return acc

    def op_all(self, values, data, path, depth):
        items = self._scope(values, data, path, depth)
        if not items:
            return False
        return all(truthy(self.apply(values[1], x, (path, 1), depth + 1)) for x in items)

    def op_none(self, values, data, path, depth):
        return len(self.op_filter(values, data, path, depth)) == 0

    def op_some(self, values, data, path, depth):
        return len(self.op_filter(values, data, path, depth)) > 0


def check_size(rule) -> None:
    """Refuse oversized or overly deep rules before evaluating them (iteratively: no recursion)."""
    stack, nodes = [(rule, 0, "")], 0
    while stack:
        node, depth, path = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise RuleError("(规则)", f"规则过大：超过 {MAX_NODES} 个节点")
        if depth > MAX_DEPTH:
            raise RuleError(path or "(规则)", f"规则嵌套超过 {MAX_DEPTH} 层")
        if isinstance(node, dict):
            stack.extend((v, depth + 1, f"{path}.{k}" if path else k) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, depth + 1, (path, i)) for i, v in enumerate(node))


_DEFAULT = JsonLogic()


def evaluate(rule, data=None):
    """Plain JsonLogic: the value of ``rule`` over ``data``."""
    return _DEFAULT.evaluate(rule, data)
