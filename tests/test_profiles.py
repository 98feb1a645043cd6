"""Derived enterprise tags (issue 12, point 3): what the facts say a firm is, and nothing they do not."""

import datetime as dt
from decimal import Decimal

from matcher.profiles import derived_tags

AS_OF = dt.date(2026, 6, 30)


def test_a_firm_is_tagged_by_its_trees_scale_age_and_qualifications():
    facts = {
        "industry": "C3911",
        "region": "320114",
        "established_on": dt.date(2022, 3, 1),
        "employees": 120,
        "revenue": Decimal("30000000.00"),
        "qualifications": frozenset({"srdi_sme", "high_tech"}),
    }
    assert derived_tags(facts, AS_OF) == [
        "industry:C",
        "industry:C39",
        "industry:C391",
        "industry:C3911",
        "region:320000",
        "region:320100",
        "region:320114",
        "scale:small",
        "age:3-5",
        "qualification:high_tech",
        "qualification:srdi_sme",
    ]


def test_unknown_facts_give_no_tag_and_a_known_empty_roster_none():
    facts = {"industry": "C3911", "region": "320114", "qualifications": frozenset()}
    tags = derived_tags(facts, AS_OF)
    assert not any(t.startswith(("scale:", "age:", "qualification:")) for t in tags)
    assert derived_tags({"industry": "J6621", "region": "320114"}, AS_OF)[-1] == "scale:unclassified"
