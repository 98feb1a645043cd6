"""Rule progress never disagrees with the decision: a firm with an unmet condition is not eligible, one
with all met is eligible (or undetermined for its amount's data only), unknowns make it undetermined."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal

from matcher import catalog
from matcher.progress import rule_progress
from service.synth import policies
from service.synth.params import REFERENCE_DATE


def firms_of(world, n: int) -> list[dict]:
    """The typed facts of the first ``n`` firms of a generated city, as its CSV gives them."""
    with open(world / "enterprises.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:n]
    return [
        {k: catalog.parse_value(k, v, today=REFERENCE_DATE) for k, v in r.items() if k in catalog.FIELDS and v != ""}
        for r in rows
    ]


def test_progress_agrees_with_the_decision_on_a_generated_city(small_world):
    firms = firms_of(small_world, 120)
    for facts in firms:  # the rosters on record settle what they do not list (docs/rosters.md)
        for name, f in catalog.FIELDS.items():
            if f.absence == "roster" and name not in facts:
                facts[name] = frozenset() if f.type == "set" else False
    specs = [policies.to_spec(s) for s in policies.build("南京市", REFERENCE_DATE)]
    seen = set()
    for spec in specs:
        for facts in firms:
            p = rule_progress(spec, facts, REFERENCE_DATE)
            seen.add(p.outcome)
            assert 0.0 <= p.share_met <= 1.0
            if p.unmet:
                assert p.outcome == "not_eligible"
            elif p.unknown:
                assert p.outcome == "undetermined"
            else:
                assert p.outcome in ("eligible", "undetermined")
            if p.outcome == "eligible":
                assert p.amount is not None
    assert seen == {"eligible", "not_eligible", "undetermined"}


def test_the_gap_and_the_estimate_of_a_near_miss():
    spec = next(
        policies.to_spec(s) for s in policies.build("南京市", REFERENCE_DATE) if s["id"] == "yanfa-feiyong-buzhu"
    )
    facts = {
        "region": "320114",
        "industry": "C3911",
        "rd_expense": Decimal("900000.00"),
        "rd_ratio": Decimal("5"),
        "on_dishonesty_list": False,
        "in_abnormal_operation": False,
    }
    p = rule_progress(spec, facts, dt.date(2026, 6, 30))
    assert p.outcome == "not_eligible" and p.unmet == 1 and p.nearest_gap == 0.1  # 还差 10万 of 100万
    assert p.amount == Decimal("72000.00")  # what the formula gives: an estimate, never a payout
    assert any("还差 10万元" in leaf.sentence for leaf in p.leaves)


def test_columns_agree_with_the_scalar_progress(small_world):
    import numpy as np

    from matcher.columnar import Table
    from matcher.progress import progress_columns

    firms = firms_of(small_world, 150)
    table = Table.from_records(firms, REFERENCE_DATE)
    codes = {"eligible": 1, "not_eligible": 0, "undetermined": -1}
    for spec in (policies.to_spec(s) for s in policies.build("南京市", REFERENCE_DATE)):
        cols = progress_columns(spec, table)
        for i, facts in enumerate(firms):
            p = rule_progress(spec, facts, REFERENCE_DATE)
            assert (cols["met"][i], cols["unmet"][i], cols["unknown"][i]) == (p.met, p.unmet, p.unknown), spec.id
            assert cols["outcome"][i] == codes[p.outcome], spec.id
            if p.outcome == "eligible":
                assert cols["amount"][i] == float(p.amount)
            elif p.amount is not None:
                assert np.isclose(cols["amount"][i], float(p.amount), rtol=1e-9), spec.id
