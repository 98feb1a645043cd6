"""免申即享 over HTTP: run a sweep, and let officers approve or reject the batches it held."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import current_app, jsonify, request

from service.errors import BadRequest, NotFound
from service.http import bp
from service.http.guard import current_principal, require
from service.http.idempotency import idempotent
from service.ledger.batches import decide, list_batches
from service.ledger.sweeps import resolve_threshold, run_sweep


def _actor() -> str:
    p = current_principal()
    return f"{p.role}:{p.key_prefix}"


@bp.post("/sweeps")
@require("officer", "admin", "system")
@idempotent(atomic=False)  # commits batch by batch; a retry after a crash resumes
def sweep():
    """Sweep one automatic policy or all, or dry-run it. The approval threshold is the server's setting."""
    body = request.get_json(silent=True)
    if body is None and not request.get_data():
        body = {}
    if not isinstance(body, dict):
        raise BadRequest('请求体应为 JSON 对象，如 {"policy_id": "…", "dry_run": true}')
    unknown = set(body) - {"policy_id", "as_of", "dry_run"}
    if unknown:
        raise BadRequest(f"未知字段：{'、'.join(sorted(unknown))}", field=sorted(unknown)[0])
    slug = body.get("policy_id")
    if slug is not None and not isinstance(slug, str):
        raise BadRequest("policy_id 应为字符串", field="policy_id")
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise BadRequest("dry_run 应为 true 或 false", field="dry_run")
    try:
        as_of = dt.date.fromisoformat(body["as_of"]) if body.get("as_of") else dt.date.today()
    except (TypeError, ValueError):
        raise BadRequest(f"as_of 应为 YYYY-MM-DD（收到 {body.get('as_of')!r}）", field="as_of") from None
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
@require("officer", "admin", "analyst")
def payout_batches():
    """Batches awaiting approval (``?all=1``: every batch, newest first)."""
    waiting = request.args.get("all", "") not in ("1", "true", "yes")
    items = list_batches(current_app.extensions["zhida.engine"], waiting_only=waiting)
    return jsonify(total=len(items), items=items)


@bp.post("/payout-batches/<int:batch_id>")
@require("officer", "admin")
@idempotent
def decide_payout_batch(batch_id: int):
    """批准 (payouts go to the bank on the next send) or 驳回 (cancelled, reservation returned), with a comment."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("action") not in ("approve", "reject"):
        raise BadRequest('请求体应为 {"action": "approve" | "reject", "comment": "…"}', field="action")
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise BadRequest("comment 应为字符串", field="comment")
    out = decide(current_app.extensions["zhida.engine"], batch_id, body["action"] == "approve", comment, _actor())
    return jsonify(out), 200
