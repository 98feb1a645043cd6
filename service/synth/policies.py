"""The city's policy specs, with test cases decided by the platform's own engine.

The measures themselves are data (:mod:`.catalogue`, ``templates/*.yaml``);
each comes with an example enterprise that qualifies and a change that makes
it not qualify. From those this module writes each spec's test cases with
:func:`matcher.decision.decide`, so the specs and the engine cannot disagree.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np

from graph import regions
from matcher import catalog
from matcher.decision import decide, typed_facts
from matcher.registry import DERIVED
from matcher.spec import PolicySpec, SpecErrors, parse_spec
from service.synth import catalogue

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
# What a derived field is computed from (test facts must carry the inputs): every
# fact it may read (for scale the industry and every indicator of the 办法).
DERIVED_INPUTS = {name: d.inputs for name, d in DERIVED.items()}
# parse_spec wants at least one test case; a draft carries this one while its
# real cases are computed (the finished spec is parsed again with them).
PENDING = {"name": "待计算", "facts": {}, "expect": {"decision": "undetermined"}}


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


class PolicyCountError(ValueError):
    """A number of policies the catalogue and the city's districts cannot make (the message gives the range)."""


def _city(city_name: str):
    tree = regions()
    return tree.city(city_name) if not city_name.isdigit() else tree.get(city_name)


def issuing_districts(city_name: str) -> list:
    """The city's districts in the order they issue their own versions of city measures (by code)."""
    from service.synth.enterprises import city_districts

    _, districts, _, _ = city_districts(city_name)
    return sorted(districts, key=lambda d: d.code)


def capacity(city_name: str) -> tuple[int, int]:
    """(the catalogue's size, the most policies a city can have): the catalogue plus every district's own
    version of every city-wide measure."""
    city = _city(city_name)
    templates = catalogue.templates()
    wide = sum(catalogue.city_wide(t) for _, t in templates)
    return len(templates), len(templates) + len(issuing_districts(city.name)) * wide


def check_count(city_name: str, total: int) -> None:
    """:class:`PolicyCountError` unless a city can have ``total`` policies (:func:`capacity`)."""
    base, most = capacity(city_name)
    if total < base:
        raise PolicyCountError(f"政策数量 {total} 少于政策目录的 {base} 项：应为 {base}–{most}")
    if total > most:
        city = _city(city_name)
        wide = sum(catalogue.city_wide(t) for _, t in catalogue.templates())
        raise PolicyCountError(
            f"政策数量 {total} 超出{city.name}最多可生成的 {most} 项"
            f"（政策目录 {base} 项，加 {len(issuing_districts(city.name))} 个区县各 {wide} 项市级政策的区级版本）"
        )


def district_versions(city_name: str, count: int) -> list[dict]:
    """The first ``count`` district versions of city-wide measures (:func:`.catalogue.district_version`):
    district by district (by code), each re-issuing the city-wide templates in catalogue order. Each carries
    ``_of``, the id of the city measure it re-issues (never written)."""
    wide = [(name, t) for name, t in catalogue.templates() if catalogue.city_wide(t)]
    districts = issuing_districts(city_name)
    if len({catalogue.version_id("", d) for d in districts}) < len(districts):
        raise ValueError(f"{city_name} 的区县代码后两位重复，无法为区级版本编号")
    out = []
    for district in districts:
        for name, t in wide:
            if len(out) == count:
                return out
            out.append({**catalogue.district_version(t, district, name), "_of": t["id"]})
    return out


def build(city_name: str, as_of: dt.date, total: int | None = None) -> list[dict]:
    """Specs (dicts ready for YAML) of every measure for a city, with their test cases.

    ``total``: that many policies — the catalogue, then districts' own versions
    of city-wide measures (:func:`district_versions`); None: the catalogue.
    """
    city = _city(city_name)
    if total is not None:
        check_count(city.name, total)
    districts = host_districts(city.name)
    raws = catalogue.catalogue(city.name, city.code, districts)
    if total is not None:
        raws += district_versions(city.name, total - len(raws))
    specs = []
    for raw in raws:
        example, counter = typed_facts(raw.pop("_example"), as_of), typed_facts(raw.pop("_counter"), as_of)
        raw["tests"] = _cases(raw, example, counter, as_of)
        to_spec(raw)  # what is written, the platform loads
        specs.append(raw)
    return specs


def to_spec(spec: dict) -> PolicySpec:
    """The platform's parsed spec of a built one."""
    return _parse(to_yaml_data(spec), spec["id"])


def _draft(spec: dict) -> PolicySpec:
    """The spec before its test cases exist (:func:`parse_spec` wants one: a placeholder stands in)."""
    return _parse({**to_yaml_data(spec), "tests": [PENDING]}, spec["id"])


def _parse(data: dict, sid: str) -> PolicySpec:
    try:
        return parse_spec(data, source=sid)
    except SpecErrors as e:
        raise catalogue.TemplateError(f"政策模板 {sid} 生成的政策文件无效：{e}") from None


def _cases(spec: dict, example: dict, counter: dict, as_of: dt.date) -> list[dict]:
    """Test cases decided by the platform's engine (:func:`matcher.decision.decide`).

    An eligible case with its amount (the example firm), a not-eligible case
    (the example with the counter-example's facts) and, where one missing fact
    makes the decision undetermined, a case naming what to declare.
    """
    draft = _draft(spec)
    facts = _facts_for(spec, {**BASE, **example})
    decision = decide(draft, facts, as_of)
    if decision.outcome != "eligible":
        raise catalogue.TemplateError(f"政策模板 {spec['id']}：示例企业的结果为 {decision.outcome}，应为 eligible")
    amount = f"{decision.amount:.2f}"
    cases = [
        {
            "name": f"{_say(facts, _basis(spec, facts))}的企业符合条件，金额 {amount} 元",
            "as_of": as_of,
            "facts": facts,
            "expect": {"decision": "eligible", "amount": amount},
        }
    ]
    if counter:
        bad = _facts_for(spec, {**BASE, **example, **counter})
        outcome = decide(draft, bad, as_of).outcome
        if outcome != "not_eligible":
            raise catalogue.TemplateError(f"政策模板 {spec['id']}：反例的结果为 {outcome}，应为 not_eligible")
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
        d = decide(draft, partial, as_of)
        if d.outcome == "undetermined":
            need = "、".join(catalog.FIELDS[m].label for m in d.missing)
            cases.append(
                {
                    "name": f"缺少{catalog.FIELDS[drop].label}时结果待定，需补充申报{need}",
                    "as_of": as_of,
                    "facts": partial,
                    "expect": {"decision": "undetermined", "missing": list(d.missing)},
                }
            )
            break
    if len(cases) < 2:
        raise catalogue.TemplateError(f"政策模板 {spec['id']}：测试用例少于两个（请给出 counter）")
    return cases


def to_yaml_data(spec: dict) -> dict:
    """Plain YAML-friendly data: dates as YAML dates, money and typed facts as catalog text."""
    out = {k: v for k, v in spec.items() if v is not None and k != "tests" and not k.startswith("_")}
    out["tests"] = []
    for case in spec.get("tests", ()):
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
