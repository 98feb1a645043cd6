"""政策包 planning (issue 15, point 2): every item gated by the rules as a decision one firm at a time would
gate it, grouped (已为您自动兑现 / 可立即申报 / 可能符合，请补充信息), ordered inside each group by the scorer, with
what is in hand this period, what has closed and supplements left out; nothing written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from matcher import catalog
from service import knowledge
from service.matching import decide_all
from service.push.planning import bundle_period, plan_bundles
from service.ranking import current_specs
from service.store import session_scope
from service.store.models import Application, Base, Enterprise, Policy, PolicyVersion
from service.subjects import stored_subject
from service.synth.params import REFERENCE_DATE

DAY = REFERENCE_DATE


@pytest.fixture
def planned(city):
    kg = knowledge.build(city, DAY)
    return city, kg, plan_bundles(city, kg, DAY)


def _rows(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


def test_every_item_is_the_rules_answer_for_that_firm_and_none_is_missing(planned):
    engine, _, plan = planned
    specs = {s: spec for s, spec in current_specs(engine).items() if spec.valid_from <= DAY <= spec.valid_to}
    assert plan.period == bundle_period(DAY) == f"{DAY.isocalendar()[0]}-W{DAY.isocalendar()[1]:02d}"
    assert plan.firms == 300 and len(plan.bundles) > 100 and set(plan.items) == {"auto_paid", "apply_now", "maybe"}
    assert "政策包" in plan.summary() and plan.scorer in plan.summary()
    for bundle in plan.bundles[::7]:
        subject = stored_subject(engine, bundle.uscc, DAY)
        mains = sorted(s for s, spec in specs.items() if not spec.supplement_of)
        decided = decide_all(subject, mains, specs, DAY)
        want = {}
        for slug, d in decided.items():
            if d.outcome == "eligible":
                want[slug] = "auto_paid" if specs[slug].mode == "automatic" else "apply_now"
            elif d.outcome == "undetermined":
                want[slug] = "maybe"
        got = {i.policy_id: i.group for i in bundle.items}
        assert got == want, bundle.uscc  # nothing applied for or paid yet in this city's store
        for i in bundle.items:
            d = decided[i.policy_id]
            if i.group != "maybe":
                assert Decimal(i.amount) == d.amount and "元" in i.reason
            else:
                labels = [catalog.FIELDS[n].label for n in d.missing]
                assert sorted(i.to_declare) == sorted(labels) and all(x in i.reason for x in labels)
            assert i.link == f"/policies/{i.policy_id}" and dt.date.fromisoformat(i.deadline) >= DAY


def test_groups_in_order_and_items_by_score_within_a_group(planned):
    _, _, plan = planned
    order = {"auto_paid": 0, "apply_now": 1, "maybe": 2}
    for bundle in plan.bundles:
        groups = [order[i.group] for i in bundle.items]
        assert groups == sorted(groups)
        for g in ("auto_paid", "apply_now"):  # no model promoted: the baseline orders by amount
            amounts = [Decimal(i.amount) for i in bundle.items if i.group == g]
            assert amounts == sorted(amounts, reverse=True)


def test_what_the_firm_has_applied_for_is_left_out_and_nothing_is_written(planned):
    engine, kg, plan = planned
    bundle = next(b for b in plan.bundles if any(i.group == "apply_now" for i in b.items))
    item = next(i for i in bundle.items if i.group == "apply_now")
    before = _rows(engine)
    again = plan_bundles(engine, kg, DAY, usccs=[bundle.uscc])
    assert _rows(engine) == before and [b.items for b in again.bundles] == [bundle.items]
    with session_scope(engine) as s:
        ent = s.scalar(select(Enterprise).where(Enterprise.uscc == bundle.uscc))
        pv = s.scalar(
            select(PolicyVersion.id)
            .join(Policy, (Policy.id == PolicyVersion.policy_id) & (Policy.current_version == PolicyVersion.version))
            .where(Policy.slug == item.policy_id)
        )
        s.add(Application(enterprise_id=ent.id, policy_version_id=pv, status="pending_review"))
    after = plan_bundles(engine, kg, DAY, usccs=[bundle.uscc])
    kept = [i.policy_id for b in after.bundles for i in b.items]
    assert item.policy_id not in kept and len(kept) == len(bundle.items) - 1


# -- a round: plan, queue, deliver --------------------------------------------------------------------------


def test_a_round_reaches_every_planned_firm_once_and_a_rerun_sends_nothing(planned):
    from service.push.inbox import InboxChannel
    from service.push.rounds import run_round
    from service.store.models import Event, InboxEntry, OutboxMessage

    engine, kg, plan = planned
    now = dt.datetime(DAY.year, DAY.month, DAY.day, 3, tzinfo=dt.UTC)  # 11:00 in Shanghai: no quiet hours
    before = _rows(engine)
    with engine.connect() as conn:
        pushed_before = conn.scalar(select(func.count()).select_from(Event).where(Event.kind == "push"))
    rehearsal = run_round(engine, kg, DAY, now, dry_run=True, channels=[InboxChannel(engine)])
    assert _rows(engine) == before and rehearsal.outcomes == {"queued": len(plan.bundles)}
    assert "演练" in rehearsal.summary()

    first = run_round(engine, kg, DAY, now, channels=[InboxChannel(engine)])
    assert first.planned == len(plan.bundles) and first.outcomes == {"queued": len(plan.bundles)}
    assert first.sent == len(plan.bundles) and first.failed == first.dead == 0
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(InboxEntry)) == len(plan.bundles)
        assert conn.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == "sent")) == (
            len(plan.bundles)
        )
        pushes = conn.scalar(select(func.count()).select_from(Event).where(Event.kind == "push")) - pushed_before
    assert pushes == sum(plan.items.values())  # every item pushed is an interaction event the ranker reads

    again = run_round(engine, kg, DAY, now + dt.timedelta(hours=1), channels=[InboxChannel(engine)])
    assert again.sent == 0 and set(again.outcomes) <= {"already_queued", "capped", "nothing_new"}
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(InboxEntry)) == len(plan.bundles)


def test_zhida_push_rehearses_and_says_what_it_did(city, db_url, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from service.cli import main

    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    monkeypatch.setenv("ZHIDA_MODELS_DIR", str(tmp_path / "models"))
    runner = CliRunner()
    missing = runner.invoke(main, ["push", "--dry-run", "--day", DAY.isoformat()])
    assert missing.exit_code != 0 and "zhida graph build" in missing.output
    knowledge.build(city, DAY).save(tmp_path / "models" / "graph.pickle")
    before = _rows(city)
    r = runner.invoke(main, ["push", "--dry-run", "--day", DAY.isoformat()])
    assert r.exit_code == 0, r.output
    assert "政策包" in r.output and "演练（未写入、未发送）" in r.output and _rows(city) == before
    bad = runner.invoke(main, ["push", "--day", "30/06/2026"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def test_the_scheduler_kinds_run_a_round_and_a_publication_push_as_jobs(city, tmp_path, monkeypatch):
    """The kinds the scheduler queues (service.jobs.schedule): bundles and policy_published, run by a worker."""
    from service.jobs import queue, worker
    from service.store import write_scope
    from service.store.models import InboxEntry, Job

    monkeypatch.setenv("ZHIDA_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("ZHIDA_PUSH_QUIET_HOURS", "off")
    knowledge.build(city, DAY).save(tmp_path / "models" / "graph.pickle")
    slug = sorted(current_specs(city))[0]
    with write_scope(city) as s:
        published = queue.enqueue(s, "policy_published", {"policy_id": slug, "version": 1}, "scheduler")[0].id
        weekly = queue.enqueue(s, "bundles", {"day": DAY.isoformat()}, "scheduler")[0].id
    assert worker.run_now(city, published) == "done"
    with session_scope(city) as s:
        job = s.get(Job, published)
        first = s.scalar(select(func.count()).select_from(InboxEntry))
        assert job.result["period"] == f"new:{slug}" and job.result["sent"] == first > 0
    assert worker.run_now(city, weekly) == "done"
    with session_scope(city) as s:
        job = s.get(Job, weekly)
        assert job.result["period"] == bundle_period(DAY) and job.result["planned"] > 0
        # the publication push counts against the weekly cap: those firms wait for next week's bundle
        assert job.result["outcomes"].get("capped", 0) == first
