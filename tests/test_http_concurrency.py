"""The payout guarantees end to end: concurrent HTTP requests to `zhida serve` with several worker
processes, on SQLite and PostgreSQL — one payout per key, not one yuan over budget, replays identical."""

import http.client
import json
import threading
from decimal import Decimal

import pytest
import yaml
from policy_specs import insured_employee_subsidy
from serving import zhida_serve
from sqlalchemy import func, select

from service import audit
from service.http import auth
from service.io.importer import import_enterprises, import_policies
from service.io.rosters import import_rosters
from service.store import session_scope
from service.store.models import Application, Budget, Enterprise, FieldValue, Payout
from service.synth.params import REFERENCE_DATE

pytestmark = pytest.mark.slow


def _load(engine, world, tmp_path, budget):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "http-instant.yaml").write_text(
        yaml.safe_dump(insured_employee_subsidy("http-instant", "instant", "8000.00", budget), allow_unicode=True),
        encoding="utf-8",
    )
    import_policies(engine, folder)
    import_enterprises(engine, world / "enterprises.csv")
    import_rosters(engine, world / "rosters", REFERENCE_DATE)
    with session_scope(engine) as s:
        good = set(
            s.scalars(
                select(Enterprise.uscc)
                .join(FieldValue)
                .where(FieldValue.field == "insured_employees", FieldValue.value != "0")
            )
        )
        listed = set(
            s.scalars(
                select(Enterprise.uscc)
                .join(FieldValue)
                .where(
                    FieldValue.field.in_(("on_dishonesty_list", "in_abnormal_operation")), FieldValue.value == "true"
                )
            )
        )
        key = auth.create_key(s, "system")[1]
    return sorted(good - listed), key


def storm(port, key, bodies_and_keys):
    """Send every request at once from its own thread; return (status, body bytes) in order."""
    barrier = threading.Barrier(len(bodies_and_keys))
    out: list = [None] * len(bodies_and_keys)

    def one(i, body, idem):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": idem, "Content-Type": "application/json"}
        barrier.wait()
        conn.request("POST", "/api/applications", body=json.dumps(body), headers=headers)
        resp = conn.getresponse()
        out[i] = (resp.status, resp.read())

    threads = [threading.Thread(target=one, args=(i, b, k)) for i, (b, k) in enumerate(bodies_and_keys)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _ledger_ok(engine):
    with session_scope(engine) as s:
        b = s.scalars(select(Budget)).one()
        paid = s.scalar(select(func.coalesce(func.sum(Payout.amount), 0)))
        assert b.reserved + b.paid == Decimal(paid) and b.total - b.reserved - b.paid >= 0
        assert audit.verify(s) is None


def test_fifty_concurrent_applications_for_one_enterprise_pay_once(engine, db_url, small_world, tmp_path):
    eligible, key = _load(engine, small_world, tmp_path, "1000000.00")
    body = {"uscc": eligible[0], "policy_id": "http-instant", "commitment": True}
    with zhida_serve(db_url, tmp_path / "server.log") as port:
        answers = storm(port, key, [(body, f"apply-{i}") for i in range(50)])
    assert {status for status, _ in answers} == {201}, (tmp_path / "server.log").read_text()[-3000:]
    outcomes = sorted(json.loads(data)["outcome"] for _, data in answers)
    assert outcomes == ["already_paid"] * 49 + ["paid"]
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Payout.id))) == 1
    _ledger_ok(engine)


def test_fifty_retries_with_one_key_do_the_work_once(engine, db_url, small_world, tmp_path):
    eligible, key = _load(engine, small_world, tmp_path, "1000000.00")
    body = {"uscc": eligible[0], "policy_id": "http-instant", "commitment": True}
    with zhida_serve(db_url, tmp_path / "server.log") as port:
        answers = storm(port, key, [(body, "the-same-key")] * 50)
        settled = storm(port, key, [(body, "the-same-key")])  # after the storm: the first answer, replayed
    assert {status for status, _ in answers} <= {201, 409}
    firsts = {data for status, data in answers if status == 201}
    assert len(firsts) == 1 and settled == [(201, next(iter(firsts)))]
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Application.id))) == 1
        assert s.scalar(select(func.count(Payout.id))) == 1
    _ledger_ok(engine)


def test_a_budget_for_three_pays_exactly_three_under_32_concurrent_applicants(engine, db_url, small_world, tmp_path):
    eligible, key = _load(engine, small_world, tmp_path, "24000.00")
    assert len(eligible) >= 32
    bodies = [({"uscc": u, "policy_id": "http-instant", "commitment": True}, f"k-{u}") for u in eligible[:32]]
    with zhida_serve(db_url, tmp_path / "server.log") as port:
        answers = storm(port, key, bodies)
    assert {status for status, _ in answers} == {201}
    outcomes = sorted(json.loads(data)["outcome"] for _, data in answers)
    assert outcomes == ["budget_exhausted"] * 29 + ["paid"] * 3
    with session_scope(engine) as s:
        b = s.scalars(select(Budget)).one()
        assert b.reserved + b.paid == Decimal("24000.00") and b.total - b.reserved - b.paid == 0
    _ledger_ok(engine)
