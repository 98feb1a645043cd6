"""The field catalog: every enterprise attribute a policy may test.

One place for each fact. Importers, the store, the generator, the rule
engine's strict mode and the UI all read field names, types, units, labels and
sources from here; :func:`parse_value` is the one way a raw value (CSV cell,
JSON value, declared fact) becomes the typed value zhida keeps.

Money is ``Decimal`` yuan with two places; percentages are ``Decimal`` with
two places (``12.50`` means 12.5 %); dates are ``datetime.date``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from graph import UnknownCode, industries, regions
from matcher import uscc
from matcher.errors import InvalidFieldValue, InvalidUSCC

CENT = Decimal("0.01")

# Where a value comes from. Verified sources are government systems; a
# declared value is self-reported under a credit commitment (信用承诺).
SOURCES: dict[str, str] = {
    "market_regulation": "市场监管",
    "tax": "税务",
    "social_security": "社保",
    "science_tech": "科技工信",
    "credit": "信用",
    "declared": "自主申报",
    "derived": "系统计算",
}
VERIFIED_SOURCES = frozenset(SOURCES) - {"declared", "derived"}

QUALIFICATIONS: dict[str, str] = {
    "high_tech": "高新技术企业",
    "tech_sme": "科技型中小企业",
    "innovative_sme": "创新型中小企业",
    "srdi_sme": "专精特新中小企业",
    "little_giant": "专精特新“小巨人”企业",
    "gazelle": "瞪羚企业",
    "unicorn": "独角兽企业",
}
LISTED_STATUS: dict[str, str] = {
    "unlisted": "未上市",
    "neeq": "新三板挂牌",
    "bse": "北交所上市",
    "sse_main": "上交所主板上市",
    "szse_main": "深交所主板上市",
    "star": "科创板上市",
    "chinext": "创业板上市",
    "overseas": "境外上市",
}
# A set field written as one of these is known to be empty ("" means unknown).
NONE_WORDS = ("none", "无")
SCALES: dict[str, str] = {"large": "大型", "medium": "中型", "small": "小型", "micro": "微型"}

# type -> (python type description, operators family) ; checked by parse_value
TYPES = ("text", "uscc", "region", "industry", "date", "money", "count", "percent", "bool", "enum", "set")


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: str
    label: str  # Chinese, as shown to people
    source: str  # the verified source that normally supplies it (or declared/derived)
    unit: str | None = None  # 元, 人, %, 年
    choices: tuple[str, ...] | None = None  # enum / set members
    description: str = ""
    derived: bool = False
    required: bool = False  # every enterprise record must carry it
    past_only: bool = False  # a date that cannot be in the future

    @property
    def numeric(self) -> bool:
        return self.type in ("money", "count", "percent")


def _f(*args, **kw) -> Field:
    return Field(*args, **kw)


FIELDS: dict[str, Field] = {
    f.name: f
    for f in [
        _f("uscc", "uscc", "统一社会信用代码", "market_regulation", required=True),
        _f("name", "text", "企业名称", "market_regulation", required=True),
        _f(
            "region",
            "region",
            "注册地行政区划",
            "market_regulation",
            required=True,
            description="县级行政区划代码（6 位）",
        ),
        _f(
            "industry",
            "industry",
            "国民经济行业",
            "market_regulation",
            required=True,
            description="GB/T 4754-2017 小类代码，如 C3911",
        ),
        _f("established_on", "date", "成立日期", "market_regulation", required=True, past_only=True),
        _f("registered_capital", "money", "注册资本", "market_regulation", "元"),
        _f("business_scope", "text", "经营范围", "market_regulation"),
        _f("employees", "count", "从业人员数", "social_security", "人", description="上年末从业人员（含劳务派遣）"),
        _f("insured_employees", "count", "参保职工人数", "social_security", "人"),
        _f("revenue", "money", "上年度营业收入", "tax", "元"),
        _f("revenue_prev", "money", "前年度营业收入", "tax", "元"),
        _f("total_assets", "money", "资产总额", "tax", "元"),
        _f("tax_paid", "money", "上年度纳税总额", "tax", "元"),
        _f("rd_expense_prev", "money", "前年度研发费用", "tax", "元"),
        _f(
            "rd_expense",
            "money",
            "上年度研发费用",
            "tax",
            "元",
            description="企业所得税年度纳税申报研发费用加计扣除口径",
        ),
        _f("unemployment_insurance_paid", "money", "上年度失业保险缴费", "social_security", "元"),
        _f("graduates_hired", "count", "当年吸纳高校毕业生人数", "social_security", "人"),
        _f("skill_certificates", "count", "当年取得技能证书职工人数", "declared", "人"),
        _f("invention_patents", "count", "有效发明专利数", "science_tech", "件"),
        _f("loan_interest_paid", "money", "上年度贷款利息支出", "declared", "元"),
        _f(
            "smart_manufacturing_level",
            "count",
            "智能制造能力成熟度等级",
            "science_tech",
            "级",
            description="GB/T 39116-2020 认定等级，1 规划级 … 5 引领级",
        ),
        _f(
            "digital_diagnosis_fee",
            "money",
            "数字化转型诊断服务费用",
            "declared",
            "元",
            description="向备案数字服务商实际支付的诊断、规划咨询费用",
        ),
        _f("qualifications", "set", "企业资质", "science_tech", choices=tuple(QUALIFICATIONS)),
        _f("listed_status", "enum", "上市状态", "market_regulation", choices=tuple(LISTED_STATUS)),
        _f("on_dishonesty_list", "bool", "列入失信被执行人名单", "credit"),
        _f("in_abnormal_operation", "bool", "列入经营异常名录", "market_regulation"),
        # derived: computed by matcher.registry, never stored as facts
        _f("age_years", "count", "成立年限", "derived", "年", derived=True),
        _f("rd_ratio", "percent", "研发投入强度", "derived", "%", derived=True, description="研发费用 / 营业收入"),
        _f("revenue_growth", "percent", "营业收入增长率", "derived", "%", derived=True),
        _f(
            "scale",
            "enum",
            "企业规模",
            "derived",
            choices=tuple(SCALES),
            derived=True,
            description="按国统字〔2017〕213号划分",
        ),
    ]
}

FACT_FIELDS = [f for f in FIELDS.values() if not f.derived]


def field(name: str) -> Field:
    try:
        return FIELDS[name]
    except KeyError:
        raise InvalidFieldValue(name, None, "字段目录中没有这个字段") from None


def _parse_decimal(f: Field, raw: object) -> Decimal:
    if isinstance(raw, bool):
        raise InvalidFieldValue(f.name, raw, "应为数字")
    if isinstance(raw, float):
        raw = repr(raw)  # shortest round-trip text, never the binary expansion
    try:
        value = Decimal(str(raw).strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidFieldValue(f.name, raw, "应为数字") from None
    if not value.is_finite():
        raise InvalidFieldValue(f.name, raw, "应为有限数字")
    return value


def parse_value(name: str, raw: object, *, today: dt.date | None = None) -> object:
    """Turn a raw value into the field's typed value, or raise :class:`InvalidFieldValue`.

    ``None`` and ``""`` mean *missing* and come back as ``None``.
    """
    f = field(name)
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    t = f.type
    if t == "text":
        return str(raw).strip()
    if t == "uscc":
        try:
            return uscc.validate(raw)
        except InvalidUSCC as e:
            raise InvalidFieldValue(name, raw, e.reason) from None
    if t in ("region", "industry"):
        tree = regions() if t == "region" else industries()
        try:
            code = tree.canonical(str(raw))
        except UnknownCode as e:
            raise InvalidFieldValue(name, raw, e.reason) from None
        if t == "region" and name == "region" and not tree.is_registration_level(code):
            raise InvalidFieldValue(name, raw, "注册地应为县级行政区划（区、县）代码")
        if t == "industry" and name == "industry" and tree.get(code).level != 3:
            raise InvalidFieldValue(name, raw, "行业应为 GB/T 4754-2017 小类代码（4 位数字）")
        return code
    if t == "date":
        if isinstance(raw, dt.datetime):
            value = raw.date()
        elif isinstance(raw, dt.date):
            value = raw
        else:
            try:
                value = dt.date.fromisoformat(str(raw).strip())
            except ValueError:
                raise InvalidFieldValue(name, raw, "日期格式应为 YYYY-MM-DD") from None
        if f.past_only and value > (today or dt.date.today()):
            raise InvalidFieldValue(name, raw, "日期不能晚于今天")
        return value
    if t == "money":
        value = _parse_decimal(f, raw)
        if value < 0:
            raise InvalidFieldValue(name, raw, "金额不能为负数")
        if value != value.quantize(CENT, rounding=ROUND_HALF_UP):
            raise InvalidFieldValue(name, raw, "金额以元为单位，最多两位小数")
        return value.quantize(CENT)
    if t == "percent":
        return _parse_decimal(f, raw).quantize(CENT, rounding=ROUND_HALF_UP)
    if t == "count":
        value = _parse_decimal(f, raw)
        if value != value.to_integral_value():
            raise InvalidFieldValue(name, raw, "应为整数")
        if value < 0:
            raise InvalidFieldValue(name, raw, "不能为负数")
        return int(value)
    if t == "bool":
        if isinstance(raw, bool):
            return raw
        s = str(raw).strip().lower()
        if s in ("true", "1", "yes", "是"):
            return True
        if s in ("false", "0", "no", "否"):
            return False
        raise InvalidFieldValue(name, raw, "应为 true 或 false")
    if t == "enum":
        s = str(raw).strip()
        if s not in f.choices:
            raise InvalidFieldValue(name, raw, f"应为 {', '.join(f.choices)} 之一")
        return s
    if t == "set":
        if isinstance(raw, str) and raw.strip().lower() in NONE_WORDS:
            return frozenset()  # known to hold none, which is not the same as unknown
        items = raw if isinstance(raw, (list, tuple, set, frozenset)) else str(raw).split(";")
        out = []
        for item in items:
            s = str(item).strip()
            if not s:
                continue
            if s not in f.choices:
                raise InvalidFieldValue(name, raw, f"{s!r} 不是可选值（{', '.join(f.choices)}）")
            out.append(s)
        return frozenset(out)
    raise AssertionError(f"unhandled field type {t}")  # pragma: no cover - TYPES is closed


def format_value(name: str, value: object) -> str:
    """The canonical text of a typed value (CSV cells, the store's value column)."""
    if value is None:
        return ""
    f = field(name)
    if f.type == "set":
        return ";".join(sorted(value)) or "none"  # type: ignore[arg-type]
    if f.type == "bool":
        return "true" if value else "false"
    if f.type == "date":
        return value.isoformat()  # type: ignore[union-attr]
    if f.type in ("money", "percent"):
        return f"{value:.2f}"
    return str(value)


def load_value(name: str, text: str) -> object:
    """The typed value of a field's canonical text (what :func:`format_value` wrote, as the store keeps it):
    its inverse, without :func:`parse_value`'s checks, which the value passed when it was stored."""
    if text == "":
        return None
    t = FIELDS[name].type
    if t in ("money", "percent"):
        return Decimal(text)
    if t == "count":
        return int(text)
    if t == "bool":
        return text == "true"
    if t == "date":
        return dt.date.fromisoformat(text)
    if t == "set":
        return frozenset() if text == "none" else frozenset(text.split(";"))
    return text


def label_value(name: str, value: object) -> str:
    """The value as a person reads it, in Chinese (万元 for large sums, 是/否, labels)."""
    if value is None:
        return "未提供"
    f = field(name)
    if f.type == "money":
        d = Decimal(value)  # type: ignore[arg-type]
        if abs(d) >= 10000:
            return f"{(d / 10000).quantize(CENT).normalize():f}万元"
        return f"{d:.2f}元"
    if f.type == "percent":
        return f"{Decimal(value).normalize():f}%"  # type: ignore[arg-type]
    if f.type == "bool":
        return "是" if value else "否"
    if f.type == "region":
        return regions().full_name(value)  # type: ignore[arg-type]
    if f.type == "industry":
        return industries().get(value).name  # type: ignore[arg-type]
    if f.type == "enum":
        names = {**LISTED_STATUS, **SCALES}
        return names.get(value, value)  # type: ignore[arg-type]
    if f.type == "set":
        return "、".join(QUALIFICATIONS[q] for q in sorted(value)) or "无"  # type: ignore[arg-type]
    if f.type == "count" and f.unit:
        return f"{value}{f.unit}"
    return str(value)


def markdown_table() -> str:
    """The catalog as the Markdown table in docs/fields.md (a test keeps them equal)."""
    lines = [
        "| field | label | type | unit | source | notes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in FIELDS.values():
        notes = f.description
        if f.choices:
            notes = (notes + " " if notes else "") + "values: " + ", ".join(f.choices)
        if f.required:
            notes = "required. " + notes
        lines.append(
            f"| `{f.name}` | {f.label} | {f.type} | {f.unit or ''} | "
            f"{f.source} ({SOURCES[f.source]}) | {notes.strip()} |"
        )
    return "\n".join(lines) + "\n"
