"""The field catalog: every enterprise attribute a policy may test, read from data.

One place for each fact. The shipped fields live in ``matcher/fields.yaml``; a
deployment adds or overrides fields in its own file (``ZHIDA_CATALOG`` or
``zhida --catalog FILE``) without touching Python, and :func:`use` installs the
effective catalog. Importers, the store, the generator, both rule engines, the
explanations and the UI all read names, types, units, labels, ranges and
sources from here; :func:`parse_value` is the one way a raw value (CSV cell,
JSON value, declared fact) becomes the typed value zhida keeps.

Money is ``Decimal`` yuan with two places; percentages are ``Decimal`` with
two places (``12.50`` means 12.5 %); dates are ``datetime.date``; a list of
records is a tuple of dicts holding typed values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import unicodedata
from dataclasses import dataclass
from dataclasses import field as dc_field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType

import yaml

from graph import UnknownCode, industries, regions
from matcher import uscc
from matcher.errors import InvalidFieldValue, InvalidUSCC, MatcherError

CENT = Decimal("0.01")
SHIPPED = Path(__file__).with_name("fields.yaml")

# A set field written as one of these is known to be empty ("" means unknown, or absent from a roster).
NONE_WORDS = ("none", "无")

TYPES = ("text", "uscc", "region", "industry", "date", "money", "count", "percent", "bool", "enum", "set", "records")
# the names the vocabulary and other systems use for the same types
TYPE_ALIASES = {"int": "count", "integer": "count", "rate": "percent", "boolean": "bool", "list": "records"}
RECORD_FIELD_TYPES = ("text", "date", "money", "count", "percent", "bool", "enum", "region", "industry")
ABSENCE = {"unknown": "缺失即未知", "roster": "以名单为准：不在名单即为否"}

# Bounds every field has unless its entry narrows them: no value a feed can send is unbounded.
DEFAULT_MAX = {"money": Decimal("10000000000000"), "count": Decimal(1_000_000_000), "percent": Decimal(1_000_000)}
DEFAULT_MIN = {"money": Decimal(0), "count": Decimal(0), "percent": Decimal(-1_000_000)}
DEFAULT_MAX_LENGTH = 1000
DEFAULT_MAX_ITEMS = 10_000
MAX_DIGITS = 40  # longer number text is refused before it is read


class CatalogError(MatcherError, ValueError):
    """A catalog file that cannot be used: each problem as ``FILE: path: reason``."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("字段目录有误：\n" + "\n".join(problems))


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
    declarable: bool = False  # an enterprise may declare it (自主申报, under 信用承诺)
    min: Decimal | dt.date | None = None
    max: Decimal | dt.date | None = None
    max_length: int | None = None  # text
    absence: str = "unknown"  # unknown | roster
    refuses: str | None = None  # a true value refuses every payout, for this reason
    choice_labels: MappingProxyType = dc_field(default_factory=lambda: MappingProxyType({}), compare=False)
    fields: tuple[Field, ...] = ()  # records: the fields of one record
    max_items: int | None = None  # records: most records one enterprise may carry

    @property
    def numeric(self) -> bool:
        return self.type in ("money", "count", "percent")

    @property
    def roster(self) -> bool:
        return self.absence == "roster"

    def subfield(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True, slots=True)
class Roster:
    """A published list (名单) that sets one field, or one member of a set field, for the firms it lists."""

    id: str
    label: str
    field: str
    source: str
    member: str | None = None


@dataclass(frozen=True, slots=True)
class Consistency:
    """A rule across fields that every enterprise's values must keep (参保职工 ≤ 从业人员)."""

    id: str
    fields: tuple[str, ...]
    rule: object
    message: str


# The effective catalog. These containers are filled in place by :func:`use`, so a module that imported
# one of them sees the catalog in effect.
FIELDS: dict[str, Field] = {}
FACT_FIELDS: list[Field] = []
SOURCES: dict[str, str] = {}
VERIFIED_SOURCES: set[str] = set()
QUALIFICATIONS: dict[str, str] = {}
ROSTERS: dict[str, Roster] = {}
RULES: list[Consistency] = []
REFUSALS: dict[str, str] = {}  # field -> reason; matcher.settlement refuses on these
FILES: list[str] = []  # the files the effective catalog was read from, shipped first
_DIGEST: list[str] = [""]


# -- reading catalog files ------------------------------------------------------------------------------


def _read(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError([f"{path}: 文件不存在"]) from None
    except UnicodeDecodeError as e:
        raise CatalogError([f"{path}: 不是 UTF-8 文本（第 {e.start} 字节）"]) from None
    except OSError as e:
        raise CatalogError([f"{path}: 无法读取（{e.strerror}）"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise CatalogError([f"{path}{where}: 不是有效的 YAML（{getattr(e, 'problem', e)}）"]) from None
    if not isinstance(data, dict):
        raise CatalogError([f"{path}: 应为映射（sources、fields、consistency、rosters）"])
    return data


class _Builder:
    """Merges catalog files in order: a later file adds fields or overrides keys of earlier ones."""

    FIELD_KEYS = {
        "name", "label", "type", "unit", "source", "declarable", "min", "max", "max_length", "choices",
        "absence", "description", "required", "past_only", "derived", "fields", "max_items", "refuses",
    }  # fmt: skip
    SUB_KEYS = {"name", "label", "type", "unit", "min", "max", "max_length", "choices", "description"}

    def __init__(self):
        self.sources: dict[str, dict] = {}
        self.fields: dict[str, dict] = {}
        self.rules: dict[str, dict] = {}
        self.rosters: dict[str, dict] = {}
        self.problems: list[str] = []
        self.shipped_derived: set[str] | None = None

    def fail(self, where: str, reason: str) -> None:
        self.problems.append(f"{where}: {reason}")

    def add(self, path: Path, data: dict) -> None:
        for key in data:
            if key not in ("version", "sources", "fields", "consistency", "rosters"):
                self.fail(f"{path}: {key}", "未知的键；可用：version、sources、fields、consistency、rosters")
        for key, value in (data.get("sources") or {}).items():
            if not isinstance(value, dict) or not isinstance(value.get("label"), str):
                self.fail(f"{path}: sources.{key}", "应为 {label: 中文名称, verified: true/false}")
                continue
            self.sources[str(key)] = value
        raw_fields = data.get("fields") or []
        if not isinstance(raw_fields, list):
            self.fail(f"{path}: fields", "应为字段列表")
            raw_fields = []
        for i, entry in enumerate(raw_fields):
            where = f"{path}: fields[{i}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                self.fail(where, "每个字段应为映射，至少包含 name")
                continue
            name = entry["name"]
            where = f"{path}: fields[{i}]（{name}）"
            for key in entry:
                if key not in self.FIELD_KEYS:
                    self.fail(f"{where}.{key}", f"未知的键；可用：{'、'.join(sorted(self.FIELD_KEYS))}")
            old = self.fields.get(name)
            if old is None:
                if entry.get("derived") and self.shipped_derived is not None:
                    self.fail(where, "系统计算字段只能在 matcher/registry.py 中定义；目录文件只能改它的标签或说明")
                    continue
                self.fields[name] = {**entry, "_where": where}
            else:
                new_type = TYPE_ALIASES.get(entry.get("type"), entry.get("type"))
                if "type" in entry and new_type != TYPE_ALIASES.get(old["type"], old["type"]):
                    self.fail(f"{where}.type", f"不能改变已有字段的类型（{old['type']}）")
                    continue
                if old.get("derived") and set(entry) - {"name", "label", "description"}:
                    self.fail(where, "系统计算字段只能改标签（label）或说明（description）")
                    continue
                self.fields[name] = {**old, **entry, "_where": where}
        for key, target in (("consistency", self.rules), ("rosters", self.rosters)):
            items = data.get(key) or []
            if not isinstance(items, list):
                self.fail(f"{path}: {key}", "应为列表")
                continue
            for i, entry in enumerate(items):
                if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                    self.fail(f"{path}: {key}[{i}]", "每项应为映射，至少包含 id")
                    continue
                target[entry["id"]] = {**entry, "_where": f"{path}: {key}[{i}]（{entry['id']}）"}

    # -- building typed definitions --------------------------------------------------------------------
    def build(self) -> tuple[dict, dict, dict, list]:
        sources = {k: str(v["label"]) for k, v in self.sources.items()}
        verified = {k for k, v in self.sources.items() if v.get("verified") is True}
        fields = {}
        for name, raw in self.fields.items():
            f = self._field(raw, raw["_where"], sources, top=True)
            if f is not None:
                fields[name] = f
        rosters = {}
        for rid, raw in self.rosters.items():
            where = raw["_where"]
            target = fields.get(raw.get("field"))
            if target is None:
                self.fail(where, f"名单对应的字段 {raw.get('field')!r} 不在字段目录中")
                continue
            if not target.roster:
                self.fail(where, f"字段 {target.name} 的 absence 应为 roster，名单才有意义")
            member = raw.get("member")
            if target.type == "set" and member not in (target.choices or ()):
                self.fail(f"{where}.member", f"应为 {target.name} 的可选值之一：{'、'.join(target.choices or ())}")
            if target.type not in ("set", "bool"):
                self.fail(where, f"名单只能对应是否（bool）或集合（set）字段；{target.name} 是 {target.type}")
            source = raw.get("source", target.source)
            if source not in sources:
                self.fail(f"{where}.source", f"来源 {source!r} 不在 sources 中")
            rosters[rid] = Roster(rid, str(raw.get("label") or rid), target.name, source, member)
        rules = []
        for rid, raw in self.rules.items():
            where = raw["_where"]
            names = raw.get("fields")
            if not isinstance(names, list) or not all(n in fields for n in names):
                self.fail(f"{where}.fields", "应为字段目录中的字段名列表")
                continue
            if not isinstance(raw.get("rule"), dict) or not isinstance(raw.get("message"), str):
                self.fail(where, "应包含 rule（JsonLogic）和 message（中文说明）")
                continue
            rules.append(Consistency(rid, tuple(names), raw["rule"], raw["message"]))
        return fields, sources, verified, rosters, rules

    def _field(self, raw: dict, where: str, sources: dict, top: bool) -> Field | None:
        before = len(self.problems)
        name = raw["name"]
        if top and not (name.isidentifier() and name.isascii() and name == name.lower()):
            self.fail(where, "字段名应为小写英文、数字和下划线（如 new_hires）")
        kind = TYPE_ALIASES.get(raw.get("type"), raw.get("type"))
        allowed = TYPES if top else RECORD_FIELD_TYPES
        if kind not in allowed:
            self.fail(f"{where}.type", f"应为 {'、'.join(allowed)} 之一（实际 {raw.get('type')!r}）")
            return None
        label = raw.get("label")
        if not isinstance(label, str) or not label.strip():
            self.fail(f"{where}.label", "需要中文标签")
        source = raw.get("source", "derived" if raw.get("derived") else None) if top else "derived"
        if top and source not in sources:
            self.fail(f"{where}.source", f"应为 {'、'.join(sources)} 之一（实际 {source!r}）")
        choices = raw.get("choices")
        labels: dict[str, str] = {}
        if kind in ("enum", "set"):
            if isinstance(choices, dict) and choices:
                labels = {str(k): str(v) for k, v in choices.items()}
            elif isinstance(choices, list) and choices:
                labels = {str(k): str(k) for k in choices}
            else:
                self.fail(f"{where}.choices", "enum 和 set 字段需要可选值（值: 标签）")
        elif choices is not None:
            self.fail(f"{where}.choices", f"只有 enum 和 set 字段有可选值（本字段为 {kind}）")
        absence = raw.get("absence", "unknown")
        if absence not in ABSENCE:
            self.fail(f"{where}.absence", "应为 unknown（缺失即未知）或 roster（以名单为准）")
        if absence == "roster" and kind not in ("bool", "set"):
            self.fail(f"{where}.absence", "只有 bool 和 set 字段能以名单为准")
        lo, hi = (self._bound(raw, key, kind, where) for key in ("min", "max"))
        if kind in DEFAULT_MAX:
            lo = DEFAULT_MIN[kind] if lo is None else lo
            hi = DEFAULT_MAX[kind] if hi is None else hi
        if lo is not None and hi is not None and lo > hi:
            self.fail(f"{where}.min", f"下限 {lo} 大于上限 {hi}")
        max_length = raw.get("max_length", DEFAULT_MAX_LENGTH if kind == "text" else None)
        if max_length is not None and (
            not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1
        ):
            self.fail(f"{where}.max_length", "应为正整数")
        subfields: tuple[Field, ...] = ()
        max_items = None
        if kind == "records":
            entries = raw.get("fields")
            if not isinstance(entries, list) or not entries:
                self.fail(f"{where}.fields", "记录列表字段需要 fields：每条记录的字段")
                entries = []
            out = []
            for j, sub in enumerate(entries):
                swhere = f"{where}.fields[{j}]"
                if not isinstance(sub, dict) or not isinstance(sub.get("name"), str) or not sub["name"].isidentifier():
                    self.fail(swhere, "每个记录字段应为映射，name 为英文标识符")
                    continue
                for key in sub:
                    if key not in self.SUB_KEYS:
                        self.fail(f"{swhere}.{key}", f"未知的键；可用：{'、'.join(sorted(self.SUB_KEYS))}")
                f = self._field(sub, f"{swhere}（{sub['name']}）", sources, top=False)
                if f is not None:
                    out.append(f)
            if len({f.name for f in out}) != len(out):
                self.fail(f"{where}.fields", "记录字段名重复")
            subfields = tuple(out)
            max_items = raw.get("max_items", DEFAULT_MAX_ITEMS)
            if not isinstance(max_items, int) or isinstance(max_items, bool) or max_items < 1:
                self.fail(f"{where}.max_items", "应为正整数")
        elif "fields" in raw:
            self.fail(f"{where}.fields", "只有 records 字段有 fields")
        flags = {}
        for key in ("declarable", "required", "past_only", "derived"):
            value = raw.get(key, False)
            if not isinstance(value, bool):
                self.fail(f"{where}.{key}", "应为 true 或 false")
            flags[key] = value is True
        if flags["declarable"] and flags["derived"]:
            self.fail(f"{where}.declarable", "系统计算字段不能由企业申报")
        refuses = raw.get("refuses")
        if refuses is not None and (kind != "bool" or not isinstance(refuses, str)):
            self.fail(f"{where}.refuses", "只有 bool 字段能拒付，值为中文理由")
        if len(self.problems) > before:
            return None
        return Field(
            name=name,
            type=kind,
            label=label.strip(),
            source=source,
            unit=str(raw["unit"]) if raw.get("unit") is not None else None,
            choices=tuple(labels) if labels else None,
            description=str(raw.get("description") or ""),
            derived=flags["derived"],
            required=flags["required"],
            past_only=flags["past_only"],
            declarable=flags["declarable"],
            min=lo,
            max=hi,
            max_length=max_length,
            absence=absence,
            refuses=refuses,
            choice_labels=MappingProxyType(labels),
            fields=subfields,
            max_items=max_items,
        )

    def _bound(self, raw: dict, key: str, kind: str, where: str):
        value = raw.get(key)
        if value is None:
            return None
        if kind == "date":
            try:
                return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
            except ValueError:
                self.fail(f"{where}.{key}", "日期应为 YYYY-MM-DD")
                return None
        if kind not in DEFAULT_MAX:
            self.fail(f"{where}.{key}", f"{kind} 字段没有数值范围")
            return None
        try:
            d = Decimal(str(value))
        except InvalidOperation:
            d = Decimal("NaN")
        if not d.is_finite() or isinstance(value, bool):
            self.fail(f"{where}.{key}", f"应为数字（实际 {value!r}）")
            return None
        return d


def load(paths=()) -> tuple:
    """The catalog the shipped file and ``paths`` (in order) give, or :class:`CatalogError` listing every problem."""
    b = _Builder()
    b.add(SHIPPED, _read(SHIPPED))
    b.shipped_derived = {n for n, raw in b.fields.items() if raw.get("derived")}
    files = [str(SHIPPED)]
    for p in paths:
        p = Path(p)
        b.add(p, _read(p))
        files.append(str(p))
    built = b.build()
    if b.problems:
        raise CatalogError(b.problems)
    return (*built, files)


def use(paths=None) -> None:
    """Install the effective catalog: the shipped fields, then each file of ``paths`` (a list, or one text
    of paths separated by ``:``, as ``ZHIDA_CATALOG`` gives them). Nothing changes if a file has a problem."""
    if isinstance(paths, str):
        paths = [p for p in paths.split(":") if p.strip()]
    fields, sources, verified, rosters, rules, files = load(paths or ())
    FIELDS.clear()
    FIELDS.update(fields)
    FACT_FIELDS[:] = [f for f in fields.values() if not f.derived]
    SOURCES.clear()
    SOURCES.update(sources)
    VERIFIED_SOURCES.clear()
    VERIFIED_SOURCES.update(verified)
    QUALIFICATIONS.clear()
    QUALIFICATIONS.update(fields["qualifications"].choice_labels if "qualifications" in fields else {})
    ROSTERS.clear()
    ROSTERS.update(rosters)
    RULES[:] = rules
    REFUSALS.clear()
    REFUSALS.update({f.name: f.refuses for f in fields.values() if f.refuses})
    FILES[:] = files
    _DIGEST[0] = hashlib.sha256(json.dumps(describe(), ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def digest() -> str:
    """A hash of the effective catalog: two processes with the same digest read facts alike."""
    return _DIGEST[0]


def field(name: str) -> Field:
    try:
        return FIELDS[name]
    except KeyError:
        raise InvalidFieldValue(name, None, "字段目录中没有这个字段") from None


def roster(name: str) -> Roster:
    """A roster by its id or its Chinese label (高新技术企业)."""
    for r in ROSTERS.values():
        if name in (r.id, r.label):
            return r
    known = "、".join(f"{r.label}（{r.id}）" for r in ROSTERS.values())
    raise InvalidFieldValue("roster", name, f"没有这个名单；可用：{known}")


# -- values ---------------------------------------------------------------------------------------------


def _parse_decimal(f: Field, where: str, raw: object) -> Decimal:
    if isinstance(raw, bool):
        raise InvalidFieldValue(where, raw, "应为数字")
    if isinstance(raw, float):
        raw = repr(raw)  # shortest round-trip text, never the binary expansion
    text = str(raw).strip().replace(",", "")
    if len(text) > MAX_DIGITS:
        raise InvalidFieldValue(where, _short(raw), f"数字过长（超过 {MAX_DIGITS} 个字符）")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidFieldValue(where, _short(raw), "应为数字") from None
    if not value.is_finite():
        raise InvalidFieldValue(where, raw, "应为有限数字")
    if f.min is not None and value < f.min:
        if f.min == 0:
            raise InvalidFieldValue(where, raw, "金额不能为负数" if f.type == "money" else "不能为负数")
        raise InvalidFieldValue(where, raw, f"不能小于 {f.min:f}{f.unit or ''}（有效范围 {_range(f)}）")
    if f.max is not None and value > f.max:
        raise InvalidFieldValue(where, _short(raw), f"超出有效范围：不能大于 {f.max:f}{f.unit or ''}")
    return value


def _range(f: Field) -> str:
    unit = f.unit or ""

    def shown(bound) -> str:
        return "" if bound is None else bound.isoformat() if isinstance(bound, dt.date) else f"{bound:f}{unit}"

    lo, hi = shown(f.min), shown(f.max)
    if lo and hi:
        return f"{lo} 至 {hi}"
    return f"不小于 {lo}" if lo else f"不大于 {hi}"


def _short(raw: object) -> object:
    """A value fit to quote in an error (a 10,000-character name is cut)."""
    return raw if not isinstance(raw, str) or len(raw) <= 60 else raw[:60] + f"…（共 {len(raw)} 个字符）"


def _text(f: Field, where: str, raw: object) -> str:
    if not isinstance(raw, str):
        if isinstance(raw, (dict, list, tuple, set)):
            raise InvalidFieldValue(where, _short(repr(raw)), "应为文本")
        raw = str(raw)
    for ch in raw:
        if ch in "\t\n\r":
            continue
        cat = unicodedata.category(ch)
        if cat == "Cs":
            raise InvalidFieldValue(where, _short(raw), "含有无效的 Unicode 代理字符")
        if cat == "Cc":
            raise InvalidFieldValue(where, _short(raw), f"含有控制字符 U+{ord(ch):04X}")
    value = raw.strip()
    if f.max_length is not None and len(value) > f.max_length:
        raise InvalidFieldValue(where, _short(value), f"过长：{len(value)} 个字符，最多 {f.max_length} 个")
    return value


def parse_value(name: str, raw: object, *, today: dt.date | None = None) -> object:
    """Turn a raw value into the field's typed value, or raise :class:`InvalidFieldValue`.

    ``None`` and ``""`` mean *missing* and come back as ``None``.
    """
    return _parse(field(name), name, raw, today)


def _parse(f: Field, where: str, raw: object, today: dt.date | None) -> object:
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    t = f.type
    if t == "text":
        return _text(f, where, raw)
    if t == "uscc":
        try:
            return uscc.validate(raw)
        except InvalidUSCC as e:
            raise InvalidFieldValue(where, _short(raw), e.reason) from None
    if t in ("region", "industry"):
        tree = regions() if t == "region" else industries()
        try:
            code = tree.canonical(_text(f, where, raw))
        except UnknownCode as e:
            raise InvalidFieldValue(where, _short(raw), e.reason) from None
        if t == "region" and f.name == "region" and not tree.is_registration_level(code):
            raise InvalidFieldValue(where, raw, "注册地应为县级行政区划（区、县）代码")
        if t == "industry" and f.name == "industry" and tree.get(code).level != 3:
            raise InvalidFieldValue(where, raw, "行业应为 GB/T 4754-2017 小类代码（4 位数字）")
        return code
    if t == "date":
        if isinstance(raw, dt.datetime):
            value = raw.date()
        elif isinstance(raw, dt.date):
            value = raw
        else:
            try:
                value = dt.date.fromisoformat(_text(f, where, raw))
            except ValueError:
                raise InvalidFieldValue(where, _short(raw), "日期格式应为 YYYY-MM-DD") from None
        if f.past_only and value > (today or dt.date.today()):
            raise InvalidFieldValue(where, raw, "日期不能晚于今天")
        if (f.min is not None and value < f.min) or (f.max is not None and value > f.max):
            raise InvalidFieldValue(where, raw, f"超出有效范围（{_range(f)}）")
        return value
    if t == "money":
        value = _parse_decimal(f, where, raw)
        if value != value.quantize(CENT, rounding=ROUND_HALF_UP):
            raise InvalidFieldValue(where, raw, "金额以元为单位，最多两位小数")
        return value.quantize(CENT)
    if t == "percent":
        return _parse_decimal(f, where, raw).quantize(CENT, rounding=ROUND_HALF_UP)
    if t == "count":
        value = _parse_decimal(f, where, raw)
        if value != value.to_integral_value():
            raise InvalidFieldValue(where, raw, "应为整数")
        return int(value)
    if t == "bool":
        if isinstance(raw, bool):
            return raw
        s = str(raw).strip().lower()
        if s in ("true", "1", "yes", "是"):
            return True
        if s in ("false", "0", "no", "否"):
            return False
        raise InvalidFieldValue(where, _short(raw), "应为 true 或 false")
    if t == "enum":
        s = _text(f, where, raw)
        if s not in f.choices:
            raise InvalidFieldValue(where, _short(raw), f"应为 {', '.join(f.choices)} 之一")
        return s
    if t == "set":
        if isinstance(raw, str) and raw.strip().lower() in NONE_WORDS:
            return frozenset()  # known to hold none, which is not the same as unknown
        items = raw if isinstance(raw, (list, tuple, set, frozenset)) else _text(f, where, raw).split(";")
        out = []
        for item in items:
            s = str(item).strip()
            if not s:
                continue
            if s not in f.choices:
                raise InvalidFieldValue(where, _short(raw), f"{_short(s)!r} 不是可选值（{', '.join(f.choices)}）")
            out.append(s)
        return frozenset(out)
    if t == "records":
        return _records(f, where, raw, today)
    raise AssertionError(f"unhandled field type {t}")  # pragma: no cover - TYPES is closed


def _records(f: Field, where: str, raw: object, today: dt.date | None) -> tuple[dict, ...]:
    if isinstance(raw, str):
        if raw.strip().lower() in NONE_WORDS:
            return ()
        try:
            raw = json.loads(raw)
        except ValueError:
            raise InvalidFieldValue(where, _short(raw), "应为记录列表（JSON 数组）") from None
    if isinstance(raw, dict) or not isinstance(raw, (list, tuple)):
        raise InvalidFieldValue(where, _short(repr(raw)), "应为记录列表（每条记录一个映射）")
    if len(raw) > f.max_items:
        raise InvalidFieldValue(where, f"{len(raw)} 条", f"记录过多：最多 {f.max_items} 条")
    out = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise InvalidFieldValue(at, _short(repr(item)), "每条记录应为映射：字段名 → 值")
        record = {}
        for key, value in item.items():
            sub = f.subfield(key) if isinstance(key, str) else None
            if sub is None:
                names = "、".join(s.name for s in f.fields)
                raise InvalidFieldValue(f"{at}.{key}", _short(value), f"记录没有这个字段（可用：{names}）")
            record[key] = _parse(sub, f"{at}.{key}", value, today)
        out.append({s.name: record.get(s.name) for s in f.fields})
    return tuple(out)


def format_value(name: str, value: object) -> str:
    """The canonical text of a typed value (CSV cells, the store's value column)."""
    if value is None:
        return ""
    return _format(field(name), value)


def parse_sub(record_field: str, name: str, raw: object, *, where: str | None = None, today=None) -> object:
    """:func:`parse_value` for one sub-field of a records field (a cell of a records file)."""
    f = field(record_field)
    sub = f.subfield(name)
    if sub is None:
        names = "、".join(s.name for s in f.fields)
        raise InvalidFieldValue(where or name, raw, f"{f.label}的记录没有这个字段（可用：{names}）")
    return _parse(sub, where or name, raw, today)


def format_sub(record_field: str, name: str, value: object) -> str:
    """The canonical text of a sub-field's typed value (a cell of a records file)."""
    sub = field(record_field).subfield(name)
    return "" if value is None else _format(sub, value)


def _format(f: Field, value: object) -> str:
    if value is None:
        return ""
    if f.type == "set":
        return ";".join(sorted(value)) or "none"  # type: ignore[arg-type]
    if f.type == "bool":
        return "true" if value else "false"
    if f.type == "date":
        return value.isoformat()  # type: ignore[union-attr]
    if f.type in ("money", "percent"):
        return f"{value:.2f}"
    if f.type == "records":
        rows = [{s.name: _jsonable(s, r.get(s.name)) for s in f.fields} for r in value]  # type: ignore[union-attr]
        return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _jsonable(f: Field, value: object) -> object:
    """A record's value as JSON keeps it: numbers that are exact stay numbers, the rest canonical text."""
    if value is None or f.type in ("count", "bool"):
        return value
    return _format(f, value)


def load_value(name: str, text: str) -> object:
    """The typed value of a field's canonical text (what :func:`format_value` wrote, as the store keeps it):
    its inverse, without :func:`parse_value`'s checks, which the value passed when it was stored."""
    if text == "":
        return None
    return _load(FIELDS[name], text)


def _load(f: Field, text: str) -> object:
    t = f.type
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
    if t == "records":
        rows = json.loads(text)
        return tuple(
            {
                s.name: (r.get(s.name) if s.type in ("count", "bool") or r.get(s.name) is None else _load(s, r[s.name]))
                for s in f.fields
            }
            for r in rows
        )
    return text


def label_value(name: str, value: object) -> str:
    """The value as a person reads it, in Chinese (万元 for large sums, 是/否, labels)."""
    if value is None:
        return "未提供"
    return _label(field(name), value)


def _label(f: Field, value: object) -> str:
    if value is None:
        return "未提供"
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
        return f.choice_labels.get(value, value)  # type: ignore[arg-type]
    if f.type == "set":
        return "、".join(f.choice_labels.get(q, q) for q in sorted(value)) or "无"  # type: ignore[arg-type]
    if f.type == "records":
        return f"{len(value)}{f.unit}" if f.unit else f"{len(value)} 条"  # type: ignore[arg-type]
    if f.type == "count" and f.unit:
        return f"{value}{f.unit}"
    return str(value)


# -- rules across fields --------------------------------------------------------------------------------


def inconsistencies(facts: dict, as_of: dt.date | None = None) -> list[tuple[str, str, tuple[str, ...]]]:
    """``(field, reason, rule's fields)`` for each consistency rule the typed ``facts`` break, named by
    the rule's first field; a rule whose fields are not all known is not broken."""
    from matcher.engine import evaluate_rule

    out = []
    for rule in RULES:
        values = [facts.get(n) for n in rule.fields]
        if any(v is None for v in values):
            continue
        if evaluate_rule(rule.rule, facts, as_of=as_of).value is False:
            shown = "，".join(
                f"{FIELDS[n].label} {_label(FIELDS[n], v)}" for n, v in zip(rule.fields, values, strict=True)
            )
            out.append((rule.fields[0], f"{rule.message}（{shown}）", rule.fields))
    return out


def tag_taxonomy() -> dict:
    """The tag taxonomy (``graph.tags``) of the effective catalog: its scales and qualifications, and the
    policy spec's handling modes."""
    from graph.tags import build
    from matcher.spec import MODE_LABELS

    return build(dict(FIELDS["scale"].choice_labels), dict(QUALIFICATIONS), MODE_LABELS)


# -- documentation --------------------------------------------------------------------------------------


def describe() -> dict:
    """The effective catalog as plain data (``zhida fields list --json``, the digest)."""

    def one(f: Field) -> dict:
        out = {"name": f.name, "label": f.label, "type": f.type}
        for key in ("unit", "description", "max_length", "max_items", "refuses"):
            if getattr(f, key):
                out[key] = getattr(f, key)
        for key in ("min", "max"):
            value = getattr(f, key)
            if value is not None:
                out[key] = value.isoformat() if isinstance(value, dt.date) else f"{value:f}"
        if f.choice_labels:
            out["choices"] = dict(f.choice_labels)
        if f.fields:
            out["fields"] = [one(s) for s in f.fields]
        return out

    return {
        "sources": {k: {"label": v, "verified": k in VERIFIED_SOURCES} for k, v in SOURCES.items()},
        "fields": [
            {
                **one(f),
                "source": f.source,
                "declarable": f.declarable,
                "absence": f.absence,
                "required": f.required,
                "derived": f.derived,
            }
            for f in FIELDS.values()
        ],
        "consistency": [{"id": r.id, "fields": list(r.fields), "message": r.message} for r in RULES],
        "rosters": [
            {"id": r.id, "label": r.label, "field": r.field, "member": r.member, "source": r.source}
            for r in ROSTERS.values()
        ],
    }


def markdown_table() -> str:
    """The catalog as the Markdown table in docs/fields.md (a test keeps them equal)."""
    lines = [
        "| field | label | type | unit | source | declarable | range | absent means | notes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in FIELDS.values():
        notes = f.description
        if f.choices:
            notes = (notes + " " if notes else "") + "values: " + ", ".join(f.choices)
        if f.fields:
            notes = (
                (notes + " " if notes else "") + "record fields: " + ", ".join(f"{s.name} ({s.type})" for s in f.fields)
            )
        if f.refuses:
            notes = (notes + " " if notes else "") + "refuses every payout."
        if f.required:
            notes = "required. " + notes
        span = ""
        if f.min is not None or f.max is not None:
            span = _range(f)
        elif f.max_length:
            span = f"≤ {f.max_length} 字"
        elif f.max_items:
            span = f"≤ {f.max_items} 条"
        lines.append(
            f"| `{f.name}` | {f.label} | {f.type} | {f.unit or ''} | {f.source} ({SOURCES[f.source]}) | "
            f"{'yes' if f.declarable else ''} | {span} | {'not on it' if f.roster else 'unknown'} | {notes.strip()} |"
        )
    return "\n".join(lines) + "\n"


use()  # the shipped catalog; a deployment's files are added by service.settings' ZHIDA_CATALOG at start-up
