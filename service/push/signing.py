"""Webhook signatures: ``X-Zhida-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``.

The key is the webhook's secret as text (``whsec_…``, UTF-8). The timestamp is signed with the body, so a
captured request cannot be replayed later than the receiver's tolerance. Only the standard library is used:
a receiver may copy :func:`verify_signature` as it is (docs/push.md has the same in a few lines).
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Zhida-Signature"
MESSAGE_ID_HEADER = "X-Zhida-Message-Id"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The value of the ``X-Zhida-Signature`` header for ``body`` sent now (or at ``timestamp``)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={signature(secret, t, body)}"


def verify_signature(secret: str, header: str, body: bytes, tolerance: float = 300, now: float | None = None) -> bool:
    """Whether ``header`` (the ``X-Zhida-Signature`` value) signs ``body`` (the raw bytes received, before any
    JSON parsing) under ``secret``, with a timestamp within ``tolerance`` seconds of ``now`` (default: the
    clock). Several ``v1=`` entries are accepted (any one matching), as during a change of secret."""
    if not isinstance(header, str) or not isinstance(body, bytes | bytearray):
        return False
    stamp, candidates = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            stamp = value
        elif key == "v1":
            candidates.append(value)
    if stamp is None or not stamp.isdigit() or not candidates:
        return False
    t = int(stamp)
    if abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = signature(secret, t, bytes(body)).encode()
    return any(hmac.compare_digest(expected, c.encode("utf-8", "replace")) for c in candidates)
