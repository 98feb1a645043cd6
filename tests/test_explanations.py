"""Every rule explains itself in Chinese, in the unit of what it compares; every decision survives JSON."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from graph import industries
from matcher import catalog
from matcher.decision import Decision, decide
from matcher.errors import MatcherError
from matcher.settlement import unmet
from matcher.spec import SpecErrors, parse_spec

AS_OF = dt.date(2026, 6, 30)
D = Decimal
V = lambda name: {"var": name}  # noqa: E731
BASE = {
    "id": "explain-test",
    "name": "解释测试",
    "document": "办法",
    "document_number": "测〔2026〕1号",
    "department": "测试局",
    "region": "320100",
    "valid_from": "2026-01-01",
    "valid_to": "2026-12-31",
    "target": "企业",
    "topics": ["测试"],
    "mode": "instant",
    "time_limit_days": 1,
    "benefit_type": "subsidy",
    "period": "annual",
    "budget": "1000000.00",
    "materials": [],
    "amount": {"formula": "1000.00"},
    "tests": [{"name": "x", "facts": {}, "expect": {"decision": "undetermined"}}],
}


def spec(rule, amount=None):
    return parse_spec(dict(BASE, conditions=rule, amount=amount or BASE["amount"]))


def conditions(d: Decision) -> list[str]:
    return [leaf.sentence for leaf in d.trace]


def test_an_or_shows_the_branch_that_held_or_the_nearest_one():
    rule = {
        "or": [
            {"and": [{">=": [V("employees"), 100]}, {">=": [V("revenue"), "50000000"]}]},
            {">=": [V("invention_patents"), 10]},
        ]
    }
    held = decide(spec(rule), {"employees": 20, "revenue": D("1000000.00"), "invention_patents": 12}, AS_OF)
    assert held.outcome == "eligible" and conditions(held) == ["有效发明专利数 12件，达到要求的 10件"]
    near = decide(spec(rule), {"employees": 120, "revenue": D("48000000.00"), "invention_patents": 1}, AS_OF)
    assert near.outcome == "not_eligible"
    assert conditions(near) == ["上年度营业收入 4,800万元，低于要求的 5,000万元，还差 200万元"]  # one miss, not two


def test_distances_read_in_the_unit_of_what_is_compared():
    cases = [
        ({">=": [V("rd_ratio"), "3"]}, {"rd_expense": D("250000.00"), "revenue": D("10000000.00")}, "还差 0.5个百分点"),
        ({">=": [V("employees"), 50]}, {"employees": 47}, "从业人员数 47人，低于要求的 50人，还差 3人"),
        ({"<=": [V("age_years"), 5]}, {"established_on": dt.date(2018, 1, 1)}, "成立年限 8年，超过上限 5年，超出 3年"),
        (
            {">=": [{"-": [V("revenue"), V("revenue_prev")]}, "20000000"]},
            {"revenue": D("60000000.00"), "revenue_prev": D("50000000.00")},
            "上年度营业收入 − 前年度营业收入 1,000万元，低于要求的 2,000万元，还差 1,000万元",
        ),  # fmt: skip
        ({"<": [V("revenue_growth"), "10"]}, {"revenue": D("125.00"), "revenue_prev": D("100.00")}, "超出 15个百分点"),
    ]
    for rule, facts, words in cases:
        d = decide(spec(rule), facts, AS_OF)
        assert d.outcome == "not_eligible" and any(words in r for r in d.reasons), (words, d.reasons)


def test_the_amount_explains_each_step():
    amount = {"formula": {"*": [{"-": [V("rd_expense"), V("rd_expense_prev")]}, "0.1"]}, "cap": "3000000.00"}
    facts = {"rd_expense": D("60000000.00"), "rd_expense_prev": D("10000000.00")}
    d = decide(spec({">=": [V("rd_expense"), "0"]}, amount), facts, AS_OF)
    assert [s.kind for s in d.steps] == ["formula", "cap"]
    assert d.steps[0].sentence == "（上年度研发费用 6,000万元 − 前年度研发费用 1,000万元）× 10% = 500万元"
    assert d.steps[1].sentence == "超过上限，按上限 300万元" and d.amount == D("3000000.00")
    tiers = {"formula": {"if": [{">=": [V("rd_expense"), "10000000"]}, "1000000", "500000"]}, "floor": "600000.00"}
    t = decide(spec({">=": [V("rd_expense"), "0"]}, tiers), {"rd_expense": D("3000000.00")}, AS_OF)
    assert t.steps[0].sentence == "上年度研发费用 300万元，低于要求的 1,000万元，还差 700万元：按 50万元"
    assert t.steps[1].sentence == "低于下限，按下限 60万元"
    odd = {"formula": {"*": [V("revenue"), "0.00333"]}, "rounding": "down"}
    r = decide(spec({">=": [V("revenue"), "0"]}, odd), {"revenue": D("1234567.00")}, AS_OF)
    assert r.steps[-1].sentence == "按舍去保留到分：4,111.10元" and r.amount == D("4111.10")


def test_undetermined_names_the_facts_to_declare_by_their_labels():
    d = decide(spec({">=": [V("rd_ratio"), "3"]}), {"revenue": D("1000000.00")}, AS_OF)
    assert d.outcome == "undetermined" and d.missing == ("rd_expense",)
    assert d.missing_labels == ["上年度研发费用"] and unmet(d) == "需补充：上年度研发费用"
    assert d.reasons == ["研发投入强度无法计算：上年度研发费用未提供，请补充申报"]


# -- the property: random specs from the grammar × random facts ----------------------------

NUMERIC = [f for f in catalog.FIELDS.values() if f.numeric]
MONEY = [f.name for f in NUMERIC if f.type == "money"]
LIMITS = {"money": st.integers(0, 10**9).map(str), "count": st.integers(0, 500), "percent": st.integers(-50, 100)}


@st.composite
def quantity(draw):
    f = draw(st.sampled_from(NUMERIC))
    if f.type == "money" and draw(st.booleans()):
        other = draw(st.sampled_from(MONEY))
        return {draw(st.sampled_from(["-", "+"])): [V(f.name), V(other)]}, "money"
    if f.type == "money" and draw(st.booleans()):
        return {"*": [V(f.name), draw(st.sampled_from(["0.1", "0.05", "1.5"]))]}, "money"
    return V(f.name), f.type


@st.composite
def leaf(draw):
    kinds = ["compare", "compare", "in", "not", "region", "industry", "qualification", "date", "records"]
    kind = draw(st.sampled_from(kinds))
    if kind == "compare":
        side, t = draw(quantity())
        return {draw(st.sampled_from([">=", ">", "<=", "<", "==", "!="])): [side, draw(LIMITS[t])]}
    if kind == "in":
        name = draw(st.sampled_from(["scale", "listed_status"]))
        choices = catalog.FIELDS[name].choices
        return {"in": [V(name), draw(st.lists(st.sampled_from(choices), min_size=1, max_size=3, unique=True))]}
    if kind == "not":
        return {"!": V(draw(st.sampled_from(["on_dishonesty_list", "in_abnormal_operation"])))}
    if kind == "region":
        return {"in_region": [V("region"), draw(st.sampled_from(["320100", "320102", "440300", "320000"]))]}
    if kind == "industry":
        return {"in_industry": [V("industry"), draw(st.sampled_from(["C", "C39", "I65", "C3911"]))]}
    if kind == "qualification":
        return {"has_qualification": [V("qualifications"), draw(st.sampled_from(list(catalog.QUALIFICATIONS)))]}
    if kind == "records":
        hire = {draw(st.sampled_from([">=", "<"])): [V("age"), draw(st.integers(16, 40))]}
        if draw(st.booleans()):
            return {draw(st.sampled_from(["some", "all", "none"])): [V("new_hires"), hire]}
        counted = {"reduce": [{"filter": [V("new_hires"), hire]}, {"+": [V("accumulator"), 1]}, 0]}
        return {draw(st.sampled_from([">=", "<", "=="])): [counted, draw(st.integers(0, 3))]}
    return {draw(st.sampled_from(["before", "after"])): [V("established_on"), "2020-01-01"]}


rules = st.recursive(
    leaf(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=4).map(lambda xs: {"and": xs}),
        st.lists(inner, min_size=1, max_size=4).map(lambda xs: {"or": xs}),
        inner.map(lambda x: {"!": x}),
    ),
    max_leaves=10,
)
formulas = st.one_of(
    st.integers(0, 10**7).map(lambda n: f"{n}.00"),
    st.sampled_from(MONEY).map(lambda m: {"*": [V(m), "0.1"]}),
    st.tuples(leaf(), st.integers(0, 10**6), st.integers(0, 10**6)).map(lambda x: {"if": [x[0], str(x[1]), str(x[2])]}),
    st.sampled_from(MONEY).map(lambda m: {"min": [V(m), "5000000"]}),
    st.just({"*": [{"reduce": [V("new_hires"), {"+": [V("accumulator"), 1]}, 0]}, 1500]}),
)


def value_of(f: catalog.Field):
    if f.type == "money":
        return st.integers(0, 10**10).map(lambda c: D(c) / 100)
    if f.type == "count":
        return st.integers(0, 2000)
    if f.type == "bool":
        return st.booleans()
    if f.type == "enum":
        return st.sampled_from(f.choices)
    if f.type == "set":
        return st.frozensets(st.sampled_from(f.choices), max_size=3)
    if f.type == "date":
        return st.dates(dt.date(1990, 1, 1), AS_OF)
    if f.type == "region":
        return st.sampled_from(["320102", "320104", "440305", "110101"])
    if f.type == "records":
        record = st.fixed_dictionaries({s.name: st.none() | value_of(s) for s in f.fields})
        return st.lists(record, max_size=4).map(tuple)
    if f.type == "industry":
        return st.sampled_from(SMALL_CLASSES)
    return st.text(min_size=1, max_size=8)


SMALL_CLASSES = sorted(i.code for i in industries().at_level(3))[::40]  # 小类 across every 门类, J included
FACTS = {f.name: f for f in catalog.FACT_FIELDS if f.type not in ("uscc", "text")}
facts_strategy = st.fixed_dictionaries({}, optional={name: value_of(f) for name, f in FACTS.items()})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=rules, formula=formulas, cap=st.none() | st.just("800000.00"), facts=facts_strategy)
def test_every_decision_explains_itself_and_survives_json(rule, formula, cap, facts):
    try:
        s = spec(rule, {"formula": formula, **({"cap": cap} if cap else {})})
    except SpecErrors:
        assume(False)
    try:
        d = decide(s, facts, AS_OF)
    except MatcherError:  # a rule that cannot be evaluated for these facts says so with its path
        return
    text = json.dumps(d.to_json(), ensure_ascii=False)  # no Decimal, date or set left in it
    assert Decision.from_json(json.loads(text)) == d
    for sentence in d.reasons:
        assert sentence and not re.search(r"None|Decimal|\[|'|[a-z]{3,}_[a-z]", sentence), sentence
    if d.outcome == "undetermined":
        assert d.missing and all(label in catalog.FIELDS[n].label for n, label in zip(d.missing, d.missing_labels))
    if d.outcome == "eligible":
        assert d.steps and d.steps[-1].value.startswith(str(d.amount.normalize()).split(".")[0][:1])


def test_a_strict_bound_met_exactly_says_no_zero_distance():
    import datetime as dt
    from decimal import Decimal

    from matcher.engine import evaluate_rule

    over = evaluate_rule(
        {">": [{"var": "revenue"}, 1000000]}, {"revenue": Decimal("1000000.00")}, as_of=dt.date(2026, 6, 30)
    )
    (leaf,) = over.trace
    assert over.value is False and leaf.sentence == "上年度营业收入 100万元，未超过要求的 100万元"
    assert "0.00" not in leaf.sentence


def test_a_yes_no_field_standing_alone_as_a_condition_is_explained():
    import datetime as dt

    from matcher.engine import evaluate_rule

    rule = {"and": [{"var": "rd_super_deduction"}, {">=": [{"var": "employees"}, 1]}]}
    day = dt.date(2026, 6, 30)
    no = evaluate_rule(rule, {"rd_super_deduction": False, "employees": 3}, as_of=day)
    assert no.value is False and [leaf.sentence for leaf in no.trace] == ["上年度已申报享受研发费用加计扣除：否"]
    unknown = evaluate_rule(rule, {"employees": 3}, as_of=day)
    assert unknown.missing == {"rd_super_deduction"} and "上年度已申报享受研发费用加计扣除" in unknown.trace[0].sentence
