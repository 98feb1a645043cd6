"""Webhooks: an enterprise's own systems receive its bundles as signed JSON (docs/push.md).

Each endpoint has a secret of its own, made here and shown once; the body is signed with it
(:mod:`service.push.signing`). An endpoint is its own outbox channel (``webhook:<id>``), so one that fails
does not hold back another, and each retries and dies on its own.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import secrets
import socket
import time
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import audit
from service.errors import Conflict, NotFound, Unprocessable
from service.push.channels import QUIET, Message
from service.push.errors import PermanentError, RetryableError
from service.push.signing import HEADER, MESSAGE_ID_HEADER, sign
from service.store import read_scope
from service.store.models import Webhook

MAX_PER_ENTERPRISE = 5
USER_AGENT = "zhida-webhook/1"


def _private_address(text: str) -> bool:
    ip = ipaddress.ip_address(text.split("%")[0])
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified


def resolves_private(host: str) -> bool:
    """Whether ``host`` is, or resolves to, an address that is not on the public internet (a name that does not
    resolve is not: sending to it fails, and is retried)."""
    try:
        return _private_address(host.strip("[]"))
    except ValueError:
        pass
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return False
    return any(_private_address(info[4][0]) for info in infos)


def check_url(url: str, allow_private: bool) -> str:
    """A webhook address the platform will post to: ``https://`` (``http://`` only where private addresses are
    allowed, for development), a host, no credentials; a private address only with ``allow_private``."""
    text = (url or "").strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        raise Unprocessable("url：不是有效的网址", field="url") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise Unprocessable(f"url：应以 {' 或 '.join(s + '://' for s in schemes)} 开头", field="url")
    if not host:
        raise Unprocessable("url：缺少主机名", field="url")
    if parts.username or parts.password:
        raise Unprocessable("url：网址中不能包含用户名或密码（签名即认证）", field="url")
    if not allow_private and resolves_private(host):
        raise Unprocessable("url：不能指向内网、本机或保留地址", field="url")
    return text


def register(
    session: Session, enterprise_id: int, url: str, description: str, actor: str, subject: str, now, config
) -> tuple[Webhook, str]:
    """Register an endpoint; returns it and its secret (``whsec_…``, shown to the caller once)."""
    url = check_url(url, config.webhook_private)
    active = session.scalar(
        select(func.count()).where(Webhook.enterprise_id == enterprise_id, Webhook.disabled_at.is_(None))
    )
    if active >= MAX_PER_ENTERPRISE:
        raise Conflict(f"每家企业最多登记 {MAX_PER_ENTERPRISE} 个 Webhook，请先删除不用的")
    secret = f"whsec_{secrets.token_urlsafe(32)}"
    hook = Webhook(
        enterprise_id=enterprise_id, url=url, secret=secret, description=description or "", created_at=now,
        created_by=actor,
    )  # fmt: skip
    session.add(hook)
    session.flush()
    audit.append(session, actor, "webhook.register", subject, {"webhook": hook.id, "url": url})
    return hook, secret


def remove(session: Session, enterprise_id: int, webhook_id: int, actor: str, subject: str, now) -> Webhook:
    """Stop an endpoint: its messages not yet delivered die (the row stays, for the outbox's record)."""
    hook = session.scalar(
        select(Webhook).where(
            Webhook.id == webhook_id, Webhook.enterprise_id == enterprise_id, Webhook.disabled_at.is_(None)
        )
    )
    if hook is None:
        raise NotFound(f"Webhook {webhook_id} 不存在")
    hook.disabled_at = now
    audit.append(session, actor, "webhook.remove", subject, {"webhook": hook.id, "url": hook.url})
    session.flush()
    return hook


def shown(hook: Webhook) -> dict:
    return {
        "id": hook.id,
        "url": hook.url,
        "description": hook.description,
        "secret_hint": f"{hook.secret[:10]}…",
        "created_at": _iso(hook.created_at),
        "created_by": hook.created_by,
        "channel": f"webhook:{hook.id}",
    }


def _iso(at) -> str | None:
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).isoformat()


def listing(session: Session, enterprise_id: int) -> list[Webhook]:
    return list(
        session.scalars(
            select(Webhook)
            .where(Webhook.enterprise_id == enterprise_id, Webhook.disabled_at.is_(None))
            .order_by(Webhook.id)
        )
    )


def body_of(message: Message) -> bytes:
    """The bytes posted (and signed): compact UTF-8 JSON of the message's document, the same on every try."""
    return json.dumps(message.document(), ensure_ascii=False, separators=(",", ":")).encode()


class WebhookChannel:
    """Posts a message to its endpoint with ``X-Zhida-Signature`` and ``X-Zhida-Message-Id``.

    A 2xx answer delivers it; 410 Gone is permanent; any other answer, a timeout or a refused connection is
    retried (redirects are not followed: a 3xx is a failure)."""

    name = "webhook"
    quiet = QUIET["webhook"]

    def __init__(self, engine, config, client: httpx.Client | None = None, clock=time.time):
        self.engine = engine
        self.config = config
        self.client = client or httpx.Client(timeout=httpx.Timeout(config.timeout), follow_redirects=False)
        self.clock = clock

    def close(self) -> None:
        self.client.close()

    def send(self, message: Message) -> str | None:
        try:
            hook_id = int(message.target)
        except ValueError:
            raise PermanentError(f"渠道 {message.channel} 不是 webhook:<编号>") from None
        with read_scope(self.engine) as session:
            hook = session.get(Webhook, hook_id)
            if hook is not None:
                session.expunge(hook)
        if hook is None or hook.disabled_at is not None or hook.enterprise_id != message.enterprise_id:
            raise PermanentError(f"Webhook {hook_id} 已删除或停用")
        if not self.config.webhook_private and resolves_private(urlsplit(hook.url).hostname or ""):
            raise PermanentError("Webhook 地址解析到内网、本机或保留地址，已拒绝发送")
        body = body_of(message)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            HEADER: sign(hook.secret, body, int(self.clock())),
            MESSAGE_ID_HEADER: message.message_id,
            "X-Zhida-Attempt": str(message.attempt),
        }
        try:
            answer = self.client.post(hook.url, content=body, headers=headers)
        except httpx.TimeoutException as e:
            raise RetryableError(f"请求超时（{self.config.timeout:g} 秒）：{type(e).__name__}") from e
        except httpx.HTTPError as e:
            raise RetryableError(f"连接失败：{type(e).__name__}: {e}"[:500]) from e
        if 200 <= answer.status_code < 300:
            return f"HTTP {answer.status_code}"
        if answer.status_code == 410:
            raise PermanentError("接收方答复 410 Gone：该地址不再接收")
        raise RetryableError(f"接收方答复 HTTP {answer.status_code}")
