"""The scheduler (``zhida scheduler``): APScheduler 3 in a process of its own, whose entries only *queue* durable
jobs (``service.jobs.queue``) for the workers to run — ids and plain values, never data.

- **One process leads.** Before it schedules anything a scheduler takes the leader lock in the database
  (:class:`AdvisoryLock`: a session-level ``pg_try_advisory_lock`` held on a connection of its own, released by
  PostgreSQL when that connection or its process dies; on SQLite a ``flock`` on a file beside the database, so
  one machine, one process — :class:`FileLock`). A second scheduler stands by, tries again every few seconds,
  and takes over when the leader is gone. The leader checks its lock every few seconds and steps down when it is
  lost; and every entry, before it queues anything, checks in the same transaction that this process still
  holds the lock (a fencing check on ``pg_locks``), so a leader that lost its lock and has not noticed yet
  queues nothing. APScheduler 3 cannot share a job store between running schedulers (its FAQ): the standby
  never starts one.
- **The job store is in the database** (``SQLAlchemyJobStore`` on ``scheduler_jobs``, created by migration 0014).
  At start-up the leader adds every entry with its explicit id and ``replace_existing=True`` (the settings of
  this start win), removes entries no longer configured, and keeps the stored next run time of an entry whose
  trigger did not change — so a daily run missed while no scheduler ran still runs when one comes back, within
  the entry's ``misfire_grace_time``.
- **Never inside a web server.** :func:`run` refuses to start under gunicorn or Flask's reloader; ``create_app``
  starts no scheduler and no thread.

Entries (times are settings, ``docs/configuration.md``): the daily 免申即享 sweep, the daily 政策包 run (kind
``bundles``), webhook retries (kind ``deliveries``), the publication check (kind ``policy_published``, one job
per policy version published since the last check), the nightly graph update and the weekly retraining (a
candidate model, never promoted). An entry whose kind is not registered yet logs that and skips.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import pickle
import re
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.errors import Conflict, SetupError
from service.jobs import queue, registry
from service.jobs.leader import AdvisoryLock, FileLock, leader_lock  # noqa: F401 - the scheduler's lock
from service.store import write_scope
from service.store.models import SCHEDULER_JOBS, Job, JobMark, Policy, PolicyVersion, utcnow

log = logging.getLogger("zhida.scheduler")

ANCHOR = dt.datetime(2000, 1, 3)  # "every N" entries fire on a fixed grid from here, the same in every process
PUBLICATION_OVERLAP = dt.timedelta(minutes=10)  # a publication committed late is still seen by the next check


# -- entries -----------------------------------------------------------------------------------------------------

Enqueue = Callable[[Session, dt.date, str], list]  # (session, today, requested_by) -> [(job, created)]


@dataclass(frozen=True)
class Entry:
    """One scheduled entry: when (a crontab line, ``every 5m``, or ``off``), what it queues, and how late it may
    still run after a time it missed (seconds; None: however late — the run is coalesced into one)."""

    id: str
    kind: str
    label: str
    when: str
    misfire_grace: int | None
    enqueue: Enqueue = field(compare=False, repr=False)


def _sweep(s: Session, today: dt.date, by: str) -> list:
    from service.jobs.kinds import sweep_dedupe_key, sweep_params
    from service.ledger.sweeps import resolve_threshold

    params = sweep_params(None, today, False, resolve_threshold(), by)
    return [queue.enqueue(s, "sweep", params, by, dedupe_key=sweep_dedupe_key(params))]


def _bundles(s: Session, today: dt.date, by: str) -> list:
    return [queue.enqueue(s, "bundles", {"day": today.isoformat()}, by, dedupe_key=f"bundles:{today}")]


def _deliveries(s: Session, today: dt.date, by: str) -> list:
    return [queue.enqueue(s, "deliveries", {}, by, dedupe_key="deliveries")]


def _graph(s: Session, today: dt.date, by: str) -> list:
    from service.jobs.kinds import graph_params

    return [queue.enqueue(s, "graph_rebuild", graph_params("update"), by, dedupe_key="graph_rebuild:update")]


def _training(s: Session, today: dt.date, by: str) -> list:
    """A training job as an analyst's request makes one (``service.jobs.training.submit``): registered as a
    candidate, never promoted. Skipped while one is queued or running, or when there is no graph file yet."""
    from service import knowledge
    from service.jobs import training

    graph = knowledge.default_path().resolve()
    if not graph.is_file():
        log.warning("每周训练：没有知识图谱文件 %s，本次跳过（zhida graph build，或调度项 graph）", graph)
        return []
    params = {"until": today.isoformat(), "period_days": 60, "seed": 1}
    try:
        job = training.submit(s, "ranker", params, by, graph)
    except Conflict as e:
        log.warning("每周训练：%s；本次跳过", e)
        return []
    return [(s.get(Job, job.job_id), True)]


def _publications(s: Session, today: dt.date, by: str) -> list:
    """One ``policy_published`` job per policy version published since the last check (a little before it, so
    that one committed late is not missed; never twice for one version). The first check only starts the
    clock: what was published before it is not news."""
    now = utcnow()
    mark = s.get(JobMark, "publications")
    if mark is None:
        s.add(JobMark(name="publications", at=now))
        return []
    since = queue.aware(mark.at) - PUBLICATION_OVERLAP
    rows = s.execute(
        select(Policy.slug, PolicyVersion.version)
        .join(Policy, (Policy.id == PolicyVersion.policy_id) & (Policy.current_version == PolicyVersion.version))
        .where(Policy.status == "published", PolicyVersion.published_at > since, PolicyVersion.published_at <= now)
        .order_by(PolicyVersion.published_at, Policy.slug)
    ).all()
    out = []
    for slug, version in rows:
        key = f"policy_published:{slug}:{version}"
        if s.scalar(select(Job.id).where(Job.dedupe_key == key).limit(1)) is None:  # once per version, ever
            out.append(queue.enqueue(s, "policy_published", {"policy_id": slug, "version": version}, by,
                                     dedupe_key=key))  # fmt: skip
    mark.at = now
    return out


# Why each is set as it is (APScheduler's defaults would skip a daily run missed by a second):
# - misfire_grace_time: a daily sweep or graph update missed during a restart still runs up to 6 hours late
#   (money and the graph are the same a few hours later); the 政策包 only up to 3 hours (a bundle arriving in the
#   evening is worse than the next morning's); the weekly training up to a day; the frequent checks however late
#   (None), since what they do is never wrong later.
# - coalesce=True (all): a scheduler down for three days runs each missed entry once, not three times.
# - max_instances=1 (all): an entry only queues a job (milliseconds); two of its runs at once would only be a
#   scheduler stuck on its database, and the second would queue nothing new.
ENTRIES: dict[str, Entry] = {
    e.id: e
    for e in (
        Entry("sweep", "sweep", "免申即享扫描（全部免申即享政策）", "0 2 * * *", 6 * 3600, _sweep),
        Entry("graph", "graph_rebuild", "知识图谱更新", "30 1 * * *", 6 * 3600, _graph),
        Entry("bundles", "bundles", "政策包推送", "0 9 * * *", 3 * 3600, _bundles),
        Entry("deliveries", "deliveries", "Webhook 等投递重试", "every 1m", None, _deliveries),
        Entry("publications", "policy_published", "新发布政策推送检查", "every 5m", None, _publications),
        Entry(
            "training", "training", "每周重新训练排序模型（登记为候选，不上线）", "0 3 * * sun", 24 * 3600, _training
        ),  # fmt: skip
    )
}


def configured(schedules: dict[str, str] | None = None) -> list[Entry]:
    """The entries with the times the settings give (``SCHEDULE_VARIABLES``), ``off`` ones left out."""
    from dataclasses import replace

    from service.settings import settings

    given = settings().schedules if schedules is None else schedules
    out = []
    for entry in ENTRIES.values():
        when = given.get(entry.id, entry.when)
        if when.strip().lower() != "off":
            out.append(replace(entry, when=when))
    return out


def trigger(when: str, tz, name: str = "schedule"):
    """A crontab line (``0 2 * * *``: minute hour day month weekday) or ``every N s|m|h|d``, as an APScheduler
    trigger; :class:`SetupError` naming ``name`` for anything else."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    m = re.fullmatch(r"every\s+(\d+)\s*([smhd])", when.strip().lower())
    if m:
        n = int(m.group(1))
        if n < 1:
            raise SetupError(f"{name} 的间隔应至少为 1（收到 {when!r}）")
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return IntervalTrigger(**{unit: n}, start_date=ANCHOR.replace(tzinfo=tz), timezone=tz)
    try:
        return CronTrigger.from_crontab(when.strip(), timezone=tz)
    except ValueError as e:
        raise SetupError(
            f"{name} 应为 crontab 格式（分 时 日 月 星期，如 0 2 * * *）、every 5m 或 off（收到 {when!r}：{e}）"
        ) from None


# -- running -----------------------------------------------------------------------------------------------------


@dataclass
class _Leader:
    engine: object
    lock: object
    entries: dict[str, Entry]
    requested_by: str
    queued: Counter = field(default_factory=Counter)
    lost: threading.Event = field(default_factory=threading.Event)  # the lock is gone: stop queueing
    ended: threading.Event = field(default_factory=threading.Event)  # its scheduler stopped (or never started)


_leading: dict[str, _Leader] = {}  # this process's schedulers that lead now, by their executor's thread-name prefix
POOL_PREFIX = "zhida-schedule-"


def _leader_here() -> _Leader | None:
    """The leader whose executor runs this thread. The stored jobs carry only the entry's id: what a stored job
    holds must be the same whichever process leads, so that a scheduler that lost its lock and writes the store
    once more before it stops cannot leave the new leader's jobs pointing at itself."""
    name = threading.current_thread().name
    for key, leader in list(_leading.items()):
        if name.startswith(f"{POOL_PREFIX}{key}_"):
            return leader
    return None


def fire(entry_id: str) -> str | None:
    """What every stored job runs (module level: APScheduler keeps a reference to it, and the entry's id).
    Queues the entry's jobs if this process still leads, and says what it queued (logged with the scheduled
    time); logs and skips an entry whose kind is not registered."""
    leader = _leader_here()
    entry = leader.entries.get(entry_id) if leader else None
    if leader is None or entry is None:
        log.error("调度项 %s：本进程已不是领导者，未排队任何任务", entry_id)
        return None
    if not registry.known(entry.kind):
        log.warning(
            "调度项 %s：任务类型 %s 尚未注册，本次跳过（注册后自动生效，见 docs/jobs.md）", entry.id, entry.kind
        )
        return None
    with write_scope(leader.engine) as s:
        if not leader.lock.held(s):
            leader.lost.set()
            log.error("调度项 %s：已失去领导锁，不排队任务（转为待命）", entry.id)
            return None
        made = entry.enqueue(s, dt.date.today(), leader.requested_by)
        said = [f"任务 {job.id} 已排队" if created else f"相同的任务 {job.id} 已在排队" for job, created in made]
    leader.queued[entry.id] += sum(1 for _, created in made if created)
    return f"{entry.label}：{'；'.join(said) or '没有需要排队的任务'}"


def _stored(engine) -> dict[str, tuple[float | None, str | None]]:
    """Per stored entry: its next run time (UTC timestamp) and its trigger as text."""
    out = {}
    with engine.connect() as conn:
        for job_id, next_run, state in conn.execute(select(SCHEDULER_JOBS.c.id, SCHEDULER_JOBS.c.next_run_time,
                                                           SCHEDULER_JOBS.c.job_state)):  # fmt: skip
            try:
                trig = str(pickle.loads(state)["trigger"])  # written by our own scheduler, in our own table
            except Exception:  # noqa: BLE001 - an unreadable row is replaced
                trig = None
            out[job_id] = (next_run, trig)
    return out


def build(engine, entries: list[Entry], leader_key: str, tz):
    """The leader's BlockingScheduler: the job store in the database, every entry added with its id,
    ``replace_existing=True``, its misfire grace, ``coalesce`` and ``max_instances`` (see :data:`ENTRIES`)."""
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.util import utc_timestamp_to_datetime

    ids = [e.id for e in entries]
    with write_scope(engine) as s:  # entries no longer configured (turned off, renamed) leave the store
        s.execute(delete(SCHEDULER_JOBS).where(SCHEDULER_JOBS.c.id.not_in(ids)))
    stored = _stored(engine)
    scheduler = BlockingScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=SCHEDULER_JOBS.name)},
        executors={"default": ThreadPoolExecutor(4, pool_kwargs={"thread_name_prefix": f"{POOL_PREFIX}{leader_key}"})},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone=tz,
    )
    for e in entries:
        trig = trigger(e.when, tz, e.id)
        kwargs = {}
        next_run, stored_trigger = stored.get(e.id, (None, None))
        if next_run is not None and stored_trigger == str(trig):  # unchanged: a run it missed is still due
            kwargs["next_run_time"] = utc_timestamp_to_datetime(next_run).astimezone(tz)
        scheduler.add_job(
            fire,
            trig,
            args=[e.id],
            id=e.id,
            name=e.label,
            replace_existing=True,
            misfire_grace_time=e.misfire_grace,
            coalesce=True,
            max_instances=1,
            **kwargs,
        )

    def said(event):  # one line per run, with the time it was due
        when = event.scheduled_run_time.isoformat()
        if event.code == EVENT_JOB_MISSED:
            log.warning("调度项 %s（计划于 %s）：已错过宽限时间，跳过", event.job_id, when)
        elif event.code == EVENT_JOB_ERROR:
            log.error("调度项 %s（计划于 %s）：出错：%s", event.job_id, when, event.exception)
        elif event.retval:
            log.info("调度项 %s（计划于 %s）：%s", event.job_id, when, event.retval)

    scheduler.add_listener(said, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    return scheduler


def in_web_server() -> str | None:
    """Why this process must not run a scheduler (a gunicorn worker, Flask's reloader), or None."""
    if "gunicorn" in os.environ.get("SERVER_SOFTWARE", ""):
        return "gunicorn"
    if os.environ.get("WERKZEUG_RUN_MAIN"):
        return "Flask 重载器"
    return None


@dataclass
class Run:
    """What a scheduler process did, for its last line."""

    terms: int = 0  # times it became the leader
    queued: Counter = field(default_factory=Counter)


def run(
    engine,
    *,
    entries: list[Entry] | None = None,
    stop: threading.Event | None = None,
    standby_every: float = 5.0,
    check_every: float = 5.0,
    name: str | None = None,
) -> Run:
    """Lead or stand by until ``stop`` is set: take the leader lock, run the BlockingScheduler while the lock
    holds, step down when it is lost, and try again every ``standby_every`` seconds while another leads."""
    from zoneinfo import ZoneInfo

    from service.settings import settings

    where = in_web_server()
    if where:
        raise SetupError(f"调度器只能作为独立进程运行（zhida scheduler），不能在 {where} 中启动")
    from service.jobs import kinds  # noqa: F401 - loaded now, so that an entry's first run does not wait for it

    entries = configured() if entries is None else entries
    tz = ZoneInfo(settings().scheduler_timezone)
    for e in entries:
        trigger(e.when, tz, e.id)  # a bad time is refused before anything starts
    stop = stop or threading.Event()
    me = name or f"zhida-scheduler {socket.gethostname()}:{os.getpid()}"
    key = hashlib.sha256(f"{me}:{id(stop)}:{utcnow().isoformat()}".encode()).hexdigest()[:16]
    lock = leader_lock(engine, me)
    done = Run()
    waiting_for = object()
    while not stop.is_set():
        try:
            got = lock.acquire()
            holder = None if got else lock.holder()
        except Exception as e:  # noqa: BLE001 - the database away: wait and try again
            log.warning("%s 无法连接数据库（%s），%.0f 秒后重试", me, type(e).__name__, standby_every)
            stop.wait(standby_every)
            continue
        if not got:
            if holder != waiting_for:
                log.info("%s 待命：领导锁由 %s 持有，每 %.0f 秒重试", me, holder or "另一个调度器", standby_every)
                waiting_for = holder
            stop.wait(standby_every)
            continue
        waiting_for = object()
        done.terms += 1
        leader = _Leader(engine, lock, {e.id: e for e in entries}, f"scheduler:{me.split(' ')[-1]}"[:64])
        _leading[key] = leader
        watch = None
        try:
            scheduler = build(engine, entries, key, tz)
            log.info(
                "%s 成为领导者：%s", me, "；".join(f"{e.id}（{e.label}）{e.when}" for e in entries) or "没有调度项"
            )
            watch = threading.Thread(target=_watch, args=(scheduler, lock, leader, stop, check_every), daemon=True)
            watch.start()
            scheduler.start()  # blocks until the watch shuts it down
        except Exception:  # noqa: BLE001 - said; the lock is given up and taken again when it can be
            log.exception("%s 运行调度器出错", me)
        finally:
            leader.ended.set()
            if watch is not None:
                watch.join()
            _leading.pop(key, None)
            done.queued.update(leader.queued)
            lock.release()
        if not stop.is_set():
            log.warning("%s 已不再是领导者，转为待命", me)
            stop.wait(2 * standby_every)  # a standby that tries meanwhile leads; no flapping back and forth
    return done


def _watch(scheduler, lock, leader: _Leader, stop: threading.Event, every: float) -> None:
    """Shut the scheduler down when asked to stop, or when the lock is lost: found by a fencing check that
    failed (at once) or by asking the lock's connection (every ``every`` seconds)."""
    asked = time.monotonic()
    while not stop.wait(0.1):
        if leader.lost.is_set() or leader.ended.is_set():
            break
        if time.monotonic() - asked >= every:
            asked = time.monotonic()
            if not lock.alive():
                leader.lost.set()
                break
    for _ in range(400):  # shut down only once it runs (a shutdown before its start would leave start blocking)
        if scheduler.running or leader.ended.is_set():
            break
        time.sleep(0.05)
    with contextlib.suppress(Exception):
        scheduler.shutdown(wait=False)


def stop_on_signals(stop: threading.Event) -> dict:
    """SIGTERM and Ctrl-C stop the scheduler (the main thread's handlers only set ``stop``); returns the handlers
    they replace."""

    def handler(signum, frame):
        stop.set()

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
