"""Idempotency-Key for write endpoints (IETF draft-ietf-httpapi-idempotency-key-header, as Stripe does it).

- The same key with the same request returns the first response, byte for byte.
- The same key with a different request (method, path or body) is 422.
- A request whose twin is still running is 409.
- Keys are scoped to the caller's API key and expire after :data:`TTL` (24 hours).
- A response with a 5xx status, or an exception, is not kept: the key can be retried.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib

from flask import current_app, make_response, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from graph.errors import GraphError
from matcher.errors import MatcherError
from service.api.guard import current_principal
from service.errors import BadRequest, Conflict, ServiceError, Unprocessable
from service.store import session_scope, write_scope
from service.store.models import IdempotencyKey

HEADER = "Idempotency-Key"
TTL = dt.timedelta(hours=24)
MAX_KEY = 255


def _request_hash() -> str:
    h = hashlib.sha256()
    h.update(request.method.encode() + b" " + request.path.encode() + b"\n")
    h.update(request.get_data(cache=True))
    return h.hexdigest()


def idempotent(view):
    """Wrap a write view so retries with the same ``Idempotency-Key`` are safe."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER, "").strip()
        if not key:
            raise BadRequest(f"写操作须携带请求头 {HEADER}（每个业务请求一个唯一值，重试时保持不变）", field=HEADER)
        if len(key) > MAX_KEY:
            raise BadRequest(f"{HEADER} 过长（最多 {MAX_KEY} 个字符）", field=HEADER)
        principal = current_principal().key_prefix
        digest = _request_hash()
        engine = current_app.extensions["zhida.engine"]
        now = dt.datetime.now(dt.UTC)
        try:
            with write_scope(engine) as s:
                s.execute(
                    delete(IdempotencyKey).where(
                        IdempotencyKey.principal == principal,
                        IdempotencyKey.key == key,
                        IdempotencyKey.expires_at < now,
                    )
                )
                s.add(
                    IdempotencyKey(
                        principal=principal, key=key, request_hash=digest, status="running", expires_at=now + TTL
                    )
                )
        except IntegrityError:
            with session_scope(engine) as s:
                row = s.scalar(
                    select(IdempotencyKey).where(IdempotencyKey.principal == principal, IdempotencyKey.key == key)
                )
            if row is None:
                raise Conflict("同一 Idempotency-Key 的请求正在处理，请稍后重试") from None
            if row.request_hash != digest:
                raise Unprocessable(f"{HEADER} 已用于另一个不同的请求；新请求请使用新的键") from None
            if row.status != "done":
                raise Conflict("同一 Idempotency-Key 的请求仍在处理中，请稍后重试") from None
            resp = make_response(row.response_body, row.response_status)
            resp.headers["Content-Type"] = row.response_type
            resp.headers["Idempotent-Replayed"] = "true"
            return resp
        try:
            resp = make_response(view(*args, **kwargs))
        except (ServiceError, MatcherError, GraphError) as e:  # a refused request is an answer worth keeping
            resp = make_response(current_app.handle_user_exception(e))
        except Exception:
            _forget(engine, principal, key)
            raise
        if resp.status_code >= 500:
            _forget(engine, principal, key)
            return resp
        with write_scope(engine) as s:
            row = s.scalar(
                select(IdempotencyKey).where(IdempotencyKey.principal == principal, IdempotencyKey.key == key)
            )
            row.status, row.response_status = "done", resp.status_code
            row.response_body, row.response_type = resp.get_data(), resp.headers.get("Content-Type")
        return resp

    return wrapper


def _forget(engine, principal: str, key: str) -> None:
    with write_scope(engine) as s:
        s.execute(delete(IdempotencyKey).where(IdempotencyKey.principal == principal, IdempotencyKey.key == key))
