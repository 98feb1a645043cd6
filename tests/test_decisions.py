"""Decisions over stored facts record their policy version and replay identically."""

import datetime as dt
import shutil

from click.testing import CliRunner
from sqlalchemy import select

from service.cli import main
from service.io.importer import import_enterprises, import_policies
from service.io.rosters import import_rosters
from service.ledger.executor import Target
from service.ledger.facts import VersionRef, decide_stored, facts_as_of, replay, spec_of
from service.ledger.units import settle_unit, unit_of
from service.store import session_scope, write_scope
from service.store.models import Decision as DecisionRow
from service.store.models import Enterprise, FieldValue
from service.synth.params import REFERENCE_DATE


def test_replay_gives_the_same_result_after_data_and_policy_change(engine, small_world, tmp_path):
    import_policies(engine, small_world / "policies")
    import_enterprises(engine, small_world / "enterprises.csv")
    import_rosters(engine, small_world / "rosters", REFERENCE_DATE)
    as_of = dt.date(2026, 6, 30)
    with write_scope(engine) as s:  # recorded the one way a decision is: settled, with its audit record
        ent = s.scalars(select(Enterprise).order_by(Enterprise.id)).first()
        uscc = ent.uscc
        first, pv = decide_stored(s, uscc, "xina-jiuye-buzhu", as_of)
        facts, sources = facts_as_of(s, ent, as_of)
        unit, versions = unit_of(s, spec_of(pv), VersionRef(pv.id, pv.policy_id, pv.version, pv.spec_hash))
        target = Target(ent.id, uscc, versions)
        _, written, _ = settle_unit(s, target, unit, first, facts, sources, as_of, dt.date.today(), "system:test")
        decision_id = written["xina-jiuye-buzhu"].decision_id
    with session_scope(engine) as s:
        row = s.get(DecisionRow, decision_id)
        assert pv.version == 1 and row.policy_version_id == pv.id
    # newer facts and a new policy version must not change the replay
    with session_scope(engine) as s:
        ent = s.scalar(select(Enterprise).where(Enterprise.uscc == uscc))
        s.add(
            FieldValue(
                enterprise_id=ent.id,
                field="graduates_hired",
                value="40",
                source="social_security",
                as_of=dt.date(2026, 9, 30),
            )
        )
    folder = tmp_path / "p"
    shutil.copytree(small_world / "policies", folder)
    path = folder / "xina-jiuye-buzhu.yaml"
    doubled = path.read_text(encoding="utf-8").replace("- '1000'", "- '2000'")
    path.write_text(doubled.replace("amount: '6000.00'", "amount: '12000.00'"), encoding="utf-8")  # its case too
    assert import_policies(engine, folder).written == 1
    with session_scope(engine) as s:
        again = replay(s, decision_id)
        now, pv_now = decide_stored(s, uscc, "xina-jiuye-buzhu", dt.date(2026, 10, 1))
    assert (again.outcome, again.amount, again.missing) == (first.outcome, first.amount, first.missing)
    assert [leaf.sentence for leaf in again.trace] == [leaf.sentence for leaf in first.trace]
    assert pv_now.version == 2 and now.outcome == "eligible" and now.amount == min(40 * 2000, 100000)


def test_decide_command_explains(db_url, engine, small_world, monkeypatch):
    import_policies(engine, small_world / "policies")
    import_enterprises(engine, small_world / "enterprises.csv")
    import_rosters(engine, small_world / "rosters", REFERENCE_DATE)
    with session_scope(engine) as s:
        uscc = s.scalars(select(Enterprise.uscc).order_by(Enterprise.id)).first()
    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    out = CliRunner().invoke(
        main, ["policy", "decide", "--uscc", uscc, "--policy", "xina-jiuye-buzhu", "--as-of", "2026-06-30"]
    )
    assert out.exit_code == 0, out.output
    assert "一次性吸纳就业补贴（第 1 版" in out.stdout
    reasons = [line for line in out.stdout.splitlines() if line.startswith(("  ✓", "  ✗", "  ?"))]
    assert reasons and all(word not in out.stdout for word in ("graduates_hired", "region", "None"))
    bad = CliRunner().invoke(main, ["policy", "decide", "--uscc", "91350100M000100Y44", "--policy", "x"])
    assert bad.exit_code != 0 and "校验位" in bad.output
