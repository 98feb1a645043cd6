"""Enterprises: list (staff), profile (staff or the enterprise itself), declarations."""

from __future__ import annotations

import datetime as dt
import json

from flask import current_app, jsonify, request
from sqlalchemy import func, or_, select

from graph import industries, regions
from matcher import catalog
from matcher import uscc as uscc_codes
from matcher.errors import InvalidFieldValue, InvalidUSCC
from matcher.registry import derive
from service import audit
from service.errors import AccessDenied, BadRequest, NotFound, Unprocessable
from service.http import answers, bp, schemas
from service.http.answers import success
from service.http.guard import current_principal, require
from service.http.idempotency import idempotent
from service.ledger.clawbacks import list_enterprise
from service.store import current_facts, rosters_on_record, session_scope, write_scope
from service.store.models import Enterprise, FieldValue

STAFF = ("admin", "officer", "analyst", "system")
MAX_PAGE = 200


def _engine():
    return current_app.extensions["zhida.engine"]


def _load(session, uscc: str) -> Enterprise:
    try:
        code = uscc_codes.validate(uscc)
    except InvalidUSCC as e:
        raise BadRequest(str(e), field="uscc") from None
    if not current_principal().may_name(code):  # before the lookup: the same answer whether it exists or not
        raise AccessDenied("企业密钥只能访问本企业的数据")
    ent = session.scalar(select(Enterprise).where(Enterprise.uscc == code))
    if ent is None:
        raise NotFound(f"企业 {uscc} 不存在")
    return ent


def _summary(ent: Enterprise) -> dict:
    return {
        "uscc": ent.uscc,
        "name": ent.name,
        "region": ent.region,
        "region_name": regions().full_name(ent.region),
        "industry": ent.industry,
        "industry_name": industries().get(ent.industry).name,
        "established_on": ent.established_on.isoformat() if ent.established_on else None,
    }


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"参数 {name} 应为整数（收到 {raw!r}）") from None
    if not lo <= value <= hi:
        raise BadRequest(f"参数 {name} 应在 {lo} 到 {hi} 之间（收到 {value}）")
    return value


@bp.get("/enterprises")
@bp.doc(responses=success(200, answers.EnterpriseList, "一页企业"))
@require(*STAFF)
@bp.input(schemas.EnterpriseListQuery, location="query", arg_name="query")
def list_enterprises(query: dict):
    """Page through enterprises, filtered by region / industry subtree and name."""
    page = _int_arg("page", 1, 1, 10**6)
    per_page = _int_arg("per_page", 50, 1, MAX_PAGE)
    query = select(Enterprise)
    if region := request.args.get("region"):
        scope = regions().scope(region)  # the in_region test: prefixes, and zone codes
        if "" not in scope.prefixes:  # 全国: no filter
            inside = [Enterprise.region.startswith(p) for p in scope.prefixes]
            query = query.where(or_(*inside, Enterprise.region.in_(sorted(scope.codes))))
    if industry := request.args.get("industry"):
        query = query.where(Enterprise.industry.startswith(industries().canonical(industry)))
    if q := request.args.get("q"):
        query = query.where(Enterprise.name.contains(q.strip()))
    with session_scope(_engine()) as session:
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        rows = session.scalars(query.order_by(Enterprise.id).offset((page - 1) * per_page).limit(per_page)).all()
        return jsonify(total=total, page=page, per_page=per_page, items=[_summary(e) for e in rows])


def profile(session, ent: Enterprise, as_of: dt.date) -> dict:
    """Identity, current facts with their source, and the derived fields, as of a date."""
    facts, typed = {}, {}
    rosters = rosters_on_record(session)
    for name, (text, source, fact_as_of) in current_facts(session, ent.id, as_of=as_of, rosters=rosters).items():
        if name not in catalog.FIELDS:
            continue
        value = catalog.parse_value(name, text, today=as_of)
        typed[name] = value
        kind = catalog.field(name).type
        shown = sorted(value) if kind == "set" else catalog.format_value(name, value)
        facts[name] = {
            "value": json.loads(shown) if kind == "records" else shown,  # a list of records as JSON data
            "label": catalog.label_value(name, value),
            "source": source,
            "source_label": catalog.SOURCES[source],
            "verified": source in catalog.VERIFIED_SOURCES,
            "as_of": fact_as_of.isoformat(),
        }
        behind = rosters_behind(name, source, fact_as_of, rosters)
        if behind:  # the value is what the 名单 of that date say (listed, or not on them)
            facts[name]["rosters"] = behind
    typed.update(industry=ent.industry, region=ent.region, established_on=ent.established_on)
    derived = {
        name: {"value": catalog.format_value(name, v), "label": catalog.label_value(name, v)}
        for name, v in derive(typed, as_of).items()
        if v is not None
    }
    return {**_summary(ent), "as_of": as_of.isoformat(), "facts": facts, "derived": derived}


def rosters_behind(name: str, source: str, day: dt.date, rosters: list[tuple]) -> list[dict]:
    """The rosters on record that speak for a fact: rosters of its field, from its source, published on its date."""
    on_record = {(rid, d) for rid, d in rosters}
    return [
        {"id": r.id, "label": r.label, "as_of": day.isoformat()}
        for r in catalog.ROSTERS.values()
        if r.field == name and r.source == source and (r.id, day) in on_record
    ]


@bp.get("/enterprises/<uscc>")
@bp.doc(responses=success(200, answers.EnterpriseProfile, "企业画像：基本信息、当日有效的事实及来源、计算字段"))
@require()
@bp.input(schemas.AsOfQuery, location="query", arg_name="query")
def get_enterprise(uscc: str, query: dict):
    """One enterprise's profile; an enterprise key sees only its own."""
    as_of = _date_arg("as_of") or dt.date.today()
    with session_scope(_engine()) as session:
        return jsonify(profile(session, _load(session, uscc), as_of))


def _date_arg(name: str) -> dt.date | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"参数 {name} 应为日期 YYYY-MM-DD（收到 {raw!r}）") from None


@bp.post("/enterprises/<uscc>/declarations")
@bp.doc(responses=success(201, answers.EnterpriseProfile, "已记录申报；申报后的企业画像"))
@require("enterprise", "system", "admin")
@bp.input(schemas.DeclarationIn, arg_name="body")
@idempotent
def declare(uscc: str, body: dict):
    """Self-reported facts under a credit commitment (信用承诺); verified data still wins."""
    if body["commitment"] is not True:
        raise BadRequest("申报须同意信用承诺：commitment 应为 true", field="commitment")
    facts = body["facts"]
    if not facts:
        raise BadRequest("facts 应为非空对象，键为字段名", field="facts")
    today = dt.date.today()
    parsed = {}
    for name, raw in facts.items():
        f = catalog.FIELDS.get(name)
        if f is None:
            raise BadRequest(f"facts.{name}：字段目录中没有这个字段", field=f"facts.{name}")
        if not f.declarable:
            source = "系统计算" if f.derived else f"{catalog.SOURCES[f.source]}部门提供"
            raise BadRequest(f"facts.{name}：{f.label}由{source}，不能自主申报", field=f"facts.{name}")
        try:
            value = catalog.parse_value(name, raw, today=today)
        except InvalidFieldValue as e:  # named by its JSON path; the value itself is not echoed
            raise Unprocessable(f"facts.{e.field}：{e.reason}", field=f"facts.{e.field}") from None
        if value is None:
            raise BadRequest(f"facts.{name}：值不能为空", field=f"facts.{name}")
        parsed[name] = value
    with write_scope(_engine()) as session:
        ent = _load(session, uscc)
        _check_consistent(session, ent, parsed, today)
        now = dt.datetime.now(dt.UTC)
        principal = current_principal()
        audit.append(  # the commitment is what a later 追回 rests on
            session,
            f"{principal.role}:{principal.key_prefix}",
            "declaration.commit",
            ent.uscc,
            {"facts": {k: catalog.format_value(k, v) for k, v in parsed.items()}, "as_of": today},
        )
        for name, value in parsed.items():
            existing = session.scalar(
                select(FieldValue).where(
                    FieldValue.enterprise_id == ent.id,
                    FieldValue.field == name,
                    FieldValue.source == "declared",
                    FieldValue.as_of == today,
                )
            )
            if existing is None:
                session.add(
                    FieldValue(
                        enterprise_id=ent.id,
                        field=name,
                        source="declared",
                        value=catalog.format_value(name, value),
                        as_of=today,
                        recorded_at=now,
                    )
                )
            else:
                existing.value = catalog.format_value(name, value)
                existing.recorded_at = now
        session.flush()
        result = profile(session, ent, today)
    return jsonify(result), 201


def _check_consistent(session, ent: Enterprise, declared: dict, today: dt.date) -> None:
    """Declared values must keep the catalog's consistency rules with the facts that count beside them."""
    current = {}
    for name, (text, source, _) in current_facts(session, ent.id, as_of=today).items():
        if name in catalog.FIELDS:
            current[name] = (catalog.load_value(name, text), source)
    facts = {name: value for name, (value, _) in current.items()}
    for name, value in declared.items():
        if name not in current or current[name][1] not in catalog.VERIFIED_SOURCES:  # verified data wins
            facts[name] = value
    for _, reason, rule_fields in catalog.inconsistencies(facts, today):
        involved = [n for n in rule_fields if n in declared]
        if involved:
            raise Unprocessable(f"facts.{involved[0]}：{reason}", field=f"facts.{involved[0]}")


@bp.post("/enterprises/<uscc>/listings")
@bp.doc(responses=success(201, answers.Listing, "已列入名单"))
@require("officer", "admin")
@bp.input(schemas.ListingIn, arg_name="body")
@idempotent
def add_listing(uscc: str, body: dict):
    """An officer lists an enterprise (失信 or 经营异常) after a finding; every later decision refuses it."""
    principal = current_principal()
    with write_scope(_engine()) as session:
        ent = _load(session, uscc)
        out = list_enterprise(
            session,
            ent.uscc,
            body.get("list"),
            body.get("reason"),
            f"{principal.role}:{principal.key_prefix}",
            dt.date.today(),
        )
    return jsonify(out), 201
