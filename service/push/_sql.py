"""INSERT … ON CONFLICT for the two dialects zhida runs on (SQLite ≥ 3.35 and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite


def insert(session_or_conn, table):
    """The dialect's ``insert`` (with ``on_conflict_do_nothing`` / ``on_conflict_do_update``)."""
    name = session_or_conn.get_bind().dialect.name if hasattr(session_or_conn, "get_bind") else None
    name = name or session_or_conn.dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(table)


def is_postgres(session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
