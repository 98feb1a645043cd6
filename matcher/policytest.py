"""Running the tests policy specs carry (OpenFisca-style YAML tests), and scenarios across measures and dates.

A spec's cases (:func:`run_cases`) check one measure for one enterprise: the rules' decision,
the amount, the facts to declare, the settlement of the measure alone (``refused`` included),
texts of the explanation, the distance to a threshold and the amount's steps.

A scenario (:func:`load_scenario`, :func:`run_scenario`) follows one enterprise over several
measures and dates: measures settled in turn (an exclusive group's 就高不重复, a supplement
beside its parent), then facts corrected and a payout revised (the top-up or clawback it
causes). The money is the settlement planner's (:mod:`matcher.settlement`: ``plan``,
``plan_revision``, ``after``); a scenario only books each plan into the ledger the next one
reads, as the ledger's executor would. The syntax is in docs/policy-spec.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

import yaml

from matcher import catalog, explain
from matcher.decision import Decision, decide
from matcher.errors import MatcherError, RuleError, SpecError
from matcher.settlement import (
    LABELS,
    REFUSALS,
    ZERO,
    Claim,
    Ledger,
    Outcome,
    Paid,
    Part,
    Plan,
    Unit,
    after,
    decide_unit,
    period_of,
    plan,
    plan_revision,
    refusal,
    units,
)
from matcher.spec import (
    ID_PATTERN,
    PolicySpec,
    SpecErrors,
    _Checker,
    case_facts,
    check_catalogue,
    load_specs,
    read_yaml,
    refusal_lists,
    settlement_outcome,
    texts,
)

DECISION_LABELS = {"eligible": "符合", "not_eligible": "不符合", "undetermined": "待补充"}
SCENARIO_KEYS = ("scenario", "specs", "policies", "facts", "steps")
STEP_KEYS = ("date", "facts", "settle", "approved", "revise", "why", "expect")
SCENARIO_EXPECT_KEYS = ("outcome", "amount", "paid", "winner", "reason", "refused")
REVISION_WHY = "核实数据更正"


@dataclass(frozen=True)
class CaseResult:
    policy_id: str
    source: str | None
    name: str
    passed: bool
    detail: str = ""
    kind: str = "case"  # case | scenario


# -- a spec's cases ----------------------------------------------------------------------------


def run_cases(spec: PolicySpec, today: dt.date) -> list[CaseResult]:
    """Each case decided as of its own date, or ``today`` when it gives none."""
    out = []
    for case in spec.tests:
        try:
            problems = check_case(spec, case, case.as_of or today)
        except RuleError as e:
            out.append(CaseResult(spec.id, spec.source, case.name, False, f"规则错误：{e}"))
            continue
        out.append(CaseResult(spec.id, spec.source, case.name, not problems, "；".join(problems)))
    return out


def check_case(spec: PolicySpec, case, as_of: dt.date) -> list[str]:
    """What of ``case``'s expectations the decision (and, when asked, the settlement) does not meet."""
    d = decide(spec, case.facts, as_of, parent_amount=case.parent_amount)
    problems = []
    if case.decision is not None and d.outcome != case.decision:
        problems.append(f"判定结果为 {_decision(d.outcome)}，预期 {_decision(case.decision)}")
    if case.amount is not None and d.amount != case.amount:
        problems.append(f"金额为 {_money(d.amount)}，预期 {case.amount}")
    if case.missing is not None and tuple(d.missing) != tuple(sorted(case.missing)):
        problems.append(f"待补充字段为 {list(d.missing)}，预期 {list(case.missing)}")
    if case.outcome is not None:
        o = settle_alone(spec, d, case.facts, as_of, case.parent_amount)
        problems.extend(outcome_problems(o, case.outcome, case.refused, case.facts))
    sentences = explanation(d)
    for text in case.reasons:
        if not any(text in s for s in sentences):
            problems.append(f"解释中没有“{text}”；解释为：{_joined(sentences)}")
    for key, want in case.distances:
        problems.extend(distance_problems(d, key, want))
    steps = [s.sentence for s in d.steps]
    for text in case.amount_explanation:
        if not steps:
            problems.append(f"没有金额计算过程（判定结果为 {_decision(d.outcome)}），找不到“{text}”")
        elif not any(text in s for s in steps):
            problems.append(f"金额计算过程中没有“{text}”；计算过程为：{_joined(steps)}")
    return problems


def explanation(d: Decision) -> list[str]:
    """The sentences a decision explains itself with: its conditions, its amount's steps, its note."""
    return [*d.reasons, *([d.note] if d.note else [])]


def settle_alone(
    spec: PolicySpec, d: Decision, facts: dict, as_of: dt.date, parent_amount: Decimal | None = None
) -> Outcome:
    """The settlement of one measure for a lone enterprise with an empty ledger (the measure's whole budget
    left), planned as of the case's date, as its mode has it: swept (automatic), applied for (instant), or
    queued for review. A supplement is settled beside a parent that qualified for ``parent_amount``."""
    if spec.supplement_of:
        parent = replace(spec, id=spec.supplement_of, supplement_of=None, budget=parent_amount or ZERO, tests=())
        unit = Unit(parent, (spec,))
        decisions = (Decision(parent.id, "eligible", parent_amount, as_of=as_of), d)
    else:
        unit, decisions = Unit(spec), (d,)
    ledger = Ledger(remaining={m.id: m.budget for m in unit.members})
    how = {"sweep": spec.mode == "automatic", "review": spec.mode == "review"}
    return plan(unit, decisions, facts, ledger, as_of, as_of, **how).outcome(spec.id)


def outcome_problems(o: Outcome, outcome: str | None, refused: tuple[str, ...] | None, facts: dict) -> list[str]:
    """``outcome``: the settlement; ``refused``: exactly the lists of REFUSALS the enterprise is on, each of
    which alone refuses it (the reason given names the first of them)."""
    problems = []
    if outcome is not None and o.settlement != outcome:
        why = f"；理由：{o.reason}" if o.reason else ""
        problems.append(f"结算结果为 {o.settlement}（{o.label}{why}），预期 {outcome}（{LABELS[outcome]}）")
    if refused is not None:
        lists = tuple(name for name in REFUSALS if refusal({name: facts.get(name)}) is not None)
        if set(lists) != set(refused):
            problems.append(f"企业所在的拒绝兑现名单为 {_lists(lists)}，预期 {_lists(refused)}")
    return problems


def distance_problems(d: Decision, key: str, want: Decimal | str) -> list[str]:
    """The distance the explanation reports for the unmet condition on ``key`` (a field, or a computed
    quantity as the explanation names it): exactly ``want`` (a number: the gap in the quantity's unit;
    a text: as the sentence reads it, with or without its 还差 / 超出)."""
    f = catalog.FIELDS.get(key)
    name = f"{f.label}（{key}）" if f is not None else key
    leaves = [leaf for leaf in d.trace if (leaf.field == key if f is not None else _same(leaf.label, key))]
    if not leaves:
        return [f"解释中没有关于{name}的条件；解释为：{_joined(leaf.sentence for leaf in d.trace)}"]
    found = [(leaf, *_distance_text(leaf)) for leaf in leaves if leaf.gap is not None]
    if not found:
        return [f"解释中{name}的条件没有差距（{_joined(leaf.sentence for leaf in leaves)}），预期 {_shown(want)}"]
    for leaf, word, text in found:
        if isinstance(want, Decimal):
            if Decimal(str(leaf.gap)) == want:
                return []
        elif _same(want, text) or _same(want, f"{word}{text}"):
            return []
    got = "、".join(f"{word} {text}（精确值 {leaf.gap}）" for leaf, word, text in found)
    return [f"{name}的差距为 {got}，预期 {_shown(want)}"]


def _distance_text(leaf) -> tuple[str, str]:
    """The distance as the leaf's sentence reads it: its tail after 还差 or 超出 (matcher.explain.comparison)."""
    return explain.distance_of(leaf.sentence) or ("差距", str(leaf.gap))


_ASCII = str.maketrans({"-": "−", "*": "×", "/": "÷", "(": "（", ")": "）"})


def _same(a: str, b: str) -> bool:
    """Equal as written, but for spaces and ASCII operators (``-`` reads ``−``)."""
    return "".join(a.translate(_ASCII).split()) == "".join(b.translate(_ASCII).split())


def _decision(outcome: str | None) -> str:
    return f"{outcome}（{DECISION_LABELS.get(outcome, '—')}）"


def _money(x: Decimal | None) -> str:
    return f"{x:.2f}" if x is not None else "无"


def _shown(want: Decimal | str) -> str:
    return f"{want:f}" if isinstance(want, Decimal) else want


def _joined(sentences) -> str:
    return "；".join(sentences) or "（无）"


def _lists(names) -> str:
    return "、".join(f"{n}（{catalog.FIELDS[n].label}）" for n in names) or "无"


# -- scenarios ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    """What one measure's settlement in a step must be; None: not asserted."""

    outcome: str | None = None
    amount: Decimal | None = None  # the outcome's amount: paid, topped up, clawed back, …
    paid: Decimal | None = None  # paid in all for the measure and period after the step (net of clawbacks)
    winner: str | None = None  # outranked: the measure whose payout stands in its place
    reasons: tuple[str, ...] = ()  # texts in the settlement's reason or the decision's explanation
    refused: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ScenarioStep:
    date: dt.date
    facts: dict = field(default_factory=dict)  # changed facts (None: the value is gone)
    settle: tuple[str, ...] = ()  # measures settled in turn, each with its supplements
    approved: bool = False  # review measures: the officer approves (paid, not queued)
    revise: tuple[str, ...] = ()  # paid measures decided again on the facts as they now are
    why: str = REVISION_WHY
    expect: tuple[tuple[str, Expectation], ...] = ()


@dataclass(frozen=True)
class Scenario:
    name: str
    policies: tuple[str, ...]
    facts: dict
    steps: tuple[ScenarioStep, ...]
    specs: str | None = None  # where the specs are, relative to the scenario file
    source: str | None = None


def parse_scenario(data, source: str | None = None) -> Scenario:
    """Validate a scenario mapping, or raise :class:`SpecErrors` naming every problem by its path."""
    c = _Checker(source)
    if not isinstance(data, dict):
        raise SpecErrors([SpecError("(文件)", "情景文件应为 YAML 映射（scenario、policies、facts、steps）", source)])
    for key in data:
        if key not in SCENARIO_KEYS:
            c.fail(str(key), f"未知的键；可用：{'、'.join(SCENARIO_KEYS)}")
    name = c.text(data, "scenario")
    specs = data.get("specs")
    if specs is not None and (not isinstance(specs, str) or not specs.strip()):
        c.fail("specs", "应为政策文件或目录的路径（相对于本情景文件）")
        specs = None
    policies = _ids(c, data.get("policies"), "policies")
    raw_steps = data.get("steps")
    steps: list[ScenarioStep] = []
    if not isinstance(raw_steps, list) or not raw_steps:
        c.fail("steps", "至少需要一个步骤（date，以及 settle 或 revise）")
        raw_steps = []
    first = raw_steps[0].get("date") if raw_steps and isinstance(raw_steps[0], dict) else None
    start = c.date(first, "steps[0].date") if first is not None else None
    facts = case_facts(c, data.get("facts"), "facts", start or dt.date.today())
    last = None
    for i, raw in enumerate(raw_steps):
        step = _step(c, raw, f"steps[{i}]", policies, i == 0)
        if step is None:
            continue
        if last is not None and step.date < last:
            c.fail(f"steps[{i}].date", f"步骤应按日期先后排列：{step.date} 早于上一步的 {last}")
        last = step.date
        steps.append(step)
    if c.errors:
        raise SpecErrors(c.errors)
    return Scenario(name, policies, facts, tuple(steps), specs.strip() if specs else None, source)


def _ids(c: _Checker, raw, path: str, known: tuple[str, ...] | None = None) -> tuple[str, ...]:
    value = [raw] if isinstance(raw, str) else raw
    if not isinstance(value, list) or not value:
        c.fail(path, "应为政策 id 的列表")
        return ()
    out = []
    for i, pid in enumerate(value):
        if not isinstance(pid, str) or not ID_PATTERN.match(pid):
            c.fail(f"{path}[{i}]", f"应为政策 id（小写字母、数字和连字符）（实际 {pid!r}）")
        elif known is not None and pid not in known:
            c.fail(f"{path}[{i}]", f"{pid} 不在本情景的 policies 中")
        else:
            out.append(pid)
    return tuple(out)


def _step(c: _Checker, raw, path: str, policies: tuple[str, ...], first: bool) -> ScenarioStep | None:
    if not isinstance(raw, dict):
        c.fail(path, "步骤应为映射（date，以及 settle 或 revise）")
        return None
    for key in raw:
        if key not in STEP_KEYS:
            c.fail(f"{path}.{key}", f"未知的键；可用：{'、'.join(STEP_KEYS)}")
    if "date" not in raw:
        c.fail(f"{path}.date", "缺少日期（YYYY-MM-DD）")
        return None
    date = c.date(raw["date"], f"{path}.date")
    if date is None:
        return None
    facts: dict = {}
    if "facts" in raw:
        if first:
            c.fail(f"{path}.facts", "第一步的事实写在情景的 facts 中；以后的步骤写变化的事实")
        elif isinstance(raw["facts"], dict):
            gone = [k for k, v in raw["facts"].items() if v is None]
            kept = {k: v for k, v in raw["facts"].items() if v is not None}
            facts = {**case_facts(c, kept, f"{path}.facts", date), **dict.fromkeys(gone)}
        else:
            case_facts(c, raw["facts"], f"{path}.facts", date)
    settle = _ids(c, raw["settle"], f"{path}.settle", policies) if "settle" in raw else ()
    revise = _ids(c, raw["revise"], f"{path}.revise", policies) if "revise" in raw else ()
    if ("settle" in raw) == ("revise" in raw):
        c.fail(path, "每一步应有且只有 settle（结算）或 revise（复核）之一")
    approved = raw.get("approved", False)
    if not isinstance(approved, bool):
        c.fail(f"{path}.approved", "应为 true 或 false")
    elif approved and "settle" not in raw:
        c.fail(f"{path}.approved", "approved 只用于 settle（审核类政策经审核通过后兑现）")
    why = REVISION_WHY
    if "why" in raw:
        why = c.text(raw, "why", f"{path}.why")
        if "revise" not in raw:
            c.fail(f"{path}.why", "why 只用于 revise（复核的理由）")
    expect = []
    raw_expect = raw.get("expect", {})
    if not isinstance(raw_expect, dict):
        c.fail(f"{path}.expect", "应为映射：政策 id → 预期的结算")
        raw_expect = {}
    for pid, exp in raw_expect.items():
        if pid not in policies:
            c.fail(f"{path}.expect.{pid}", f"{pid} 不在本情景的 policies 中")
            continue
        parsed = _expectation(c, exp, f"{path}.expect.{pid}", policies)
        if parsed is not None:
            expect.append((pid, parsed))
    return ScenarioStep(date, facts, settle, approved is True, revise, why, tuple(expect))


def _expectation(c: _Checker, raw, path: str, policies: tuple[str, ...]) -> Expectation | None:
    if not isinstance(raw, dict) or not raw:
        c.fail(path, f"应为映射，可用：{'、'.join(SCENARIO_EXPECT_KEYS)}")
        return None
    for key in raw:
        if key not in SCENARIO_EXPECT_KEYS:
            c.fail(f"{path}.{key}", f"未知的预期；可用：{'、'.join(SCENARIO_EXPECT_KEYS)}")
    outcome = settlement_outcome(c, raw, path, tuple(LABELS))
    refused = refusal_lists(c, raw, path, outcome)
    winner = raw.get("winner")
    if winner is not None and winner not in policies:
        c.fail(f"{path}.winner", f"{winner!r} 不在本情景的 policies 中")
    return Expectation(
        outcome if outcome is not None or refused is None else "refused",
        c.money(raw["amount"], f"{path}.amount") if "amount" in raw else None,
        c.money(raw["paid"], f"{path}.paid") if "paid" in raw else None,
        winner,
        texts(c, raw, "reason", path),
        refused,
    )


def load_scenario(path) -> Scenario:
    path = Path(path)
    return parse_scenario(read_yaml(path), source=path.name)


def check_scenario(sc: Scenario, specs: dict[str, PolicySpec]) -> list[SpecError]:
    """Problems of a scenario with the specs it names: each found, a supplement with its parent, none
    settled alone, and the specs consistent together (:func:`matcher.spec.check_catalogue`)."""
    errors = []
    for i, pid in enumerate(sc.policies):
        if pid not in specs:
            errors.append(SpecError(f"policies[{i}]", f"找不到政策 {pid}", sc.source))
        elif specs[pid].supplement_of and specs[pid].supplement_of not in sc.policies:
            why = f"配套政策 {pid} 的上级政策 {specs[pid].supplement_of} 不在 policies 中"
            errors.append(SpecError(f"policies[{i}]", why, sc.source))
    if errors:
        return errors
    for i, step in enumerate(sc.steps):
        for j, pid in enumerate(step.settle):
            if specs[pid].supplement_of:
                why = f"配套政策随上级政策结算，请结算 {specs[pid].supplement_of}"
                errors.append(SpecError(f"steps[{i}].settle[{j}]", why, sc.source))
    errors.extend(check_catalogue([specs[p] for p in sc.policies]))
    return errors


class _Book:
    """The ledger of one enterprise as the plans leave it: payouts by (measure, period), group accounts by
    (group, period), budgets by measure; the date of each payout part, for the bank's confirmation."""

    def __init__(self, specs):
        self.paid: dict[tuple[str, str], Paid] = {}
        self.claims: dict[tuple[str, str], Claim] = {}
        self.remaining = {s.id: s.budget for s in specs}
        self.dates: dict[int, dt.date] = {}
        self.grants: list[tuple[str, str, dt.date]] = []  # (measure, period, date) of each grant
        self.ids = 0

    def ledger(self, ids, group: str | None, period: str) -> Ledger:
        paid = {i: self.paid[(i, period)] for i in ids if (i, period) in self.paid}
        claims = {group: self.claims[(group, period)]} if group and (group, period) in self.claims else {}
        return Ledger(paid, claims, dict(self.remaining))

    def confirm_before(self, date: dt.date) -> None:
        """Money paid on an earlier date has reached the enterprise: the bank confirmed it."""
        for key, p in self.paid.items():
            parts = tuple(
                replace(x, status="confirmed") if x.status == "decided" and self.dates[x.payout_id] < date else x
                for x in p.parts
            )
            status = next(x.status for x in parts if x.seq == 0)
            self.paid[key] = replace(p, status=status, parts=parts)

    def book(self, p: Plan, view: Ledger, date: dt.date) -> None:
        """Write a plan as the ledger's executor would: budgets and group accounts as :func:`after` leaves
        them; each grant a payout (a top-up a new part of it); each clawback against its part, its budget back."""
        new = after(view, p)
        self.remaining = dict(new.remaining)
        for g in p.grants:
            self.ids += 1
            part = Part(self.ids, g.seq, g.amount, ZERO, g.status)
            self.dates[self.ids] = date
            key = (g.policy_id, g.period)
            if g.seq == 0:
                self.paid[key] = Paid(self.ids, g.status, g.amount, (part,))
                self.grants.append((g.policy_id, g.period, date))
            else:
                self.paid[key] = replace(self.paid[key], parts=self.paid[key].parts + (part,))
        for cb in p.clawbacks:
            key = next(k for k, v in self.paid.items() if k[0] == cb.policy_id and cb.payout_id in _ids_of(v))
            parts = tuple(
                replace(x, clawed=x.clawed + cb.amount) if x.payout_id == cb.payout_id else x
                for x in self.paid[key].parts
            )
            self.paid[key] = replace(self.paid[key], parts=parts)
            self.remaining[cb.policy_id] = self.remaining.get(cb.policy_id, ZERO) + cb.amount
        if p.claim is not None:
            self.claims[(p.claim.group, p.claim.period)] = new.claims[p.claim.group]

    def net(self, policy_id: str, period: str) -> Decimal:
        paid = self.paid.get((policy_id, period))
        return paid.net if paid is not None else ZERO

    def granted(self, policy_id: str) -> tuple[str, dt.date] | None:
        """The period and date of the measure's latest grant."""
        found = [(period, date) for pid, period, date in self.grants if pid == policy_id]
        return found[-1] if found else None


def _ids_of(paid: Paid) -> set[int]:
    return {x.payout_id for x in paid.parts}


def run_scenario(sc: Scenario, specs: dict[str, PolicySpec]) -> CaseResult:
    """Play a scenario with the specs it names (check it first: :func:`check_scenario`)."""
    chosen = [specs[p] for p in sc.policies]
    all_units = units(chosen)
    root_of = {m.id: u for u in all_units for m in u.members}
    book = _Book(chosen)
    facts = dict(sc.facts)
    problems: list[str] = []
    for n, step in enumerate(sc.steps, 1):
        where = f"第 {n} 步（{step.date}）"
        book.confirm_before(step.date)
        for name, value in step.facts.items():
            if value is None:
                facts.pop(name, None)
            else:
                facts[name] = value
        outcomes: dict[str, tuple[Outcome, str]] = {}
        try:
            for pid in step.settle:
                unit = root_of[pid]
                period = period_of(unit.root.period, step.date)
                view = book.ledger([m.id for m in unit.members], unit.group, period)
                review = unit.root.mode == "review" and not step.approved
                p = plan(
                    unit,
                    decide_unit(unit, facts, step.date),
                    facts,
                    view,
                    step.date,
                    step.date,
                    sweep=unit.root.mode == "automatic",
                    review=review,
                )
                book.book(p, view, step.date)
                outcomes.update((o.policy_id, (o, period)) for o in p.outcomes)
            for pid in step.revise:
                granted = book.granted(pid)
                if granted is None:
                    problems.append(f"{where}{pid}：尚未兑现，无从复核")
                    continue
                period, as_of = granted  # decided again as of the payout's date, on the facts as they now are
                unit = root_of[pid]
                rivals = [u for u in all_units if u.group == unit.group] if unit.group else [unit]
                group_units = [(u, decide_unit(u, facts, as_of)) for u in rivals]
                view = book.ledger([m.id for u in rivals for m in u.members], unit.group, period)
                p = plan_revision(group_units, facts, view, as_of, step.date, step.why)
                book.book(p, view, step.date)
                outcomes.update((o.policy_id, (o, period)) for o in p.outcomes)
        except MatcherError as e:
            problems.append(f"{where}：{e}")
            break
        for pid, exp in step.expect:
            if pid not in outcomes:
                done = "结算" if step.settle else "复核"
                problems.append(f"{where}{pid}：本步没有该政策的{done}结果（预期 {exp.outcome or '有结果'}）")
                continue
            o, period = outcomes[pid]
            problems.extend(f"{where}{pid}：{x}" for x in _step_problems(o, exp, facts, book.net(pid, period)))
    return CaseResult("、".join(sc.policies), sc.source, sc.name, not problems, "；".join(problems), "scenario")


def _step_problems(o: Outcome, exp: Expectation, facts: dict, net: Decimal) -> list[str]:
    problems = outcome_problems(o, exp.outcome, exp.refused, facts)
    if exp.amount is not None and o.amount != exp.amount:
        problems.append(f"金额为 {_money(o.amount)}（{o.settlement}），预期 {exp.amount}")
    if exp.paid is not None and net != exp.paid:
        problems.append(f"本期累计实付 {net:.2f}，预期 {exp.paid}")
    if exp.winner is not None and o.winner != exp.winner:
        problems.append(f"就高不重复的胜出政策为 {o.winner or '无'}，预期 {exp.winner}")
    sentences = [o.reason, *explanation(o.decision)] if o.reason else explanation(o.decision)
    for text in exp.reasons:
        if not any(text in s for s in sentences):
            problems.append(f"理由与解释中没有“{text}”；理由为：{o.reason or '（无）'}")
    return problems


# -- files and folders -------------------------------------------------------------------------


def is_scenario_file(path) -> bool:
    """A YAML file whose mapping has a ``scenario`` key (a policy spec has none)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and "scenario" in data


def scenario_files(folder) -> list[Path]:
    """The scenarios kept beside a folder of specs: ``FOLDER/scenarios/*.yaml``."""
    where = Path(folder) / "scenarios"
    return sorted([*where.glob("*.yaml"), *where.glob("*.yml")]) if where.is_dir() else []


def run_scenario_file(path, specs: dict[str, PolicySpec] | None = None) -> tuple[list[CaseResult], list[SpecError]]:
    """One scenario file, with its specs: those its ``specs`` names (relative to the file), else ``specs``
    (the folder being tested), else the folder above its ``scenarios/`` folder."""
    path = Path(path)
    try:
        sc = load_scenario(path)
    except SpecErrors as e:
        return [], e.errors
    errors: list[SpecError] = []
    if sc.specs is not None or specs is None:
        if sc.specs is not None:
            folder = path.parent / sc.specs
        elif path.parent.name == "scenarios":
            folder = path.parent.parent
        else:
            why = "情景文件应放在政策目录的 scenarios/ 子目录中，或用 specs 指明政策文件所在的目录"
            return [], [SpecError("specs", why, sc.source)]
        if not folder.exists():
            return [], [SpecError("specs", f"找不到 {folder}", sc.source)]
        loaded, errors = load_specs(folder)
        specs = {s.id: s for s in loaded}
    problems = check_scenario(sc, specs)
    if problems:
        return [], errors + problems
    return [run_scenario(sc, specs)], errors


def run_path(path, today: dt.date) -> tuple[list[CaseResult], list[SpecError]]:
    """Everything ``zhida policy test PATH`` runs: a folder's specs' cases and its ``scenarios/``, one spec
    file's cases, one scenario file, or a ``scenarios/`` folder's scenarios."""
    path = Path(path)
    if path.is_file() and is_scenario_file(path):
        return run_scenario_file(path)
    if path.is_dir() and path.name == "scenarios":
        found: tuple[list[CaseResult], list[SpecError]] = ([], [])
        for f in scenario_files(path.parent):
            rs, es = run_scenario_file(f)
            found[0].extend(rs)
            found[1].extend(es)
        return found
    specs, errors = load_specs(path)
    results = [r for s in specs for r in run_cases(s, today)]
    if path.is_dir():
        by_id = {s.id: s for s in specs}
        for f in scenario_files(path):
            rs, es = run_scenario_file(f, by_id)
            results.extend(rs)
            errors.extend(es)
    return results, errors
