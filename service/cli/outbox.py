"""``zhida outbox``: deliver the 政策包 messages that are due, list the outbox, send a dead one again."""

from __future__ import annotations

import datetime as dt

import click

from service.cli import store_engine

STATES = ("pending", "sent", "failed", "dead")


@click.group("outbox")
def cli() -> None:
    """政策包推送的发件箱：投递、查看、重发（docs/push.md）。"""


@cli.command("deliver")
@click.option("--limit", type=click.IntRange(1), default=None, help="最多投递多少条（默认全部到期的）")
@click.option(
    "--channel", "kinds", multiple=True, type=click.Choice(["inbox", "webhook", "sms"]), help="只投递这些渠道"
)
def deliver_cmd(limit: int | None, kinds: tuple[str, ...]) -> None:
    """投递到期的消息（至少一次；失败的按退避重试，连续失败 N 次放弃）。"""
    from service.push import default_channels, deliver_due

    engine = store_engine()
    channels = [c for c in default_channels(engine) if not kinds or c.name in kinds]
    report = deliver_due(engine, dt.datetime.now(dt.UTC), channels, limit=limit)
    for c in channels:
        getattr(c, "close", lambda: None)()
    r = report
    click.echo(f"送达 {r.sent} 条，失败待重试 {r.failed} 条，放弃 {r.dead} 条，免打扰顺延 {r.deferred} 条")


@cli.command("list")
@click.option("--state", type=click.Choice(STATES), default=None, help="只列这种状态的消息（dead：已放弃）")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def list_cmd(state: str | None, limit: int) -> None:
    """列出发件箱中的消息，最新的在前。"""
    from service.push.outbox import messages, shown
    from service.store import session_scope

    with session_scope(store_engine()) as session:
        rows = [shown(row, uscc) for row, uscc in messages(session, state=state, limit=limit)]
    for m in rows:
        error = f"  {m['last_error']}" if m["last_error"] else ""
        click.echo(f"{m['id']}\t{m['uscc']}\t{m['period']}\t{m['channel']}\t{m['state']}\t{m['attempts']} 次{error}")
    click.echo(f"共 {len(rows)} 条")


@cli.command("retry")
@click.argument("message", type=int)
@click.option("--by", "actor", required=True, help="操作人（记入审计日志）")
def retry_cmd(message: int, actor: str) -> None:
    """把一条已放弃（或失败）的消息重新从第一次尝试开始发送。"""
    from service.errors import ServiceError
    from service.push.outbox import retry
    from service.store import write_scope

    try:
        with write_scope(store_engine()) as session:
            row = retry(session, message, f"cli:{actor}", dt.datetime.now(dt.UTC))
    except ServiceError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"消息 {row.id}（{row.message_id}）已重新排队")
