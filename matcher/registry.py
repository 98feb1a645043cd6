"""One registry of derived fields and domain operators, each written once.

The scalar engine (:mod:`matcher.engine`), the columnar engine
(:mod:`matcher.columnar`), the spec checker (:mod:`matcher.rulecheck`), the
explanations and the generator all read what a derived field is computed
from, or what an operator takes, does and says, from here. Each entry holds
its scalar function (Decimal, exact) and, where one exists, its vectorised
function (numpy over a whole register); a property test keeps the two equal.

A derived field is never stored: it is computed from the facts as of a date,
and a missing input makes it missing (the enterprise is asked for the input,
not for the derived value).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from graph import UnknownCode, industries, regions
from matcher import catalog, scale

CENT = Decimal("0.01")


def years_between(start: dt.date, end: dt.date) -> int:
    """Whole years from ``start`` to ``end`` (an anniversary on ``end`` counts)."""
    years = end.year - start.year
    if (end.month, end.day) < (start.month, start.day):
        years -= 1
    return years


def _pct(num, den) -> Decimal | None:
    if num is None or den is None or Decimal(den) == 0:
        return None
    return (Decimal(num) * 100 / Decimal(den)).quantize(CENT, rounding=ROUND_HALF_UP)


def _half_up(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Round to 2 places half away from zero (Decimal ROUND_HALF_UP) in float; and the rows too close to call."""
    scaled = np.abs(x) * 100
    frac = scaled - np.floor(scaled)
    return np.sign(x) * np.floor(scaled + 0.5) / 100, np.abs(frac - 0.5) < 1e-6


# -- derived fields --------------------------------------------------------------------------


@dataclass(frozen=True)
class Derived:
    """A field computed from facts as of a date.

    ``scalar(facts, as_of)`` gives the exact value or None; ``vector(numeric, text, as_of)``
    gives ``(values, known, ambiguous)`` over columns (``numeric[name] = (float64, known)``,
    ``text[name] = (str array, known)``), ``ambiguous`` marking rows whose float value may
    round differently from the exact one (they are re-decided exactly).
    """

    name: str
    scalar: Callable[[dict, dt.date], object]
    vector: Callable[[dict, dict, dt.date], tuple[np.ndarray, np.ndarray, np.ndarray]]
    inputs_of: Callable[[dict], tuple[str, ...]]  # the facts it reads for this enterprise
    inputs: tuple[str, ...]  # every fact it may read, for any enterprise

    @property
    def field(self) -> catalog.Field:
        return catalog.FIELDS[self.name]

    def to_declare(self, facts: dict) -> tuple[str, ...]:
        """The missing facts an enterprise must declare for this field to be known."""
        return tuple(n for n in self.inputs_of(facts) if facts.get(n) is None)


def _age_scalar(facts, as_of):
    est = facts.get("established_on")
    return years_between(est, as_of) if est is not None else None


def _age_vector(numeric, text, as_of):
    import pandas as pd

    est, known = text["established_on"]
    dates = pd.Series(pd.to_datetime(est, errors="coerce", format="%Y-%m-%d"))
    years = as_of.year - dates.dt.year
    before = (dates.dt.month > as_of.month) | ((dates.dt.month == as_of.month) & (dates.dt.day > as_of.day))
    values = (years - before).to_numpy(dtype=float)
    return values, known & ~np.isnan(values), np.zeros(len(known), dtype=bool)


def _ratio(num_name, den_name, growth=False):
    def scalar(facts, as_of):
        num, den = facts.get(num_name), facts.get(den_name)
        if growth:
            if num is None or den is None or Decimal(den) == 0:
                return None
            return _pct(Decimal(num) - Decimal(den), den)
        return _pct(num, den)

    def vector(numeric, text, as_of):
        a, ka = numeric[num_name]
        b, kb = numeric[den_name]
        with np.errstate(all="ignore"):
            value, ambiguous = _half_up(((a - b) if growth else a) * 100 / b)
        known = ka & kb & (b != 0)
        return np.where(known, value, np.nan), known, ambiguous & known

    return scalar, vector


def _scale_scalar(facts, as_of):
    industry = facts.get("industry")
    if not industry:
        return None
    return scale.classify(industry, facts.get("employees"), facts.get("revenue"), facts.get("total_assets"))


def _scale_vector(numeric, text, as_of):
    emp, emp_k = numeric["employees"]
    rev, rev_k = numeric["revenue"]
    assets, assets_k = numeric["total_assets"]
    ind, _ = text["industry"]
    out = scale.classify_arrays(ind, emp, emp_k, rev, rev_k, assets, assets_k)
    known = out != None  # noqa: E711 - an object array: None where unknown
    return np.where(known, out, "").astype(str), known, np.zeros(len(known), dtype=bool)


def _scale_inputs(facts):
    industry = facts.get("industry")
    return scale.required_fields(industry) if industry else ("industry",)


_rd_ratio = _ratio("rd_expense", "revenue")
_growth = _ratio("revenue", "revenue_prev", growth=True)

DERIVED: dict[str, Derived] = {
    d.name: d
    for d in (
        Derived("age_years", _age_scalar, _age_vector, lambda facts: ("established_on",), ("established_on",)),
        Derived("rd_ratio", *_rd_ratio, lambda facts: ("rd_expense", "revenue"), ("rd_expense", "revenue")),
        Derived("revenue_growth", *_growth, lambda facts: ("revenue", "revenue_prev"), ("revenue", "revenue_prev")),
        Derived("scale", _scale_scalar, _scale_vector, _scale_inputs, ("industry", *scale.INDICATORS)),
    )
}
assert set(DERIVED) == {f.name for f in catalog.FIELDS.values() if f.derived}, "every derived field is registered"


def derive(facts: dict, as_of: dt.date) -> dict:
    """Every derived field of an enterprise with typed ``facts``, as of a date (None where an input is missing)."""
    return {name: d.scalar(facts, as_of) for name, d in DERIVED.items()}


def with_derived(facts: dict, as_of: dt.date) -> dict:
    return {**facts, **derive(facts, as_of)}


def facts_to_declare(missing, facts: dict) -> tuple[str, ...]:
    """Missing derived fields stand for the facts they are computed from."""
    out = set()
    for name in missing:
        out.update(DERIVED[name].to_declare(facts) if name in DERIVED else (name,))
    return tuple(sorted(out))


# -- domain operators ------------------------------------------------------------------------


class OperatorError(ValueError):
    """An operator's argument that cannot be used (the caller adds the rule path)."""


@dataclass(frozen=True)
class Operator:
    """A domain operator: what it takes, computes (exactly, and over columns) and says.

    ``first``: the catalog type its first argument must have (None: any); ``literal``
    checks a literal second argument at publish time and returns a Chinese reason or
    None; ``scalar(args, as_of)`` computes the result (raising :class:`OperatorError`);
    ``vector(values, literal)`` computes it for a whole column against a literal second
    argument (None: not vectorised, the columnar engine falls back to the scalar one);
    ``explain(label, shown_value, literal, outcome)`` is the leaf's Chinese sentence.
    """

    name: str
    arity: tuple[int, int]
    result: str  # bool | count
    scalar: Callable[[list, dt.date], object]
    first: str | None = None
    literal: Callable[[object], str | None] | None = None
    vector: Callable[[np.ndarray, str], np.ndarray] | None = None
    explain: Callable[[str, str, object, bool], str] | None = None


def as_date(x) -> dt.date:
    """A date, or ISO text of one (``OperatorError`` otherwise)."""
    if isinstance(x, dt.datetime):
        return x.date()
    if isinstance(x, dt.date):
        return x
    if isinstance(x, str):
        try:
            return dt.date.fromisoformat(x)
        except ValueError:
            pass
    raise OperatorError(f"需要日期 YYYY-MM-DD，实际为 {x!r}")


def _tree_literal(tree_of):
    def check(value) -> str | None:
        try:
            tree_of().canonical(str(value))
        except UnknownCode as e:
            return str(e)
        return None

    return check


def _within(tree_of):
    def scalar(args, as_of):
        code, area = args
        try:
            return tree_of().is_within(str(code), str(area))
        except UnknownCode as e:
            raise OperatorError(str(e)) from None

    return scalar


def _region_vector(values, literal):
    """``in_region`` over a column: the codes :meth:`graph.taxonomy.RegionTree.scope` puts inside
    ``literal`` (by prefix for a province, city or district; 全国: all; a zone: its own code and
    the districts it covers whole), the same test the scalar ``is_within`` makes."""
    scope = regions().scope(literal)
    out = np.zeros(values.shape, dtype=bool)
    for prefix in scope.prefixes:
        out |= np.char.startswith(values, prefix)
    if scope.codes:
        out |= np.isin(values, np.array(sorted(scope.codes), dtype=str))
    return out


def _industry_vector(values, literal):
    return np.char.startswith(values, industries().canonical(literal))


def _qualification_literal(value) -> str | None:
    if value not in catalog.QUALIFICATIONS:
        return f"资质 {value!r} 不存在；可选：{'、'.join(catalog.QUALIFICATIONS)}"
    return None


def _has_qualification(args, as_of):
    held, wanted = args
    if wanted not in catalog.QUALIFICATIONS:
        raise OperatorError(f"资质 {wanted!r} 不存在")
    if not isinstance(held, (frozenset, set, list)):
        raise OperatorError("has_qualification 的第一个参数应为资质集合")
    return wanted in held


def _qualification_vector(values, literal):
    padded = np.char.add(np.char.add(";", values), ";")  # values are ";"-joined sets
    return np.char.find(padded, f";{literal};") >= 0


def _years_since(args, as_of):
    end = as_date(args[1]) if len(args) == 2 else as_of
    return Decimal(years_between(as_date(args[0]), end))


def _region_sentence(label, shown, literal, outcome):
    tree = regions()
    where = tree.full_name(literal) if literal in tree else literal
    sentence = f"注册地{shown}{'在' if outcome else '不在'}{where}范围内"
    zone = tree.zone(literal) if literal in tree else None
    for code, towns in zone.partly_covers if zone is not None and not outcome else ():
        if shown == tree.full_name(code):  # the firm's county is only partly in the zone: say why it is out
            sentence += (
                f"（{zone.name}只含{tree.get(code).name}{towns}，县级代码无法区分；"
                f"注册在其中的企业应以功能区代码 {zone.code} 登记注册地）"
            )
    return sentence


def _industry_sentence(label, shown, literal, outcome):
    name = industries().get(literal).name if literal in industries() else literal
    return f"所属行业{shown}{'属于' if outcome else '不属于'}{name}"


def _qualification_sentence(label, shown, literal, outcome):
    return f"{'已' if outcome else '未'}取得{catalog.QUALIFICATIONS.get(literal, literal)}资质"


OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in (
        Operator(
            "in_region",
            (2, 2),
            "bool",
            _within(regions),
            first="region",
            literal=_tree_literal(regions),
            vector=_region_vector,
            explain=_region_sentence,
        ),
        Operator(
            "in_industry",
            (2, 2),
            "bool",
            _within(industries),
            first="industry",
            literal=_tree_literal(industries),
            vector=_industry_vector,
            explain=_industry_sentence,
        ),
        Operator(
            "has_qualification",
            (2, 2),
            "bool",
            _has_qualification,
            first="set",
            literal=_qualification_literal,
            vector=_qualification_vector,
            explain=_qualification_sentence,
        ),
        Operator(
            "before",
            (2, 2),
            "bool",
            lambda args, as_of: as_date(args[0]) < as_date(args[1]),
            first="date",
            explain=lambda label, shown, literal, ok: f"{label} {shown}，{'早于' if ok else '不早于'} {literal}",
        ),
        Operator(
            "after",
            (2, 2),
            "bool",
            lambda args, as_of: as_date(args[0]) > as_date(args[1]),
            first="date",
            explain=lambda label, shown, literal, ok: f"{label} {shown}，{'晚于' if ok else '不晚于'} {literal}",
        ),
        Operator("years_since", (1, 2), "count", _years_since),
    )
}
