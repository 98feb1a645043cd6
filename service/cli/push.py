"""``zhida push``: one 政策包 round by hand — plan every enterprise's bundle, queue it through the outbox (the
respect rules apply), send what is due."""

from __future__ import annotations

import datetime as dt
import time

import click

from service.cli import store_engine


@click.command("push")
@click.option("--dry-run", is_flag=True, help="只演练：计算政策包并说明会发送什么，不写入、不发送")
@click.option("--day", default=None, help="按此日期判定（默认今天，YYYY-MM-DD）")
@click.option("--enterprise", "usccs", multiple=True, help="只为这家企业（统一社会信用代码，可多次给出）")
@click.option("--no-deliver", is_flag=True, help="只入队，不发送（由调度器的投递任务发送）")
def cli(dry_run: bool, day: str | None, usccs: tuple[str, ...], no_deliver: bool) -> None:
    """政策包推送：为每家企业生成政策包，经发件箱按渠道发送。"""
    from graph.errors import GraphError
    from graph.knowledge import KnowledgeGraph
    from service import knowledge
    from service.push.rounds import run_round

    try:
        when = dt.date.fromisoformat(day) if day else dt.date.today()
    except ValueError:
        raise click.BadParameter(f"日期格式应为 YYYY-MM-DD（收到 {day!r}）", param_hint="--day") from None
    try:
        kg = KnowledgeGraph.load(knowledge.default_path())
    except (GraphError, OSError) as e:
        raise click.ClickException(f"无法读取知识图谱（{e}）：请先运行 zhida graph build") from None
    started = time.perf_counter()

    def say(text: str, fraction=None) -> None:
        click.echo(f"[{time.perf_counter() - started:6.1f}s] {text}", err=True)

    report = run_round(store_engine(), kg, when, dt.datetime.now(dt.UTC), dry_run=dry_run,
                       usccs=list(usccs) or None, deliver=not no_deliver, progress=say)  # fmt: skip
    click.echo(report.summary())
