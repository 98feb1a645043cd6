"""Payouts: an enterprise sees its own; officers record 追回 when declared facts prove false."""

from __future__ import annotations

from flask import current_app, jsonify, request
from sqlalchemy import select

from service.errors import BadRequest
from service.http import bp
from service.http.guard import current_principal, require
from service.http.idempotency import idempotent
from service.ledger.payouts import claw_back
from service.store import session_scope, write_scope
from service.store.models import Enterprise, Payout, Policy


@bp.get("/payouts")
@require()
def list_payouts():
    """Payouts, newest first; an enterprise key sees only its own (``?uscc=`` filters for staff)."""
    principal = current_principal()
    query = (
        select(Payout, Enterprise.uscc, Policy.slug)
        .join(Enterprise, Enterprise.id == Payout.enterprise_id)
        .join(Policy, Policy.id == Payout.policy_id)
        .order_by(Payout.id.desc())
        .limit(500)
    )
    if principal.role == "enterprise":
        query = query.where(Payout.enterprise_id == principal.enterprise_id)
    elif uscc := request.args.get("uscc"):
        query = query.where(Enterprise.uscc == uscc.strip().upper())
    with session_scope(current_app.extensions["zhida.engine"]) as s:
        items = [
            {
                "id": p.id,
                "uscc": uscc,
                "policy_id": slug,
                "period": p.period,
                "amount": f"{p.amount:.2f}",
                "status": p.status,
                "batch_id": p.batch_id,
            }
            for p, uscc, slug in s.execute(query)
        ]
    return jsonify(total=len(items), items=items)


@bp.post("/payouts/<int:payout_id>/clawback")
@require("officer", "admin")
@idempotent
def clawback(payout_id: int):
    """追回: record the debt and put the enterprise on the 失信 list, with the reason."""
    body = request.get_json(silent=True)
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str):
        raise BadRequest('请求体应为 {"reason": "…"}', field="reason")
    principal = current_principal()
    with write_scope(current_app.extensions["zhida.engine"]) as s:
        claw = claw_back(s, payout_id, reason, f"{principal.role}:{principal.key_prefix}")
        out = {
            "clawback_id": claw.id,
            "payout_id": payout_id,
            "amount": f"{claw.amount:.2f}",
            "reason": claw.reason,
            "status": claw.status,
        }
    return jsonify(out), 201
