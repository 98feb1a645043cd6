"""Policy spec files (docs/policy-spec.md): parse, validate, hash.

Every problem in a file is collected, each with its path inside the file, so an
officer fixes them all in one round. Money is Decimal; YAML floats are read by
their shortest text (``0.1`` stays ``0.1``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml

from graph import UnknownCode, regions
from matcher import catalog
from matcher.errors import InvalidFieldValue, MatcherError, SpecError
from matcher.rulecheck import check_rule, check_types, fields_used

MODE_LABELS = {"automatic": "免申即享", "instant": "即申即办", "review": "审核"}
MODES = tuple(MODE_LABELS)
BENEFIT_TYPES = ("subsidy", "reward", "interest_subsidy", "fee_reduction", "tax_reduction")
PERIODS = ("once", "annual")
ROUNDINGS = ("half_up", "down")
DECISIONS = ("eligible", "not_eligible", "undetermined")
# what a lone measure's settlement can be for one enterprise with an empty ledger (matcher.settlement.LABELS
# names them all); already_paid, outranked, topped_up and the like need a ledger: a scenario (policytest)
CASE_OUTCOMES = (
    "paid",
    "pending_review",
    "refused",
    "budget_exhausted",
    "nothing_due",
    "not_eligible",
    "undetermined",
    "parent_unpaid",
)
EXPECT_KEYS = ("decision", "outcome", "refused", "amount", "missing", "reason", "distance", "amount_explanation")
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}$")
REQUIRED = (
    "id",
    "name",
    "document",
    "document_number",
    "department",
    "region",
    "valid_from",
    "valid_to",
    "target",
    "topics",
    "mode",
    "time_limit_days",
    "benefit_type",
    "period",
    "conditions",
    "amount",
    "budget",
    "materials",
    "tests",
)
OPTIONAL = ("exclusive_group", "supplement_of", "declarable", "source_text")
PARENT_AMOUNT = "parent_amount"  # a supplement's amount formula reads its parent's amount under this name
AMOUNT_KEYS = ("formula", "cap", "floor", "rounding")


class SpecErrors(MatcherError):
    """All the problems of one spec."""

    def __init__(self, errors: list[SpecError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass(frozen=True)
class Amount:
    formula: object
    cap: Decimal | None = None
    floor: Decimal | None = None
    rounding: str = "half_up"


@dataclass(frozen=True)
class Case:
    """One test case of a spec; every ``expect`` key given is checked (docs/policy-spec.md, Test cases)."""

    name: str
    facts: dict
    decision: str | None  # the rules' answer; None: not asserted (the case asserts ``outcome``)
    as_of: dt.date | None = None
    amount: Decimal | None = None
    missing: tuple[str, ...] | None = None
    parent_amount: Decimal | None = None  # a supplement's case: the parent measure's amount
    outcome: str | None = None  # the settlement of the measure alone, empty ledger (CASE_OUTCOMES)
    refused: tuple[str, ...] | None = None  # the lists (matcher.settlement.REFUSALS) that refuse the enterprise
    reasons: tuple[str, ...] = ()  # texts each found in one sentence of the decision's explanation
    distances: tuple[tuple[str, Decimal | str], ...] = ()  # (field or quantity, exact gap or its rendered text)
    amount_explanation: tuple[str, ...] = ()  # texts each found in one step of the amount's explanation


@dataclass(frozen=True)
class PolicySpec:
    id: str
    name: str
    document: str
    document_number: str
    department: str
    region: str
    valid_from: dt.date
    valid_to: dt.date
    target: str
    topics: tuple[str, ...]
    mode: str
    time_limit_days: int
    benefit_type: str
    period: str
    conditions: object
    amount: Amount
    budget: Decimal
    materials: tuple[str, ...]
    tests: tuple[Case, ...]
    exclusive_group: str | None = None
    supplement_of: str | None = None
    declarable: tuple[str, ...] = ()
    source_text: str | None = None
    source: str | None = field(default=None, compare=False)

    def to_json(self) -> dict:
        """JSON-ready data that :func:`parse_spec` reads back to an equal spec."""
        out = {
            "id": self.id,
            "name": self.name,
            "document": self.document,
            "document_number": self.document_number,
            "department": self.department,
            "region": self.region,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat(),
            "target": self.target,
            "topics": list(self.topics),
            "mode": self.mode,
            "time_limit_days": self.time_limit_days,
            "benefit_type": self.benefit_type,
            "period": self.period,
            "conditions": self.conditions,
            "amount": {
                "formula": self.amount.formula,
                "rounding": self.amount.rounding,
                **({"cap": f"{self.amount.cap:.2f}"} if self.amount.cap is not None else {}),
                **({"floor": f"{self.amount.floor:.2f}"} if self.amount.floor is not None else {}),
            },
            "budget": f"{self.budget:.2f}",
            "materials": list(self.materials),
            "declarable": list(self.declarable),
        }
        if self.exclusive_group:
            out["exclusive_group"] = self.exclusive_group
        if self.supplement_of:
            out["supplement_of"] = self.supplement_of
        if self.source_text:
            out["source_text"] = self.source_text
        out["tests"] = [_case_json(c) for c in self.tests]
        return out

    @property
    def spec_hash(self) -> str:
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


def _case_json(c: Case) -> dict:
    facts = {}
    for k, v in c.facts.items():
        f = catalog.FIELDS[k]
        if f.type == "records":  # a YAML list of mappings, as the case was written
            facts[k] = json.loads(catalog.format_value(k, v))
            continue
        facts[k] = sorted(v) if f.type == "set" else v if f.type in ("count", "bool") else catalog.format_value(k, v)
    expect: dict = {}
    if c.decision is not None:
        expect["decision"] = c.decision
    if c.outcome is not None:
        expect["outcome"] = c.outcome
    if c.refused is not None:
        expect["refused"] = list(c.refused)
    if c.amount is not None:
        expect["amount"] = f"{c.amount:.2f}"
    if c.missing is not None:
        expect["missing"] = list(c.missing)
    if c.reasons:
        expect["reason"] = list(c.reasons)
    if c.distances:
        expect["distance"] = {k: v if isinstance(v, str) else f"{v:f}" for k, v in c.distances}
    if c.amount_explanation:
        expect["amount_explanation"] = list(c.amount_explanation)
    out = {"name": c.name, "facts": facts, "expect": expect}
    if c.as_of is not None:
        out["as_of"] = c.as_of.isoformat()
    if c.parent_amount is not None:
        out["parent_amount"] = f"{c.parent_amount:.2f}"
    return out


class _Checker:
    """Collects errors while reading typed values out of a mapping."""

    def __init__(self, source):
        self.source = source
        self.errors: list[SpecError] = []

    def fail(self, path, reason):
        self.errors.append(SpecError(path, reason, self.source))

    def text(self, data, key, path=None):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            self.fail(path or key, "应为非空文本")
            return ""
        return value.strip()

    def choice(self, data, key, choices):
        value = data.get(key)
        if value not in choices:
            self.fail(key, f"应为 {'、'.join(choices)} 之一（实际 {value!r}）")
        return value

    def date(self, value, path):
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            self.fail(path, f"日期格式应为 YYYY-MM-DD（实际 {value!r}）")
            return None

    def money(self, value, path, required=True):
        if value is None:
            if required:
                self.fail(path, "缺少金额")
            return None
        if isinstance(value, bool):
            self.fail(path, "金额应为数字或数字文本")
            return None
        text = repr(value) if isinstance(value, float) else str(value).strip()
        if len(text) > catalog.MAX_DIGITS:
            self.fail(path, f"金额数字过长（超过 {catalog.MAX_DIGITS} 个字符）")
            return None
        try:
            d = Decimal(text)
        except InvalidOperation:
            self.fail(path, f"金额应为数字（实际 {value!r}）")
            return None
        if not d.is_finite() or d < 0:
            self.fail(path, f"金额应为非负数（实际 {value!r}）")
            return None
        if d > catalog.DEFAULT_MAX["money"]:
            self.fail(path, f"金额超出有效范围：不能大于 {catalog.DEFAULT_MAX['money']:f} 元（实际 {value!r}）")
            return None
        if d != d.quantize(Decimal("0.01")):
            self.fail(path, f"金额以元为单位，最多两位小数（实际 {value!r}）")
            return None
        return d.quantize(Decimal("0.01"))

    def text_list(self, data, key):
        value = data.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.fail(key, "应为文本列表")
            return ()
        return tuple(v.strip() for v in value)

    def field_names(self, value, path, allow_derived=True):
        if not isinstance(value, list):
            self.fail(path, "应为字段名列表")
            return ()
        out = []
        for i, name in enumerate(value):
            f = catalog.FIELDS.get(name) if isinstance(name, str) else None
            if f is None:
                close = difflib.get_close_matches(str(name), list(catalog.FIELDS), n=3)
                hint = f"；是否想写 {'、'.join(close)}？" if close else ""
                self.fail(f"{path}[{i}]", f"字段 {name!r} 不在字段目录中{hint}")
            elif f.derived and not allow_derived:
                self.fail(f"{path}[{i}]", f"{f.label}（{name}）是系统计算字段，不能申报")
            else:
                out.append(name)
        return tuple(out)


def parse_spec(data, source: str | None = None) -> PolicySpec:
    """Validate a mapping and return the spec, or raise :class:`SpecErrors` with every problem."""
    c = _Checker(source)
    if not isinstance(data, dict):
        raise SpecErrors([SpecError("(文件)", "政策文件应为 YAML 映射（键: 值）", source)])
    for key in data:
        if key not in REQUIRED and key not in OPTIONAL:
            close = difflib.get_close_matches(str(key), REQUIRED + OPTIONAL, n=1)
            c.fail(str(key), "未知的要素" + (f"；是否想写 {close[0]}？" if close else ""))
    missing = [k for k in REQUIRED if k not in data]
    for key in missing:
        c.fail(key, "缺少必需的要素")
    if missing:
        raise SpecErrors(c.errors)

    pid = data["id"]
    if not isinstance(pid, str) or not ID_PATTERN.match(pid):
        c.fail("id", "应为 3–64 位小写字母、数字和连字符，如 gaoqi-rending-jiangli")
    name = c.text(data, "name")
    region = ""
    try:
        region = regions().canonical(str(data["region"]))
    except UnknownCode as e:
        c.fail("region", str(e))
    valid_from = c.date(data["valid_from"], "valid_from")
    valid_to = c.date(data["valid_to"], "valid_to")
    if valid_from and valid_to and valid_to < valid_from:
        c.fail("valid_to", f"截止日期 {valid_to} 早于起始日期 {valid_from}")
    limit = data["time_limit_days"]
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        c.fail("time_limit_days", f"应为非负整数（工作日）（实际 {limit!r}）")
    rule_errors = check_rule(data["conditions"], "conditions")
    if not rule_errors:  # types are only meaningful once fields and operators exist
        rule_errors = check_types(data["conditions"], "conditions")
    c.errors.extend(_with_source(rule_errors, source))
    parent = data.get("supplement_of")
    if parent is not None and (not isinstance(parent, str) or not ID_PATTERN.match(parent)):
        c.fail("supplement_of", "应为上级政策的 id（小写字母、数字和连字符）")
        parent = None
    if parent is not None and parent == pid:
        c.fail("supplement_of", "政策不能是自身的配套")
    amount = _amount(c, data["amount"], supplement=parent is not None)
    budget = c.money(data["budget"], "budget")
    group = data.get("exclusive_group")
    if group is not None and (not isinstance(group, str) or not group.strip()):
        c.fail("exclusive_group", "应为非空文本")
    if group is not None and parent is not None:
        c.fail("exclusive_group", "配套政策随上级政策参与就高不重复，不能另设 exclusive_group")
    declarable = c.field_names(data.get("declarable", []), "declarable", allow_derived=False)
    for i, key in enumerate(declarable):
        if not catalog.FIELDS[key].declarable:
            c.fail(f"declarable[{i}]", f"字段目录不允许企业自主申报{catalog.FIELDS[key].label}（{key}）")
    tests = _cases(c, data["tests"], supplement=parent is not None)
    spec_kwargs = dict(
        id=pid,
        name=name,
        document=c.text(data, "document"),
        document_number=c.text(data, "document_number"),
        department=c.text(data, "department"),
        region=region,
        valid_from=valid_from,
        valid_to=valid_to,
        target=c.text(data, "target"),
        topics=c.text_list(data, "topics"),
        mode=c.choice(data, "mode", MODES),
        time_limit_days=limit,
        benefit_type=c.choice(data, "benefit_type", BENEFIT_TYPES),
        period=c.choice(data, "period", PERIODS),
        conditions=data["conditions"],
        amount=amount,
        budget=budget,
        materials=c.text_list(data, "materials"),
        tests=tests,
        exclusive_group=group,
        supplement_of=parent,
        declarable=declarable,
        source_text=data.get("source_text"),
        source=source,
    )
    if c.errors:
        raise SpecErrors(c.errors)
    return PolicySpec(**spec_kwargs)


def _with_source(errors, source):
    return [SpecError(e.path, e.reason, source) for e in errors]


def _amount(c: _Checker, raw, supplement: bool = False) -> Amount | None:
    if not isinstance(raw, dict):
        c.fail("amount", "应为映射，至少包含 formula")
        return None
    for key in raw:
        if key not in AMOUNT_KEYS:
            c.fail(f"amount.{key}", f"未知的键；可用：{'、'.join(AMOUNT_KEYS)}")
    if "formula" not in raw:
        c.fail("amount.formula", "缺少金额公式")
        return None
    formula = raw["formula"]
    if isinstance(formula, (dict, list)):
        extra = {PARENT_AMOUNT: "money"} if supplement else {}
        errors = check_rule(formula, "amount.formula", extra) or check_types(formula, "amount.formula", extra)
        if not supplement and PARENT_AMOUNT in fields_used(formula):
            errors = [SpecError("amount.formula", f"只有配套政策（supplement_of）的金额公式可以引用 {PARENT_AMOUNT}")]
        c.errors.extend(_with_source(errors, c.source))
    else:
        c.money(formula, "amount.formula")
    cap = c.money(raw.get("cap"), "amount.cap", required=False)
    floor = c.money(raw.get("floor"), "amount.floor", required=False)
    if cap is not None and floor is not None and cap < floor:
        c.fail("amount.cap", f"上限 {cap} 低于下限 {floor}")
    rounding = raw.get("rounding", "half_up")
    if rounding not in ROUNDINGS:
        c.fail("amount.rounding", f"应为 {'、'.join(ROUNDINGS)} 之一（实际 {rounding!r}）")
    return Amount(formula, cap, floor, rounding)


def _cases(c: _Checker, raw, supplement: bool = False) -> tuple[Case, ...]:
    if not isinstance(raw, list) or not raw:
        c.fail("tests", "至少需要一个测试用例")
        return ()
    out = []
    for i, case in enumerate(raw):
        path = f"tests[{i}]"
        if not isinstance(case, dict):
            c.fail(path, "测试用例应为映射（name、facts、expect）")
            continue
        for key in case:
            if key not in ("name", "as_of", "facts", "expect", "parent_amount"):
                c.fail(f"{path}.{key}", "未知的键；可用：name、as_of、facts、expect、parent_amount")
        name = c.text(case, "name", f"{path}.name")
        as_of = c.date(case["as_of"], f"{path}.as_of") if "as_of" in case else None
        facts = case_facts(c, case.get("facts"), f"{path}.facts", as_of or dt.date.today())
        expect = case.get("expect")
        if not isinstance(expect, dict):
            c.fail(f"{path}.expect", "应为映射，至少包含 decision 或 outcome")
            continue
        parent_amount = None
        if supplement:
            parent_amount = c.money(case.get("parent_amount"), f"{path}.parent_amount")
        elif "parent_amount" in case:
            c.fail(f"{path}.parent_amount", "只有配套政策的测试用例需要 parent_amount")
        out.append(Case(name, facts, as_of=as_of, parent_amount=parent_amount, **_expect(c, expect, f"{path}.expect")))
    return tuple(out)


def case_facts(c: _Checker, raw, path: str, today: dt.date) -> dict:
    """Typed facts of a case (or a scenario): catalog fields the enterprise has, not derived ones."""
    facts: dict = {}
    if not isinstance(raw, dict):
        c.fail(path, "应为映射：字段名 → 值")
        return facts
    for key, value in raw.items():
        f = catalog.FIELDS.get(key)
        if f is None:
            close = difflib.get_close_matches(str(key), list(catalog.FIELDS), n=3)
            c.fail(f"{path}.{key}", "字段不在字段目录中" + (f"；是否想写 {'、'.join(close)}？" if close else ""))
            continue
        if f.derived:
            c.fail(f"{path}.{key}", f"{f.label} 是系统计算字段，请给出其计算依据的字段")
            continue
        try:
            facts[key] = catalog.parse_value(key, value, today=today)
        except InvalidFieldValue as e:
            c.fail(f"{path}.{key}", e.reason)
    for key, reason, _ in catalog.inconsistencies(facts, today):
        c.fail(f"{path}.{key}", reason)
    return facts


def _expect(c: _Checker, expect: dict, path: str) -> dict:
    """A case's ``expect`` as :class:`Case` keyword arguments, every problem named by its path."""
    for key in expect:
        if key not in EXPECT_KEYS:
            close = difflib.get_close_matches(str(key), EXPECT_KEYS, n=1)
            hint = f"是否想写 {close[0]}？" if close else f"可用：{'、'.join(EXPECT_KEYS)}"
            c.fail(f"{path}.{key}", f"未知的预期；{hint}")
    if "decision" not in expect and "outcome" not in expect and "refused" not in expect:
        c.fail(path, "应至少包含 decision（规则判定）或 outcome（结算结果）")
    decision = expect.get("decision")
    if "decision" in expect and decision not in DECISIONS:
        c.fail(f"{path}.decision", f"应为 {'、'.join(DECISIONS)} 之一（实际 {decision!r}）")
    outcome = settlement_outcome(c, expect, path, CASE_OUTCOMES)
    refused = refusal_lists(c, expect, path, outcome)
    if refused is not None and outcome is None:
        outcome = "refused"
    missing = c.field_names(expect["missing"], f"{path}.missing") if "missing" in expect else None
    return dict(
        decision=decision,
        amount=c.money(expect["amount"], f"{path}.amount") if "amount" in expect else None,
        missing=missing,
        outcome=outcome,
        refused=refused,
        reasons=texts(c, expect, "reason", path),
        distances=_distances(c, expect.get("distance"), f"{path}.distance") if "distance" in expect else (),
        amount_explanation=texts(c, expect, "amount_explanation", path),
    )


def settlement_outcome(c: _Checker, expect: dict, path: str, allowed) -> str | None:
    """``expect.outcome``: one of ``allowed`` settlement outcomes (matcher.settlement.LABELS)."""
    if "outcome" not in expect:
        return None
    from matcher.settlement import LABELS  # the planner imports this module: its names are read when parsing

    value = expect["outcome"]
    if value in allowed:
        return value
    if value in LABELS:
        c.fail(
            f"{path}.outcome",
            f"单项政策的测试用例按空台账单独结算，不会得到 {value}（{LABELS[value]}）；"
            "多项政策或两个日期的结算请写成情景（scenarios/，见 docs/policy-spec.md）",
        )
    else:
        c.fail(f"{path}.outcome", f"应为 {'、'.join(allowed)} 之一（实际 {value!r}）")
    return None


def refusal_lists(c: _Checker, expect: dict, path: str, outcome: str | None) -> tuple[str, ...] | None:
    """``expect.refused``: the lists (matcher.settlement.REFUSALS) that refuse the enterprise; implies ``refused``."""
    if "refused" not in expect:
        return None
    from matcher.settlement import REFUSALS

    value = expect["refused"]
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not value:
        c.fail(f"{path}.refused", f"应为名单列表，如 [on_dishonesty_list]；可用：{'、'.join(REFUSALS)}")
        return None
    out = []
    for i, name in enumerate(value):
        if name not in REFUSALS:
            c.fail(f"{path}.refused[{i}]", f"{name!r} 不是拒绝兑现的名单；可用：{'、'.join(REFUSALS)}")
        elif name not in out:
            out.append(name)
    if outcome is not None and outcome != "refused":
        c.fail(f"{path}.refused", f"refused 表示结算结果为 refused，与 outcome: {outcome} 矛盾")
    return tuple(sorted(out, key=list(REFUSALS).index))


def texts(c: _Checker, expect: dict, key: str, path: str) -> tuple[str, ...]:
    """A text or a list of texts under ``key`` (each to be found in an explanation)."""
    if key not in expect:
        return ()
    value = expect[key]
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        c.fail(f"{path}.{key}", "应为非空文本，或非空文本的列表")
        return ()
    return tuple(v.strip() for v in value)


def _distances(c: _Checker, raw, path: str) -> tuple[tuple[str, Decimal | str], ...]:
    """``expect.distance``: field name (or a computed quantity as the explanation names it) → the distance to
    its threshold, either exact (a number in the compared quantity's unit) or as the explanation reads it."""
    if not isinstance(raw, dict) or not raw:
        c.fail(path, "应为映射：字段名 → 差距，如 {rd_expense: 还差 20万元} 或 {rd_expense: 200000}")
        return ()
    out = []
    for key, value in raw.items():
        key = str(key).strip()
        if FIELD_NAME.match(key) and key not in catalog.FIELDS:
            close = difflib.get_close_matches(key, list(catalog.FIELDS), n=3)
            c.fail(f"{path}.{key}", "字段不在字段目录中" + (f"；是否想写 {'、'.join(close)}？" if close else ""))
            continue
        gap = _gap(value)
        if gap is None:
            c.fail(f"{path}.{key}", f"应为非负数（差距的精确值）或解释中的差距文本，如 还差 20万元（实际 {value!r}）")
            continue
        out.append((key, gap))
    return tuple(out)


def _gap(value) -> Decimal | str | None:
    if isinstance(value, bool) or value is None:
        return None
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        d = Decimal(text)
    except InvalidOperation:
        return text or None  # a distance as the explanation reads it
    return d if d.is_finite() and d >= 0 else None


def read_yaml(path: Path):
    """A spec or scenario file's data, or :class:`SpecErrors` naming the file and the line."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"第 {mark.line + 1} 行" if mark else "(文件)"
        raise SpecErrors([SpecError(where, f"YAML 语法错误：{getattr(e, 'problem', e)}", path.name)]) from None
    except UnicodeDecodeError as e:
        reason = f"不是 UTF-8 编码的文本（第 {e.start + 1} 字节）：请另存为 UTF-8"
        raise SpecErrors([SpecError("(文件)", reason, path.name)]) from None
    except OSError as e:
        raise SpecErrors([SpecError("(文件)", f"无法读取：{e.strerror}", path.name)]) from None
    return data


def load_spec(path) -> PolicySpec:
    path = Path(path)
    return parse_spec(read_yaml(path), source=path.name)


def load_specs(folder) -> tuple[list[PolicySpec], list[SpecError]]:
    """Every ``*.yaml``/``*.yml`` under ``folder`` (or one file); all errors of all files."""
    folder = Path(folder)
    files = [folder] if folder.is_file() else sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    specs, errors, seen = [], [], {}
    for path in files:
        try:
            spec = load_spec(path)
        except SpecErrors as e:
            errors.extend(e.errors)
            continue
        if spec.id in seen:
            errors.append(SpecError("id", f"与 {seen[spec.id]} 的 id 重复：{spec.id}", path.name))
            continue
        seen[spec.id] = path.name
        specs.append(spec)
    return specs, errors


def check_catalogue(specs) -> list[SpecError]:
    """Problems between specs that one file alone cannot show: a supplement (配套) needs its parent
    published, with the same handling mode and period, one level deep; the measures of one
    exclusive group (就高不重复) share their period, since they compete per period."""
    by_id = {s.id: s for s in specs}
    errors: list[SpecError] = []
    for s in specs:
        if s.supplement_of is None:
            continue
        parent = by_id.get(s.supplement_of)
        if parent is None:
            errors.append(SpecError("supplement_of", f"上级政策 {s.supplement_of} 未发布", s.source))
        elif parent.supplement_of is not None:
            errors.append(SpecError("supplement_of", f"{parent.id} 本身是配套政策，配套只能有一级", s.source))
        elif (parent.mode, parent.period) != (s.mode, s.period):
            errors.append(
                SpecError(
                    "supplement_of",
                    f"配套政策须与上级政策 {parent.id} 的兑现方式和周期一致"
                    f"（上级 {parent.mode}/{parent.period}，本政策 {s.mode}/{s.period}）",
                    s.source,
                )
            )
    periods: dict[str, tuple[str, str]] = {}
    for s in sorted(specs, key=lambda s: s.id):
        if s.exclusive_group is None:
            continue
        first = periods.setdefault(s.exclusive_group, (s.period, s.id))
        if first[0] != s.period:
            errors.append(
                SpecError(
                    "exclusive_group",
                    f"同组（{s.exclusive_group}）政策须按同一周期兑现：{first[1]} 为 {first[0]}，本政策为 {s.period}",
                    s.source,
                )
            )
    return errors
