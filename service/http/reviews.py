"""审核: applications to policies in review mode wait here for an officer's decision."""

from __future__ import annotations

import datetime as dt

import numpy as np
from flask import current_app, jsonify
from sqlalchemy import select

from matcher import catalog
from matcher.decision import decide
from service import audit
from service.errors import BadRequest, Conflict, NotFound
from service.http import answers, bp, schemas
from service.http.answers import success
from service.http.guard import current_principal, require
from service.http.idempotency import idempotent
from service.ledger.executor import Target
from service.ledger.facts import VersionRef, facts_as_of, spec_of
from service.ledger.units import settle_unit, unit_of
from service.push import outcomes
from service.store import session_scope, write_scope
from service.store.models import Application, Enterprise, PolicyVersion
from service.store.models import Decision as DecisionRow


def due_date(received: dt.datetime, working_days: int) -> dt.date:
    """The promised date: ``working_days`` weekdays after the day the application arrived."""
    start = np.datetime64(received.date(), "D")
    return np.busday_offset(start, working_days, roll="forward").astype(dt.date)


@bp.get("/reviews")
@bp.doc(responses=success(200, answers.ReviewQueue, "待审核的申请"))
@require("officer", "admin")
def review_queue():
    """Pending applications, oldest first, with their promised date and whether it has passed."""
    today = dt.date.today()
    with session_scope(current_app.extensions["zhida.engine"]) as s:
        rows = s.execute(
            select(Application, Enterprise.uscc, Enterprise.name, PolicyVersion)
            .join(Enterprise, Enterprise.id == Application.enterprise_id)
            .join(PolicyVersion, PolicyVersion.id == Application.policy_version_id)
            .where(Application.status == "pending_review")
            .order_by(Application.created_at)
        ).all()
        items = []
        for app_row, uscc, name, pv in rows:
            due = due_date(app_row.created_at, pv.spec["time_limit_days"])
            d = s.scalar(
                select(DecisionRow)
                .where(DecisionRow.application_id == app_row.id, DecisionRow.policy_version_id == pv.id)
                .order_by(DecisionRow.id)
                .limit(1)
            )
            items.append(
                {
                    "application_id": app_row.id,
                    "uscc": uscc,
                    "enterprise": name,
                    "policy_id": pv.spec["id"],
                    "policy": pv.name,
                    "amount": f"{d.amount:.2f}" if d and d.amount is not None else None,
                    "received": app_row.created_at.date().isoformat(),
                    "due": due.isoformat(),
                    "overdue": today > due,
                    "declared": app_row.declared,
                    "trace": [leaf["sentence"] for leaf in (d.trace if d else [])],
                }
            )
    return jsonify(total=len(items), items=items)


@bp.post("/reviews/<int:application_id>")
@bp.doc(
    responses=success(
        200,
        {"oneOf": [answers.ReviewApproved, answers.ReviewRejected]},
        "已审核：批准时附兑现结果，驳回时只有状态与意见",
    )
)
@require("officer", "admin")
@bp.input(schemas.ReviewIn, arg_name="body")
@idempotent
def review(application_id: int, body: dict):
    """Approve (the payout is settled on today's verified data) or reject, with a comment."""
    comment = body["comment"]
    if not comment.strip():
        raise BadRequest("审核意见 comment 不能为空", field="comment")
    principal = current_principal()
    actor = f"{principal.role}:{principal.key_prefix}"
    with write_scope(current_app.extensions["zhida.engine"]) as s:
        app_row = s.get(Application, application_id)
        if app_row is None:
            raise NotFound(f"申请 {application_id} 不存在")
        if app_row.status != "pending_review":
            raise Conflict(f"申请 {application_id} 当前状态为 {app_row.status}，不在待审核队列中")
        pv = s.get(PolicyVersion, app_row.policy_version_id)
        ent = s.get(Enterprise, app_row.enterprise_id)
        subject = f"{pv.spec['id']}:{ent.uscc}"
        if body["action"] == "reject":
            app_row.status = "rejected"
            audit.append(s, actor, "review.reject", subject, {"application": app_row.id, "comment": comment})
            outcomes.record(s, [outcomes.rejected_row(ent.id, pv.policy_id, app_row.id, dt.datetime.now(dt.UTC))])
            return jsonify(application_id=app_row.id, status="rejected", comment=comment), 200
        first = s.scalar(
            select(DecisionRow)
            .where(DecisionRow.application_id == app_row.id, DecisionRow.policy_version_id == pv.id)
            .order_by(DecisionRow.id)
            .limit(1)
        )
        today = dt.date.today()
        # decided again as of the application's day, on what is known today: verified facts, and what
        # the enterprise declared under its commitment where no verified value exists
        facts, sources = facts_as_of(s, ent, today)
        for name, text in (app_row.declared or {}).items():
            if facts.get(name) is None:
                facts[name], sources[name] = catalog.parse_value(name, text, today=today), "declared"
        ref = VersionRef(pv.id, pv.policy_id, pv.version, pv.spec_hash)
        spec = spec_of(pv)
        decision = decide(spec, facts, first.as_of, sources)
        audit.append(s, actor, "review.approve", subject, {"application": app_row.id, "comment": comment})
        unit, versions = unit_of(s, spec, ref)
        target = Target(ent.id, ent.uscc, versions, app_row.id)
        plan, written, _ = settle_unit(s, target, unit, decision, facts, sources, first.as_of, today, actor)
        result = plan.outcome(spec.id)
        app_row.status = "approved" if result.settlement in ("paid", "already_paid") else result.settlement
        return jsonify(
            application_id=app_row.id,
            status=app_row.status,
            outcome=result.settlement,
            outcome_label=result.label,
            amount=f"{result.amount:.2f}" if result.amount is not None else None,
            payout_id=written[spec.id].payout_id,
            reason=result.reason,
            trace=[leaf.sentence for leaf in decision.trace],
            steps=[step.sentence for step in decision.steps],
            comment=comment,
        ), 200
