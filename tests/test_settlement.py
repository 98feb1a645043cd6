"""The settlement planner on its own: pure, no database — the rules of money, each on both sides."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from policy_specs import measure

from matcher.decision import Decision
from matcher.settlement import (
    Claim,
    FutureDecision,
    Ledger,
    Paid,
    Part,
    RevisionBlocked,
    Unit,
    plan,
    plan_revision,
)
from matcher.spec import parse_spec

D = Decimal
AS_OF = dt.date(2026, 6, 30)
TODAY = dt.date(2026, 11, 30)
PLENTY = {"aaa": D("1e6"), "aaa-match": D("1e6")}


def unit(group=None, match=False):
    root = parse_spec(measure("aaa", group=group))
    sup = (parse_spec(measure("aaa-match", amount={"var": "parent_amount"}, supplement_of="aaa")),) if match else ()
    return Unit(root, sup)


def eligible(policy, amount):
    return Decision(policy, "eligible", D(amount), as_of=AS_OF)


def paid(amount, status="confirmed", clawed="0.00"):
    return Paid(7, status, D(amount), (Part(7, 0, D(amount), D(clawed), status),))


def test_money_is_never_planned_for_a_later_date():
    with pytest.raises(FutureDecision):
        plan(unit(), (eligible("aaa", "100"),), {}, Ledger(remaining=PLENTY), TODAY + dt.timedelta(days=1), TODAY)


def test_what_is_paid_stays_paid_even_for_a_firm_listed_since():
    p = plan(
        unit(), (eligible("aaa", "100"),), {"on_dishonesty_list": True}, Ledger({"aaa": paid("100")}), AS_OF, TODAY
    )
    assert p.outcomes[0].settlement == "already_paid" and not p.grants
    swept = plan(unit(), (eligible("aaa", "100"),), {}, Ledger({"aaa": paid("100")}), AS_OF, TODAY, sweep=True)
    assert swept.outcomes[0].record is False  # a re-sweep leaves it untouched


def test_a_listed_firm_is_refused_and_an_unlisted_one_paid():
    refused = plan(unit(), (eligible("aaa", "100"),), {"in_abnormal_operation": True}, Ledger(), AS_OF, TODAY)
    assert refused.outcomes[0].settlement == "refused" and "经营异常" in refused.outcomes[0].reason
    ok = plan(
        unit(), (eligible("aaa", "100"),), {"in_abnormal_operation": False}, Ledger(remaining=PLENTY), AS_OF, TODAY
    )
    assert ok.outcomes[0].settlement == "paid" and ok.grants[0].amount == D("100")


def test_the_budget_must_hold_the_whole_amount():
    short = plan(unit(), (eligible("aaa", "100.00"),), {}, Ledger(remaining={"aaa": D("99.99")}), AS_OF, TODAY)
    assert short.outcomes[0].settlement == "budget_exhausted" and not short.grants
    exact = plan(unit(), (eligible("aaa", "100.00"),), {}, Ledger(remaining={"aaa": D("100.00")}), AS_OF, TODAY)
    assert exact.grants[0].amount == D("100.00")


def test_a_group_pays_the_difference_or_nothing():
    ledger = Ledger(claims={"g": Claim(D("300"), D("300"), "b")}, remaining=PLENTY)
    higher = plan(unit("g"), (eligible("aaa", "500"),), {}, ledger, AS_OF, TODAY)
    assert higher.grants[0].amount == D("200") and higher.claim.expected == D("300")
    assert (higher.claim.paid, higher.claim.best, higher.claim.best_policy) == (D("500"), D("500"), "aaa")
    equal = plan(unit("g"), (eligible("aaa", "300"),), {}, ledger, AS_OF, TODAY)
    assert equal.outcomes[0].settlement == "outranked" and equal.outcomes[0].winner == "b" and not equal.grants


def test_a_supplement_is_paid_only_beside_its_parent():
    both = plan(
        unit(match=True),
        (eligible("aaa", "100"), eligible("aaa-match", "50")),
        {},
        Ledger(remaining=PLENTY),
        AS_OF,
        TODAY,
    )
    assert [g.policy_id for g in both.grants] == ["aaa", "aaa-match"]
    poor = Ledger(remaining={"aaa": D("0"), "aaa-match": D("1e6")})
    alone = plan(unit(match=True), (eligible("aaa", "100"), eligible("aaa-match", "50")), {}, poor, AS_OF, TODAY)
    assert [o.settlement for o in alone.outcomes] == ["budget_exhausted", "parent_unpaid"]


def test_a_review_measure_queues_instead_of_paying_and_nothing_due_pays_nothing():
    queued = plan(unit(), (eligible("aaa", "100"),), {}, Ledger(remaining=PLENTY), AS_OF, TODAY, review=True)
    assert queued.outcomes[0].settlement == "pending_review" and not queued.grants
    zero = plan(unit("g"), (eligible("aaa", "0.00"),), {}, Ledger(remaining=PLENTY), AS_OF, TODAY)
    assert zero.outcomes[0].settlement == "nothing_due" and not zero.grants and zero.claim is None


def test_a_revision_pays_or_claws_back_the_difference_from_confirmed_money_only():
    u = unit()
    up = plan_revision(
        [(u, (eligible("aaa", "150"),))], {}, Ledger({"aaa": paid("100")}, remaining=PLENTY), AS_OF, TODAY, "更正"
    )
    assert up.grants[0].amount == D("50") and up.grants[0].seq == 1 and up.outcomes[0].settlement == "topped_up"
    down = plan_revision([(u, (eligible("aaa", "60"),))], {}, Ledger({"aaa": paid("100")}), AS_OF, TODAY, "更正")
    assert down.clawbacks[0].amount == D("40") and down.outcomes[0].settlement == "clawed_back"
    gone = plan_revision(
        [(u, (Decision("aaa", "not_eligible", as_of=AS_OF),))],
        {},
        Ledger({"aaa": paid("100", clawed="40")}),
        AS_OF,
        TODAY,
        "更正",
    )
    assert gone.clawbacks[0].amount == D("60")  # what is left of it, not the whole again
    cancelled = Ledger({"aaa": paid("100", "cancelled")}, remaining=PLENTY)
    assert not plan_revision([(u, (eligible("aaa", "150"),))], {}, cancelled, AS_OF, TODAY, "更正").grants
    with pytest.raises(RevisionBlocked):
        plan_revision([(u, (eligible("aaa", "60"),))], {}, Ledger({"aaa": paid("100", "sent")}), AS_OF, TODAY, "更正")
    listed = plan_revision(
        [(u, (eligible("aaa", "150"),))],
        {"on_dishonesty_list": True},
        Ledger({"aaa": paid("100")}, remaining=PLENTY),
        AS_OF,
        TODAY,
        "更正",
    )
    assert listed.outcomes[0].settlement == "refused" and not listed.grants  # a top-up is new money
