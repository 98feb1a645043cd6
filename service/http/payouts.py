"""Payouts: an enterprise sees its own; officers revise them (复核) and claw back (追回) what false facts got."""

from __future__ import annotations

import datetime as dt

from flask import current_app, jsonify, request
from sqlalchemy import select

from service.http import answers, bp, schemas
from service.http.answers import success
from service.http.guard import current_principal, require
from service.http.idempotency import idempotent
from service.ledger.clawbacks import claw_back, revise
from service.store import session_scope, write_scope
from service.store.models import Enterprise, Payout, Policy


@bp.get("/payouts")
@bp.doc(responses=success(200, answers.PayoutList, "兑现，新的在前"))
@require()
@bp.input(schemas.PayoutListQuery, location="query", arg_name="query")
def list_payouts(query: dict):
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


def _actor() -> str:
    principal = current_principal()
    return f"{principal.role}:{principal.key_prefix}"


@bp.post("/payouts/<int:payout_id>/clawback")
@bp.doc(
    responses=success(
        201, {"oneOf": [answers.ClawbackDone, answers.ClawbackStopped]}, "已追回（clawed_back）或已撤销（stopped）"
    )
)
@require("officer", "admin")
@bp.input(schemas.ClawbackIn, arg_name="body")
@idempotent
def clawback(payout_id: int, body: dict):
    """追回 after a finding that declared facts were false: the payout taken back (``amount``, default all of
    it), or stopped if it has not left yet. Listing the enterprise is a separate action."""
    with write_scope(current_app.extensions["zhida.engine"]) as s:
        out = claw_back(s, payout_id, body.get("reason"), _actor(), body.get("amount"))
    return jsonify(out), 201


@bp.post("/payouts/<int:payout_id>/revision")
@bp.doc(responses=success(201, answers.Revision, "复核结果：每项政策补发、追回或不变"))
@require("officer", "admin", "system")
@bp.input(schemas.RevisionIn, arg_name="body")
@idempotent
def revision(payout_id: int, body: dict):
    """复核: decide the payout's measure again on the facts as recorded now; pay or claw back the difference."""
    with write_scope(current_app.extensions["zhida.engine"]) as s:
        plan = revise(s, payout_id, body.get("reason"), _actor(), dt.date.today())
    items = [
        {
            "policy_id": o.policy_id,
            "outcome": o.settlement,
            "outcome_label": o.label,
            "amount": f"{o.amount:.2f}" if o.amount is not None else None,
            "reason": o.reason,
            "payout_id": o.payout_id,
        }
        for o in plan.outcomes
    ]
    return jsonify(payout_id=payout_id, items=items), 201
