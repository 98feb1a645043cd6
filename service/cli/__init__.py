"""The ``zhida`` console script.

Sub-commands live one per module in this package, each exposing a click command
named ``cli``, and are imported only when used, so ``zhida --help`` stays fast.
"""

from __future__ import annotations

import importlib

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
def main():
    """直达 zhida: 惠企政策直达企业 — match, push and pay support policies."""


def store_engine():
    """The engine of the configured database (``ZHIDA_DATABASE_URL``), migrated to the newest schema."""
    from service.store import database_url, make_engine, upgrade

    url = database_url()
    upgrade(url)
    return make_engine(url)
