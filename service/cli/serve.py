"""``zhida serve``: the web app and API under gunicorn (``--dev``: Flask's own server, one process)."""

from __future__ import annotations

import gc
import os

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
def cli(host: str, port: int, workers: int | None, threads: int, dev: bool) -> None:
    """运行 Web 应用与 API。"""
    from service.store import database_url, make_engine, upgrade

    upgrade(database_url())  # once, here: the workers start on a migrated database
    make_engine(database_url()).dispose()  # no pooled connection may be inherited by a forked worker
    if dev:
        from service.app import create_app

        click.echo(f"zhida（开发服务器）已启动: http://{host}:{port}/", err=True)
        create_app({"AUTO_UPGRADE": False}).run(host=host, port=port, threaded=True, use_reloader=False)
        return
    from service.settings import settings

    config = settings()
    workers = workers or config.workers or default_workers(database_url())
    click.echo(f"zhida 已启动: http://{host}:{port}/ （{workers} 个工作进程 × {threads} 线程）", err=True)
    _Gunicorn(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread" if threads > 1 else "sync",
            "accesslog": config.access_log,
            "errorlog": "-",
            "loglevel": "warning",
            "timeout": 120,  # a sweep over HTTP may take a minute on a large city
        }
    ).run()


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
