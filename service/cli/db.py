"""``zhida db``: create and migrate the database."""

from __future__ import annotations

import click


@click.group("db")
def cli() -> None:
    """数据库管理（迁移）。"""


@cli.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def upgrade_cmd(revision: str) -> None:
    """创建或升级数据库到最新结构。"""
    from service.settings import settings
    from service.store import current_revision, database_url, upgrade

    url = database_url()
    upgrade(url, revision)
    click.echo(f"数据库已升级到 {current_revision(url)}：{url}")
    role = settings().app_role
    if role and url.startswith("postgresql"):
        _grant(url, role)


def _grant(url: str, role: str) -> None:
    from service.errors import ServiceError
    from service.store import make_engine
    from service.store.roles import grant_app_role

    try:
        statements = grant_app_role(make_engine(url), role)
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"应用角色 {role}：已授权 {len(statements)} 条（审计表只能读取和追加）")


@cli.command("grant-app-role")
@click.argument("role")
def grant_cmd(role: str) -> None:
    """（PostgreSQL）授予应用运行角色所需权限；该角色不能修改或删除审计记录。"""
    from service.store import database_url

    _grant(database_url(), role)


@cli.command("current")
def current_cmd() -> None:
    """显示数据库当前的迁移版本。"""
    from service.store import current_revision, database_url

    click.echo(current_revision(database_url()) or "（空库，尚未迁移）")
