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
    from service.store import current_revision, database_url, upgrade

    url = database_url()
    upgrade(url, revision)
    click.echo(f"数据库已升级到 {current_revision(url)}：{url}")


@cli.command("current")
def current_cmd() -> None:
    """显示数据库当前的迁移版本。"""
    from service.store import current_revision, database_url

    click.echo(current_revision(database_url()) or "（空库，尚未迁移）")
