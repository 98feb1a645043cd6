"""``zhida export``: the store's content in the import formats."""

from __future__ import annotations

from pathlib import Path

import click

from service.cli import store_engine


@click.group("export")
def cli() -> None:
    """导出企业、事件与政策（与导入格式相同）。"""


@cli.command("enterprises")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def enterprises_cmd(path: Path) -> None:
    """导出企业（.csv 或 .jsonl）。"""
    from service.io.exporter import export_enterprises

    click.echo(f"已导出企业 {export_enterprises(store_engine(), path)} 家到 {path}")


@cli.command("events")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def events_cmd(path: Path) -> None:
    """导出互动事件（JSON Lines）。"""
    from service.io.exporter import export_events

    click.echo(f"已导出事件 {export_events(store_engine(), path)} 条到 {path}")


@cli.command("policies")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def policies_cmd(folder: Path) -> None:
    """导出政策（每项一个 YAML 文件）。"""
    from service.io.exporter import export_policies

    click.echo(f"已导出政策 {export_policies(store_engine(), folder)} 项到 {folder}")
