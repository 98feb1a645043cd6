"""Bad values found by trying the product (issue 11): each is refused with where and why, and nothing is written."""

import datetime as dt
import json

import pytest
import yaml
from sqlalchemy import select
from test_import import count, rows_of, write_rows

from matcher import catalog
from matcher.errors import InvalidFieldValue
from matcher.spec import parse_spec
from service.app import create_app
from service.http import auth
from service.io.importer import import_enterprises, import_policies
from service.store import session_scope
from service.store.models import Enterprise, FieldValue, Policy

BIG = "1" * 400


@pytest.mark.parametrize(
    "column, value, reason",
    [
        ("revenue", "1e30", "超出有效范围"),
        ("revenue", BIG, "数字过长"),
        ("employees", "1e400", "超出有效范围"),
        ("name", "南京\x00科技有限公司", "控制字符 U+0000"),
        ("name", "南" * 10_000, "过长：10000 个字符，最多 200 个"),
        ("insured_employees", "100000", "参保职工人数不能多于从业人员数"),
    ],
)
def test_a_bad_value_is_named_at_its_line_and_nothing_is_written(engine, small_world, tmp_path, column, value, reason):
    rows = rows_of(small_world)
    rows[41][column] = value
    path = tmp_path / "bad.csv"
    write_rows(path, rows)
    report = import_enterprises(engine, path)
    assert not report.committed
    errors = [e for e in report.errors if e.line == 43]
    assert errors and errors[0].field == column and reason in errors[0].reason, report.errors
    assert f"bad.csv:43: {column}:" in str(errors[0]) and len(str(errors[0])) < 400  # a long value is cut
    assert count(engine, Enterprise) == 0 and count(engine, FieldValue) == 0


def test_a_lone_surrogate_in_json_lines_is_named(engine, small_world, tmp_path):
    rows = rows_of(small_world)[:3]
    rows[1]["business_scope"] = "技术服务\ud800"
    lines = [json.dumps(r, ensure_ascii=True) for r in rows]  # "\ud800" is valid JSON text, not valid Unicode
    (tmp_path / "e.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = import_enterprises(engine, tmp_path / "e.jsonl")
    assert not report.committed and count(engine, Enterprise) == 0
    (err,) = report.errors
    assert (err.line, err.field) == (2, "business_scope") and "代理字符" in err.reason


@pytest.mark.parametrize("encoding", ["gbk", "binary"])
def test_a_file_that_is_not_utf8_names_the_file_and_line(engine, small_world, tmp_path, encoding):
    rows = rows_of(small_world)
    path = tmp_path / "city.csv"
    write_rows(path, rows)
    data = path.read_bytes()
    if encoding == "gbk":
        data = data.decode("utf-8").encode("gbk")
    else:
        data = data[:300] + bytes(range(256)) * 4
    path.write_bytes(data)
    report = import_enterprises(engine, path)
    assert not report.committed and report.errors
    err = report.errors[0]
    assert err.file == "city.csv" and err.line >= 1
    assert "UTF-8" in err.reason or "二进制" in err.reason
    assert count(engine, Enterprise) == 0


def test_an_import_with_skip_bad_still_stops_at_an_undecodable_file(engine, small_world, tmp_path):
    path = tmp_path / "city.csv"
    write_rows(path, rows_of(small_world))
    path.write_bytes(path.read_bytes().decode("utf-8").encode("gbk"))
    report = import_enterprises(engine, path, skip_bad=True)
    assert not report.committed and count(engine, Enterprise) == 0


def _spec(small_world):
    path = sorted((small_world / "policies").glob("*.yaml"))[0]
    return path, yaml.safe_load(path.read_text(encoding="utf-8"))


def test_a_policy_budget_of_1e30_is_a_spec_error(engine, small_world, tmp_path):
    path, data = _spec(small_world)
    data["budget"] = "1e30"
    (tmp_path / path.name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    report = import_policies(engine, tmp_path)
    assert not report.committed and count(engine, Policy) == 0
    assert any(e.field == "budget" and "超出" in e.reason for e in report.errors), report.errors


def test_a_policy_whose_own_case_fails_is_not_published(engine, small_world, tmp_path):
    path, data = _spec(small_world)
    case = data["tests"][0]
    case["expect"] = {"decision": "not_eligible" if case["expect"]["decision"] == "eligible" else "eligible"}
    (tmp_path / path.name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    report = import_policies(engine, tmp_path)
    assert not report.committed and count(engine, Policy) == 0
    assert any("测试用例" in e.reason and case["name"] in e.reason for e in report.errors), report.errors


def test_a_case_whose_facts_break_a_consistency_rule_is_a_spec_error(small_world):
    _, data = _spec(small_world)
    data["tests"][0]["facts"].update({"employees": 10, "insured_employees": 40})
    with pytest.raises(Exception) as e:
        parse_spec(data)
    assert "参保职工人数不能多于从业人员数" in str(e.value) and "tests[0].facts" in str(e.value)


def test_ranges_hold_in_the_catalog_itself():
    with pytest.raises(InvalidFieldValue, match="超出有效范围"):
        catalog.parse_value("skill_certificates", "1" + "0" * 30)
    with pytest.raises(InvalidFieldValue, match="数字过长"):
        catalog.parse_value("skill_certificates", BIG)
    with pytest.raises(InvalidFieldValue, match="超出有效范围"):
        catalog.parse_value("smart_manufacturing_level", 6)
    assert catalog.parse_value("smart_manufacturing_level", 5) == 5
    assert catalog.inconsistencies({"employees": 5, "insured_employees": 6})
    assert catalog.inconsistencies({"employees": 5, "insured_employees": 5}) == []
    assert catalog.inconsistencies({"insured_employees": 6}) == []  # unknown employees: not broken


@pytest.fixture
def app(engine, db_url, small_world):
    import_policies(engine, small_world / "policies")
    import_enterprises(engine, small_world / "enterprises.csv")
    return create_app({"DATABASE_URL": db_url, "TESTING": True})


def test_a_declared_count_of_ten_to_the_400_is_refused_and_writes_nothing(app, engine):
    with session_scope(engine) as s:
        uscc = s.scalar(select(Enterprise.uscc).order_by(Enterprise.id).limit(1))
        key = auth.create_key(s, "enterprise", enterprise_uscc=uscc)[1]
    c = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    before = count(engine, FieldValue)
    for i, value in enumerate(["1" + "0" * 400, 10**400, "1e400"]):
        r = c.post(
            f"/api/enterprises/{uscc}/declarations",
            json={"commitment": True, "facts": {"skill_certificates": value}},
            headers={**headers, "Idempotency-Key": f"big{i}"},
        )
        assert r.status_code == 422 and r.json["detail"].startswith("facts.skill_certificates："), r.json
        assert "超出有效范围" in r.json["detail"] or "数字过长" in r.json["detail"]
        assert r.json["field"] == "facts.skill_certificates" and "0000000000" not in r.json["detail"]
    with engine.connect() as conn:
        employees = conn.execute(
            select(FieldValue.value).join(Enterprise).where(Enterprise.uscc == uscc, FieldValue.field == "employees")
        ).scalar()
    r = c.post(
        f"/api/enterprises/{uscc}/declarations",
        json={"commitment": True, "facts": {"skill_certificates": int(employees) + 1}},
        headers={**headers, "Idempotency-Key": "more-than-staff"},
    )
    assert r.status_code == 422 and "从业人员" in r.json["detail"], r.json
    assert count(engine, FieldValue) == before


def test_dates_outside_their_range_are_refused():
    with pytest.raises(InvalidFieldValue, match="超出有效范围"):
        catalog.parse_value("established_on", "1800-01-01", today=dt.date(2026, 1, 1))


def test_a_gbk_policy_file_is_named_not_a_traceback(engine, small_world, tmp_path):
    path, _ = _spec(small_world)
    (tmp_path / path.name).write_bytes(path.read_text(encoding="utf-8").encode("gb18030"))
    report = import_policies(engine, tmp_path)
    assert not report.committed and count(engine, Policy) == 0
    (err,) = report.errors
    assert err.file == path.name and "不是 UTF-8 编码的文本" in err.reason
