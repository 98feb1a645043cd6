"""``zhida sweep``: 免申即享 — pay every enterprise that meets an automatic policy, with no application."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import click

from service.cli import store_engine


@click.command("sweep")
@click.option("--policy", "slug", default=None, help="只扫描这一项政策（默认：全部免申即享政策）")
@click.option("--as-of", "as_of", default=None, help="按此日期的核验数据判定（默认今天）")
@click.option("--dry-run", is_flag=True, help="只计算，不写入、不兑现")
@click.option(
    "--approval-threshold",
    "threshold",
    default=None,
    metavar="元",
    help=(
        "单项政策本次新增兑现总额超过此金额时，须经办人员审批后才付款"
        "（默认取 ZHIDA_APPROVAL_THRESHOLD；未设置则不需审批）"
    ),
)
def cli(slug: str | None, as_of: str | None, dry_run: bool, threshold: str | None) -> None:
    """免申即享扫描：符合条件的企业无需申请，直接兑现。"""
    from service.errors import BadRequest
    from service.ledger.sweeps import resolve_threshold, run_sweep

    try:
        limit = resolve_threshold(threshold)
    except BadRequest as exc:
        raise click.BadParameter(str(exc), param_hint="--approval-threshold") from None
    try:
        day = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
    except ValueError:
        raise click.BadParameter(f"日期格式应为 YYYY-MM-DD（收到 {as_of!r}）", param_hint="--as-of") from None
    started = time.perf_counter()

    def progress(policy, done, total):
        click.echo(f"  {policy}: 已处理 {done}/{total}", err=True)

    try:
        reports = run_sweep(store_engine(), slug, day, dry_run=dry_run, progress=progress, approval_threshold=limit)
    except BadRequest as exc:
        raise click.UsageError(str(exc)) from None
    if slug and not reports:
        raise click.UsageError(f"{slug} 不是 {day} 有效的免申即享政策")
    for r in reports:
        click.echo(r.line())
    paid = sum(r.outcomes.get("paid", 0) + r.outcomes.get("would_pay", 0) for r in reports)
    money = sum((r.money for r in reports), start=Decimal("0.00"))
    held = sum(r.outcomes.get("held", 0) for r in reports)
    held_money = sum((r.held_money for r in reports), start=Decimal("0.00"))
    waiting = f"，待审批 {held} 笔 {held_money} 元" if held else ""
    verb = "模拟" if dry_run else "完成"
    click.echo(
        f"扫描{verb}：{len(reports)} 项政策，{'可兑现' if dry_run else '新兑现'} {paid} 笔，"
        f"金额 {money} 元{waiting}，用时 {time.perf_counter() - started:.1f} s"
    )
