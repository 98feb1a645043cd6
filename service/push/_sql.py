"""INSERT … ON CONFLICT for the two dialects zhida runs on (SQLite ≥ 3.35 and PostgreSQL), and the bulk form a
bundle round writes its hundreds of thousands of rows with."""

from __future__ import annotations

import uuid

from sqlalchemy import JSON
from sqlalchemy.dialects import postgresql, sqlite


def insert(session_or_conn, table):
    """The dialect's ``insert`` (with ``on_conflict_do_nothing`` / ``on_conflict_do_update``)."""
    name = session_or_conn.get_bind().dialect.name if hasattr(session_or_conn, "get_bind") else None
    name = name or session_or_conn.dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(table)


def is_postgres(session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def bulk_insert(session, table, rows: list[dict], conflict: list[str], update: list[str] = (), returning=None):
    """Insert ``rows`` (dicts with the same keys) in the session's transaction; a row that conflicts on the
    unique ``conflict`` columns is skipped, or with ``update`` has those columns set from it. ``returning``: a
    column whose values, for the rows written, are returned (a list); else None.

    On PostgreSQL the rows are COPYed into a temporary table and inserted from it in one statement: an
    executemany of a few thousand rows spends most of its time in the driver, turning the statement and
    its parameters into text, and as many round trips. Elsewhere: an executemany."""
    if not rows:
        return [] if returning is not None else None
    columns = list(rows[0])
    if not is_postgres(session):
        stmt = insert(session, table)
        if update:
            stmt = stmt.on_conflict_do_update(index_elements=conflict, set_={c: stmt.excluded[c] for c in update})
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=conflict)
        if returning is None:
            session.execute(stmt, rows)
            return None
        return list(session.scalars(stmt.returning(table.c[returning]), rows))

    from psycopg.types.json import Json

    session.flush()  # what the ORM holds back goes first: these rows may refer to it
    jsons = {c for c in columns if isinstance(table.c[c].type, JSON)}
    names = ", ".join(columns)
    temp = f"_bulk_{uuid.uuid4().hex[:12]}"
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cur:
        cur.execute(f"CREATE TEMP TABLE {temp} ON COMMIT DROP AS SELECT {names} FROM {table.name} WITH NO DATA")
        with cur.copy(f"COPY {temp} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([Json(row[c]) if c in jsons else row[c] for c in columns])
        if update:
            action = "DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in update)
        else:
            action = "DO NOTHING"
        tail = f" RETURNING {returning}" if returning is not None else ""
        cur.execute(
            f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {temp} ON CONFLICT ({', '.join(conflict)}) "
            f"{action}{tail}"
        )
        out = [r[0] for r in cur.fetchall()] if returning is not None else None
        cur.execute(f"DROP TABLE {temp}")
    return out
