"""A small policy spec for tests: Nanjing enterprises with at least one insured employee get a fixed sum."""

from __future__ import annotations

from decimal import Decimal


def insured_employee_subsidy(slug: str, mode: str, amount: str, budget: Decimal | str) -> dict:
    """A complete spec (every standard element, one case) in ``mode``, paying ``amount`` from ``budget``."""
    label = {"automatic": "免申即享", "instant": "即申即办", "review": "审核"}[mode]
    return {
        "id": slug,
        "name": f"测试{label}补贴（{slug}）",
        "document": "测试办法",
        "document_number": "测〔2026〕1号",
        "department": "测试局",
        "region": "320100",
        "valid_from": "2020-01-01",
        "valid_to": "2030-12-31",
        "target": "参保企业",
        "topics": ["就业"],
        "mode": mode,
        "time_limit_days": 5,
        "benefit_type": "subsidy",
        "period": "annual",
        "budget": f"{Decimal(budget):.2f}",
        "materials": ["营业执照"],
        "conditions": {
            "and": [{"in_region": [{"var": "region"}, "320100"]}, {">=": [{"var": "insured_employees"}, 1]}]
        },
        "amount": {"formula": amount},
        "tests": [
            {
                "name": "参保企业",
                "facts": {"region": "320102", "insured_employees": 3},
                "expect": {"decision": "eligible", "amount": amount},
            }
        ],
    }


def measure(
    slug: str,
    mode: str = "instant",
    amount: object = "1000.00",
    budget: Decimal | str = "1000000.00",
    *,
    conditions: dict | None = None,
    cap: str | None = None,
    group: str | None = None,
    supplement_of: str | None = None,
    period: str = "annual",
    declarable: tuple[str, ...] = (),
) -> dict:
    """A measure for ledger tests: Nanjing enterprises with insured employees (or ``conditions``), paid ``amount``
    (a sum or a formula) from ``budget``; optionally in an exclusive ``group`` or a supplement (配套) of another."""
    data = insured_employee_subsidy(slug, mode, "1000.00", budget)
    data["period"] = period
    if conditions is not None:
        data["conditions"] = conditions
    data["amount"] = {"formula": amount, **({"cap": cap} if cap else {})}
    if group:
        data["exclusive_group"] = group
    if declarable:
        data["declarable"] = list(declarable)
    facts = {"region": "320102", "insured_employees": 3}
    case = {"name": "参保企业", "facts": facts, "expect": {"decision": "eligible"}}
    if supplement_of:
        data["supplement_of"] = supplement_of
        case["parent_amount"] = "1000.00"
    data["tests"] = [case]
    if conditions is not None:  # the case states what these conditions decide for its facts (a spec is
        import datetime as dt  # published only if its own cases pass)

        from matcher.decision import decide
        from matcher.spec import parse_spec

        spec = parse_spec(data)
        parent = Decimal("1000.00") if supplement_of else None
        case["expect"] = {"decision": decide(spec, spec.tests[0].facts, dt.date.today(), parent_amount=parent).outcome}
    return data


def assert_sweep_matches_decide(spec, table, as_of) -> None:
    """The columnar sweep answers every row as the scalar ``decide`` does: outcome, amount, missing facts,
    and a rule error where the scalar engine raises one."""
    import pytest

    from matcher.columnar import sweep
    from matcher.decision import decide
    from matcher.errors import RuleError

    expected = []
    for i in range(len(table)):
        try:
            d = decide(spec, table.facts(i), as_of)
            expected.append((d.outcome, d.amount, d.missing))
        except RuleError:
            expected.append("error")
    if "error" in expected:
        with pytest.raises(RuleError):
            sweep(spec, table).decisions()
        return
    assert [(d.outcome, d.amount, d.missing) for d in sweep(spec, table).decisions()] == expected


def scalar_verdict(rule, facts, as_of):
    """The scalar engine's verdict on ``rule``: (1 | 0, ()), (-1, missing fields) or ("error", path)."""
    from matcher.engine import UNKNOWN, evaluate_rule
    from matcher.errors import RuleError

    try:
        ev = evaluate_rule(rule, facts, as_of=as_of)
    except RuleError as e:
        return ("error", e.path)
    if ev.value is UNKNOWN:
        return (-1, tuple(sorted(ev.missing)))
    return (1 if ev.value else 0, ())


def assert_conditions_match_scalar(rule, table, as_of) -> None:
    """The columnar engine's verdict on ``rule`` for every row equals the scalar engine's: true, false or
    unknown with its missing fields, and a rule error where the scalar engine raises one."""
    import pytest

    from matcher.columnar import evaluate_conditions
    from matcher.errors import RuleError

    expected = [scalar_verdict(rule, table.row(i), as_of) for i in range(len(table))]
    if any(e[0] == "error" for e in expected):
        with pytest.raises(RuleError):
            evaluate_conditions(rule, table)
        return
    outcome, missing = evaluate_conditions(rule, table)
    assert [(int(o), m) for o, m in zip(outcome, missing)] == expected
