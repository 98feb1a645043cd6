"""How a rule explains itself in Chinese: values in their unit, comparisons with the distance, calculations.

Every quantity a rule compares has a *kind* — a catalog type (money, count, percent,
date, …) or ``number`` for a plain quantity — and, for counts, a unit (人, 件, 年).
A computed side (``rd_expense - rd_expense_prev``) has the kind its inputs give it
(money − money is money; money × a rate is money; a rate difference is in
percentage points), so its value and its distance to the threshold read in the
right unit: "还差 50万元", "还差 0.5个百分点", "还差 3人".

Everything here returns text or JSON-native values (str, int, bool, list, None), so
a decision's explanation serialises to JSON and back unchanged.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from matcher import catalog

NUMERIC = frozenset({"money", "count", "percent", "number"})
SYMBOLS = {"+": "+", "-": "−", "*": "×", "/": "÷"}


def to_decimal(x) -> Decimal | None:
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, Decimal):
        return x
    try:
        d = Decimal(repr(x) if isinstance(x, float) else str(x).strip())
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def _plain_number(d: Decimal) -> str:
    d = d.normalize()
    text = f"{d:,f}"
    return text


def money(d: Decimal) -> str:
    """ "300万元", "5,000万元", "1.25亿元" is not used: officers read 万元; below 1万, "8,650.00元"."""
    if abs(d) >= 10000:
        wan = (d / 10000).quantize(Decimal("0.01")).normalize()
        return f"{wan:,f}万元"
    return f"{d.quantize(Decimal('0.01')):,f}元"


def show(kind: str | None, value, unit: str | None = None, field: str | None = None) -> str:
    """A value as a person reads it, in its unit."""
    if value is None:
        return "未提供"
    if field is not None and kind == catalog.FIELDS[field].type and kind not in NUMERIC:
        if kind == "enum" and isinstance(value, (list, tuple)):
            return "、".join(catalog.label_value(field, v) for v in value)
        if kind in ("enum", "set", "bool", "region", "industry"):
            try:
                return catalog.label_value(field, value)
            except Exception:  # a literal that is no code: shown as written
                return str(value)
    if kind in NUMERIC:
        d = to_decimal(value)
        if d is None:
            return str(value)
        if kind == "money":
            return money(d)
        if kind == "percent":
            return f"{d.normalize():f}%"
        if kind == "count":
            d = d.normalize()
            return f"{d:f}{unit or ''}"
        return _plain_number(d)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        return "、".join(str(v) for v in (sorted(value) if isinstance(value, (set, frozenset)) else value))
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def distance(kind: str | None, gap: Decimal, unit: str | None = None) -> str:
    """A distance to a threshold in the unit of the compared quantity."""
    if kind == "percent":
        return f"{gap.normalize():f}个百分点"
    if kind == "date":
        return f"{gap}天"
    return show(kind, gap, unit)


def encode(value):
    """A typed value as JSON-native data (money and rates as exact text, sets sorted)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(encode(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return str(value)


WORDS = {
    ">=": ("达到要求的", "低于要求的"),
    ">": ("高于要求的", "未超过要求的"),
    "<=": ("未超过上限", "超过上限"),
    "<": ("低于上限", "未低于上限"),
    "==": ("符合要求的", "不符合要求的"),
    "===": ("符合要求的", "不符合要求的"),
    "!=": ("不是排除的", "是排除的"),
    "!==": ("不是排除的", "是排除的"),
}


def comparison(op: str, label: str, shown: str, limit: str, outcome: bool, gap_text: str | None) -> str:
    words = WORDS.get(op)
    if words is None:
        return f"{label} {shown}：{'满足' if outcome else '不满足'}条件"
    tail = ""
    if not outcome and gap_text:
        tail = f"，还差 {gap_text}" if op in (">=", ">") else f"，超出 {gap_text}"
    return f"{label} {shown}，{words[0 if outcome else 1]} {limit}{tail}"


def distance_of(sentence: str) -> tuple[str, str] | None:
    """The distance a comparison's sentence reports, as :func:`comparison` wrote it: ``("还差", "20万元")``,
    ``("超出", "3年")``; None when it reports none (a condition met, or one that is no comparison)."""
    for word in ("还差", "超出"):
        _, sep, tail = sentence.rpartition(f"，{word} ")
        if sep:
            return word, tail
    return None


def unknown(labels) -> str:
    return f"{'、'.join(labels)}未提供，请补充申报"


def per_record(d: Decimal) -> str:
    """An amount per record: "1,500元" (whole yuan below 1万 without 分), "1.5万元"."""
    if abs(d) < 10000 and d == d.to_integral_value():
        return f"{d.quantize(Decimal(1)):,f}元"
    return money(d)


def rate(d: Decimal) -> str:
    """A multiplier written as officers write it: 0.1 → "10%", 1.5 → "1.5"."""
    if 0 < d < 1:
        return f"{(d * 100).normalize():f}%"
    return _plain_number(d)
