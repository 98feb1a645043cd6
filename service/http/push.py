"""政策包 delivery over HTTP: an enterprise's inbox, its channel preferences and webhooks; for officers, the
outbox's messages and a dead one sent again (docs/push.md)."""

from __future__ import annotations

import datetime as dt
import functools

from flask import current_app, jsonify
from sqlalchemy import func, select

from matcher import uscc as uscc_codes
from matcher.errors import InvalidUSCC
from service.errors import AccessDenied, BadRequest, NotFound
from service.http import answers, bp, schemas
from service.http.answers import success
from service.http.guard import current_principal, require
from service.http.idempotency import idempotent
from service.push import inbox, outbox, preferences, webhooks
from service.settings import settings
from service.store import read_scope, write_scope
from service.store.models import Enterprise, InboxEntry

STAFF = ("admin", "officer", "analyst", "system")


def _engine():
    return current_app.extensions["zhida.engine"]


def _actor() -> str:
    p = current_principal()
    return f"{p.role}:{p.key_prefix}"


def _code(uscc: str, field: str = "uscc") -> str:
    try:
        return uscc_codes.validate(uscc.strip().upper())
    except InvalidUSCC as e:
        raise BadRequest(f"{field}：{e}", field=field) from None


def own_enterprise(view):
    """An enterprise key naming another enterprise in the path is 403 before anything else is read, the
    body included: the same answer whether that enterprise exists or not (docs/api.md)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not current_principal().may_name(kwargs["uscc"].strip().upper()):
            raise AccessDenied("企业密钥只能访问本企业的数据")
        return view(*args, **kwargs)

    return wrapper


def _enterprise(session, uscc: str) -> Enterprise:
    code = _code(uscc)
    if not current_principal().may_name(code):
        raise AccessDenied("企业密钥只能访问本企业的数据")
    ent = session.scalar(select(Enterprise).where(Enterprise.uscc == code))
    if ent is None:
        raise NotFound(f"企业 {code} 不存在")
    return ent


def _limit(raw: str | None, default: int, most: int) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise BadRequest(f"参数 limit 应为 1 到 {most} 之间的整数（收到 {raw[:20]!r}）", field="limit")
    return int(raw)


# -- the inbox -----------------------------------------------------------------------------------------------


@bp.get("/inbox")
@bp.doc(responses=success(200, answers.InboxList, "站内信"))
@require(*STAFF, "enterprise")
@bp.input(schemas.InboxQuery, location="query", arg_name="query")
def inbox_list(query: dict):
    """站内信: an enterprise's bundles, newest first (an enterprise key: its own; staff name the enterprise)."""
    principal = current_principal()
    limit = _limit(query.get("limit"), 50, 200)
    with read_scope(_engine()) as session:
        if principal.role == "enterprise" and not query.get("uscc"):
            ent_id, code = principal.enterprise_id, principal.enterprise_uscc
        elif not query.get("uscc"):
            raise BadRequest("参数 uscc：工作人员查看站内信须指定企业", field="uscc")
        else:
            ent = _enterprise(session, query["uscc"])
            ent_id, code = ent.id, ent.uscc
        rows = inbox.entries(session, ent_id, unread=query.get("unread") in ("1", "true"), limit=limit)
        unread = session.scalar(
            select(func.count()).where(InboxEntry.enterprise_id == ent_id, InboxEntry.read_at.is_(None))
        )
        items = [inbox.shown(e, code) for e in rows]
    return jsonify(uscc=code, unread=unread, total=len(items), items=items)


@bp.post("/inbox/<int:entry_id>/read")
@bp.doc(responses=success(200, answers.InboxEntryAnswer, "已读的站内信"))
@require("enterprise")
@bp.input(schemas.InboxReadIn, arg_name="body")
@idempotent
def inbox_read(entry_id: int, body: dict):
    """The enterprise opened a message (and, with ``policy_id``, one of its policies): recorded once, as the
    ``open`` and ``view`` events the ranker learns from. Another enterprise's message is 404."""
    principal = current_principal()
    now = dt.datetime.now(dt.UTC)
    with write_scope(_engine()) as session:
        entry = inbox.mark_read(session, entry_id, principal.enterprise_id, now, body.get("policy_id"))
        out = inbox.shown(entry, principal.enterprise_uscc)
    return jsonify(out)


# -- preferences -------------------------------------------------------------------------------------------


@bp.get("/enterprises/<uscc>/push-preferences")
@bp.doc(responses=success(200, answers.PushPreferences, "推送偏好"))
@require(*STAFF, "enterprise")
@own_enterprise
def preferences_get(uscc: str):
    """Each channel on or off, and whether a bundle would reach the enterprise through it now."""
    with read_scope(_engine()) as session:
        ent = _enterprise(session, uscc)
        out = preferences.describe(session, ent.id, settings().push)
    return jsonify(uscc=ent.uscc, **out)


@bp.put("/enterprises/<uscc>/push-preferences")
@bp.doc(responses=success(200, answers.PushPreferences, "更新后的推送偏好"))
@require("enterprise", "admin")
@own_enterprise
@bp.input(schemas.PreferencesIn, arg_name="body")
def preferences_put(uscc: str, body: dict):
    """Turn channels on or off (退订), register or remove the SMS number; audited."""
    if not body:
        raise BadRequest("请求体应至少包含 channels 或 sms_phone", field="channels")
    with write_scope(_engine()) as session:
        ent = _enterprise(session, uscc)
        preferences.update(session, ent.id, body, _actor(), ent.uscc, dt.datetime.now(dt.UTC))
        session.flush()
        out = preferences.describe(session, ent.id, settings().push)
    return jsonify(uscc=ent.uscc, **out)


# -- webhooks ----------------------------------------------------------------------------------------------


@bp.get("/enterprises/<uscc>/webhooks")
@bp.doc(responses=success(200, answers.WebhookList, "有效的 Webhook"))
@require("enterprise", "system", "admin")
@own_enterprise
def webhooks_list(uscc: str):
    """The enterprise's webhooks (their secrets are never shown again)."""
    with read_scope(_engine()) as session:
        ent = _enterprise(session, uscc)
        items = [webhooks.shown(h) for h in webhooks.listing(session, ent.id)]
    return jsonify(uscc=ent.uscc, items=items)


@bp.post("/enterprises/<uscc>/webhooks")
@bp.doc(responses=success(201, answers.WebhookCreated, "已登记（签名密钥只显示这一次）"))
@require("enterprise", "system", "admin")
@own_enterprise
@bp.input(schemas.WebhookIn, arg_name="body")
@idempotent
def webhooks_add(uscc: str, body: dict):
    """Register an endpoint; the answer holds its signing secret, shown this once."""
    with write_scope(_engine()) as session:
        ent = _enterprise(session, uscc)
        hook, secret = webhooks.register(
            session, ent.id, body["url"], body.get("description", ""), _actor(), ent.uscc,
            dt.datetime.now(dt.UTC), settings().push,
        )  # fmt: skip
        out = {**webhooks.shown(hook), "secret": secret}
    resp = jsonify(out)
    resp.status_code = 201
    resp.headers["Location"] = f"/api/enterprises/{ent.uscc}/webhooks"
    return resp


@bp.delete("/enterprises/<uscc>/webhooks/<int:webhook_id>")
@bp.doc(responses={204: {"description": "已停用"}})
@require("enterprise", "system", "admin")
@own_enterprise
def webhooks_remove(uscc: str, webhook_id: int):
    """Stop an endpoint: nothing more is sent to it (messages waiting for it are given up)."""
    with write_scope(_engine()) as session:
        ent = _enterprise(session, uscc)
        webhooks.remove(session, ent.id, webhook_id, _actor(), ent.uscc, dt.datetime.now(dt.UTC))
    return "", 204


# -- the outbox, for officers ------------------------------------------------------------------------------


@bp.get("/push/messages")
@bp.doc(responses=success(200, answers.OutboxList, "发件箱的消息"))
@require("admin", "officer", "system")
@bp.input(schemas.OutboxQuery, location="query", arg_name="query")
def messages_list(query: dict):
    """The outbox's messages, newest first: state, attempts, next attempt, last error (dead letters: ?state=dead)."""
    limit = _limit(query.get("limit"), 100, 500)
    with read_scope(_engine()) as session:
        ent_id = _enterprise(session, query["uscc"]).id if query.get("uscc") else None
        rows = outbox.messages(session, state=query.get("state"), enterprise_id=ent_id, limit=limit)
        items = [outbox.shown(row, uscc) for row, uscc in rows]
    return jsonify(total=len(items), items=items)


@bp.post("/push/messages/<int:message_row>/retry")
@bp.doc(responses=success(200, answers.OutboxMessageAnswer, "重新排队的消息"))
@require("officer", "admin")
@idempotent
def messages_retry(message_row: int):
    """Send a dead or failing message again from its first attempt (after the receiver was fixed); audited."""
    with write_scope(_engine()) as session:
        row = outbox.retry(session, message_row, _actor(), dt.datetime.now(dt.UTC))
        uscc = session.scalar(select(Enterprise.uscc).where(Enterprise.id == row.enterprise_id))
        out = outbox.shown(row, uscc)
    return jsonify(out)
