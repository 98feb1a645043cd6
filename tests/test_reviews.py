"""审核 mode: applications wait for an officer, who approves (and money moves) or rejects with a comment."""

import datetime as dt

import pytest
import yaml
from sqlalchemy import func, select

from service import audit
from service.app import create_app
from service.http import auth
from service.http.reviews import due_date
from service.io.importer import import_enterprises, import_policies
from service.io.rosters import import_rosters
from service.store import session_scope
from service.store.models import AuditRecord, Enterprise, FieldValue, Payout
from service.synth.params import REFERENCE_DATE

SPEC = {
    "id": "review-test",
    "name": "审核类测试补贴",
    "document": "测试办法",
    "document_number": "测〔2026〕9号",
    "department": "测试局",
    "region": "320100",
    "valid_from": "2026-01-01",
    "valid_to": "2030-12-31",
    "target": "参保企业",
    "topics": ["就业"],
    "mode": "review",
    "time_limit_days": 5,
    "benefit_type": "subsidy",
    "period": "annual",
    "budget": "1000000.00",
    "materials": ["营业执照"],
    "conditions": {"and": [{"in_region": [{"var": "region"}, "320100"]}, {">=": [{"var": "insured_employees"}, 1]}]},
    "amount": {"formula": "8000.00"},
    "tests": [
        {
            "name": "参保企业补贴 8000 元",
            "facts": {"region": "320102", "insured_employees": 3},
            "expect": {"decision": "eligible", "amount": "8000.00"},
        }
    ],
}


@pytest.fixture
def app(engine, db_url, small_world, tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "review-test.yaml").write_text(yaml.safe_dump(SPEC, allow_unicode=True), encoding="utf-8")
    import_policies(engine, tmp_path / "p")
    import_enterprises(engine, small_world / "enterprises.csv")
    import_rosters(engine, small_world / "rosters", REFERENCE_DATE)
    return create_app({"DATABASE_URL": db_url, "TESTING": True})


@pytest.fixture
def keys(engine, app):
    with session_scope(engine) as s:
        uscc = s.scalars(
            select(Enterprise.uscc)
            .join(FieldValue)
            .where(FieldValue.field == "insured_employees", FieldValue.value != "0")
        ).first()
        return {
            "uscc": uscc,
            "enterprise": auth.create_key(s, "enterprise", enterprise_uscc=uscc)[1],
            "officer": auth.create_key(s, "officer")[1],
        }


def call(c, method, url, key, body=None, idem=None):
    headers = {"Authorization": f"Bearer {key}"}
    if idem:
        headers["Idempotency-Key"] = idem
    return c.open(url, method=method, json=body, headers=headers)


def test_review_queue_approve_pays_once(app, keys, engine):
    c = app.test_client()
    r = call(
        c,
        "POST",
        "/api/applications",
        keys["enterprise"],
        {"uscc": keys["uscc"], "policy_id": "review-test", "commitment": True},
        idem="a1",
    )
    assert r.status_code == 201 and r.json["outcome"] == "pending_review" and r.json["amount"] == "8000.00"
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Payout.id))) == 0  # nothing moves before the officer decides
    queue = call(c, "GET", "/api/reviews", keys["officer"]).json
    item = queue["items"][0]
    assert queue["total"] == 1 and item["policy_id"] == "review-test" and item["overdue"] is False
    assert call(c, "GET", "/api/reviews", keys["enterprise"]).status_code == 403
    no_comment = call(
        c, "POST", f"/api/reviews/{item['application_id']}", keys["officer"], {"action": "approve"}, idem="r0"
    )
    assert no_comment.status_code == 400
    ok = call(
        c,
        "POST",
        f"/api/reviews/{item['application_id']}",
        keys["officer"],
        {"action": "approve", "comment": "材料齐全，同意"},
        idem="r1",
    )
    assert ok.status_code == 200 and ok.json["outcome"] == "paid" and ok.json["amount"] == "8000.00"
    twice = call(
        c,
        "POST",
        f"/api/reviews/{item['application_id']}",
        keys["officer"],
        {"action": "approve", "comment": "再次同意"},
        idem="r2",
    )
    assert twice.status_code == 409
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Payout.id))) == 1 and audit.verify(s) is None
    detail = call(c, "GET", f"/api/applications/{item['application_id']}", keys["enterprise"]).json
    assert detail["status"] == "approved" and detail["payout"]["amount"] == "8000.00"


def test_reject_with_comment_moves_no_money(app, keys, engine):
    c = app.test_client()
    r = call(
        c,
        "POST",
        "/api/applications",
        keys["enterprise"],
        {"uscc": keys["uscc"], "policy_id": "review-test", "commitment": True},
        idem="b1",
    )
    rejected = call(
        c,
        "POST",
        f"/api/reviews/{r.json['application_id']}",
        keys["officer"],
        {"action": "reject", "comment": "参保记录待核实"},
        idem="b2",
    )
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected"
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Payout.id))) == 0
    assert call(c, "GET", "/api/reviews", keys["officer"]).json["total"] == 0


def test_due_date_counts_working_days():
    friday = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
    assert due_date(friday, 5) == dt.date(2026, 11, 27)  # the weekend does not count
    assert due_date(friday, 0) == dt.date(2026, 11, 20)


def test_payouts_listing_and_clawback_over_http(app, keys, engine):
    c = app.test_client()
    r = call(
        c,
        "POST",
        "/api/applications",
        keys["enterprise"],
        {"uscc": keys["uscc"], "policy_id": "review-test", "commitment": True},
        idem="c1",
    )
    call(
        c,
        "POST",
        f"/api/reviews/{r.json['application_id']}",
        keys["officer"],
        {"action": "approve", "comment": "同意"},
        idem="c2",
    )
    own = call(c, "GET", "/api/payouts", keys["enterprise"]).json
    assert own["total"] == 1 and own["items"][0]["uscc"] == keys["uscc"]
    payout_id = own["items"][0]["id"]
    assert (
        call(
            c, "POST", f"/api/payouts/{payout_id}/clawback", keys["enterprise"], {"reason": "x"}, idem="c3"
        ).status_code
        == 403
    )
    claw = call(
        c,
        "POST",
        f"/api/payouts/{payout_id}/clawback",
        keys["officer"],
        {"reason": "申报的参保人数与社保记录不符"},
        idem="c4",
    )
    # not at the bank yet: stopped, and the enterprise is not listed by it
    assert claw.status_code == 201 and claw.json["action"] == "stopped" and claw.json["amount"] == "8000.00"
    listed = call(
        c,
        "POST",
        f"/api/enterprises/{keys['uscc']}/listings",
        keys["officer"],
        {"list": "on_dishonesty_list", "reason": "虚假申报，经查实"},
        idem="c5",
    )
    assert listed.status_code == 201 and listed.json["label"] == "列入失信被执行人名单"
    with session_scope(engine) as s:
        actions = list(s.scalars(select(AuditRecord.action).order_by(AuditRecord.seq.desc()).limit(2)))
    assert actions == ["listing.added", "payout.stopped"]


def test_applications_approvals_rejections_and_payments_become_events_once(app, keys, engine):
    """Outcomes flow back: what firms did on the platform is read off the ledger as events the ranker reads
    (apply, approved, paid), an officer's rejection is recorded as it happens, and a second pass adds nothing."""
    from service.ledger.bank import SimulatedBank
    from service.ledger.disbursement import reconcile, send
    from service.push import outcomes
    from service.ranking import load_events
    from service.store.models import Event

    c = app.test_client()
    body = {"uscc": keys["uscc"], "policy_id": "review-test", "commitment": True}
    first = call(c, "POST", "/api/applications", keys["enterprise"], body, idem="e1").json["application_id"]
    with session_scope(engine) as s:
        assert outcomes.from_ledger(s) == {"apply": 1, "approved": 0, "rejected": 0, "paid": 0}
    call(c, "POST", f"/api/reviews/{first}", keys["officer"], {"action": "reject", "comment": "不符"}, idem="e2")
    second = call(c, "POST", "/api/applications", keys["enterprise"], body, idem="e3").json["application_id"]
    r = call(c, "POST", f"/api/reviews/{second}", keys["officer"], {"action": "approve", "comment": "同意"}, idem="e4")
    assert r.status_code == 200
    with session_scope(engine) as s:
        assert outcomes.from_ledger(s) == {"apply": 1, "approved": 1, "rejected": 0, "paid": 0}
    bank = SimulatedBank(seed=1)
    send(engine, bank)
    reconcile(engine, bank)
    with session_scope(engine) as s:
        assert outcomes.from_ledger(s) == {"apply": 0, "approved": 0, "rejected": 0, "paid": 1}
        assert outcomes.from_ledger(s) == dict.fromkeys(("apply", "approved", "rejected", "paid"), 0)
        kinds = dict(s.execute(select(Event.event_id, Event.kind)).all())
        paid = s.execute(select(Event.payload).where(Event.kind == "paid")).scalar_one()
    assert sorted(kinds.values()) == ["apply", "apply", "approved", "paid", "rejected"]
    assert kinds[f"rejected:a{first}"] == "rejected" and kinds[f"apply:a{second}"] == "apply"
    assert paid["amount"] == "8000.00"
    events = load_events(engine)
    assert set(events["policy"]) == {"review-test"} and set(events["enterprise"]) == {keys["uscc"]}
