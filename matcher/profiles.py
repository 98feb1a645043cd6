"""An enterprise's derived tags: what the catalog's facts say it is, in the tag taxonomy's ids.

Rules, not a model: 企业规模 by the official thresholds, 成立年限 band, registration region and its
ancestors, industry and its ancestors (门类 → 小类), qualifications (rosters included, as the facts
that count say). A fact that is unknown gives no tag: an absent tag never claims the firm lacks it.
"""

from __future__ import annotations

import datetime as dt

from graph.tags import age_band, ancestors, tag_id
from matcher.catalog import tag_taxonomy
from matcher.registry import derive


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
    if computed.get("age_years") is not None:
        out.append(tag_id("age", age_band(computed["age_years"])))
    for q in sorted(facts.get("qualifications") or ()):
        out.append(tag_id("qualification", q))
    return out
