"""Idempotency-Key for write endpoints (IETF draft-ietf-httpapi-idempotency-key-header, as Stripe does it).

- The same key with the same request returns the first response, byte for byte (with its Location header).
- The same key with a different request (method, path or body) is 422.
- A request whose twin is still running is 409.
- Keys are scoped to the caller's API key and expire after :data:`TTL` (24 hours).
- A response with a 5xx status, or an exception, is not kept: the key can be retried.
- The effects and the stored response commit in one transaction; a claim left
  ``running`` by a crashed process is taken over after :data:`STALE` (10 minutes).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib

from flask import current_app, make_response, request
from sqlalchemy import bindparam, delete, select, text, update

from graph.errors import GraphError
from matcher.errors import MatcherError
from service.errors import BadRequest, Conflict, ServiceError, Unprocessable
from service.store import insert_or_skip, joined_writes, session_scope, write_scope
from service.store.models import IdempotencyKey

HEADER = "Idempotency-Key"
TTL = dt.timedelta(hours=24)
STALE = dt.timedelta(minutes=10)  # a claim still running after this was left by a crashed process
MAX_KEY = 255


def request_key() -> tuple[str, str, str]:
    """The caller, the request's Idempotency-Key and the request's digest (a missing or bad key is 400)."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        raise BadRequest(f"写操作须携带请求头 {HEADER}（每个业务请求一个唯一值，重试时保持不变）", field=HEADER)
    if len(key) > MAX_KEY:
        raise BadRequest(f"{HEADER} 过长（最多 {MAX_KEY} 个字符）", field=HEADER)
    from service.http.guard import current_principal  # here: service.http imports this module

    return current_principal().key_prefix, key, _request_hash()


def lock_words(principal: str, key: str) -> tuple[int, int]:
    """The two 32-bit words of the transaction-scoped advisory lock that stands for "running" on PostgreSQL."""
    words = hashlib.sha256(f"{principal}\0{key}".encode()).digest()
    hi, lo = (int.from_bytes(words[i : i + 4], "big", signed=True) for i in (0, 4))
    return hi, lo


def _request_hash() -> str:
    h = hashlib.sha256()
    h.update(request.method.encode() + b" " + request.path.encode() + b"\n")
    h.update(request.get_data(cache=True))
    return h.hexdigest()


class _Discard(Exception):
    """A 5xx answer: roll the request back and free the key, but still send the answer."""

    def __init__(self, response):
        self.response = response


def idempotent(view=None, *, atomic: bool = True):
    """Wrap a write view so retries with the same ``Idempotency-Key`` are safe.

    Two transactions: the first claims the key (visible to a concurrent twin, which
    gets 409); the second holds the request's effects *and* its stored response, so
    after a crash either both exist or neither does. A claim left ``running`` by a
    crashed process is taken over after :data:`STALE`.

    ``atomic=False`` is for long work that commits in steps of its own (a sweep):
    the response is stored after it, and a retry after a crash resumes the work.
    """
    if view is None:
        return functools.partial(idempotent, atomic=atomic)

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        principal, key, digest = request_key()
        engine = current_app.extensions["zhida.engine"]
        if atomic and engine.dialect.name == "postgresql":
            return _in_one_transaction(view, args, kwargs, engine, principal, key, digest)
        if engine.dialect.name == "sqlite" and _seen(engine, principal, key):
            # SQLite: a running twin holds the write lock, so claiming would wait for it; answer now
            return answer_twin(engine, principal, key, digest)
        with write_scope(engine) as s:
            claimed = _claim(s, principal, key, digest)
        if not claimed:
            return answer_twin(engine, principal, key, digest)
        try:
            if atomic:
                with joined_writes(engine) as s:
                    resp = make_response(view(*args, **kwargs))
                    if resp.status_code >= 500:
                        raise _Discard(resp)
                    _store(s, principal, key, resp)
            else:
                resp = make_response(view(*args, **kwargs))
                if resp.status_code >= 500:
                    raise _Discard(resp)
                with write_scope(engine) as s:
                    _store(s, principal, key, resp)
        except (ServiceError, MatcherError, GraphError) as e:
            # a refusal is an answer worth keeping; whatever the request wrote was rolled back
            resp = make_response(current_app.handle_user_exception(e))
            with write_scope(engine) as s:
                _store(s, principal, key, resp)
        except _Discard as d:
            _forget(engine, principal, key)
            return d.response
        except BaseException:
            _forget(engine, principal, key)
            raise
        return resp

    return wrapper


class _Twin(Exception):
    """Another request with this key is running or has answered."""


class _Refused(Exception):
    def __init__(self, response):
        self.response = response


def _in_one_transaction(view, args, kwargs, engine, principal: str, key: str, digest: str):
    """PostgreSQL: the claim, the effects and the answer in a single transaction.

    A transaction-scoped advisory lock on the key stands for "running": a twin that
    cannot take it gets 409 at once, and a crash releases it with everything else,
    so no claim is ever left behind. The unique (caller, key) constraint is the
    final arbiter should two requests slip past each other.
    """
    hi, lo = lock_words(principal, key)
    now = dt.datetime.now(dt.UTC)
    try:
        with joined_writes(engine) as s:
            conn = s.connection()
            got, expires = conn.execute(_TRY_CLAIM, {"hi": hi, "lo": lo, "p": principal, "k": key}).one()
            if not got:
                raise _Twin
            if expires is not None:
                if expires.tzinfo is None:
                    expires = expires.replace(tzinfo=dt.UTC)
                if expires >= now:
                    raise _Twin
                s.execute(delete(IdempotencyKey).where(_THIS), {"p": principal, "k": key})
            try:
                resp = make_response(view(*args, **kwargs))
            except (ServiceError, MatcherError, GraphError) as e:
                raise _Refused(make_response(current_app.handle_user_exception(e))) from None
            if resp.status_code >= 500:
                raise _Discard(resp)
            stored = conn.execute(_DONE_RETURNING, answer_row(principal, key, digest, resp, now)).first()
            if stored is None:  # a twin answered meanwhile: ours rolls back, theirs is the answer
                raise _Twin
    except _Twin:
        return answer_twin(engine, principal, key, digest)
    except _Refused as r:  # the request's writes are rolled back; the refusal is its answer
        return store_refusal(engine, principal, key, digest, r.response)
    except _Discard as d:
        return d.response
    return resp


def store_refusal(engine, principal: str, key: str, digest: str, resp):
    """Keep a refusal (4xx) as the key's answer, in a transaction of its own after the request's rolled back.
    Should a twin have answered meanwhile, its answer stands and is returned (or 422 for a different request)."""
    now = dt.datetime.now(dt.UTC)
    with write_scope(engine) as s:
        gives_way = delete(IdempotencyKey).where(_THIS, IdempotencyKey.expires_at < bindparam("now"))
        s.execute(gives_way, {"p": principal, "k": key, "now": now})
        if s.connection().execute(_DONE_RETURNING, answer_row(principal, key, digest, resp, now)).first() is not None:
            return resp
    return answer_twin(engine, principal, key, digest)


def answer_twin(engine, principal: str, key: str, digest: str):
    """The answer for a key another request holds: its stored answer, 409 while it runs, 422 if it differs."""
    with session_scope(engine) as s:
        row = s.scalar(select(IdempotencyKey).where(_THIS), {"p": principal, "k": key})
    if row is not None and _aware(row.expires_at) < dt.datetime.now(dt.UTC):
        row = None  # an expired answer is no answer: the request holding the key is still running
    if row is None:
        raise Conflict("同一 Idempotency-Key 的请求正在处理，请稍后重试")
    if row.request_hash != digest:
        raise Unprocessable(f"{HEADER} 已用于另一个不同的请求；新请求请使用新的键")
    if row.status != "done":
        raise Conflict("同一 Idempotency-Key 的请求仍在处理中，请稍后重试")
    resp = make_response(row.response_body, row.response_status)
    resp.headers["Content-Type"] = row.response_type
    if row.response_location:
        resp.headers["Location"] = row.response_location
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def answer_row(principal: str, key: str, digest: str, resp, now) -> dict:
    """The stored answer's row: replayed byte for byte until it expires."""
    return {
        "principal": principal,
        "key": key,
        "request_hash": digest,
        "status": "done",
        "response_status": resp.status_code,
        "response_body": resp.get_data(),
        "response_type": resp.headers.get("Content-Type"),
        "response_location": resp.headers.get("Location"),
        "created_at": now,
        "expires_at": now + TTL,
    }


_TRY_CLAIM = text(
    "SELECT pg_try_advisory_xact_lock(:hi, :lo), "
    "(SELECT expires_at FROM idempotency_keys WHERE principal = :p AND key = :k)"
)
_THIS = (IdempotencyKey.principal == bindparam("p")) & (IdempotencyKey.key == bindparam("k"))  # the caller's key
_DONE_COLUMNS = [
    *("principal", "key", "request_hash", "status"),
    *("response_status", "response_body", "response_type", "response_location"),
]
_DONE_RETURNING = insert_or_skip(
    IdempotencyKey.__table__, [*_DONE_COLUMNS, "created_at", "expires_at"], ["principal", "key"], returning="id"
)


# the hot statements are built once (building one costs more than running it on SQLite)
_SEEN = select(IdempotencyKey.status, IdempotencyKey.created_at, IdempotencyKey.expires_at).where(_THIS)
_CLAIM = insert_or_skip(
    IdempotencyKey.__table__,
    ["principal", "key", "request_hash", "status", "created_at", "expires_at"],
    ["principal", "key"],
    returning="id",
)
_GIVE_WAY = delete(IdempotencyKey).where(
    _THIS,
    (IdempotencyKey.expires_at < bindparam("now"))
    | ((IdempotencyKey.status == "running") & (IdempotencyKey.created_at < bindparam("stale"))),
)
_STORE = (
    update(IdempotencyKey)
    .where(_THIS)
    .values(
        status="done",
        response_status=bindparam("answer_status"),
        response_body=bindparam("answer_body"),
        response_type=bindparam("answer_type"),
        response_location=bindparam("answer_location"),
    )
)


def _seen(engine, principal: str, key: str) -> bool:
    """A live (not expired, not stale) record of this key exists."""
    now = dt.datetime.now(dt.UTC)
    with engine.connect() as conn:
        row = conn.execute(_SEEN, {"p": principal, "k": key}).first()
    if row is None:
        return False
    return _aware(row.expires_at) >= now and not (row.status == "running" and _aware(row.created_at) < now - STALE)


def _claim(s, principal: str, key: str, digest: str) -> bool:
    """Insert the running claim; an expired key, or a claim a crashed process left, is replaced."""
    now = dt.datetime.now(dt.UTC)
    conn = s.connection()
    row = {
        "principal": principal,
        "key": key,
        "request_hash": digest,
        "status": "running",
        "created_at": now,
        "expires_at": now + TTL,
    }
    if conn.execute(_CLAIM, row).first() is not None:
        return True
    gone = conn.execute(_GIVE_WAY, {"p": principal, "k": key, "now": now, "stale": now - STALE}).rowcount
    return bool(gone) and conn.execute(_CLAIM, row).first() is not None


def _store(s, principal: str, key: str, resp) -> None:
    s.connection().execute(
        _STORE,
        {
            "p": principal,
            "k": key,
            "answer_status": resp.status_code,
            "answer_body": resp.get_data(),
            "answer_type": resp.headers.get("Content-Type"),
            "answer_location": resp.headers.get("Location"),
        },
    )


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)  # SQLite gives naive UTC


def _forget(engine, principal: str, key: str) -> None:
    with write_scope(engine) as s:
        s.execute(delete(IdempotencyKey).where(_THIS), {"p": principal, "k": key})
