"""The city's policy specs, with test cases computed by the rule evaluator.

The measures themselves are data (:mod:`.catalogue`, ``templates/*.yaml``);
each comes with an example enterprise that qualifies and a change that makes
it not qualify. From those this module writes each spec's test cases, with
the exact Decimal evaluator in :mod:`service.synth.evaluate`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np

from graph import regions
from matcher import catalog
from matcher.decision import typed_facts
from service.synth import catalogue
from service.synth.evaluate import decide

# Base facts of an example enterprise; each policy overrides what it needs.
BASE = {
    "industry": "C3911",
    "established_on": dt.date(2015, 3, 1),
    "registered_capital": Decimal("10000000.00"),
    "employees": 120,
    "insured_employees": 110,
    "revenue": Decimal("50000000.00"),
    "revenue_prev": Decimal("40000000.00"),
    "total_assets": Decimal("60000000.00"),
    "tax_paid": Decimal("2000000.00"),
    "rd_expense": Decimal("3000000.00"),
    "unemployment_insurance_paid": Decimal("50000.00"),
    "graduates_hired": 6,
    "skill_certificates": 10,
    "invention_patents": 8,
    "loan_interest_paid": Decimal("800000.00"),
    "qualifications": frozenset({"high_tech"}),
    "listed_status": "unlisted",
    "on_dishonesty_list": False,
    "in_abnormal_operation": False,
}
# Fields a test case prefers to leave out for its "undetermined" case: the ones
# really missing for many firms, so the case shows what a firm must declare.
OFTEN_MISSING = (
    "rd_expense",
    "loan_interest_paid",
    "skill_certificates",
    "revenue_prev",
    "digital_diagnosis_fee",
    "smart_manufacturing_level",
    "graduates_hired",
    "revenue",
    "unemployment_insurance_paid",
    "total_assets",
)
# What a derived field is computed from (test facts must carry the inputs).
DERIVED_INPUTS = {
    "scale": ("industry", "employees", "revenue", "total_assets"),
    "age_years": ("established_on",),
    "rd_ratio": ("rd_expense", "revenue"),
    "revenue_growth": ("revenue", "revenue_prev"),
}


def _facts_for(spec: dict, facts: dict) -> dict:
    """The facts a test case needs: the fields the rules read, derived ones by their inputs."""
    from matcher.rulecheck import fields_used

    used = fields_used(spec["conditions"]) | fields_used(spec["amount"]["formula"])
    needed = set()
    for name in used:
        needed.update(DERIVED_INPUTS.get(name, (name,)))
    return {k: facts[k] for k in sorted(needed) if k in facts}


def host_districts(city_name: str) -> dict:
    """The district that leans most towards each kind of firm (hosts that kind's district measure)."""
    from service.synth.enterprises import city_districts

    _, districts, _, affinity = city_districts(city_name)
    return {g: districts[int(np.argmax(a))] for g, a in affinity.items()}


def _say(facts: dict, names) -> str:
    """'上年度研发费用为300万元、企业资质为高新技术企业' for the named facts."""
    return "、".join(f"{catalog.FIELDS[k].label}为{catalog.label_value(k, facts[k])}" for k in names if k in facts)


def _basis(spec: dict, facts: dict) -> list[str]:
    """The facts an amount rests on: the formula's inputs, else the conditions' (no region/credit)."""
    from matcher.rulecheck import fields_used

    def inputs(rule):
        out = []
        for name in sorted(fields_used(rule)):
            out += [n for n in DERIVED_INPUTS.get(name, (name,)) if n not in out]
        return [n for n in out if n not in ("region", "on_dishonesty_list", "in_abnormal_operation")]

    formula = spec["amount"]["formula"]
    names = inputs(formula) if isinstance(formula, dict) else []
    return (names or inputs(spec["conditions"]))[:2]


def build(city_name: str, as_of: dt.date) -> list[dict]:
    """Specs (dicts ready for YAML) with test cases computed by the exact evaluator.

    Each spec gets an eligible case with its amount (from an example firm), a
    not-eligible case (the example with one fact changed) and, where one
    missing fact makes the decision undetermined, a case naming what to declare.
    """
    tree = regions()
    city = tree.city(city_name) if not city_name.isdigit() else tree.get(city_name)
    city_name = city.name
    districts = host_districts(city_name)
    specs = []
    for raw in catalogue.catalogue(city_name, city.code, districts):
        example, counter = typed_facts(raw.pop("_example"), as_of), typed_facts(raw.pop("_counter"), as_of)
        facts = _facts_for(raw, {**BASE, **example})
        decision, amount, _ = decide(raw, facts, as_of)
        if decision != "eligible":
            raise AssertionError(f"{raw['id']}: example enterprise is {decision}")
        cases = [
            {
                "name": f"{_say(facts, _basis(raw, facts))}的企业符合条件，金额 {amount:.2f} 元",
                "as_of": as_of,
                "facts": facts,
                "expect": {"decision": "eligible", "amount": f"{amount:.2f}"},
            }
        ]
        if counter:
            bad = _facts_for(raw, {**BASE, **example, **counter})
            bad_decision, _, _ = decide(raw, bad, as_of)
            if bad_decision != "not_eligible":
                raise AssertionError(f"{raw['id']}: counter-example is {bad_decision}")
            cases.append(
                {
                    "name": f"{_say(bad, list(counter))}时不符合条件",
                    "as_of": as_of,
                    "facts": bad,
                    "expect": {"decision": "not_eligible"},
                }
            )
        credit = ("on_dishonesty_list", "in_abnormal_operation")
        order = sorted(
            facts,
            key=lambda k: (
                OFTEN_MISSING.index(k) if k in OFTEN_MISSING else len(OFTEN_MISSING),
                catalog.FIELDS[k].required,
                k in credit,
                k,
            ),
        )
        for drop in order:
            if drop == "region":
                continue
            partial = {k: v for k, v in facts.items() if k != drop}
            d, _, missing = decide(raw, partial, as_of)
            if d == "undetermined":
                need = "、".join(catalog.FIELDS[m].label for m in missing)
                cases.append(
                    {
                        "name": f"缺少{catalog.FIELDS[drop].label}时结果待定，需补充申报{need}",
                        "as_of": as_of,
                        "facts": partial,
                        "expect": {"decision": "undetermined", "missing": missing},
                    }
                )
                break
        if len(cases) < 2:
            raise AssertionError(f"{raw['id']}: fewer than two test cases")
        raw["tests"] = cases
        specs.append(raw)
    return specs


def to_yaml_data(spec: dict) -> dict:
    """Plain YAML-friendly data: dates as YAML dates, money and typed facts as catalog text."""
    out = {k: v for k, v in spec.items() if v is not None and k != "tests"}
    out["tests"] = []
    for case in spec["tests"]:
        facts = {}
        for k, v in case["facts"].items():
            f = catalog.FIELDS[k]
            if f.type == "set":
                facts[k] = sorted(v)
            elif f.type in ("count", "bool", "date"):
                facts[k] = v
            else:
                facts[k] = catalog.format_value(k, v)
        out["tests"].append({"name": case["name"], "as_of": case["as_of"], "facts": facts, "expect": case["expect"]})
    return out
