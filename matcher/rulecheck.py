"""Static checks of a JsonLogic rule against the field catalog, before it is published.

Paths name a node inside the spec file: ``conditions.and[2].>=[0].var`` is the
``var`` of the first argument of the ``>=`` that is the third item of the
top-level ``and``. The walk is iterative with explicit depth and size limits,
so a hostile rule can neither recurse the interpreter to death nor run long.
"""

from __future__ import annotations

import difflib

from graph import UnknownCode, industries, regions
from matcher.catalog import FIELDS, QUALIFICATIONS
from matcher.errors import SpecError

JSONLOGIC_OPS = frozenset(
    "== === != !== > >= < <= ! !! and or if ?: in cat substr + - * / % min max merge var "
    "missing missing_some map filter reduce all none some log".split()
)
DOMAIN_OPS = frozenset({"in_region", "in_industry", "has_qualification", "years_since", "before", "after"})
OPERATORS = JSONLOGIC_OPS | DOMAIN_OPS
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


def check_rule(rule, path: str) -> list[SpecError]:
    """All problems of ``rule`` (empty when it is acceptable)."""
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
            if not isinstance(name, str) or name not in FIELDS:
                errors.append(SpecError(here, f"字段 {name!r} 不在字段目录中{_suggest(str(name), FIELDS)}"))
            continue
        arglist = args if isinstance(args, list) else [args]
        if op in ("in_region", "in_industry", "has_qualification"):
            errors.extend(_check_domain_literal(op, arglist, here))
        stack.extend((a, f"{here}[{i}]", depth + 1) for i, a in enumerate(arglist))
    return errors


def _check_domain_literal(op: str, args: list, where: str) -> list[SpecError]:
    if len(args) != 2:
        return [SpecError(where, f"{op} 需要 2 个参数，实际 {len(args)} 个")]
    literal = args[1]
    if isinstance(literal, dict):
        return []  # computed at run time; checked by the engine
    try:
        if op == "in_region":
            regions().canonical(str(literal))
        elif op == "in_industry":
            industries().canonical(str(literal))
        elif literal not in QUALIFICATIONS:
            return [SpecError(f"{where}[1]", f"资质 {literal!r} 不存在；可选：{'、'.join(QUALIFICATIONS)}")]
    except UnknownCode as e:
        return [SpecError(f"{where}[1]", str(e))]
    return []
