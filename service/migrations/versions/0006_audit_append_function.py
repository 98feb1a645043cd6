"""PostgreSQL: append audit records in one round trip (lock, head, chained insert inside the server)

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The caller sends each record's canonical JSON split around its sequence number
# (``before`` ends with '"seq":', ``after`` starts with ',"subject":'), because only the
# server knows the number once it holds the lock. The hash is the same SHA-256 that
# service.audit.record_hash computes: hex(sha256(prev_hash || before || seq || after)).
# VOLATILE: the head is read with a snapshot taken after the lock is granted, so it
# sees the record the previous holder committed.
FUNCTION = """
CREATE FUNCTION zhida_audit_append(
    at timestamptz, actors text[], actions text[], subjects text[], payloads text[], befores text[], afters text[]
) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    s integer;
    h text;
BEGIN
    PERFORM pg_advisory_xact_lock(727001);
    SELECT a.seq, a.hash INTO s, h FROM audit_log a ORDER BY a.seq DESC LIMIT 1;
    IF NOT FOUND THEN
        s := 0;
        h := repeat('0', 64);
    END IF;
    FOR i IN 1 .. coalesce(array_length(actors, 1), 0) LOOP
        s := s + 1;
        INSERT INTO audit_log (seq, at, actor, action, subject, payload, prev_hash, hash)
        VALUES (s, at, actors[i], actions[i], subjects[i], payloads[i]::json, h,
                encode(sha256(convert_to(h || befores[i] || s::text || afters[i], 'UTF8')), 'hex'))
        RETURNING hash INTO h;
    END LOOP;
    RETURN s;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION IF EXISTS zhida_audit_append(timestamptz, text[], text[], text[], text[], text[], text[])"
        )
