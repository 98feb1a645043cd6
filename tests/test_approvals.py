"""Large 免申即享 batches wait for an officer: held, then approved (money moves) or rejected (budget returned)."""

import datetime as dt
from decimal import Decimal

import pytest
from click.testing import CliRunner
from ledger_world import budgets_add_up
from sqlalchemy import func, select

from service.app import create_app
from service.cli import main
from service.errors import BadRequest, Conflict, NotFound
from service.http import auth
from service.io.importer import import_enterprises, import_policies
from service.io.rosters import import_rosters
from service.jobs.worker import run_now
from service.ledger import sweeps
from service.ledger.bank import SimulatedBank
from service.ledger.batches import decide, list_batches
from service.ledger.disbursement import reconcile, send
from service.ledger.sweeps import resolve_threshold, run_sweep
from service.store import session_scope
from service.store.models import AuditRecord, Enterprise, FieldValue, Payout, PayoutBatch
from service.synth.params import REFERENCE_DATE

DAY = dt.date(2026, 6, 30)


@pytest.fixture
def loaded(engine, small_world):
    import_policies(engine, small_world / "policies")
    import_enterprises(engine, small_world / "enterprises.csv")
    import_rosters(engine, small_world / "rosters", REFERENCE_DATE)
    preview = run_sweep(engine, as_of=DAY, dry_run=True)
    big = max(preview, key=lambda r: (r.outcomes["would_pay"], r.money))
    assert big.money > 0 and big.outcomes["would_pay"] >= 4
    return engine, big


def test_a_sweep_over_the_threshold_holds_its_payouts_until_approved(loaded):
    engine, big = loaded
    threshold = (big.money / 2).quantize(Decimal("0.01"))
    reports = {r.policy_id: r for r in run_sweep(engine, big.policy_id, DAY, approval_threshold=threshold)}
    r = reports[big.policy_id]
    assert r.outcomes["held"] > 0 and r.outcomes["paid"] == 0 and r.batch_id is not None
    (waiting,) = list_batches(engine)
    assert waiting["id"] == r.batch_id and Decimal(waiting["amount"]) == r.held_money
    assert waiting["by_status"] == {"held": r.outcomes["held"]}
    bank = SimulatedBank(seed=2)
    assert send(engine, bank).sent == 0 and bank.paid == {}  # no money moves while held
    budgets_add_up(engine)

    approved = decide(engine, r.batch_id, True, "金额核对无误", "officer:王")
    assert approved["status"] == "approved" and approved["by_status"] == {"decided": r.outcomes["held"]}
    assert send(engine, bank).sent == r.outcomes["held"]
    reconcile(engine, bank)
    assert sum(bank.paid.values()) == r.held_money
    budgets_add_up(engine)
    with pytest.raises(Conflict, match="已批准"):
        decide(engine, r.batch_id, False, "再驳回", "officer:王")


def test_a_rejected_batch_returns_its_reservation_and_is_not_paid_again(loaded):
    engine, big = loaded
    r = run_sweep(engine, big.policy_id, DAY, approval_threshold=Decimal("0.00"))[0]
    with pytest.raises(BadRequest, match="理由"):
        decide(engine, r.batch_id, False, "  ", "officer:李")
    out = decide(engine, r.batch_id, False, "名单需复核", "officer:李")
    assert out["status"] == "rejected" and out["by_status"] == {"cancelled": r.outcomes["held"]}
    budgets_add_up(engine)
    again = run_sweep(engine, big.policy_id, DAY, approval_threshold=Decimal("0.00"))[0]
    assert again.outcomes["held"] == 0 and again.outcomes["paid"] == 0 and again.batch_id is None
    assert again.outcomes["already_paid"] == r.outcomes["held"]
    assert list_batches(engine) == []  # nothing new to approve
    with pytest.raises(NotFound):
        decide(engine, 9999, True, None, "officer:李")


def test_under_the_threshold_pays_without_approval(loaded):
    engine, big = loaded
    r = run_sweep(engine, big.policy_id, DAY, approval_threshold=big.money)[0]  # not above: no approval
    assert r.outcomes["held"] == 0 and r.outcomes["paid"] > 0 and r.batch_id is None
    assert list_batches(engine) == []


def test_a_resumed_sweep_adds_to_the_open_batch(loaded, monkeypatch):
    engine, big = loaded
    monkeypatch.setattr(sweeps, "BATCH", 2)
    real = sweeps.settle
    calls = {"n": 0}

    def crash_on_second(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the process dies mid-sweep
        return real(*a, **kw)

    monkeypatch.setattr(sweeps, "settle", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(engine, big.policy_id, DAY, approval_threshold=Decimal("1.00"))
    monkeypatch.setattr(sweeps, "settle", real)
    # what is left is below the threshold now, but the open batch still collects it
    rerun = run_sweep(engine, big.policy_id, DAY, approval_threshold=big.money * 10)[0]
    with session_scope(engine) as s:
        batches = s.scalars(select(PayoutBatch)).all()
        assert len(batches) == 1
        statuses = set(s.scalars(select(Payout.status).where(Payout.batch_id == batches[0].id)))
        assert statuses == {"held"}
        held = s.scalar(select(func.count(Payout.id)).where(Payout.status == "held"))
    assert held == big.outcomes["would_pay"] and rerun.batch_id == batches[0].id
    budgets_add_up(engine)


def test_threshold_setting_is_validated(monkeypatch):
    monkeypatch.delenv(sweeps.THRESHOLD_ENV, raising=False)
    assert resolve_threshold() is None
    monkeypatch.setenv(sweeps.THRESHOLD_ENV, "500000")
    assert resolve_threshold() == Decimal("500000.00")
    for bad in ("abc", "-1", "NaN"):
        with pytest.raises(BadRequest, match="审批阈值"):
            resolve_threshold(bad)


def test_officers_approve_over_http_and_others_cannot(loaded, db_url, monkeypatch):
    engine, big = loaded
    monkeypatch.setenv(sweeps.THRESHOLD_ENV, "1.00")
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "JOB_RUNNER": run_now})  # the job runs at once
    with session_scope(engine) as s:
        uscc = s.scalar(select(Enterprise.uscc).limit(1))
        keys = {
            role: auth.create_key(s, role, enterprise_uscc=uscc if role == "enterprise" else None)[1]
            for role in ("officer", "system", "enterprise", "analyst")
        }
    c = app.test_client()

    fresh = iter(range(10**6))

    def call(method, url, role, body=None, idem=None):
        headers = {"Authorization": f"Bearer {keys[role]}"}
        if method == "POST":
            headers["Idempotency-Key"] = idem or f"k{next(fresh)}"
        return c.open(url, method=method, json=body, headers=headers)

    assert call("POST", "/api/sweeps", "enterprise", {"policy_id": big.policy_id}).status_code == 403
    bad = call("POST", "/api/sweeps", "system", {"policy_id": big.policy_id, "as_of": "2026-13-01"})
    assert bad.status_code == 400 and "as_of" in bad.json["detail"]
    assert call("POST", "/api/sweeps", "system", {"approval_threshold": "1e12"}).status_code == 400  # not the caller's
    r = call("POST", "/api/sweeps", "system", {"policy_id": big.policy_id, "as_of": DAY.isoformat()}, idem="s1")
    assert r.status_code == 202 and r.headers["Location"] == f"/api/jobs/{r.json['id']}", r.json
    assert r.json["state"] == "queued" and r.json["params"]["approval_threshold"] == "1.00"  # the server's
    job = call("GET", r.headers["Location"], "system").json
    assert job["state"] == "done" and job["fraction"] == 1.0, job
    item = job["result"]["items"][0]
    assert job["result"]["approval_threshold"] == "1.00" and item["batch_id"] and item["amount"] == "0.00"
    listed = call("GET", "/api/payout-batches", "analyst").json
    assert listed["total"] == 1 and listed["items"][0]["id"] == item["batch_id"]
    url = f"/api/payout-batches/{item['batch_id']}"
    assert call("POST", url, "system", {"action": "approve"}).status_code == 403
    assert call("POST", url, "officer", {"action": "maybe"}).status_code == 400
    assert call("POST", url, "officer", {"action": "reject"}).status_code == 400  # reason required
    ok = call("POST", url, "officer", {"action": "approve", "comment": "同意"}, idem="b1")
    assert ok.status_code == 200 and ok.json["status"] == "approved"
    assert call("POST", url, "officer", {"action": "approve", "comment": "同意"}, idem="b1").data == ok.data
    assert call("POST", url, "officer", {"action": "approve"}, idem="b2").status_code == 409
    mine = call("GET", "/api/payouts", "enterprise").json["items"]
    assert all(p["uscc"] == uscc for p in mine)
    budgets_add_up(engine)


def test_cli_holds_lists_and_approves(loaded, db_url, monkeypatch):
    engine, big = loaded
    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    runner = CliRunner()
    bad = runner.invoke(main, ["sweep", "--as-of", DAY.isoformat(), "--approval-threshold", "abc"])
    assert bad.exit_code != 0 and "审批阈值" in bad.output
    res = runner.invoke(
        main, ["sweep", "--policy", big.policy_id, "--as-of", DAY.isoformat(), "--approval-threshold", "1"]
    )
    assert res.exit_code == 0, res.output
    assert "待审批" in res.output.splitlines()[-1]
    listed = runner.invoke(main, ["payouts", "batches"])
    assert listed.exit_code == 0 and "共 1 个批次" in listed.output
    batch_id = list_batches(engine)[0]["id"]
    no_reason = runner.invoke(main, ["payouts", "reject", str(batch_id), "--officer", "张"])
    assert no_reason.exit_code != 0
    ok = runner.invoke(main, ["payouts", "approve", str(batch_id), "--officer", "张", "--comment", "同意"])
    assert ok.exit_code == 0 and "已批准" in ok.output, ok.output
    twice = runner.invoke(main, ["payouts", "approve", str(batch_id), "--officer", "张"])
    assert twice.exit_code != 0 and "不能再次审批" in twice.output


def test_approval_does_not_pay_an_enterprise_listed_since_the_sweep(loaded):
    engine, big = loaded
    r = run_sweep(engine, big.policy_id, DAY, approval_threshold=Decimal("0.00"))[0]
    with session_scope(engine) as s:
        victim = s.scalars(select(Payout).where(Payout.batch_id == r.batch_id)).first()
        s.add(
            FieldValue(
                enterprise_id=victim.enterprise_id,
                field="on_dishonesty_list",
                value="true",
                source="credit",
                as_of=dt.date.today(),
            )
        )
    out = decide(engine, r.batch_id, True, "同意", "officer:王")
    assert out["by_status"] == {"decided": r.outcomes["held"] - 1, "cancelled": 1}
    with session_scope(engine) as s:
        assert s.get(Payout, victim.id).status == "cancelled"
        record = s.scalars(select(AuditRecord).where(AuditRecord.action == "batch.approved")).one()
        assert record.payload["cancelled_listed"] == [victim.id]
    budgets_add_up(engine)
