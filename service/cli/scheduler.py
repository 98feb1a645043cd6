"""``zhida scheduler``: the one process that runs APScheduler and queues the scheduled jobs (docs/jobs.md)."""

from __future__ import annotations

import signal
import threading
import time

import click

from service.cli import store_engine


@click.command("scheduler")
@click.option(
    "--standby-every",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.1, 300),
    help="待命时每隔几秒尝试取得领导锁；领导者也按此间隔检查自己仍持有它",
)
@click.option("--list", "show", is_flag=True, help="只列出调度项及其时间，不启动")
def cli(standby_every: float, show: bool) -> None:
    """运行调度器：按时排队免申即享扫描、政策包、投递重试、新政策推送检查、图谱更新与每周训练。

    同一数据库可以启动多个调度器：只有取得领导锁的一个运行，其余待命，领导者退出后接替。"""
    import logging

    from service.errors import SetupError
    from service.jobs import registry, schedule
    from service.settings import settings

    entries = schedule.configured()
    if show:
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(settings().scheduler_timezone)
        for e in schedule.ENTRIES.values():
            on = next((x for x in entries if x.id == e.id), None)
            when = on.when if on else "off（已关闭）"
            if on:
                schedule.trigger(on.when, tz, e.id)
            known = "" if registry.known(e.kind) else "；任务类型尚未注册，运行时跳过"
            click.echo(f"{e.id:<13} {when:<16} {e.label}（任务类型 {e.kind}{known}）")
        click.echo(f"时区：{settings().scheduler_timezone}")
        return
    logging.basicConfig(level=logging.WARNING, format="[%(asctime)s] %(message)s")
    logging.getLogger("zhida.scheduler").setLevel(logging.INFO)  # its own lines; others' warnings only
    stop = threading.Event()
    before = schedule.stop_on_signals(stop)
    started = time.perf_counter()
    try:
        done = schedule.run(store_engine(), stop=stop, standby_every=standby_every, check_every=standby_every)
    except SetupError as e:
        raise click.ClickException(str(e)) from None
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    queued = "、".join(f"{k} {v}" for k, v in sorted(done.queued.items())) or "无"
    took = time.perf_counter() - started
    click.echo(f"zhida scheduler 已停止：任领导者 {done.terms} 次，排队任务 {queued}，用时 {took:.1f} s", err=True)
