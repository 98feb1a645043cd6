"""Static checks of a JsonLogic rule against the field catalog, before it is published.

Paths name a node inside the spec file: ``conditions.and[2].>=[0].var`` is the
``var`` of the first argument of the ``>=`` that is the third item of the
top-level ``and``. The walk is iterative with explicit depth and size limits,
so a hostile rule can neither recurse the interpreter to death nor run long.
"""

from __future__ import annotations

import difflib

from matcher.catalog import FIELDS
from matcher.errors import SpecError
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
    """Every catalog field a rule reads through ``var`` (no validation)."""
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
                else:
                    stack.append(args)
        elif isinstance(node, list):
            stack.extend(node)
    return out


def _suggest(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=3)
    return f"；是否想写 {'、'.join(close)}？" if close else ""


def check_rule(rule, path: str, extra_vars: dict | None = None) -> list[SpecError]:
    """All problems of ``rule`` (empty when it is acceptable). ``extra_vars``: names a ``var`` may
    read beside the catalog's fields, with their types (a supplement's ``parent_amount``)."""
    extra_vars = extra_vars or {}
    errors: list[SpecError] = []
    stack = [(rule, path, 0)]
    nodes = 0
    while stack:
        node, where, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            return errors + [SpecError(path, f"规则过大：超过 {MAX_NODES} 个节点")]
        if depth > MAX_DEPTH:
            return errors + [SpecError(where, f"规则嵌套过深：超过 {MAX_DEPTH} 层")]
        if isinstance(node, list):
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(node))
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
            if not isinstance(name, str) or (name not in FIELDS and name not in extra_vars):
                errors.append(SpecError(here, f"字段 {name!r} 不在字段目录中{_suggest(str(name), FIELDS)}"))
            continue
        arglist = args if isinstance(args, list) else [args]
        if op in DOMAIN:
            errors.extend(_check_domain(DOMAIN[op], arglist, here))
        stack.extend((a, f"{here}[{i}]", depth + 1) for i, a in enumerate(arglist))
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


def _infer(node, path, errors, extra) -> str | None:
    """The type of ``node`` ("money", "number", "bool", "region", ... or None when unknown)."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            _infer(item, f"{path}[{i}]", errors, extra)
        return "list"
    if not isinstance(node, dict):
        return _literal_type(node)
    if len(node) != 1:
        return None
    ((op, args),) = node.items()
    here = f"{path}.{op}"
    if op == "var":
        name = args[0] if isinstance(args, list) and args else args
        f = FIELDS.get(name) if isinstance(name, str) else None
        return f.type if f else extra.get(name)
    arglist = args if isinstance(args, list) else [args]
    types = [_infer(a, f"{here}[{i}]", errors, extra) for i, a in enumerate(arglist)]
    fields = [FIELDS.get(_var_name(a["var"])) if isinstance(a, dict) and "var" in a else None for a in arglist]
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


def _check_units(here, args, types, fields, errors) -> None:
    """A threshold written with a unit ("500万", "3%") or a fraction for a count is refused."""
    field = next((f for f in fields if f is not None), None)
    if field is None:
        return
    for i, a in enumerate(args):
        if fields[i] is not None or isinstance(a, dict):
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
