"""The durable job queue: the ``jobs`` table and what may happen to a row of it.

::

    enqueue ──> queued ──claim──> running ──> done
                  ^                  │  └───> failed   (its Chinese reason; a domain error is final)
                  └──── reap ────────┘  (worker silent for STALE: queued again, until max_attempts runs)

- :func:`enqueue` adds a job in the caller's transaction (the request's, with its Idempotency-Key answer). With a
  ``dedupe_key``, a job already queued with that key is returned instead of a second one.
- :func:`claim` gives the oldest due queued job to one worker: ``SELECT … FOR UPDATE SKIP LOCKED`` on
  PostgreSQL (workers never wait for each other, never take the same row); on SQLite the write transaction
  (``BEGIN IMMEDIATE``) serializes claims, so one worker process is the expected use.
- While a job runs its worker refreshes ``heartbeat_at`` every :data:`HEARTBEAT`. A running job silent for
  :data:`STALE` was left by a worker that died: :func:`reap` queues it again, or fails it with the reason once it
  has been run ``max_attempts`` times. Every kind is safe to run again (``service.jobs.registry``).
- Every outcome is written only by the job's owner (``owner``): a worker presumed dead that wakes up again finds
  its writes refused and stops (:class:`~service.jobs.registry.Lost`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import threading
from itertools import count

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.errors import BadRequest, NotFound
from service.jobs import registry
from service.store import session_scope, write_scope
from service.store.models import Job, utcnow

STATE_LABELS = {"queued": "排队中", "running": "运行中", "done": "已完成", "failed": "失败"}
HEARTBEAT = dt.timedelta(seconds=15)
STALE = dt.timedelta(minutes=2)  # a running job silent this long was left by a worker that died
RETRY_DELAY = dt.timedelta(seconds=30)  # after a passing fault (the database unreachable), times the runs so far
PAGE_MAX = 100
_workers = count(1)


def owner_id(tag: str | None = None) -> str:
    """``host:pid:n`` — one per worker, so two workers of one process (tests, the demo) are told apart."""
    return f"{socket.gethostname()}:{os.getpid()}:{tag or next(_workers)}"[:128]


def _plain(value, where: str = "params") -> None:
    """Parameters are ids and plain values: text, numbers, booleans, null, and lists or objects of them."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return
    if isinstance(value, (list, tuple)):
        for v in value:
            _plain(v, where)
        return
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        for v in value.values():
            _plain(v, where)
        return
    raise TypeError(f"任务参数只能是编号与普通值（文本、数字、布尔），收到 {type(value).__name__}（{where}）")


def enqueue(
    session: Session,
    kind: str,
    params: dict,
    requested_by: str,
    *,
    dedupe_key: str | None = None,
    max_attempts: int | None = None,
    run_after: dt.datetime | None = None,
) -> tuple[Job, bool]:
    """Queue a job of ``kind`` in the caller's transaction; ``(job, True)``. With ``dedupe_key``, a queued job
    with that key is returned instead: ``(that job, False)``."""
    spec = registry.get(kind)
    if spec is None:
        raise BadRequest(f"没有这种任务类型：{kind}（已注册：{'、'.join(sorted(registry.kinds()))}）", field="kind")
    _plain(params)
    if dedupe_key is not None:
        twin = session.scalar(_queued_twin(dedupe_key))
        if twin is not None:
            return twin, False
    now = utcnow()
    job = Job(
        kind=kind,
        params=json.loads(json.dumps(params)),
        state="queued",
        attempts=0,
        max_attempts=max_attempts or spec.max_attempts,
        requested_by=requested_by[:64],
        dedupe_key=dedupe_key,
        run_after=run_after or now,
        created_at=now,
        progress="排队中，等待工作进程（zhida worker）",
    )
    try:
        with session.begin_nested():  # a twin queued meanwhile: the index refuses this one
            session.add(job)
            session.flush()
    except IntegrityError:
        twin = session.scalar(_queued_twin(dedupe_key)) if dedupe_key else None
        if twin is None:
            raise
        return twin, False
    return job, True


def _queued_twin(key: str):
    return select(Job).where(Job.dedupe_key == key, Job.state == "queued")


def claim(engine, owner: str, kinds=None, job_id: int | None = None) -> Job | None:
    """Take the oldest due queued job (of ``kinds``, default every registered kind; or exactly ``job_id``) for
    ``owner``: it is ``running``, its attempts counted. None when there is none."""
    now = utcnow()
    names = sorted(kinds if kinds is not None else registry.kinds())
    stmt = select(Job).where(Job.state == "queued", Job.kind.in_(names))
    if job_id is not None:
        stmt = stmt.where(Job.id == job_id)
    else:
        stmt = stmt.where(Job.run_after <= now)
    if job_id is None:
        with engine.connect() as conn:  # an empty queue is a read, not a write transaction (SQLite's one writer)
            if conn.scalar(stmt.with_only_columns(Job.id).limit(1)) is None:
                return None
    stmt = stmt.order_by(Job.id).limit(1).with_for_update(skip_locked=True)
    with write_scope(engine) as s:
        job = s.scalars(stmt).first()
        if job is None:
            return None
        job.state, job.owner, job.heartbeat_at, job.started_at = "running", owner, now, now
        job.attempts += 1
        job.finished_at, job.error, job.fraction = None, None, None
        job.progress = "开始运行" + (f"（第 {job.attempts} 次）" if job.attempts > 1 else "")
        s.flush()
        s.expunge(job)
    return job


def _mine(job_id: int, owner: str):
    return (Job.id == job_id) & (Job.state == "running") & (Job.owner == owner)


def beat(engine, job_id: int, owner: str, progress: str | None = None, fraction: float | None = None) -> bool:
    """Refresh the heartbeat (and the progress); False when the job is no longer this owner's."""
    values = {"heartbeat_at": utcnow()}
    if progress is not None:
        values["progress"] = progress[:500]
    if fraction is not None:
        values["fraction"] = min(1.0, max(0.0, float(fraction)))
    with write_scope(engine) as s:
        return bool(s.execute(update(Job).where(_mine(job_id, owner)).values(**values)).rowcount)


def finish(engine, job_id: int, owner: str, state: str, **values) -> bool:
    """Record the outcome (``done`` with ``result``, or ``failed`` with ``error``) if the job is still ``owner``'s."""
    values.setdefault("fraction", 1.0 if state == "done" else None)
    with write_scope(engine) as s:
        done = s.execute(
            update(Job)
            .where(_mine(job_id, owner))
            .values(state=state, finished_at=utcnow(), heartbeat_at=utcnow(), **values)
        ).rowcount
    return bool(done)


def requeue(engine, job_id: int, owner: str, reason: str, *, delay=None, counted: bool = True) -> str | None:
    """Give the job back to the queue (after ``delay``); ``counted=False`` when the run was not the job's fault
    (its worker was asked to stop), so it does not use up an attempt. Returns the new state, or None when the
    job was no longer ``owner``'s. With a twin already queued, this one is failed, naming the twin."""
    with write_scope(engine) as s:
        job = s.scalars(select(Job).where(_mine(job_id, owner)).with_for_update()).first()
        if job is None:
            return None
        return _back_to_queue(s, job, reason, utcnow() + (delay or dt.timedelta(0)), counted)


def _back_to_queue(s: Session, job: Job, reason: str, when: dt.datetime, counted: bool = True) -> str:
    twin = s.scalar(_queued_twin(job.dedupe_key)) if job.dedupe_key else None
    if twin is not None and twin.id != job.id:
        job.state, job.finished_at = "failed", utcnow()
        job.error = f"{reason}；相同的任务 {twin.id} 已在排队，由它完成"
        return job.state
    job.state, job.owner, job.heartbeat_at, job.run_after, job.progress = "queued", None, None, when, reason[:500]
    if not counted:
        job.attempts = max(0, job.attempts - 1)
    return job.state


def reap(session: Session, now: dt.datetime | None = None) -> tuple[int, int]:
    """Running jobs whose worker fell silent: queued again, or failed once they were run ``max_attempts``
    times (the kind's ``on_give_up`` is told). Returns (requeued, failed)."""
    now = now or utcnow()
    silent = session.scalars(
        select(Job)
        .where(Job.state == "running", Job.heartbeat_at < now - STALE)
        .order_by(Job.id)
        .with_for_update(skip_locked=True)
    ).all()
    requeued = failed = 0
    for job in silent:
        who = f"运行该任务的工作进程（{job.owner}）已停止响应"
        if job.attempts >= job.max_attempts:
            job.state, job.finished_at = "failed", now
            job.error = f"{who}，已运行 {job.attempts} 次均未完成，不再重试"
            spec = registry.get(job.kind)
            hook = spec.give_up_hook() if spec else None
            if hook is not None:
                hook(session, dict(job.params), job.error)
            failed += 1
        elif _back_to_queue(session, job, f"{who}，重新排队（已运行 {job.attempts} 次，最多 {job.max_attempts} 次）",
                            now) == "queued":  # fmt: skip
            requeued += 1
        else:
            failed += 1
    session.flush()
    return requeued, failed


def reap_stale(engine) -> tuple[int, int]:
    """:func:`reap` in a transaction of its own, taken only when a silent job exists (reads stay reads)."""
    cutoff = utcnow() - STALE
    with engine.connect() as conn:
        silent = conn.scalar(select(Job.id).where(Job.state == "running", Job.heartbeat_at < cutoff).limit(1))
    if silent is None:
        return 0, 0
    with write_scope(engine) as s:
        return reap(s)


def get(engine, job_id: int) -> Job:
    """One job (a dead worker's requeued first); 404 when there is none."""
    reap_stale(engine)
    with session_scope(engine) as s:
        job = s.get(Job, job_id)
        if job is None:
            raise NotFound(f"没有任务 {job_id}")
        s.expunge(job)
    return job


def page(engine, *, kind: str | None = None, state: str | None = None, before: int | None = None,
         limit: int = 20) -> list[Job]:  # fmt: skip
    """Jobs newest first (keyset: those with an id below ``before``), of ``kind`` and in ``state`` if given."""
    reap_stale(engine)
    stmt = select(Job).order_by(Job.id.desc()).limit(max(1, min(limit, PAGE_MAX + 1)))
    if kind is not None:
        stmt = stmt.where(Job.kind == kind)
    if state is not None:
        stmt = stmt.where(Job.state == state)
    if before is not None:
        stmt = stmt.where(Job.id < before)
    with session_scope(engine) as s:
        rows = list(s.scalars(stmt))
        s.expunge_all()
    return rows


def counts(engine) -> dict[str, int]:
    """How many jobs are in each state."""
    with engine.connect() as conn:
        return dict(conn.execute(select(Job.state, func.count()).group_by(Job.state)).all())


class Heartbeat:
    """Refreshes a running job's heartbeat every :data:`HEARTBEAT` until stopped; ``lost`` once a beat finds the
    job no longer this owner's."""

    def __init__(self, engine, job_id: int, owner: str):
        self._engine, self._job_id, self._owner = engine, job_id, owner
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._run, name=f"zhida-job-{job_id}-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import logging

        while not self._stop.wait(HEARTBEAT.total_seconds()):
            try:
                if not beat(self._engine, self._job_id, self._owner):
                    self.lost = True
                    return
            except Exception:  # noqa: BLE001 - a missed beat is retried; STALE allows several
                logging.getLogger(__name__).warning("job %s: heartbeat not recorded", self._job_id, exc_info=True)


def aware(at: dt.datetime | None) -> dt.datetime | None:
    if at is None:
        return None
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)  # SQLite gives naive UTC
