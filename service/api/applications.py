"""即申即办: apply with declared facts under a credit commitment, get an instant, explained decision."""

from __future__ import annotations

import datetime as dt

from flask import current_app, jsonify, request
from sqlalchemy import insert, select

from matcher import catalog
from matcher import uscc as uscc_codes
from matcher.decision import decide
from matcher.errors import InvalidUSCC
from service import audit
from service.api import bp
from service.api.guard import current_principal, require
from service.decisions import applicant, policy_version, spec_of
from service.errors import AccessDenied, BadRequest, NotFound, Unprocessable
from service.idempotency import idempotent
from service.payouts import REFUSALS, settle
from service.store import session_scope, write_scope
from service.store.models import Application, Enterprise, Payout
from service.store.models import Decision as DecisionRow

OUTCOME_LABELS = {
    "paid": "符合条件，已确定兑现",
    "already_paid": "本期已兑现，不重复支付",
    "refused": "不予支持",
    "budget_exhausted": "符合条件，但资金预算已用完",
    "not_eligible": "不符合条件",
    "undetermined": "信息不足，请补充申报",
    "pending_review": "初审符合，已转人工审核",
}


def _applicant(session, raw_uscc, slug: str, as_of: dt.date):
    """The applicant, the policy's current version and the applicant's facts (each missing one named)."""
    try:
        code = uscc_codes.validate(raw_uscc)
    except InvalidUSCC as e:
        raise BadRequest(str(e), field="uscc") from None
    found = applicant(session, code, slug, as_of)
    if found is None:
        if session.scalar(select(Enterprise.id).where(Enterprise.uscc == code)) is None:
            raise NotFound(f"企业 {code} 不存在", field="uscc")
        policy_version(session, slug)  # names what is missing
    if not current_principal().can_access_enterprise(found[0].id):
        raise AccessDenied("企业密钥只能为本企业申报")
    return found


_NEW_APPLICATION = insert(Application.__table__).returning(Application.__table__.c.id)


def _declared(spec, raw: dict, verified: dict, as_of: dt.date) -> dict:
    """Typed declared facts; each must be declarable for this policy and must not contradict verified data."""
    if not isinstance(raw, dict):
        raise BadRequest("declared 应为对象：字段名 → 值", field="declared")
    out = {}
    for name, value in raw.items():
        if name not in catalog.FIELDS:
            raise BadRequest(f"declared.{name}：字段目录中没有这个字段", field=f"declared.{name}")
        if name not in spec.declarable:
            allowed = "、".join(catalog.FIELDS[n].label for n in spec.declarable) or "无"
            raise Unprocessable(
                f"declared.{name}：本政策不接受自主申报{catalog.FIELDS[name].label}（可申报：{allowed}）",
                field=f"declared.{name}",
            )
        typed = catalog.parse_value(name, value, today=as_of)
        if name in verified and verified[name] != typed:
            shown = catalog.label_value(name, verified[name])
            raise Unprocessable(
                f"declared.{name}：申报值 {catalog.label_value(name, typed)} 与核验数据 {shown} 不一致，以核验数据为准",
                field=f"declared.{name}",
            )
        out[name] = typed
    return out


@bp.post("/applications")
@require("enterprise", "system", "admin")
@idempotent
def apply():
    """Apply for a policy; instant policies are decided and settled in the same request."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("请求体应为 JSON 对象：{uscc, policy_id, declared, commitment}")
    if body.get("commitment") is not True:
        raise BadRequest("申报须同意信用承诺：commitment 应为 true", field="commitment")
    slug = body.get("policy_id")
    if not isinstance(slug, str):
        raise BadRequest("缺少 policy_id", field="policy_id")
    today = dt.date.today()
    principal = current_principal()
    actor = f"{principal.role}:{principal.key_prefix}"
    with write_scope(current_app.extensions["zhida.engine"]) as s:
        ent, pv, verified, sources = _applicant(s, body.get("uscc", principal.enterprise_uscc), slug, today)
        spec = spec_of(pv, s)
        if spec.mode == "automatic":
            raise Unprocessable(f"{spec.name}为免申即享政策，无需申请，符合条件将自动兑现", field="policy_id")
        if not spec.valid_from <= today <= spec.valid_to:
            raise Unprocessable(
                f"{spec.name}的受理期为 {spec.valid_from} 至 {spec.valid_to}，今天不在受理期内", field="policy_id"
            )
        declared = _declared(spec, body.get("declared", {}), verified, today)
        facts = {**declared, **verified}
        sources.update({k: "declared" for k in declared})
        decision = decide(spec, facts, today, sources)
        blacklisted = any(facts.get(flag) is True for flag in REFUSALS)  # refused at once, not queued
        queued = spec.mode == "review" and decision.outcome == "eligible" and not blacklisted
        app_id = (
            s.connection()
            .execute(
                _NEW_APPLICATION,
                {
                    "enterprise_id": ent.id,
                    "policy_version_id": pv.id,
                    "declared": {k: catalog.format_value(k, v) for k, v in declared.items()},
                    "commitment_accepted": True,
                    "status": "pending_review" if queued else "decided",
                    "created_at": dt.datetime.now(dt.UTC),
                },
            )
            .scalar_one()
        )
        if queued:
            row = DecisionRow(
                application_id=app_id,
                enterprise_id=ent.id,
                policy_version_id=pv.id,
                outcome="eligible",
                amount=decision.amount,
                trace=[leaf.to_json() for leaf in decision.trace],
                missing=[],
                as_of=today,
            )
            s.add(row)
            outcome, payout_id, reason = "pending_review", None, f"承诺 {spec.time_limit_days} 个工作日内办结"
            audit.append(s, actor, "application.pending_review", f"{spec.id}:{ent.uscc}", {"application": app_id})
        else:
            result = settle(s, ent, pv, decision, facts, actor, application_id=app_id, spec=spec)
            outcome, payout_id, reason = result.outcome, result.payout_id, result.reason
        response = {
            "application_id": app_id,
            "uscc": ent.uscc,
            "policy_id": spec.id,
            "policy_version": pv.version,
            "outcome": outcome,
            "outcome_label": OUTCOME_LABELS[outcome],
            "reason": reason,
            "amount": f"{decision.amount:.2f}"
            if decision.amount is not None and outcome in ("paid", "already_paid", "pending_review")
            else None,
            "payout_id": payout_id,
            "missing": list(decision.missing),
            "declared": sorted(declared),
            "trace": [leaf.sentence for leaf in decision.trace],
        }
    return jsonify(response), 201


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
