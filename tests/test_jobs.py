"""Durable background jobs: queued in the database, claimed by one worker at a time, retried when their worker dies,
and safe to run again — a sweep killed half-way and run again pays nobody twice."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner
from ledger_world import budgets_add_up
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from service import audit
from service.cli import main
from service.errors import Unprocessable
from service.jobs import queue, registry, worker
from service.jobs.kinds import run_sweep_job, sweep_params
from service.jobs.registry import Kind
from service.jobs.worker import Stop, Worker
from service.ledger import sweeps as ledger_sweeps
from service.ledger.sweeps import run_sweep
from service.store import session_scope, write_scope
from service.store.models import Job, Payout, utcnow
from service.synth.params import REFERENCE_DATE


class Died(BaseException):
    """A worker killed where it stands: nothing after this line of it runs (no outcome is recorded)."""


def _enqueue(engine, kind: str, params: dict | None = None, **kw) -> int:
    with write_scope(engine) as s:
        job, created = queue.enqueue(s, kind, params or {}, "officer:test", **kw)
        assert created
        return job.id


def _job(engine, job_id: int) -> Job:
    with session_scope(engine) as s:
        job = s.get(Job, job_id)
        s.expunge(job)
    return job


def _silence(engine, job_id: int) -> None:
    """Its worker stopped beating longer ago than STALE."""
    with write_scope(engine) as s:
        s.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=utcnow() - queue.STALE - dt.timedelta(1)))


@pytest.fixture
def kinds():
    """Kinds registered for one test (removed after it)."""
    added = []

    def add(name: str, run, **kw) -> Kind:
        added.append(name)
        return registry.register(Kind(name, run, f"测试任务 {name}", **kw))

    yield add
    for name in added:
        registry.unregister(name)


def test_a_sweep_job_killed_half_way_is_run_again_and_pays_nobody_twice(city, monkeypatch):
    engine = city
    monkeypatch.setattr(ledger_sweeps, "BATCH", 10)  # many write transactions: the kill falls between two
    preview = run_sweep(engine, as_of=REFERENCE_DATE, dry_run=True)
    would_pay = sum(r.outcomes["would_pay"] for r in preview)
    assert would_pay > 20
    job_id = _enqueue(engine, "sweep", sweep_params(None, REFERENCE_DATE, False, None, "officer:test"))

    first = queue.claim(engine, "host-a:101:1")  # the first worker takes it …
    assert first.id == job_id and first.attempts == 1
    steps = 0

    def dies_on_the_fourth_step(text, fraction=None):
        nonlocal steps
        steps += 1
        if steps == 4:
            raise Died  # … and is killed after a few batches were committed

    with pytest.raises(Died):
        run_sweep_job(engine, dict(first.params), dies_on_the_fourth_step)
    with session_scope(engine) as s:
        paid_first = s.scalar(select(func.count(Payout.id)))
    assert 0 < paid_first < would_pay
    assert _job(engine, job_id).state == "running"  # nobody recorded anything: its worker is gone

    assert queue.reap_stale(engine) == (0, 0)  # still within STALE: presumed alive
    _silence(engine, job_id)
    assert queue.reap_stale(engine) == (1, 0)
    job = _job(engine, job_id)
    assert job.state == "queued" and job.owner is None and job.attempts == 1
    assert "host-a:101:1" in job.progress and "已停止响应" in job.progress and "重新排队" in job.progress

    lines = []
    assert Worker(engine, say=lines.append).run(once=True) == {"done": 1}
    job = _job(engine, job_id)
    assert job.state == "done" and job.attempts == 2 and job.fraction == 1.0 and job.error is None
    outcomes = {}
    for item in job.result["items"]:
        for k, v in item["outcomes"].items():
            outcomes[k] = outcomes.get(k, 0) + v
    with session_scope(engine) as s:
        paid = s.scalar(select(func.count(Payout.id)))
        twice = s.execute(
            select(Payout.policy_id, Payout.enterprise_id, Payout.period)
            .group_by(Payout.policy_id, Payout.enterprise_id, Payout.period)
            .having(func.count() > 1)
        ).all()
        assert audit.verify(s) is None
    assert twice == []
    assert outcomes["already_paid"] == paid_first  # the first run's payouts, untouched
    assert paid == paid_first + outcomes.get("paid", 0)
    assert paid + outcomes.get("budget_exhausted", 0) == would_pay  # exactly what one clean sweep pays
    budgets_add_up(engine)
    assert any("第 2 次" in line for line in lines) and any(f"任务 {job_id} 完成" in line for line in lines)

    again = _enqueue(engine, "sweep", sweep_params(None, REFERENCE_DATE, False, None, "officer:test"))
    assert worker.run_now(engine, again) == "done"  # a whole sweep again: nothing new
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Payout.id))) == paid


def test_a_job_whose_worker_keeps_dying_fails_after_its_last_attempt(engine, kinds):
    kinds("dies", lambda engine, params, progress: (_ for _ in ()).throw(Died()))
    job_id = _enqueue(engine, "dies", max_attempts=2)
    for attempt in (1, 2):
        owner = f"host:{attempt}:1"
        job = queue.claim(engine, owner)
        assert job.attempts == attempt
        with pytest.raises(Died):
            worker.run_claimed(engine, job, owner)
        _silence(engine, job_id)
        assert queue.reap_stale(engine) == ((1, 0) if attempt == 1 else (0, 1))
    job = _job(engine, job_id)
    assert job.state == "failed" and job.attempts == 2 and job.finished_at is not None
    assert job.error == "运行该任务的工作进程（host:2:1）已停止响应，已运行 2 次均未完成，不再重试"
    assert queue.claim(engine, "host:3:1") is None


def test_outcomes_a_domain_error_fails_at_once_a_passing_fault_is_retried_later(engine, kinds):
    def refused(engine, params, progress):
        raise Unprocessable("截至 2025-02-01 的推送记录不足")

    def broken(engine, params, progress):
        progress("读入……", 0.5)
        return {"ratio": 1 / 0}

    def unreachable(engine, params, progress):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    kinds("refused", refused)
    kinds("broken", broken)
    kinds("unreachable", unreachable)
    a, b, c = (_enqueue(engine, k) for k in ("refused", "broken", "unreachable"))
    assert Worker(engine).run(once=True) == {"failed": 2, "queued": 1}
    job = _job(engine, a)
    assert (job.state, job.attempts, job.error) == ("failed", 1, "截至 2025-02-01 的推送记录不足")
    job = _job(engine, b)
    assert job.state == "failed" and job.error.startswith("任务出错（ZeroDivisionError：") and "日志" in job.error
    job = _job(engine, c)
    assert job.state == "queued" and job.attempts == 1 and "数据库暂时不可用" in job.progress
    assert queue.aware(job.run_after) > utcnow() + queue.RETRY_DELAY - dt.timedelta(seconds=5)  # not at once
    assert queue.claim(engine, "x:1:1") is None


def test_a_stopped_worker_gives_its_job_back_without_using_an_attempt(engine, kinds):
    def stopped(engine, params, progress):
        progress("一半", 0.5)
        raise Stop  # what SIGTERM raises in `zhida worker`

    kinds("long", stopped)
    job_id = _enqueue(engine, "long")
    with pytest.raises(Stop):
        Worker(engine).run(once=True)
    job = _job(engine, job_id)
    assert job.state == "queued" and job.attempts == 0 and "工作进程停止" in job.progress


def test_a_worker_presumed_dead_that_wakes_up_records_nothing(engine, kinds):
    woke = threading.Event()

    def slow(engine, params, progress):
        woke.wait(10)
        progress("醒来")  # the job is someone else's now
        return {"summary": "不应记录"}

    kinds("slow", slow)
    job_id = _enqueue(engine, "slow")
    job = queue.claim(engine, "sleepy:1:1")
    result = []
    t = threading.Thread(target=lambda: result.append(worker.run_claimed(engine, job, "sleepy:1:1")))
    t.start()
    time.sleep(0.3)
    _silence(engine, job_id)
    assert queue.reap_stale(engine) == (1, 0)
    assert queue.claim(engine, "alive:2:1").id == job_id  # another worker has it
    woke.set()
    t.join(10)
    assert result == ["lost"]
    job = _job(engine, job_id)
    assert job.state == "running" and job.owner == "alive:2:1" and job.result is None


def test_two_workers_never_run_one_job_twice(engine, kinds):
    """PostgreSQL: SELECT … FOR UPDATE SKIP LOCKED; SQLite: claims serialized by the write lock."""
    ran = []

    def record(engine, params, progress):
        ran.append(params["n"])
        time.sleep(0.02)
        return {"n": params["n"]}

    kinds("count", record)
    ids = [_enqueue(engine, "count", {"n": n}) for n in range(30)]
    workers = [Worker(engine, poll=0.05) for _ in range(3)]
    threads = [threading.Thread(target=w.run, kwargs={"once": True}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(ran) == list(range(30))
    assert sum(sum(w.outcomes.values()) for w in workers) == 30
    with session_scope(engine) as s:
        rows = s.execute(select(Job.state, Job.attempts).where(Job.id.in_(ids))).all()
    assert set(rows) == {("done", 1)}


def test_the_same_job_asked_twice_while_queued_is_one_job(engine):
    params = sweep_params(None, REFERENCE_DATE, True, None, "officer:a")
    with write_scope(engine) as s:
        first, made = queue.enqueue(s, "sweep", params, "officer:a", dedupe_key="sweep:x")
        again, made_again = queue.enqueue(s, "sweep", params, "officer:b", dedupe_key="sweep:x")
    assert made and not made_again and again.id == first.id
    queue.claim(engine, "w:1:1")  # once it runs, a new request queues a new job
    with write_scope(engine) as s:
        later, made = queue.enqueue(s, "sweep", params, "officer:b", dedupe_key="sweep:x")
    assert made and later.id != first.id


def test_parameters_are_ids_and_plain_values_and_kinds_are_known(engine):
    with write_scope(engine) as s:
        with pytest.raises(TypeError, match="任务参数只能是编号与普通值"):
            queue.enqueue(s, "sweep", {"as_of": REFERENCE_DATE}, "officer:a")
        with pytest.raises(Exception, match="没有这种任务类型：sandbox"):
            queue.enqueue(s, "sandbox", {}, "officer:a")


def test_the_graph_job_builds_then_updates_the_file(city, tmp_path, monkeypatch):
    from graph.knowledge import KnowledgeGraph

    monkeypatch.setenv("ZHIDA_MODELS_DIR", str(tmp_path / "models"))
    first = _enqueue(city, "graph_rebuild", {"mode": "update", "as_of": REFERENCE_DATE.isoformat()})
    assert worker.run_now(city, first) == "done"
    job = _job(city, first)
    assert job.result["mode"] == "build" and job.result["summary"].startswith(
        "知识图谱已构建（企业标签截至 2026-06-30）"
    )
    kg = KnowledgeGraph.load(tmp_path / "models" / "graph.pickle")
    assert kg.as_of == REFERENCE_DATE
    second = _enqueue(city, "graph_rebuild", {"mode": "update", "as_of": None})
    assert worker.run_now(city, second) == "done"
    assert _job(city, second).result["summary"].startswith("图谱已更新：")


def test_zhida_worker_runs_the_queue_with_progress_and_a_last_line(city, db_url, monkeypatch):
    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    job_id = _enqueue(city, "sweep", sweep_params(None, REFERENCE_DATE, True, None, "officer:test"))
    res = CliRunner().invoke(main, ["worker", "--once"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert "zhida worker 已启动" in lines[0]
    assert any(f"任务 {job_id}：" in line and "已处理" in line and "%）" in line for line in lines)  # progress
    assert f"任务 {job_id} 完成" in res.output and "扫描模拟" in res.output
    assert lines[-1].startswith("zhida worker 已停止：运行 1 个任务（完成 1，失败 0）")
    bad = CliRunner().invoke(main, ["worker", "--kind", "nonsense"])
    assert bad.exit_code != 0 and "没有这种任务类型：nonsense" in bad.output
    listed = CliRunner().invoke(main, ["jobs", "list"])
    assert listed.exit_code == 0 and "免申即享扫描（sweep）  已完成" in listed.output
    shown = CliRunner().invoke(main, ["jobs", "show", str(job_id)])
    assert shown.exit_code == 0 and '"state": "done"' in shown.output


def test_the_web_app_starts_no_thread_and_no_scheduler(tmp_path):
    """Nothing runs jobs or schedules them inside a web worker: create_app starts no thread, imports no
    APScheduler."""
    code = (
        "import sys, threading\n"
        "from service.app import create_app\n"
        "before = threading.active_count()\n"
        f"create_app({{'DATABASE_URL': 'sqlite:///{tmp_path / 'app.sqlite3'}', 'TESTING': True}})\n"
        "assert threading.active_count() == before, threading.enumerate()\n"
        "assert not [m for m in sys.modules if m.startswith('apscheduler')]\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
