"""On PostgreSQL the running service's role can pay and audit, but cannot edit or delete audit records."""

import datetime as dt

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from service import audit
from service.cli import main
from service.errors import BadRequest
from service.io.importer import import_enterprises, import_policies
from service.io.rosters import import_rosters
from service.ledger.sweeps import run_sweep
from service.store import session_scope
from service.store.models import AuditRecord, Payout
from service.store.roles import grant_app_role
from service.synth.params import REFERENCE_DATE

ROLE = "zhida_test_app"


@pytest.fixture
def pg(engine, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite has no roles")
    with engine.begin() as conn:
        if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": ROLE}).first():
            conn.exec_driver_sql(f"DROP OWNED BY {ROLE}")
            conn.exec_driver_sql(f"DROP ROLE {ROLE}")
        conn.exec_driver_sql(f"CREATE ROLE {ROLE} LOGIN")
    yield engine, db_url
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP OWNED BY {ROLE}")
        conn.exec_driver_sql(f"DROP ROLE {ROLE}")


def test_app_role_pays_and_appends_but_cannot_rewrite_the_audit_log(pg, small_world):
    engine, url = pg
    import_policies(engine, small_world / "policies")
    import_enterprises(engine, small_world / "enterprises.csv")
    import_rosters(engine, small_world / "rosters", REFERENCE_DATE)
    grant_app_role(engine, ROLE)
    app_url = make_url(url).set(username=ROLE)
    app = create_engine(app_url)
    try:
        reports = run_sweep(app, as_of=dt.date(2026, 6, 30))  # the whole payout path as the app role
        assert sum(r.outcomes["paid"] for r in reports) > 0
        with session_scope(app) as s:
            assert s.scalar(select(func.count(Payout.id))) > 0
            assert s.scalar(select(func.count(AuditRecord.seq))) > 0
            assert audit.verify(s) is None
        for sql in (
            "UPDATE audit_log SET actor = 'x' WHERE seq = 1",
            "DELETE FROM audit_log WHERE seq = 1",
            "TRUNCATE audit_log",
            "ALTER TABLE audit_log DISABLE TRIGGER ALL",
            "DROP TRIGGER audit_log_append_only ON audit_log",
            "INSERT INTO alembic_version VALUES ('9999')",
        ):
            with pytest.raises(DBAPIError) as caught, app.begin() as conn:
                conn.exec_driver_sql(sql)
            assert "permission denied" in str(caught.value) or "must be owner" in str(caught.value), sql
    finally:
        app.dispose()
    with session_scope(engine) as s:
        assert audit.verify(s) is None


def test_roles_that_could_edit_history_are_refused(pg):
    engine, _ = pg
    with pytest.raises(BadRequest, match="超级用户"):
        grant_app_role(engine, "postgres")
    with pytest.raises(BadRequest, match="不存在"):
        grant_app_role(engine, "no_such_role_here")
    with engine.begin() as conn:
        owner = conn.execute(text("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_log'")).scalar()
        conn.exec_driver_sql(f"GRANT {owner} TO {ROLE}")
    with pytest.raises(BadRequest, match="所有者"):
        grant_app_role(engine, ROLE)


def test_cli_grants_and_sqlite_is_refused_clearly(engine, db_url, monkeypatch):
    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    runner = CliRunner()
    if db_url.startswith("sqlite"):
        res = runner.invoke(main, ["db", "grant-app-role", ROLE])
        assert res.exit_code != 0 and "仅适用于 PostgreSQL" in res.output
        return
    with engine.begin() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": ROLE}).first():
            conn.exec_driver_sql(f"CREATE ROLE {ROLE} LOGIN")
    try:
        monkeypatch.setenv("ZHIDA_APP_ROLE", ROLE)
        res = runner.invoke(main, ["db", "upgrade"])
        assert res.exit_code == 0 and f"应用角色 {ROLE}" in res.output, res.output
        with engine.connect() as conn:
            privileges = set(
                conn.execute(
                    text(
                        "SELECT privilege_type FROM information_schema.role_table_grants "
                        "WHERE grantee = :r AND table_name = 'audit_log'"
                    ),
                    {"r": ROLE},
                ).scalars()
            )
        assert privileges == {"SELECT", "INSERT"}
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {ROLE}")
            conn.exec_driver_sql(f"DROP ROLE {ROLE}")
