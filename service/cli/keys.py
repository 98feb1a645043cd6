"""``zhida keys``: create, list and revoke API keys."""

from __future__ import annotations

import click

from service.cli import store_engine
from service.store.models import ROLES


@click.group("keys")
def cli() -> None:
    """API 密钥管理。"""


@cli.command("create")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--enterprise", "enterprise", default=None, help="企业角色绑定的统一社会信用代码")
@click.option("--label", default="", help="备注")
def create_cmd(role: str, enterprise: str | None, label: str) -> None:
    """创建密钥；密钥只显示这一次。"""
    from service.errors import ServiceError
    from service.http import auth
    from service.store import session_scope

    try:
        with session_scope(store_engine()) as session:
            prefix, secret = auth.create_key(session, role, enterprise, label)
    except ServiceError as e:
        raise click.UsageError(str(e)) from None
    click.echo(secret)
    click.echo(f"已创建 {role} 密钥 {prefix}。系统只保存其摘要，请立即妥善保存。", err=True)


@cli.command("list")
def list_cmd() -> None:
    """列出密钥（不含密钥本身）。"""
    from service.http import auth
    from service.store import session_scope

    with session_scope(store_engine()) as session:
        for k in auth.list_keys(session):
            state = "已吊销" if k.revoked_at else "有效"
            click.echo(f"{k.prefix}\t{k.role}\t{state}\t{k.label}")


@cli.command("revoke")
@click.argument("prefix")
def revoke_cmd(prefix: str) -> None:
    """吊销密钥。"""
    from service.errors import ServiceError
    from service.http import auth
    from service.store import session_scope

    try:
        with session_scope(store_engine()) as session:
            auth.revoke(session, prefix)
    except ServiceError as e:
        raise click.UsageError(str(e)) from None
    click.echo(f"已吊销 {prefix}")
