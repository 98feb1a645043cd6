"""What users found on the payout path (issue 10), each reproduced: every one failed on the starting commit."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from decimal import Decimal
from importlib import resources
from pathlib import Path

from click.testing import CliRunner
from ledger_world import (
    FACTS_AS_OF,
    add_enterprise,
    apply,
    budgets_add_up,
    every_decision_row_is_audited,
    paid_by_policy,
    publish,
    set_fact,
    system_key,
)
from policy_specs import measure
from sqlalchemy import func, select, update

from service.app import create_app
from service.cli import main
from service.ledger.sweeps import run_sweep
from service.store import session_scope
from service.store.models import AuditRecord, Budget, Clawback, Payout, Policy
from service.store.models import Decision as DecisionRow

D = Decimal
SHENZHEN_RD = Path(str(resources.files("matcher").joinpath("policies"))) / "sz-yanfa-touru-buzhu.yaml"


def _counts(engine):
    with session_scope(engine) as s:
        return (
            s.scalar(select(func.count(DecisionRow.id))),
            s.scalar(select(func.count(AuditRecord.seq))),
            s.scalar(select(func.count(Payout.id))),
        )


def test_a_computed_threshold_is_decided_and_explained_not_a_500(engine, db_url, tmp_path):
    """sz-yanfa-touru-buzhu compares rd_expense − rd_expense_prev with 2,000,000: it answered HTTP 500
    (Decimals in the trace) and explained itself as "条件 None，低于要求的 [Decimal(...), '2000000']"."""
    folder = tmp_path / "p"
    folder.mkdir()
    shutil.copy(SHENZHEN_RD, folder)
    from service.io.importer import import_policies

    assert import_policies(engine, folder).committed
    clean = {
        "on_dishonesty_list": False,
        "in_abnormal_operation": False,
        "on_serious_dishonesty_list": False,
        "research_integrity_restricted": False,
        "rd_super_deduction": True,
        "rd_super_deduction_prev": True,
    }
    short = add_enterprise(
        engine, 1, {**clean, "rd_expense": "6500000.00", "rd_expense_prev": "5000000.00"}, region="440305"
    )
    good = add_enterprise(engine, 2, {**clean, "rd_expense": "8000000.00", "rd_expense_prev": "5000000.00"}, "440305")
    client = create_app({"DATABASE_URL": db_url, "TESTING": True}).test_client()
    key = system_key(engine)
    no = apply(client, key, short, "sz-yanfa-touru-buzhu", "r1")
    assert no.status_code == 201, no.json
    assert no.json["outcome"] == "not_eligible"
    assert "上年度研发费用 − 前年度研发费用 150万元，低于要求的 200万元，还差 50万元" in no.json["trace"]
    yes = apply(client, key, good, "sz-yanfa-touru-buzhu", "r2").json
    assert yes["outcome"] == "pending_review" and yes["amount"] == "300000.00"
    assert "成立年限 11年，达到要求的 2年" in yes["trace"]
    assert any("（上年度研发费用 800万元 − 前年度研发费用 500万元）× 10% = 30万元" in s for s in yes["steps"])
    with session_scope(engine) as s:
        for row in s.scalars(select(DecisionRow)):
            for leaf in row.trace:
                assert "None" not in leaf["sentence"] and "Decimal" not in leaf["sentence"]
    every_decision_row_is_audited(engine)


def test_money_is_never_decided_for_a_future_date(engine, db_url, tmp_path, monkeypatch):
    """A sweep as of 2027-06-30 run on 2026-11-30 created payouts for period 2027."""
    publish(engine, tmp_path / "p", [measure("auto-now", "automatic", "100.00")])
    add_enterprise(engine, 1, {"insured_employees": 5})
    future = (dt.date.today() + dt.timedelta(days=200)).isoformat()
    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    refused = CliRunner().invoke(main, ["sweep", "--as-of", future])
    assert refused.exit_code != 0 and "未来日期" in refused.output and "--dry-run" in refused.output
    simulated = CliRunner().invoke(main, ["sweep", "--as-of", future, "--dry-run"])
    assert simulated.exit_code == 0 and "可兑现 1" in simulated.output
    assert _counts(engine) == (0, 1, 0)  # the policy's publication only
    client = create_app({"DATABASE_URL": db_url, "TESTING": True}).test_client()
    r = client.post(
        "/api/sweeps",
        json={"scope": "all", "as_of": future},
        headers={"Authorization": f"Bearer {system_key(engine, 'officer')}", "Idempotency-Key": "f1"},
    )
    assert r.status_code == 400 and "未来日期" in r.json["detail"]
    assert _counts(engine)[0] == 0


def test_a_resweep_leaves_paid_firms_untouched_even_when_the_budget_is_spent(engine, tmp_path):
    """Re-sweeping after the budget ran out recorded already-paid firms as budget_exhausted, and every
    no-op re-sweep wrote a decision row per paid firm with no audit record."""
    publish(engine, tmp_path / "p", [measure("auto-tight", "automatic", "100.00", "300.00")])
    firms = [add_enterprise(engine, i, {"insured_employees": 5}) for i in range(5)]
    first = run_sweep(engine)[0]
    assert first.outcomes == {"paid": 3, "budget_exhausted": 2}
    rows, records, payouts = _counts(engine)
    again = run_sweep(engine)[0]
    assert again.outcomes == {"already_paid": 3, "budget_exhausted": 2}
    with session_scope(engine) as s:
        settlements = s.execute(
            select(DecisionRow.settlement, func.count()).where(DecisionRow.id > rows).group_by(DecisionRow.settlement)
        ).all()
    assert dict(settlements) == {"budget_exhausted": 2}  # the unpaid two, decided again; the paid three untouched
    with session_scope(engine) as s:
        s.execute(update(Budget).values(total=Budget.reserved + Budget.paid))
    before = _counts(engine)
    run_sweep(engine)
    after = _counts(engine)
    assert after[2] == before[2] == payouts and after[0] - before[0] == 2  # only the two refused for budget
    assert sum(len(paid_by_policy(engine, f)) for f in firms) == 3
    every_decision_row_is_audited(engine)
    budgets_add_up(engine)


def test_a_revision_claws_back_only_the_difference_and_lists_no_one(engine, db_url, tmp_path):
    """A verified revision lowering an entitlement clawed back the whole payout and put the enterprise on
    the 失信 list, so every later decision refused it."""
    rd = {">=": [{"var": "rd_expense"}, "1000000"]}
    publish(
        engine,
        tmp_path / "p",
        [
            measure("rd-subsidy", amount={"*": [{"var": "rd_expense"}, "0.1"]}, cap="3000000.00", conditions=rd),
            measure("other-subsidy", amount="100.00"),
        ],
    )
    firm = add_enterprise(engine, 1, {"rd_expense": "5000000.00", "insured_employees": 3})
    client = create_app({"DATABASE_URL": db_url, "TESTING": True}).test_client()
    key, officer = system_key(engine), system_key(engine, "officer")
    paid = apply(client, key, firm, "rd-subsidy", "v1").json
    assert (paid["outcome"], paid["amount"]) == ("paid", "500000.00")
    set_fact(engine, firm, "rd_expense", "3000000.00", FACTS_AS_OF)  # 税务 corrects last year's figure

    def revise(idem, status=201):
        r = client.post(
            f"/api/payouts/{paid['payout_id']}/revision",
            json={"reason": "税务部门更正上年度研发费用"},
            headers={"Authorization": f"Bearer {officer}", "Idempotency-Key": idem},
        )
        assert r.status_code == status, r.json
        return r.json["items"][0] if status == 201 else r.json

    early = revise("v1b", 409)  # not confirmed by the bank yet: nothing to take back, nothing written
    assert "尚未到账" in early["detail"]
    with session_scope(engine) as s:  # the bank confirms it
        s.execute(update(Payout).values(status="confirmed"))
        s.execute(update(Budget).where(Budget.reserved > 0).values(paid=Budget.reserved, reserved=0))
        assert s.scalar(select(func.count(Clawback.id))) == 0

    down = revise("v2")
    assert (down["outcome"], down["amount"]) == ("clawed_back", "200000.00") and "追回多付" in down["reason"]
    with session_scope(engine) as s:
        assert s.scalar(select(func.sum(Clawback.amount))) == D("200000.00")
        assert s.scalars(select(Clawback.kind)).all() == ["revision"]
        assert s.scalar(select(Budget.paid).join(Policy).where(Policy.slug == "rd-subsidy")) == D("300000.00")
    assert apply(client, key, firm, "other-subsidy", "v3").json["outcome"] == "paid"  # not listed: still served
    set_fact(engine, firm, "rd_expense", "6000000.00", FACTS_AS_OF)
    up = revise("v4")
    assert (up["outcome"], up["amount"]) == ("topped_up", "300000.00")
    assert revise("v5")["outcome"] == "unchanged"
    assert paid_by_policy(engine, firm)["rd-subsidy"] == D("600000.00")
    with session_scope(engine) as s:
        seqs = select(Payout.seq).join(Policy).where(Policy.slug == "rd-subsidy").order_by(Payout.seq)
        assert s.scalars(seqs).all() == [0, 1]  # the grant, then the top-up
    every_decision_row_is_audited(engine)
    budgets_add_up(engine)


def test_the_readme_demo_runs_without_the_postgres_extra(tmp_path):
    """`pip install -e .` then `zhida demo` crashed at create_app: psycopg was imported at module level."""
    args = ["demo", "--dir", str(tmp_path / "d"), "--enterprises", "150", "--no-serve"]
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from click.testing import CliRunner\n"
        "from service.cli import main\n"
        f"r = CliRunner().invoke(main, {args!r})\n"
        "assert r.exit_code == 0, (r.output, r.exception)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_cli_revises_and_claws_back(engine, db_url, tmp_path, monkeypatch):
    rd = {">=": [{"var": "rd_expense"}, "1000000"]}
    publish(engine, tmp_path / "p", [measure("rd-cli", amount={"*": [{"var": "rd_expense"}, "0.1"]}, conditions=rd)])
    firm = add_enterprise(engine, 1, {"rd_expense": "5000000.00"})
    client = create_app({"DATABASE_URL": db_url, "TESTING": True}).test_client()
    paid = apply(client, system_key(engine), firm, "rd-cli", "c1").json
    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    runner = CliRunner()
    same = runner.invoke(main, ["payouts", "revise", str(paid["payout_id"]), "--officer", "王", "--reason", "更正"])
    assert same.exit_code == 0 and "应得金额未变" in same.output  # nothing changed yet
    set_fact(engine, firm, "rd_expense", "3000000.00", FACTS_AS_OF)
    early = runner.invoke(main, ["payouts", "revise", str(paid["payout_id"]), "--officer", "王", "--reason", "更正"])
    assert early.exit_code != 0 and "尚未到账" in early.output  # money not confirmed by the bank cannot come back
    stop = runner.invoke(
        main, ["payouts", "clawback", str(paid["payout_id"]), "--officer", "王", "--reason", "申报不实"]
    )
    assert stop.exit_code == 0 and "已止付 500000.00 元" in stop.output
    budgets_add_up(engine)
