"""Public web pages in Chinese: the platform's home and the policy catalogue."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template
from sqlalchemy import func, select

from graph import regions
from matcher.spec import MODE_LABELS as MODES
from service.store import session_scope
from service.store.models import Enterprise, Event, Policy, PolicyVersion

bp = Blueprint("web", __name__)


def _engine():
    return current_app.extensions["zhida.engine"]


def _current_versions(session):
    return session.execute(
        select(Policy, PolicyVersion)
        .join(PolicyVersion, (PolicyVersion.policy_id == Policy.id) & (PolicyVersion.version == Policy.current_version))
        .order_by(PolicyVersion.mode, Policy.slug)
    ).all()


@bp.get("/")
def home():
    """首页: what the platform holds right now."""
    with session_scope(_engine()) as session:
        rows = _current_versions(session)
        by_mode = {m: sum(1 for _, v in rows if v.mode == m) for m in MODES}
        stats = {
            "enterprises": session.scalar(select(func.count(Enterprise.id))),
            "policies": len(rows),
            "events": session.scalar(select(func.count(Event.id))),
        }
    return render_template("home.html", stats=stats, by_mode=by_mode, modes=MODES)


@bp.get("/policies")
def policies():
    """政策清单."""
    with session_scope(_engine()) as session:
        items = [
            (
                p.slug,
                v.name,
                MODES[v.mode],
                regions().full_name(v.region),
                v.valid_from,
                v.valid_to,
                v.spec.get("department", ""),
            )
            for p, v in _current_versions(session)
        ]
    return render_template("policies.html", items=items)


@bp.get("/policies/<slug>")
def policy(slug: str):
    """政策详情."""
    with session_scope(_engine()) as session:
        row = session.execute(
            select(Policy, PolicyVersion)
            .join(
                PolicyVersion,
                (PolicyVersion.policy_id == Policy.id) & (PolicyVersion.version == Policy.current_version),
            )
            .where(Policy.slug == slug)
        ).first()
        if row is None:
            abort(404, description=f"政策 {slug} 不存在")
        p, v = row
        spec = dict(v.spec)
    return render_template(
        "policy.html",
        slug=slug,
        spec=spec,
        version=v.version,
        mode=MODES[spec["mode"]],
        region=regions().full_name(spec["region"]),
    )
