"""Policies: the published measures and their versions (any authenticated caller)."""

from __future__ import annotations

import datetime as dt

from flask import current_app, jsonify, request
from sqlalchemy import select

from matcher.spec import MODE_LABELS as MODES
from service.errors import BadRequest, NotFound
from service.http import answers, bp, schemas
from service.http.answers import success
from service.http.guard import require
from service.store import session_scope
from service.store.models import Budget, Policy, PolicyVersion


def _version_json(policy: Policy, v: PolicyVersion, budget: Budget | None) -> dict:
    spec = v.spec
    out = {
        "id": policy.slug,
        "version": v.version,
        "status": policy.status,
        "name": v.name,
        "mode": v.mode,
        "mode_label": MODES.get(v.mode, v.mode),
        "region": v.region,
        "valid_from": v.valid_from.isoformat(),
        "valid_to": v.valid_to.isoformat(),
        "document": spec.get("document"),
        "document_number": spec.get("document_number"),
        "department": spec.get("department"),
        "benefit_type": spec.get("benefit_type"),
        "topics": spec.get("topics", []),
        "budget": f"{v.budget:.2f}",
        "spec_hash": v.spec_hash,
    }
    if budget is not None:
        out["budget_remaining"] = f"{budget.total - budget.reserved - budget.paid:.2f}"
    return out


def _current(session):
    return session.execute(
        select(Policy, PolicyVersion, Budget)
        .join(PolicyVersion, (PolicyVersion.policy_id == Policy.id) & (PolicyVersion.version == Policy.current_version))
        .outerjoin(Budget, Budget.policy_id == Policy.id)
        .order_by(Policy.slug)
    )


@bp.get("/policies")
@bp.doc(responses=success(200, answers.PolicyList, "每项政策的当前版本与剩余预算"))
@require()
@bp.input(schemas.PolicyListQuery, location="query", arg_name="query")
def list_policies(query: dict):
    """Current version of every policy; ``?mode=automatic`` and ``?active_on=YYYY-MM-DD`` filter."""
    mode = request.args.get("mode")
    if mode is not None and mode not in MODES:
        raise BadRequest(f"参数 mode 应为 {'、'.join(MODES)} 之一（收到 {mode!r}）")
    active_on = None
    if raw := request.args.get("active_on"):
        try:
            active_on = dt.date.fromisoformat(raw)
        except ValueError:
            raise BadRequest(f"参数 active_on 应为日期 YYYY-MM-DD（收到 {raw!r}）") from None
    with session_scope(current_app.extensions["zhida.engine"]) as session:
        items = []
        for policy, version, budget in _current(session):
            if mode and version.mode != mode:
                continue
            if active_on and not (version.valid_from <= active_on <= version.valid_to):
                continue
            items.append(_version_json(policy, version, budget))
    return jsonify(total=len(items), items=items)


@bp.get("/policies/<slug>")
@bp.doc(responses=success(200, answers.PolicyDetail, "政策的当前版本、规格与全部版本"))
@require()
def get_policy(slug: str):
    """The current spec of one policy, with the list of its versions."""
    with session_scope(current_app.extensions["zhida.engine"]) as session:
        policy = session.scalar(select(Policy).where(Policy.slug == slug))
        if policy is None:
            raise NotFound(f"政策 {slug} 不存在")
        versions = session.scalars(
            select(PolicyVersion).where(PolicyVersion.policy_id == policy.id).order_by(PolicyVersion.version)
        ).all()
        current = next(v for v in versions if v.version == policy.current_version)
        budget = session.get(Budget, policy.id)
        return jsonify(
            **_version_json(policy, current, budget),
            spec=current.spec,
            versions=[
                {
                    "version": v.version,
                    "spec_hash": v.spec_hash,
                    "published_at": v.published_at.isoformat() if v.published_at else None,
                }
                for v in versions
            ],
        )
