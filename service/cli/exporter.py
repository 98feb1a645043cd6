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
    """导出企业（.csv 或 .jsonl）；记录列表字段各导出为同名旁的一个文件（如 X.new_hires.csv）。"""
    from service.io.exporter import export_enterprises
    from service.io.records import export_all_records

    engine = store_engine()
    click.echo(f"已导出企业 {export_enterprises(engine, path)} 家到 {path}")
    for name, target, firms, n in export_all_records(engine, path):
        click.echo(f"已导出{catalog_label(name)} {firms} 家企业的记录 {n} 条到 {target}")


@cli.command("records")
@click.argument("field")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def records_cmd(field: str, path: Path) -> None:
    """导出一个记录列表字段（.csv 或 .jsonl，与 zhida import records 的格式相同）。"""
    from service.io.records import export_records

    try:
        firms, n = export_records(store_engine(), field, path)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    click.echo(f"已导出 {firms} 家企业的记录 {n} 条到 {path}")


def catalog_label(name: str) -> str:
    from matcher import catalog

    return catalog.FIELDS[name].label


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
