"""Deciding a policy for a firm described only in part: eligible, not eligible, or it depends.

A search query ("成立两年的小型软件企业") says a few things about a firm, each loosely: an industry 大类
rather than a 小类, an age in whole years rather than a date, 小微 (small or micro). The rule engine decides
on typed facts, so a description is read as the set of firms it allows (worlds), and the policy's
conditions are evaluated for each by the engine itself (:func:`matcher.engine.evaluate_rule` over
:func:`matcher.registry.with_derived`, as :func:`matcher.decision.decide` does). The policy is not eligible
only when it is not eligible in every world, eligible only when eligible in every one; a fact the
description does not give is simply absent, so the engine says unknown.

Worlds stay few because a condition compares a fact with the literals written in it: the answer can only
change where the fact crosses one of them. One value per stretch is enough:

- a tree field (industry, region) said at a coarse level: one registration-level code per pattern of
  "within / not within" the policy's own codes (and, for industry, per 划型 group when the policy reads a
  scale the description does not give);
- a range (``established_on`` from an age, employees, revenue): its ends, each literal of the policy inside
  it with its neighbours and, for an age threshold, the anniversary it falls on;
- choices (scale 小微: small or micro): each one;
- qualifications said to be held: the held ones plus every subset of the others the policy names.

Derived fields other than a chosen one (``rd_ratio`` from a revenue range, say) are computed in each world
from the values above, which are the range's ends and the policy's literals, not every value in between.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from graph import industries, regions
from matcher import catalog
from matcher.engine import UNKNOWN, Leaf, evaluate_rule
from matcher.registry import DERIVED, facts_to_declare, with_derived
from matcher.rulecheck import fields_used

MAX_WORLDS = 512  # beyond this a policy is left undetermined rather than decided slowly
OLDEST = dt.date(1900, 1, 1)  # the catalog's earliest 成立日期: an open "以上" age ends here


@dataclass(frozen=True)
class Partial:
    """What a description says about a firm. ``facts``: exact typed facts; ``within``: industry or region
    codes the firm lies inside one of; ``ranges``: ``(low, high)`` inclusive for a date, count or money field
    (None: open); ``choices``: the values a field may take (a derived field's choices replace its
    derivation); ``held``: qualifications the firm holds (whether it holds others is unknown)."""

    facts: Mapping[str, object] = field(default_factory=dict)
    within: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    ranges: Mapping[str, tuple[object, object]] = field(default_factory=dict)
    choices: Mapping[str, tuple] = field(default_factory=dict)
    held: frozenset[str] | None = None

    @property
    def said(self) -> set[str]:
        """The fields the description gives in some form."""
        out = set(self.facts) | set(self.within) | set(self.ranges) | set(self.choices)
        return out | ({"qualifications"} if self.held is not None else set())


@dataclass(frozen=True)
class PartialDecision:
    policy_id: str
    outcome: str  # eligible | not_eligible | undetermined
    worlds: int  # how many possible firms were decided (0: too many to try)
    trace: tuple[Leaf, ...] = ()  # the conditions that show the outcome, for one possible firm
    missing: tuple[str, ...] = ()  # facts to declare (the description does not give them)
    split: tuple[str, ...] = ()  # fields the description gives too loosely to decide on (it depends on them)

    def to_json(self) -> dict:
        return {
            "policy_id": self.policy_id,
            "outcome": self.outcome,
            "worlds": self.worlds,
            "reasons": [leaf.sentence for leaf in self.trace],
            "missing": list(self.missing),
            "missing_labels": [catalog.FIELDS[n].label for n in self.missing if n in catalog.FIELDS],
            "split": list(self.split),
            "split_labels": [catalog.FIELDS[n].label for n in self.split if n in catalog.FIELDS],
        }


def decide_partial(spec, partial: Partial, as_of: dt.date, max_worlds: int = MAX_WORLDS) -> PartialDecision:
    """The policy's conditions for every firm the description allows, combined (module docstring)."""
    if not isinstance(as_of, dt.date):
        raise TypeError("decide_partial() needs the date to decide as of: there is no hidden today")
    axes = _axes(spec.conditions, partial, as_of)
    size = 1
    for _, values in axes:
        size *= len(values)
    if size > max_worlds:
        varied = tuple(sorted(name for name, values in axes if len(values) > 1))
        return PartialDecision(spec.id, "undetermined", 0, split=varied)
    results = []
    for combo in itertools.product(*(values for _, values in axes)):
        world = dict(zip((name for name, _ in axes), combo, strict=True))
        results.append((world, _evaluate(spec.conditions, partial, world, as_of)))
    values = [ev.value for _, ev in results]
    missing: set[str] = set()
    for world, ev in results:
        if ev.value is UNKNOWN:
            missing.update(facts_to_declare(ev.missing, _facts(partial, world)))
    if all(v is True for v in values):
        return PartialDecision(spec.id, "eligible", len(results), tuple(results[0][1].trace))
    if all(v is False for v in values):
        return PartialDecision(spec.id, "not_eligible", len(results), _shown_trace(spec, partial, results, as_of))
    split = ()
    if any(v is True for v in values) and any(v is False for v in values):
        split = tuple(sorted(name for name, vs in axes if len(vs) > 1))
    unknown = next((ev for _, ev in results if ev.value is UNKNOWN), results[0][1])
    return PartialDecision(spec.id, "undetermined", len(results), tuple(unknown.trace), tuple(sorted(missing)), split)


def _facts(partial: Partial, world: dict) -> dict:
    facts = {**partial.facts, **{k: v for k, v in world.items() if k not in DERIVED}}
    if partial.held is not None and "qualifications" not in facts:
        facts["qualifications"] = frozenset(partial.held)
    return facts


def _evaluate(rule, partial: Partial, world: dict, as_of: dt.date):
    facts = _facts(partial, world)
    data = with_derived(facts, as_of)
    data.update({k: v for k, v in world.items() if k in DERIVED})  # a chosen derived value replaces its derivation
    sources = {k: "declared" for k in facts} | {k: "declared" if k in world else "derived" for k in DERIVED}
    return evaluate_rule(rule, data, sources, as_of, checked=True)


def _shown_trace(spec, partial: Partial, results, as_of: dt.date) -> tuple[Leaf, ...]:
    """Why no possible firm qualifies, said with the description's own codes where the engine can read them
    (行业 软件和信息技术服务业, not the 小类 that stood for it), else with the first possible firm's."""
    coarse = {name: codes[0] for name, codes in partial.within.items() if len(codes) == 1}
    if coarse:
        world = {**results[0][0], **coarse}
        ev = _evaluate(spec.conditions, partial, world, as_of)
        if ev.value is False:
            return tuple(ev.trace)
    return tuple(results[0][1].trace)


# -- the axes of the possible worlds ------------------------------------------------------------------------


def _axes(rule, partial: Partial, as_of: dt.date) -> list[tuple[str, tuple]]:
    """``(field, values)`` for each field the description leaves open and the rule reads, directly or through
    a derived field it does not choose."""
    used = fields_used(rule)
    reads = set(used)
    for name in used:
        if name in DERIVED and name not in partial.choices:
            reads |= set(DERIVED[name].inputs)
    literals = _literals(rule)
    axes: list[tuple[str, tuple]] = []
    for name, codes in sorted(partial.within.items()):
        if name in reads:
            grouped = name == "industry" and "scale" in used and "scale" not in partial.choices
            axes.append((name, _representatives(name, tuple(codes), _tree_literals(name, literals), grouped)))
    for name, (low, high) in sorted(partial.ranges.items()):
        if name in reads:
            axes.append((name, _range_points(name, low, high, literals, "age_years" in used, as_of)))
    for name, options in sorted(partial.choices.items()):
        if name in reads:
            axes.append((name, tuple(options)))
    if partial.held is not None and "qualifications" in reads:
        named = sorted({x for x in literals if isinstance(x, str) and x in catalog.QUALIFICATIONS} - partial.held)
        subsets = itertools.chain.from_iterable(itertools.combinations(named, k) for k in range(len(named) + 1))
        axes.append(("qualifications", tuple(frozenset(partial.held) | frozenset(s) for s in subsets)))
    return axes


def _literals(rule) -> set:
    """Every scalar written in a rule, but the names read by ``var``."""
    out: set = set()
    stack = [rule]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for op, args in node.items():
                if op != "var":
                    stack.append(args)
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, (str, int, float, Decimal)) and not isinstance(node, bool):
            out.add(node)
    return out


def _tree(name: str):
    return industries() if name == "industry" else regions()


def _tree_literals(name: str, literals: set) -> tuple[str, ...]:
    tree = _tree(name)
    return tuple(sorted({tree.canonical(x) for x in literals if isinstance(x, str) and x in tree}))


@lru_cache(maxsize=256)
def _leaves(name: str, code: str) -> tuple[str, ...]:
    """The codes a firm registers under inside ``code``: 小类 for industry; districts, counties and the zones
    that keep their own register for region."""
    tree = _tree(name)
    if name == "industry":
        return tuple(i.code for i in tree if i.level == 3 and tree.is_within(i.code, code))
    found = [r.code for r in tree if tree.is_registration_level(r.code) and tree.is_within(r.code, code)]
    found += [z.code for z in tree.zones() if z.registrable and tree.is_within(z.code, code)]
    return tuple(sorted(set(found)))


@lru_cache(maxsize=4096)
def _representatives(name: str, codes: tuple[str, ...], literals: tuple[str, ...], grouped: bool) -> tuple:
    """One registration-level code inside ``codes`` per pattern of being within the literals (and, when
    ``grouped``, per 划型 group)."""
    from matcher.scale import group

    tree = _tree(name)
    seen: dict[tuple, str] = {}
    for code in codes:
        for leaf in _leaves(name, code):
            key = tuple(tree.is_within(leaf, lit) for lit in literals)
            if grouped:
                g = group(leaf)
                key += (g.name if g else None,)
            seen.setdefault(key, leaf)
    return tuple(seen.values())


def _anniversary(day: dt.date, years: int) -> dt.date:
    """The latest 成立日期 that makes a firm ``years`` whole years old on ``day``."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _range_points(name: str, low, high, literals: set, ages: bool, as_of: dt.date) -> tuple:
    kind = catalog.FIELDS[name].type
    if kind == "date":
        low = low or OLDEST
        high = high or as_of
        points = {low, high}
        for x in literals:
            d = _as_date(x)
            if d is not None:
                points |= {d - dt.timedelta(days=1), d, d + dt.timedelta(days=1)}
            if ages and isinstance(x, int) and 0 <= x <= 200:  # an age threshold: the anniversary it falls on
                edge = _anniversary(as_of, x)
                points |= {edge, edge + dt.timedelta(days=1)}
        return tuple(sorted(p for p in points if low <= p <= high))
    step = Decimal(1) if kind == "count" else Decimal("0.01")
    numbers = [n for n in (_as_number(x) for x in literals) if n is not None]
    low = Decimal(low) if low is not None else Decimal(0)
    high = Decimal(high) if high is not None else max([low, *numbers]) + step
    points = {low, high}
    for n in numbers:
        points |= {n - step, n, n + step}
    kept = sorted(p for p in points if low <= p <= high)
    return tuple(int(p) for p in kept) if kind == "count" else tuple(p.quantize(step) for p in kept)


def _as_date(x) -> dt.date | None:
    if isinstance(x, str) and len(x) == 10:
        try:
            return dt.date.fromisoformat(x)
        except ValueError:
            return None
    return None


def _as_number(x) -> Decimal | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, Decimal)):
        return Decimal(x)
    if isinstance(x, float):
        return Decimal(repr(x))
    if isinstance(x, str):
        try:
            value = Decimal(x)
        except InvalidOperation:
            return None
        return value if value.is_finite() else None
    return None


__all__ = ["Partial", "PartialDecision", "decide_partial", "MAX_WORLDS"]
