"""即申即办 through the HTTP API: instant explained decisions, declared facts, idempotency keys."""

import datetime as dt
import shutil

import pytest
from sqlalchemy import func, select

from service.app import create_app
from service.http import auth
from service.io.importer import import_enterprises, import_policies
from service.io.rosters import import_rosters
from service.store import current_facts, session_scope
from service.store.models import Enterprise, Payout
from service.synth.params import REFERENCE_DATE

TODAY = dt.date.today().isoformat()


@pytest.fixture
def app(engine, db_url, small_world, tmp_path):
    folder = tmp_path / "p"
    shutil.copytree(small_world / "policies", folder)
    for path in folder.glob("*.yaml"):  # open the measures for applications today
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("valid_to: '2026-12-31'", "valid_to: '2030-12-31'"), encoding="utf-8")
    import_policies(engine, folder)
    import_enterprises(engine, small_world / "enterprises.csv")
    import_rosters(engine, small_world / "rosters", REFERENCE_DATE)
    return create_app({"DATABASE_URL": db_url, "TESTING": True})


def _eligible_for_graduates(engine):
    """An enterprise in the city that hired graduates and is in good standing."""
    with session_scope(engine) as s:
        for ent in s.scalars(select(Enterprise).order_by(Enterprise.id)):
            vals = {name: text for name, (text, _, _) in current_facts(s, ent.id).items()}  # rosters settled
            if (
                int(vals.get("graduates_hired", "0")) >= 1
                and vals.get("on_dishonesty_list") == "false"
                and vals.get("in_abnormal_operation") == "false"
            ):
                return ent.uscc, int(vals["graduates_hired"])
    pytest.skip("no enterprise with graduates in this world")


@pytest.fixture
def keys(engine, app):
    uscc, grads = _eligible_for_graduates(engine)
    with session_scope(engine) as s:
        return {
            "uscc": uscc,
            "graduates": grads,
            "enterprise": auth.create_key(s, "enterprise", enterprise_uscc=uscc)[1],
            "system": auth.create_key(s, "system")[1],
        }


def post(client, key, body, idem="k1"):
    headers = {"Authorization": f"Bearer {key}"}
    if idem:
        headers["Idempotency-Key"] = idem
    return client.post("/api/applications", json=body, headers=headers)


def test_instant_application_pays_and_explains(app, keys, engine):
    c = app.test_client()
    body = {"uscc": keys["uscc"], "policy_id": "xina-jiuye-buzhu", "commitment": True}
    r = post(c, keys["enterprise"], body)
    assert r.status_code == 201, r.json
    expected = min(keys["graduates"] * 1000, 100000)
    assert r.json["outcome"] == "paid" and r.json["amount"] == f"{expected:.2f}" and r.json["payout_id"]
    assert any("当年吸纳高校毕业生人数" in s for s in r.json["trace"])
    again = post(c, keys["enterprise"], body, idem="k2")  # a new request for the same period
    assert again.json["outcome"] == "already_paid"
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Payout.id))) == 1
    detail = c.get(
        f"/api/applications/{r.json['application_id']}", headers={"Authorization": f"Bearer {keys['enterprise']}"}
    )
    assert detail.json["payout"]["amount"] == f"{expected:.2f}"


def test_same_key_same_request_replays_byte_for_byte(app, keys):
    c = app.test_client()
    body = {"uscc": keys["uscc"], "policy_id": "xina-jiuye-buzhu", "commitment": True}
    first = post(c, keys["enterprise"], body, idem="same")
    second = post(c, keys["enterprise"], body, idem="same")
    assert second.status_code == first.status_code == 201
    assert second.get_data() == first.get_data() and second.headers["Idempotent-Replayed"] == "true"
    different = post(c, keys["enterprise"], dict(body, policy_id="jineng-tisheng-butie"), idem="same")
    assert different.status_code == 422 and "不同的请求" in different.json["detail"]
    other_caller = post(c, keys["system"], body, idem="same")  # keys are scoped to the caller
    assert other_caller.status_code == 201 and other_caller.json["outcome"] == "already_paid"


def test_write_without_a_key_is_refused(app, keys):
    r = post(app.test_client(), keys["enterprise"], {"policy_id": "xina-jiuye-buzhu", "commitment": True}, idem=None)
    assert r.status_code == 400 and "Idempotency-Key" in r.json["detail"]


def test_declared_facts_must_be_allowed_and_match_verified_data(app, keys):
    c = app.test_client()
    base = {"uscc": keys["uscc"], "policy_id": "xina-jiuye-buzhu", "commitment": True}
    wrong = post(c, keys["enterprise"], dict(base, declared={"graduates_hired": keys["graduates"] + 5}), idem="d1")
    assert wrong.status_code == 422 and "与核验数据" in wrong.json["detail"]
    not_allowed = post(c, keys["enterprise"], dict(base, declared={"revenue": "1.00"}), idem="d2")
    assert not_allowed.status_code == 422 and "不接受自主申报" in not_allowed.json["detail"]
    no_commitment = post(c, keys["enterprise"], {"uscc": keys["uscc"], "policy_id": "xina-jiuye-buzhu"}, idem="d3")
    assert no_commitment.status_code == 400 and "信用承诺" in no_commitment.json["detail"]


def test_enterprise_key_cannot_apply_for_another(app, keys, engine):
    with session_scope(engine) as s:
        other = s.scalars(select(Enterprise.uscc).where(Enterprise.uscc != keys["uscc"])).first()
    r = post(
        app.test_client(), keys["enterprise"], {"uscc": other, "policy_id": "xina-jiuye-buzhu", "commitment": True}
    )
    assert r.status_code == 403


def test_unknown_enterprise_or_policy_is_named_and_no_facts_is_undetermined(app, keys, engine):
    """The one-query lookup: each missing part named; an enterprise with no facts still gets a decision."""
    from matcher.uscc import make

    c = app.test_client()
    ghost = make("320102", 999_999)
    r = post(c, keys["system"], {"uscc": ghost, "policy_id": "xina-jiuye-buzhu", "commitment": True}, idem="u1")
    assert r.status_code == 404 and r.json.get("field") == "uscc" and ghost in r.json["detail"]
    r = post(c, keys["system"], {"uscc": keys["uscc"], "policy_id": "no-such-policy", "commitment": True}, idem="u2")
    assert r.status_code == 404 and "no-such-policy" in r.json["detail"]
    bare = make("320102", 999_998)
    with session_scope(engine) as s:
        s.add(Enterprise(uscc=bare, name="无数据企业", region="320102", industry="C3911"))
    r = post(c, keys["system"], {"uscc": bare, "policy_id": "xina-jiuye-buzhu", "commitment": True}, idem="u3")
    assert r.status_code == 201 and r.json["outcome"] == "undetermined" and r.json["missing"]
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Payout.id))) == 0


def test_automatic_policies_need_no_application(app, keys):
    r = post(
        app.test_client(),
        keys["enterprise"],
        {"uscc": keys["uscc"], "policy_id": "gaoqi-shouci-rending", "commitment": True},
    )
    assert r.status_code == 422 and "免申即享" in r.json["detail"]


# -- the idempotency guarantees on the application path itself (on PostgreSQL it keeps them on the driver) --


def _counts(engine):
    from service.store.models import Application, AuditRecord, Decision

    with session_scope(engine) as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (Application, Decision, AuditRecord))


def _system_key(engine):
    with session_scope(engine) as s:
        return auth.create_key(s, "system")  # (prefix, secret)


def test_a_refusal_is_the_keys_answer_and_writes_nothing(app, keys, engine):
    c = app.test_client()
    before = _counts(engine)
    body = {"uscc": keys["uscc"], "policy_id": "xina-jiuye-buzhu", "commitment": True}
    wrong = dict(body, declared={"graduates_hired": keys["graduates"] + 5})
    first = post(c, keys["system"], wrong, idem="r1")
    again = post(c, keys["system"], wrong, idem="r1")
    assert first.status_code == again.status_code == 422 and again.get_data() == first.get_data()
    assert again.headers["Idempotent-Replayed"] == "true" and _counts(engine) == before
    assert post(c, keys["system"], body, idem="r1").status_code == 422  # the key is spent on the refused request


def test_a_twin_still_running_gets_409(app, keys, engine, db_url):
    """The twin's claim: a transaction-scoped advisory lock on PostgreSQL, a ``running`` row on SQLite."""
    import hashlib
    import json

    from service.http.idempotency import lock_words
    from service.store.models import IdempotencyKey

    prefix, secret = _system_key(engine)
    data = json.dumps({"uscc": keys["uscc"], "policy_id": "xina-jiuye-buzhu", "commitment": True}).encode()
    digest = hashlib.sha256(b"POST /api/applications\n" + data).hexdigest()  # the twin's request is this one
    before = _counts(engine)
    with engine.connect() as conn:
        if db_url.startswith("postgresql"):
            hi, lo = lock_words(prefix, "busy")
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({hi}, {lo})")
        else:
            now = dt.datetime.now(dt.UTC)
            running = dict(principal=prefix, key="busy", request_hash=digest, status="running", created_at=now)
            conn.execute(IdempotencyKey.__table__.insert().values(**running, expires_at=now + dt.timedelta(hours=1)))
            conn.commit()
        headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "busy", "Content-Type": "application/json"}
        r = app.test_client().post("/api/applications", data=data, headers=headers)
        assert r.status_code == 409 and "请稍后重试" in r.json["detail"]
        conn.rollback()
    assert _counts(engine) == before


def test_a_crash_mid_decision_leaves_nothing_and_frees_the_key(app, keys, engine, monkeypatch):
    """The crash comes after the ledger's writes (application, decision, budget, payout) and before the answer."""
    from service.http import applications, applications_pg
    from service.store.models import Budget

    def crash(*args, **kwargs):
        raise RuntimeError("断电")

    def ledger():
        with session_scope(engine) as s:
            budgets = [(b.reserved, b.paid) for b in s.scalars(select(Budget).order_by(Budget.policy_id))]
            return _counts(engine), s.scalar(select(func.count(Payout.id))), budgets

    body = {"uscc": keys["uscc"], "policy_id": "xina-jiuye-buzhu", "commitment": True}
    before = ledger()
    for module in (applications, applications_pg):
        monkeypatch.setattr(module, "answer", crash)
    assert post(app.test_client(), keys["system"], body, idem="crash").status_code == 500
    assert ledger() == before
    monkeypatch.undo()
    r = post(app.test_client(), keys["system"], body, idem="crash")
    assert r.status_code == 201 and r.json["outcome"] == "paid"


def test_an_expired_key_can_be_used_again(app, keys, engine):
    from sqlalchemy import update

    from service.store.models import IdempotencyKey

    c = app.test_client()
    body = {"uscc": keys["uscc"], "policy_id": "xina-jiuye-buzhu", "commitment": True}
    assert post(c, keys["system"], body, idem="old").json["outcome"] == "paid"
    with session_scope(engine) as s:
        s.execute(update(IdempotencyKey).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    refused = dict(body, declared={"graduates_hired": keys["graduates"] + 5})
    first = post(c, keys["system"], refused, idem="old")  # a refusal is the new answer, not the expired one
    assert first.status_code == 422 and "与核验数据" in first.json["detail"]
    assert post(c, keys["system"], refused, idem="old").get_data() == first.get_data()
    with session_scope(engine) as s:
        s.execute(update(IdempotencyKey).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    again = post(c, keys["system"], dict(body, policy_id="jineng-tisheng-butie"), idem="old")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert again.json["policy_id"] == "jineng-tisheng-butie"


def test_a_twins_answer_committed_meanwhile_wins_and_ours_rolls_back(app, keys, engine, db_url, monkeypatch):
    """PostgreSQL: a twin may commit its answer between our claim and our commit (its lock freed just
    before ours was taken); the unique (caller, key) constraint then fails our transaction and the
    twin's answer is returned. SQLite's write lock, taken up front, rules this interleaving out."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite's write transactions are serial")
    from service.http import applications_pg
    from service.http.idempotency import TTL
    from service.store.models import IdempotencyKey

    prefix, secret = _system_key(engine)
    body = {"uscc": keys["uscc"], "policy_id": "xina-jiuye-buzhu", "commitment": True}
    real_judge = applications_pg.judge

    def twin_answers_first(*args, **kwargs):
        from service.http.idempotency import _request_hash

        now = dt.datetime.now(dt.UTC)
        with engine.begin() as conn:  # another transaction, committed now
            conn.execute(
                IdempotencyKey.__table__.insert().values(
                    principal=prefix,
                    key="race",
                    request_hash=_request_hash(),
                    status="done",
                    response_status=201,
                    response_body=b'{"outcome":"twin"}',
                    response_type="application/json",
                    created_at=now,
                    expires_at=now + TTL,
                )
            )
        return real_judge(*args, **kwargs)

    monkeypatch.setattr(applications_pg, "judge", twin_answers_first)
    before = _counts(engine)
    r = post(app.test_client(), secret, body, idem="race")
    assert r.status_code == 201 and r.get_data() == b'{"outcome":"twin"}'
    assert r.headers["Idempotent-Replayed"] == "true" and _counts(engine) == before
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Payout.id))) == 0


def test_a_declared_count_must_fit_the_verified_headcount(app, engine):
    """The finding: 10^400 技能证书 declared by a 45-employee firm was paid the 200,000 cap."""
    with session_scope(engine) as s:
        for ent in s.scalars(select(Enterprise).order_by(Enterprise.id)):
            vals = {name: text for name, (text, _, _) in current_facts(s, ent.id).items()}  # rosters settled
            if "skill_certificates" not in vals and vals.get("employees") and vals.get("on_dishonesty_list") == "false":
                uscc, employees = ent.uscc, int(vals["employees"])
                break
        else:
            pytest.skip("no enterprise without certificates on record")
        key = auth.create_key(s, "enterprise", enterprise_uscc=uscc)[1]
    c = app.test_client()
    body = {"uscc": uscc, "policy_id": "jineng-tisheng-butie", "commitment": True}
    for i, (count, why) in enumerate(
        [
            (10**9, "超出有效范围"),
            (10**400, "数字过长"),
            (employees + 1, "取得技能证书的职工人数不能多于从业人员数"),
        ]
    ):
        r = post(c, key, dict(body, declared={"skill_certificates": count}), idem=f"big{i}")
        assert r.status_code == 422 and r.json["field"] == "declared.skill_certificates", r.json
        assert why in r.json["detail"]
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Payout)) == 0
    r = post(c, key, dict(body, declared={"skill_certificates": employees}), idem="fits")
    assert r.status_code == 201 and r.json["amount"] == f"{min(employees * 1500, 200000):.2f}", r.json
