"""Training jobs: a ranker training run asked for over HTTP, run in the background, kept in ``training_jobs``.

- :func:`submit` queues a job in the caller's transaction (the request's, with its Idempotency-Key answer);
  the database allows one queued or running job per kind, so a second is refused (409) in any process.
- A *runner* — ``runner(engine, job_id)`` — then runs it: :func:`start_thread` (a thread of the serving
  process) by default, any callable in tests. :func:`run_job` does the work: the knowledge graph from the
  file the request named, then exactly what ``zhida train`` does, ``service.ranking.train_ranker`` and
  ``service.model_registry.register`` (a candidate, never promoted); the model's row and the job's outcome
  commit together.
- While a job runs, its process refreshes ``heartbeat_at`` every :data:`HEARTBEAT`. A queued or running job
  silent for :data:`STALE` was left by a process that died (killed, restarted, the machine lost): it is marked
  ``failed`` with that reason when jobs are next read or submitted (:func:`reap`). Nothing is lost: the job,
  its parameters and what became of it stay on record.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import audit
from service.errors import Conflict, NotFound
from service.store import joined_writes, session_scope, write_scope
from service.store.models import TRAINING_ACTIVE, ModelVersion, TrainingJob, utcnow

log = logging.getLogger(__name__)

KINDS = ("ranker",)  # the kinds a job can train
STATUS_LABELS = {"queued": "排队中", "running": "训练中", "done": "已完成", "failed": "失败"}
HEARTBEAT = dt.timedelta(seconds=15)
STALE = dt.timedelta(minutes=2)  # a job silent this long was left by a process that died
DIED = {
    "queued": "服务进程在训练开始前退出，任务未能执行（可重新提交）",
    "running": "服务进程在训练中退出，训练未完成（可重新提交）",
}


def trainable(kind: str) -> str:
    """``kind`` if a job can train it, else 404."""
    if kind not in KINDS:
        raise NotFound(f"没有可训练的模型类别 {kind}（可训练：{'、'.join(KINDS)}）")
    return kind


def submit(session: Session, kind: str, params: dict, requested_by: str, graph_path: Path) -> TrainingJob:
    """Queue a training job of ``kind`` in the caller's transaction; 409 naming the job already queued or
    running. ``params``: ``until`` (ISO date), ``period_days``, ``seed``, validated by the caller."""
    trainable(kind)
    reap(session)
    active = session.scalar(_active(kind))
    if active is not None:
        raise _busy(active)
    now = utcnow()
    job = TrainingJob(
        kind=kind,
        status="queued",
        requested_by=requested_by,
        params=params,
        graph_path=str(graph_path),
        created_at=now,
        heartbeat_at=now,
    )
    try:
        with session.begin_nested():  # a twin that slipped past the check above: the index refuses it
            session.add(job)
            session.flush()
    except IntegrityError:
        raise _busy(session.scalar(_active(kind))) from None
    audit.append(session, requested_by, "model.training", f"{kind}:job-{job.id}", {"params": params})
    return job


def _active(kind: str):
    return select(TrainingJob).where(TrainingJob.kind == kind, TrainingJob.status.in_(TRAINING_ACTIVE))


def _busy(active: TrainingJob | None) -> Conflict:
    if active is None:
        return Conflict("已有同类训练任务在排队或进行中，请等它结束后再提交")
    return Conflict(
        f"{active.kind} 已有训练任务 {active.id} {STATUS_LABELS[active.status]}（{active.requested_by} 于 "
        f"{_aware(active.created_at):%Y-%m-%d %H:%M:%S} UTC 提交），同一时间只运行一个，请等它结束后再提交",
        job_id=active.id,
    )


def reap(session: Session, now: dt.datetime | None = None) -> int:
    """Mark failed the queued or running jobs whose process fell silent (see the module's docstring)."""
    now = now or utcnow()
    gone = 0
    for status, reason in DIED.items():
        gone += session.execute(
            update(TrainingJob)
            .where(TrainingJob.status == status, TrainingJob.heartbeat_at < now - STALE)
            .values(status="failed", finished_at=now, error=reason)
        ).rowcount
    return gone


def reap_stale(engine) -> int:
    """:func:`reap` in a transaction of its own, taken only when a silent job exists (reads stay reads)."""
    cutoff = utcnow() - STALE
    with engine.connect() as conn:
        silent = conn.scalar(
            select(TrainingJob.id)
            .where(TrainingJob.status.in_(TRAINING_ACTIVE), TrainingJob.heartbeat_at < cutoff)
            .limit(1)
        )
    if silent is None:
        return 0
    with write_scope(engine) as s:
        return reap(s)


def get(engine, job_id: int) -> tuple[TrainingJob, ModelVersion | None]:
    """A job (a dead process's marked failed first) and the model it registered, if any."""
    reap_stale(engine)
    with session_scope(engine) as s:
        job = s.get(TrainingJob, job_id)
        if job is None:
            raise NotFound(f"没有训练任务 {job_id}")
        model = s.get(ModelVersion, job.model_id) if job.model_id is not None else None
        s.expunge_all()
    return job, model


def jobs(engine, kind: str | None = None, limit: int = 50) -> list[tuple[TrainingJob, ModelVersion | None]]:
    """The latest jobs (of ``kind``), newest first, with the models they registered."""
    reap_stale(engine)
    stmt = (
        select(TrainingJob, ModelVersion)
        .outerjoin(ModelVersion, ModelVersion.id == TrainingJob.model_id)
        .order_by(TrainingJob.id.desc())
        .limit(limit)
    )
    if kind is not None:
        stmt = stmt.where(TrainingJob.kind == kind)
    with session_scope(engine) as s:
        rows = [(job, model) for job, model in s.execute(stmt)]
        s.expunge_all()
    return rows


# -- running ---------------------------------------------------------------------------------------------


def start_thread(engine, job_id: int) -> None:
    """The default runner: the job in a daemon thread of this process (it dies with the process; the job is
    then marked failed by :func:`reap`)."""
    threading.Thread(target=run_job, args=(engine, job_id), name=f"zhida-training-{job_id}", daemon=True).start()


def run_now(engine, job_id: int) -> None:
    """A runner that runs the job before returning (tests, a one-process tool)."""
    run_job(engine, job_id)


class _Lost(Exception):
    """The job is no longer this process's to finish (marked failed meanwhile as silent)."""


def run_job(engine, job_id: int) -> None:
    """Run a queued job: claim it, train, register the model, record the outcome. Never raises: a failure is
    the job's outcome, in Chinese."""
    from graph.errors import GraphError
    from graph.knowledge import KnowledgeGraph
    from matcher.errors import MatcherError
    from models.registry import ModelError
    from service.errors import ServiceError
    from service.model_registry import json_safe, register
    from service.ranking import train_ranker

    owner = f"{socket.gethostname()}:{os.getpid()}"
    now = utcnow()
    with write_scope(engine) as s:
        claimed = s.execute(
            update(TrainingJob)
            .where(TrainingJob.id == job_id, TrainingJob.status == "queued")
            .values(status="running", started_at=now, heartbeat_at=now, owner=owner, progress="读入知识图谱……")
        ).rowcount
        job = s.get(TrainingJob, job_id) if claimed else None
    if job is None:
        return  # already taken, finished, or never committed (its request rolled back)
    beat = _Heartbeat(engine, job_id, owner)
    beat.start()
    try:
        kg = KnowledgeGraph.load(Path(job.graph_path))
        p = job.params
        report = train_ranker(
            engine,
            kg,
            dt.date.fromisoformat(p["until"]),
            p["period_days"],
            p["seed"],
            progress=lambda text: _progress(engine, job_id, owner, text),
        )
        with joined_writes(engine) as s:  # the model's row and the job's outcome commit together
            same = s.scalar(
                select(ModelVersion.id).where(ModelVersion.kind == job.kind, ModelVersion.version == report.version)
            )
            said = f"同一数据、参数与种子的模型 {report.version} 已登记，未重复登记" if same else "已登记为候选模型"
            if not _finish(s, job_id, owner, status="done", progress=said, result=json_safe(report.summary())):
                raise _Lost
            model_id = same or register(engine, report.artifact, actor=job.requested_by).id
            s.execute(update(TrainingJob).where(TrainingJob.id == job_id).values(model_id=model_id))
    except _Lost:
        pass
    except (ServiceError, GraphError, MatcherError, ModelError) as e:
        _fail(engine, job_id, owner, str(e))
    except Exception as e:  # noqa: BLE001 - a job's failure is its outcome, kept with the job
        log.exception("training job %s failed", job_id)
        _fail(engine, job_id, owner, f"训练出错（{type(e).__name__}：{e}），详情见服务日志")
    finally:
        beat.stop()


def _finish(s: Session, job_id: int, owner: str, **values) -> bool:
    """Record the outcome if the job is still this process's running job."""
    mine = (TrainingJob.id == job_id) & (TrainingJob.status == "running") & (TrainingJob.owner == owner)
    return bool(s.execute(update(TrainingJob).where(mine).values(finished_at=utcnow(), **values)).rowcount)


def _fail(engine, job_id: int, owner: str, reason: str) -> None:
    with write_scope(engine) as s:
        _finish(s, job_id, owner, status="failed", error=reason)


def _progress(engine, job_id: int, owner: str, text: str) -> None:
    mine = (TrainingJob.id == job_id) & (TrainingJob.status == "running") & (TrainingJob.owner == owner)
    with write_scope(engine) as s:
        s.execute(update(TrainingJob).where(mine).values(progress=text[:500], heartbeat_at=utcnow()))


class _Heartbeat:
    """Refreshes a running job's ``heartbeat_at`` every :data:`HEARTBEAT` until stopped."""

    def __init__(self, engine, job_id: int, owner: str):
        self._engine, self._job_id, self._owner = engine, job_id, owner
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"zhida-training-{job_id}-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        mine = (TrainingJob.id == self._job_id) & (TrainingJob.status == "running") & (TrainingJob.owner == self._owner)
        while not self._stop.wait(HEARTBEAT.total_seconds()):
            try:
                with write_scope(self._engine) as s:
                    s.execute(update(TrainingJob).where(mine).values(heartbeat_at=utcnow()))
            except Exception:  # noqa: BLE001 - a missed beat is retried; STALE allows several
                log.warning("training job %s: heartbeat not recorded", self._job_id, exc_info=True)


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)  # SQLite gives naive UTC
