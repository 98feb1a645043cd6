"""Reference lookups (industries, regions, the field catalog): public, read-only."""

from __future__ import annotations

from flask import jsonify, request

from graph import industries, regions
from matcher.catalog import FIELDS, SOURCES
from service.errors import BadRequest
from service.http import answers, bp, schemas
from service.http.answers import success


def _industry_json(ind):
    return {"code": ind.code, "name": ind.name, "level": ind.level_label, "parent": ind.parent}


def _region_json(reg):
    return {
        "code": reg.code,
        "name": reg.name,
        "full_name": regions().full_name(reg.code),
        "level": reg.level_label,
        "parent": reg.parent,
    }


@bp.get("/health")
@bp.doc(responses=success(200, answers.Health, "进程能应答"))
def health():
    """Liveness probe for load balancers."""
    return jsonify(status="ok")


@bp.get("/reference/industries/<code>")
@bp.doc(responses=success(200, answers.Industry, "行业及其上级、下级"))
def industry(code: str):
    """One GB/T 4754-2017 industry with its ancestors and children."""
    tree = industries()
    ind = tree.get(code)
    return jsonify(
        **_industry_json(ind),
        ancestors=[_industry_json(a) for a in tree.ancestors(ind.code)[1:]],
        children=[_industry_json(c) for c in tree.children(ind.code)],
    )


@bp.get("/reference/regions/<code>")
@bp.doc(responses=success(200, answers.Region, "行政区划及其上级、下级"))
def region(code: str):
    """One administrative division with its ancestors and children."""
    tree = regions()
    reg = tree.get(code)
    return jsonify(
        **_region_json(reg),
        ancestors=[_region_json(a) for a in tree.ancestors(reg.code)[1:]],
        children=[_region_json(c) for c in tree.children(reg.code)],
    )


@bp.get("/reference/search")
@bp.doc(
    responses=success(
        200,
        {"oneOf": [answers.IndustrySearch, answers.RegionSearch]},
        "名称完全相同的行业（kind=industry）或行政区划（kind=region）",
    )
)
@bp.input(schemas.ReferenceSearchQuery, location="query", arg_name="query")
def search(query: dict):
    """Find industries or regions by exact Chinese name: ``?kind=industry&name=软件开发``."""
    kind, name = request.args.get("kind"), request.args.get("name", "").strip()
    if not name:
        raise BadRequest("缺少查询参数 name")
    if kind == "industry":
        return jsonify(items=[_industry_json(i) for i in industries().by_name(name)])
    if kind == "region":
        return jsonify(items=[_region_json(r) for r in regions().by_name(name)])
    raise BadRequest("参数 kind 应为 industry 或 region")


@bp.get("/reference/fields")
@bp.doc(responses=success(200, answers.CatalogFields, "字段目录"))
def fields():
    """The field catalog: what a policy may test and an enterprise may declare."""
    return jsonify(
        items=[
            {
                "name": f.name,
                "label": f.label,
                "type": f.type,
                "unit": f.unit,
                "source": f.source,
                "source_label": SOURCES[f.source],
                "choices": f.choices,
                "derived": f.derived,
                "required": f.required,
                "declarable": f.declarable,
                "absence": f.absence,
                "min": None if f.min is None else str(f.min),
                "max": None if f.max is None else str(f.max),
                "fields": [{"name": s.name, "label": s.label, "type": s.type, "unit": s.unit} for s in f.fields]
                or None,
            }
            for f in FIELDS.values()
        ]
    )
