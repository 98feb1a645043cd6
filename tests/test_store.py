"""The store: migrations, database-level guarantees, which fact counts."""

import datetime as dt
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import IntegrityError

from service.store import current_facts, current_revision, head_revision, session_scope, upgrade
from service.store.models import Base, Budget, Enterprise, FieldValue, Payout, Policy


def test_upgrade_creates_every_table_and_is_idempotent(db_url, engine):
    upgrade(db_url)  # a second time changes nothing
    assert current_revision(db_url) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_migrations_match_the_models(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def _enterprise(session, uscc="9132010200056FYU00"):
    ent = Enterprise(
        uscc=uscc, name="测试企业有限公司", region="320102", industry="C3911", established_on=dt.date(2015, 1, 1)
    )
    session.add(ent)
    session.flush()
    return ent


def _policy(session, total="1000.00"):
    policy = Policy(slug="test-policy", status="published")
    session.add(policy)
    session.flush()
    session.add(Budget(policy_id=policy.id, total=Decimal(total)))
    session.flush()
    return policy


def test_duplicate_uscc_is_refused_by_the_database(engine):
    with pytest.raises(IntegrityError), session_scope(engine) as s:
        _enterprise(s)
        _enterprise(s)


def test_one_payout_per_policy_enterprise_and_period(engine):
    with session_scope(engine) as s:
        ent, policy = _enterprise(s), _policy(s)
        s.add(Payout(policy_id=policy.id, enterprise_id=ent.id, period="2026", amount=Decimal("10.00")))
    with pytest.raises(IntegrityError), session_scope(engine) as s:
        s.add(Payout(policy_id=policy.id, enterprise_id=ent.id, period="2026", amount=Decimal("10.00")))
    with session_scope(engine) as s:  # another period is fine
        s.add(Payout(policy_id=policy.id, enterprise_id=ent.id, period="2027", amount=Decimal("10.00")))


def test_budget_cannot_be_overspent_at_the_database_level(engine):
    with session_scope(engine) as s:
        policy = _policy(s, "100.00")
    with pytest.raises(IntegrityError), session_scope(engine) as s:
        b = s.get(Budget, policy.id)
        b.reserved, b.paid = Decimal("60.00"), Decimal("40.01")
    with session_scope(engine) as s:
        b = s.get(Budget, policy.id)
        b.reserved, b.paid = Decimal("60.00"), Decimal("40.00")


def test_money_comes_back_as_exact_decimal(engine):
    with session_scope(engine) as s:
        policy = _policy(s, "12345678901234.56")
    with session_scope(engine) as s:
        total = s.get(Budget, policy.id).total
    assert isinstance(total, Decimal) and total == Decimal("12345678901234.56")


def test_verified_beats_declared_and_newest_wins(engine):
    with session_scope(engine) as s:
        eid = _enterprise(s).id
        rows = [
            ("employees", "10", "social_security", dt.date(2025, 12, 31)),
            ("employees", "12", "social_security", dt.date(2026, 3, 31)),
            ("employees", "99", "declared", dt.date(2026, 6, 1)),
            ("graduates_hired", "4", "declared", dt.date(2026, 6, 1)),
        ]
        for name, value, source, as_of in rows:
            s.add(FieldValue(enterprise_id=eid, field=name, value=value, source=source, as_of=as_of))
    with session_scope(engine) as s:
        now = current_facts(s, eid)
        then = current_facts(s, eid, as_of=dt.date(2026, 1, 1))
    assert now["employees"] == ("12", "social_security", dt.date(2026, 3, 31))
    assert now["graduates_hired"] == ("4", "declared", dt.date(2026, 6, 1))
    assert then == {"employees": ("10", "social_security", dt.date(2025, 12, 31))}


def test_unknown_source_is_refused(engine):
    with pytest.raises(ValueError, match="数据来源 'rumour' 不在字段目录中"), session_scope(engine) as s:
        eid = _enterprise(s).id
        s.add(FieldValue(enterprise_id=eid, field="employees", value="1", source="rumour", as_of=dt.date(2026, 1, 1)))


def test_a_connection_dropped_while_idle_is_replaced_without_an_error(engine, monkeypatch):
    """No ping on every checkout (a round trip per request), yet a pooled connection that the
    server dropped while it sat idle (a restart, an idle timeout) is replaced before use."""
    import service.store as store

    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite connections are files, not sockets")
    with engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    killer = create_engine(engine.url)  # not from the pool under test
    with killer.connect() as other:
        other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    killer.dispose()
    monkeypatch.setattr(store, "PING_IDLE", 0.0)  # "idle long enough" without sleeping
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
    with engine.connect() as conn, engine.connect() as conn2:
        assert {conn.exec_driver_sql("SELECT 1").scalar(), conn2.exec_driver_sql("SELECT 1").scalar()} == {1}


def _turn_is_free(path) -> bool:
    import fcntl
    import os

    fd = os.open(f"{path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_sqlite_writers_queue_on_a_lock_file_that_a_killed_writer_frees(tmp_path):
    """Writers wait in the kernel, not in SQLite's sleep-and-retry loop; a crash leaves nothing held."""
    import signal
    import subprocess
    import sys

    from service.store import joined_writes, make_engine, write_scope

    path = tmp_path / "z.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    assert _turn_is_free(path)
    with joined_writes(engine):
        assert not _turn_is_free(path)
        with write_scope(engine) as s:  # joins: the same turn, no wait on itself
            _enterprise(s)
    assert _turn_is_free(path)
    with pytest.raises(RuntimeError), write_scope(engine):
        raise RuntimeError("rolled back")
    assert _turn_is_free(path)

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from service.store import make_engine, write_scope\n"
            f"with write_scope(make_engine({url!r})) as s:\n"
            "    s.connection()\n"
            "    print('holding', flush=True)\n"
            "    time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert not _turn_is_free(path)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert _turn_is_free(path)
    with write_scope(engine) as s:  # and the database itself is writable again
        _enterprise(s, uscc="91320102MA1XXXXX01")
    with session_scope(engine) as s:
        assert s.query(Enterprise).count() == 2
