"""The scheduler: entries that only queue durable jobs, one leader per database (two schedulers started at once
never run a due job twice; the standby takes over when the leader dies), times from the settings, missed runs
kept across a restart, and never inside a web server."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest
from click.testing import CliRunner
from conftest import PG_ENV, PG_SKIP, _reset_postgres
from sqlalchemy import func, select

from service.cli import main
from service.errors import SetupError
from service.jobs import queue, registry, schedule
from service.jobs.registry import Kind
from service.store import make_engine, session_scope, upgrade, write_scope
from service.store.models import SCHEDULER_JOBS, Job, JobMark, PolicyVersion, utcnow


@pytest.fixture
def pg_engine():
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(PG_SKIP)
    _reset_postgres(url)
    upgrade(url)
    return make_engine(url)


@pytest.fixture
def tick():
    """A kind ``tick`` and an entry that queues one job of it at every firing (no dedupe: each firing counts)."""
    registry.register(Kind("tick", lambda engine, params, progress: None, "测试节拍"))
    yield schedule.Entry(
        "tick", "tick", "测试节拍", "every 1s", None, lambda s, day, by: [queue.enqueue(s, "tick", {"by": by}, by)]
    )
    registry.unregister("tick")


def _ticks(engine) -> list[tuple[str, dt.datetime]]:
    with session_scope(engine) as s:
        rows = s.execute(select(Job.requested_by, Job.created_at).where(Job.kind == "tick").order_by(Job.id)).all()
    return [(by, queue.aware(at)) for by, at in rows]


def _start(engine, entries, name, check_every=0.2):
    stop = threading.Event()
    out = {}

    def go():
        out["run"] = schedule.run(
            engine, entries=entries, stop=stop, standby_every=0.2, check_every=check_every, name=name
        )

    t = threading.Thread(target=go, name=f"scheduler-{name}", daemon=True)
    t.start()
    return stop, t, out


def _wait(cond, seconds=15.0):
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_two_schedulers_on_one_postgresql_database_run_each_due_job_once(pg_engine, tick, caplog):
    """Two schedulers started at once, each with its own connection holding (or trying) the advisory lock, an
    entry due every second: one leads, each due time queues one job. The leader's lock connection is then cut
    as a crash would cut it, while its scheduler runs on: the standby takes over, and the fencing check keeps
    the old scheduler from queueing anything in the seconds before it notices."""
    engine = pg_engine
    a_stop, a, _ = _start(engine, [tick], "A", check_every=30)  # the lock is found lost by the fencing check
    b_stop, b, _ = _start(engine, [tick], "B", check_every=30)
    try:
        _wait(lambda: len(_ticks(engine)) >= 1)
        leader = _ticks(engine)[0][0].removeprefix("scheduler:")
        assert leader in ("A", "B")
        time.sleep(4)
        ticks = _ticks(engine)
        assert {by for by, _ in ticks} == {f"scheduler:{leader}"}  # the standby queued nothing
        assert 4 <= len(ticks) <= 6, ticks  # one per second, not two

        (lead,) = [x for x in schedule._leading.values() if x.requested_by == f"scheduler:{leader}"]
        with caplog.at_level("INFO", logger="zhida.scheduler"):
            lead.lock.cut()
            other = "B" if leader == "A" else "A"
            _wait(lambda: any(by == f"scheduler:{other}" for by, _ in _ticks(engine)))
            time.sleep(3)
        ticks = _ticks(engine)
    finally:
        for s in (a_stop, b_stop):
            s.set()
        a.join(10)
        b.join(10)
    assert not a.is_alive() and not b.is_alive()
    assert "已失去领导锁，不排队任务" in caplog.text  # the old leader fired once more, and queued nothing
    times = [at for _, at in ticks]
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(times, times[1:], strict=False)]
    assert min(gaps) > 0.5, gaps  # never two runs of one due time (two leaders would queue both at once)
    first_other = next(i for i, (by, _) in enumerate(ticks) if by == f"scheduler:{other}")
    assert all(by == f"scheduler:{leader}" for by, _ in ticks[:first_other])
    assert all(by == f"scheduler:{other}" for by, _ in ticks[first_other:])
    span = (times[-1] - times[0]).total_seconds()
    assert span - 2 <= len(ticks) <= span + 2, (len(ticks), span)  # a run a second
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(SCHEDULER_JOBS)) == 1  # one stored job, id "tick"


def test_two_zhida_scheduler_processes_one_leads_and_the_other_takes_over(pg_engine, tmp_path):
    """Real processes: `zhida scheduler` twice on one PostgreSQL database, the daily sweep set to every second;
    the leader is killed (SIGKILL); no scheduled time is run by both, and the sweep stays one queued job."""
    env = {
        **os.environ,
        "ZHIDA_DATABASE_URL": os.environ[PG_ENV],
        "ZHIDA_SCHEDULE_SWEEP": "every 1s",
        **{v: "off" for k, v in schedule_variables().items() if k != "sweep"},
    }
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = []
    for log in logs:
        with log.open("w") as err:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "service", "scheduler", "--standby-every", "0.5"],
                    env=env,
                    stderr=err,
                    start_new_session=True,
                )
            )
    try:
        _wait(lambda: sum("成为领导者" in log.read_text(encoding="utf-8") for log in logs) == 1, 60)
        _wait(lambda: any("待命" in log.read_text(encoding="utf-8") for log in logs), 30)
        time.sleep(3)
        lead = next(i for i, log in enumerate(logs) if "成为领导者" in log.read_text(encoding="utf-8"))
        standby = 1 - lead
        assert "计划于" not in logs[standby].read_text(encoding="utf-8")
        os.killpg(procs[lead].pid, signal.SIGKILL)
        procs[lead].wait(10)
        _wait(lambda: "成为领导者" in logs[standby].read_text(encoding="utf-8"), 30)
        _wait(lambda: _runs(logs[standby].read_text(encoding="utf-8")), 30)
        time.sleep(2)
        os.killpg(procs[standby].pid, signal.SIGTERM)
        procs[standby].wait(30)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    texts = [log.read_text(encoding="utf-8") for log in logs]
    first, second = _runs(texts[lead]), _runs(texts[standby])
    assert len(first) >= 2 and len(second) >= 2, texts
    assert not set(first) & set(second), texts  # no due time run by both
    assert max(first) < min(second)
    assert "zhida scheduler 已停止：任领导者 1 次" in texts[standby]
    with session_scope(make_engine(os.environ[PG_ENV])) as s:
        sweeps = s.execute(select(Job.state, Job.requested_by).where(Job.kind == "sweep")).all()
    assert len(sweeps) == 1 and sweeps[0][0] == "queued"  # every later firing found it still queued


def schedule_variables() -> dict[str, str]:
    from service.settings import SCHEDULE_VARIABLES

    return SCHEDULE_VARIABLES


def _runs(text: str) -> list[dt.datetime]:
    return [dt.datetime.fromisoformat(t) for t in re.findall(r"调度项 sweep（计划于 ([^）]+)）：", text)]


def test_on_sqlite_one_scheduler_leads_by_a_lock_file(engine, tick):
    if engine.dialect.name != "sqlite":
        pytest.skip("the SQLite lock file")
    a_stop, a, a_out = _start(engine, [tick], "A")
    _wait(lambda: len(_ticks(engine)) >= 1)
    b_stop, b, b_out = _start(engine, [tick], "B")
    time.sleep(2.5)
    a_stop.set()  # the leader stops: its lock file is released, the other leads
    a.join(10)
    _wait(lambda: any(by == "scheduler:B" for by, _ in _ticks(engine)))
    b_stop.set()
    b.join(10)
    ticks = _ticks(engine)
    first_b = next(i for i, (by, _) in enumerate(ticks) if by == "scheduler:B")
    assert {by for by, _ in ticks[:first_b]} == {"scheduler:A"} and first_b >= 2
    assert a_out["run"].terms == 1 and b_out["run"].terms == 1


def test_an_entry_whose_kind_is_not_registered_logs_and_skips(engine, caplog, monkeypatch):
    monkeypatch.delitem(registry.BUILTIN, "bundles")  # as before service.push registered it
    assert not registry.known("bundles")
    entry = replace(schedule.ENTRIES["bundles"], when="every 1s")
    stop, t, _ = _start(engine, [entry], "A")
    with caplog.at_level("WARNING", logger="zhida.scheduler"):
        _wait(lambda: "任务类型 bundles 尚未注册，本次跳过" in caplog.text)
    stop.set()
    t.join(10)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Job)) == 0


def test_the_daily_sweep_entry_queues_one_sweep_of_every_automatic_policy(engine, monkeypatch):
    monkeypatch.setenv("ZHIDA_APPROVAL_THRESHOLD", "500000")
    with write_scope(engine) as s:
        ((job, created),) = schedule.ENTRIES["sweep"].enqueue(s, dt.date(2026, 6, 30), "scheduler:h:1")
        ((again, created_again),) = schedule.ENTRIES["sweep"].enqueue(s, dt.date(2026, 6, 30), "scheduler:h:1")
    assert created and not created_again and again.id == job.id
    assert job.kind == "sweep"
    assert job.params == {"policy_id": None, "as_of": "2026-06-30", "dry_run": False,
                          "approval_threshold": "500000.00", "actor": "scheduler:h:1"}  # fmt: skip


def test_the_publication_check_queues_each_new_publication_once(engine, small_world, tmp_path):
    from service.io.importer import import_policies

    registry.register(Kind("policy_published", lambda engine, params, progress: None, "新政策推送"))
    try:
        check = schedule.ENTRIES["publications"].enqueue
        with write_scope(engine) as s:
            assert check(s, dt.date.today(), "scheduler:h:1") == []  # the first check starts the clock
            assert s.get(JobMark, "publications") is not None
        import_policies(engine, small_world / "policies")  # published after the first check
        with write_scope(engine) as s:
            made = check(s, dt.date.today(), "scheduler:h:1")
        with session_scope(engine) as s:
            published = s.scalar(select(func.count()).select_from(PolicyVersion))
        assert len(made) == published > 0 and all(created for _, created in made)
        assert {j.kind for j, _ in made} == {"policy_published"}
        assert all(set(j.params) == {"policy_id", "version"} for j, _ in made)  # ids, not data
        with write_scope(engine) as s:
            assert check(s, dt.date.today(), "scheduler:h:1") == []  # never twice, overlap or not
    finally:
        registry.unregister("policy_published")


def test_a_run_missed_while_no_scheduler_ran_is_run_once_at_start_up(engine, tick):
    """The stored next run time of an unchanged entry is kept (replace_existing would otherwise move it to the
    next time and skip the missed one); coalesced into one run; an entry turned off leaves the store."""
    daily = replace(tick, when="0 2 * * *", misfire_grace=6 * 3600)
    gone = replace(tick, id="old-entry")
    stop, t, _ = _start(engine, [daily, gone], "A")
    _wait(lambda: _stored_ids(engine) == {"tick", "old-entry"})
    stop.set()
    t.join(10)
    assert _ticks(engine) == []  # not due yet
    missed = utcnow() - dt.timedelta(hours=1)  # as if its 02:00 passed an hour ago while no scheduler ran
    with write_scope(engine) as s:
        s.execute(SCHEDULER_JOBS.update().values(next_run_time=missed.timestamp()))
    stop, t, _ = _start(engine, [daily], "B")
    _wait(lambda: len(_ticks(engine)) == 1)
    time.sleep(1.5)
    stop.set()
    t.join(10)
    assert len(_ticks(engine)) == 1 and _stored_ids(engine) == {"tick"}
    with engine.connect() as conn:
        nxt = conn.scalar(select(SCHEDULER_JOBS.c.next_run_time))
    assert nxt > utcnow().timestamp()  # the next 02:00, not the missed one again


def _stored_ids(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(select(SCHEDULER_JOBS.c.id)))


def test_times_come_from_the_settings(monkeypatch):
    monkeypatch.setenv("ZHIDA_SCHEDULE_SWEEP", "30 3 * * *")
    monkeypatch.setenv("ZHIDA_SCHEDULE_BUNDLES", "off")
    monkeypatch.setenv("ZHIDA_SCHEDULE_PUBLICATIONS", "every 2m")
    entries = {e.id: e for e in schedule.configured()}
    assert entries["sweep"].when == "30 3 * * *" and "bundles" not in entries
    assert entries["publications"].when == "every 2m" and entries["training"].when == "0 3 * * sun"
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    assert str(schedule.trigger("30 3 * * *", tz)) == "cron[month='*', day='*', day_of_week='*', hour='3', minute='30']"
    with pytest.raises(SetupError, match="sweep 应为 crontab 格式"):
        schedule.trigger("daily at two", tz, "sweep")
    res = CliRunner().invoke(main, ["scheduler", "--list"])
    assert res.exit_code == 0, res.output
    assert "sweep" in res.output and "30 3 * * *" in res.output and "off（已关闭）" in res.output
    assert "任务类型尚未注册" not in res.output and "时区：Asia/Shanghai" in res.output  # every kind is registered
    monkeypatch.delitem(registry.BUILTIN, "deliveries")
    res = CliRunner().invoke(main, ["scheduler", "--list"])
    assert "任务类型尚未注册，运行时跳过" in res.output
    monkeypatch.setenv("ZHIDA_SCHEDULER_TIMEZONE", "Mars/Olympus")
    with pytest.raises(SetupError, match="ZHIDA_SCHEDULER_TIMEZONE"):
        from service.settings import settings

        settings()


def test_never_inside_a_web_server(engine, monkeypatch):
    monkeypatch.setenv("SERVER_SOFTWARE", "gunicorn/23.0.0")
    with pytest.raises(SetupError, match="不能在 gunicorn 中启动"):
        schedule.run(engine, entries=[], stop=threading.Event())
