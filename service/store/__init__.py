"""The domain store: SQLAlchemy 2 over SQLite (default) or PostgreSQL.

- :func:`database_url` — ``ZHIDA_DATABASE_URL``, else ``sqlite:///zhida.sqlite3``
  in the current folder;
- :func:`upgrade` — run the Alembic migrations to head (idempotent);
- :func:`make_engine` — one engine per URL; SQLite gets foreign keys, WAL and a
  busy timeout;
- :func:`session_scope` — a unit of work: commit on success, roll back on error;
- :func:`bulk_insert` — Core executemany in chunks, for importers;
- :func:`current_facts` — which value of each field counts (see its docstring).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import os
import time
from collections.abc import Iterable, Iterator
from functools import cache
from importlib import resources

try:
    import fcntl
except ImportError:  # Windows: SQLite's own busy handler only
    fcntl = None

from sqlalchemy import Connection, Engine, create_engine, event, exc, make_url, select
from sqlalchemy.orm import Session

from matcher.facts import close, pick
from service.store.models import Base, FieldValue, RosterPublication

CHUNK = 10_000


def database_url() -> str:
    """``ZHIDA_DATABASE_URL``, else a SQLite file in the current folder (see :mod:`service.settings`)."""
    from service.settings import settings

    return settings().database_url


@cache
def make_engine(url: str) -> Engine:
    """The process-wide engine for ``url``."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below take effect
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # a write transaction takes the write lock up front, so two deciders never
            # both read and then fail to upgrade (SQLITE_BUSY without waiting)
            immediate = conn.get_execution_options().get("zhida_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    try:
        engine = create_engine(url)
    except ImportError as e:  # the driver is an extra, installed only where PostgreSQL is used
        from service.errors import SetupError

        raise SetupError(
            f"数据库 {make_url(url).render_as_string(hide_password=True)} 需要 PostgreSQL 驱动 psycopg，当前未安装："
            "请运行 pip install 'zhida[postgres]'"
        ) from e

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn, record):
        record.info["zhida_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy):
        # SQLAlchemy's pool_pre_ping costs a round trip on every checkout; a connection
        # back in use within PING_IDLE seconds was working a moment ago, so only one
        # that sat idle longer (across a database restart, say) is checked first
        since = record.info.get("zhida_idle_since")
        if since is None or time.monotonic() - since < PING_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as e:
            raise exc.InvalidatePoolError(f"连接空闲后失效，重新连接：{e}") from e

    return engine


PING_IDLE = 1.0  # seconds a pooled connection may sit unused before it is pinged on checkout


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("service.store").joinpath("migrations")))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["engine"] = make_engine(url)
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (creating it if empty)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def head_revision() -> str:
    """The newest migration this code ships."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(resources.files("service.store").joinpath("migrations"))).get_current_head()


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with make_engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


PRE_COMMIT = "zhida_pre_commit"  # session.info key: {name: callable(session)}, run just before commit


def pre_commit(session: Session) -> None:
    """Run the work registered to happen last in the transaction (the audit append: see service.audit)."""
    session.flush()
    for run in list(session.info.get(PRE_COMMIT, {}).values()):
        run(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    """A plain ``session.commit()`` runs the registered last steps too (not a savepoint's release)."""
    if session.in_nested_transaction():
        return
    for run in list(session.info.get(PRE_COMMIT, {}).values()):
        run(session)


@contextlib.contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        pre_commit(session)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextlib.contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for a few reads without the ORM: autocommit on PostgreSQL (no BEGIN and COMMIT round
    trips), a transaction rolled back at the end elsewhere. Never for writes."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn
        return
    with engine.connect() as conn:
        yield conn


@contextlib.contextmanager
def read_scope(engine: Engine) -> Iterator[Session]:
    """For a lookup of a statement or two: on PostgreSQL each statement runs on its own (autocommit),
    saving the BEGIN and COMMIT round trips; elsewhere a plain :func:`session_scope`. Never for writes."""
    if engine.dialect.name != "postgresql":
        with session_scope(engine) as session:
            yield session
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        session = Session(bind=conn, expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()


_ambient: contextvars.ContextVar[Session | None] = contextvars.ContextVar("zhida_write_session", default=None)


@contextlib.contextmanager
def write_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work that writes: on SQLite it holds the write lock from its first statement.

    Inside :func:`joined_writes` on the same engine it joins that transaction
    instead, so that work commits together with what the caller adds; an error
    anywhere rolls the whole joined transaction back.
    """
    outer = _ambient.get()
    if outer is not None and outer.get_bind().engine is engine:
        yield outer
        return
    with _writer_turn(engine), engine.connect() as conn:
        conn = conn.execution_options(zhida_write=True)
        session = Session(bind=conn, expire_on_commit=False, join_transaction_mode="rollback_only")
        try:
            with conn.begin():
                yield session
                pre_commit(session)
        finally:
            session.close()


@contextlib.contextmanager
def _writer_turn(engine: Engine) -> Iterator[None]:
    """On a SQLite file, writers queue for the write lock on a lock file beside the database.

    SQLite's own busy handler waits by sleeping and retrying (1, 2, 5 … 100 ms), so under
    contention a writer often sleeps long after the lock came free; that was most of the
    tail of an instant decision on SQLite. A blocking ``flock`` wakes a waiter as soon as
    the holder commits, and the kernel drops it if the holder's process dies.
    """
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    held = _turns.get()
    if not path or path == ":memory:" or path.startswith("file:") or fcntl is None or path in held:
        yield  # a nested writer on the same file: SQLite's busy handler decides, as before
        return
    fd = os.open(f"{path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o644)
    token = _turns.set(held | {path})
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        _turns.reset(token)
        os.close(fd)  # releases the lock


_turns: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("zhida_writer_turns", default=frozenset())


@contextlib.contextmanager
def joined_writes(engine: Engine) -> Iterator[Session]:
    """One write transaction that every :func:`write_scope` opened inside it (same engine, same context) joins.

    The idempotency layer uses it so a request's effects and its stored response
    commit together: either both are there after a crash, or neither is.
    """
    with write_scope(engine) as session:
        token = _ambient.set(session)
        try:
            yield session
        finally:
            _ambient.reset(token)


def bulk_insert(conn, table, rows: Iterable[dict]) -> int:
    """Insert ``rows`` with executemany in chunks; returns the count."""
    from sqlalchemy import insert

    n, chunk = 0, []
    stmt = insert(table)
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK:
            conn.execute(stmt, chunk)
            n += len(chunk)
            chunk = []
    if chunk:
        conn.execute(stmt, chunk)
        n += len(chunk)
    return n


def insert_or_skip(table, columns: list[str], conflict: list[str], returning: str | None = None):
    """``INSERT … ON CONFLICT (conflict) DO NOTHING [RETURNING returning]``, built once and cached.

    SQLAlchemy's dialect inserts with ON CONFLICT carry no cache key, so each execution
    compiles the statement anew (≈ 0.5 ms); this textual form with typed parameters
    compiles once and runs unchanged on SQLite (≥ 3.35) and PostgreSQL. Every column in
    ``columns`` must be given a value: no Python-side defaults apply.
    """
    from sqlalchemy import bindparam, text

    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)}) "
        f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    )
    stmt = text(sql + (f" RETURNING {returning}" if returning else "")).bindparams(
        *(bindparam(c, type_=table.c[c].type) for c in columns)
    )
    return stmt.columns(table.c[returning]) if returning else stmt


def _driver_value(dialect: str, value):
    """What SQLAlchemy itself would send for a date/datetime on this dialect."""
    if dialect == "sqlite":
        if isinstance(value, dt.datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")
        if isinstance(value, dt.date):
            return value.isoformat()
    return value


def fast_upsert(
    conn, table, columns: list[str], rows: Iterable[tuple], conflict: list[str] | None = None, update: list[str] = ()
) -> int:
    """Bulk ``INSERT … [ON CONFLICT DO UPDATE]`` straight through the driver's executemany.

    For millions of rows the per-row parameter processing of the ORM/Core
    dominates; this skips it and converts dates as SQLAlchemy would, so the rows
    read back exactly as if written through Core. Same SQL on SQLite and PostgreSQL.
    """
    dialect = conn.dialect.name
    mark = "?" if dialect == "sqlite" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    if conflict:
        sets = ", ".join(f"{c} = excluded.{c}" for c in update)
        sql += f" ON CONFLICT ({', '.join(conflict)}) DO " + (f"UPDATE SET {sets}" if update else "NOTHING")
    cursor = conn.connection.driver_connection.cursor()
    n, chunk = 0, []
    try:
        for row in rows:
            chunk.append(tuple(_driver_value(dialect, v) for v in row))
            if len(chunk) >= CHUNK * 5:
                cursor.executemany(sql, chunk)
                n += len(chunk)
                chunk = []
        if chunk:
            cursor.executemany(sql, chunk)
            n += len(chunk)
    finally:
        cursor.close()
    return n


def current_facts(
    session: Session, enterprise_id: int, as_of: dt.date | None = None, rosters: list[tuple] | None = None
) -> dict[str, tuple[str, str, dt.date]]:
    """Per field, the value that counts as of a date: ``{field: (value_text, source, as_of)}``
    (the precedence is :mod:`matcher.facts`'s: verified over declared, then the newest; a roster
    field is settled by the rosters on record, :func:`matcher.facts.close`, read here unless given)."""
    fv = FieldValue
    query = select(fv.field, fv.value, fv.source, fv.as_of, fv.recorded_at, fv.id).where(
        fv.enterprise_id == enterprise_id
    )  # plain rows, not ORM objects: this runs on every decision
    if rosters is None:
        rosters = rosters_on_record(session)
    return pick_current(session.execute(query), as_of, rosters)


def pick_current(
    rows: Iterable[tuple], as_of: dt.date | None = None, rosters: Iterable[tuple] = ()
) -> dict[str, tuple[str, str, dt.date]]:
    """:func:`current_facts` over ``(field, value, source, as_of, recorded_at, id)`` rows already read, and the
    ``(roster, as_of)`` pairs of the rosters on record (:func:`rosters_on_record`)."""
    return close(pick(rows, as_of), rosters, as_of or dt.date.max)


_ROSTERS = select(RosterPublication.roster, RosterPublication.as_of)


def rosters_on_record(conn) -> list[tuple[str, dt.date]]:
    """The rosters on record, as ``(roster id, as_of)`` pairs (a session or a connection; one small query)."""
    return [(roster, day) for roster, day in conn.execute(_ROSTERS)]


__all__ = [
    "Base",
    "database_url",
    "make_engine",
    "upgrade",
    "current_revision",
    "session_scope",
    "read_connection",
    "bulk_insert",
    "fast_upsert",
    "insert_or_skip",
    "current_facts",
    "pick_current",
    "rosters_on_record",
    "alembic_config",
]
