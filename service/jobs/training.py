"""Training jobs: a ranker training run asked for over HTTP (or by the scheduler), kept in ``training_jobs`` and
run by the worker as a durable ``training`` job (``service.jobs``).

- :func:`submit` queues a training job in the caller's transaction (the request's, with its Idempotency-Key
  answer) together with the durable job that runs it (``job_id``); the database allows one queued or running
  training job per kind, so a second is refused (409) in any process.
- The worker (``zhida worker``) runs the durable job: :func:`run_training_job`, the registry's ``training`` kind,
  which is :func:`run_job`: the knowledge graph from the file the request named, then exactly what ``zhida
  train`` does, ``service.ranking.train_ranker`` and ``service.model_registry.register`` (a candidate, never
  promoted); the model's row and the job's outcome commit together. An app may also name a runner of its own
  (``TRAINING_RUNNER``: :func:`run_now`, :func:`start_thread`, any callable in tests).
- While a job runs, its process refreshes ``heartbeat_at`` every :data:`HEARTBEAT`. A worker that dies leaves the
  durable job silent: it is queued again and the next run takes the training job over (training again is safe:
  the same data, parameters and seed give the same version, registered once); after the durable job's last
  attempt the training job is marked failed (:func:`give_up`). A training job with no durable job (queued by a
  version before 0014, run in a thread of the serving process) that falls silent for :data:`STALE` is marked
  ``failed`` when jobs are next read or submitted (:func:`reap`). Nothing is lost: the job, its parameters and
  what became of it stay on record.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import audit
from service.errors import Conflict, NotFound, ServiceError
from service.jobs import queue
from service.jobs.registry import Lost
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
    durable, _ = queue.enqueue(session, "training", {"training_job": job.id}, requested_by, max_attempts=2)
    job.job_id = durable.id
    session.flush()
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
    """Mark failed the queued or running jobs without a durable job whose process fell silent (see the module's
    docstring); a job run by a durable job is the queue's to requeue or fail."""
    now = now or utcnow()
    gone = 0
    for status, reason in DIED.items():
        gone += session.execute(
            update(TrainingJob)
            .where(TrainingJob.status == status, TrainingJob.heartbeat_at < now - STALE, TrainingJob.job_id.is_(None))
            .values(status="failed", finished_at=now, error=reason)
        ).rowcount
    return gone


def reap_stale(engine) -> int:
    """:func:`reap` in a transaction of its own, taken only when a silent job exists (reads stay reads)."""
    cutoff = utcnow() - STALE
    with engine.connect() as conn:
        silent = conn.scalar(
            select(TrainingJob.id)
            .where(
                TrainingJob.status.in_(TRAINING_ACTIVE),
                TrainingJob.heartbeat_at < cutoff,
                TrainingJob.job_id.is_(None),
            )
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
    """A runner for one process: the training job's durable job in a daemon thread of this process (it dies with
    the process; the durable job is then queued again for a worker)."""
    threading.Thread(target=run_now, args=(engine, job_id), name=f"zhida-training-{job_id}", daemon=True).start()


def run_now(engine, job_id: int) -> None:
    """A runner that runs the training job's durable job before returning (tests, a one-process tool)."""
    from service.jobs.worker import run_now as run_durable

    with session_scope(engine) as s:
        durable = s.scalar(select(TrainingJob.job_id).where(TrainingJob.id == job_id))
    if durable is None:
        run_job(engine, job_id)  # a job queued before durable jobs existed
    else:
        run_durable(engine, durable)


def run_training_job(engine, params: dict, progress) -> dict:
    """The ``training`` kind (``service.jobs.registry``): run the training job ``params["training_job"]``.

    Safe to run again: a job left running by a worker that died is taken over; one already over is reported as
    it ended. Its failure is this job's failure, with the same Chinese reason."""
    job_id = params["training_job"]
    run_job(engine, job_id, progress=progress, takeover=True)
    job, model = get(engine, job_id)
    if job.status == "failed":
        raise ServiceError(job.error or "训练失败")
    if job.status != "done":
        raise Lost  # taken over by another run meanwhile
    return {
        "training_job": job.id,
        "url": f"/api/models/training/{job.id}",
        "model": None if model is None else {"kind": model.kind, "version": model.version, "status": model.status},
        "summary": f"训练任务 {job.id}：{job.progress}" + (f"（{model.version}）" if model else ""),
    }


def give_up(session: Session, params: dict, reason: str) -> None:
    """The durable job's last run died: the training job it ran is failed with that reason."""
    session.execute(
        update(TrainingJob)
        .where(TrainingJob.id == params.get("training_job"), TrainingJob.status.in_(TRAINING_ACTIVE))
        .values(status="failed", finished_at=utcnow(), error=f"训练未完成：{reason}（可重新提交）")
    )


class _Lost(Exception):
    """The job is no longer this process's to finish (marked failed meanwhile as silent)."""


def run_job(engine, job_id: int, *, progress=None, takeover: bool = False) -> None:
    """Run a queued job (``takeover``: or one left running by a run that died): claim it, train, register the
    model, record the outcome. Never raises for the training's own failure: it is the job's outcome, in Chinese.
    ``progress(text)`` hears each step too."""
    from graph.errors import GraphError
    from graph.knowledge import KnowledgeGraph
    from matcher.errors import MatcherError
    from models.registry import ModelError
    from service.model_registry import json_safe, register
    from service.ranking import train_ranker

    owner = queue.owner_id()
    now = utcnow()
    claimable = TrainingJob.status.in_(TRAINING_ACTIVE) if takeover else TrainingJob.status == "queued"
    with write_scope(engine) as s:
        claimed = s.execute(
            update(TrainingJob)
            .where(TrainingJob.id == job_id, claimable)
            .values(status="running", started_at=now, heartbeat_at=now, owner=owner, progress="读入知识图谱……")
        ).rowcount
        job = s.get(TrainingJob, job_id) if claimed else None
    if job is None:
        return  # already taken, finished, or never committed (its request rolled back)
    beat = _Heartbeat(engine, job_id, owner)
    beat.start()

    def step(text: str) -> None:
        _progress(engine, job_id, owner, text)
        if progress is not None:
            progress(text)

    try:
        if progress is not None:
            progress("读入知识图谱……")
        kg = KnowledgeGraph.load(Path(job.graph_path))
        p = job.params
        report = train_ranker(
            engine,
            kg,
            dt.date.fromisoformat(p["until"]),
            p["period_days"],
            p["seed"],
            progress=step,
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
