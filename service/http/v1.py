"""``/v1``: what people and other systems ask of the platform — the ranked, gated, explained matches of a
stored enterprise or of a profile, the self-test (自测) of one policy, and policy search in plain Chinese.
Everything here only reads (docs/api.md, "Matches and self-test (/v1)")."""

from __future__ import annotations

import datetime as dt

from apiflask import APIBlueprint, Schema
from apiflask.fields import Integer, String
from apiflask.validators import Length, Range
from flask import current_app

from service.errors import AccessDenied
from service.http import answers
from service.http.answers import success
from service.http.guard import current_principal, require
from service.http.schemas import SLUG, Strict, facts_field

v1 = APIBlueprint("v1", __name__, url_prefix="/v1", tag="匹配与检索")
STAFF_AND_SYSTEMS = ("admin", "officer", "analyst", "system")
FILTER = 200  # characters of one filter (comma-separated values)


class MatchQuery(Schema):
    decision = String(validate=Length(max=FILTER), metadata={"description": "eligible,undetermined,not_eligible"})
    mode = String(validate=Length(max=FILTER), metadata={"description": "automatic,instant,review（或中文）"})
    benefit_type = String(validate=Length(max=FILTER), metadata={"description": "支持方式，逗号分隔"})
    topic = String(validate=Length(max=FILTER), metadata={"description": "主题，逗号分隔"})
    department = String(validate=Length(max=FILTER), metadata={"description": "部门，逗号分隔"})
    limit = Integer(validate=Range(1, 100), metadata={"description": "每页条数（1–100，默认 20）"})
    cursor = String(validate=Length(max=2000), metadata={"description": "上一页的 next_cursor"})


PROFILE = "企业画像：字段目录中的字段 → 值（docs/fields.md）；不保存、不记录"


class ProfileIn(Strict):
    profile = facts_field(PROFILE, required=True, least=1, most=200)


class SelfTestIn(Strict):
    policy_id = String(required=True, validate=Length(1, SLUG), metadata={"description": "政策编号"})
    profile = facts_field(PROFILE, required=True, least=1, most=200)


class SearchQuery(Schema):
    q = String(required=True, validate=Length(1, 500), metadata={"description": "用中文描述企业与需求"})
    limit = Integer(validate=Range(1, 50), metadata={"description": "结果条数（默认 10）"})


def _serving():
    return current_app.extensions["zhida.serving"].get(current_app.extensions["zhida.engine"])


def _engine():
    return current_app.extensions["zhida.engine"]


def _encode(page) -> bytes:
    """A match page as its answer's body (kept so by the snapshot: service.serving.Serving.page)."""
    return current_app.json.dumps(page.to_json()).encode()


def _own(uscc: str) -> None:
    if not current_principal().may_name(uscc):  # before any lookup (docs/api.md, "403 or 404")
        raise AccessDenied("企业密钥只能访问本企业的数据")


@v1.get("/enterprises/<uscc>/matches")
@v1.doc(
    summary="企业的匹配政策",
    description="按排序模型的分数排列；每项附规则判定与解释、估算金额、办理方式、期限与图谱解释。",
    responses=success(200, answers.MatchPage, "一页候选政策"),
)
@require(*STAFF_AND_SYSTEMS, "enterprise")
@v1.input(MatchQuery, location="query", arg_name="query")
def enterprise_matches(uscc: str, query: dict):
    from service.matching import matches

    _own(uscc)
    body = matches(_serving(), _engine(), uscc, secret=current_app.config["SECRET_KEY"], encode=_encode, **query)
    return current_app.response_class(body, mimetype="application/json")


@v1.post("/match")
@v1.doc(
    summary="为未保存的企业画像匹配政策",
    description="与已登记企业的匹配相同；画像不保存，除请求编号外不记录。",
    responses=success(200, answers.MatchPage, "一页候选政策"),
)
@require(*STAFF_AND_SYSTEMS, "enterprise")
@v1.input(MatchQuery, location="query", arg_name="query")
@v1.input(ProfileIn, arg_name="body")
def profile_matches(query: dict, body: dict):
    from service.matching import match_profile

    page = match_profile(_serving(), body["profile"], secret=current_app.config["SECRET_KEY"], encode=_encode, **query)
    return current_app.response_class(page, mimetype="application/json")


@v1.get("/enterprises/<uscc>/self-test/<policy_id>")
@v1.doc(
    summary="自测：一家企业与一项政策",
    description="已满足、未满足（差多少）、未知（需申报什么）的条件，以及可得金额。只读。",
    responses=success(200, answers.SelfTest, "自测结果"),
)
@require(*STAFF_AND_SYSTEMS, "enterprise")
def enterprise_self_test(uscc: str, policy_id: str):
    from service.selftest import self_test

    _own(uscc)
    return self_test(_serving(), _engine(), policy_id, uscc=uscc).to_json()


@v1.post("/self-test")
@v1.doc(
    summary="自测：企业画像与一项政策",
    description="画像不保存。",
    responses=success(200, answers.SelfTest, "自测结果"),
)
@require(*STAFF_AND_SYSTEMS, "enterprise")
@v1.input(SelfTestIn, arg_name="body")
def profile_self_test(body: dict):
    from service.selftest import self_test

    return self_test(_serving(), _engine(), body["policy_id"], profile=body["profile"]).to_json()


@v1.get("/policies/search")
@v1.doc(
    summary="用中文检索政策",
    description="理解查询中的行业、规模、成立年限、地区与主题；BM25 排序；略去所述企业不可能满足的政策。公开。",
    responses=success(200, answers.Search, "对查询的理解、结果与略去的政策"),
)
@v1.input(SearchQuery, location="query", arg_name="query")
def search(query: dict):
    from service.search import search_policies

    return search_policies(_engine(), query["q"], dt.date.today(), query.get("limit", 10)).to_json()
