"""``zhida serve``: the web app and API under gunicorn (``--dev``: Flask's own server, one process).

Background jobs are never run by a web worker, and no scheduler is ever started here (docs/jobs.md). So that
one command serves a working platform, ``zhida serve`` starts one ``zhida worker`` process beside gunicorn
(a child of this process, stopped with it); ``--no-worker`` leaves the jobs to workers run on their own (under
systemd, on other machines), as production does. ``--dev`` runs that worker as a thread of its one process.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import click


def default_workers(url: str) -> int:
    """gunicorn's 2×cores+1 on PostgreSQL; one per core (at least 2) on SQLite.

    SQLite takes one writer at a time: a worker holding the write lock that is
    preempted by more workers than there are cores stalls every other writer
    (measured: 5 workers on 2 cores did 400/s, p99 70 ms; 2 workers 600/s, p99 40 ms).
    """
    cores = os.cpu_count() or 1
    return max(2, cores) if url.startswith("sqlite") else 2 * cores + 1


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="gunicorn 工作进程数（默认 ZHIDA_WORKERS；否则 PostgreSQL 为 2×CPU 核数+1，SQLite 为 CPU 核数，至少 2）",
)
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="每个工作进程的线程数")
@click.option("--dev", is_flag=True, help="用 Flask 自带的开发服务器（单进程，仅供调试）")
@click.option("--no-worker", is_flag=True, help="不随服务启动后台任务进程（另行运行 zhida worker）")
def cli(host: str, port: int, workers: int | None, threads: int, dev: bool, no_worker: bool) -> None:
    """运行 Web 应用与 API（默认同时启动一个后台任务进程 zhida worker）。"""
    from service.store import database_url, make_engine, upgrade

    upgrade(database_url())  # once, here: the workers start on a migrated database
    make_engine(database_url()).dispose()  # no pooled connection may be inherited by a forked worker
    if dev:
        from service.app import create_app

        app = create_app({"AUTO_UPGRADE": False})
        if not no_worker:
            from service.jobs.worker import Worker

            Worker(app.extensions["zhida.engine"]).start_thread()
        jobs = "不运行后台任务" if no_worker else "后台任务由本进程的一个线程运行"
        click.echo(f"zhida（开发服务器）已启动: http://{host}:{port}/ （{jobs}）", err=True)
        app.run(host=host, port=port, threaded=True, use_reloader=False)
        return
    from service.settings import settings

    config = settings()
    workers = workers or config.workers or default_workers(database_url())
    job_worker = None if no_worker else start_job_worker()
    jobs = "后台任务另行运行（zhida worker）" if job_worker is None else f"后台任务进程 {job_worker.pid}"
    click.echo(f"zhida 已启动: http://{host}:{port}/ （{workers} 个工作进程 × {threads} 线程；{jobs}）", err=True)
    try:
        _Gunicorn(
            {
                "bind": f"{host}:{port}",
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread" if threads > 1 else "sync",
                "accesslog": config.access_log,
                "errorlog": "-",
                "loglevel": "warning",
                # not for sweeps (they are background jobs): a worker's first /v1 request builds its serving
                # snapshot, 50–75 s on 20,000 firms (docs/BENCHMARKS.md), and a sync worker silent for longer
                # than this is killed
                "timeout": 120,
            }
        ).run()
    finally:
        if job_worker is not None:
            stop_job_worker(job_worker)


def start_job_worker() -> subprocess.Popen:
    """``zhida worker`` as a child process: its own interpreter, not a fork of gunicorn's arbiter (whose
    threads and pools a fork would copy), in this process group (a signal to the group stops it too)."""
    return subprocess.Popen([sys.executable, "-m", "service", "worker"], env=os.environ.copy())


def stop_job_worker(proc: subprocess.Popen, wait: float = 30) -> None:
    """SIGTERM (the job in hand goes back to the queue), then SIGKILL if it has not stopped after ``wait``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


try:
    from gunicorn.app.base import BaseApplication
except ImportError:  # pragma: no cover - gunicorn is a dependency; Windows lacks it
    BaseApplication = object


class _Gunicorn(BaseApplication):
    """gunicorn run from Python: each worker builds its own app (and its own database pool)."""

    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            if value is not None:
                self.cfg.set(key, value)

    def load(self):
        from service.app import create_app
        from service.store import database_url, make_engine

        make_engine(database_url()).dispose(close=False)  # a fresh pool of this worker's own connections
        app = create_app({"AUTO_UPGRADE": False, "SERVING_FREEZE": True})
        # The app's ~150,000 long-lived objects (catalogs, taxonomies, SQLAlchemy's metadata)
        # would be rescanned by every full collection: 50-100 ms in which the worker answers
        # nobody, every couple of thousand requests. Frozen, they are never scanned again.
        gc.freeze()
        return app
