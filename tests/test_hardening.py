"""What every request and answer goes through (docs/api.md, "Hardening"): probes, metrics, rate limits,
security headers, request ids, CORS only when configured, JSON logs, and the OpenAPI document."""

from __future__ import annotations

import json
import logging

from service.app import create_app
from service.http import auth
from service.store import session_scope


def _key(engine, role: str = "officer") -> str:
    with session_scope(engine) as s:
        return auth.create_key(s, role)[1]


def test_probes_and_metrics(engine, db_url):
    c = create_app({"DATABASE_URL": db_url, "TESTING": True}).test_client()
    assert c.get("/healthz").json == {"status": "ok"}
    assert c.get("/readyz").json == {"status": "ready"}
    c.get("/api/nowhere")
    text = c.get("/metrics").get_data(as_text=True)
    assert 'zhida_http_requests_total{endpoint="/readyz",method="GET",status="200"} 1.0' in text
    assert 'endpoint="<unmatched>",method="GET",status="404"' in text
    assert "zhida_http_request_seconds_bucket" in text


def test_readyz_is_503_when_the_database_is_gone(engine, db_url):
    app = create_app({"DATABASE_URL": db_url, "TESTING": True})
    from sqlalchemy import create_engine

    app.extensions["zhida.engine"] = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    r = app.test_client().get("/readyz")
    assert r.status_code == 503 and r.mimetype == "application/problem+json" and "数据库不可用" in r.json["detail"]
    assert app.test_client().get("/healthz").status_code == 200  # alive all the same


def test_rate_limit_per_key_in_chinese(engine, db_url):
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "RATE_LIMIT": "3 per minute"})
    c = app.test_client()
    one, two = _key(engine), _key(engine)
    answers = [c.get("/api/policies", headers={"Authorization": f"Bearer {one}"}) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    last = answers[-1]
    assert last.mimetype == "application/problem+json" and last.json["type"] == "urn:zhida:problem:rate-limited"
    assert "请求过于频繁" in last.json["detail"] and int(last.headers["Retry-After"]) > 0
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    assert c.get("/api/policies", headers={"Authorization": f"Bearer {two}"}).status_code == 200  # per key
    assert all(c.get("/healthz").status_code == 200 for _ in range(5))  # probes are never limited


def test_security_headers_request_id_and_no_cors_by_default(engine, db_url):
    c = create_app({"DATABASE_URL": db_url, "TESTING": True}).test_client()
    r = c.get("/api/health", headers={"X-Request-ID": "caller-42", "Origin": "https://evil.example"})
    assert r.headers["X-Request-ID"] == "caller-42"
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-store"
    assert not any(h.startswith("Access-Control-") for h in r.headers.keys())
    bad = c.get("/api/health", headers={"X-Request-ID": "x" * 65})
    assert len(bad.headers["X-Request-ID"]) == 32 and bad.headers["X-Request-ID"] != "x" * 65  # ours instead


def test_cors_only_for_configured_origins(engine, db_url, monkeypatch):
    monkeypatch.setenv("ZHIDA_CORS_ORIGINS", "https://portal.example.cn")
    c = create_app({"DATABASE_URL": db_url, "TESTING": True}).test_client()
    ok = c.options("/api/policies", headers={"Origin": "https://portal.example.cn"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://portal.example.cn"
    assert "Authorization" in ok.headers["Access-Control-Allow-Headers"]
    other = c.get("/api/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_one_json_log_line_per_request(engine, db_url, caplog):
    c = create_app({"DATABASE_URL": db_url, "TESTING": True}).test_client()
    key = _key(engine)
    with caplog.at_level(logging.INFO, logger="zhida.requests"):
        c.get("/api/policies", headers={"Authorization": f"Bearer {key}", "X-Request-ID": "r-1"})
    from service.http.hardening import JsonLogFormatter

    line = json.loads(JsonLogFormatter().format(caplog.records[-1]))
    assert line["request_id"] == "r-1" and line["status"] == 200 and line["method"] == "GET"
    assert line["actor"] == f"officer:{key.split('_')[1]}" and line["ms"] >= 0
    assert key.split("_")[2] not in json.dumps(line)  # never the secret


def test_the_openapi_document_covers_every_api_endpoint(engine, db_url):
    app = create_app({"DATABASE_URL": db_url, "TESTING": True})
    c = app.test_client()
    spec = c.get("/openapi.json").json
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(("api.", "ops.", "v1.")):
            path = rule.rule.replace("<", "{").replace(">", "}")
            import re

            path = re.sub(r"\{[^:}]+:([^}]+)\}", r"{\1}", path)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (path, method) in documented, (path, method)
    body = spec["paths"]["/api/applications"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert {"policy_id", "commitment"} <= set(schema["required"])
    page = c.get("/docs")
    assert page.status_code == 200 and "/openapi.json" in page.get_data(as_text=True)


def test_rate_limits_are_shared_by_processes_through_redis(engine, db_url, monkeypatch):
    """Two apps (two gunicorn workers, say) on one Redis count one key together: a limit of 3 holds across them."""
    import os
    import uuid

    url = os.environ.get("ZHIDA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.exceptions.RedisError:
        import pytest

        pytest.skip(f"Redis not reachable at {url} (set ZHIDA_TEST_REDIS_URL): the shared-limit case is skipped")
    monkeypatch.setenv("ZHIDA_REDIS_URL", url)
    config = {"DATABASE_URL": db_url, "TESTING": True, "RATE_LIMIT": "3 per minute"}
    config["RATELIMIT_KEY_PREFIX"] = uuid.uuid4().hex  # this run's counters only
    one, two = (create_app(config).test_client() for _ in range(2))
    key = _key(engine)
    auth_header = {"Authorization": f"Bearer {key}"}
    codes = [c.get("/api/policies", headers=auth_header).status_code for c in (one, two, one, two)]
    assert codes == [200, 200, 200, 429]
