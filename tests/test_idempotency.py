"""Idempotency-Key: replay byte for byte, 422 on a different request, 409 while the twin runs,
the effects and the stored answer commit together, and a crashed claim is taken over."""

import datetime as dt
import threading

import pytest
from flask import jsonify
from sqlalchemy import func, select, text, update

from service import audit
from service.app import create_app
from service.http import auth
from service.http.idempotency import STALE, idempotent
from service.store import session_scope, write_scope
from service.store.models import AuditRecord, IdempotencyKey


@pytest.fixture
def app(engine, db_url):
    app = create_app({"DATABASE_URL": db_url, "TESTING": True})
    gate = {"event": None, "fail": None, "refuse": False}

    @app.post("/t/write")
    @idempotent
    def write():
        with write_scope(app.extensions["zhida.engine"]) as s:
            audit.append(s, "test", "t.write", "x", {"n": 1})
            s.flush()
            if gate["event"] is not None:
                gate["event"].wait(10)
            if gate["fail"]:
                raise gate["fail"]
            if gate["refuse"]:
                from service.errors import Unprocessable

                raise Unprocessable("不予受理", field="x")
        return jsonify(ok=True, at=dt.datetime.now(dt.UTC).isoformat()), 201

    app.extensions["gate"] = gate
    with session_scope(engine) as s:
        app.extensions["key"] = auth.create_key(s, "system")[1]
    return app


def post(app, idem, body=None):
    headers = {"Authorization": f"Bearer {app.extensions['key']}", "Idempotency-Key": idem}
    return app.test_client().post("/t/write", json=body or {"a": 1}, headers=headers)


def writes(engine):
    with session_scope(engine) as s:
        return s.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "t.write"))


def test_replay_is_byte_for_byte_and_a_different_request_is_422(app, engine):
    first = post(app, "k1")
    again = post(app, "k1")
    assert first.status_code == again.status_code == 201 and again.data == first.data
    assert again.headers["Idempotent-Replayed"] == "true" and writes(engine) == 1
    assert post(app, "k1", {"a": 2}).status_code == 422


def test_a_twin_still_running_gets_409(app, engine):
    app.extensions["gate"]["event"] = event = threading.Event()
    results = {}
    first = threading.Thread(target=lambda: results.setdefault("first", post(app, "k2")))
    first.start()
    deadline = dt.datetime.now() + dt.timedelta(seconds=10)
    while dt.datetime.now() < deadline:  # wait until the first request holds its claim
        with session_scope(engine) as s:
            if engine.dialect.name == "postgresql":  # the claim is a transaction-scoped advisory lock
                held = s.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"))
            else:  # the claim is a committed row
                held = s.scalar(select(IdempotencyKey.status).where(IdempotencyKey.key == "k2")) == "running"
            if held:
                break
    twin = post(app, "k2")
    event.set()
    first.join()
    assert twin.status_code == 409 and "处理" in twin.json["detail"]
    assert results["first"].status_code == 201 and writes(engine) == 1


def test_a_refusal_is_kept_and_writes_nothing(app, engine):
    app.extensions["gate"]["refuse"] = True
    first = post(app, "k3")
    assert first.status_code == 422 and writes(engine) == 0  # the request's writes were rolled back
    app.extensions["gate"]["refuse"] = False
    again = post(app, "k3")
    assert again.data == first.data and writes(engine) == 0  # the refusal is the answer for this key


def test_a_crash_frees_the_key_and_leaves_nothing(app, engine):
    app.extensions["gate"]["fail"] = RuntimeError("boom")
    app.testing = False
    assert post(app, "k4").status_code == 500
    with session_scope(engine) as s:
        assert s.scalar(select(IdempotencyKey).where(IdempotencyKey.key == "k4")) is None
    assert writes(engine) == 0
    app.extensions["gate"]["fail"] = None
    assert post(app, "k4").status_code == 201 and writes(engine) == 1


def test_a_claim_left_by_a_dead_process_is_taken_over_after_the_stale_time(app, engine, monkeypatch):
    import service.http.idempotency as idem

    monkeypatch.setattr(idem, "_forget", lambda *a: None)  # SIGKILL: nothing cleans up after the crash
    app.extensions["gate"]["fail"] = RuntimeError("killed")
    app.testing = False
    assert post(app, "k5").status_code == 500
    monkeypatch.undo()
    app.extensions["gate"]["fail"] = None
    assert writes(engine) == 0  # the effects died with the transaction
    if engine.dialect.name == "postgresql":  # the claim was a lock of the transaction: nothing is left behind
        assert post(app, "k5").status_code == 201 and writes(engine) == 1
        return
    assert post(app, "k5").status_code == 409  # for all we know it is still running
    with write_scope(engine) as s:
        s.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == "k5")
            .values(created_at=dt.datetime.now(dt.UTC) - STALE - dt.timedelta(seconds=1))
        )
    assert post(app, "k5").status_code == 201 and writes(engine) == 1


def test_an_expired_key_can_be_used_again(app, engine):
    assert post(app, "k6").status_code == 201
    with write_scope(engine) as s:
        s.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == "k6")
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    again = post(app, "k6", {"a": 99})  # a different body is fine once the old key expired
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers and writes(engine) == 2
