"""A deployment describes its own facts as data: a catalog file adds a field that specs, imports, exports,
both engines and the explanations use, without a line of Python."""

import csv
import datetime as dt
import textwrap

import pandas as pd
import pytest
from click.testing import CliRunner
from policy_specs import insured_employee_subsidy
from test_import import rows_of, write_rows

from matcher import catalog
from matcher.columnar import Table, decide_columns
from matcher.decision import decide
from matcher.spec import parse_spec
from service.app import create_app
from service.cli import main
from service.errors import SetupError
from service.io.exporter import export_enterprises
from service.io.importer import import_enterprises

AS_OF = dt.date(2026, 6, 30)
CITY = textwrap.dedent(
    """\
    sources:
      housing_fund: {label: 公积金中心, verified: true}
    fields:
      - name: provident_fund_insured
        label: 缴存住房公积金职工人数
        type: int
        unit: 人
        source: housing_fund
        max: 100000
        description: 上年末缴存住房公积金的职工人数
      - name: skill_certificates
        max: 5000
    consistency:
      - id: fund_within_employees
        fields: [provident_fund_insured, employees]
        rule: {"<=": [{"var": "provident_fund_insured"}, {"var": "employees"}]}
        message: 缴存公积金职工人数不能多于从业人员数
    """
)


@pytest.fixture
def city_catalog(tmp_path):
    path = tmp_path / "city.yaml"
    path.write_text(CITY, encoding="utf-8")
    catalog.use([str(path)])
    yield path
    catalog.use()  # the shipped catalog again for the other tests


def fund_spec() -> dict:
    data = insured_employee_subsidy("gongjijin-buzhu", "automatic", "0", "1000000")
    data["conditions"] = {
        "and": [{"in_region": [{"var": "region"}, "320100"]}, {">=": [{"var": "provident_fund_insured"}, 10]}]
    }
    data["amount"] = {"formula": {"*": [{"var": "provident_fund_insured"}, 100]}, "cap": "5000.00"}
    data["tests"] = [
        {
            "name": "缴存 12 人",
            "facts": {"region": "320102", "provident_fund_insured": 12},
            "expect": {"decision": "eligible", "amount": "1200.00"},
        },
        {
            "name": "缴存 9 人",
            "facts": {"region": "320102", "provident_fund_insured": 9},
            "expect": {"decision": "not_eligible", "reason": "缴存住房公积金职工人数"},
        },
        {
            "name": "未知",
            "facts": {"region": "320102"},
            "expect": {"decision": "undetermined", "missing": ["provident_fund_insured"]},
        },
    ]
    return data


def test_a_catalog_file_adds_a_field_that_specs_and_both_engines_use(city_catalog):
    f = catalog.FIELDS["provident_fund_insured"]
    assert (f.type, f.unit, catalog.SOURCES[f.source], f.max) == ("count", "人", "公积金中心", 100000)
    assert "housing_fund" in catalog.VERIFIED_SOURCES and catalog.FIELDS["skill_certificates"].max == 5000
    spec = parse_spec(fund_spec())
    d = decide(spec, {"region": "320102", "provident_fund_insured": 9}, AS_OF)
    assert d.outcome == "not_eligible" and any("缴存住房公积金职工人数" in r for r in d.reasons)
    people = [{"region": "320102", "provident_fund_insured": n} for n in (0, 9, 10, 60, 100)] + [{"region": "320102"}]
    columnar = decide_columns(spec, Table.from_records(people, AS_OF))
    scalar = [decide(spec, p, AS_OF) for p in people]
    assert [(c.outcome, c.amount) for c in columnar] == [(s.outcome, s.amount) for s in scalar]
    assert [s.amount for s in scalar[2:5]] == [catalog.parse_value("revenue", x) for x in ("1000", "5000", "5000")]
    frame = pd.DataFrame({"region": ["320102"] * 3, "provident_fund_insured": ["12", "", "3"]})
    assert [c.outcome for c in decide_columns(spec, Table.from_frame(frame, AS_OF))] == [
        "eligible",
        "undetermined",
        "not_eligible",
    ]


def test_without_the_file_the_field_is_unknown_to_specs():
    with pytest.raises(Exception, match="provident_fund_insured"):
        parse_spec(fund_spec())


def test_import_and_export_carry_the_deployment_field(city_catalog, engine, small_world, tmp_path):
    rows = rows_of(small_world)[:20]
    for i, row in enumerate(rows):
        row["provident_fund_insured"] = str(min(i, int(row["employees"])))
    write_rows(tmp_path / "e.csv", rows)
    assert import_enterprises(engine, tmp_path / "e.csv").committed
    export_enterprises(engine, tmp_path / "out.csv")
    with open(tmp_path / "out.csv", encoding="utf-8") as fh:
        out = list(csv.DictReader(fh))
    assert [r["provident_fund_insured"] for r in out] == [r["provident_fund_insured"] for r in rows]
    rows[3]["provident_fund_insured"] = str(int(rows[3]["employees"]) + 1)  # the deployment's own rule
    write_rows(tmp_path / "bad.csv", rows)
    report = import_enterprises(engine, tmp_path / "bad.csv")
    assert not report.committed and "缴存公积金职工人数不能多于从业人员数" in report.errors[0].reason
    assert report.errors[0].line == 5


def test_the_cli_shows_and_checks_the_effective_catalog(tmp_path, monkeypatch):
    monkeypatch.setenv("ZHIDA_CATALOG", "")  # --catalog sets it (for the processes zhida starts): undone after
    path = tmp_path / "city.yaml"
    path.write_text(CITY, encoding="utf-8")
    try:
        r = CliRunner().invoke(main, ["--catalog", str(path), "fields", "list"])
        assert r.exit_code == 0 and "provident_fund_insured" in r.output and "公积金中心" in r.output
        r = CliRunner().invoke(main, ["fields", "check", str(path)])
        assert r.exit_code == 0 and "字段目录有效" in r.output, r.output
        bad = tmp_path / "bad.yaml"
        bad.write_text(
            "fields:\n  - {name: employees, type: money}\n  - {name: hukou, label: 户籍, type: enum, source: tax}\n"
        )
        r = CliRunner().invoke(main, ["fields", "check", str(bad)])
        assert r.exit_code == 1
        assert "bad.yaml: fields[0]（employees）.type: 不能改变已有字段的类型" in r.output
        assert "fields[1]（hukou）.choices" in r.output
        r = CliRunner().invoke(main, ["--catalog", str(bad), "fields", "list"])
        assert r.exit_code != 0 and "不能改变已有字段的类型" in r.output
    finally:
        catalog.use()


def test_the_app_reads_zhida_catalog(tmp_path, monkeypatch, db_url):
    path = tmp_path / "city.yaml"
    path.write_text(CITY, encoding="utf-8")
    monkeypatch.setenv("ZHIDA_CATALOG", str(path))
    try:
        app = create_app({"DATABASE_URL": db_url, "TESTING": True})
        fields = {f["name"]: f for f in app.test_client().get("/api/reference/fields").json["items"]}
        assert fields["provident_fund_insured"]["label"] == "缴存住房公积金职工人数"
        assert fields["qualifications"]["absence"] == "roster" and fields["skill_certificates"]["declarable"]
        monkeypatch.setenv("ZHIDA_CATALOG", str(tmp_path / "missing.yaml"))
        with pytest.raises(SetupError, match="missing.yaml: 文件不存在"):
            create_app({"DATABASE_URL": db_url, "TESTING": True})
    finally:
        catalog.use()


def test_a_catalog_problem_changes_nothing(tmp_path):
    before = catalog.digest()
    bad = tmp_path / "bad.yaml"
    bad.write_text("fields:\n  - {name: age_years, label: 年限, type: count, source: tax, max: 3}\n", encoding="utf-8")
    with pytest.raises(catalog.CatalogError, match="系统计算字段只能改标签"):
        catalog.use([str(bad)])
    assert catalog.digest() == before and catalog.FIELDS["age_years"].label == "成立年限"
