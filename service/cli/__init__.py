"""The ``zhida`` console script.

Sub-commands live one per module in this package, each exposing a click command
named ``cli``, and are imported only when used, so ``zhida --help`` stays fast.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import click

# command name -> module in service.cli exposing ``cli``
COMMANDS = {
    "db": "db",
    "keys": "keys",
    "generate": "generate",
    "import": "importer",
    "export": "exporter",
    "serve": "serve",
    "demo": "demo",
    "policy": "policy",
    "audit": "audit",
    "sweep": "sweep",
    "payouts": "payouts",
    "fields": "fields",
    "graph": "graph",
    "scope": "scope",
    "tag": "tag",
    "models": "models",
    "train": "train",
    "rank": "rank",
    "evaluate": "evaluate",
    "outbox": "outbox",
    "push": "push",
    "worker": "worker",
    "scheduler": "scheduler",
    "jobs": "jobs",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        module = COMMANDS.get(name)
        if module is None:
            return None
        return importlib.import_module(f"service.cli.{module}").cli

    def invoke(self, ctx):
        from service.errors import SetupError

        try:
            return super().invoke(ctx)
        except SetupError as e:  # what to install or set, said plainly
            raise click.ClickException(str(e)) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="zhida")
@click.option(
    "--catalog",
    "catalog_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="本部署的字段目录文件（可多次给出；默认读 ZHIDA_CATALOG）",
)
def main(catalog_files):
    """直达 zhida: 惠企政策直达企业 — match, push and pay support policies."""
    from service.errors import SetupError
    from service.settings import use_catalog

    if catalog_files:  # also for the processes this one starts (gunicorn's workers read ZHIDA_CATALOG)
        os.environ["ZHIDA_CATALOG"] = ":".join(str(Path(p).resolve()) for p in catalog_files)
    try:
        use_catalog()
    except SetupError as e:
        raise click.ClickException(str(e)) from None


def parse_day(value: str | None, hint: str):
    """A ``YYYY-MM-DD`` option as a date (today when not given), or a clear error naming the option."""
    import datetime as dt

    if not value:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"日期格式应为 YYYY-MM-DD（收到 {value!r}）", param_hint=hint) from None


def workers_option(command):
    """``--workers N``: processes that feature the months of a training or evaluation run (default: the
    machine's cores). Forked from the CLI, which runs no other thread."""
    return click.option(
        "--workers",
        type=click.IntRange(1, 64),
        default=lambda: os.cpu_count() or 1,
        show_default="CPU 核数",
        help="并行计算各月特征的进程数",
    )(command)


def store_engine():
    """The engine of the configured database (``ZHIDA_DATABASE_URL``), migrated to the newest schema."""
    from service.store import database_url, make_engine, upgrade

    url = database_url()
    upgrade(url)
    return make_engine(url)
