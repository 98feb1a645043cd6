"""What an application's answer rests on, the same on every store: the request's checks, the
decision over verified and declared facts, and the answer's body.

:mod:`service.http.applications` runs it in a SQLAlchemy session (SQLite, and every other
write), :mod:`service.http.applications_pg` on the PostgreSQL driver in two round trips.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import jsonify
from sqlalchemy import select

from matcher import catalog
from matcher import uscc as uscc_codes
from matcher.decision import Decision, decide
from matcher.errors import InvalidFieldValue, InvalidUSCC
from matcher.settlement import LABELS
from service.errors import AccessDenied, BadRequest, NotFound, Unprocessable
from service.http.guard import current_principal
from service.ledger.facts import policy_version
from service.store import read_scope
from service.store.models import Enterprise

OUTCOME_LABELS = LABELS


@dataclass(frozen=True, slots=True)
class Asked:
    """A checked application request."""

    uscc: str
    policy_id: str
    declared: dict


def asked(body) -> Asked:
    """The request's fields, checked before anything is read: each bad one named."""
    if not isinstance(body, dict):
        raise BadRequest("请求体应为 JSON 对象：{uscc, policy_id, declared, commitment}")
    if body.get("commitment") is not True:
        raise BadRequest("申报须同意信用承诺：commitment 应为 true", field="commitment")
    slug = body.get("policy_id")
    if not isinstance(slug, str):
        raise BadRequest("缺少 policy_id", field="policy_id")
    declared = body.get("declared", {})
    if not isinstance(declared, dict):
        raise BadRequest("declared 应为对象：字段名 → 值", field="declared")
    try:
        code = uscc_codes.validate(body.get("uscc", current_principal().enterprise_uscc))
    except InvalidUSCC as e:
        raise BadRequest(str(e), field="uscc") from None
    if not current_principal().may_name(code):  # before any lookup: the answer never tells who exists
        raise AccessDenied("企业密钥只能为本企业申报")
    return Asked(code, slug, declared)


def name_missing(engine, uscc: str, slug: str) -> None:
    """Raise NotFound naming what the one-query lookup did not find: the enterprise or the policy."""
    with read_scope(engine) as s:
        if s.scalar(select(Enterprise.id).where(Enterprise.uscc == uscc)) is None:
            raise NotFound(f"企业 {uscc} 不存在", field="uscc")
        policy_version(s, slug)
    raise NotFound(f"政策 {slug} 没有当前版本", field="policy_id")


def check_access(enterprise_id: int) -> None:
    if not current_principal().can_access_enterprise(enterprise_id):
        raise AccessDenied("企业密钥只能为本企业申报")


@dataclass(frozen=True, slots=True)
class Judged:
    declared: dict  # typed declared facts
    facts: dict  # declared and verified; verified wins
    decision: Decision
    sources: dict


def judge(spec, raw_declared: dict, verified: dict, sources: dict, today: dt.date) -> Judged:
    """Decide an application: the policy must take applications today, declared facts must be
    declarable and agree with verified data."""
    if spec.supplement_of:
        raise Unprocessable(
            f"{spec.name}是 {spec.supplement_of} 的配套政策，随上级政策一并兑现：请申请 {spec.supplement_of}",
            field="policy_id",
        )
    if spec.mode == "automatic":
        raise Unprocessable(f"{spec.name}为免申即享政策，无需申请，符合条件将自动兑现", field="policy_id")
    if not spec.valid_from <= today <= spec.valid_to:
        raise Unprocessable(
            f"{spec.name}的受理期为 {spec.valid_from} 至 {spec.valid_to}，今天不在受理期内", field="policy_id"
        )
    declared = _declared(spec, raw_declared, verified, today)
    facts = {**declared, **verified}
    sources = {**sources, **{k: "declared" for k in declared}}
    return Judged(declared, facts, decide(spec, facts, today, sources), sources)


def _declared(spec, raw: dict, verified: dict, as_of: dt.date) -> dict:
    """Typed declared facts; each must be declarable for this policy and must not contradict verified data."""
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
        try:
            typed = catalog.parse_value(name, value, today=as_of)
        except InvalidFieldValue as e:  # named by its JSON path; the value itself is not echoed
            raise Unprocessable(f"declared.{e.field}：{e.reason}", field=f"declared.{e.field}") from None
        if name in verified and verified[name] != typed:
            shown = catalog.label_value(name, verified[name])
            raise Unprocessable(
                f"declared.{name}：申报值 {catalog.label_value(name, typed)} 与核验数据 {shown} 不一致，以核验数据为准",
                field=f"declared.{name}",
            )
        out[name] = typed
    for _, reason, rule_fields in catalog.inconsistencies({**out, **verified}, as_of):
        involved = [n for n in rule_fields if n in out and n not in verified]
        if involved:
            raise Unprocessable(f"declared.{involved[0]}：{reason}", field=f"declared.{involved[0]}")
    return out


def stored_declared(judged: Judged) -> dict:
    """The declared facts as the application row keeps them (catalog text)."""
    return {k: catalog.format_value(k, v) for k, v in judged.declared.items()}


def application_row(enterprise_id: int, pv_id: int, judged: Judged, settlement: str) -> dict:
    """The application's row: what was declared, and its status after the decision."""
    return {
        "enterprise_id": enterprise_id,
        "policy_version_id": pv_id,
        "declared": stored_declared(judged),
        "commitment_accepted": True,
        "status": "pending_review" if settlement == "pending_review" else "decided",
        "created_at": dt.datetime.now(dt.UTC),
    }


def answer(application_id: int, ent, spec, pv, judged: Judged, plan, written):
    """The 201 answer: the measure's outcome with its label and reason, the amount paid (or due), the
    explanation (conditions, then the amount's steps), and the outcome of each supplement (配套)."""
    decision = judged.decision
    main = plan.outcome(spec.id)
    return jsonify(
        {
            "application_id": application_id,
            "uscc": ent.uscc,
            "policy_id": spec.id,
            "policy_version": pv.version,
            **_outcome_json(main, written),
            "entitlement": f"{decision.amount:.2f}" if decision.amount is not None else None,
            "missing": list(decision.missing),
            "missing_labels": decision.missing_labels,
            "declared": sorted(judged.declared),
            "trace": [leaf.sentence for leaf in decision.trace],
            "steps": [s.sentence for s in decision.steps],
            "supplements": [
                {"policy_id": o.policy_id, **_outcome_json(o, written)} for o in plan.outcomes if o.policy_id != spec.id
            ],
        }
    ), 201


def _outcome_json(o, written) -> dict:
    money = o.settlement in ("paid", "held", "already_paid", "pending_review", "outranked", "budget_exhausted")
    return {
        "outcome": o.settlement,
        "outcome_label": o.label,
        "reason": o.reason,
        "amount": f"{o.amount:.2f}" if money and o.amount is not None else None,
        "payout_id": written[o.policy_id].payout_id if o.policy_id in written else None,
        **({"winner": o.winner} if o.winner else {}),
    }
