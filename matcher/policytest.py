"""Running the test cases a policy spec carries (OpenFisca-style YAML tests)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from matcher.decision import decide
from matcher.errors import RuleError
from matcher.spec import PolicySpec


@dataclass(frozen=True)
class CaseResult:
    policy_id: str
    source: str | None
    name: str
    passed: bool
    detail: str = ""


def run_cases(spec: PolicySpec, today: dt.date) -> list[CaseResult]:
    """Each case decided as of its own date, or ``today`` when it gives none."""
    out = []
    for case in spec.tests:
        try:
            d = decide(spec, case.facts, case.as_of or today, parent_amount=case.parent_amount)
        except RuleError as e:
            out.append(CaseResult(spec.id, spec.source, case.name, False, f"规则错误：{e}"))
            continue
        problems = []
        if d.outcome != case.decision:
            problems.append(f"结果为 {d.outcome}，预期 {case.decision}")
        if case.amount is not None and d.amount != case.amount:
            problems.append(f"金额为 {d.amount}，预期 {case.amount}")
        if case.missing is not None and tuple(d.missing) != tuple(sorted(case.missing)):
            problems.append(f"待补充字段为 {list(d.missing)}，预期 {list(case.missing)}")
        out.append(CaseResult(spec.id, spec.source, case.name, not problems, "；".join(problems)))
    return out
