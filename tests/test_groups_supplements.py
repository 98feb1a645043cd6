"""就高不重复 and 配套 wherever money is decided: applications, sweeps, concurrency, and the database itself."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from ledger_world import (
    add_enterprise,
    apply,
    budgets_add_up,
    every_decision_row_is_audited,
    group_claim,
    paid_by_policy,
    publish,
    system_key,
)
from policy_specs import measure
from serving import zhida_serve
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from service.app import create_app
from service.ledger.sweeps import run_sweep
from service.store import session_scope
from service.store.models import Enterprise, GroupClaim, Policy

D = Decimal
FIRM = {"insured_employees": 12, "on_dishonesty_list": False, "in_abnormal_operation": False}


@pytest.fixture
def city(engine, db_url, tmp_path):
    def make(specs, firms=1):
        publish(engine, tmp_path / "policies", specs)
        codes = [add_enterprise(engine, i, FIRM) for i in range(firms)]
        app = create_app({"DATABASE_URL": db_url, "TESTING": True, "AUTO_UPGRADE": False})
        return app.test_client(), system_key(engine), codes

    return make


def test_a_higher_measure_after_a_lower_one_pays_only_the_difference(city, engine):
    client, key, (firm,) = city(
        [
            measure("g-high", amount="300000.00", group="g"),
            measure("g-mid", amount="200000.00", group="g"),
            measure("g-low", amount="100000.00", group="g"),
        ]
    )
    mid = apply(client, key, firm, "g-mid", "a1").json
    assert (mid["outcome"], mid["amount"]) == ("paid", "200000.00")
    high = apply(client, key, firm, "g-high", "a2").json
    assert (high["outcome"], high["amount"], high["entitlement"]) == ("paid", "100000.00", "300000.00")
    assert "就高不重复" in high["reason"] and "g-mid" in high["reason"] and "补足差额" in high["reason"]
    low = apply(client, key, firm, "g-low", "a3").json
    assert low["outcome"] == "outranked" and low["amount"] is None and low["winner"] == "g-high"
    assert "g-high" in low["reason"] and "不再兑现" in low["reason"]
    assert apply(client, key, firm, "g-mid", "a4").json["outcome"] == "already_paid"
    assert paid_by_policy(engine, firm) == {"g-high": D("100000.00"), "g-mid": D("200000.00")}
    claim = group_claim(engine, firm, "g")
    assert (claim.paid, claim.best) == (D("300000.00"), D("300000.00"))
    budgets_add_up(engine)
    every_decision_row_is_audited(engine)


def test_the_database_refuses_a_group_paid_above_its_best(city, engine):
    client, key, (firm,) = city([measure("g-one", amount="500.00", group="g")])
    apply(client, key, firm, "g-one", "b1")
    with pytest.raises(IntegrityError), session_scope(engine) as s:
        claim = s.scalars(select(GroupClaim)).one()
        claim.paid = claim.best + D("0.01")


def test_a_supplement_is_paid_with_its_parent(city, engine):
    client, key, (firm,) = city(
        [
            measure("city-reward", amount="3000000.00", budget="10000000.00"),
            measure(
                "district-match",
                amount={"*": [{"var": "parent_amount"}, "0.5"]},
                cap="1000000.00",
                supplement_of="city-reward",
            ),
        ]
    )
    r = apply(client, key, firm, "city-reward", "s1").json
    assert (r["outcome"], r["amount"]) == ("paid", "3000000.00")
    (sup,) = r["supplements"]
    assert (sup["policy_id"], sup["outcome"], sup["amount"]) == ("district-match", "paid", "1000000.00")
    direct = apply(client, key, firm, "district-match", "s2")
    assert direct.status_code == 422 and "city-reward" in direct.json["detail"]
    assert paid_by_policy(engine, firm) == {"city-reward": D("3000000.00"), "district-match": D("1000000.00")}
    with session_scope(engine) as s:
        from service.store.models import Decision as Row

        steps = [step["sentence"] for row in s.scalars(select(Row)) for step in row.steps or []]
    assert any("上级政策（city-reward）兑现金额 300万元 × 50% = 150万元" in t for t in steps), steps
    assert any("超过上限，按上限 100万元" in t for t in steps), steps
    every_decision_row_is_audited(engine)


def test_a_supplement_is_not_paid_when_its_parent_is_not(city, engine):
    no = {"<": [{"var": "insured_employees"}, 0]}
    client, key, (firm,) = city(
        [
            measure("never-parent", conditions=no),
            measure("never-match", amount={"var": "parent_amount"}, supplement_of="never-parent"),
        ]
    )
    r = apply(client, key, firm, "never-parent", "n1").json
    assert r["outcome"] == "not_eligible" and r["supplements"][0]["outcome"] in ("not_eligible", "parent_unpaid")
    assert paid_by_policy(engine, firm) == {}


def test_a_parent_with_its_supplements_competes_as_one_unit(city, engine):
    client, key, (firm,) = city(
        [
            measure("unit-parent", amount="600000.00", group="u"),
            measure("unit-match", amount={"*": [{"var": "parent_amount"}, "0.5"]}, supplement_of="unit-parent"),
            measure("unit-rival", amount="800000.00", group="u"),
        ]
    )
    assert apply(client, key, firm, "unit-rival", "u1").json["amount"] == "800000.00"
    r = apply(client, key, firm, "unit-parent", "u2").json  # 600,000 + 300,000 = 900,000 > 800,000
    assert (r["outcome"], r["amount"]) == ("paid", "100000.00")
    assert r["supplements"][0]["outcome"] == "outranked"
    claim = group_claim(engine, firm, "u")
    assert (claim.paid, claim.best) == (D("900000.00"), D("900000.00"))
    assert sum(paid_by_policy(engine, firm).values()) == D("900000.00")


def test_a_sweep_pays_the_best_of_a_group_and_says_why_the_others_were_not(engine, tmp_path):
    publish(
        engine,
        tmp_path / "policies",
        [
            measure("auto-small", "automatic", "200000.00", group="zx"),
            measure("auto-big", "automatic", "1000000.00", "5000000.00", group="zx"),
            measure("auto-big-match", "automatic", {"*": [{"var": "parent_amount"}, "0.1"]}, supplement_of="auto-big"),
        ],
    )
    firm = add_enterprise(engine, 1, FIRM)
    reports = {r.policy_id: r for r in run_sweep(engine)}
    assert paid_by_policy(engine, firm) == {"auto-big": D("1000000.00"), "auto-big-match": D("100000.00")}
    small = reports["auto-small"]
    assert small.outcomes["outranked"] == 1 and small.winners["auto-big"] == 1
    assert "按较高者兑现：auto-big 1 家" in small.line()
    again = run_sweep(engine)  # a re-sweep touches nothing
    assert all(set(r.outcomes) <= {"already_paid", "outranked"} for r in again)
    every_decision_row_is_audited(engine)


def test_the_catalogue_refuses_a_supplement_or_group_that_cannot_work(engine, tmp_path):
    from service.io.importer import import_policies

    folder = tmp_path / "bad"
    folder.mkdir()
    import yaml

    for spec in (
        measure("parent-a"),
        measure("match-a", "automatic", {"var": "parent_amount"}, supplement_of="parent-a"),
        measure("grp-a", group="mixed"),
        measure("grp-b", group="mixed", period="once"),
        measure("orphan", amount={"var": "parent_amount"}, supplement_of="no-such-parent"),
    ):
        (folder / f"{spec['id']}.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    report = import_policies(engine, folder)
    assert not report.committed
    reasons = " ".join(e.reason for e in report.errors)
    assert "兑现方式和周期一致" in reasons and "同一周期" in reasons and "no-such-parent 未发布" in reasons
    with session_scope(engine) as s:
        assert s.scalars(select(Policy)).all() == []  # nothing written


@pytest.mark.slow
def test_a_sweep_and_32_concurrent_applications_across_one_group_pay_one(engine, db_url, tmp_path):
    """Every measure of the group at once for one enterprise: in all, exactly the best entitlement is paid."""
    from test_http_concurrency import storm

    publish(
        engine,
        tmp_path / "policies",
        [
            measure("race-a", amount="300000.00", group="race"),
            measure("race-b", amount="200000.00", group="race"),
            measure("race-c", amount="100000.00", group="race"),
            measure("race-auto", "automatic", "250000.00", group="race"),
        ],
    )
    firm = add_enterprise(engine, 1, FIRM)
    key = system_key(engine)
    requests = [
        ({"uscc": firm, "policy_id": f"race-{'abc'[i % 3]}", "commitment": True}, f"race-{i}") for i in range(32)
    ]
    with zhida_serve(db_url, tmp_path / "serve.log", workers=3) as port:
        swept = threading.Thread(target=run_sweep, args=(engine,))
        swept.start()
        answers = storm(port, key, requests)
        swept.join()
    assert all(status == 201 for status, _ in answers), answers[:3]
    paid = paid_by_policy(engine, firm)
    assert sum(paid.values()) == D("300000.00"), paid
    claim = group_claim(engine, firm, "race")
    assert (claim.paid, claim.best) == (D("300000.00"), D("300000.00"))
    with session_scope(engine) as s:
        assert s.scalar(select(Enterprise.id).where(Enterprise.uscc == firm)) is not None
    budgets_add_up(engine)
    every_decision_row_is_audited(engine)


def test_a_sweeps_rows_keep_their_facts_and_explain_themselves_when_read(engine, tmp_path):
    import json

    from matcher.decision import Decision
    from service.ledger.facts import explanation
    from service.store.models import Decision as Row

    rd = {">=": [{"var": "rd_expense"}, "1000000"]}
    formula = {"*": [{"-": [{"var": "rd_expense"}, {"var": "rd_expense_prev"}]}, "0.1"]}
    publish(engine, tmp_path / "p", [measure("auto-rd", "automatic", formula, "9000000.00", conditions=rd)])
    add_enterprise(engine, 1, {"rd_expense": "8000000.00", "rd_expense_prev": "5000000.00"})
    run_sweep(engine)
    with session_scope(engine) as s:
        (row,) = s.scalars(select(Row)).all()
        assert row.settlement == "paid" and row.trace == [] and row.facts["rd_expense"] == "8000000.00"
        d = explanation(s, row)
    assert d.outcome == "eligible" and d.amount == row.amount == D("300000.00")
    assert "上年度研发费用 800万元，达到要求的 100万元" in [leaf.sentence for leaf in d.trace]
    assert d.steps[0].sentence == "（上年度研发费用 800万元 − 前年度研发费用 500万元）× 10% = 30万元"
    assert Decision.from_json(json.loads(json.dumps(d.to_json()))) == d
