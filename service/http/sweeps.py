"""免申即享 over HTTP: run a sweep, and let officers approve or reject the batches it held."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import current_app, jsonify, request

from service.errors import BadRequest, NotFound
from service.http import answers, bp, schemas
from service.http.answers import success
from service.http.guard import current_principal, require
from service.http.idempotency import idempotent
from service.ledger.batches import decide, list_batches
from service.ledger.sweeps import resolve_threshold, run_sweep


def _actor() -> str:
    p = current_principal()
    return f"{p.role}:{p.key_prefix}"


@bp.post("/sweeps")
@bp.doc(responses=success(200, answers.Sweep, "扫描（或演算）结果，每项政策一行"))
@require("officer", "admin", "system")
@bp.input(schemas.SweepIn, arg_name="body")
@idempotent(atomic=False)  # commits batch by batch; a retry after a crash resumes
def sweep(body: dict):
    """Sweep one automatic policy (``policy_id``) or, asked for by name, all of them (``scope: "all"``), or
    dry-run it. The approval threshold is the server's setting."""
    slug = body.get("policy_id")
    dry_run = body["dry_run"]
    try:
        as_of = dt.date.fromisoformat(body["as_of"]) if body.get("as_of") else dt.date.today()
    except ValueError:
        raise BadRequest(f"as_of 应为 YYYY-MM-DD（收到 {body['as_of']!r}）", field="as_of") from None
    threshold = resolve_threshold(current_app.config.get("APPROVAL_THRESHOLD") or "")
    reports = run_sweep(
        current_app.extensions["zhida.engine"],
        slug,
        as_of,
        dry_run=dry_run,
        actor=_actor(),
        approval_threshold=threshold,
    )
    if slug and not reports:
        raise NotFound(f"{slug} 不是 {as_of} 有效的免申即享政策", field="policy_id")
    items = [
        {
            "policy_id": r.policy_id,
            "name": r.name,
            "eligible": r.eligible,
            "undetermined": r.undetermined,
            "missing": dict(r.missing.most_common()),
            "outcomes": dict(r.outcomes),
            "amount": f"{r.money:.2f}",
            "held_amount": f"{r.held_money:.2f}",
            "batch_id": r.batch_id,
            "summary": r.line(),
        }
        for r in reports
    ]
    total = sum((r.money for r in reports), Decimal("0.00"))
    return jsonify(
        as_of=as_of.isoformat(),
        dry_run=dry_run,
        approval_threshold=f"{threshold:.2f}" if threshold is not None else None,
        amount=f"{total:.2f}",
        items=items,
    ), 200


@bp.get("/payout-batches")
@bp.doc(responses=success(200, answers.BatchList, "兑现批次"))
@require("officer", "admin", "analyst")
@bp.input(schemas.BatchListQuery, location="query", arg_name="query")
def payout_batches(query: dict):
    """Batches awaiting approval (``?all=1``: every batch, newest first)."""
    waiting = request.args.get("all", "") not in ("1", "true", "yes")
    items = list_batches(current_app.extensions["zhida.engine"], waiting_only=waiting)
    return jsonify(total=len(items), items=items)


@bp.post("/payout-batches/<int:batch_id>")
@bp.doc(responses=success(200, answers.Batch, "已审批的批次"))
@require("officer", "admin")
@bp.input(schemas.BatchDecisionIn, arg_name="body")
@idempotent
def decide_payout_batch(batch_id: int, body: dict):
    """批准 (payouts go to the bank on the next send) or 驳回 (cancelled, reservation returned), with a comment."""
    comment = body.get("comment")
    out = decide(current_app.extensions["zhida.engine"], batch_id, body["action"] == "approve", comment, _actor())
    return jsonify(out), 200
