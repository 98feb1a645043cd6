"""免申即享 over HTTP: queue a sweep (a background job), and let officers approve or reject the batches it held."""

from __future__ import annotations

import datetime as dt

from flask import current_app, jsonify, request

from service.errors import BadRequest, NotFound
from service.http import answers, bp, schemas
from service.http.answers import success
from service.http.guard import current_principal, require
from service.http.idempotency import idempotent
from service.http.jobs import accepted
from service.jobs import queue
from service.jobs.kinds import sweep_dedupe_key, sweep_params
from service.ledger.batches import decide, list_batches
from service.ledger.sweeps import check_date, resolve_threshold, sweep_lots
from service.store import write_scope


def _actor() -> str:
    p = current_principal()
    return f"{p.role}:{p.key_prefix}"


@bp.post("/sweeps")
@bp.doc(responses=success(202, answers.Job, "扫描已排队：后台任务（Location 为其地址），完成后 result 每项政策一行"))
@require("officer", "admin", "system")
@bp.input(schemas.SweepIn, arg_name="body")
@idempotent  # the job and the stored answer commit together: a retry gets the same job
def sweep(body: dict):
    """Queue a sweep of one automatic policy (``policy_id``) or, asked for by name, all of them (``scope:
    "all"``), or a dry run of it: 202 with the job, ``Location`` to poll; a worker runs it. The approval
    threshold is the server's setting."""
    slug = body.get("policy_id")
    dry_run = body["dry_run"]
    today = dt.date.today()
    try:
        as_of = dt.date.fromisoformat(body["as_of"]) if body.get("as_of") else today
    except ValueError:
        raise BadRequest(f"as_of 应为 YYYY-MM-DD（收到 {body['as_of']!r}）", field="as_of") from None
    check_date(as_of, today, dry_run)
    threshold = resolve_threshold(current_app.config.get("APPROVAL_THRESHOLD") or "")
    engine = current_app.extensions["zhida.engine"]
    if slug and not sweep_lots(engine, slug, as_of):
        raise NotFound(f"{slug} 不是 {as_of} 有效的免申即享政策", field="policy_id")
    params = sweep_params(slug, as_of, dry_run, threshold, _actor())
    with write_scope(engine) as s:  # joins the request's transaction: the job and the answer commit together
        job, _ = queue.enqueue(s, "sweep", params, _actor(), dedupe_key=sweep_dedupe_key(params))
    return accepted(job)


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
