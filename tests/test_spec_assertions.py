"""What a spec's test cases and scenarios can assert (docs/policy-spec.md): each assertion holds when right
and is reported, in Chinese, with what came out, when wrong; bad syntax is named by its YAML path."""

from __future__ import annotations

import copy
import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from matcher.policytest import (
    check_scenario,
    parse_scenario,
    run_cases,
    run_path,
    run_scenario,
    run_scenario_file,
    scenario_files,
)
from matcher.settlement import LABELS
from matcher.spec import CASE_OUTCOMES, SpecErrors, load_spec, load_specs, parse_spec
from service.cli import main
from service.cli.policy import shipped_policies

HERE = Path(__file__).resolve().parent
FOLDER = HERE / "scenario_policies"
DOC = HERE.parent / "docs" / "policy-spec.md"
AS_OF = dt.date(2026, 6, 30)


def spec_data(name: str) -> dict:
    return yaml.safe_load((FOLDER / f"{name}.yaml").read_text(encoding="utf-8"))


def with_cases(name: str, *cases: dict, **changes) -> dict:
    data = spec_data(name)
    data.update(changes)
    data["tests"] = list(cases)
    return data


def case(facts: dict, **expect) -> dict:
    return {"name": "用例", "as_of": AS_OF, "facts": facts, "expect": expect}


RD = {"region": "320102", "rd_expense": "8000000.00", "on_dishonesty_list": False}
SHORT = {**RD, "rd_expense": "4500000.00"}


def results(data: dict) -> list:
    return run_cases(parse_spec(data, source="p.yaml"), AS_OF)


def passes(data: dict) -> None:
    found = results(data)
    assert [r.detail for r in found if not r.passed] == []


def fails(data: dict, *words: str) -> str:
    (r,) = results(data)
    assert not r.passed
    for w in words:
        assert w in r.detail, r.detail
    return r.detail


def errors_of(data) -> dict[str, str]:
    with pytest.raises(SpecErrors) as err:
        parse_spec(data, source="p.yaml")
    return {e.path: e.reason for e in err.value.errors}


# -- cases: outcome and refused --------------------------------------------------------------


def test_outcome_is_the_settlement_of_the_measure_alone():
    passes(with_cases("city-rd-reward", case(RD, outcome="paid", amount="400000.00")))
    passes(with_cases("city-rd-reward", case(SHORT, outcome="not_eligible")))
    passes(with_cases("city-rd-reward", case({"region": "320102"}, outcome="undetermined")))
    detail = fails(with_cases("city-rd-reward", case(SHORT, outcome="paid")), "结算结果为 not_eligible", "预期 paid")
    assert "不符合申报条件" in detail  # the reason it was given


def test_outcome_follows_the_mode_and_the_budget():
    passes(with_cases("city-rd-reward", case(RD, outcome="pending_review"), mode="review"))
    small = with_cases("city-rd-reward", case(RD, outcome="paid"), budget="399999.99")
    fails(small, "结算结果为 budget_exhausted", "资金预算已用完", "预期 paid")
    passes(with_cases("city-rd-reward", case(RD, outcome="budget_exhausted"), budget="399999.99"))
    passes(
        with_cases("zhuanjingtexin-jiangli", case({"region": "320102", "qualifications": ["srdi_sme"]}, outcome="paid"))
    )


def test_a_supplements_outcome_is_settled_beside_its_parent():
    match = with_cases("district-rd-match", {**case({"region": "320102"}, outcome="paid", amount="200000.00")})
    match["tests"][0]["parent_amount"] = "400000.00"
    passes(match)
    outside = copy.deepcopy(match)
    outside["tests"][0]["facts"] = {"region": "320104"}
    fails(outside, "结算结果为 not_eligible", "预期 paid")


def test_refused_names_exactly_the_lists_that_refuse_the_enterprise():
    both = {**RD, "on_dishonesty_list": True, "in_abnormal_operation": True}
    passes(with_cases("city-rd-reward", case({**RD, "on_dishonesty_list": True}, refused=["on_dishonesty_list"])))
    passes(with_cases("city-rd-reward", case(both, refused=["in_abnormal_operation", "on_dishonesty_list"])))
    fails(
        with_cases("city-rd-reward", case(both, refused=["on_dishonesty_list"])),
        "企业所在的拒绝兑现名单为 on_dishonesty_list（列入失信被执行人名单）、in_abnormal_operation",
        "预期 on_dishonesty_list（列入失信被执行人名单）",
    )
    wrong = fails(
        with_cases("city-rd-reward", case({**RD, "on_dishonesty_list": True}, refused=["in_abnormal_operation"])),
        "预期 in_abnormal_operation（列入经营异常名录）",
    )
    assert "结算结果" not in wrong  # it is refused: only the list is wrong
    fails(with_cases("city-rd-reward", case(RD, refused=["on_dishonesty_list"])), "结算结果为 paid", "名单为 无")


def test_a_sweep_refuses_only_a_listed_firm_the_rules_would_pay():
    listed = {"region": "320102", "qualifications": ["srdi_sme"], "in_abnormal_operation": True}
    passes(with_cases("zhuanjingtexin-jiangli", case(listed, decision="eligible", refused=["in_abnormal_operation"])))
    excluded = {**listed, "qualifications": []}
    fails(with_cases("zhuanjingtexin-jiangli", case(excluded, refused=["in_abnormal_operation"])), "not_eligible")
    passes(with_cases("zhuanjingtexin-jiangli", case(excluded, outcome="not_eligible")))


# -- cases: reason, distance, amount explanation ---------------------------------------------


def test_reason_is_found_in_one_sentence_of_the_explanation():
    passes(with_cases("city-rd-reward", case(SHORT, decision="not_eligible", reason="上年度研发费用 450万元")))
    passes(with_cases("city-rd-reward", case(RD, decision="eligible", reason=["列入失信被执行人名单：否", "× 5%"])))
    detail = fails(with_cases("city-rd-reward", case(SHORT, decision="not_eligible", reason="达到要求的")))
    assert "解释中没有“达到要求的”" in detail and "低于要求的 500万元，还差 50万元" in detail
    # one sentence, not across two
    fails(with_cases("city-rd-reward", case(RD, decision="eligible", reason="范围内参保")), "解释中没有")


@pytest.mark.parametrize("want", ["还差 50万元", "50万元", "还差50万元", 500000, "500000.00"])
def test_distance_as_the_explanation_reads_it_or_exactly(want):
    passes(with_cases("city-rd-reward", case(SHORT, decision="not_eligible", distance={"rd_expense": want})))


@pytest.mark.parametrize(
    "want, words",
    [
        ("还差 5万元", ["上年度研发费用（rd_expense）的差距为 还差 50万元（精确值 500000.00）", "预期 还差 5万元"]),
        ("超出 50万元", ["预期 超出 50万元"]),
        (499999, ["预期 499999"]),
    ],
)
def test_a_wrong_distance_is_reported_with_the_one_found(want, words):
    fails(with_cases("city-rd-reward", case(SHORT, decision="not_eligible", distance={"rd_expense": want})), *words)


def test_distance_of_a_computed_quantity_and_of_a_condition_not_in_the_explanation():
    spec = load_spec(shipped_policies() / "sz-yanfa-touru-buzhu.yaml")
    data = spec.to_json()
    facts = {k: v for k, v in data["tests"][2]["facts"].items()}  # 增量 199.99 万元
    quantity = "上年度研发费用 - 前年度研发费用"
    data["tests"] = [case(facts, decision="not_eligible", distance={quantity: "还差 100.00元"})]
    passes(data)
    data["tests"] = [case(facts, decision="not_eligible", distance={quantity: 100})]
    passes(data)
    data["tests"] = [case(facts, decision="not_eligible", distance={"rd_expense": 100})]
    fails(data, "解释中没有关于上年度研发费用（rd_expense）的条件", "上年度研发费用 − 前年度研发费用 199.99万元")
    met = dict(data["tests"][0]["facts"], rd_expense="8000000.00")
    data["tests"] = [case(met, decision="eligible", distance={"age_years": 1})]
    fails(data, "解释中成立年限（age_years）的条件没有差距", "成立年限 5年，达到要求的 2年")


def test_amount_explanation_is_found_in_one_step():
    capped = {**RD, "rd_expense": "90000000.00"}
    steps = ["× 5% = 450万元", "超过上限，按上限 300万元"]
    passes(with_cases("city-rd-reward", case(capped, decision="eligible", amount_explanation=steps)))
    fails(
        with_cases("city-rd-reward", case(capped, decision="eligible", amount_explanation="按上限 200万元")),
        "金额计算过程中没有“按上限 200万元”",
        "超过上限，按上限 300万元",
    )
    fails(
        with_cases("city-rd-reward", case(SHORT, decision="not_eligible", amount_explanation="× 5%")),
        "没有金额计算过程（判定结果为 not_eligible（不符合））",
    )


def test_decision_and_amount_failures_say_what_came_out():
    detail = fails(with_cases("city-rd-reward", case(RD, decision="not_eligible", amount="1.00")))
    assert (
        "判定结果为 eligible（符合），预期 not_eligible（不符合）" in detail and "金额为 400000.00，预期 1.00" in detail
    )


# -- cases: syntax -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expect, path, words",
    [
        ({"decison": "eligible"}, "tests[0].expect.decison", "decision"),
        ({"amount": "1.00"}, "tests[0].expect", "decision"),
        ({"outcome": "outranked"}, "tests[0].expect.outcome", "情景"),
        ({"outcome": "won"}, "tests[0].expect.outcome", "paid"),
        ({"refused": ["blacklist"]}, "tests[0].expect.refused[0]", "on_dishonesty_list"),
        ({"refused": []}, "tests[0].expect.refused", "名单列表"),
        ({"outcome": "paid", "refused": ["on_dishonesty_list"]}, "tests[0].expect.refused", "矛盾"),
        ({"decision": "eligible", "reason": []}, "tests[0].expect.reason", "非空文本"),
        ({"decision": "eligible", "reason": 3}, "tests[0].expect.reason", "非空文本"),
        ({"decision": "eligible", "amount_explanation": [""]}, "tests[0].expect.amount_explanation", "非空"),
        (
            {"decision": "eligible", "distance": {"rd_expence": "1"}},
            "tests[0].expect.distance.rd_expence",
            "rd_expense",
        ),
        ({"decision": "eligible", "distance": {"rd_expense": -1}}, "tests[0].expect.distance.rd_expense", "非负"),
        ({"decision": "eligible", "distance": {"rd_expense": True}}, "tests[0].expect.distance.rd_expense", "非负"),
        ({"decision": "eligible", "distance": ["rd_expense"]}, "tests[0].expect.distance", "映射"),
    ],
)
def test_bad_expectations_are_named_by_their_path(expect, path, words):
    found = errors_of(with_cases("city-rd-reward", case(RD, **expect)))
    assert path in found, found
    assert words in found[path]


def test_case_outcomes_are_settlement_outcomes():
    assert set(CASE_OUTCOMES) <= set(LABELS)


def test_new_expectations_round_trip_and_old_ones_hash_as_before():
    data = with_cases(
        "city-rd-reward",
        case(SHORT, outcome="not_eligible", reason="450万元", distance={"rd_expense": 500000}),
        case({**RD, "on_dishonesty_list": True}, refused="on_dishonesty_list"),
        case(RD, decision="eligible", distance={"rd_expense": "还差 1元"}, amount_explanation=["× 5%"]),
    )
    spec = parse_spec(data)
    assert parse_spec(spec.to_json()) == spec
    assert spec.tests[1].outcome == "refused" and spec.tests[1].refused == ("on_dishonesty_list",)
    old = load_spec(shipped_policies() / "sz-yanfa-touru-buzhu.yaml")
    assert [set(c["expect"]) for c in old.to_json()["tests"]][:8] == [{"decision", "amount"}] * 2 + [
        {"decision"},
        {"decision", "amount"},
        {"decision", "amount"},
        {"decision", "missing"},
        {"decision"},
        {"decision"},
    ]


def test_the_documented_examples_pass():
    text = DOC.read_text(encoding="utf-8")
    example = yaml.safe_load(re.search(r"```yaml\n(.*?)```", text.split("## Example", 1)[1], re.S).group(1))
    passes(example)
    assert len(example["tests"]) >= 5
    section = text.split("### Test cases", 1)[1].split("## Scenarios", 1)[0]
    snippet = re.findall(r"```yaml\n(.*?)```", section, re.S)[1]
    passes(with_cases("city-rd-reward", *yaml.safe_load(snippet)))
    scenarios = re.findall(r"```yaml\n(scenario:.*?)```", text, re.S)
    assert len(scenarios) == 4
    specs, _ = load_specs(FOLDER)
    real, _ = load_specs(shipped_policies())
    by_id = {s.id: s for s in [*specs, *real]}
    for raw in scenarios:
        sc = parse_scenario(yaml.safe_load(raw), "doc")
        assert check_scenario(sc, by_id) == []
        r = run_scenario(sc, by_id)
        assert r.passed, (sc.name, r.detail)


# -- scenarios ---------------------------------------------------------------------------------


def specs_by_id():
    specs, errors = load_specs(FOLDER)
    assert errors == []
    return {s.id: s for s in specs}


def scenario(name: str) -> dict:
    return yaml.safe_load((FOLDER / "scenarios" / f"{name}.yaml").read_text(encoding="utf-8"))


def play(data: dict):
    specs = specs_by_id()
    sc = parse_scenario(data, "s.yaml")
    assert check_scenario(sc, specs) == []
    return run_scenario(sc, specs)


def test_every_scenario_shipped_and_in_the_tests_passes():
    assert len(scenario_files(shipped_policies())) >= 2 and len(scenario_files(FOLDER)) >= 4
    for folder in (shipped_policies(), FOLDER):
        found, errors = run_path(folder, AS_OF)
        assert errors == []
        assert [r.detail for r in found if not r.passed] == []
        assert any(r.kind == "scenario" for r in found)


def test_exclusive_group_decided_together_pays_the_best_and_outranks_the_other():
    data = scenario("group-decided-together")
    assert play(data).passed
    wrong = copy.deepcopy(data)
    wrong["steps"][0]["expect"]["zhuanjingtexin-jiangli"] = {"outcome": "paid", "winner": "zhuanjingtexin-jiangli"}
    r = play(wrong)
    assert not r.passed
    assert "第 1 步（2026-06-30）zhuanjingtexin-jiangli：结算结果为 outranked" in r.detail
    assert "预期 paid（符合条件，已确定兑现）" in r.detail
    assert "就高不重复的胜出政策为 xiaojuren-jiangli，预期 zhuanjingtexin-jiangli" in r.detail


def test_exclusive_group_paid_later_pays_the_difference():
    data = scenario("group-later-difference")
    assert play(data).passed
    wrong = copy.deepcopy(data)
    wrong["steps"][1]["expect"]["xiaojuren-jiangli"] = {"amount": "1000000.00", "paid": "1000000.00"}
    r = play(wrong)
    assert "第 2 步（2026-06-30）xiaojuren-jiangli：金额为 800000.00（paid），预期 1000000.00" in r.detail
    assert "本期累计实付 800000.00，预期 1000000.00" in r.detail


def test_a_supplement_is_paid_beside_its_parent_and_revised_with_it():
    data = scenario("supplement-beside-parent")
    assert play(data).passed
    wrong = copy.deepcopy(data)
    wrong["steps"][0]["expect"]["district-rd-match"] = {"amount": "400000.00", "reason": "× 100%"}
    r = play(wrong)
    assert "district-rd-match：金额为 200000.00（paid），预期 400000.00" in r.detail
    assert "理由与解释中没有“× 100%”" in r.detail
    # the parent not paid: the supplement is not either
    poor = copy.deepcopy(data)
    poor["facts"]["rd_expense"] = "4000000.00"
    poor["steps"] = [
        {
            "date": "2026-06-30",
            "settle": ["city-rd-reward"],
            "expect": {"city-rd-reward": {"outcome": "not_eligible"}, "district-rd-match": {"outcome": "not_eligible"}},
        }
    ]
    assert play(poor).passed


def test_a_revision_claws_back_or_tops_up():
    clawback = yaml.safe_load((shipped_policies() / "scenarios" / "sz-yanfa-clawback.yaml").read_text("utf-8"))
    top_up = yaml.safe_load((shipped_policies() / "scenarios" / "sz-yanfa-top-up.yaml").read_text("utf-8"))
    specs = {s.id: s for s in load_specs(shipped_policies())[0]}
    for data in (clawback, top_up):
        assert run_scenario(parse_scenario(data), specs).passed
    wrong = copy.deepcopy(clawback)
    wrong["steps"][1]["expect"]["sz-yanfa-touru-buzhu"] = {"outcome": "topped_up", "amount": "50000.00"}
    r = run_scenario(parse_scenario(wrong), specs)
    assert (
        "第 2 步（2026-09-30）sz-yanfa-touru-buzhu：结算结果为 clawed_back（复核：应得金额减少，追回多付部分"
        in r.detail
    )
    assert (
        "应得 20万元，已付 30万元，追回多付" in r.detail
        and "金额为 100000.00（clawed_back），预期 50000.00" in r.detail
    )
    same = copy.deepcopy(top_up)
    same["steps"][2]["facts"] = {"rd_expense": "8000000.00"}
    same["steps"][2]["expect"]["sz-yanfa-touru-buzhu"] = {"outcome": "unchanged", "amount": "300000.00"}
    assert run_scenario(parse_scenario(same), specs).passed


def test_a_group_revision_claws_back_and_the_rival_is_paid_after():
    data = scenario("group-revision-clawback")
    assert play(data).passed
    wrong = copy.deepcopy(data)
    wrong["steps"][2]["expect"]["zhuanjingtexin-jiangli"] = {"outcome": "outranked"}
    assert "结算结果为 paid" in play(wrong).detail


def test_a_top_up_is_refused_to_a_listed_enterprise():
    data = scenario("supplement-beside-parent")
    data["steps"][1]["facts"]["in_abnormal_operation"] = True
    data["steps"][1]["expect"] = {
        "city-rd-reward": {"refused": ["in_abnormal_operation"], "paid": "400000.00"},
        "district-rd-match": {"outcome": "refused", "reason": "列入经营异常名录，暂不予支持"},
    }
    assert play(data).passed


def test_money_not_yet_confirmed_cannot_be_clawed_back_nor_an_unpaid_measure_revised():
    data = scenario("group-revision-clawback")
    data["steps"][1]["date"] = "2026-06-30"  # the same day: the bank has not answered
    r = play(data)
    assert not r.passed and "第 2 步（2026-06-30）：" in r.detail and "尚未到账" in r.detail
    never = scenario("group-revision-clawback")
    never["steps"][1]["revise"] = ["zhuanjingtexin-jiangli"]
    assert "zhuanjingtexin-jiangli：尚未兑现，无从复核" in play(never).detail


def test_an_expectation_for_a_measure_the_step_did_not_settle_is_reported():
    data = scenario("group-later-difference")
    data["steps"][0]["settle"] = ["zhuanjingtexin-jiangli"]
    assert "xiaojuren-jiangli：本步没有该政策的结算结果（预期 not_eligible）" in play(data).detail


@pytest.mark.parametrize(
    "mutate, path, words",
    [
        (lambda d: d.update(stepz=1), "stepz", "未知的键"),
        (lambda d: d.pop("scenario"), "scenario", "非空文本"),
        (lambda d: d.update(policies=[]), "policies", "政策 id"),
        (lambda d: d.update(steps=[]), "steps", "至少"),
        (lambda d: d["facts"].update(scale="small"), "facts.scale", "系统计算"),
        (lambda d: d["facts"].update(qualifications=["giant"]), "facts.qualifications", "可选值"),
        (lambda d: d["steps"][0].pop("date"), "steps[0].date", "缺少日期"),
        (lambda d: d["steps"][1].update(date="2026-01-01"), "steps[1].date", "先后"),
        (lambda d: d["steps"][0].update(revise=["xiaojuren-jiangli"]), "steps[0]", "settle"),
        (lambda d: d["steps"][1].pop("revise"), "steps[1]", "settle"),
        (lambda d: d["steps"][0].update(settle=["no-such"]), "steps[0].settle[0]", "不在本情景的 policies 中"),
        (lambda d: d["steps"][0].update(approved="yes"), "steps[0].approved", "true"),
        (lambda d: d["steps"][1].update(approved=True), "steps[1].approved", "settle"),
        (lambda d: d["steps"][0].update(why="更正"), "steps[0].why", "revise"),
        (lambda d: d["steps"][0].update(facts={"region": "320102"}), "steps[0].facts", "第一步"),
        (lambda d: d["steps"][1]["facts"].update(revenu="1"), "steps[1].facts.revenu", "revenue"),
        (lambda d: d["steps"][0]["expect"].update(ghost={"outcome": "paid"}), "steps[0].expect.ghost", "policies"),
        (
            lambda d: d["steps"][0]["expect"]["xiaojuren-jiangli"].update(outcome="won"),
            "steps[0].expect.xiaojuren-jiangli.outcome",
            "outranked",
        ),
        (
            lambda d: d["steps"][0]["expect"]["xiaojuren-jiangli"].update(amont="1"),
            "steps[0].expect.xiaojuren-jiangli.amont",
            "未知的预期",
        ),
        (
            lambda d: d["steps"][0]["expect"]["zhuanjingtexin-jiangli"].update(winner="zz-top"),
            "steps[0].expect.zhuanjingtexin-jiangli.winner",
            "policies",
        ),
        (
            lambda d: d["steps"][0]["expect"]["xiaojuren-jiangli"].update(paid="-1"),
            "steps[0].expect.xiaojuren-jiangli.paid",
            "非负",
        ),
        (
            lambda d: d["steps"][0]["expect"]["xiaojuren-jiangli"].update(refused=["on_dishonesty_list"]),
            "steps[0].expect.xiaojuren-jiangli.refused",
            "矛盾",
        ),
    ],
)
def test_bad_scenarios_are_named_by_their_path(mutate, path, words):
    data = scenario("group-revision-clawback")
    mutate(data)
    with pytest.raises(SpecErrors) as err:
        parse_scenario(data, "s.yaml")
    found = {e.path: e.reason for e in err.value.errors}
    assert path in found, found
    assert words in found[path]
    assert all(str(e).startswith("s.yaml: ") for e in err.value.errors)


def test_a_scenario_names_specs_that_exist_and_settles_no_supplement_alone():
    specs = specs_by_id()
    data = {
        "scenario": "配套政策缺少上级政策",
        "policies": ["district-rd-match", "no-such-measure"],
        "facts": {"region": "320102"},
        "steps": [{"date": "2026-06-30", "settle": ["no-such-measure"]}],
    }
    found = {e.path: e.reason for e in check_scenario(parse_scenario(data, "s.yaml"), specs)}
    assert "city-rd-reward 不在 policies 中" in found["policies[0]"] and "找不到政策" in found["policies[1]"]
    alone = scenario("supplement-beside-parent")
    alone["steps"][0]["settle"] = ["district-rd-match"]
    (e,) = check_scenario(parse_scenario(alone, "s.yaml"), specs)
    assert e.path == "steps[0].settle[0]" and "请结算 city-rd-reward" in e.reason


def test_a_scenario_file_finds_its_specs(tmp_path):
    file = FOLDER / "scenarios" / "group-decided-together.yaml"
    found, errors = run_scenario_file(file)
    assert errors == [] and found[0].passed
    loose = tmp_path / "loose.yaml"
    shutil.copy(file, loose)
    found, errors = run_scenario_file(loose)
    assert found == [] and errors[0].path == "specs" and "scenarios/" in errors[0].reason
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    data["specs"] = str(FOLDER)
    loose.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    found, errors = run_scenario_file(loose)
    assert errors == [] and found[0].passed


# -- the command -------------------------------------------------------------------------------


def test_policy_test_prints_each_case_and_scenario_and_a_summary(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["policy", "test", str(FOLDER)])
    assert ok.exit_code == 0, ok.output
    lines = ok.stdout.splitlines()
    assert any(line.startswith("PASS group-decided-together.yaml: 情景 ") for line in lines)
    assert any(line.startswith("PASS city-rd-reward.yaml: 用例 ") for line in lines)
    assert re.fullmatch(r"\d+ passed, 0 failed（用例 \d+ 个，情景 [4-9] 个）", lines[-1]), lines[-1]
    shipped = runner.invoke(main, ["policy", "test"])
    scenarios = re.search(r"情景 (\d+) 个", shipped.stdout)
    assert shipped.exit_code == 0 and scenarios and int(scenarios.group(1)) >= 2

    folder = tmp_path / "policies"
    shutil.copytree(FOLDER, folder)
    path = folder / "scenarios" / "group-later-difference.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace('"800000.00"', '"900000.00"'), encoding="utf-8")
    (folder / "scenarios" / "broken.yaml").write_text("scenario: 坏\npolicies: [xiaojuren-jiangli]\n", "utf-8")
    bad = runner.invoke(main, ["policy", "test", str(folder)])
    assert bad.exit_code == 1
    assert "FAIL group-later-difference.yaml: 情景 " in bad.stdout and "预期 900000.00" in bad.stdout
    assert "ERROR broken.yaml: steps: 至少需要一个步骤" in bad.stderr
    assert bad.stdout.splitlines()[-1].startswith(f"{len(bad.stdout.splitlines()) - 2} passed, 1 failed")
    alone = runner.invoke(main, ["policy", "test", str(FOLDER / "scenarios")])
    assert alone.exit_code == 0 and "（用例 0 个，情景 4 个）" in alone.stdout
    one = runner.invoke(main, ["policy", "test", str(path)])
    assert one.exit_code == 1 and "0 passed, 1 failed（用例 0 个，情景 1 个）" in one.stdout
