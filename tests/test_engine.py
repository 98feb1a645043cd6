"""The policy rule engine: three-valued, strict, Decimal, explained."""

import datetime as dt
from decimal import Decimal

import pytest
from click.testing import CliRunner

from matcher.decision import decide
from matcher.engine import UNKNOWN, evaluate_rule
from matcher.errors import RuleError
from matcher.spec import load_specs, parse_spec
from service.cli import main

D = Decimal
V = lambda name: {"var": name}  # noqa: E731
AS_OF = dt.date(2026, 6, 30)


def value(rule, **facts):
    return evaluate_rule(rule, facts, as_of=AS_OF).value


@pytest.mark.parametrize(
    "a, b, conj, disj",
    [
        (True, True, True, True),
        (True, False, False, True),
        (False, False, False, False),
        (True, None, UNKNOWN, True),
        (False, None, False, UNKNOWN),
        (None, None, UNKNOWN, UNKNOWN),
    ],
)
def test_kleene_and_or(a, b, conj, disj):
    facts = {"on_dishonesty_list": a, "in_abnormal_operation": b}
    rule_and = {"and": [V("on_dishonesty_list"), V("in_abnormal_operation")]}
    rule_or = {"or": [V("on_dishonesty_list"), V("in_abnormal_operation")]}
    assert value(rule_and, **facts) is conj
    assert value(rule_or, **facts) is disj


def test_not_of_unknown_is_unknown():
    assert value({"!": V("on_dishonesty_list")}) is UNKNOWN
    assert value({"!": V("on_dishonesty_list")}, on_dishonesty_list=False) is True


def test_undetermined_names_exactly_the_missing_fields():
    rule = {
        "and": [
            {">=": [V("revenue"), "5000000"]},
            {">=": [V("employees"), 10]},
            {"or": [{">": [V("tax_paid"), 0]}, {">": [V("rd_expense"), 0]}]},
        ]
    }
    ev = evaluate_rule(rule, {"employees": 50, "tax_paid": D("10.00")})
    assert ev.value is UNKNOWN and ev.missing == {"revenue"}  # rd_expense is not needed: tax_paid decided the or
    ev = evaluate_rule(rule, {"employees": 5})
    assert ev.value is False and ev.missing == frozenset()  # a false conjunct decides, nothing to declare


def test_trace_sentence_and_gap():
    ev = evaluate_rule({">=": [V("revenue"), "5000000"]}, {"revenue": D("3200000.00")}, sources={"revenue": "tax"})
    (leaf,) = ev.trace
    assert leaf.sentence == "上年度营业收入 320万元，低于要求的 500万元，还差 180万元"
    assert (leaf.field, leaf.value, leaf.source, leaf.outcome, leaf.gap) == (  # JSON-native: exact text
        "revenue",
        "3200000.00",
        "tax",
        False,
        "1800000.00",
    )
    ok = evaluate_rule({">=": [V("revenue"), "5000000"]}, {"revenue": D("6000000.00")}).trace[0]
    assert ok.sentence == "上年度营业收入 600万元，达到要求的 500万元" and ok.gap is None
    flipped = evaluate_rule({"<=": ["5000000", V("revenue")]}, {"revenue": D("3200000.00")}).trace[0]
    assert flipped.op == ">=" and "还差 180万元" in flipped.sentence


def test_decimal_arithmetic_is_exact():
    assert value({"+": ["0.1", "0.2"]}) == D("0.3")
    assert value({"*": [V("revenue"), "0.003"]}, revenue=D("33333.33")) == D("99.99999")


def test_domain_operators():
    assert value({"in_region": [V("region"), "320100"]}, region="320102") is True
    assert value({"in_region": [V("region"), "320000"]}, region="320102") is True
    assert value({"in_region": [V("region"), "310000"]}, region="320102") is False
    assert value({"in_industry": [V("industry"), "C39"]}, industry="C3911") is True
    assert value({"in_industry": [V("industry"), "C"]}, industry="C3911") is True
    assert value({"in_industry": [V("industry"), "I65"]}, industry="C3911") is False
    assert (
        value({"has_qualification": [V("qualifications"), "high_tech"]}, qualifications=frozenset({"high_tech"}))
        is True
    )
    assert value({">=": [{"years_since": [V("established_on")]}, 3]}, established_on=dt.date(2023, 6, 30)) is True
    assert value({">=": [{"years_since": [V("established_on")]}, 3]}, established_on=dt.date(2023, 7, 1)) is False
    assert value({"before": [V("established_on"), "2020-01-01"]}, established_on=dt.date(2019, 12, 31)) is True
    assert value({"after": [V("established_on"), "2020-01-01"]}, established_on=dt.date(2019, 12, 31)) is False


@pytest.mark.parametrize(
    "rule, facts, path, words",
    [
        ({">": [V("region"), 5]}, {"region": "320102"}, ">", "不能比较大小"),
        ({"==": [V("revenue"), "很多"]}, {"revenue": D("1.00")}, "==", "数字"),
        ({"and": [{"frobnicate": [1]}]}, {}, "and[0].frobnicate", "未知运算符"),
        ({"in_region": [V("region")]}, {"region": "320102"}, "in_region", "2 个参数"),
        ({"in_region": [V("region"), "330104"]}, {"region": "320102"}, "in_region", "江干区"),
        ({"/": [V("revenue"), 0]}, {"revenue": D("1.00")}, "/", "除数为零"),
        ({">=": [V("qualifications"), V("qualifications")]}, {"qualifications": frozenset()}, ">=", "比较大小"),
        ({"var": "revenu"}, {}, "var", "字段目录"),
    ],
)
def test_bad_rules_fail_loudly_with_the_path(rule, facts, path, words):
    with pytest.raises(RuleError) as err:
        evaluate_rule(rule, facts)
    assert err.value.path == path and words in err.value.reason


def test_huge_and_deep_rules_are_refused():
    deep = V("revenue")
    for _ in range(100):
        deep = {"!": deep}
    with pytest.raises(RuleError, match="嵌套"):
        evaluate_rule(deep, {})
    with pytest.raises(RuleError, match="过大"):
        evaluate_rule({"and": [True] * 20_000}, {})


SPEC = {
    "id": "tiered",
    "name": "研发费用阶梯补助",
    "document": "办法",
    "document_number": "测〔2026〕1号",
    "department": "科技局",
    "region": "320100",
    "valid_from": "2026-01-01",
    "valid_to": "2026-12-31",
    "target": "企业",
    "topics": ["研发"],
    "mode": "instant",
    "time_limit_days": 1,
    "benefit_type": "subsidy",
    "period": "annual",
    "budget": "1000000.00",
    "materials": [],
    "conditions": {">=": [V("rd_expense"), "100000"]},
    "amount": {
        "formula": {"if": [{">=": [V("rd_expense"), "10000000"]}, "1000000", {"*": [V("rd_expense"), "0.0333"]}]},
        "cap": "800000.00",
        "floor": "5000.00",
        "rounding": "down",
    },
    "tests": [{"name": "x", "facts": {}, "expect": {"decision": "undetermined"}}],
}


@pytest.mark.parametrize(
    "rd, amount",
    [
        ("100000.00", "5000.00"),  # 3330 -> floor 5000
        ("1000001.00", "33300.03"),  # 33300.0333 -> down to 33300.03
        ("9999999.99", "332999.99"),  # 332999.999667 -> down
        ("10000000.00", "800000.00"),  # tier 1,000,000 -> cap 800,000
    ],
)
def test_amount_tiers_floor_cap_rounding(rd, amount):
    spec = parse_spec(SPEC)
    d = decide(spec, {"rd_expense": D(rd)}, AS_OF)
    assert d.outcome == "eligible" and d.amount == D(amount)


@pytest.mark.parametrize("rounding, amount", [("half_up", "33305.00"), ("down", "33304.99")])
def test_rounding_is_the_one_the_policy_states(rounding, amount):
    data = dict(SPEC, amount={"formula": {"*": [V("rd_expense"), "0.0333"]}, "rounding": rounding})
    assert decide(parse_spec(data), {"rd_expense": D("1000150.00")}, AS_OF).amount == D(amount)  # 33304.995


def test_missing_derived_field_asks_for_its_inputs():
    data = dict(SPEC, conditions={"in": [V("scale"), ["small", "micro"]]})
    d = decide(parse_spec(data), {"industry": "C3911", "employees": 50}, AS_OF)
    assert d.outcome == "undetermined" and d.missing == ("revenue",)


def test_every_generated_spec_passes_its_cases_in_the_engine(small_world):
    from matcher.policytest import run_cases

    specs, errors = load_specs(small_world / "policies")
    results = [r for s in specs for r in run_cases(s, AS_OF)]
    assert not errors and len(results) >= 80
    assert [r for r in results if not r.passed] == []


def test_policy_cli(small_world, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["policy", "test", str(small_world / "policies")])
    assert ok.exit_code == 0 and " 0 failed" in ok.stdout
    spec = (small_world / "policies" / "xina-jiuye-buzhu.yaml").read_text(encoding="utf-8")
    (tmp_path / "wrong.yaml").write_text(spec.replace("amount: '6000.00'", "amount: '6000.01'"), encoding="utf-8")
    bad = runner.invoke(main, ["policy", "test", str(tmp_path / "wrong.yaml")])
    assert bad.exit_code == 1 and "6000.01" in bad.output and "1 failed" in bad.stdout
    (tmp_path / "broken.yaml").write_text(spec.replace("mode: instant", "mode: often"), encoding="utf-8")
    check = runner.invoke(main, ["policy", "check", str(tmp_path / "broken.yaml")])
    assert check.exit_code == 1 and "broken.yaml: mode" in check.output
