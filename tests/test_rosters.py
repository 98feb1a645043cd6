"""Rosters (名单): importing one as of a date makes a firm it does not list known not to be on it."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from click.testing import CliRunner
from ledger_world import FACTS_AS_OF, add_enterprise
from sqlalchemy import func, select

from matcher import catalog
from matcher.facts import close, close_frame, closed_value, closures, pick, pick_frame
from service import audit
from service.cli import main
from service.io.importer import import_enterprises, import_policies
from service.io.rosters import import_roster, import_rosters, roster_files
from service.ledger.facts import applicant, decide_stored, facts_as_of
from service.ledger.sweeps import run_sweep, verified_table
from service.store import current_facts, session_scope
from service.store.models import AuditRecord, Enterprise, FieldValue, RosterPublication
from service.synth.params import REFERENCE_DATE

D0, D1, D2 = dt.date(2026, 1, 1), dt.date(2026, 3, 1), dt.date(2026, 6, 1)
SET_ROSTERS = [r for r in catalog.ROSTERS.values() if r.field == "qualifications"]


def roster(path, codes, header: bool = True):
    path.write_text(("uscc,name\n" if header else "") + "".join(f"{c},某企业\n" for c in codes), encoding="utf-8")
    return path


def facts_of(engine, code: str, as_of: dt.date) -> dict:
    with session_scope(engine) as s:
        ent = s.scalar(select(Enterprise).where(Enterprise.uscc == code))
        return facts_as_of(s, ent, as_of)[0]


def count(engine, model) -> int:
    with session_scope(engine) as s:
        return s.scalar(select(func.count()).select_from(model))


@pytest.fixture
def firms(engine):
    """Four firms with verified facts and no roster field known."""
    return [add_enterprise(engine, i, {"insured_employees": 5}) for i in range(4)]


# -- importing -------------------------------------------------------------------------------------------


def test_a_bool_roster_lists_its_firms_and_the_rest_are_not_on_it(engine, firms, tmp_path):
    a, b, c, _ = firms
    assert "on_dishonesty_list" not in facts_of(engine, c, D2)  # no roster on record: unknown
    report = import_roster(engine, "失信被执行人", roster(tmp_path / "dd.csv", [a, b]), D1)
    assert report.committed and report.results[0].listed == 2 and report.results[0].written == 2
    assert facts_of(engine, a, D2)["on_dishonesty_list"] is True
    assert facts_of(engine, c, D2)["on_dishonesty_list"] is False  # not listed: known not to be on it
    with session_scope(engine) as s:
        ent = s.scalar(select(Enterprise).where(Enterprise.uscc == c))
        text, source, as_of = current_facts(s, ent.id, D2)["on_dishonesty_list"]
        assert (text, source, as_of) == ("false", "credit", D1)  # settled by the roster of that date
        pub = s.scalar(select(RosterPublication))
        assert (pub.roster, pub.as_of, pub.source, pub.members, len(pub.digest)) == (
            "dishonest_debtors",
            D1,
            "credit",
            2,
            64,
        )
        # only the listed firms got facts: the others are settled when read
        assert s.scalar(select(func.count(FieldValue.id)).where(FieldValue.field == "on_dishonesty_list")) == 2


def test_a_set_roster_adds_its_member_and_the_set_is_known_once_every_member_has_one(engine, firms, tmp_path):
    a, b, c, _ = firms
    assert import_roster(engine, "高新技术企业", roster(tmp_path / "ht.csv", [a]), D1).committed
    assert import_roster(engine, "tech_sme", roster(tmp_path / "ts.csv", [a, b]), D1).committed
    assert facts_of(engine, a, D2)["qualifications"] == {"high_tech", "tech_sme"}
    assert facts_of(engine, b, D2)["qualifications"] == {"tech_sme"}
    assert "qualifications" not in facts_of(engine, c, D2)  # five members still without a roster: unknown
    others = [(r, roster(tmp_path / f"{r.id}.csv", [])) for r in SET_ROSTERS if r.id not in ("high_tech", "tech_sme")]
    assert import_rosters(engine, others, D1).committed
    assert facts_of(engine, c, D2)["qualifications"] == frozenset()  # on none of the seven
    assert facts_of(engine, a, D2)["qualifications"] == {"high_tech", "tech_sme"}


def test_a_firm_dropped_from_the_list_is_no_longer_on_it_from_the_new_date(engine, firms, tmp_path):
    a, b, *_ = firms
    import_roster(engine, "失信被执行人", roster(tmp_path / "d1.csv", [a, b]), D0)
    report = import_roster(engine, "失信被执行人", roster(tmp_path / "d2.csv", [b]), D2)
    assert (report.results[0].added, report.results[0].dropped, report.results[0].written) == (0, 1, 2)
    assert facts_of(engine, a, D1)["on_dishonesty_list"] is True  # as of a date between the two lists
    assert facts_of(engine, a, D2)["on_dishonesty_list"] is False
    assert facts_of(engine, b, D2)["on_dishonesty_list"] is True
    with session_scope(engine) as s:  # an explicit fact: exports and history say so
        rows = s.execute(
            select(FieldValue.value, FieldValue.as_of).join(Enterprise).where(Enterprise.uscc == a)
            .where(FieldValue.field == "on_dishonesty_list").order_by(FieldValue.as_of)
        ).all()  # fmt: skip
        assert [tuple(r) for r in rows] == [("true", D0), ("false", D2)]
    # the same for a member of a set: dropped from 高新, still 科技型中小
    on = {"high_tech", "tech_sme"}
    files = [(r, roster(tmp_path / f"q-{r.id}.csv", [a] if r.member in on else [])) for r in SET_ROSTERS]
    import_rosters(engine, files, D0)
    import_roster(engine, "high_tech", roster(tmp_path / "ht2.csv", []), D2)
    assert facts_of(engine, a, D1)["qualifications"] == {"high_tech", "tech_sme"}
    assert facts_of(engine, a, D2)["qualifications"] == {"tech_sme"}


def test_an_unknown_firm_is_named_with_file_and_line_and_nothing_is_written(engine, firms, tmp_path):
    from matcher import uscc as uscc_codes

    stranger = uscc_codes.make("320102", 9999)
    path = roster(tmp_path / "ht.csv", [firms[0], stranger, firms[1]])
    report = import_roster(engine, "高新技术企业", path, D1)
    assert not report.committed
    (err,) = report.errors
    assert str(err).startswith("ht.csv:3: uscc: 企业不在库中") and stranger in str(err)
    assert count(engine, RosterPublication) == 0 and count(engine, AuditRecord) == 0
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(FieldValue.id)).where(FieldValue.field == "qualifications")) == 0
    skipped = import_roster(engine, "高新技术企业", path, D1, skip_unknown=True)
    assert skipped.committed and skipped.results[0].listed == 2 and skipped.results[0].skipped == 1
    assert "ht.csv:3: uscc: 企业不在库中，已跳过" in str(skipped.errors[0])
    # a code that is not a USCC at all is always an error, named with its line
    (tmp_path / "bad.txt").write_text(f"{firms[0]}\n\n91320102MA1XXXXXX0\n", encoding="utf-8")
    bad = import_roster(engine, "失信被执行人", tmp_path / "bad.txt", D1, skip_unknown=True)
    assert not bad.committed and str(bad.errors[0]).startswith("bad.txt:3: uscc:")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    assert "文件为空" in str(import_roster(engine, "失信被执行人", tmp_path / "empty.csv", D1).errors[0])
    (tmp_path / "noheader.csv").write_text(f"{firms[0]},某企业\n", encoding="utf-8")
    assert "表头" in str(import_roster(engine, "失信被执行人", tmp_path / "noheader.csv", D1).errors[0])


def test_the_cli_reports_file_and_line_and_exits_1(engine, db_url, firms, tmp_path, monkeypatch):
    from matcher import uscc as uscc_codes

    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    path = roster(tmp_path / "list.csv", [firms[0], uscc_codes.make("320102", 9998)])
    runner = CliRunner()
    bad = runner.invoke(main, ["import", "roster", "高新技术企业", str(path), "--as-of", "2026-03-01"])
    assert bad.exit_code == 1 and "list.csv:3: uscc: 企业不在库中" in bad.output and "未写入任何数据" in bad.output
    ok = runner.invoke(main, ["import", "roster", "high_tech", str(path), "--as-of", "2026-03-01", "--skip-unknown"])
    assert ok.exit_code == 0 and "在列 1 家" in ok.output, ok.output
    nope = runner.invoke(main, ["import", "roster", "白名单", str(path), "--as-of", "2026-03-01"])
    assert nope.exit_code != 0 and "高新技术企业（high_tech）" in nope.output
    later = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    future = runner.invoke(main, ["import", "roster", "high_tech", str(path), "--as-of", later])
    assert future.exit_code != 0 and "不能晚于今天" in future.output


def test_reimporting_the_same_roster_writes_nothing_and_duplicates_count_once(engine, firms, tmp_path):
    a, b, *_ = firms
    path = tmp_path / "dd.txt"  # one USCC per line, with a comment, a blank line and a duplicate
    path.write_text(f"# 失信被执行人名单\n{a}\n\n{b}\n{a}\n", encoding="utf-8")
    first = import_roster(engine, "dishonest_debtors", path, D1)
    assert first.results[0].listed == 2 and first.results[0].changed
    with session_scope(engine) as s:
        facts, records = s.scalar(select(func.count(FieldValue.id))), audit.count(s)
    again = import_roster(engine, "dishonest_debtors", path, D1)
    assert again.committed and not again.results[0].changed and "与已导入的相同" in again.summary()
    with session_scope(engine) as s:
        assert (s.scalar(select(func.count(FieldValue.id))), audit.count(s)) == (facts, records)
        assert s.scalar(select(func.count(RosterPublication.id))) == 1


def test_a_list_as_published_imports_once_its_code_column_is_named(engine, firms, tmp_path):
    a, b, *_ = firms
    path = tmp_path / "高新技术企业.csv"  # a folder's file may be named by the roster's label
    lines = ["#,企业名称,统一社会信用代码,认定批次", f"1,甲公司,{a},第一批", f"2,乙公司,{b.lower()},第二批"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (found,) = roster_files(tmp_path)
    assert found[0].id == "high_tech"
    report = import_rosters(engine, [found], D1)
    assert report.committed and report.results[0].listed == 2
    assert facts_of(engine, b, D2)["qualifications"] == {"high_tech"}
    (tmp_path / "白名单.csv").write_text("uscc\n", encoding="utf-8")
    with pytest.raises(ValueError, match="没有这个名单"):
        roster_files(tmp_path)


def test_the_import_is_audited_in_the_chain(engine, firms, tmp_path):
    import_rosters(
        engine, [(catalog.roster("高新技术企业"), roster(tmp_path / "a.csv", firms[:2]))], D1, actor="officer:x"
    )
    with session_scope(engine) as s:
        (rec,) = s.scalars(select(AuditRecord)).all()
        assert (rec.actor, rec.action, rec.subject) == ("officer:x", "roster.import", "high_tech:2026-03-01")
        assert rec.payload["members"] == 2 and rec.payload["added"] == 2 and len(rec.payload["digest"]) == 64
        assert audit.verify(s) is None


# -- reading ---------------------------------------------------------------------------------------------


def test_before_the_roster_is_published_absence_is_still_unknown(engine, small_world, tmp_path):
    import_policies(engine, small_world / "policies")
    import_enterprises(engine, small_world / "enterprises.csv")
    import_rosters(engine, small_world / "rosters", REFERENCE_DATE)
    later = REFERENCE_DATE + dt.timedelta(days=1)
    earlier = REFERENCE_DATE - dt.timedelta(days=1)
    with session_scope(engine) as s:
        code = s.scalar(select(Enterprise.uscc).order_by(Enterprise.id))
        # a firm no roster lists: 未取得高新技术企业资质 after the rosters' date, undetermined before it
        after, _ = decide_stored(s, code, "gaoqi-shouci-rending", later)
        before, _ = decide_stored(s, code, "gaoqi-shouci-rending", earlier)
    assert after.outcome == "not_eligible" and any("未取得高新技术企业" in r for r in after.reasons), after.reasons
    assert before.outcome == "undetermined" and "qualifications" in before.missing


def test_a_roster_beats_a_declaration_and_an_older_verified_value(engine, firms, tmp_path):
    a, b, c, d = firms
    with session_scope(engine) as s:
        ids = dict(s.execute(select(Enterprise.uscc, Enterprise.id)).all())
        s.add(FieldValue(enterprise_id=ids[a], field="qualifications", value="high_tech", source="declared", as_of=D1))
        s.add(FieldValue(enterprise_id=ids[b], field="on_dishonesty_list", value="true", source="credit", as_of=D0))
        s.add(FieldValue(enterprise_id=ids[c], field="on_dishonesty_list", value="true", source="credit", as_of=D2))
    assert facts_of(engine, a, D2)["qualifications"] == {"high_tech"}  # declared, no roster yet: it counts
    import_rosters(engine, [(r, roster(tmp_path / f"{r.id}.csv", [])) for r in SET_ROSTERS], D1)
    assert facts_of(engine, a, D2)["qualifications"] == frozenset()  # the rosters are verified: they win
    # the 失信 list of D1 does not list b (listed by a feed as of D0) nor c (listed as of D2, after it)
    import_roster(engine, "失信被执行人", roster(tmp_path / "dd.csv", [d]), D1)
    assert facts_of(engine, b, D2)["on_dishonesty_list"] is False  # dropped: written false as of D1
    assert facts_of(engine, c, D2)["on_dishonesty_list"] is True  # newer than the list
    assert facts_of(engine, c, D1)["on_dishonesty_list"] is False


def test_the_closure_in_matcher_alone():
    pubs = [("dishonest_debtors", D1), ("high_tech", D1), ("tech_sme", D2)]
    shut = closures(pubs, D2)
    assert set(shut) == {"on_dishonesty_list", "qualifications"}
    assert not shut["qualifications"].complete and shut["on_dishonesty_list"].complete
    assert closures(pubs, D0) == {}  # nothing published by then: unknown
    q = shut["qualifications"]
    assert closed_value(q, None) is None  # five members without a roster: still unknown
    stale = ("high_tech;gazelle", "science_tech", D0)
    assert closed_value(q, stale) == ("gazelle", "science_tech", D1)  # 高新 of D1 did not list it
    assert closed_value(q, ("high_tech", "science_tech", D1)) == ("high_tech", "science_tech", D1)
    assert closed_value(q, ("high_tech;gazelle", "declared", D2)) == ("gazelle", "declared", D2)
    d = shut["on_dishonesty_list"]
    assert closed_value(d, None) == ("false", "credit", D1)
    assert closed_value(d, ("true", "declared", D2)) == ("false", "credit", D1)
    assert closed_value(d, ("true", "credit", D2)) == ("true", "credit", D2)
    assert close({"revenue": ("1.00", "tax", D0)}, pubs, D2)["on_dishonesty_list"] == ("false", "credit", D1)
    # the register twin gives the same, row by row
    current = pd.DataFrame(
        [(1, "qualifications", *stale), (2, "on_dishonesty_list", "true", "credit", D2)],
        columns=["enterprise_id", "field", "value", "source", "as_of"],
    )
    wide = close_frame(current, [1, 2, 3], pubs, D2).set_index(["enterprise_id", "field"])["value"]
    assert wide.to_dict() == {
        (1, "qualifications"): "gazelle",
        (2, "on_dishonesty_list"): "true",
        (1, "on_dishonesty_list"): "false",
        (3, "on_dishonesty_list"): "false",
    }


def test_the_scalar_path_and_the_sweep_read_the_same_facts(engine, small_world, tmp_path):
    import_policies(engine, small_world / "policies")
    import_enterprises(engine, small_world / "enterprises.csv")
    import_rosters(engine, small_world / "rosters", REFERENCE_DATE)
    with session_scope(engine) as s:  # stale values the rosters supersede, and a newer listing they do not
        ids = list(s.scalars(select(Enterprise.id).order_by(Enterprise.id)))
        old = REFERENCE_DATE - dt.timedelta(days=90)
        s.add(
            FieldValue(
                enterprise_id=ids[0], field="qualifications", value="high_tech", source="science_tech", as_of=old
            )
        )
        s.add(FieldValue(enterprise_id=ids[1], field="in_abnormal_operation", value="true", source="market_regulation",
                         as_of=old))  # fmt: skip
        s.add(FieldValue(enterprise_id=ids[2], field="on_dishonesty_list", value="true", source="credit",
                         as_of=REFERENCE_DATE + dt.timedelta(days=1)))  # fmt: skip
    roster_names = [f.name for f in catalog.FACT_FIELDS if f.roster]
    for day in (REFERENCE_DATE - dt.timedelta(days=1), REFERENCE_DATE, REFERENCE_DATE + dt.timedelta(days=5)):
        table, row_ids = verified_table(engine, day)
        with session_scope(engine) as s:
            usccs = dict(s.execute(select(Enterprise.id, Enterprise.uscc)).all())
            for i, eid in enumerate(row_ids):
                cells = table.cells(i)
                _, _, facts, sources = applicant(s, usccs[eid], "gaoqi-shouci-rending", day)
                for name in roster_names:
                    assert catalog.format_value(name, facts.get(name)) == cells.get(name, ""), (day, eid, name)
    assert table.cells(0)["qualifications"] == "none" and table.cells(1)["in_abnormal_operation"] == "false"
    assert table.cells(2)["on_dishonesty_list"] == "true"
    with session_scope(engine) as s:  # and what pick_frame + close_frame say is what pick + close say
        rows = s.execute(
            select(FieldValue.enterprise_id, FieldValue.field, FieldValue.value, FieldValue.source, FieldValue.as_of,
                   FieldValue.recorded_at, FieldValue.id)
        ).all()  # fmt: skip
        pubs = [(p.roster, p.as_of) for p in s.scalars(select(RosterPublication))]
    frame = pd.DataFrame(rows, columns=["enterprise_id", "field", "value", "source", "as_of", "recorded_at", "row_id"])
    day = REFERENCE_DATE
    whole = close_frame(pick_frame(frame, day, verified_only=True), ids, pubs, day)
    by_frame = {
        (e, f): (v, s, a) for e, f, v, s, a in whole[["enterprise_id", "field", "value", "source", "as_of"]].values
    }
    for eid in ids:
        one = close(pick([r[1:] for r in rows if r[0] == eid], day, verified_only=True), pubs, day)
        assert {(eid, f): v for f, v in one.items()} == {k: v for k, v in by_frame.items() if k[0] == eid}


def test_a_generated_city_is_undetermined_only_where_facts_are_truly_unknown(engine, small_world):
    import_policies(engine, small_world / "policies")
    import_enterprises(engine, small_world / "enterprises.csv")
    before = run_sweep(engine, as_of=REFERENCE_DATE, dry_run=True)
    assert import_rosters(engine, roster_files(small_world / "rosters"), REFERENCE_DATE).committed
    after = run_sweep(engine, as_of=REFERENCE_DATE, dry_run=True)
    assert sum(r.undetermined for r in after) < sum(r.undetermined for r in before) / 3
    roster_fields = {f.name for f in catalog.FACT_FIELDS if f.roster}
    for r in before:  # without the rosters, every measure waits for the credit lists
        assert roster_fields & set(r.missing) or r.undetermined == 0, r.line()
    for r in after:
        assert not roster_fields & set(r.missing), r.line()  # no roster field is ever 待补充
    quals = {
        "gaoqi-shouci-rending",
        "qu-gaoqi-peiyu",
        "zhuanjingtexin-jiangli",
        "xiaojuren-jiangli",
        "dengling-jiangli",
    }
    assert all(r.undetermined == 0 for r in after if r.policy_id in quals)
    paid = {r.policy_id: r.eligible for r in after}
    assert paid["gaoqi-shouci-rending"] > 0


def test_the_demo_imports_the_rosters(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path / "d"), "--enterprises", "200", "--no-serve"])
    assert result.exit_code == 0, result.output
    from service.store import make_engine

    engine = make_engine(f"sqlite:///{(tmp_path / 'd' / 'zhida.sqlite3').resolve()}")
    with session_scope(engine) as s:
        published = len(list((tmp_path / "d" / "world" / "rosters").glob("*.csv")))
        assert s.scalar(select(func.count(RosterPublication.id))) == published >= 11
        assert {p.as_of for p in s.scalars(select(RosterPublication))} == {REFERENCE_DATE}
    assert FACTS_AS_OF  # the ledger world's date is unrelated; imported only for its firms
