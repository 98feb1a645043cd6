"""The scheduler's leader lock: one ``zhida scheduler`` leads per database, the others stand by.

- :class:`AdvisoryLock` (PostgreSQL): a session-level ``pg_try_advisory_lock`` held on a connection of its own
  (no pool), tagged with the holder's ``application_name``. PostgreSQL drops it with that connection, so a
  leader killed or cut off loses it and a standby's next try takes it. :meth:`AdvisoryLock.held` is the fencing
  check an entry makes, in its own transaction, before it queues anything (``pg_locks``).
- :class:`FileLock` (SQLite): an exclusive ``flock`` on ``<database>-scheduler.lock``, dropped by the kernel
  when the process dies: the same on one machine, which is what a SQLite deployment is.
"""

from __future__ import annotations

import contextlib
import os

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool


class AdvisoryLock:
    """PostgreSQL: a session-level advisory lock held on a connection of its own (no pool: closing it closes it).

    The lock lives as long as that connection: a leader killed, or cut off from the database, loses it, and a
    standby's next try takes it."""

    KEY = (0x7A686964, 0x7363)  # "zhid", "sc": two positive int4 keys, shown in pg_locks as classid / objid

    def __init__(self, engine, label: str):
        self._engine = create_engine(engine.url, poolclass=NullPool)
        self.label = label[:63]
        self._conn = None
        self.pid: int | None = None

    def acquire(self) -> bool:
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            conn.execute(text("SELECT set_config('application_name', :n, false)"), {"n": self.label})
            if not conn.execute(text("SELECT pg_try_advisory_lock(:a, :b)"), _keys(self.KEY)).scalar():
                conn.close()
                return False
            self.pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return True

    def alive(self) -> bool:
        """The lock's connection answers and still holds it."""
        if self._conn is None:
            return False
        try:
            return bool(self._conn.execute(_HELD, {**_keys(self.KEY), "pid": self.pid}).scalar())
        except Exception:  # noqa: BLE001 - a broken connection is a lost lock
            return False

    def held(self, session: Session) -> bool:
        """Fencing, from the caller's own transaction: this process's lock connection still holds the lock."""
        return self.pid is not None and bool(session.execute(_HELD, {**_keys(self.KEY), "pid": self.pid}).scalar())

    def holder(self) -> str | None:
        """Who leads now (the application name of the connection holding the lock), if anyone."""
        with self._engine.connect() as conn:
            return conn.execute(_HOLDER, _keys(self.KEY)).scalar()

    def release(self) -> None:
        conn, self._conn, self.pid = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.execute(text("SELECT pg_advisory_unlock(:a, :b)"), _keys(self.KEY))
            with contextlib.suppress(Exception):
                conn.close()

    def cut(self) -> None:
        """Drop the lock's connection as a crash would (tests)."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.invalidate()


def _keys(key: tuple[int, int]) -> dict:
    return {"a": key[0], "b": key[1]}


_LOCK_ROW = (
    "l.locktype = 'advisory' AND l.classid = CAST(:a AS oid) AND l.objid = CAST(:b AS oid) AND l.objsubid = 2"
    " AND l.granted"
)
_HELD = text(f"SELECT EXISTS (SELECT 1 FROM pg_locks l WHERE {_LOCK_ROW} AND l.pid = :pid)")
_HOLDER = text(
    f"SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE {_LOCK_ROW} LIMIT 1"
)


class FileLock:
    """SQLite: an exclusive ``flock`` on ``<database>-scheduler.lock``, dropped by the kernel when the process
    dies. One machine (a SQLite file is not shared between machines); the holder writes its name in the file."""

    def __init__(self, engine, label: str):
        database = engine.url.database
        self.label = label
        self.path = None if not database or database == ":memory:" else f"{database}-scheduler.lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self.path is None:
            self._fd = -1
            return True
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, self.label.encode())
        self._fd = fd
        return True

    def alive(self) -> bool:
        return self._fd is not None

    def held(self, session: Session) -> bool:
        return self._fd is not None

    def holder(self) -> str | None:
        if self.path is None:
            return None
        try:
            with open(self.path, encoding="utf-8") as fh:
                return fh.read().strip() or None
        except OSError:
            return None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None and fd >= 0:
            os.close(fd)  # releases the flock

    cut = release


def leader_lock(engine, label: str):
    return AdvisoryLock(engine, label) if engine.dialect.name == "postgresql" else FileLock(engine, label)
