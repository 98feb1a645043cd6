"""PostgreSQL: zhida_audit_append takes its records as one JSON array instead of seven text arrays

Revision ID: 0007
Revises: 0006
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Same lock, time, head and hash as 0006; only the arguments change. Each record is
# [actor, action, subject, payload, head, middle, tail], all strings (payload is the
# canonical JSON text; head, middle and tail as in 0006). One JSON argument costs the
# driver a few microseconds to send where seven arrays cost a couple of hundred, on every
# decision. The records are taken in array order (WITH ORDINALITY).
FUNCTION = """
CREATE FUNCTION zhida_audit_append(entries json) RETURNS timestamptz
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    s integer;
    h text;
    at timestamptz;
    at_text text;
    e json;
BEGIN
    PERFORM pg_advisory_xact_lock(727001);
    at := clock_timestamp();
    at_text := to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    SELECT a.seq, a.hash INTO s, h FROM audit_log a ORDER BY a.seq DESC LIMIT 1;
    IF NOT FOUND THEN
        s := 0;
        h := repeat('0', 64);
    END IF;
    FOR e IN SELECT x.value FROM json_array_elements(entries) WITH ORDINALITY AS x(value, n) ORDER BY x.n LOOP
        s := s + 1;
        INSERT INTO audit_log (seq, at, actor, action, subject, payload, prev_hash, hash)
        VALUES (s, at, e->>0, e->>1, e->>2, (e->>3)::json, h,
                encode(sha256(convert_to(h || (e->>4) || at_text || (e->>5) || s::text || (e->>6), 'UTF8')), 'hex'))
        RETURNING hash INTO h;
    END LOOP;
    RETURN at;
END
$$
"""
ARRAYS = "zhida_audit_append(text[], text[], text[], text[], text[], text[], text[])"


def _previous():
    path = Path(__file__).with_name("0006_audit_append_function.py")
    spec = importlib.util.spec_from_file_location("zhida_migration_0006", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {ARRAYS}")
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS zhida_audit_append(json)")
        op.execute(_previous().FUNCTION)
