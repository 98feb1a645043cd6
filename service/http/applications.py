"""即申即办: apply with declared facts under a credit commitment, get an instant, explained decision."""

from __future__ import annotations

import datetime as dt

from flask import current_app, jsonify, request
from sqlalchemy import insert, select

from service.errors import NotFound
from service.http import answers, bp, schemas
from service.http.answers import success
from service.http.guard import current_principal, require
from service.http.idempotency import idempotent
from service.http.verdicts import answer, application_row, asked, check_access, judge, name_missing
from service.ledger.executor import Target
from service.ledger.facts import applicant, spec_of
from service.ledger.units import settle_unit, unit_of
from service.store import session_scope, write_scope
from service.store.models import Application, Payout, PolicyVersion
from service.store.models import Decision as DecisionRow

_NEW_APPLICATION = insert(Application.__table__).returning(Application.__table__.c.id)


@bp.post("/applications")
@bp.doc(
    responses=success(201, answers.ApplicationAnswer, "申请已受理并判定（docs/api.md，“The answer to an application”）")
)
@require("enterprise", "system", "admin")
@bp.input(schemas.ApplicationIn, arg_name="body")
def apply(body: dict):
    """Apply for a policy; instant policies are decided and settled in the same request.

    On PostgreSQL the request runs on the driver in two round trips
    (:mod:`service.http.applications_pg`); elsewhere in a session, with the same checks,
    decision and answer (:mod:`service.http.verdicts`) and the same writes.
    """
    engine = current_app.extensions["zhida.engine"]
    if engine.dialect.name == "postgresql" and current_app.config["APPLICATIONS_ON_DRIVER"]:
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
        unit, versions = unit_of(s, spec, pv)
        conn = s.connection()

        def application(plan):
            row = application_row(ent.id, pv.id, judged, plan.outcome(spec.id).settlement)
            return conn.execute(_NEW_APPLICATION, row).scalar_one()

        plan, written, target = settle_unit(
            s,
            Target(ent.id, ent.uscc, versions),
            unit,
            judged.decision,
            judged.facts,
            judged.sources,
            today,
            today,
            actor,
            review=spec.mode == "review",
            application=application,
        )
        return answer(target.application_id, ent, spec, pv, judged, plan, written)


@bp.get("/applications/<int:application_id>")
@bp.doc(responses=success(200, answers.ApplicationDetail, "申请、判定与兑现"))
@require()
def get_application(application_id: int):
    """One application with its decision and payout; an enterprise sees only its own."""
    with session_scope(current_app.extensions["zhida.engine"]) as s:
        app_row = s.get(Application, application_id)
        if app_row is None or not current_principal().can_access_enterprise(app_row.enterprise_id):
            raise NotFound(f"申请 {application_id} 不存在")
        applied = s.get(PolicyVersion, app_row.policy_version_id).policy_id
        d = s.scalar(
            select(DecisionRow)
            .join(PolicyVersion, PolicyVersion.id == DecisionRow.policy_version_id)
            .where(DecisionRow.application_id == app_row.id, PolicyVersion.policy_id == applied)
            .order_by(DecisionRow.id.desc())
            .limit(1)
        )  # the measure applied for (not its supplements); the latest: after review, the final one
        payout = s.scalar(select(Payout).where(Payout.decision_id == d.id)) if d else None
        return jsonify(
            application_id=app_row.id,
            status=app_row.status,
            declared=app_row.declared,
            decision=d.outcome if d else None,
            settlement=d.settlement if d else None,
            reason=d.reason if d else None,
            amount=f"{d.amount:.2f}" if d and d.amount is not None else None,
            trace=[leaf["sentence"] for leaf in (d.trace if d else [])],
            steps=[step["sentence"] for step in (d.steps or [])] if d else [],
            payout={"id": payout.id, "status": payout.status, "amount": f"{payout.amount:.2f}", "period": payout.period}
            if payout
            else None,
        )
