"""Enterprise scale by 国统字〔2017〕213号, at and around every threshold."""

import datetime as dt
from decimal import Decimal

import pytest

from graph import industries
from matcher import scale
from matcher.registry import derive, years_between

WAN = Decimal(10000)
# One industry class inside each group, to classify with.
SAMPLE = {
    "农、林、牧、渔业": "A0111",
    "工业": "C3911",
    "建筑业": "E4811",
    "批发业": "F5161",
    "零售业": "F5211",
    "交通运输业": "G5431",
    "仓储业": "G5951",
    "邮政业": "G6010",
    "住宿业": "H6110",
    "餐饮业": "H6210",
    "信息传输业": "I6311",
    "软件和信息技术服务业": "I6513",
    "房地产开发经营": "K7010",
    "物业管理": "K7020",
    "租赁和商务服务业": "L7211",
    "其他未列明行业": "M7320",
}
BIG = {"employees": Decimal(10**7), "revenue": Decimal(10**13), "total_assets": Decimal(10**13)}


def test_every_group_has_a_sample_class_in_it():
    assert set(SAMPLE) == {g.name for g in scale.GROUPS}
    for name, code in SAMPLE.items():
        assert code in industries() and scale.group_of(code) == name


def _cases():
    for g in scale.GROUPS:
        code = SAMPLE[g.name]
        for i, cls in enumerate(scale.ORDER):
            lower = {k: b[i] for k, b in g.bounds.items()}
            yield pytest.param(code, lower, cls, id=f"{g.name}-{cls}-at-bounds")
            for k in g.bounds:  # one indicator a unit below: down one class (下划一档)
                below = dict(lower, **{k: lower[k] - (1 if k == "employees" else Decimal("0.01"))})
                expected = scale.ORDER[i + 1] if i + 1 < len(scale.ORDER) else "micro"
                yield pytest.param(code, below, expected, id=f"{g.name}-{cls}-{k}-below")


@pytest.mark.parametrize("code, values, expected", list(_cases()))
def test_thresholds(code, values, expected):
    args = {k: values.get(k, BIG[k]) for k in ("employees", "revenue", "total_assets")}
    assert scale.classify(code, **args) == expected


@pytest.mark.parametrize(
    "code, employees, revenue_wan, assets_wan, expected",
    [
        ("C3911", 1000, 40000, None, "large"),  # 工业: 1000 人且 4 亿元
        ("C3911", 999, 40000, None, "medium"),
        ("C3911", 1000, 39999, None, "medium"),
        ("C3911", 19, 100000, None, "micro"),  # 微型: one indicator below is enough
        ("F5211", 50, 500, None, "medium"),  # 零售业
        ("F5211", 49, 500, None, "small"),
        ("F5211", 9, 50000, None, "micro"),
        ("I6513", 9, None, None, "micro"),  # decided although revenue is missing
        ("E4811", None, 80000, 80000, "large"),  # 建筑业: revenue and assets, no staff bound
        ("E4811", None, 80000, 4999, "small"),
        ("K7010", None, 200000, 10000, "large"),
        ("L7211", 300, None, 120000, "large"),
        ("A0111", None, 49, None, "micro"),
        ("M7320", 300, None, None, "large"),
    ],
)
def test_cases_from_the_document(code, employees, revenue_wan, assets_wan, expected):
    revenue = revenue_wan * WAN if revenue_wan is not None else None
    assets = assets_wan * WAN if assets_wan is not None else None
    assert scale.classify(code, employees, revenue, assets) == expected


def test_missing_data_is_undecided_not_guessed():
    assert scale.classify("C3911", 500, None) is None
    assert scale.classify("C3911", None, 10**9) is None
    assert scale.required_fields("C3911") == ("employees", "revenue")


def test_finance_is_outside_the_method():
    # a known answer, not an unknown one: no 划型 under 213号 exists for it, and nothing to declare would change that
    assert scale.classify("J6621", 10**5, 10**12, 10**12) == scale.UNCLASSIFIED
    assert scale.classify("S9411") == scale.UNCLASSIFIED
    assert "不在划分办法范围内" in scale.group_of("J6621")


def test_most_specific_group_wins():
    assert scale.group_of("K7010") == "房地产开发经营"
    assert scale.group_of("K7030") == "其他未列明行业"


def test_derived_fields():
    facts = {
        "established_on": dt.date(2016, 7, 1),
        "rd_expense": Decimal("300000.00"),
        "revenue": Decimal("9000000.00"),
        "revenue_prev": Decimal("8000000.00"),
        "industry": "I6513",
        "employees": 40,
        "total_assets": None,
    }
    d = derive(facts, dt.date(2026, 6, 30))
    assert d == {"age_years": 9, "rd_ratio": Decimal("3.33"), "revenue_growth": Decimal("12.50"), "scale": "small"}
    assert derive(facts, dt.date(2026, 7, 1))["age_years"] == 10


def test_derived_fields_are_none_when_inputs_are_missing():
    d = derive({"revenue": Decimal("0.00"), "rd_expense": Decimal("5.00")}, dt.date(2026, 1, 1))
    assert d == {"age_years": None, "rd_ratio": None, "revenue_growth": None, "scale": None}


def test_years_between_counts_whole_years():
    assert years_between(dt.date(2020, 2, 29), dt.date(2021, 2, 28)) == 0
    assert years_between(dt.date(2020, 2, 29), dt.date(2021, 3, 1)) == 1
