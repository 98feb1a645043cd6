"""The HTTP API and pages: keys, roles, enterprise scoping, clear errors."""

import pytest
from api_world import get
from sqlalchemy import select

from service.app import create_app
from service.store.models import FieldValue


def test_health_and_reference_are_public(app):
    c = app.test_client()
    assert get(c, "/api/health").json == {"status": "ok"}
    body = get(c, "/api/reference/industries/3911").json
    assert body["code"] == "C3911" and [a["code"] for a in body["ancestors"]] == ["C391", "C39", "C"]
    assert get(c, "/api/reference/regions/320102").json["full_name"] == "江苏省南京市玄武区"
    zone = get(c, "/api/reference/regions/994401").json
    assert (zone["full_name"], zone["level"], zone["parent"]) == ("广东省深圳市深汕特别合作区", "功能区", "440300")
    assert len(get(c, "/api/reference/regions/000000").json["children"]) == 31


def test_errors_are_problem_json_in_chinese(app):
    c = app.test_client()
    r = get(c, "/api/reference/regions/330104")
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert "江干区" in r.json["detail"] and r.json["status"] == 422
    r = get(c, "/api/nowhere")
    assert r.status_code == 404 and r.mimetype == "application/problem+json"


def test_api_needs_a_valid_key(app):
    c = app.test_client()
    assert get(c, "/api/policies").status_code == 401
    r = get(c, "/api/policies", "zk_00000000_wrong")
    assert r.status_code == 401 and "无效" in r.json["detail"]


def test_policies_list_and_detail(app, keys):
    c = app.test_client()
    body = get(c, "/api/policies", keys["enterprise"]).json
    assert body["total"] >= 40
    automatic = get(c, "/api/policies?mode=automatic", keys["officer"]).json
    assert automatic["total"] > 0 and all(p["mode"] == "automatic" for p in automatic["items"])
    one = get(c, "/api/policies/xina-jiuye-buzhu", keys["officer"]).json
    assert one["name"] == "一次性吸纳就业补贴" and one["spec"]["amount"]["cap"] == "100000.00"
    assert one["versions"][0]["version"] == 1
    assert get(c, "/api/policies?mode=sometimes", keys["officer"]).status_code == 400
    assert get(c, "/api/policies/none-such", keys["officer"]).status_code == 404


def test_enterprise_key_sees_only_its_own_enterprise(app, keys):
    c = app.test_client()
    own = get(c, f"/api/enterprises/{keys['own']}", keys["enterprise"])
    assert own.status_code == 200 and own.json["uscc"] == keys["own"]
    assert own.json["facts"]["employees"]["source"] == "social_security"
    assert own.json["facts"]["employees"]["verified"] is True
    assert "scale" in own.json["derived"]
    listing = own.json["facts"]["on_dishonesty_list"]  # settled by the imported 名单, which the answer names
    assert listing["verified"] and listing["source"] == "credit" and listing["as_of"] == "2026-06-30"
    assert listing["rosters"] == [{"id": "dishonest_debtors", "label": "失信被执行人", "as_of": "2026-06-30"}]
    assert own.json["facts"]["qualifications"]["rosters"][0]["as_of"] == "2026-06-30"
    other = get(c, f"/api/enterprises/{keys['other']}", keys["enterprise"])
    assert other.status_code == 403
    assert get(c, "/api/enterprises", keys["enterprise"]).status_code == 403
    assert get(c, f"/api/enterprises/{keys['other']}", keys["officer"]).status_code == 200
    bad = get(c, "/api/enterprises/91350100M000100Y44", keys["officer"])
    assert bad.status_code == 400 and "校验位" in bad.json["detail"]
    assert get(c, "/api/enterprises/91350100M000100Y43", keys["officer"]).status_code == 404


def test_staff_list_filters_by_region_and_industry(app, keys):
    c = app.test_client()
    body = get(c, "/api/enterprises?per_page=500", keys["analyst"])
    assert body.status_code == 400
    body = get(c, "/api/enterprises?region=320100&per_page=200", keys["analyst"]).json
    assert body["total"] == 300 and len(body["items"]) == 200
    for everywhere in ("000000", "全国", "320000"):  # 全国 and a province take the whole city
        assert get(c, f"/api/enterprises?region={everywhere}", keys["analyst"]).json["total"] == 300
    for elsewhere in ("994401", "440300"):  # a zone, and a city that administers one
        assert get(c, f"/api/enterprises?region={elsewhere}", keys["analyst"]).json["total"] == 0
    assert "功能区" in get(c, "/api/enterprises?region=994499", keys["analyst"]).json["detail"]
    c_only = get(c, "/api/enterprises?industry=C&per_page=200", keys["analyst"]).json
    assert all(e["industry"].startswith("C") for e in c_only["items"])


def test_declarations_need_a_commitment_and_valid_facts(app, keys, engine):
    c = app.test_client()
    url = f"/api/enterprises/{keys['own']}/declarations"
    auth_header = {"Authorization": f"Bearer {keys['enterprise']}"}
    assert (
        c.post(url, json={"commitment": True, "facts": {"graduates_hired": 3}}, headers=auth_header).status_code == 400
    )
    keys_used = iter(range(100))

    def with_key():
        return {**auth_header, "Idempotency-Key": f"d{next(keys_used)}"}

    r = c.post(url, json={"facts": {"graduates_hired": 3}}, headers=with_key())
    assert r.status_code == 400 and "信用承诺" in r.json["detail"]
    r = c.post(url, json={"commitment": True, "facts": {"skill_certificates": "-1"}}, headers=with_key())
    assert r.status_code == 422 and "负数" in r.json["detail"]
    r = c.post(url, json={"commitment": True, "facts": {"revenue": "1.00"}}, headers=with_key())
    assert r.status_code == 400 and "税务部门提供，不能自主申报" in r.json["detail"]  # the catalog says who supplies it
    r = c.post(url, json={"commitment": True, "facts": {"scale": "micro"}}, headers=with_key())
    assert r.status_code == 400
    declared = select(FieldValue).where(FieldValue.source == "declared", FieldValue.field == "graduates_hired")
    with engine.connect() as conn:
        assert conn.execute(declared).all() == []  # refused requests wrote nothing
    r = c.post(url, json={"commitment": True, "facts": {"graduates_hired": 3}}, headers=with_key())
    assert r.status_code == 201
    assert r.json["facts"]["graduates_hired"]["source"] == "social_security"  # verified still wins
    with engine.connect() as conn:
        assert [row.value for row in conn.execute(declared)] == ["3"]
    r = c.post(
        f"/api/enterprises/{keys['other']}/declarations",
        json={"commitment": True, "facts": {"graduates_hired": 3}},
        headers=with_key(),
    )
    assert r.status_code == 403


def test_pages_render_in_chinese(app):
    c = app.test_client()
    home = c.get("/")
    assert home.status_code == 200 and "在库企业" in home.get_data(as_text=True)
    listing = c.get("/policies").get_data(as_text=True)
    assert "一次性吸纳就业补贴" in listing
    detail = c.get("/policies/xina-jiuye-buzhu").get_data(as_text=True)
    assert "宁人社规〔2025〕4号" in detail
    assert c.get("/policies/none-such").status_code == 404


def test_production_refuses_to_start_without_a_secret(db_url, engine, monkeypatch):
    monkeypatch.delenv("ZHIDA_SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="ZHIDA_SECRET_KEY"):
        create_app({"DATABASE_URL": db_url, "ZHIDA_ENV": "production"})


def test_no_cookie_session_is_kept(app, keys):
    """API keys authenticate every request and the pages keep no state: no session cookie is parsed or set."""
    from flask import session

    c = app.test_client()
    r = get(c, "/api/policies", keys["officer"])
    assert r.status_code == 200 and "Set-Cookie" not in r.headers
    with app.test_request_context("/"):
        with pytest.raises(RuntimeError):  # the null session refuses writes: nothing relies on one
            session["x"] = 1
