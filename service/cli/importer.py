"""``zhida import``: enterprises, events and policies from files; rosters (名单) as of their date."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from service.cli import store_engine

MAX_SHOWN = 50
STAGES = {"validated": "校验完成", "enterprises": "写入企业", "facts": "写入字段值", "events": "写入事件"}


def _progress(stage, done, total):
    click.echo(f"  {STAGES.get(stage, stage)} {done}/{total}", err=True)


def _finish(report) -> None:
    for err in report.errors[:MAX_SHOWN]:
        click.echo(str(err), err=True)
    if len(report.errors) > MAX_SHOWN:
        click.echo(f"……另有 {len(report.errors) - MAX_SHOWN} 处错误未显示", err=True)
    click.echo(report.summary())
    if not report.committed:
        sys.exit(1)


@click.group("import")
def cli() -> None:
    """导入企业、事件、记录、政策与名单。"""


@cli.command("enterprises")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-bad", is_flag=True, help="写入正确的行，报告错误行")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default=None, help="默认按扩展名判断")
@click.option("--source", default=None, help="整份文件的数据来源，如 declared（默认按字段目录）")
def enterprises_cmd(path: Path, skip_bad: bool, fmt: str | None, source: str | None) -> None:
    """导入企业（CSV 或 JSON Lines）。"""
    from service.io.importer import import_enterprises

    try:
        report = import_enterprises(store_engine(), path, skip_bad=skip_bad, fmt=fmt, source=source, progress=_progress)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    _finish(report)


@cli.command("events")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-bad", is_flag=True, help="写入正确的行，报告错误行")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default=None, help="默认按扩展名判断")
def events_cmd(path: Path, skip_bad: bool, fmt: str | None) -> None:
    """导入互动事件（JSON Lines 或 CSV）。"""
    from service.io.importer import import_events

    _finish(import_events(store_engine(), path, skip_bad=skip_bad, fmt=fmt, progress=_progress))


@cli.command("records")
@click.argument("field")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="数据日期（默认今天；文件的 as_of 列优先）",
)
@click.option("--source", default=None, help="数据来源，如 social_security（默认按字段目录）")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default=None, help="默认按扩展名判断")
def records_cmd(field: str, path: Path, as_of, source: str | None, fmt: str | None) -> None:
    """导入记录列表字段（如 new_hires 新招用人员）：每行一条记录，以 uscc 对应企业。"""
    from service.io.records import import_records

    try:
        report = import_records(store_engine(), field, path, as_of.date() if as_of else None, source, fmt)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    _finish(report)


@cli.command("policies")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--skip-bad", is_flag=True, help="发布正确的政策，报告有误的文件")
def policies_cmd(path: Path, skip_bad: bool) -> None:
    """导入政策（YAML 文件或目录）。"""
    from service.io.importer import import_policies

    _finish(import_policies(store_engine(), path, skip_bad=skip_bad))


@cli.command("roster")
@click.argument("name")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as-of", "as_of", required=True, type=click.DateTime(["%Y-%m-%d"]), help="名单的公布（截至）日期")
@click.option("--skip-unknown", is_flag=True, help="跳过不在库中的企业（如省级名单含外市企业），报告后导入其余")
def roster_cmd(name: str, path: Path, as_of, skip_unknown: bool) -> None:
    """导入一份名单（如 高新技术企业）：自该日起，名单未列出的企业视为不在名单上。"""
    from service.io.rosters import roster_of

    try:
        files = [(roster_of(name), path)]
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="NAME") from None
    _rosters(files, as_of.date(), skip_unknown)


@cli.command("rosters")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--as-of", "as_of", required=True, type=click.DateTime(["%Y-%m-%d"]), help="名单的公布（截至）日期")
@click.option("--skip-unknown", is_flag=True, help="跳过不在库中的企业，报告后导入其余")
def rosters_cmd(folder: Path, as_of, skip_unknown: bool) -> None:
    """导入一个目录中的名单，每个文件以名单 id 或名称命名（high_tech.csv、失信被执行人.txt），同一事务。"""
    from service.io.rosters import roster_files

    try:
        files = roster_files(folder)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="FOLDER") from None
    _rosters(files, as_of.date(), skip_unknown)


def _rosters(files, as_of, skip_unknown: bool) -> None:
    from service.io.rosters import import_rosters

    try:
        report = import_rosters(store_engine(), files, as_of, skip_unknown=skip_unknown)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--as-of") from None
    _finish(report)
