"""An enterprise's derived tags: what the catalog's facts say it is, in the tag taxonomy's ids.

Rules, not a model: 企业规模 by the official thresholds, 成立年限 band, registration region and its
ancestors, industry and its ancestors (门类 → 小类), qualifications (rosters included, as the facts
that count say). A fact that is unknown gives no tag: an absent tag never claims the firm lacks it.
"""

from __future__ import annotations

import datetime as dt

from graph.tags import age_band, ancestors, tag_id
from matcher.catalog import NONE_WORDS, tag_taxonomy
from matcher.registry import derive


def known_kinds(facts: dict) -> frozenset[str]:
    """Tag kinds the facts settle even where they give no tag (a firm known to hold no qualification)."""
    return frozenset({"qualification"} if facts.get("qualifications") is not None else ())


def derived_tags(facts: dict, as_of: dt.date) -> list[str]:
    """The tag ids the typed ``facts`` give as of a date, each tree's tags from the root down."""
    tags = tag_taxonomy()
    computed = derive(facts, as_of)
    out: list[str] = []
    for kind, code in (("industry", facts.get("industry")), ("region", facts.get("region"))):
        if code:
            here = tag_id(kind, code)
            out += [t.id for t in reversed(ancestors(tags, here))] + [here]
    if computed.get("scale") is not None:
        out.append(tag_id("scale", computed["scale"]))
    if computed.get("age_years") is not None and computed["age_years"] >= 0:
        out.append(tag_id("age", age_band(computed["age_years"])))
    for q in sorted(facts.get("qualifications") or ()):
        out.append(tag_id("qualification", q))
    return out


def table_tags(table) -> list[tuple[list[str], frozenset[str]]]:
    """:func:`derived_tags` and :func:`known_kinds` of every row of a columnar table (``matcher.columnar``),
    from its columns (the derived fields as the columnar engine computes them): a city at once."""
    tags = tag_taxonomy()
    chains: dict[str, list[str]] = {}

    def chain(kind: str, code: str) -> list[str]:
        here = tag_id(kind, code)
        found = chains.get(here)
        if found is None:
            found = chains[here] = [t.id for t in reversed(ancestors(tags, here))] + [here]
        return found

    industry, industry_known = table.text("industry")
    region, region_known = table.text("region")
    scale, scale_known = table.text("scale")
    age, age_known = table.numeric("age_years")
    quals, quals_known = table.text("qualifications")
    bands = {years: tag_id("age", age_band(years)) for years in range(0, 200)}
    out = []
    for i in range(len(table)):
        row: list[str] = []
        if industry_known[i] and industry[i]:
            row += chain("industry", str(industry[i]))
        if region_known[i] and region[i]:
            row += chain("region", str(region[i]))
        if scale_known[i]:
            row.append(tag_id("scale", str(scale[i])))
        if age_known[i] and age[i] >= 0:  # a firm registered after the date has no age yet
            years = int(age[i])
            row.append(bands[years] if years in bands else tag_id("age", age_band(years)))
        if quals_known[i] and quals[i]:
            row += [tag_id("qualification", q) for q in sorted(str(quals[i]).split(";")) if q and q not in NONE_WORDS]
        out.append((row, frozenset({"qualification"} if quals_known[i] else ())))
    return out


# -- a policy's targets ------------------------------------------------------------------------------

# operator -> the tag kind its literal names; ``in`` and ``==`` over these fields name them too
_TARGET_OPERATORS = {"in_region": "region", "in_industry": "industry", "has_qualification": "qualification"}
_TARGET_FIELDS = {"scale": "scale", "region": "region", "industry": "industry"}


def policy_targets(spec) -> list[tuple[str, int | None]]:
    """The tags a policy's conditions name, as ``(tag id, group)``: tags of one ``group`` form an any-of
    requirement that the conditions impose on every eligible firm (a firm known to hold none of them
    cannot be eligible); ``None`` is a tag only mentioned (inside an ``or`` of mixed kinds, say).

    Read from the conditions themselves, so candidates filter by what the rule engine decides on, never
    by a second copy of a rule. Negated conditions name no target."""
    out: list[tuple[str, int | None]] = []
    groups = iter(range(1_000_000))

    def named(node) -> list[str] | None:
        """The tags one simple condition requires (any of them), or None if it is not such a condition."""
        if not isinstance(node, dict) or len(node) != 1:
            return None
        ((op, args),) = node.items()
        if not isinstance(args, list) or len(args) != 2 or not isinstance(args[0], dict) or "var" not in args[0]:
            return None
        var, literal = args[0]["var"], args[1]
        if op in _TARGET_OPERATORS and isinstance(literal, str):
            return [_tag(_TARGET_OPERATORS[op], literal)]
        if var in _TARGET_FIELDS and op == "==" and isinstance(literal, str):
            return [_tag(_TARGET_FIELDS[var], literal)]
        strings = isinstance(literal, list) and all(isinstance(v, str) for v in literal)
        if var in _TARGET_FIELDS and op == "in" and strings:
            return [_tag(_TARGET_FIELDS[var], v) for v in literal]
        return None

    def kind(tags: list[str]) -> str:
        return tags[0].split(":", 1)[0]

    def walk(node, required: bool) -> None:
        if isinstance(node, list):
            for child in node:
                walk(child, required)
            return
        if not isinstance(node, dict) or len(node) != 1:
            return
        tags = named(node)
        if tags is not None:
            group = next(groups) if required else None
            out.extend((t, group) for t in tags)
            return
        ((op, args),) = node.items()
        if op == "and":
            walk(args, required)
        elif op == "or" and isinstance(args, list):
            parts = [named(child) for child in args]
            if required and parts and all(p is not None for p in parts) and len({kind(p) for p in parts}) == 1:
                group = next(groups)
                out.extend((t, group) for p in parts for t in p)
            else:
                walk(args, False)
        # !, if, comparisons of amounts and counts: no target

    walk(spec.conditions, True)
    seen, unique = set(), []
    for item in out:
        if item not in seen and item[0] is not None:
            seen.add(item)
            unique.append(item)
    return unique


def _tag(kind: str, code: str) -> str | None:
    tags = tag_taxonomy()
    if kind == "industry":
        from graph.taxonomy import industries

        tree = industries()
        code = tree.canonical(code) if code in tree else code
    tid = tag_id(kind, code)
    return tid if tid in tags else None
