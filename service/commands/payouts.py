"""``zhida payouts``: hand decided payouts to the bank and apply its answers."""

from __future__ import annotations

from pathlib import Path

import click

from service.commands import store_engine


@click.group("payouts")
def cli() -> None:
    """兑现：提交银行与对账。"""


def _bank(outbox: Path, inbox: Path):
    from service.bank import BatchFileBank

    return BatchFileBank(outbox, inbox)


@cli.command("send")
@click.option(
    "--outbox", type=click.Path(file_okay=False, path_type=Path), required=True, help="写出付款文件的目录（银行取件处）"
)
@click.option("--batch", default=500, show_default=True, type=click.IntRange(min=1))
def send_cmd(outbox: Path, batch: int) -> None:
    """把待支付（含失败重试、已发未回）的兑现写成银行付款文件。"""
    from service.disbursement import send

    result = send(store_engine(), _bank(outbox, outbox.parent / "inbox"), batch=batch)
    click.echo(f"已提交银行：新发出 {result.sent} 笔（付款文件在 {outbox}）")


@cli.command("reconcile")
@click.option(
    "--inbox",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="银行回执文件所在目录（reference,status,reason）",
)
def reconcile_cmd(inbox: Path) -> None:
    """读取银行回执：确认的计入已支付，失败的待重试；重复回执不重复入账。"""
    from service.disbursement import reconcile

    result = reconcile(store_engine(), _bank(inbox.parent / "outbox", inbox))
    click.echo(f"对账完成：确认 {result.confirmed} 笔，失败 {result.failed} 笔，忽略 {result.ignored} 条")
