"""即申即办: apply with declared facts under a credit commitment, get an instant, explained decision."""

from __future__ import annotations

import datetime as dt

from flask import current_app, jsonify, request
from sqlalchemy import insert, select

from service import audit
from service.errors import NotFound
from service.http import bp
from service.http.guard import current_principal, require
from service.http.idempotency import idempotent
from service.http.verdicts import answer, asked, check_access, judge, name_missing, review_note, stored_declared
from service.ledger.facts import applicant, spec_of
from service.ledger.payouts import NEW_DECISION, decision_row, settle
from service.store import session_scope, write_scope
from service.store.models import Application, Payout
from service.store.models import Decision as DecisionRow

_NEW_APPLICATION = insert(Application.__table__).returning(Application.__table__.c.id)


@bp.post("/applications")
@require("enterprise", "system", "admin")
def apply():
    """Apply for a policy; instant policies are decided and settled in the same request.

    On PostgreSQL the request runs on the driver in two round trips
    (:mod:`service.http.applications_pg`); elsewhere in a session, with the same checks,
    decision and answer (:mod:`service.http.verdicts`) and the same writes.
    """
    engine = current_app.extensions["zhida.engine"]
    if engine.dialect.name == "postgresql":
        from service.http import applications_pg  # psycopg is an extra: loaded only for a PostgreSQL store

        return applications_pg.apply(engine)
    return _apply_in_session(engine)


@idempotent
def _apply_in_session(engine):
    today = dt.date.today()
    principal = current_principal()
    actor = f"{principal.role}:{principal.key_prefix}"
    ask = asked(request.get_json(silent=True))
    with write_scope(engine) as s:
        found = applicant(s, ask.uscc, ask.policy_id, today)
        if found is None:
            name_missing(engine, ask.uscc, ask.policy_id)
        ent, pv, verified, sources = found
        check_access(ent.id)
        spec = spec_of(pv, s)
        judged = judge(spec, ask.declared, verified, sources, today)
        app_id = (
            s.connection()
            .execute(
                _NEW_APPLICATION,
                {
                    "enterprise_id": ent.id,
                    "policy_version_id": pv.id,
                    "declared": stored_declared(judged),
                    "commitment_accepted": True,
                    "status": "pending_review" if judged.queued else "decided",
                    "created_at": dt.datetime.now(dt.UTC),
                },
            )
            .scalar_one()
        )
        if judged.queued:
            row = decision_row(ent.id, pv.id, judged.decision, "eligible", app_id)
            s.connection().execute(NEW_DECISION, row)
            outcome, payout_id, reason = "pending_review", None, review_note(spec)
            audit.append(s, actor, "application.pending_review", f"{spec.id}:{ent.uscc}", {"application": app_id})
        else:
            result = settle(s, ent, pv, judged.decision, judged.facts, actor, application_id=app_id, spec=spec)
            outcome, payout_id, reason = result.outcome, result.payout_id, result.reason
        return answer(app_id, ent, spec, pv, judged, outcome, reason, payout_id)


@bp.get("/applications/<int:application_id>")
@require()
def get_application(application_id: int):
    """One application with its decision and payout; an enterprise sees only its own."""
    with session_scope(current_app.extensions["zhida.engine"]) as s:
        app_row = s.get(Application, application_id)
        if app_row is None or not current_principal().can_access_enterprise(app_row.enterprise_id):
            raise NotFound(f"申请 {application_id} 不存在")
        d = s.scalar(
            select(DecisionRow).where(DecisionRow.application_id == app_row.id).order_by(DecisionRow.id.desc()).limit(1)
        )  # the latest: after review, the final one
        payout = s.scalar(select(Payout).where(Payout.decision_id == d.id)) if d else None
        return jsonify(
            application_id=app_row.id,
            status=app_row.status,
            declared=app_row.declared,
            decision=d.outcome if d else None,
            amount=f"{d.amount:.2f}" if d and d.amount is not None else None,
            trace=[leaf["sentence"] for leaf in (d.trace if d else [])],
            payout={"id": payout.id, "status": payout.status, "amount": f"{payout.amount:.2f}", "period": payout.period}
            if payout
            else None,
        )
