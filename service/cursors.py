"""Opaque page cursors: where the next page of a list starts, signed so that an edited or made-up one is refused.

A cursor is ``base64url(JSON).base64url(HMAC-SHA256[:12])``. It carries what the caller must not change between
pages (which snapshot ordered the list, which query it answers) and the key of the last item given; the list
resumes strictly after that key, so pages never repeat or skip an item of one order. The key signing it is
the caller's (the web app passes its ``SECRET_KEY``, shared by every worker); without one a fixed key still
refuses a cursor that was edited or cut, though not one forged on purpose — which gains nothing: a cursor
only says where a page starts, in data its holder may read anyway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

from service.errors import BadRequest

MAX_LENGTH = 2000
_DEFAULT_KEY = b"zhida-page-cursor"


def _key(secret: bytes | str | None) -> bytes:
    if secret is None:
        return _DEFAULT_KEY
    return secret.encode() if isinstance(secret, str) else bytes(secret)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(payload: dict, secret: bytes | str | None = None) -> str:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(_key(secret), body, hashlib.sha256).digest()[:12]
    return f"{_b64(body)}.{_b64(mac)}"


def decode(token, secret: bytes | str | None = None, field: str = "cursor") -> dict:
    """The payload of a cursor :func:`encode` made with the same key; ``BadRequest`` (naming ``field``) for
    anything else."""
    bad = BadRequest(f"{field} 无效：请使用上一页返回的 next_cursor，或去掉 {field} 从第一页开始", field=field)
    if not isinstance(token, str) or not token or len(token) > MAX_LENGTH or token.count(".") != 1:
        raise bad
    body_text, mac_text = token.split(".")
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (binascii.Error, ValueError):
        raise bad from None
    if not hmac.compare_digest(mac, hmac.new(_key(secret), body, hashlib.sha256).digest()[:12]):
        raise bad
    try:
        payload = json.loads(body)
    except ValueError:
        raise bad from None
    if not isinstance(payload, dict):
        raise bad
    return payload
