"""``zhida import records``: one row per record keyed by USCC, all or nothing, errors as FILE:LINE: column;
export beside the enterprises file; decisions read the stored lists. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matcher import catalog
from matcher.decision import decide
from matcher.spec import load_spec
from service.cli import main
from service.io.exporter import export_enterprises
from service.io.importer import import_enterprises
from service.io.records import export_records, import_records
from service.io.rosters import import_rosters
from service.ledger.facts import facts_as_of
from service.store.models import Enterprise, FieldValue
from service.synth.params import REFERENCE_DATE

AS_OF = dt.date(2026, 6, 30)
COLUMNS = ["uscc", "hired_on", "age", "graduate_year", "labour_contract", "insured_months", "pension_insured"]
KUOGANG = Path(__file__).parent / "records_policies" / "kuogang-buzhu.yaml"


def write_csv(path, rows, columns=COLUMNS):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    return path


@pytest.fixture
def firms(engine, small_world, tmp_path):
    """A store with five enterprises of the generated city, on no refusing list; their USCCs."""
    listed = set()  # on a refusing roster (失信, 严重失信, 经营异常): the rosters say who is
    for roster in ("dishonest_debtors", "serious_dishonesty", "abnormal_operation"):
        with open(small_world / "rosters" / f"{roster}.csv", encoding="utf-8") as fh:
            listed |= {r["uscc"] for r in csv.DictReader(fh)}
    with open(small_world / "enterprises.csv", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["uscc"] not in listed][:5]
    with open(tmp_path / "e.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    assert import_enterprises(engine, tmp_path / "e.csv").committed
    # the city's rosters (the others' firms are not in this store): the five are known to be on none
    assert import_rosters(engine, small_world / "rosters", REFERENCE_DATE, skip_unknown=True).committed
    return [r["uscc"] for r in rows]


def stored(engine, uscc):
    with engine.connect() as conn:
        return conn.execute(
            select(FieldValue.value, FieldValue.source, FieldValue.as_of)
            .join(Enterprise)
            .where(Enterprise.uscc == uscc, FieldValue.field == "new_hires")
            .order_by(FieldValue.as_of)
        ).all()


def count(engine):
    with engine.connect() as conn:
        query = select(func.count()).select_from(FieldValue).where(FieldValue.field == "new_hires")
        return conn.execute(query).scalar()


def test_records_of_each_enterprise_become_one_fact(engine, firms, tmp_path):
    a, b, c = firms[:3]
    path = write_csv(
        tmp_path / "hires.csv",
        [
            [a, "2026-03-01", "22", "2026", "true", "3", "true"],
            [b, "2026-02-01", "30", "", "false", "", "true"],
            [a, "2026-01-15", "19", "", "是", "5", "1"],
            [c, "", "", "", "", "", ""],  # c has no new hires: a known empty list
        ],
    )
    report = import_records(engine, "new_hires", path, as_of=AS_OF, today=AS_OF)
    assert report.committed and (report.written, report.facts) == (3, 3), report.errors
    assert report.summary().startswith("导入 3 家企业的记录 3 条")
    ((value, source, as_of),) = stored(engine, a)
    assert (source, as_of) == ("social_security", AS_OF)
    assert json.loads(value)[1] == {
        "hired_on": "2026-01-15",
        "age": 19,
        "graduate_year": None,
        "registered_unemployed": None,
        "unemployed_months": None,
        "labour_contract": True,
        "insured_months": 5,
        "pension_insured": True,
        "injury_insured": None,
    }
    assert value == catalog.format_value("new_hires", catalog.load_value("new_hires", value))  # canonical
    assert stored(engine, c)[0][0] == "[]" and stored(engine, firms[3]) == []
    with Session(engine) as session:  # a decision reads the stored list
        ent = session.scalar(select(Enterprise).where(Enterprise.uscc == a))
        facts, sources = facts_as_of(session, ent, AS_OF)
    assert len(facts["new_hires"]) == 2 and facts["new_hires"][0]["age"] == 22
    assert sources["new_hires"] == "social_security"
    spec = load_spec(KUOGANG)
    d = decide(spec, {**facts, "on_dishonesty_list": False}, AS_OF, sources)
    assert (d.outcome, d.missing) == ("undetermined", ("new_hires",))  # the file had no injury insurance
    assert "新招用人员中 2人的缴纳工伤保险" in d.reasons[-1]
    # a new file for the same date replaces the enterprise's list; others keep theirs
    again = write_csv(tmp_path / "again.csv", [[a, "2026-04-01", "23", "2026", "true", "4", "true"]])
    assert import_records(engine, "new_hires", again, as_of=AS_OF, today=AS_OF).committed
    assert len(json.loads(stored(engine, a)[0][0])) == 1 and len(json.loads(stored(engine, b)[0][0])) == 1
    assert count(engine) == 3
    later = write_csv(
        tmp_path / "later.csv", [[a, "2026-04-01", "23", "2026", "true", "4", "true"]], COLUMNS + ["as_of"]
    )
    write_csv(later, [[a, "2026-04-01", "23", "2026", "true", "4", "true", "2026-07-31"]], COLUMNS + ["as_of"])
    assert import_records(engine, "新招用人员", later, today=dt.date(2026, 8, 1)).committed  # the label works too
    assert [r.as_of for r in stored(engine, a)] == [AS_OF, dt.date(2026, 7, 31)]


@pytest.mark.parametrize(
    "row, column, reason",
    [
        (["91350100M000100Y44", "2026-03-01", "22", "", "true", "3", "true"], "uscc", "校验"),
        (["91350100M000100Y43", "2026-03-01", "22", "", "true", "3", "true"], "uscc", "企业不在库中"),
        (["FIRM", "2026-13-01", "22", "", "true", "3", "true"], "hired_on", "YYYY-MM-DD"),
        (["FIRM", "2026-03-01", "12", "", "true", "3", "true"], "age", "不能小于 16"),
        (["FIRM", "2026-03-01", "22.5", "", "true", "3", "true"], "age", "整数"),
        (["FIRM", "2026-03-01", "22", "", "maybe", "3", "true"], "labour_contract", "true 或 false"),
        (["FIRM", "2026-03-01", "22", "", "true", "-1", "true"], "insured_months", "负数"),
    ],
)
def test_a_bad_row_is_named_and_nothing_is_written(engine, firms, tmp_path, row, column, reason):
    row = [firms[1] if x == "FIRM" else x for x in row]
    good = [firms[0], "2026-03-01", "22", "2026", "true", "3", "true"]
    path = write_csv(tmp_path / "bad.csv", [good, good, row])
    report = import_records(engine, "new_hires", path, as_of=AS_OF, today=AS_OF)
    assert not report.committed and count(engine) == 0
    (err,) = report.errors
    assert (err.file, err.line, err.field) == ("bad.csv", 4, column) and reason in err.reason, err
    assert str(err).startswith(f"bad.csv:4: {column}:")
    assert "未写入任何数据" in report.summary()


def test_unknown_columns_keys_and_dates_are_refused(engine, firms, tmp_path):
    path = write_csv(tmp_path / "typo.csv", [[firms[0], "22"]], ["uscc", "agee"])
    report = import_records(engine, "new_hires", path, today=AS_OF)
    assert not report.committed and (report.errors[0].line, report.errors[0].field) == (1, "agee")
    assert "age" in report.errors[0].reason
    no_uscc = write_csv(tmp_path / "no-uscc.csv", [["22"]], ["age"])
    assert import_records(engine, "new_hires", no_uscc, today=AS_OF).errors[0].field == "uscc"
    lines = [
        {"uscc": firms[0], "age": 22, "labour_contract": True, "hired_on": "2026-03-01"},
        {"uscc": firms[0], "age": 23, "salary": "5000"},
        {"uscc": firms[1], "age": 24, "as_of": "2099-01-01"},
        {"uscc": firms[2], "age": 20, "as_of": "2026-06-30"},
        {"uscc": firms[2], "age": 21, "as_of": "2026-05-31"},
        "[1, 2]",
    ]
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines)
    (tmp_path / "h.jsonl").write_text(text + "\n{broken\n", encoding="utf-8")
    report = import_records(engine, "new_hires", tmp_path / "h.jsonl", today=AS_OF)
    found = {(e.line, e.field) for e in report.errors}
    assert {(2, "salary"), (3, "as_of"), (5, "as_of"), (6, None), (7, None)} <= found, report.errors
    assert not report.committed and count(engine) == 0
    with pytest.raises(ValueError, match="不是记录列表字段"):
        import_records(engine, "employees", path)
    with pytest.raises(ValueError, match="来源"):
        import_records(engine, "new_hires", path, source="gossip")


def test_more_records_than_the_field_allows_and_contradictory_rows(engine, firms, tmp_path):
    own = tmp_path / "city.yaml"
    own.write_text("fields:\n  - {name: new_hires, max_items: 2}\n", encoding="utf-8")
    catalog.use([own])
    try:
        rows = [[firms[0], "2026-03-01", str(20 + i), "", "true", "3", "true"] for i in range(4)]
        rows += [[firms[1], "", "", "", "", "", ""], [firms[1], "2026-03-01", "22", "", "true", "3", "true"]]
        report = import_records(engine, "new_hires", write_csv(tmp_path / "many.csv", rows), as_of=AS_OF, today=AS_OF)
    finally:
        catalog.use()
    assert not report.committed and count(engine) == 0
    assert [(e.line, "最多 2 条" in e.reason) for e in report.errors][0] == (4, True)
    assert any(e.line == 7 and "已表示该企业没有" in e.reason for e in report.errors)
    assert len(report.errors) == 2  # the firm over the limit is reported once


def test_jsonl_import_then_export_round_trips(engine, firms, tmp_path):
    lines = [
        {"uscc": firms[0], "hired_on": "2026-03-01", "age": 22, "labour_contract": True, "insured_months": 3},
        {"uscc": firms[0], "hired_on": "2026-03-02", "age": 23, "graduate_year": 2025, "registered_unemployed": False},
        {"uscc": firms[1]},
    ]
    path = tmp_path / "h.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    assert import_records(engine, "new_hires", path, as_of=AS_OF, today=AS_OF).committed
    assert export_records(engine, "new_hires", tmp_path / "out.jsonl") == (2, 2)
    assert export_records(engine, "new_hires", tmp_path / "out.csv") == (2, 2)
    exported = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert exported[0] == {**lines[0], "as_of": "2026-06-30", "labour_contract": True}
    assert exported[2] == {"uscc": firms[1], "as_of": "2026-06-30"}
    before = {u: stored(engine, u) for u in firms[:2]}
    for name in ("out.jsonl", "out.csv"):  # re-importing an export stores the same values
        assert import_records(engine, "new_hires", tmp_path / name, today=AS_OF).committed
        assert {u: [(v, s, d) for v, s, d in stored(engine, u)] for u in firms[:2]} == before


def test_cli_import_and_export(db_url, firms, tmp_path, monkeypatch):
    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    runner = CliRunner()
    bad = write_csv(tmp_path / "bad.csv", [[firms[0], "2026-03-01", "12", "", "true", "3", "true"]])
    out = runner.invoke(main, ["import", "records", "new_hires", str(bad), "--as-of", "2026-06-30"])
    assert out.exit_code == 1 and "bad.csv:2: age:" in out.output and "未写入任何数据" in out.output
    good = write_csv(tmp_path / "good.csv", [[firms[0], "2026-03-01", "22", "", "true", "3", "true"]])
    out = runner.invoke(main, ["import", "records", "new_hires", str(good), "--as-of", "2026-06-30"])
    assert out.exit_code == 0 and "导入 1 家企业的记录 1 条" in out.output, out.output
    out = runner.invoke(main, ["import", "records", "revenue", str(good)])
    assert out.exit_code == 2 and "不是记录列表字段" in out.output
    out = runner.invoke(main, ["export", "enterprises", str(tmp_path / "x.csv")])
    assert out.exit_code == 0 and (tmp_path / "x.new_hires.csv").exists(), out.output
    assert "new_hires" not in (tmp_path / "x.csv").read_text(encoding="utf-8").splitlines()[0]
    rows = list(csv.DictReader(open(tmp_path / "x.new_hires.csv", encoding="utf-8")))
    assert [(r["uscc"], r["age"], r["as_of"]) for r in rows] == [(firms[0], "22", "2026-06-30")]


def test_the_enterprises_file_has_no_records_column(engine, firms, tmp_path):
    export_enterprises(engine, tmp_path / "e.csv")
    header = (tmp_path / "e.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert "new_hires" not in header and "revenue" in header


def test_the_documented_example_imports(engine, firms, tmp_path):
    import re

    doc = (Path(__file__).resolve().parent.parent / "docs" / "import-formats.md").read_text(encoding="utf-8")
    section = doc.split("## Records", 1)[1]
    csv_text = re.search(r"```\n(uscc,.*?)```", section, re.S).group(1)
    jsonl_text = re.search(r"```json\n(.*?)```", section, re.S).group(1)
    (tmp_path / "hires.csv").write_text(csv_text, encoding="utf-8")
    (tmp_path / "hires.jsonl").write_text(jsonl_text, encoding="utf-8")
    report = import_records(engine, "new_hires", tmp_path / "hires.csv", as_of=AS_OF, today=AS_OF)
    assert report.committed and (report.written, report.facts) == (3, 3), report.errors
    csv_values = {u: stored(engine, u) for u in firms[:3]}
    assert csv_values[firms[2]][0][0] == "[]"
    assert import_records(engine, "new_hires", tmp_path / "hires.jsonl", as_of=AS_OF, today=AS_OF).committed
    assert {u: stored(engine, u) for u in firms[:3]} == csv_values  # the two forms say the same


def test_a_sweep_pays_per_qualifying_hire_from_the_stored_lists(engine, firms, tmp_path):
    from service.io.importer import import_policies
    from service.ledger.sweeps import run_sweep
    from service.store.models import Payout

    assert import_policies(engine, KUOGANG).committed
    full = ["2026-03-01", "22", "2026", "false", "true", "4", "true", "true"]
    columns = ["uscc", "hired_on", "age", "graduate_year", "registered_unemployed", "labour_contract"]
    columns += ["insured_months", "pension_insured", "injury_insured"]
    rows = [[firms[0], *full], [firms[0], *full], [firms[1], *full[:5], "", "true", "true"], [firms[2], *full]]
    rows.append([firms[2], "2026-03-01", "30", "", "false", "true", "4", "true", "true"])  # too old, no degree
    path = write_csv(tmp_path / "hires.csv", rows, columns)
    assert import_records(engine, "new_hires", path, as_of=AS_OF, today=AS_OF).committed
    (report,) = run_sweep(engine, "nj-kuogang-buzhu", as_of=AS_OF, today=AS_OF)
    with engine.connect() as conn:
        query = select(Enterprise.uscc, Payout.amount).join(Enterprise, Enterprise.id == Payout.enterprise_id)
        paid = {u: str(a) for u, a in conn.execute(query).all()}
    assert paid == {firms[0]: "3000.00", firms[2]: "1500.00"}, report.line()
    assert report.missing["new_hires"] == 3  # firms[1]: a hire's insurance months unknown; firms[3:]: no list
