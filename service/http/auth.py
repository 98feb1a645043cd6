"""API keys and what each role may do.

A key is ``zk_<prefix>_<secret>``: the prefix (public, indexed) finds the row,
and the SHA-256 of the whole key is compared in constant time. Keys are 32
random bytes, so a fast hash is as safe as a slow one (no dictionary to
guess from) and keeps every request cheap. The secret is shown once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from matcher import uscc as uscc_codes
from matcher.errors import InvalidUSCC
from service.errors import BadRequest, NotFound
from service.store.models import ROLES, ApiKey, Enterprise

STAFF_ROLES = ("admin", "officer", "analyst", "system")
RECHECK_SECONDS = 2.0  # a revoked key is refused within this time
TOUCH_EVERY = dt.timedelta(minutes=5)  # last_used_at is a hint for key hygiene, not a per-request write


@dataclass(frozen=True, slots=True)
class Principal:
    role: str
    key_prefix: str
    enterprise_id: int | None = None
    enterprise_uscc: str | None = None

    def may_name(self, uscc: str) -> bool:
        """Whether this key may ask about the enterprise ``uscc`` — decided from the key alone, before any
        lookup, so that the answer never depends on whether another enterprise exists (docs/api.md)."""
        return self.role != "enterprise" or uscc == self.enterprise_uscc

    def can_access_enterprise(self, enterprise_id: int) -> bool:
        """Staff and systems see every enterprise; an enterprise key only its own."""
        if self.role == "enterprise":
            return enterprise_id == self.enterprise_id
        return True


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(session: Session, role: str, enterprise_uscc: str | None = None, label: str = "") -> tuple[str, str]:
    """Create a key; returns ``(prefix, secret)``. Only the hash is stored."""
    if role not in ROLES:
        raise BadRequest(f"role：未知角色 {role!r}，应为 {'、'.join(ROLES)} 之一", field="role")
    enterprise_id = None
    if role == "enterprise":
        if not enterprise_uscc:
            raise BadRequest("enterprise：企业角色的密钥必须指定企业统一社会信用代码", field="enterprise")
        try:
            code = uscc_codes.validate(enterprise_uscc)
        except InvalidUSCC as e:
            raise BadRequest(f"enterprise：{e}", field="enterprise") from None
        enterprise_id = session.scalar(select(Enterprise.id).where(Enterprise.uscc == code))
        if enterprise_id is None:
            raise NotFound(f"enterprise：企业 {code} 不在库中", field="enterprise")
    elif enterprise_uscc:
        raise BadRequest("enterprise：只有企业角色的密钥可以绑定企业", field="enterprise")
    prefix = secrets.token_hex(4)
    secret = f"zk_{prefix}_{secrets.token_urlsafe(32)}"
    session.add(ApiKey(prefix=prefix, key_hash=_hash(secret), role=role, enterprise_id=enterprise_id, label=label))
    session.flush()
    return prefix, secret


def _lookup(session: Session, secret: str) -> tuple[ApiKey, Principal] | None:
    parts = secret.split("_")
    if len(parts) < 3 or parts[0] != "zk":
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if key is None or not hmac.compare_digest(key.key_hash, _hash(secret)):
        return None
    if key.revoked_at is not None:
        return None
    uscc = (
        session.scalar(select(Enterprise.uscc).where(Enterprise.id == key.enterprise_id)) if key.enterprise_id else None
    )
    return key, Principal(key.role, key.prefix, key.enterprise_id, uscc)


def _due(key: ApiKey, now: dt.datetime) -> bool:
    last = key.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=dt.UTC)
    return last is None or now - last > TOUCH_EVERY


_RECENT: dict[tuple[str, str], tuple[float, Principal]] = {}


def authenticate(engine, secret: str) -> Principal | None:
    """The principal behind ``secret``, or None for an unknown, wrong or revoked key.

    A read, and a write only when the last use is due to be recorded,
    so concurrent requests never contend for the database's write lock just to log in.

    A key verified in the last :data:`RECHECK_SECONDS` is trusted without asking the
    database again (a busy client sends many requests a second); so a revoked key
    stops working within that time. Unknown and revoked keys are never remembered.
    """
    from service.store import read_scope, write_scope

    slot = (str(engine.url), _hash(secret))
    hit = _RECENT.get(slot)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    with read_scope(engine) as session:
        found = _lookup(session, secret)
    if found is None:
        _RECENT.pop(slot, None)
        return None
    key, principal = found
    now = dt.datetime.now(dt.UTC)
    if _due(key, now):
        with write_scope(engine) as session:
            touch(session, key.id, now)
    if len(_RECENT) >= 10_000:
        _RECENT.clear()
    _RECENT[slot] = (time.monotonic() + RECHECK_SECONDS, principal)
    return principal


def touch(session: Session, key_id: int, now: dt.datetime) -> None:
    """Record when a key was last used, at most once per :data:`TOUCH_EVERY` (a conditional UPDATE:
    concurrent requests with the same key do not all write)."""
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < now - TOUCH_EVERY),
        )
        .values(last_used_at=now)
    )


def revoke(session: Session, prefix: str) -> None:
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None:
        raise NotFound(f"密钥 {prefix} 不存在")
    if key.revoked_at is None:
        key.revoked_at = dt.datetime.now(dt.UTC)


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))
