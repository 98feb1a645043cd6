"""Payouts under concurrency: never twice, never over budget, never to the blacklisted."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from policy_specs import insured_employee_subsidy
from sqlalchemy import func, select, update

from matcher.decision import Decision
from matcher.settlement import Unit, after, plan
from matcher.spec import parse_spec
from service import audit
from service.ledger.executor import Target, execute, read_ledgers
from service.ledger.facts import VersionRef, spec_of
from service.ledger.units import settle_unit
from service.store import session_scope, write_scope
from service.store.models import Budget, Enterprise, Payout, Policy, PolicyVersion

AS_OF = dt.date(2026, 6, 30)
TODAY = dt.date.today()
SPEC = parse_spec(insured_employee_subsidy("test-reward", "instant", "1000.00", "10000.00"))


@pytest.fixture
def setup(engine):
    """One policy with a budget of 10,000.00 and 40 enterprises."""
    with session_scope(engine) as s:
        policy = Policy(slug="test-reward", status="published", current_version=1)
        s.add(policy)
        s.flush()
        pv = PolicyVersion(
            policy_id=policy.id,
            version=1,
            spec=SPEC.to_json(),
            spec_hash=SPEC.spec_hash,
            name="测试奖励",
            mode="instant",
            region="320100",
            valid_from=dt.date(2026, 1, 1),
            valid_to=dt.date(2026, 12, 31),
            budget=Decimal("10000.00"),
        )
        s.add_all([pv, Budget(policy_id=policy.id, total=Decimal("10000.00"))])
        from matcher.uscc import make

        ents = [
            Enterprise(uscc=make("320102", i + 1), name=f"测试{i}", region="320102", industry="C3911")
            for i in range(40)
        ]
        s.add_all(ents)
        s.flush()
        return engine, policy.id, pv.id, [e.id for e in ents]


class Settled:
    def __init__(self, outcome, written):
        self.outcome, self.reason, self.amount = outcome.settlement, outcome.reason, outcome.amount
        self.payout_id = written.payout_id


def _target(s, pv_id, enterprise_id):
    ent, pv = s.get(Enterprise, enterprise_id), s.get(PolicyVersion, pv_id)
    return Target(ent.id, ent.uscc, {"test-reward": VersionRef(pv.id, pv.policy_id, pv.version, pv.spec_hash)})


def _settle(engine, pv_id, enterprise_id, amount="1000.00", facts=None, results=None):
    """Settle an eligible decision of ``amount`` (the rules' answer is given: this tests the ledger)."""
    decision = Decision("test-reward", "eligible", Decimal(amount), as_of=AS_OF)
    with write_scope(engine) as s:
        target = _target(s, pv_id, enterprise_id)
        unit = Unit(spec_of(s.get(PolicyVersion, pv_id)))
        p, written, _ = settle_unit(s, target, unit, decision, facts or {}, {}, AS_OF, TODAY, "system:test")
    result = Settled(p.outcome("test-reward"), written["test-reward"])
    if results is not None:
        results.append(result.outcome)
    return result


def _run_concurrently(fns):
    barrier = threading.Barrier(len(fns))
    errors = []

    def run(fn):
        barrier.wait()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_fifty_identical_applications_pay_once(setup):
    engine, policy_id, pv_id, ents = setup
    results = []
    _run_concurrently([lambda: _settle(engine, pv_id, ents[0], results=results) for _ in range(50)])
    assert sorted(set(results)) == ["already_paid", "paid"] and results.count("paid") == 1
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Payout.id))) == 1
        assert s.get(Budget, policy_id).reserved == Decimal("1000.00")
        assert audit.verify(s) is None


def test_budget_for_k_payouts_pays_exactly_k_under_32_deciders(setup):
    engine, policy_id, pv_id, ents = setup
    results = []
    _run_concurrently([lambda e=e: _settle(engine, pv_id, e, "1500.00", results=results) for e in ents[:32]])
    assert results.count("paid") == 6 and results.count("budget_exhausted") == 26  # 6 × 1,500 ≤ 10,000 < 7 × 1,500
    with session_scope(engine) as s:
        budget = s.get(Budget, policy_id)
        paid = s.scalar(select(func.sum(Payout.amount)))
        assert budget.reserved == paid == Decimal("9000.00") and budget.total - budget.reserved >= 0
        assert audit.verify(s) is None


def test_blacklisted_enterprises_are_refused_with_the_reason(setup):
    engine, policy_id, pv_id, ents = setup
    r = _settle(engine, pv_id, ents[1], facts={"on_dishonesty_list": True})
    assert r.outcome == "refused" and "失信" in r.reason
    r = _settle(engine, pv_id, ents[2], facts={"in_abnormal_operation": True})
    assert r.outcome == "refused" and "经营异常" in r.reason
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Payout.id))) == 0
        assert s.get(Budget, policy_id).reserved == 0


def test_a_failed_transaction_leaves_no_trace(setup):
    engine, policy_id, pv_id, ents = setup
    with pytest.raises(RuntimeError), write_scope(engine) as s:
        target = _target(s, pv_id, ents[3])
        decision = Decision("test-reward", "eligible", Decimal("100.00"), as_of=AS_OF)
        unit = Unit(spec_of(s.get(PolicyVersion, pv_id)))
        settle_unit(s, target, unit, decision, {}, {}, AS_OF, TODAY, "system:test")
        raise RuntimeError("crash between decision and commit")
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Payout.id))) == 0 and s.get(Budget, policy_id).reserved == 0
        assert audit.count(s) == 0


def test_budget_exhausted_is_an_outcome_not_a_payout(setup):
    engine, policy_id, pv_id, ents = setup
    with session_scope(engine) as s:
        s.execute(update(Budget).where(Budget.policy_id == policy_id).values(total=Decimal("500.00")))
    r = _settle(engine, pv_id, ents[4], "500.01")
    assert r.outcome == "budget_exhausted" and "预算" in r.reason
    assert _settle(engine, pv_id, ents[4], "500.00").outcome == "paid"


def test_batch_settlement_matches_settling_one_by_one(setup):
    """A sweep's many plans, each made on the ledger the previous ones leave, written in one go."""
    engine, policy_id, pv_id, ents = setup
    assert _settle(engine, pv_id, ents[0], "1500.00").outcome == "paid"  # paid before the batch
    with write_scope(engine) as s:
        unit = Unit(spec_of(s.get(PolicyVersion, pv_id)))
        ledgers, remaining = read_ledgers(s, ents[:10], {"test-reward": policy_id}, [], "2026", lock_budgets=True)
        plans = []
        for k, eid in enumerate(ents[:10]):
            facts = {"on_dishonesty_list": True} if k == 1 else {}
            decision = Decision("test-reward", "eligible", Decimal("1500.00"), as_of=AS_OF)
            ledger = type(ledgers[eid])(ledgers[eid].paid, {}, remaining)
            p = plan(unit, (decision,), facts, ledger, AS_OF, TODAY, sweep=True)
            remaining = after(ledger, p).remaining
            plans.append((_target(s, pv_id, eid), p))
        execute(s, plans, "system:test")
        outcomes = [p.outcome("test-reward").settlement for _, p in plans]
    # 8,500 left after the first payout: five more fit, the rest are refused for budget
    assert outcomes == ["already_paid", "refused"] + ["paid"] * 5 + ["budget_exhausted"] * 3
    with session_scope(engine) as s:
        assert s.get(Budget, policy_id).reserved == Decimal("9000.00")
        assert s.scalar(select(func.count(Payout.id))) == 6
        assert audit.verify(s) is None


def test_money_arithmetic_in_the_database_is_exact(setup):
    """0.10 + 0.10 + 0.10 is exactly 0.30: the budget takes three, not two (floats would say otherwise)."""
    engine, policy_id, pv_id, ents = setup
    with session_scope(engine) as s:
        s.execute(update(Budget).where(Budget.policy_id == policy_id).values(total=Decimal("0.30")))
    outcomes = [_settle(engine, pv_id, e, "0.10").outcome for e in ents[:4]]
    assert outcomes == ["paid", "paid", "paid", "budget_exhausted"]
    with session_scope(engine) as s:
        b = s.get(Budget, policy_id)
        assert (b.total, b.reserved) == (Decimal("0.30"), Decimal("0.30"))


def test_a_finding_claws_back_or_stops_a_payout_without_listing_the_enterprise(setup):
    from service.ledger.clawbacks import claw_back, list_enterprise
    from service.ledger.facts import facts_as_of
    from service.store.models import Clawback

    engine, policy_id, pv_id, ents = setup
    unsent = _settle(engine, pv_id, ents[5], "800.00")
    confirmed = _settle(engine, pv_id, ents[6], "700.00")
    with session_scope(engine) as s:
        s.execute(update(Payout).where(Payout.id == confirmed.payout_id).values(status="confirmed"))
        s.execute(update(Budget).where(Budget.policy_id == policy_id).values(reserved=Budget.reserved - 700, paid=700))
    with write_scope(engine) as s:
        stopped = claw_back(s, unsent.payout_id, "申报的吸纳高校毕业生人数与社保记录不符", "officer:zk_test")
        taken = claw_back(s, confirmed.payout_id, "申报不实", "officer:zk_test", amount="300.00")
    assert stopped["action"] == "stopped" and taken["action"] == "clawed_back" and taken["amount"] == "300.00"
    with session_scope(engine) as s:
        b = s.get(Budget, policy_id)
        assert (b.reserved, b.paid) == (Decimal("0.00"), Decimal("400.00"))  # both restored to the budget
        assert s.get(Payout, unsent.payout_id).status == "cancelled"
        assert s.scalar(select(func.sum(Clawback.amount))) == Decimal("300.00")
        facts, _ = facts_as_of(s, s.get(Enterprise, ents[5]), dt.date.today())
        assert facts.get("on_dishonesty_list") is None  # a finding does not list anyone
        assert audit.verify(s) is None
    with write_scope(engine) as s:  # listing is the officer's own, separate act
        uscc = s.get(Enterprise, ents[5]).uscc
        list_enterprise(s, uscc, "on_dishonesty_list", "虚假申报", "officer:zk_test", dt.date.today())
    with session_scope(engine) as s:
        facts, sources = facts_as_of(s, s.get(Enterprise, ents[5]), dt.date.today())
        assert facts["on_dishonesty_list"] is True and sources["on_dishonesty_list"] == "credit"
    r = _settle(engine, pv_id, ents[7], "100.00", facts={"on_dishonesty_list": True})
    assert r.outcome == "refused"
