"""Lists of records (新招用人员): filter / map / reduce / all / some / none in both engines, three-valued,
strict, explained, type-checked at publication, and the columnar answers exactly the scalar ones."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from policy_specs import assert_conditions_match_scalar, assert_sweep_matches_decide, scalar_verdict

from matcher import catalog
from matcher.columnar import Table, evaluate_conditions, sweep
from matcher.decision import decide
from matcher.engine import UNKNOWN, evaluate_rule
from matcher.errors import RuleError
from matcher.policytest import run_cases
from matcher.spec import SpecErrors, load_spec, parse_spec

AS_OF = dt.date(2026, 6, 30)
D = Decimal
V = lambda name: {"var": name}  # noqa: E731
KUOGANG = Path(__file__).parent / "records_policies" / "kuogang-buzhu.yaml"
COUNT = {"+": [V("accumulator"), 1]}


def hire(**kw):
    base = dict(
        hired_on="2026-03-01",
        age=22,
        graduate_year=2026,
        registered_unemployed=False,
        unemployed_months=0,
        labour_contract=True,
        insured_months=3,
        pension_insured=True,
        injury_insured=True,
    )
    base.update(kw)
    return base


def hires(*records):
    return catalog.parse_value("new_hires", list(records))


def count(lst):
    return {"reduce": [lst, COUNT, 0]}


QUALIFIES = {"and": [V("labour_contract"), {">=": [V("insured_months"), 3]}]}
QUALIFIED = {"filter": [V("new_hires"), QUALIFIES]}


def ev(rule, **facts):
    return evaluate_rule(rule, facts, as_of=AS_OF)


# -- three values ---------------------------------------------------------------------------------

YES, NO, GAP = hire(), hire(labour_contract=False), hire(insured_months=None)


@pytest.mark.parametrize(
    "records, some, all_, none",
    [
        ([], False, False, True),  # JsonLogic: all of an empty list is false
        ([YES], True, True, False),
        ([NO], False, False, True),
        ([YES, NO], True, False, False),
        ([YES, GAP], True, UNKNOWN, False),  # a record known true decides some; all waits for the gap
        ([NO, GAP], UNKNOWN, False, UNKNOWN),  # a record known false decides all
        ([GAP], UNKNOWN, UNKNOWN, UNKNOWN),
        (None, UNKNOWN, UNKNOWN, UNKNOWN),  # the list itself is missing
    ],
)
def test_quantifiers_are_three_valued(records, some, all_, none):
    facts = {} if records is None else {"new_hires": hires(*records)}
    for op, want in (("some", some), ("all", all_), ("none", none)):
        got = evaluate_rule({op: [V("new_hires"), QUALIFIES]}, facts, as_of=AS_OF)
        assert got.value is want, (op, records)
        assert got.missing == (frozenset({"new_hires"}) if want is UNKNOWN else frozenset())


def test_a_count_over_undecided_records_is_bounded():
    facts = {"new_hires": hires(YES, YES, GAP, NO)}  # 2 qualify, 1 undecided: between 2 and 3
    decided = {">=": 2, ">": 1, "<": 4, "<=": 3, "!=": 5}
    for op, n in decided.items():
        assert evaluate_rule({op: [count(QUALIFIED), n]}, facts, as_of=AS_OF).value is True, op
    assert evaluate_rule({">=": [count(QUALIFIED), 4]}, facts, as_of=AS_OF).value is False
    assert evaluate_rule({"==": [count(QUALIFIED), 7]}, facts, as_of=AS_OF).value is False
    for op, n in ((">=", 3), ("==", 2), ("<", 3)):
        out = evaluate_rule({op: [count(QUALIFIED), n]}, facts, as_of=AS_OF)
        assert out.value is UNKNOWN and out.missing == {"new_hires"}, op
    flipped = evaluate_rule({"<=": [1, count(QUALIFIED)]}, facts, as_of=AS_OF)
    assert flipped.value is True
    assert ev({"*": [count(QUALIFIED), 1500]}, **facts).value is UNKNOWN  # an amount needs the exact count
    assert ev({"*": [count(QUALIFIED), 1500]}, new_hires=hires(YES, YES, NO)).value == D(3000)


def test_sums_maps_and_other_reducers():
    facts = {"new_hires": hires(hire(age=20), hire(age=31), hire(age=25))}
    total = {"reduce": [V("new_hires"), {"+": [V("accumulator"), V("current.age")]}, 0]}
    assert ev(total, **facts).value == 76
    oldest = {"reduce": [{"map": [V("new_hires"), V("age")]}, {"max": [V("accumulator"), V("current")]}, 0]}
    assert ev(oldest, **facts).value == 31
    assert ev({"some": [{"map": [V("new_hires"), V("age")]}, {">": [V(""), 30]}]}, **facts).value is True
    gap = {"new_hires": hires(hire(age=20), hire(age=None))}
    assert ev(total, **gap).value is UNKNOWN and ev(oldest, **gap).value is UNKNOWN
    assert ev(total, new_hires=()).value == 0
    # a sum over undecided records is bounded too: 20 certain, + 0 … 40 undecided
    bounded = {"reduce": [{"filter": [V("new_hires"), QUALIFIES]}, {"+": [V("accumulator"), V("current.age")]}, 0]}
    two = {"new_hires": hires(hire(age=20), hire(age=40, insured_months=None))}
    assert ev({">=": [bounded, 20]}, **two).value is True
    assert ev({">=": [bounded, 30]}, **two).value is UNKNOWN
    assert ev({">": [bounded, 60]}, **two).value is False


def test_dates_and_defaults_inside_records():
    facts = {"new_hires": hires(hire(hired_on="2025-12-31"), hire(hired_on="2026-01-02", graduate_year=None))}
    assert ev({"all": [V("new_hires"), {">=": [V("hired_on"), "2026-01-01"]}]}, **facts).value is False
    assert ev({"some": [V("new_hires"), {"after": [V("hired_on"), "2026-01-01"]}]}, **facts).value is True
    # graduate_year is empty for non-graduates: a default reads it as 0, not unknown
    recent = {"all": [V("new_hires"), {">=": [{"var": ["graduate_year", 0]}, 2024]}]}
    assert ev(recent, **facts).value is False
    assert ev({"all": [V("new_hires"), {">=": [V("graduate_year"), 2024]}]}, **facts).value is UNKNOWN


@pytest.mark.parametrize(
    "rule, path, words",
    [
        ({"some": [V("new_hires"), {">=": [V("agee"), 16]}]}, "some[1].>=[0].var", "没有字段 'agee'"),
        ({">=": [V("new_hires"), 1]}, ">=", "记录列表"),
        ({"some": [V("revenue"), True]}, "some[0]", "记录列表"),
        ({"reduce": [V("new_hires"), {"+": [V("accumulator"), V("age")]}, 0]}, "reduce[1].+[1].var", "current"),
        ({"some": [V("new_hires"), {">": [V("labour_contract"), 1]}]}, "some[1].>", "不能比较大小"),
        ({"some": [V("new_hires"), {"<": [V("hired_on"), "去年"]}]}, "some[1].<", "日期"),
    ],
)
def test_strict_errors_name_the_path(rule, path, words):
    with pytest.raises(RuleError) as err:
        ev(rule, new_hires=hires(YES), revenue=D("1.00"))
    assert err.value.path == path and words in err.value.reason, err.value


# -- explanations -----------------------------------------------------------------------------------


def sentences(rule, **facts):
    return [leaf.sentence for leaf in ev(rule, **facts).trace]


def test_quantifiers_explain_how_many_records_meet_the_condition():
    facts = {"new_hires": hires(YES, YES, NO, hire(insured_months=1))}
    assert sentences({"some": [V("new_hires"), QUALIFIES]}, **facts) == ["新招用人员 4人中有 2人符合条件"]
    assert sentences({"all": [V("new_hires"), QUALIFIES]}, **facts) == [
        "新招用人员 4人中有 2人不符合条件（签订劳动合同不符合 1人、招用后足额缴纳社会保险月数不符合 1人）"
    ]
    assert sentences({"none": [V("new_hires"), QUALIFIES]}, **facts) == ["新招用人员 4人中有 2人属于所列情形"]
    assert sentences({"!": {"some": [V("new_hires"), QUALIFIES]}}, **facts) == ["新招用人员 4人中有 2人属于所列情形"]
    assert sentences({"some": [V("new_hires"), QUALIFIES]}, new_hires=hires(NO)) == [
        "新招用人员 1人中没有符合条件的人员（签订劳动合同不符合 1人）"
    ]
    assert sentences({"some": [V("new_hires"), QUALIFIES]}) == ["新招用人员未提供，请补充申报"]
    assert sentences({"some": [V("new_hires"), QUALIFIES]}, new_hires=hires(GAP, GAP, NO)) == [
        "新招用人员中 2人的招用后足额缴纳社会保险月数未提供，无法判断，请补充"
    ]


def test_counts_explain_themselves_with_the_total():
    facts = {"new_hires": hires(*[YES] * 6, *[NO] * 3)}
    (leaf,) = ev({">=": [count(QUALIFIED), 10]}, **facts).trace
    assert leaf.sentence == "符合条件的新招用人员 6人（共 9人），低于要求的 10人，还差 4人"
    assert (leaf.field, leaf.value, leaf.gap) == ("new_hires", "6", "4")
    undecided = {"new_hires": hires(*[YES] * 6, GAP, GAP, NO)}
    assert sentences({">=": [count(QUALIFIED), 1]}, **undecided) == [
        "符合条件的新招用人员 6至8人（共 9人），达到要求的 1人"
    ]
    assert sentences({">=": [count(QUALIFIED), 7]}, **undecided) == [
        "新招用人员中 2人的招用后足额缴纳社会保险月数未提供，无法判断，请补充"
    ]
    plain = sentences({">=": [count(V("new_hires")), 10]}, **facts)
    assert plain == ["新招用人员 9人，低于要求的 10人，还差 1人"]


def test_an_amount_per_record_explains_itself():
    spec = load_spec(KUOGANG)
    facts = {"region": "320102", "on_dishonesty_list": False}
    qualifying = dict(hired_on="2026-02-01", graduate_year=2026)
    hired = [hire(**qualifying)] * 6 + [hire(**qualifying, labour_contract=False)] * 3
    d = decide(spec, {**facts, "new_hires": hires(*hired)}, AS_OF)
    assert d.outcome == "eligible" and d.amount == D("9000.00")
    assert d.steps[0].sentence == "符合条件的新招用人员 6人（共 9人）× 每人 1,500元 = 9,000.00元"
    assert "新招用人员 9人中有 6人符合条件" in d.reasons
    pair = hires(hire(**qualifying), hire(**qualifying, insured_months=None))
    half = decide(spec, {**facts, "new_hires": pair}, AS_OF)
    assert (half.outcome, half.missing) == ("undetermined", ("new_hires",))
    assert half.note == "条件已满足，计算金额还需补充数据"


# -- specs ---------------------------------------------------------------------------------------------


def test_the_real_measure_passes_its_cases_and_round_trips():
    spec = load_spec(KUOGANG)
    assert all(c.passed for c in run_cases(spec, AS_OF)), [c.detail for c in run_cases(spec, AS_OF) if not c.passed]
    again = parse_spec(spec.to_json())
    assert again == spec and again.spec_hash == spec.spec_hash
    assert isinstance(spec.to_json()["tests"][0]["facts"]["new_hires"], list)  # as the YAML wrote it


def example(conditions, facts=None):
    data = load_spec(KUOGANG).to_json()
    data["conditions"] = conditions
    if facts is not None:
        data["tests"] = [{"name": "x", "facts": facts, "expect": {"decision": "undetermined"}}]
    return data


@pytest.mark.parametrize(
    "conditions, path, words",
    [
        ({"some": [V("new_hires"), {">=": [V("agee"), 16]}]}, "conditions.some[1].>=[0].var", "是否想写 age"),
        ({"some": [V("new_hires"), {">=": [V("age"), "16岁"]}]}, "conditions.some[1].>=[1]", "整数"),
        ({"some": [V("new_hires"), {">=": [V("age"), 16.5]}]}, "conditions.some[1].>=[1]", "整数"),
        ({"some": [V("new_hires"), {">=": [V("labour_contract"), 1]}]}, "conditions.some[1].>=[0]", "不能比较大小"),
        ({"some": [V("new_hires"), {"==": [V("pension_insured"), "是"]}]}, "conditions.some[1].==[1]", "true/false"),
        ({"some": [V("new_hires"), {">=": [V("hired_on"), "2026年"]}]}, "conditions.some[1].>=[1]", "YYYY-MM-DD"),
        ({">=": [V("new_hires"), 1]}, "conditions.>=[0]", "记录列表"),
        ({"some": [V("employees"), True]}, "conditions.some[0]", "记录列表字段"),
        ({"some": [V("new_hires")]}, "conditions.some", "2 个参数"),
        ({">": [V("age"), 30]}, "conditions.>[0].var", "不在字段目录"),
        (
            {">=": [{"reduce": [V("new_hires"), {"+": [V("accumulator"), V("current.hired_on")]}, 0]}, 1]},
            "conditions.>=[0].reduce[1]",
            "只能对数字字段求和",
        ),
        (
            {">=": [{"reduce": [V("new_hires"), {"+": [V("accumulator"), V("current")]}, 0]}, 1]},
            "conditions.>=[0].reduce[1].+[1].var",
            "current.字段名",
        ),
    ],
)
def test_rules_over_records_are_type_checked(conditions, path, words):
    with pytest.raises(SpecErrors) as err:
        parse_spec(example(conditions), source="p.yaml")
    found = {e.path: e.reason for e in err.value.errors}
    assert path in found and words in found[path], found


def test_test_case_records_are_checked_at_their_path():
    bad = example(load_spec(KUOGANG).conditions, {"new_hires": [{"age": 12}, {"agee": 20}]})
    with pytest.raises(SpecErrors) as err:
        parse_spec(bad, source="p.yaml")
    found = {e.path: e.reason for e in err.value.errors}
    assert "tests[0].facts.new_hires" in found and "16" in found["tests[0].facts.new_hires"]


# -- the columnar engine gives exactly the scalar answers ---------------------------------------------

maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731
hire_strategy = st.fixed_dictionaries(
    {
        "hired_on": maybe(st.dates(dt.date(2025, 11, 1), dt.date(2026, 3, 1))),
        "age": maybe(st.integers(16, 40)),
        "graduate_year": maybe(st.integers(2021, 2026)),
        "registered_unemployed": maybe(st.booleans()),
        "unemployed_months": maybe(st.integers(0, 12)),
        "labour_contract": maybe(st.booleans()),
        "insured_months": maybe(st.integers(0, 8)),
        "pension_insured": maybe(st.booleans()),
        "injury_insured": st.booleans(),
    }
)
enterprise = st.fixed_dictionaries(
    {
        "new_hires": maybe(st.lists(hire_strategy, max_size=6).map(tuple)),
        "employees": maybe(st.integers(0, 50)),
        "on_dishonesty_list": maybe(st.booleans()),
    }
)
sub_leaf = st.one_of(
    st.tuples(
        st.sampled_from(["age", "insured_months", "unemployed_months"]),
        st.sampled_from([">", ">=", "<", "<=", "==", "!="]),
        st.integers(0, 30),
    ).map(lambda t: {t[1]: [V(t[0]), t[2]]}),
    st.sampled_from(["labour_contract", "pension_insured", "injury_insured", "registered_unemployed"]).map(V),
    st.sampled_from(["labour_contract", "registered_unemployed"]).map(lambda n: {"!": V(n)}),
    st.just({"<=": [16, V("age"), 24]}),
    st.sampled_from([">=", "<"]).map(lambda op: {op: [{"var": ["graduate_year", 0]}, 2025]}),
    st.sampled_from([">=", "<", "=="]).map(lambda op: {op: [V("hired_on"), "2026-01-01"]}),
    st.sampled_from(["before", "after"]).map(lambda op: {op: [V("hired_on"), "2025-12-15"]}),
)
predicate = st.recursive(
    sub_leaf,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"and": xs}),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"or": xs}),
        inner.map(lambda x: {"!": x}),
    ),
    max_leaves=4,
)
a_list = st.one_of(
    st.just(V("new_hires")),
    predicate.map(lambda p: {"filter": [V("new_hires"), p]}),
    st.tuples(predicate, predicate).map(lambda t: {"filter": [{"filter": [V("new_hires"), t[0]]}, t[1]]}),
)
summed = st.sampled_from(["age", "insured_months"]).map(lambda n: {"+": [V("accumulator"), V(f"current.{n}")]})
list_leaf = st.one_of(
    st.tuples(st.sampled_from(["some", "all", "none"]), a_list, predicate).map(lambda t: {t[0]: [t[1], t[2]]}),
    st.tuples(a_list, st.sampled_from([">", ">=", "<", "<=", "==", "!="]), st.integers(0, 5)).map(
        lambda t: {t[1]: [count(t[0]), t[2]]}
    ),
    st.tuples(a_list, summed, st.integers(0, 80)).map(lambda t: {">=": [{"reduce": [t[0], t[1], 0]}, t[2]]}),
    st.tuples(st.integers(0, 4), a_list).map(lambda t: {"<=": [t[0], count(t[1])]}),
    st.integers(25, 35).map(lambda n: {"some": [{"map": [V("new_hires"), V("age")]}, {">": [V(""), n]}]}),
    st.just({">=": [V("employees"), 10]}),
    st.just({"!": V("on_dishonesty_list")}),
)
rules = st.recursive(
    list_leaf,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"and": xs}),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"or": xs}),
        inner.map(lambda x: {"!": x}),
    ),
    max_leaves=5,
)


def typed(people):
    def one(k, v):
        return catalog.parse_value(k, list(v) if k == "new_hires" and v is not None else v)

    return [{k: one(k, v) for k, v in p.items()} for p in people]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=rules, people=st.lists(enterprise, min_size=1, max_size=10))
def test_columnar_equals_scalar_on_random_rules_over_records(rule, people):
    people = typed(people)
    table = Table.from_records(people, AS_OF)
    assert_conditions_match_scalar(rule, table, AS_OF)


def test_the_columnar_path_needs_no_scalar_help_for_the_real_measure():
    import matcher.columnar as columnar

    spec = load_spec(KUOGANG)
    people = [c.facts for c in spec.tests]
    _, _, redo = columnar._conditions(spec.conditions, Table.from_records(people, AS_OF))
    assert not redo.any()  # vectorised: some, filter, reduce, dates, defaults, three-operand <=
    result = sweep(spec, Table.from_records(people, AS_OF))
    assert not result.exact
    assert [result.decision(i).outcome for i in range(len(people))] == [decide(spec, p, AS_OF).outcome for p in people]


def test_many_records_and_fallbacks_give_the_scalar_answers():
    """A firm with hundreds of hires (no small-integer overflow), and rules the columnar path hands to the
    scalar one (a list inside a list's condition, a reducer that is no count or sum)."""
    many = {"new_hires": hires(*[YES] * 300, *[NO] * 5), "employees": 400}
    people = [many, {"new_hires": hires(YES, GAP)}, {"new_hires": ()}, {}]
    table = Table.from_records(people, AS_OF)
    nested = {"some": [V("new_hires"), {"some": [[1, 2], {"==": [V(""), 2]}]}]}
    oldest = {"reduce": [{"map": [V("new_hires"), V("age")]}, {"max": [V("accumulator"), V("current")]}, 0]}
    for rule in (
        {"==": [count(QUALIFIED), 300]},
        {">=": [count(V("new_hires")), 305]},
        {">": [{"reduce": [V("new_hires"), {"+": [V("accumulator"), V("current.age")]}, 0]}, 6000]},
        nested,
        {">=": [oldest, 22]},
    ):
        expected = [scalar_verdict(rule, table.row(i), AS_OF) for i in range(len(table))]
        outcome, missing = evaluate_conditions(rule, table)
        assert [(int(o), m) for o, m in zip(outcome, missing)] == expected, rule
    assert scalar_verdict({"==": [count(QUALIFIED), 300]}, table.row(0), AS_OF) == (1, ())


amounts = st.one_of(
    a_list.map(lambda lst: {"*": [count(lst), 1500]}),
    a_list.map(lambda lst: {"*": [1500, {"min": [count(lst), 3]}]}),
    a_list.map(lambda lst: {"*": [{"reduce": [lst, {"+": [V("accumulator"), V("current.age")]}, 0]}, "0.5"]}),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rule=rules,
    formula=amounts,
    people=st.lists(enterprise, min_size=1, max_size=8),
    cap=st.one_of(st.none(), st.just("4000.00")),
)
def test_sweep_equals_decide_with_amounts_over_records(rule, formula, people, cap):
    data = example(rule)
    data["amount"] = {"formula": formula, "rounding": "half_up", **({"cap": cap} if cap else {})}
    data["tests"] = [{"name": "x", "facts": {}, "expect": {"decision": "undetermined"}}]
    try:
        spec = parse_spec(data)
    except SpecErrors:
        assume(False)
    people = typed(people)
    table = Table.from_records(people, AS_OF)
    assert_sweep_matches_decide(spec, table, AS_OF)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=rules, people=st.lists(enterprise, min_size=1, max_size=8))
def test_tables_from_json_cells_and_from_long_frames_equal_the_record_table(rule, people):
    people = typed(people)
    reference = Table.from_records(people, AS_OF)
    try:
        want = evaluate_conditions(rule, reference)
    except RuleError:
        return
    frame = pd.DataFrame({"uscc": [f"firm{i}" for i in range(len(people))]})
    for name in ("employees", "on_dishonesty_list", "new_hires"):
        frame[name] = [catalog.format_value(name, p.get(name)) for p in people]
    assert _same(evaluate_conditions(rule, Table.from_frame(frame, AS_OF)), want)
    rows = [
        {"uscc": f"firm{i}", **{k: catalog.format_sub("new_hires", k, v) for k, v in r.items()}}
        for i, p in enumerate(people)
        for r in p.get("new_hires") or ()
    ]
    long = pd.DataFrame(rows, columns=["uscc", *(s.name for s in catalog.FIELDS["new_hires"].fields)])
    known = np.array([p.get("new_hires") is not None for p in people])
    table = Table.from_frame(frame.drop(columns="new_hires"), AS_OF, records={"new_hires": (long, known)})
    assert _same(evaluate_conditions(rule, table), want)
    assert [table.facts(i).get("new_hires") for i in range(len(people))] == [p.get("new_hires") for p in people]


def _same(a, b) -> bool:
    return list(a[0]) == list(b[0]) and a[1] == b[1]
