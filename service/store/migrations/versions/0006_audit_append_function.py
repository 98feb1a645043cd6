"""PostgreSQL: append audit records in one round trip (lock, head, chained insert inside the server)

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The caller sends each record's canonical JSON in three pieces, around the two values
# only the server knows once it holds the lock: the time (taken after the lock, so
# ``at`` never goes backwards along ``seq``) and the sequence number. ``heads`` ends with
# '"at":"', ``middles`` runs from '","payload":' to '"seq":', ``tails`` starts with
# ',"subject":'. The hash is the SHA-256 that service.audit.record_hash computes:
# hex(sha256(prev_hash || head || at || middle || seq || tail)). VOLATILE: the head is
# read with a snapshot taken after the lock is granted, so it sees the record the
# previous holder committed.
FUNCTION = """
CREATE FUNCTION zhida_audit_append(actors text[], actions text[], subjects text[], payloads text[],
                                   heads text[], middles text[], tails text[]) RETURNS timestamptz
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    s integer;
    h text;
    at timestamptz;
    at_text text;
BEGIN
    PERFORM pg_advisory_xact_lock(727001);
    at := clock_timestamp();
    at_text := to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    SELECT a.seq, a.hash INTO s, h FROM audit_log a ORDER BY a.seq DESC LIMIT 1;
    IF NOT FOUND THEN
        s := 0;
        h := repeat('0', 64);
    END IF;
    FOR i IN 1 .. coalesce(array_length(actors, 1), 0) LOOP
        s := s + 1;
        INSERT INTO audit_log (seq, at, actor, action, subject, payload, prev_hash, hash)
        VALUES (s, at, actors[i], actions[i], subjects[i], payloads[i]::json, h,
                encode(sha256(convert_to(h || heads[i] || at_text || middles[i] || s::text || tails[i], 'UTF8')),
                       'hex'))
        RETURNING hash INTO h;
    END LOOP;
    RETURN at;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS zhida_audit_append(text[], text[], text[], text[], text[], text[], text[])")
