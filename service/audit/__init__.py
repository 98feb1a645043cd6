"""全程留痕: the hash-chained, append-only audit log.

Each record's hash is SHA-256 over the previous record's hash and the canonical
JSON of the record (seq, at, actor, action, subject, payload); ``seq`` is
gapless from 1. Records are appended in the caller's transaction, so an
audited change and its record commit or roll back together. The database
refuses UPDATE and DELETE on the table (migration 0002).

A checkpoint — the head (seq, hash) signed with HMAC-SHA256 under
``ZHIDA_AUDIT_KEY`` — is exported for safekeeping outside the database;
:func:`verify` checks the chain and that the checkpointed head is still in it,
so even a consistent rewrite of the whole chain is detected.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from service.errors import BadRequest
from service.store.models import AuditRecord

GENESIS = "0" * 64
KEY_ENV = "ZHIDA_AUDIT_KEY"


def _default(x):
    if isinstance(x, Decimal):
        return f"{x:f}"
    if isinstance(x, (dt.date, dt.datetime)):
        return x.isoformat()
    if isinstance(x, (set, frozenset)):
        return sorted(x)
    raise TypeError(f"not JSON-serialisable: {type(x).__name__}")


# what json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)
# builds on every call, built once (thread-safe: each encode has its own state)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def canonical(obj) -> str:
    return _CANONICAL.encode(obj)


_string = json.encoder.encode_basestring  # what canonical does with a str, without the encoder's dispatch


def _text(x) -> str:
    return _string(x) if isinstance(x, str) else canonical(x)


def _at_text(at: dt.datetime) -> str:
    """The time as hashed: UTC, microseconds, ``Z`` (a naive time is UTC)."""
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    if at.year < 1000:  # strftime, which the format was first written with, does not pad such years
        return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return at.isoformat(timespec="microseconds") + "Z"  # strftime's text, four times faster


def record_hash(prev_hash: str, seq: int, at: dt.datetime, actor: str, action: str, subject: str, payload) -> str:
    """SHA-256 over the previous hash and the canonical JSON of the record,
    ``{"action", "actor", "at", "payload", "seq", "subject"}``, put together from
    :func:`_pieces` as the server does (no dict to build and sort)."""
    head, middle, tail = _pieces(actor, action, subject, payload)
    return hashlib.sha256((prev_hash + head + _at_text(at) + middle + str(seq) + tail).encode()).hexdigest()


_HEAD = select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
_INSERT = AuditRecord.__table__.insert()


PENDING = "zhida_audit_pending"


def append(session: Session, actor: str, action: str, subject: str, payload: dict) -> None:
    """Record an audit entry in the caller's transaction; it is chained and written as the last step
    before commit (:func:`flush`), so it commits or rolls back with the change it records."""
    append_many(session, [(actor, action, subject, payload)])


def append_many(session: Session, entries: list[tuple[str, str, str, dict]]) -> None:
    """:func:`append` for several ``(actor, action, subject, payload)`` entries, in order."""
    if not entries:
        return
    from service.store import PRE_COMMIT

    pending = session.info.setdefault(PENDING, [])
    for actor, action, subject, payload in entries:
        pending.append((actor, action, subject, json.loads(canonical(payload))))  # exactly what is hashed
    session.info.setdefault(PRE_COMMIT, {})["audit"] = flush


def flush(session: Session) -> None:
    """Chain and insert the pending entries. Called just before commit.

    On PostgreSQL one round trip: the server function ``zhida_audit_append``
    (migrations 0006, 0007) takes the append lock, then the time and the head, and inserts
    the chained records, hashing exactly as :func:`record_hash`. Taken as the
    transaction's last step, the lock is held by a transaction that locks nothing
    else before it commits, so it never waits for a row another writer holds and no
    two writers deadlock; the serialised window is the append and the commit, not
    the whole decision. SQLite write transactions are serial already: the head, then
    one insert.
    """
    pending = session.info.get(PENDING)
    if not pending:
        return
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(SERVER_APPEND, server_append_args(pending))
        pending.clear()
        return
    at = dt.datetime.now(dt.UTC)  # under the write lock: monotonic with seq
    head = conn.execute(_HEAD).first()
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    rows = []
    for actor, action, subject, payload in pending:
        seq += 1
        digest = record_hash(prev, seq, at, actor, action, subject, payload)
        rows.append(
            {
                "seq": seq,
                "at": at,
                "actor": actor,
                "action": action,
                "subject": subject,
                "payload": payload,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    conn.execute(_INSERT, rows)
    pending.clear()


def server_append_args(entries: list[tuple[str, str, str, dict]]) -> dict:
    """The argument of ``zhida_audit_append`` (migration 0007) for ``(actor, action, subject, payload)`` entries:
    one JSON array of ``[actor, action, subject, payload, head, middle, tail]``, all strings."""
    rows = [
        [actor, action, subject, canonical(payload), *_pieces(actor, action, subject, payload)]
        for actor, action, subject, payload in entries
    ]
    return {"entries": json.dumps(rows, ensure_ascii=False)}


SERVER_APPEND = "SELECT zhida_audit_append(%(entries)s::json)"  # psycopg's own style: sessions and the driver path


def _pieces(actor: str, action: str, subject: str, payload) -> tuple[str, str, str]:
    """The canonical body of a record around its time and sequence number:
    ``head + at + middle + str(seq) + tail`` is what :func:`record_hash` hashes
    (keys sorted: action, actor, at, payload, seq, subject)."""
    head = '{"action":' + _text(action) + ',"actor":' + _text(actor) + ',"at":"'
    return head, '","payload":' + canonical(payload) + ',"seq":', ',"subject":' + _text(subject) + "}"


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: str  # edited | deleted | inserted_or_reordered | rewritten | truncated
    detail: str

    def __str__(self) -> str:
        return f"第 {self.seq} 条：{self.detail}"


BATCH = 5_000  # records read per query by verify


def _pages(conn: Connection) -> Iterator[list[tuple]]:
    """The chain in seq order as plain rows ``(seq, at, actor, action, subject, payload, prev_hash, hash)``,
    :data:`BATCH` per query (keyset pagination: ``WHERE seq > last``), on ``conn`` and in its transaction.
    As the driver returns them: ``payload`` is JSON text; ``at`` is a naive UTC datetime on PostgreSQL
    and the text SQLAlchemy's DateTime wrote on SQLite."""
    pg = conn.dialect.name == "postgresql"
    if pg:  # the time in UTC, and the payload as text: json.loads takes 1.7 µs a record, psycopg's loader 4
        columns = "seq, at AT TIME ZONE 'UTC', actor, action, subject, payload::text, prev_hash, hash"
    else:
        columns = "seq, at, actor, action, subject, payload, prev_hash, hash"
    mark = "%s" if pg else "?"
    first = f"SELECT {columns} FROM audit_log ORDER BY seq LIMIT {mark}"  # seq may have been edited below 1
    after = f"SELECT {columns} FROM audit_log WHERE seq > {mark} ORDER BY seq LIMIT {mark}"
    cursor = conn.connection.cursor()  # the driver's: SQLAlchemy's rows cost a microsecond more each
    try:
        cursor.execute(first, (BATCH,))
        while rows := cursor.fetchall():
            yield rows
            cursor.execute(after, (rows[-1][0], BATCH))
    finally:
        cursor.close()


def verify(
    session: Session, checkpoint: dict | None = None, progress: Callable[[int], None] | None = None
) -> Problem | None:
    """The first problem in the chain (None when it is intact and contains the checkpoint).

    Streams the chain (:func:`_pages`), so memory does not grow with its length. ``progress``, if
    given, is called after every batch with the number of records checked so far."""
    flush(session)  # entries this very transaction recorded count too
    conn = session.connection()
    sqlite = conn.dialect.name == "sqlite"
    prev, expected_seq, seen_checkpoint = GENESIS, 1, checkpoint is None
    cp_seq = checkpoint["seq"] if checkpoint is not None else None
    for rows in _pages(conn):
        for seq, at, actor, action, subject, payload, prev_hash, digest in rows:
            if seq != expected_seq:
                return Problem(
                    expected_seq, "deleted", f"序号不连续：缺少第 {expected_seq} 条（下一条为第 {seq} 条），记录被删除"
                )
            if prev_hash != prev:
                return Problem(seq, "inserted_or_reordered", "与前一条记录的哈希不衔接：记录被插入、删除或调换了顺序")
            try:  # the values SQLAlchemy's types read, which record_hash was given
                if sqlite:
                    at = dt.datetime.fromisoformat(at)
                payload = json.loads(payload)
            except (TypeError, ValueError):  # no longer a time or JSON (SQLite stores whatever it is given)
                return Problem(seq, "edited", "内容与其哈希不符：记录被修改")
            if record_hash(prev, seq, at, actor, action, subject, payload) != digest:
                return Problem(seq, "edited", "内容与其哈希不符：记录被修改")
            if seq == cp_seq:
                if digest != checkpoint["hash"]:
                    return Problem(seq, "rewritten", "与保存的检查点哈希不同：整条链在此之前被重写")
                seen_checkpoint = True
            prev, expected_seq = digest, expected_seq + 1
        if progress is not None:
            progress(expected_seq - 1)
    if not seen_checkpoint:
        return Problem(checkpoint["seq"], "truncated", f"检查点第 {checkpoint['seq']} 条已不在链中：记录被截断")
    return None


def _key() -> bytes:
    from service.settings import settings

    key = settings().audit_key
    if not key:
        raise BadRequest(f"未设置 {KEY_ENV}：检查点需用该密钥签名（请设置一个足够长的随机值并妥善保管）")
    return key.encode()


def checkpoint(session: Session) -> dict:
    """The signed head of the chain."""
    head = session.execute(select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)).first()
    seq, digest = (head.seq, head.hash) if head else (0, GENESIS)
    body = {"seq": seq, "hash": digest, "at": _at_text(dt.datetime.now(dt.UTC))}
    body["signature"] = hmac.new(
        _key(), canonical({k: body[k] for k in ("seq", "hash", "at")}).encode(), hashlib.sha256
    ).hexdigest()
    return body


def check_signature(cp: dict) -> None:
    body = canonical({k: cp.get(k) for k in ("seq", "hash", "at")})
    good = hmac.new(_key(), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(good, str(cp.get("signature", ""))):
        raise BadRequest("检查点签名无效：文件被改动，或使用了不同的 ZHIDA_AUDIT_KEY")


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditRecord)) or 0
