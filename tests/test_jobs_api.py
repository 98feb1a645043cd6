"""Jobs over HTTP: a sweep is asked for (202 Accepted, Location to poll), a worker runs it, the job says how it
went; staff list the jobs a page at a time."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from service.jobs.worker import Worker
from service.store import session_scope
from service.store.models import Job, Payout
from service.synth.params import REFERENCE_DATE


def _call(client, method, url, key, body=None, idem=None):
    headers = {"Authorization": f"Bearer {key}"}
    if method == "POST":
        headers["Idempotency-Key"] = idem or "k-" + url + str(body)
    return client.open(url, method=method, json=body, headers=headers)


def _jobs(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(Job))


def test_a_sweep_is_accepted_then_run_by_a_worker(app, keys, engine):
    c = app.test_client()
    body = {"scope": "all", "as_of": REFERENCE_DATE.isoformat()}
    r = _call(c, "POST", "/api/sweeps", keys["officer"], body, idem="sweep-1")
    assert r.status_code == 202, r.json
    job_id = r.json["id"]
    assert r.headers["Location"] == f"/api/jobs/{job_id}" == r.json["url"]
    assert r.json["state"] == "queued" and r.json["state_label"] == "排队中" and r.json["kind"] == "sweep"
    assert r.json["params"] == {"policy_id": None, "as_of": "2026-06-30", "dry_run": False,
                                "approval_threshold": None, "actor": r.json["requested_by"]}  # fmt: skip
    assert r.json["requested_by"].startswith("officer:") and r.json["result"] is None
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Payout.id))) == 0  # nothing ran inside the request

    replay = _call(c, "POST", "/api/sweeps", keys["officer"], body, idem="sweep-1")
    assert replay.status_code == 202 and replay.data == r.data and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Location"] == r.headers["Location"]
    twin = _call(c, "POST", "/api/sweeps", keys["system"], body, idem="sweep-2")  # asked again while queued
    assert twin.status_code == 202 and twin.json["id"] == job_id and _jobs(engine) == 1

    polled = _call(c, "GET", r.headers["Location"], keys["system"])
    assert polled.status_code == 200 and polled.json["state"] == "queued"

    assert Worker(engine).run(once=True) == {"done": 1}
    job = _call(c, "GET", r.headers["Location"], keys["officer"]).json
    assert job["state"] == "done" and job["state_label"] == "已完成" and job["fraction"] == 1.0
    assert job["attempts"] == 1 and job["error"] is None and job["finished_at"] >= job["started_at"]
    result = job["result"]
    paid = sum(item["outcomes"].get("paid", 0) for item in result["items"])
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Payout.id))) == paid > 0
    assert result["as_of"] == "2026-06-30" and result["summary"].startswith("扫描完成：")
    assert {"policy_id", "eligible", "undetermined", "missing", "outcomes", "amount", "held_amount", "batch_id",
            "summary"} <= set(result["items"][0])  # fmt: skip


def test_what_cannot_be_swept_is_refused_before_anything_is_queued(app, keys, engine):
    c = app.test_client()
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    r = _call(c, "POST", "/api/sweeps", keys["officer"], {"scope": "all", "as_of": future})
    assert r.status_code == 400 and "未来日期" in r.json["detail"] and r.mimetype == "application/problem+json"
    r = _call(c, "POST", "/api/sweeps", keys["officer"], {"policy_id": "no-such-policy"})
    assert (
        r.status_code == 404 and r.json["detail"].startswith("no-such-policy 不是") and r.json["field"] == "policy_id"
    )
    r = _call(c, "POST", "/api/sweeps", keys["officer"], {"policy_id": "xina-jiuye-buzhu"})  # 即申即办, not automatic
    assert r.status_code == 404
    r = _call(c, "POST", "/api/sweeps", keys["officer"], {})
    assert r.status_code == 400 and "scope" in r.json["detail"]
    assert _jobs(engine) == 0
    ok = _call(c, "POST", "/api/sweeps", keys["officer"], {"scope": "all", "as_of": future, "dry_run": True})
    assert ok.status_code == 202 and ok.json["params"]["dry_run"] is True  # a simulation may look ahead


def test_staff_list_jobs_a_page_at_a_time(app, keys, engine):
    c = app.test_client()
    for n in range(5):
        day = (REFERENCE_DATE - dt.timedelta(days=n)).isoformat()
        assert (
            _call(c, "POST", "/api/sweeps", keys["admin"], {"scope": "all", "as_of": day, "dry_run": True}).status_code
            == 202
        )
    Worker(engine).run(max_jobs=1)  # the oldest runs
    seen, cursor = [], None
    while True:
        url = "/api/jobs?kind=sweep&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = _call(c, "GET", url, keys["analyst"]).json
        assert page["filters"] == {"kind": "sweep"} and page["limit"] == 2 and len(page["items"]) <= 2
        seen += [j["id"] for j in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 5
    done = _call(c, "GET", "/api/jobs?state=done", keys["officer"]).json["items"]
    assert [j["id"] for j in done] == [min(seen)]
    assert _call(c, "GET", "/api/jobs?kind=training", keys["officer"]).json["items"] == []

    bad = _call(c, "GET", "/api/jobs?state=finished", keys["officer"])
    assert bad.status_code == 400 and bad.mimetype == "application/problem+json"
    other = _call(c, "GET", f"/api/jobs?state=done&cursor={page_cursor(c, keys)}", keys["officer"])
    assert other.status_code == 400 and "cursor" in other.json["detail"]
    assert _call(c, "GET", "/api/jobs?cursor=abc.def", keys["officer"]).status_code == 400
    assert _call(c, "GET", "/api/jobs", keys["enterprise"]).status_code == 403
    assert _call(c, "GET", f"/api/jobs/{seen[0]}", keys["enterprise"]).status_code == 403
    missing = _call(c, "GET", "/api/jobs/999999", keys["officer"])
    assert missing.status_code == 404 and missing.json["detail"] == "没有任务 999999"
    assert c.get("/api/jobs").status_code == 401


def page_cursor(c, keys) -> str:
    """A cursor of another query (kind=sweep): refused by a query with other filters."""
    return _call(c, "GET", "/api/jobs?kind=sweep&limit=1", keys["officer"]).json["next_cursor"]
