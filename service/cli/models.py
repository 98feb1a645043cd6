"""``zhida models``: the registry of trained models — list, promote, roll back."""

from __future__ import annotations

import click

from service.cli import store_engine


def _errors(fn):
    from service.errors import ServiceError

    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ServiceError as e:
            raise click.ClickException(str(e)) from None

    run.__name__, run.__doc__ = fn.__name__, fn.__doc__
    return run


@click.group("models")
def cli() -> None:
    """模型登记：列出、推广、回滚（排序模型等）。"""


@cli.command("list")
@click.argument("kind", default="ranker")
def list_cmd(kind: str) -> None:
    """列出某类模型的全部版本：训练窗口、特征结构、指标与状态。"""
    from service.model_registry import STATUS_LABELS, versions

    rows = versions(store_engine(), kind)
    for r in rows:
        window = f"{r.trained_from or '—'} 至 {r.trained_until or '—'}"
        figures = "，".join(f"{k} {v}" for k, v in sorted((r.metrics or {}).items()) if not isinstance(v, dict))
        promoted = f"，{r.promoted_by} 于 {r.promoted_at:%Y-%m-%d %H:%M} 推广" if r.promoted_at else ""
        status = STATUS_LABELS[r.status]
        click.echo(f"  {r.version}  {status}  训练 {window}  特征 {r.schema_hash}  {figures}{promoted}")
    current = next((r.version for r in rows if r.status == "production"), "无")
    click.echo(f"{kind}：共 {len(rows)} 个版本，在用 {current}")


@cli.command("promote")
@click.argument("kind")
@click.argument("version")
@click.option("--by", required=True, help="推广人")
@_errors
def promote_cmd(kind: str, version: str, by: str) -> None:
    """推广一个版本为在用模型（此前在用的版本退役，可回滚）。"""
    from service.model_registry import promote

    row = promote(store_engine(), kind, version, by)
    click.echo(f"{kind} {row.version} 已推广为在用模型（{row.promoted_by}）")


@cli.command("rollback")
@click.argument("kind")
@click.option("--by", required=True, help="操作人")
@_errors
def rollback_cmd(kind: str, by: str) -> None:
    """回滚到上一个在用的版本。"""
    from service.model_registry import rollback

    row = rollback(store_engine(), kind, by)
    click.echo(f"{kind} 已回滚到 {row.version}（{row.promoted_by}）")
