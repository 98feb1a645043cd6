"""Region scopes beyond the official tree: 全国 and the special zones (docs/regions.md)."""

import csv
import datetime as dt
import re
from pathlib import Path

import pytest
import yaml

from graph import GraphError, UnknownCode, regions
from graph.taxonomy import NATIONAL, RegionTree, _read_csv
from matcher import catalog
from matcher.columnar import Table, decide_columns, evaluate_conditions
from matcher.decision import decide
from matcher.engine import UNKNOWN, evaluate_rule
from matcher.errors import InvalidFieldValue, RuleError
from matcher.policytest import run_cases
from matcher.spec import SpecErrors, parse_spec

AS_OF = dt.date(2026, 6, 30)
V = lambda name: {"var": name}  # noqa: E731
ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u4e00-\u9fff]")

SHENSHAN, DAPENG, XIONGAN, ZHOUSHAN = "994401", "994402", "991301", "993301"
# Where firms are registered, across provinces and zones (and one missing value).
FIRMS = [
    "320102",  # 南京 玄武区
    "310115",  # 上海 浦东新区
    "440305",  # 深圳 南山区
    "440307",  # 深圳 龙岗区 (大鹏新区 was carved from it)
    "441521",  # 汕尾 海丰县 (深汕 covers four of its towns)
    "441502",  # 汕尾 城区
    "441900",  # 东莞市, a city without districts
    SHENSHAN,
    DAPENG,
    "130629",  # 容城县 (雄安)
    "130638",  # 雄县 (雄安)
    "130632",  # 安新县 (雄安)
    "130628",  # 高阳县 (one township in 雄安)
    "130982",  # 任丘市 (three towns in 雄安)
    "130602",  # 保定 竞秀区
    XIONGAN,
    "330902",  # 舟山 定海区
    "650102",  # 乌鲁木齐 天山区
    None,
]
# literal -> the FIRMS inside it
INSIDE = {
    NATIONAL: set(FIRMS) - {None},
    "440000": {"440305", "440307", "441521", "441502", "441900", SHENSHAN, DAPENG},
    "440300": {"440305", "440307", SHENSHAN, DAPENG},
    "441500": {"441521", "441502"},
    "441521": {"441521"},
    SHENSHAN: {SHENSHAN},
    DAPENG: {DAPENG},
    "130000": {"130629", "130638", "130632", "130628", "130982", "130602", XIONGAN},
    "130600": {"130629", "130638", "130632", "130628", "130602"},
    XIONGAN: {XIONGAN, "130629", "130638", "130632"},
    ZHOUSHAN: {"330902"},
    "330000": {"330902"},
}


def example() -> dict:
    """The documented policy example (docs/policy-spec.md), scoped to 南京市."""
    text = (ROOT / "docs" / "policy-spec.md").read_text(encoding="utf-8").split("## Example", 1)[1]
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))


def errors_of(data) -> dict[str, str]:
    with pytest.raises(SpecErrors) as err:
        parse_spec(data, source="p.yaml")
    return {e.path: e.reason for e in err.value.errors}


# -- 全国 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["000000", "全国", " 全国 ", "00"])
def test_national_code_and_name(raw):
    tree = regions()
    assert tree.canonical(raw) == NATIONAL
    assert tree.full_name(raw) == "全国" and tree.get(raw).level_label == "全国"
    assert catalog.label_value("region", NATIONAL) == "全国"
    assert [r.code for r in tree.by_name("全国")] == [NATIONAL]
    assert [r.code for r in tree.children(NATIONAL)] == [r.code for r in tree.children(None)]


def test_every_region_is_within_the_nation():
    tree = regions()
    codes = [r.code for r in tree] + [z.code for z in tree.zones()]
    assert all(tree.is_within(c, NATIONAL) for c in codes)
    assert all(tree.is_within(c, "全国") for c in codes)
    assert not tree.is_within(NATIONAL, "320000")


def test_national_is_not_where_a_firm_registers():
    assert not regions().is_registration_level(NATIONAL)
    with pytest.raises(InvalidFieldValue) as err:
        catalog.parse_value("region", "全国")
    assert "县级" in str(err.value)


def test_the_official_tree_is_unchanged():
    """全国 and zones are scopes, not divisions: iteration, children and city() stay official."""
    tree = regions()
    assert NATIONAL not in {r.code for r in tree} and SHENSHAN not in {r.code for r in tree}
    assert SHENSHAN not in {r.code for r in tree.children("440300")}
    assert tree.city("深圳市").code == "440300"


def test_prefix_scopes_are_exactly_the_parent_chain():
    """The columnar engine tests official areas by code prefix; that must be the tree's parent chain."""
    tree = regions()
    for r in tree:
        by_prefix = set()
        for length, level in ((2, 0), (4, 1), (6, 2)):
            code = r.code[:length].ljust(6, "0")
            if code in tree and tree.get(code).kind == "division" and tree.get(code).level == level:
                by_prefix.add(code)
        assert by_prefix == {a.code for a in tree.ancestors(r.code)}, r.code


# -- the engines agree ------------------------------------------------------------------


@pytest.mark.parametrize("literal", sorted(INSIDE))
def test_scalar_and_columnar_agree_on_every_scope(literal):
    rule = {"in_region": [V("region"), literal]}
    records = [{"region": r} for r in FIRMS]
    outcome, missing = evaluate_conditions(rule, Table.from_records(records, AS_OF))
    scalar = [evaluate_rule(rule, rec, as_of=AS_OF).value for rec in records]
    columnar = [UNKNOWN if o == -1 else bool(o) for o in outcome]
    assert columnar == scalar
    assert {r for r, v in zip(FIRMS, scalar) if v is True} == INSIDE[literal]
    assert scalar[FIRMS.index(None)] is UNKNOWN and missing[FIRMS.index(None)] == ("region",)


def scoped_spec(region):
    data = example()
    data["region"] = region
    data["conditions"]["and"][0] = {"in_region": [V("region"), region]}
    for case in data["tests"]:  # every case of the example is about a firm inside the scope
        case["facts"]["region"] = sorted(INSIDE[regions().canonical(region)])[0]
    return parse_spec(data)


@pytest.mark.parametrize("region", ["全国", "000000", "440000", "440300", SHENSHAN, XIONGAN])
def test_a_policy_scoped_to_a_region_decides_the_same_in_both_engines(region):
    spec = scoped_spec(region)
    assert spec.region == regions().canonical(region)
    assert all(c.passed for c in run_cases(spec, AS_OF))
    people = [
        {"region": r, "insured_employees": 12, "unemployment_insurance_paid": "20000.00", "on_dishonesty_list": False}
        for r in FIRMS
    ]
    people = [{k: catalog.parse_value(k, v) for k, v in p.items()} for p in people]
    columnar = decide_columns(spec, Table.from_records(people, AS_OF))
    for p, c in zip(people, columnar):
        s = decide(spec, p, AS_OF)
        assert (c.outcome, c.amount, c.missing) == (s.outcome, s.amount, s.missing), p["region"]
    eligible = {p["region"] for p, c in zip(people, columnar) if c.outcome == "eligible"}
    assert eligible == INSIDE[spec.region]


# -- explanations -----------------------------------------------------------------------


def sentence(region, literal):
    (leaf,) = evaluate_rule({"in_region": [V("region"), literal]}, {"region": region}, as_of=AS_OF).trace
    return leaf.sentence


def test_explanations_name_the_scope():
    assert sentence("320102", "全国") == "注册地江苏省南京市玄武区在全国范围内"
    assert sentence("320102", "000000") == "注册地江苏省南京市玄武区在全国范围内"
    assert sentence(SHENSHAN, "440300") == "注册地广东省深圳市深汕特别合作区在广东省深圳市范围内"
    assert sentence("130629", XIONGAN) == "注册地河北省保定市容城县在河北省雄安新区范围内"
    assert sentence("440305", SHENSHAN) == "注册地广东省深圳市南山区不在广东省深圳市深汕特别合作区范围内"


def test_a_partly_covered_county_is_out_and_says_why():
    said = sentence("441521", SHENSHAN)
    assert said.startswith("注册地广东省汕尾市海丰县不在广东省深圳市深汕特别合作区范围内")
    assert "鹅埠镇、小漠镇、鲘门镇、赤石镇" in said and SHENSHAN in said
    assert "龙化乡" in sentence("130628", XIONGAN)


# -- zones ------------------------------------------------------------------------------


def test_zone_codes_parse_and_name():
    tree = regions()
    assert tree.canonical(SHENSHAN) == SHENSHAN and tree.full_name(SHENSHAN) == "广东省深圳市深汕特别合作区"
    assert tree.get(SHENSHAN).level_label == "功能区"
    assert tree.full_name(XIONGAN) == "河北省雄安新区"
    assert [r.code for r in tree.by_name("深汕特别合作区")] == [SHENSHAN]
    assert tree.zone(SHENSHAN).partly_covers == (("441521", "鹅埠镇、小漠镇、鲘门镇、赤石镇"),)
    assert tree.zone(XIONGAN).covers == ("130638", "130629", "130632")
    assert tree.zone("440300") is None
    assert catalog.label_value("region", SHENSHAN) == "广东省深圳市深汕特别合作区"


def test_registrable_zones_are_registration_regions():
    assert catalog.parse_value("region", SHENSHAN) == SHENSHAN
    assert catalog.parse_value("region", XIONGAN) == XIONGAN
    with pytest.raises(InvalidFieldValue) as err:  # 舟山群岛新区 is 舟山市: firms register in its districts
        catalog.parse_value("region", ZHOUSHAN)
    assert "县级" in str(err.value)


def test_zone_scopes_in_policy_specs():
    for region in (SHENSHAN, DAPENG, XIONGAN, ZHOUSHAN, "全国", "440000"):
        spec = scoped_spec(region)
        assert spec.region == regions().canonical(region) and all(c.passed for c in run_cases(spec, AS_OF))


# -- bad codes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code, words",
    [
        ("994499", "不是已登记的功能区代码"),
        ("990000", "不是已登记的功能区代码"),
        ("440343", "不是现行的行政区划代码"),  # a Shenzhen-local code (大鹏新区 in some systems), not national
        ("330104", "江干区已于 2021 年撤销"),
        ("abc", "应为 6 位数字"),
        ("中国", "应为 6 位数字"),
        ("", "应为 6 位数字"),
    ],
)
def test_bad_codes_are_refused_in_chinese_everywhere(code, words):
    with pytest.raises(UnknownCode) as err:
        regions().canonical(code)
    assert words in str(err.value) and str(err.value).startswith("行政区划代码")
    if code:
        with pytest.raises(InvalidFieldValue) as bad:
            catalog.parse_value("region", code)
        assert words in str(bad.value)
        data = example()
        data["region"] = code
        data["conditions"]["and"][0] = {"in_region": [V("region"), code]}
        errors = errors_of(data)
        assert words in errors["region"] and words in errors["conditions.and[0].in_region[1]"]
    with pytest.raises(RuleError) as rule:
        evaluate_rule({"in_region": [V("region"), code]}, {"region": "320102"}, as_of=AS_OF)
    assert CJK.search(str(rule.value))


def test_spec_with_a_bad_region_names_it():
    data = example()
    data["region"] = "994499"
    with pytest.raises(SpecErrors) as err:
        parse_spec(data, source="p.yaml")
    assert "功能区" in str(err.value)


# -- the zones file ---------------------------------------------------------------------


def tree_with(*rows):
    base = dict(code="994409", name="测试区", parent="440300", registrable="true", covers="", partly_covers="")
    return RegionTree(
        _read_csv("regions_provinces.csv"),
        _read_csv("regions_cities.csv"),
        _read_csv("regions_areas.csv"),
        [{**base, "source": "测试", **r} for r in rows],
    )


@pytest.mark.parametrize(
    "row, words",
    [
        ({"code": "440399"}, "99 + 管辖省份代码 44"),
        ({"code": "993209"}, "99 + 管辖省份代码 44"),
        ({"parent": "449999"}, "管辖地区 '449999' 不是现行的行政区划代码"),
        ({"covers": "440305;440399"}, "覆盖的区划 '440399'"),
        ({"covers": "440300;440305"}, "重叠"),
        ({"covers": "440305;440305"}, "重复"),
        ({"covers": "441521"}, "不在管辖地区 440300 之内"),
        ({"partly_covers": "441521"}, "代码:乡镇"),
        ({"covers": "440307", "partly_covers": "440307:葵涌街道"}, "既全部覆盖又部分覆盖"),
        ({"registrable": "yes"}, "true 或 false"),
        ({"registrable": "false"}, "无法匹配任何企业"),
        ({"name": ""}, "缺少名称"),
        ({"source": ""}, "缺少来源"),
    ],
)
def test_a_bad_zones_file_is_refused_naming_the_row(row, words):
    with pytest.raises(GraphError) as err:
        tree_with(row)
    assert words in str(err.value) and "region_zones.csv" in str(err.value)


def test_a_duplicate_zone_is_refused():
    with pytest.raises(GraphError, match="代码重复"):
        tree_with({}, {"covers": "440305"})


def test_a_deployment_zone_of_whole_districts():
    tree = tree_with({"covers": "440305;440306", "registrable": "false"})
    assert tree.is_within("440305", "994409") and not tree.is_within("440307", "994409")
    assert tree.is_within("994409", "440300")


def test_shipped_zones_are_documented_with_their_sources():
    doc = (ROOT / "docs" / "regions.md").read_text(encoding="utf-8")
    with (ROOT / "graph" / "data" / "region_zones.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["code"] for r in rows} == {z.code for z in regions().zones()}
    for r in rows:
        assert r["code"] in doc and r["name"] in doc, r["name"]
