"""The PostgreSQL driver path and the session path write the same plan: for the same requests, the same
answers, decisions, outcomes, reasons, rows and audit records."""

from __future__ import annotations

import os

import pytest
from ledger_world import FACTS_AS_OF, add_enterprise, apply, publish
from policy_specs import measure
from sqlalchemy import select

from service.app import create_app
from service.http import auth
from service.io.rosters import import_roster
from service.store import session_scope
from service.store.models import Application, AuditRecord, GroupClaim, Payout, Policy
from service.store.models import Decision as DecisionRow

PG_ENV = "ZHIDA_TEST_POSTGRES_URL"
pytestmark = pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} not set: the driver path is PostgreSQL's")
IDS = ("decision", "payout", "application", "clawback", "batch")

SPECS = [
    measure("eq-high", amount={"*": [{"var": "insured_employees"}, "1000"]}, budget="20000.00", group="eq"),
    measure("eq-low", amount="5000.00", budget="9000.00", group="eq"),  # one low payout, then exhausted
    measure("eq-match", amount={"*": [{"var": "parent_amount"}, "0.5"]}, budget="6000.00", supplement_of="eq-high"),
    measure(
        "eq-declared",
        amount={"*": [{"var": "graduates_hired"}, "1500"]},
        conditions={">=": [{"var": "graduates_hired"}, 1]},
        budget="4000.00",
        declarable=("graduates_hired",),
    ),
]
FIRMS = [
    {"insured_employees": 8, "on_dishonesty_list": False},
    {"insured_employees": 3, "on_dishonesty_list": False},
    {"insured_employees": 2, "on_dishonesty_list": True},
    {"insured_employees": 0},
    {"insured_employees": 12},
]
REQUESTS = [
    (1, "eq-low", None),
    (1, "eq-high", None),
    (1, "eq-low", None),
    (0, "eq-high", None),
    (0, "eq-low", None),
    (2, "eq-high", None),
    (3, "eq-high", None),
    (4, "eq-high", None),
    (4, "eq-low", None),
    (0, "eq-match", None),
    (0, "eq-declared", {"graduates_hired": 2}),
    (1, "eq-declared", {"graduates_hired": 1}),
    (4, "eq-declared", {"graduates_hired": 3}),
    (3, "eq-declared", None),
]


def _normal(payload):
    if isinstance(payload, dict):
        return {k: ("#" if k in IDS or k.endswith("_id") else _normal(v)) for k, v in payload.items()}
    if isinstance(payload, list):
        return [_normal(v) for v in payload]
    return payload


def _run(engine, db_url, tmp_path, on_driver: bool):
    publish(engine, tmp_path / "p", [dict(spec) for spec in SPECS])
    codes = [add_enterprise(engine, i, facts) for i, facts in enumerate(FIRMS)]
    # the 失信 list settles the firms without a value (3: not on it; 4: listed, refused) on both paths
    (tmp_path / "dd.csv").write_text(f"uscc\n{codes[2]}\n{codes[4]}\n", encoding="utf-8")
    assert import_roster(engine, "失信被执行人", tmp_path / "dd.csv", FACTS_AS_OF).committed
    with session_scope(engine) as s:
        key = auth.create_key(s, "system")[1]
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "APPLICATIONS_ON_DRIVER": on_driver})
    client = app.test_client()
    answers = []
    for n, (who, slug, declared) in enumerate(REQUESTS):
        r = apply(client, key, codes[who], slug, f"eq-{n}", declared)
        answers.append((r.status_code, _normal(r.json)))
    with session_scope(engine) as s:
        slug_of = dict(s.execute(select(Policy.id, Policy.slug)).all())
        decisions = [
            (
                d.enterprise_id,
                d.outcome,
                d.settlement,
                d.reason,
                d.amount,
                d.trace,
                d.steps,
                d.missing,
                d.as_of,
                d.application_id is not None,
            )
            for d in s.scalars(select(DecisionRow).order_by(DecisionRow.id))
        ]
        payouts = [
            (slug_of[p.policy_id], p.enterprise_id, p.period, p.seq, p.amount, p.status, p.decision_id is not None)
            for p in s.scalars(select(Payout).order_by(Payout.id))
        ]
        applications = [
            (a.enterprise_id, a.status, a.declared) for a in s.scalars(select(Application).order_by(Application.id))
        ]
        claims = [
            (c.enterprise_id, c.exclusive_group, c.period, c.paid, c.best, slug_of[c.best_policy_id])
            for c in s.scalars(select(GroupClaim).order_by(GroupClaim.enterprise_id))
        ]
        records = [
            (r.actor[:7], r.action, r.subject, _normal(r.payload))
            for r in s.scalars(select(AuditRecord).order_by(AuditRecord.seq))
        ]
    return answers, decisions, payouts, applications, claims, records


def test_the_driver_path_and_the_session_path_give_the_same_answers_and_rows(db_url, tmp_path):
    from conftest import _reset_postgres

    from service.store import make_engine, upgrade

    if not db_url.startswith("postgresql"):
        pytest.skip("the driver path is PostgreSQL's; SQLite has the session path only")
    results = []
    for on_driver in (True, False):
        _reset_postgres(db_url)
        upgrade(db_url)
        results.append(_run(make_engine(db_url), db_url, tmp_path / str(on_driver), on_driver))
    driver, session = results
    outcomes = [a[1].get("outcome") for a in driver[0]]
    assert {"paid", "already_paid", "outranked", "refused", "not_eligible", "budget_exhausted"} <= set(outcomes)
    for name, ours, theirs in zip(
        ("answers", "decisions", "payouts", "applications", "claims", "audit"), driver, session
    ):
        assert ours == theirs, name
