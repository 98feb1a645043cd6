"""``zhida payouts``: hand decided payouts to the bank, apply its answers, decide batches, revise and claw back."""

from __future__ import annotations

from pathlib import Path

import click

from service.cli import store_engine


@click.group("payouts")
def cli() -> None:
    """兑现：提交银行、对账、审批批次、复核与追回。"""


def _bank(outbox: Path, inbox: Path):
    from service.ledger.bank import BatchFileBank

    return BatchFileBank(outbox, inbox)


@cli.command("send")
@click.option(
    "--outbox", type=click.Path(file_okay=False, path_type=Path), required=True, help="写出付款文件的目录（银行取件处）"
)
@click.option("--batch", default=500, show_default=True, type=click.IntRange(min=1))
def send_cmd(outbox: Path, batch: int) -> None:
    """把待支付（含失败重试、已发未回）的兑现写成银行付款文件。"""
    from service.ledger.disbursement import send

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
    from service.ledger.disbursement import reconcile

    result = reconcile(store_engine(), _bank(inbox.parent / "outbox", inbox))
    click.echo(f"对账完成：确认 {result.confirmed} 笔，失败 {result.failed} 笔，忽略 {result.ignored} 条")


@cli.command("batches")
@click.option("--all", "show_all", is_flag=True, help="也列出已审批的批次")
def batches_cmd(show_all: bool) -> None:
    """列出待审批的兑现批次（大额免申即享扫描）。"""
    from service.ledger.batches import list_batches

    items = list_batches(store_engine(), waiting_only=not show_all)
    for b in items:
        click.echo(
            f"批次 {b['id']}  {b['policy_id']}  {b['status']}  {b['count']} 笔  {b['amount']} 元"
            f"  （阈值 {b['threshold']} 元，{b['created_at'][:19]}）"
        )
    click.echo(f"共 {len(items)} 个批次")


def _decide(batch_id: int, approve: bool, officer: str, comment: str | None) -> None:
    from service.ledger.batches import decide

    try:
        out = decide(store_engine(), batch_id, approve, comment, f"officer:{officer}")
    except Exception as exc:  # service errors carry a Chinese message
        from service.errors import ServiceError

        if isinstance(exc, ServiceError):
            raise click.ClickException(str(exc)) from None
        raise
    verb = "已批准" if approve else "已驳回"
    click.echo(f"批次 {batch_id} {verb}：{out['count']} 笔，{out['amount']} 元")


@cli.command("approve")
@click.argument("batch_id", type=int)
@click.option("--officer", required=True, help="审批人")
@click.option("--comment", default=None, help="审批意见")
def approve_cmd(batch_id: int, officer: str, comment: str | None) -> None:
    """批准一个待审批批次：其兑现进入待支付，下一次 send 提交银行。"""
    _decide(batch_id, True, officer, comment)


@cli.command("reject")
@click.argument("batch_id", type=int)
@click.option("--officer", required=True, help="审批人")
@click.option("--comment", required=True, help="驳回理由")
def reject_cmd(batch_id: int, officer: str, comment: str) -> None:
    """驳回一个待审批批次：其兑现作废，预留的预算退回。"""
    _decide(batch_id, False, officer, comment)


def _ledger_errors(action):
    """Run ``action`` in a write transaction; a refusal (service or decision-core error) is a clean CLI error."""
    from matcher.errors import MatcherError
    from service.errors import ServiceError
    from service.store import write_scope

    try:
        with write_scope(store_engine()) as session:
            return action(session)
    except (ServiceError, MatcherError) as exc:
        raise click.ClickException(str(exc)) from None


@cli.command("revise")
@click.argument("payout_id", type=int)
@click.option("--officer", required=True, help="复核人")
@click.option("--reason", required=True, help="复核理由（如：税务部门更正上年度研发费用）")
def revise_cmd(payout_id: int, officer: str, reason: str) -> None:
    """复核：按现有核验数据重新判定，补发差额或追回多付部分（不列入失信名单）。"""
    import datetime as dt

    from service.ledger.clawbacks import revise

    plan = _ledger_errors(lambda s: revise(s, payout_id, reason, f"officer:{officer}", dt.date.today()))
    for o in plan.outcomes:
        amount = f" {o.amount} 元" if o.amount is not None else ""
        click.echo(f"{o.policy_id}：{o.label}{amount}（{o.reason}）")
    click.echo(f"复核完成：兑现 {payout_id}，{len(plan.grants)} 笔补发，{len(plan.clawbacks)} 笔追回")


@cli.command("clawback")
@click.argument("payout_id", type=int)
@click.option("--officer", required=True, help="经办人")
@click.option("--reason", required=True, help="追回理由（如：申报的参保人数与社保记录不符）")
@click.option("--amount", default=None, metavar="元", help="追回金额（默认全部未追回部分）")
def clawback_cmd(payout_id: int, officer: str, reason: str, amount: str | None) -> None:
    """追回：查实申报不实时收回兑现；尚未付出的止付。列入失信名单是另一项操作。"""
    from service.ledger.clawbacks import claw_back

    out = _ledger_errors(lambda s: claw_back(s, payout_id, reason, f"officer:{officer}", amount))
    verb = {"stopped": "已止付", "clawed_back": "已追回"}[out["action"]]
    click.echo(f"兑现 {payout_id} {verb} {out['amount']} 元：{out['reason']}")
