"""``zhida worker``: run the queued background jobs (sweeps, graph rebuilds, training …) until stopped."""

from __future__ import annotations

import signal
import time

import click

from service.cli import store_engine


@click.command("worker")
@click.option("--kind", "kinds", multiple=True, metavar="KIND", help="只运行这些类型的任务（可多次给出；默认全部）")
@click.option("--once", is_flag=True, help="运行完队列中已到期的任务后退出")
@click.option(
    "--poll", default=2.0, show_default=True, type=click.FloatRange(0.1, 60), help="队列为空时每隔几秒查看一次"
)
def cli(kinds: tuple[str, ...], once: bool, poll: float) -> None:
    """运行后台任务（免申即享扫描、知识图谱构建、模型训练……）；Ctrl-C 或 SIGTERM 停止，手上的任务交回队列。"""
    import logging

    from service.jobs import registry
    from service.jobs.worker import Stop, Worker

    unknown = [k for k in kinds if not registry.known(k)]
    if unknown:
        raise click.BadParameter(
            f"没有这种任务类型：{'、'.join(unknown)}（已注册：{'、'.join(sorted(registry.kinds()))}）",
            param_hint="--kind",
        )
    logging.basicConfig(level=logging.WARNING, format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()

    def say(text: str) -> None:
        click.echo(f"[{time.strftime('%H:%M:%S')}] {text}", err=True)

    worker = Worker(store_engine(), kinds=list(kinds) or None, poll=poll, say=say)

    def stop(signum, frame):
        worker.stop()
        raise Stop

    before = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    names = "、".join(sorted(kinds or registry.kinds()))
    say(f"zhida worker 已启动（{worker.owner}），任务类型：{names}")
    try:
        worker.run(once=once)
    except Stop:
        pass
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        click.echo(f"zhida worker 已停止：{worker.summary()}，用时 {time.perf_counter() - started:.1f} s", err=True)
