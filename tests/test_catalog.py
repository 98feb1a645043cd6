"""The field catalog turns raw values into typed ones, or says why not."""

import datetime as dt
from decimal import Decimal

import pytest

from matcher import catalog
from matcher.errors import InvalidFieldValue


def parse(name, raw, **kw):
    return catalog.parse_value(name, raw, **kw)


def test_money_is_decimal_with_two_places():
    assert parse("revenue", "3200000") == Decimal("3200000.00")
    assert parse("revenue", "1,234.5") == Decimal("1234.50")
    assert parse("revenue", 0.1) == Decimal("0.10")  # floats by their shortest text


@pytest.mark.parametrize(
    "raw, reason", [("-5", "负数"), ("1.234", "两位小数"), ("abc", "数字"), ("NaN", "有限"), (True, "数字")]
)
def test_bad_money_is_refused(raw, reason):
    with pytest.raises(InvalidFieldValue) as err:
        parse("revenue", raw)
    assert reason in str(err.value) and err.value.field == "revenue"


def test_missing_values_are_none():
    assert parse("revenue", "") is None and parse("revenue", None) is None


def test_established_date_cannot_be_in_the_future():
    today = dt.date(2026, 6, 30)
    assert parse("established_on", "2026-06-30", today=today) == today
    with pytest.raises(InvalidFieldValue, match="晚于今天"):
        parse("established_on", "2026-07-01", today=today)
    with pytest.raises(InvalidFieldValue, match="YYYY-MM-DD"):
        parse("established_on", "2026/07/01")


def test_counts_are_non_negative_integers():
    assert parse("employees", "12") == 12
    for raw in ("-1", "1.5"):
        with pytest.raises(InvalidFieldValue):
            parse("employees", raw)


def test_region_must_be_a_current_district():
    assert parse("region", "320102") == "320102"
    with pytest.raises(InvalidFieldValue, match="区、县"):
        parse("region", "320100")
    with pytest.raises(InvalidFieldValue, match="江干区"):
        parse("region", "330104")


def test_industry_must_be_a_class():
    assert parse("industry", "3911") == "C3911"
    with pytest.raises(InvalidFieldValue, match="小类"):
        parse("industry", "C39")


def test_sets_enums_and_flags():
    assert parse("qualifications", "high_tech;srdi_sme") == frozenset({"high_tech", "srdi_sme"})
    assert parse("qualifications", ["gazelle"]) == frozenset({"gazelle"})
    assert parse("qualifications", "none") == frozenset() and parse("qualifications", "无") == frozenset()
    assert parse("qualifications", "") is None  # unknown, not empty
    assert catalog.format_value("qualifications", frozenset()) == "none"
    with pytest.raises(InvalidFieldValue, match="不是可选值"):
        parse("qualifications", "nobel_prize")
    assert parse("listed_status", "star") == "star"
    with pytest.raises(InvalidFieldValue):
        parse("listed_status", "moon")
    assert parse("on_dishonesty_list", "是") is True and parse("on_dishonesty_list", "false") is False
    with pytest.raises(InvalidFieldValue):
        parse("on_dishonesty_list", "maybe")


def test_unknown_field_is_refused():
    with pytest.raises(InvalidFieldValue, match="字段目录"):
        parse("revenu", "1")


@pytest.mark.parametrize(
    "name, raw",
    [
        ("revenue", "12.50"),
        ("qualifications", "high_tech;tech_sme"),
        ("established_on", "2010-01-02"),
        ("on_dishonesty_list", "true"),
        ("employees", "7"),
        ("industry", "C3911"),
        ("rd_ratio", "3.25"),
    ],
)
def test_format_and_parse_round_trip(name, raw):
    value = parse(name, raw)
    assert parse(name, catalog.format_value(name, value)) == value


def test_labels_read_as_chinese():
    assert catalog.label_value("revenue", Decimal("3200000.00")) == "320万元"
    assert catalog.label_value("region", "320102") == "江苏省南京市玄武区"
    assert catalog.label_value("revenue", None) == "未提供"
    assert catalog.label_value("qualifications", frozenset({"high_tech"})) == "高新技术企业"


def test_every_field_has_label_type_and_known_source():
    for f in catalog.FIELDS.values():
        assert f.label and f.type in catalog.TYPES and f.source in catalog.SOURCES
