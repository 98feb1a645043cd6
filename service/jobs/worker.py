"""The worker: takes queued jobs one at a time and runs them (``zhida worker``, or a thread of a one-process tool).

Each job runs with a heartbeat (``service.jobs.queue.Heartbeat``) and a ``progress`` callable handed to its kind
(see ``service.jobs.registry``). The outcome:

- the kind returns: ``done`` with its result;
- a domain error (the service's, the decision core's, the graph's, the models'): ``failed`` with its Chinese
  reason — running it again would give the same answer;
- the database unreachable (a passing fault): queued again after :data:`~service.jobs.queue.RETRY_DELAY`, until
  ``max_attempts`` runs; any other exception: ``failed``, its type named, the traceback in the worker's log;
- the worker asked to stop (:class:`Stop`, from SIGTERM or Ctrl-C): the job goes back to the queue without
  using up an attempt, and is run again from the start by the next worker (every kind is safe to rerun);
- the worker dies (killed, the machine lost): its heartbeat stops, and the next reap queues the job again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from service.jobs import queue, registry
from service.jobs.registry import Lost

log = logging.getLogger(__name__)
POLL = 2.0  # seconds between looks at an empty queue
PROGRESS_EVERY = 1.0  # seconds: progress is written (and said) at most this often, and always at a new fraction 1


class Stop(BaseException):
    """Raised in the worker's thread to stop it now (the job in hand goes back to the queue)."""


def _known_errors() -> tuple[type[BaseException], ...]:
    from graph.errors import GraphError
    from matcher.errors import MatcherError
    from models.registry import ModelError
    from service.errors import ServiceError

    return ServiceError, MatcherError, GraphError, ModelError


def _passing(e: BaseException) -> bool:
    """A fault of the connection, not of the job: worth another run."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    return isinstance(e, OperationalError) or (isinstance(e, DBAPIError) and e.connection_invalidated)


class Progress:
    """What a kind calls to report: ``progress(text, fraction=None)``. Writes at most every
    :data:`PROGRESS_EVERY` seconds (it also beats); raises :class:`Lost` once the job is no longer ours."""

    def __init__(self, engine, job_id: int, owner: str, heartbeat: queue.Heartbeat | None, say=None):
        self._engine, self._job_id, self._owner, self._beat = engine, job_id, owner, heartbeat
        self._say = say
        self._last = 0.0
        self._pending: tuple[str, float | None] | None = None
        self.text: str | None = None

    def __call__(self, text: str, fraction: float | None = None) -> None:
        if self._beat is not None and self._beat.lost:
            raise Lost
        self.text = text
        self._pending = (text, fraction)
        if time.monotonic() - self._last >= PROGRESS_EVERY or fraction == 1:
            self.flush()

    def flush(self) -> None:
        if self._pending is None:
            return
        text, fraction = self._pending
        self._pending, self._last = None, time.monotonic()
        if not queue.beat(self._engine, self._job_id, self._owner, text, fraction):
            raise Lost
        if self._say is not None:
            shown = f"（{fraction:.0%}）" if fraction is not None else ""
            self._say(f"任务 {self._job_id}：{text}{shown}")


def run_claimed(engine, job, owner: str, say: Callable[[str], None] | None = None) -> str:
    """Run a job this owner has claimed to its outcome: ``done``, ``failed``, ``queued`` (again) or ``lost``."""
    spec = registry.get(job.kind)
    started = time.monotonic()
    say = say or (lambda text: None)
    if spec is None:  # claimed only among known kinds; a kind removed since
        queue.finish(engine, job.id, owner, "failed", error=f"没有这种任务类型：{job.kind}")
        return "failed"
    say(f"任务 {job.id}（{spec.label}，{job.kind}）开始" + (f"，第 {job.attempts} 次" if job.attempts > 1 else ""))
    heartbeat = queue.Heartbeat(engine, job.id, owner).start()
    progress = Progress(engine, job.id, owner, heartbeat, say)
    try:
        try:
            result = spec.function()(engine, dict(job.params), progress)
            progress.flush()
        except Stop:
            queue.requeue(engine, job.id, owner, "工作进程停止，任务重新排队（将从头运行）", counted=False)
            say(f"任务 {job.id} 已交回队列（工作进程停止）")
            raise
        except Lost:
            say(f"任务 {job.id} 已由其他工作进程接手，本进程停止运行它")
            return "lost"
        except _known_errors() as e:
            return _failed(engine, job, owner, str(e), say)
        except Exception as e:  # noqa: BLE001 - a job's failure is its outcome, kept with the job
            if _passing(e) and job.attempts < job.max_attempts:
                log.warning("job %s: passing fault, queued again", job.id, exc_info=True)
                reason = f"数据库暂时不可用（{type(e).__name__}），稍后重试（已运行 {job.attempts} 次）"
                state = queue.requeue(engine, job.id, owner, reason, delay=queue.RETRY_DELAY * job.attempts)
                say(f"任务 {job.id}：{reason}")
                return state or "lost"
            log.exception("job %s (%s) failed", job.id, job.kind)
            return _failed(engine, job, owner, f"任务出错（{type(e).__name__}：{e}），详情见工作进程的日志", say)
        if not queue.finish(engine, job.id, owner, "done", result=_result(result), progress=_done_text(result)):
            say(f"任务 {job.id} 已由其他工作进程接手，本进程的结果未记录")
            return "lost"
        say(f"任务 {job.id} 完成，用时 {time.monotonic() - started:.1f} s" + _summary(result))
        return "done"
    finally:
        heartbeat.stop()


def _failed(engine, job, owner: str, reason: str, say) -> str:
    if not queue.finish(engine, job.id, owner, "failed", error=reason[:2000]):
        return "lost"
    say(f"任务 {job.id} 失败：{reason}")
    return "failed"


def _done_text(result) -> str:
    if isinstance(result, dict) and isinstance(result.get("summary"), str):
        return result["summary"][:500]
    return "已完成"


def _result(result) -> dict | None:
    import json

    from service.model_registry import json_safe

    if result is None:
        return None
    return json.loads(json.dumps(json_safe(result), ensure_ascii=False, default=str))


def _summary(result) -> str:
    if isinstance(result, dict) and isinstance(result.get("summary"), str):
        return f"：{result['summary']}"
    return ""


class Worker:
    """Runs queued jobs until stopped: reaps dead workers' jobs, claims one, runs it, and again."""

    def __init__(self, engine, *, kinds=None, poll: float = POLL, say: Callable[[str], None] | None = None,
                 owner: str | None = None):  # fmt: skip
        self.engine, self.kinds, self.poll = engine, kinds, poll
        self.owner = owner or queue.owner_id()
        self.say = say
        self.outcomes: Counter = Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self, *, once: bool = False, max_jobs: int | None = None) -> Counter:
        """Loop until :meth:`stop` (``once``: until the queue is empty; ``max_jobs``: after that many)."""
        while not self._stop.is_set():
            try:
                queue.reap_stale(self.engine)
                job = queue.claim(self.engine, self.owner, self.kinds)
            except Stop:
                raise
            except Exception:  # noqa: BLE001 - the database away: wait and look again
                log.warning("worker %s: could not claim a job", self.owner, exc_info=True)
                job = None
            if job is None:
                if once:
                    break
                self._stop.wait(self.poll)
                continue
            self.outcomes[run_claimed(self.engine, job, self.owner, self.say)] += 1
            if max_jobs is not None and sum(self.outcomes.values()) >= max_jobs:
                break
        return self.outcomes

    def stop(self) -> None:
        """Stop looking for jobs (a thread's job in hand is finished first)."""
        self._stop.set()

    def start_thread(self) -> threading.Thread:
        """Run in a daemon thread of this process (the demo, ``zhida serve --dev``, tests)."""

        def loop():
            try:
                self.run()
            except Exception:  # noqa: BLE001 - said, not raised into a thread nobody joins
                log.exception("worker %s stopped", self.owner)

        self._thread = threading.Thread(target=loop, name=f"zhida-worker-{self.owner}", daemon=True)
        self._thread.start()
        return self._thread

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def summary(self) -> str:
        o = self.outcomes
        again = f"，重新排队 {o['queued']}" if o["queued"] else ""
        lost = f"，被接手 {o['lost']}" if o["lost"] else ""
        return f"运行 {sum(o.values())} 个任务（完成 {o['done']}，失败 {o['failed']}{again}{lost}）"


def run_now(engine, job_id: int, say: Callable[[str], None] | None = None) -> str | None:
    """Run one queued job in this thread before returning (tests; a one-process tool). None when it was not
    queued (already taken, finished, or never committed)."""
    owner = queue.owner_id()
    job = queue.claim(engine, owner, job_id=job_id)
    if job is None:
        return None
    return run_claimed(engine, job, owner, say)
