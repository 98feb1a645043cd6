"""Import: row-level errors, all-or-nothing, --skip-bad, idempotence, export round trip."""

import csv
import json
import shutil

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from service.cli import main
from service.io.exporter import export_enterprises, export_events, export_policies
from service.io.importer import import_enterprises, import_events, import_policies
from service.store.models import Budget, Enterprise, Event, FieldValue, Policy, PolicyVersion


def count(engine, model):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar()


def rows_of(world):
    with open(world / "enterprises.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_rows(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def loaded(engine, small_world):
    assert import_policies(engine, small_world / "policies").committed
    assert import_enterprises(engine, small_world / "enterprises.csv").committed
    assert import_events(engine, small_world / "events.jsonl").committed
    return engine


def test_generated_world_imports_as_it_is(loaded, small_world):
    assert count(loaded, Enterprise) == 300
    assert count(loaded, Policy) == len(list((small_world / "policies").glob("*.yaml")))
    with open(small_world / "events.jsonl", encoding="utf-8") as fh:
        assert count(loaded, Event) == sum(1 for _ in fh)
    assert count(loaded, FieldValue) > 300 * 10


@pytest.mark.parametrize(
    "column, value, reason",
    [
        ("uscc", "91350100M000100Y44", "校验位"),
        ("region", "330104", "江干区"),
        ("region", "999999", "行政区划"),
        ("industry", "C9999", "GB/T 4754"),
        ("revenue", "-5", "负数"),
        ("established_on", "2099-01-01", "晚于"),
        ("employees", "many", "数字"),
    ],
)
def test_a_bad_row_is_named_and_nothing_is_written(engine, small_world, tmp_path, column, value, reason):
    rows = rows_of(small_world)
    rows[41][column] = value
    write_rows(tmp_path / "bad.csv", rows)
    report = import_enterprises(engine, tmp_path / "bad.csv")
    assert not report.committed and report.bad == 1
    (err,) = report.errors
    assert (err.file, err.line, err.field) == ("bad.csv", 43, column) and reason in err.reason
    assert count(engine, Enterprise) == 0 and count(engine, FieldValue) == 0
    assert f"bad.csv:43: {column}:" in str(err)


def test_skip_bad_writes_exactly_the_good_rows(engine, small_world, tmp_path):
    rows = rows_of(small_world)
    rows[0]["revenue"] = "-1"
    rows[5]["uscc"] = rows[4]["uscc"]  # duplicate within the file
    write_rows(tmp_path / "some-bad.csv", rows)
    report = import_enterprises(engine, tmp_path / "some-bad.csv", skip_bad=True)
    assert report.committed and report.bad == 2 and report.written == 298
    assert count(engine, Enterprise) == 298
    assert any("重复" in e.reason and e.line == 7 for e in report.errors)


def test_unknown_and_missing_columns_are_refused(engine, small_world, tmp_path):
    rows = [dict(r, revenu="1") for r in rows_of(small_world)[:3]]
    write_rows(tmp_path / "typo.csv", rows)
    report = import_enterprises(engine, tmp_path / "typo.csv")
    assert not report.committed and report.errors[0].field == "revenu" and report.errors[0].line == 1
    rows = [{k: v for k, v in r.items() if k != "uscc"} for r in rows_of(small_world)[:3]]
    write_rows(tmp_path / "no-uscc.csv", rows)
    assert import_enterprises(engine, tmp_path / "no-uscc.csv").errors[0].field == "uscc"


def test_json_lines_enterprises(engine, small_world, tmp_path):
    rows = rows_of(small_world)[:20]
    with open(tmp_path / "e.jsonl", "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps({k: v for k, v in r.items() if v != ""}, ensure_ascii=False) + "\n")
        fh.write("{not json\n")
    report = import_enterprises(engine, tmp_path / "e.jsonl")
    assert not report.committed and report.errors[0].line == 21 and "JSON" in report.errors[0].reason
    assert import_enterprises(engine, tmp_path / "e.jsonl", skip_bad=True).written == 20


def test_reimport_updates_in_place(loaded, small_world, tmp_path):
    before = count(loaded, FieldValue)
    assert import_enterprises(loaded, small_world / "enterprises.csv").committed
    assert count(loaded, FieldValue) == before and count(loaded, Enterprise) == 300
    rows = rows_of(small_world)
    rows[0]["revenue"], rows[0]["as_of"] = "123.45", "2026-09-30"
    write_rows(tmp_path / "newer.csv", rows[:1])
    assert import_enterprises(loaded, tmp_path / "newer.csv").committed
    with loaded.connect() as conn:
        values = (
            conn.execute(
                select(FieldValue.value)
                .join(Enterprise)
                .where(Enterprise.uscc == rows[0]["uscc"], FieldValue.field == "revenue")
                .order_by(FieldValue.as_of)
            )
            .scalars()
            .all()
        )
    assert values[-1] == "123.45" and len(values) == 2


def test_events_need_known_enterprises_and_policies(loaded, tmp_path):
    lines = [
        {
            "event_id": "x1",
            "uscc": "91350100M000100Y43",
            "policy_id": None,
            "kind": "view",
            "occurred_at": "2026-01-01T09:00:00+08:00",
            "payload": {},
        },
        {"event_id": "x2", "uscc": "91350100M000100Y44", "kind": "view", "occurred_at": "2026-01-01T09:00:00+08:00"},
        {"event_id": "x3", "uscc": "91350100M000100Y43", "kind": "teleport", "occurred_at": "2026-01-01"},
    ]
    (tmp_path / "ev.jsonl").write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    before = count(loaded, Event)
    report = import_events(loaded, tmp_path / "ev.jsonl")
    assert not report.committed and count(loaded, Event) == before
    fields = {(e.line, e.field) for e in report.errors}
    assert {(1, "uscc"), (2, "uscc"), (3, "kind"), (3, "occurred_at")} <= fields


def test_events_are_idempotent_by_event_id(loaded, small_world):
    before = count(loaded, Event)
    report = import_events(loaded, small_world / "events.jsonl")
    assert report.committed and report.written == 0 and report.unchanged == before
    assert count(loaded, Event) == before


def test_policy_versions_and_budget(loaded, small_world, tmp_path):
    folder = tmp_path / "p"
    shutil.copytree(small_world / "policies", folder)
    again = import_policies(loaded, folder)
    assert again.written == 0 and again.unchanged == len(list(folder.glob("*.yaml")))
    path = folder / "xina-jiuye-buzhu.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("budget: '30000000.00'", "budget: '35000000.00'"), encoding="utf-8"
    )
    report = import_policies(loaded, folder)
    assert report.written == 1
    with loaded.connect() as conn:
        policy = conn.execute(select(Policy).where(Policy.slug == "xina-jiuye-buzhu")).one()
        versions = (
            conn.execute(select(PolicyVersion.version).where(PolicyVersion.policy_id == policy.id)).scalars().all()
        )
        total = conn.execute(select(Budget.total).where(Budget.policy_id == policy.id)).scalar()
    assert policy.current_version == 2 and sorted(versions) == [1, 2] and str(total) == "35000000.00"


def test_a_bad_policy_file_blocks_the_whole_folder(engine, small_world, tmp_path):
    folder = tmp_path / "p"
    shutil.copytree(small_world / "policies", folder)
    (folder / "broken.yaml").write_text("id: broken-one\nmode: sometimes\n", encoding="utf-8")
    report = import_policies(engine, folder)
    assert not report.committed and count(engine, Policy) == 0
    assert all(e.file == "broken.yaml" for e in report.errors) and report.errors
    assert import_policies(engine, folder, skip_bad=True).written == len(list(folder.glob("*.yaml"))) - 1


def test_export_then_import_is_lossless(loaded, tmp_path, db_url):
    export_enterprises(loaded, tmp_path / "e.csv")
    export_events(loaded, tmp_path / "ev.jsonl")
    export_policies(loaded, tmp_path / "p")
    fresh_url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    from service.store import make_engine, upgrade

    upgrade(fresh_url)
    fresh = make_engine(fresh_url)
    assert import_policies(fresh, tmp_path / "p").committed
    assert import_enterprises(fresh, tmp_path / "e.csv").committed
    assert import_events(fresh, tmp_path / "ev.jsonl").committed
    export_enterprises(fresh, tmp_path / "e2.csv")
    export_events(fresh, tmp_path / "ev2.jsonl")
    assert (tmp_path / "e.csv").read_bytes() == (tmp_path / "e2.csv").read_bytes()
    assert (tmp_path / "ev.jsonl").read_bytes() == (tmp_path / "ev2.jsonl").read_bytes()
    assert count(fresh, FieldValue) == count(loaded, FieldValue)


def test_cli_import_reports_and_exits_non_zero_on_bad_rows(db_url, small_world, tmp_path, monkeypatch):
    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    rows = rows_of(small_world)
    rows[2]["revenue"] = "-9"
    write_rows(tmp_path / "bad.csv", rows)
    runner = CliRunner()
    bad = runner.invoke(main, ["import", "enterprises", str(tmp_path / "bad.csv")])
    assert bad.exit_code == 1 and "bad.csv:4: revenue:" in bad.output and "未写入任何数据" in bad.output
    ok = runner.invoke(main, ["import", "enterprises", str(tmp_path / "bad.csv"), "--skip-bad"])
    assert ok.exit_code == 0 and "导入企业 299 条" in ok.output


def test_events_from_csv_with_json_payload(loaded, small_world, tmp_path):
    with open(small_world / "events.jsonl", encoding="utf-8") as fh:
        first = [json.loads(line) for line in fh][:5]
    rows = [dict(e, event_id="csv-" + e["event_id"][-20:], payload=json.dumps(e["payload"])) for e in first]
    write_rows(tmp_path / "ev.csv", rows)
    before = count(loaded, Event)
    report = import_events(loaded, tmp_path / "ev.csv")
    assert report.committed and report.written == 5 and count(loaded, Event) == before + 5
    rows[2]["payload"] = "{broken"
    write_rows(tmp_path / "bad.csv", rows)
    bad = import_events(loaded, tmp_path / "bad.csv")
    assert not bad.committed and (bad.errors[0].line, bad.errors[0].field) == (4, "payload")
