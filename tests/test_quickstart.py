"""The README's quick start works with no extras installed: PostgreSQL's driver loads only for a PostgreSQL URL."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Python that behaves as if psycopg (an extra, `zhida[postgres]`) were not installed
NO_PSYCOPG = "import sys; sys.modules['psycopg'] = None; sys.modules['psycopg_binary'] = None\n"


def _run(code: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", NO_PSYCOPG + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )


def test_the_app_serves_on_sqlite_without_the_postgres_extra(tmp_path):
    done = _run(
        f"""
        from service.app import create_app
        app = create_app({{"DATABASE_URL": "sqlite:///{tmp_path / "z.sqlite3"}"}})
        r = app.test_client().get("/api/health")
        assert r.status_code == 200, r.data
        print("ok")
        """,
        tmp_path,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_the_cli_loads_every_command_without_the_postgres_extra(tmp_path):
    done = _run(
        """
        from click.testing import CliRunner
        from service.cli import COMMANDS, main
        for name in COMMANDS:
            result = CliRunner().invoke(main, [name, "--help"])
            assert result.exit_code == 0, (name, result.output, result.exception)
        print("ok")
        """,
        tmp_path,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_a_postgres_url_without_the_driver_says_what_to_install(tmp_path):
    done = _run(
        """
        from service.store import make_engine
        make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
        """,
        tmp_path,
    )
    assert done.returncode != 0
    assert "pip install" in done.stderr and "zhida[postgres]" in done.stderr, done.stderr[-2000:]
