"""Policy spec files: every element checked, every problem named by its path."""

import re
from pathlib import Path

import pytest
import yaml

from matcher.spec import SpecErrors, load_specs, parse_spec

DOC = Path(__file__).resolve().parent.parent / "docs" / "policy-spec.md"


def example() -> dict:
    text = DOC.read_text(encoding="utf-8").split("## Example", 1)[1]
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))


def errors_of(data) -> dict[str, str]:
    with pytest.raises(SpecErrors) as err:
        parse_spec(data, source="p.yaml")
    return {e.path: e.reason for e in err.value.errors}


def test_documented_example_is_valid():
    spec = parse_spec(example())
    assert spec.id == "nj-wengang-fanhuan" and spec.region == "320100"
    assert str(spec.budget) == "80000000.00" and spec.tests[0].amount is not None


def test_round_trip_and_hash():
    spec = parse_spec(example())
    again = parse_spec(spec.to_json())
    assert again == spec and again.spec_hash == spec.spec_hash
    changed = example()
    changed["budget"] = "80000000.01"
    assert parse_spec(changed).spec_hash != spec.spec_hash


@pytest.mark.parametrize(
    "mutate, path, words",
    [
        (lambda d: d.pop("department"), "department", "缺少"),
        (lambda d: d.update(budjet="1"), "budjet", "budget"),
        (lambda d: d.update(id="Bad Id"), "id", "小写"),
        (lambda d: d.update(mode="sometimes"), "mode", "automatic"),
        (lambda d: d.update(valid_to="2025-01-01"), "valid_to", "早于"),
        (lambda d: d.update(region="330104"), "region", "江干区"),
        (lambda d: d.update(budget="-1"), "budget", "非负"),
        (lambda d: d.update(budget="1.001"), "budget", "两位小数"),
        (lambda d: d["amount"].update(cap="1", floor="2"), "amount.cap", "下限"),
        (
            lambda d: d["conditions"]["and"][1][">="][0].update(var="insured_staff"),
            "conditions.and[1].>=[0].var",
            "insured_employees",
        ),
        (lambda d: d["conditions"]["and"].append({"between": [1, 2, 3]}), "conditions.and[4].between", "未知运算符"),
        (
            lambda d: d["conditions"]["and"][0].update(in_region=[{"var": "region"}, "999999"]),
            "conditions.and[0].in_region[1]",
            "行政区划",
        ),
        (lambda d: d["tests"][0]["facts"].update(revenue="-3"), "tests[0].facts.revenue", "负数"),
        (lambda d: d["tests"][0]["facts"].update(scale="micro"), "tests[0].facts.scale", "系统计算"),
        (lambda d: d["tests"][0]["expect"].update(decision="maybe"), "tests[0].expect.decision", "eligible"),
        (lambda d: d.update(tests=[]), "tests", "至少"),
    ],
)
def test_each_problem_is_reported_at_its_path(mutate, path, words):
    data = example()
    mutate(data)
    found = errors_of(data)
    assert path in found, found
    assert words in found[path]


@pytest.mark.parametrize(
    "condition, path, words",
    [
        ({">": [{"var": "region"}, "320100"]}, "conditions.>[0]", "不能比较大小"),
        ({">=": [{"var": "revenue"}, "500万"]}, "conditions.>=[1]", "以元为单位"),
        ({">=": [{"var": "employees"}, 2.5]}, "conditions.>=[1]", "整数"),
        ({"==": [{"var": "listed_status"}, "nasdaq"]}, "conditions.==[1]", "可选值"),
        ({"==": [{"var": "revenue"}, "很多"]}, "conditions.==[1]", "数字"),
        ({"==": [{"var": "on_dishonesty_list"}, "no"]}, "conditions.==[1]", "true/false"),
        ({"in": [{"var": "scale"}, ["small", "tiny"]]}, "conditions.in[1][1]", "可选值"),
        ({"in_region": [{"var": "industry"}, "320100"]}, "conditions.in_region[0]", "region"),
        ({">": [{"+": [{"var": "revenue"}, {"var": "region"}]}, 0]}, "conditions.>[0].+[1]", "算术"),
    ],
)
def test_strict_types_and_units(condition, path, words):
    data = example()
    data["conditions"] = condition
    found = errors_of(data)
    assert path in found, found
    assert words in found[path]


def test_all_problems_of_a_file_come_together():
    data = example()
    data["mode"], data["budget"], data["region"] = "x", "-1", "999999"
    assert {"mode", "budget", "region"} <= set(errors_of(data))


def test_huge_or_deep_rules_are_refused_without_crashing():
    deep = {"var": "revenue"}
    for _ in range(10_000):
        deep = {"!": deep}
    data = example()
    data["conditions"] = deep
    assert any("过深" in r for r in errors_of(data).values())
    data["conditions"] = {"and": [{"==": [1, 1]}] * 6000}
    assert any("过大" in r for r in errors_of(data).values())


def test_load_specs_reports_errors_of_several_files(tmp_path):
    good = example()
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(good, allow_unicode=True), encoding="utf-8")
    bad1 = dict(good, id="bad-one", mode="x")
    (tmp_path / "bad1.yaml").write_text(yaml.safe_dump(bad1, allow_unicode=True), encoding="utf-8")
    (tmp_path / "bad2.yaml").write_text("id: [unclosed", encoding="utf-8")
    specs, errors = load_specs(tmp_path)
    assert [s.id for s in specs] == ["nj-wengang-fanhuan"]
    assert {e.source for e in errors} == {"bad1.yaml", "bad2.yaml"}


def test_every_generated_policy_is_a_valid_spec(small_world):
    specs, errors = load_specs(small_world / "policies")
    assert errors == [] and len(specs) >= 40
