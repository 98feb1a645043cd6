"""The /v1 endpoints over HTTP: matches of a stored firm and of a profile, the self-test, plain-Chinese
search — read-only, scoped to the enterprise key's own firm, with Chinese problems for bad input."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from service import knowledge
from service.store.models import Base

PROFILE = {"region": "320114", "industry": "C3911", "established_on": "2018-05-01", "employees": 45}


def _rows(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.scalar(select(func.count()).select_from(t))
            for t in Base.metadata.sorted_tables
            if t.name not in ("idempotency_keys", "api_keys")
        }


@pytest.fixture
def served_app(app, engine, tmp_path, monkeypatch):
    monkeypatch.setenv("ZHIDA_MODELS_DIR", str(tmp_path / "models"))
    knowledge.build(engine, dt.date.today()).save(tmp_path / "models" / "graph.pickle")
    return app


def _get(c, url, key=None):
    return c.get(url, headers={"Authorization": f"Bearer {key}"} if key else {})


def test_matches_of_a_stored_enterprise_page_by_page(served_app, keys, engine):
    c = served_app.test_client()
    before = _rows(engine)
    first = _get(c, f"/v1/enterprises/{keys['own']}/matches?limit=3", keys["enterprise"])
    assert first.status_code == 200, first.json
    body = first.json
    assert body["items"] and len(body["items"]) <= 3
    item = body["items"][0]
    assert {"score", "decision", "trace", "amount", "policy", "graph"} <= set(item)
    assert item["decision"] in ("eligible", "not_eligible", "undetermined") and item["trace"]
    seen = [i["policy_id"] for i in body["items"]]
    cursor = body.get("next_cursor")
    while cursor:
        page = _get(c, f"/v1/enterprises/{keys['own']}/matches?limit=3&cursor={cursor}", keys["enterprise"]).json
        seen += [i["policy_id"] for i in page["items"]]
        cursor = page.get("next_cursor")
    assert len(seen) == len(set(seen)) == body["total"]  # no policy twice, none skipped
    assert _rows(engine) == before  # read-only


def test_matches_refuse_other_firms_bad_filters_and_no_key(served_app, keys):
    c = served_app.test_client()
    assert _get(c, f"/v1/enterprises/{keys['other']}/matches", keys["enterprise"]).status_code == 403
    assert _get(c, f"/v1/enterprises/{keys['other']}/matches").status_code == 401
    bad = _get(c, f"/v1/enterprises/{keys['own']}/matches?mode=sometimes", keys["enterprise"])
    assert bad.status_code == 400 and bad.mimetype == "application/problem+json" and bad.json["field"] == "mode"
    forged = _get(c, f"/v1/enterprises/{keys['own']}/matches?cursor=abc.def", keys["officer"])
    assert forged.status_code == 400 and "cursor" in forged.json["detail"]
    assert _get(c, f"/v1/enterprises/{keys['own']}/matches?limit=1000", keys["officer"]).status_code == 400


def test_a_profile_is_matched_and_nothing_is_stored(served_app, keys, engine):
    c = served_app.test_client()
    before = _rows(engine)
    headers = {"Authorization": f"Bearer {keys['system']}"}
    r = c.post("/v1/match?mode=instant&limit=5", json={"profile": PROFILE}, headers=headers)
    assert r.status_code == 200, r.json
    assert all(i["policy"]["mode"] == "instant" for i in r.json["items"])
    unknown = c.post("/v1/match", json={"profile": {**PROFILE, "wealth": 1}}, headers=headers)
    assert unknown.status_code == 400 and "wealth" in unknown.json["detail"]
    extra = c.post("/v1/match", json={"profile": PROFILE, "store": True}, headers=headers)
    assert extra.status_code == 400 and extra.json["field"] == "store"
    assert _rows(engine) == before


def test_the_documented_profile_is_taken_as_written(served_app, keys):
    """docs/api.md's profile, sent as it is written there: a set field (qualifications) as a list of texts."""
    import json
    import re
    from pathlib import Path

    docs = Path(__file__).resolve().parents[1] / "docs" / "api.md"
    text = docs.read_text(encoding="utf-8").split("A profile (`POST /v1/match", 1)[1]
    profile = json.loads(re.search(r"```json\n(.*?)\n```", text, re.S).group(1))
    assert profile["qualifications"] == ["high_tech"]
    headers = {"Authorization": f"Bearer {keys['system']}"}
    r = served_app.test_client().post("/v1/match?limit=2", json={"profile": profile}, headers=headers)
    assert r.status_code == 200, r.json
    for bad, where in (({"qualifications": [1]}, "文本"), ({"qualifications": ["x"] * 51}, "最多 50 项"),
                       ({"qualifications": [{"a": 1}]}, "文本"), ({"revenue": ["1"]}, "")):  # fmt: skip
        r = served_app.test_client().post("/v1/match", json={"profile": {**profile, **bad}}, headers=headers)
        assert r.status_code in (400, 422) and where in r.json["detail"], r.json


def test_self_test_of_a_stored_firm_and_of_a_profile(served_app, keys, engine):
    c = served_app.test_client()
    r = _get(c, f"/v1/enterprises/{keys['own']}/self-test/xina-jiuye-buzhu", keys["enterprise"])
    assert r.status_code == 200, r.json
    body = r.json
    assert body["policy_id"] == "xina-jiuye-buzhu" and body["decision"] in ("eligible", "not_eligible", "undetermined")
    assert {"met", "not_met", "unknown", "to_declare", "amount"} <= set(body)
    assert _get(c, f"/v1/enterprises/{keys['own']}/self-test/none-such", keys["enterprise"]).status_code == 404
    headers = {"Authorization": f"Bearer {keys['enterprise']}"}
    r = c.post("/v1/self-test", json={"policy_id": "xina-jiuye-buzhu", "profile": PROFILE}, headers=headers)
    assert r.status_code == 200 and r.json["unknown"]  # the profile says nothing of graduates hired


def test_plain_chinese_search_is_public_and_refuses_bad_queries(served_app):
    c = served_app.test_client()
    r = c.get("/v1/policies/search?q=我是一家成立两年的小型软件企业，有什么研发补贴")
    assert r.status_code == 200, r.json
    assert r.json["results"]
    assert c.get("/v1/policies/search?q=%00").status_code == 400
    assert c.get("/v1/policies/search").status_code == 400
    assert c.get("/v1/policies/search?q=研发&limit=0").status_code == 400
