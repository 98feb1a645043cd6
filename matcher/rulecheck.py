"""Static checks of a JsonLogic rule against the field catalog, before it is published.

Paths name a node inside the spec file: ``conditions.and[2].>=[0].var`` is the
``var`` of the first argument of the ``>=`` that is the third item of the
top-level ``and``. The walk is iterative with explicit depth and size limits,
so a hostile rule can neither recurse the interpreter to death nor run long.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass

from matcher.catalog import FIELDS, Field
from matcher.errors import SpecError
from matcher.records import ITERATORS, reducer_pattern
from matcher.registry import OPERATORS as DOMAIN

JSONLOGIC_OPS = frozenset(
    "== === != !== > >= < <= ! !! and or if ?: in cat substr + - * / % min max merge var "
    "missing missing_some map filter reduce all none some log".split()
)
OPERATORS = JSONLOGIC_OPS | frozenset(DOMAIN)
MAX_DEPTH = 32
MAX_NODES = 5000


def _var_name(args):
    if isinstance(args, list):
        return args[0] if args else ""
    return args


def fields_used(rule) -> set[str]:
    """Every catalog field a rule reads through ``var`` (no validation); inside filter / map / reduce /
    all / some / none a ``var`` reads the current record, not a field."""
    out: set[str] = set()
    stack = [rule]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for op, args in node.items():
                if op == "var":
                    name = _var_name(args)
                    if isinstance(name, str) and name:
                        out.add(name)
                elif op in ITERATORS and isinstance(args, list):
                    stack.extend(a for i, a in enumerate(args) if i != 1)
                else:
                    stack.append(args)
        elif isinstance(node, list):
            stack.extend(node)
    return out


def _suggest(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=3)
    return f"；是否想写 {'、'.join(close)}？" if close else ""


# -- scopes: what a var reads inside filter / map / reduce / all / some / none -----------------------


@dataclass(frozen=True)
class Scope:
    """Inside an iterating operator: the records of ``field`` (``values`` False: ``var`` names a sub-field),
    or values mapped from them or listed (``values`` True: ``{"var": ""}`` reads one, of type ``element``);
    ``reduce``: the reducer, reading ``accumulator`` and ``current`` / ``current.NAME``."""

    field: Field | None
    values: bool = False
    element: str | None = None
    reduce: bool = False

    def describe(self) -> str:
        label = self.field.label if self.field is not None else "列表"
        return f"{label}的记录" if not self.values else f"{label}的值"


def list_scope(node, scope: Scope | None, extra: dict | None = None) -> Scope | None:
    """The scope an iterating operator over ``node`` opens (None: ``node`` is no list)."""
    if isinstance(node, list):
        return Scope(None, values=True)
    if not isinstance(node, dict) or len(node) != 1:
        return None
    ((op, args),) = node.items()
    arglist = args if isinstance(args, list) else [args]
    if op == "var" and scope is None:
        f = FIELDS.get(_var_name(args)) if isinstance(_var_name(args), str) else None
        return Scope(f) if f is not None and f.type == "records" else None
    if op == "filter" and arglist:
        return list_scope(arglist[0], scope, extra)
    if op == "map" and len(arglist) >= 2:
        inner = list_scope(arglist[0], scope, extra)
        if inner is None:
            return None
        return Scope(inner.field, values=True, element=_infer(arglist[1], "", [], extra or {}, inner))
    return None


def _scoped_var(name, scope: Scope) -> tuple[Field | None, str | None, str | None]:
    """``(sub-field, type, problem)`` of a ``var`` inside ``scope``."""
    if scope.reduce:
        if name == "accumulator":
            return None, "number", None
        if scope.values and name == "current":
            return None, scope.element, None
        if not scope.values and isinstance(name, str) and name.startswith("current."):
            name = name[len("current.") :]
        else:
            want = "current" if scope.values else "current.字段名"
            return None, None, f"reduce 的运算式只能读取 accumulator 和 {want}（实际 {name!r}）"
    if scope.values:
        if name in ("", None):
            return None, scope.element, None
        return None, None, f'{scope.describe()}用 {{"var": ""}} 读取（实际 {name!r}）'
    f = scope.field.subfield(name) if isinstance(name, str) else None
    if f is None:
        names = "、".join(s.name for s in scope.field.fields)
        hint = _suggest(str(name), [s.name for s in scope.field.fields])
        return None, None, f"{scope.field.label}（{scope.field.name}）的记录没有字段 {name!r}（可用：{names}）{hint}"
    return f, f.type, None


def check_rule(rule, path: str, extra_vars: dict | None = None) -> list[SpecError]:
    """All problems of ``rule`` (empty when it is acceptable). ``extra_vars``: names a ``var`` may
    read beside the catalog's fields, with their types (a supplement's ``parent_amount``)."""
    extra_vars = extra_vars or {}
    errors: list[SpecError] = []
    stack: list = [(rule, path, 0, None)]
    nodes = 0
    while stack:
        node, where, depth, scope = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            return errors + [SpecError(path, f"规则过大：超过 {MAX_NODES} 个节点")]
        if depth > MAX_DEPTH:
            return errors + [SpecError(where, f"规则嵌套过深：超过 {MAX_DEPTH} 层")]
        if isinstance(node, list):
            stack.extend((item, f"{where}[{i}]", depth + 1, scope) for i, item in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        if len(node) != 1:
            errors.append(SpecError(where, f"运算节点应只有一个键（运算符），实际有 {len(node)} 个"))
            continue
        ((op, args),) = node.items()
        here = f"{where}.{op}"
        if op not in OPERATORS:
            errors.append(SpecError(here, f"未知运算符 {op!r}{_suggest(op, OPERATORS)}"))
            continue
        if op == "var":
            name = _var_name(args)
            if scope is not None:
                problem = _scoped_var(name, scope)[2]
                if problem:
                    errors.append(SpecError(here, problem))
            elif not isinstance(name, str) or (name not in FIELDS and name not in extra_vars):
                errors.append(SpecError(here, f"字段 {name!r} 不在字段目录中{_suggest(str(name), FIELDS)}"))
            continue
        arglist = args if isinstance(args, list) else [args]
        if op in DOMAIN:
            errors.extend(_check_domain(DOMAIN[op], arglist, here))
        if op in ITERATORS:
            if len(arglist) < 2:
                errors.append(SpecError(here, f"{op} 至少需要 2 个参数（列表和运算式）"))
                continue
            inner = list_scope(arglist[0], scope, extra_vars)
            if inner is None:
                errors.append(SpecError(f"{here}[0]", f"{op} 的第一个参数应为记录列表字段（如 new_hires）或列表"))
            else:
                body = Scope(inner.field, inner.values, inner.element, reduce=True) if op == "reduce" else inner
                stack.append((arglist[1], f"{here}[1]", depth + 1, body))
            stack.extend((a, f"{here}[{i}]", depth + 1, scope) for i, a in enumerate(arglist) if i != 1)
            continue
        stack.extend((a, f"{here}[{i}]", depth + 1, scope) for i, a in enumerate(arglist))
    return errors


def _check_domain(op, args: list, where: str) -> list[SpecError]:
    lo, hi = op.arity
    if not lo <= len(args) <= hi:
        want = f"{lo}" if lo == hi else f"{lo} 或 {hi}"
        return [SpecError(where, f"{op.name} 需要 {want} 个参数，实际 {len(args)} 个")]
    if op.literal is None or len(args) < 2 or isinstance(args[1], dict):
        return []  # computed at run time; checked by the engine
    reason = op.literal(args[1])
    return [SpecError(f"{where}[1]", reason)] if reason else []


# -- strict typing: operators must fit the fields they test ---------------------
NUMERIC_FIELD_TYPES = frozenset({"money", "count", "percent"})
ORDERED = {">", ">=", "<", "<="}
ARITH = {"+", "-", "*", "/", "%", "min", "max"}


def _literal_type(x) -> str:
    if isinstance(x, bool):
        return "bool"
    if isinstance(x, (int, float)):
        return "number"
    if isinstance(x, str):
        try:
            float(x)
            return "number"
        except ValueError:
            return "text"
    if x is None:
        return "null"
    if isinstance(x, list):
        return "list"
    return "other"


def _is_numeric(t: str | None) -> bool:
    return t in NUMERIC_FIELD_TYPES or t == "number"


def check_types(rule, path: str, extra_vars: dict | None = None) -> list[SpecError]:
    """Type errors of a rule that already passed :func:`check_rule` (fields and operators exist)."""
    errors: list[SpecError] = []
    _infer(rule, path, errors, extra_vars or {})
    return errors


def _field_of(node, scope: Scope | None) -> Field | None:
    """The catalog field (or, inside a list, the sub-field) a ``var`` node reads."""
    if not (isinstance(node, dict) and len(node) == 1 and "var" in node):
        return None
    name = _var_name(node["var"])
    if scope is not None:
        return _scoped_var(name, scope)[0]
    return FIELDS.get(name) if isinstance(name, str) else None


def _infer(node, path, errors, extra, scope: Scope | None = None) -> str | None:
    """The type of ``node`` ("money", "number", "bool", "region", "records", ... or None when unknown)."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            _infer(item, f"{path}[{i}]", errors, extra, scope)
        return "list"
    if not isinstance(node, dict):
        return _literal_type(node)
    if len(node) != 1:
        return None
    ((op, args),) = node.items()
    here = f"{path}.{op}"
    if op == "var":
        name = args[0] if isinstance(args, list) and args else args
        if scope is not None:
            return _scoped_var(name, scope)[1]
        f = FIELDS.get(name) if isinstance(name, str) else None
        return f.type if f else extra.get(name)
    arglist = args if isinstance(args, list) else [args]
    if op in ITERATORS:
        return _infer_iteration(op, arglist, here, errors, extra, scope)
    types = [_infer(a, f"{here}[{i}]", errors, extra, scope) for i, a in enumerate(arglist)]
    fields = [_field_of(a, scope) for a in arglist]
    for i, t in enumerate(types):
        if t == "records" and op not in ("missing", "missing_some"):
            f = fields[i]
            label = f"{f.label}（{f.name}）" if f is not None else "该值"
            errors.append(
                SpecError(
                    f"{here}[{i}]",
                    f"{label}是记录列表，不能直接用于 {op}：用 some / all / none 判断，或用 reduce 计数",
                )
            )
            return None
    if op in ORDERED:
        for i, (t, f) in enumerate(zip(types, fields)):
            if t is not None and not _is_numeric(t) and t not in ("date", "text"):
                label = f"{f.label}（{f.name}）" if f else "该值"
                errors.append(SpecError(f"{here}[{i}]", f"{label}的类型为 {t}，不能比较大小"))
        _check_units(here, arglist, types, fields, errors)
        return "bool"
    if op in ("==", "!=", "===", "!=="):
        _check_equality(here, arglist, types, fields, errors)
        return "bool"
    if op in ARITH:
        for i, t in enumerate(types):
            if t is not None and not _is_numeric(t):
                errors.append(SpecError(f"{here}[{i}]", f"算术运算需要数字，这里是 {t}"))
        return "number"
    domain = DOMAIN.get(op)
    if domain is not None and domain.first is not None and arglist and fields[0] is not None:
        if types[0] != domain.first:
            errors.append(
                SpecError(f"{here}[0]", f"{op} 的第一个参数应为 {domain.first} 类型的字段，这里是 {types[0]}")
            )
    if domain is not None:
        return "bool" if domain.result == "bool" else domain.result
    if op == "in" and len(arglist) == 2 and fields[0] is not None and isinstance(arglist[1], list):
        f = fields[0]
        if f.choices:
            for i, member in enumerate(arglist[1]):
                if member not in f.choices:
                    errors.append(
                        SpecError(f"{here}[1][{i}]", f"{member!r} 不是{f.label}的可选值（{'、'.join(f.choices)}）")
                    )
        return "bool"
    if op in ("and", "or", "!", "!!", "in"):
        return "bool"
    if op in ("if", "?:"):
        branches = [t for i, t in enumerate(types) if i % 2 == 1 or i == len(types) - 1]
        return branches[0] if branches and all(b == branches[0] for b in branches) else None
    return None


def _infer_iteration(op, args, here, errors, extra, scope) -> str | None:
    """filter / map / reduce / all / some / none: the list, then the operation inside the list's scope."""
    if len(args) < 2:
        return None
    _infer(args[0], f"{here}[0]", errors, extra, scope)
    inner = list_scope(args[0], scope, extra)
    if inner is None:
        return None
    if op == "reduce":
        start = _infer(args[2], f"{here}[2]", errors, extra, scope) if len(args) > 2 else None
        body = Scope(inner.field, inner.values, inner.element, reduce=True)
        _infer(args[1], f"{here}[1]", errors, extra, body)
        pattern = reducer_pattern(args[1])
        if pattern is not None and start is not None and not _is_numeric(start):
            errors.append(SpecError(f"{here}[2]", f"计数或求和的初始值应为数字，这里是 {start}"))
        if pattern is not None and pattern[0] == "sum" and not inner.values:
            sub = inner.field.subfield(pattern[1])
            if sub is not None and not sub.numeric:
                errors.append(SpecError(f"{here}[1]", f"只能对数字字段求和；{sub.label}（{sub.name}）是 {sub.type}"))
            return sub.type if sub is not None else None
        return "count" if pattern is not None and pattern[0] == "count" else None
    body_type = _infer(args[1], f"{here}[1]", errors, extra, inner)
    if op == "map":
        return "list"
    if op == "filter":
        return "records" if not inner.values else "list"
    if body_type is not None and body_type not in ("bool", "number", "count"):
        errors.append(SpecError(f"{here}[1]", f"{op} 的条件应为真假值，这里是 {body_type}"))
    return "bool"


def _check_units(here, args, types, fields, errors) -> None:
    """A threshold written with a unit ("500万", "3%") or a fraction for a count is refused; a date is
    compared with a date written YYYY-MM-DD."""
    field = next((f for f in fields if f is not None), None)
    if field is None:
        return
    for i, a in enumerate(args):
        if fields[i] is not None or isinstance(a, dict):
            continue
        if field.type == "date":
            if not _iso_date(a):
                why = f"{field.label}是日期，应与 YYYY-MM-DD 格式的日期比较（实际 {a!r}）"
                errors.append(SpecError(f"{here}[{i}]", why))
            continue
        if isinstance(a, str) and _literal_type(a) == "text":
            hint = {
                "money": '金额以元为单位，写成数字，如 "5000000"',
                "percent": "百分比写成数字，如 3 表示 3%",
                "count": "写成整数",
            }.get(field.type, "应为数字")
            errors.append(SpecError(f"{here}[{i}]", f"{field.label}的阈值 {a!r} 不是数字：{hint}"))
        elif field.type == "count" and _literal_type(a) == "number" and float(a) != int(float(a)):
            errors.append(
                SpecError(f"{here}[{i}]", f"{field.label}以{field.unit or '个'}计，阈值应为整数（实际 {a!r}）")
            )


def _iso_date(x) -> bool:
    if not isinstance(x, str) or len(x) != 10:
        return False
    try:
        dt.date.fromisoformat(x)
    except ValueError:
        return False
    return True


def _check_equality(here, args, types, fields, errors) -> None:
    field = next((f for f in fields if f is not None), None)
    if field is None or len(args) != 2:
        return
    other_index = 1 if fields[0] is field else 0
    other, other_type = args[other_index], types[other_index]
    if isinstance(other, dict):
        return
    if field.choices and field.type == "enum" and other not in field.choices:
        errors.append(
            SpecError(f"{here}[{other_index}]", f"{other!r} 不是{field.label}的可选值（{'、'.join(field.choices)}）")
        )
    elif field.type in NUMERIC_FIELD_TYPES and other_type != "number":
        errors.append(SpecError(f"{here}[{other_index}]", f"{field.label}是数字，不能与 {other!r} 比较"))
    elif field.type == "bool" and other_type != "bool":
        errors.append(SpecError(f"{here}[{other_index}]", f"{field.label}是真假值，应与 true/false 比较"))
