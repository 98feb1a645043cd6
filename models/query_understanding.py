"""What a plain-Chinese search query says about the firm asking and what it asks for.

"我是一家成立两年的小型软件企业，有什么研发补贴" says: industry 软件和信息技术服务业 (I65), scale 小型, about
two years old, and the topic 研发创新. :func:`understand` finds each of these with the words it came from,
so the answer can be echoed back ("按您所说：……") and checked, and the rest of the query is left to the text
ranker. Rules and dictionaries, not a model: the vocabularies are the project's own (the taxonomy passed in,
``graph/data`` via ``models.policy_dictionary``'s target dictionary, the tagger's topic keywords), plus the
words firms use and policies do not (软件公司, 饭店, 招人, 高企), listed below and checked against the
taxonomy when the dictionary is built.

A word said about the firm is read once, as the firm's fact: "小微企业贷款" is a small or micro firm asking
about loans, not a query about the 小微企业 topic; "想申请专精特新" is a query about 专精特新, not a claim to
hold it. What the query does not say stays unsaid (unknown), never guessed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from models.policy_dictionary import QUALIFICATION_ALIASES, TOPIC_KEYWORDS, matcher
from models.policy_text import normalize, unquote

# -- vocabularies: how firms say it ----------------------------------------------------------------------

# Colloquial names of a firm's line of business -> GB/T 4754-2017 codes (the firm is in one of them). The
# official 门类 and 大类 names (制造业, 软件和信息技术服务业, 餐饮业 …) come from the taxonomy.
INDUSTRY_WORDS: dict[str, tuple[str, ...]] = {
    "软件": ("I65",),
    "信息技术": ("I65",),
    "it企业": ("I65",),
    "it公司": ("I65",),
    "saas": ("I65",),
    "互联网公司": ("I64",),
    "互联网企业": ("I64",),
    "人工智能企业": ("I65", "M73"),
    "人工智能公司": ("I65", "M73"),
    "ai企业": ("I65", "M73"),
    "ai公司": ("I65", "M73"),
    "芯片设计": ("I6520",),
    "集成电路设计": ("I6520",),
    "芯片": ("C397", "I6520"),
    "集成电路": ("C397", "I6520"),
    "半导体": ("C397",),
    "电子厂": ("C39",),
    "电子信息制造": ("C39",),
    "工厂": ("C",),
    "厂子": ("C",),
    "小厂": ("C",),
    "加工厂": ("C",),
    "办厂": ("C",),
    "制造企业": ("C",),
    "制造业企业": ("C",),
    "制造型企业": ("C",),
    "制造公司": ("C",),
    "生产企业": ("C",),
    "生产型企业": ("C",),
    "机械": ("C34", "C35"),
    "装备制造": ("C34", "C35", "C37", "C38", "C39"),
    "汽车零部件": ("C367",),
    "汽车配件": ("C367",),
    "汽车": ("C36",),
    "药企": ("C27",),
    "制药": ("C27",),
    "医药": ("C27",),
    "医疗器械": ("C358",),
    "化工": ("C26",),
    "纺织": ("C17",),
    "服装": ("C18",),
    "食品厂": ("C13", "C14", "C15"),
    "食品企业": ("C13", "C14", "C15"),
    "食品加工": ("C13", "C14"),
    "家具": ("C21",),
    "印刷": ("C23",),
    "塑料": ("C292",),
    "钢铁": ("C31",),
    "餐饮": ("H62",),
    "饭店": ("H62",),
    "饭馆": ("H62",),
    "餐馆": ("H62",),
    "餐厅": ("H62",),
    "小吃店": ("H62",),
    "奶茶店": ("H62",),
    "咖啡店": ("H62",),
    "火锅店": ("H62",),
    "酒店": ("H61",),
    "宾馆": ("H61",),
    "民宿": ("H61",),
    "旅馆": ("H61",),
    "超市": ("F52",),
    "便利店": ("F52",),
    "零售": ("F52",),
    "商店": ("F52",),
    "门店": ("F52",),
    "小卖部": ("F52",),
    "批发": ("F51",),
    "贸易公司": ("F51",),
    "外贸公司": ("F51",),
    "外贸企业": ("F51",),
    "进出口公司": ("F51",),
    "进出口企业": ("F51",),
    "电商": ("F5292",),
    "网店": ("F5292",),
    "淘宝店": ("F5292",),
    "直播带货": ("F5292",),
    "电子商务公司": ("F5292",),
    "电子商务企业": ("F5292",),
    "物流": ("G",),
    "快递": ("G",),
    "运输公司": ("G",),
    "货运": ("G",),
    "仓储": ("G59",),
    "建筑公司": ("E",),
    "建筑企业": ("E",),
    "施工企业": ("E",),
    "装修公司": ("E50",),
    "房地产": ("K70",),
    "物业公司": ("K7020",),
    "咨询公司": ("L72",),
    "广告公司": ("L725",),
    "人力资源公司": ("L726",),
    "研发机构": ("M73",),
    "技术服务公司": ("M75",),
    "农场": ("A",),
    "种植": ("A01",),
    "养殖": ("A03", "A04"),
    "合作社": ("A",),
    "培训机构": ("P83",),
    "学校": ("P83",),
    "医院": ("Q84",),
    "诊所": ("Q84",),
    "文化公司": ("R",),
    "传媒公司": ("R",),
    "影视公司": ("R",),
    "金融企业": ("J",),
    "金融机构": ("J",),
    "投资公司": ("J",),
}

# 企业规模 as firms say it (工信部联企业〔2011〕300号: 中小企业 are 中型, 小型 and 微型).
SCALE_WORDS: dict[str, tuple[str, ...]] = {
    "大中型": ("large", "medium"),
    "大型": ("large",),
    "大企业": ("large",),
    "大公司": ("large",),
    "中型": ("medium",),
    "中小微": ("medium", "small", "micro"),
    "中小型": ("medium", "small", "micro"),
    "中小企业": ("medium", "small", "micro"),
    "中小": ("medium", "small", "micro"),
    "小微": ("small", "micro"),
    "小型微型": ("small", "micro"),
    "小企业": ("small", "micro"),
    "小公司": ("small", "micro"),
    "小厂": ("small", "micro"),
    "小型": ("small",),
    "微型": ("micro",),
    "微企": ("micro",),
}

FIRM_KINDS = ("qualification", "industry", "scale", "region")

# Topic words firms use that policies rarely do (the tagger's TOPIC_KEYWORDS are read too).
QUERY_TOPIC_WORDS: dict[str, tuple[str, ...]] = {
    "rd_innovation": ("研发", "科研", "技术开发", "新产品", "研究开发"),
    "high_tech": ("高企", "高新"),
    "employment": ("招人", "招工", "招聘", "扩岗", "应届生", "毕业生", "大学生", "实习", "社保补贴"),
    "talent": ("培训", "技能", "住房补贴", "租房补贴"),
    "financing": ("借钱", "利息", "首贷", "质押", "银行"),
    "listing": ("ipo", "上市辅导"),
    "digital": ("信息化", "数字化改造", "数字化转型", "上云"),
    "smart_manufacturing": ("自动化", "技改", "技术改造", "设备更新", "智能化"),
    "green": ("环保", "绿色工厂", "节能降碳"),
    "foreign_trade": ("展会", "参展", "海外", "出海"),
    "consumption": ("促消费", "销售增长"),
    "ip": ("发明", "专利"),
    "rent_relief": ("减租", "厂房租金", "房租", "房租减免", "租金减免"),
    "tax_relief": ("减税", "退税", "税收", "纳税"),
    "startup": ("开办", "开业", "初创", "新开"),
}

# Qualifications as firms say them, beside the catalog's labels and models.policy_dictionary's aliases.
QUALIFICATION_WORDS: dict[str, tuple[str, ...]] = {"high_tech": ("高企", "国家高新企业", "高新企业")}

# Before a qualification's name: the firm does not hold it (yet): "想申请专精特新", "还不是高企".
ASPIRATION_BEFORE = re.compile(
    r"(想|要|申请|申报|认定|评上|评为|成为|争取|准备|如何|怎么|怎样|不是|没有|还没|尚未|未|非|打算|计划|能否|能不能)"
    r"\S{0,3}$"
)
# After it: the name is the process, not the firm ("高新技术企业认定").
ASPIRATION_AFTER = re.compile(r"^(认定|评定|评价|申报|申请|入库|培育|资格)")

# -- numbers ---------------------------------------------------------------------------------------------

_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNIT = {"十": 10, "百": 100, "千": 1000}


def chinese_number(text: str) -> Decimal | None:
    """``3``, ``1.5``, ``十二``, ``两百``, ``三千五`` as a Decimal; None if it is no number."""
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return Decimal(text)
    if not text or any(c not in _DIGIT and c not in _UNIT for c in text):
        return None
    total, digit, last_unit = 0, None, 1
    for c in text:
        if c in _DIGIT:
            digit = _DIGIT[c]
        else:
            unit = _UNIT[c]
            total += (1 if digit is None else digit) * unit
            digit, last_unit = None, unit
    if digit is not None:
        total += digit * (last_unit // 10 if last_unit > 1 and len(text) > 1 and text[-2] in _UNIT else 1)
    return Decimal(total)


def _about(n: Decimal, mod: str | None) -> tuple[Decimal, Decimal | None]:
    """A count said with 多/余/来 (二十多: 20–29), 以上/超过 (open above), 不到 (below), 左右 (±10 %)."""
    if mod in ("多", "余", "来"):
        step = Decimal(10) ** max(len(str(int(n))) - 1, 0) if n >= 10 else Decimal(1)
        return n, n + step - 1
    if mod in ("以上", "超过", "多于"):
        return n, None
    if mod in ("不到", "以下", "不足", "少于"):
        return Decimal(0), max(n - 1, Decimal(0))
    if mod in ("左右", "约", "大概", "大约"):
        return (n * Decimal("0.9")).to_integral_value(), (n * Decimal("1.1")).to_integral_value()
    return n, n


# -- the understanding -----------------------------------------------------------------------------------


@dataclass
class Finding:
    """One thing understood: ``kind`` (industry, scale, region, age, qualification, employees, revenue,
    topic, wish), its value, a Chinese label and the query's words it came from, with where."""

    kind: str
    value: object
    label: str
    words: list[str] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)

    def as_dict(self) -> dict:
        value = self.value
        if isinstance(value, tuple):
            value = [_plain(v) for v in value]
        return {"kind": self.kind, "value": _plain(value), "label": self.label, "words": list(self.words)}


def _plain(v):
    if isinstance(v, (dt.date, Decimal)):
        return v.isoformat() if isinstance(v, dt.date) else f"{v:f}"
    if isinstance(v, (list, tuple, frozenset, set)):
        return [_plain(x) for x in (sorted(v) if isinstance(v, (set, frozenset)) else v)]
    return v


@dataclass
class Understanding:
    """What :func:`understand` read: the normalised query, the day, and the findings in query order."""

    query: str
    text: str  # normalised
    day: dt.date
    findings: list[Finding]

    def of(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    @property
    def industries(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for f in self.of("industry") for c in f.value))

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.value for f in self.of("region")))

    @property
    def scales(self) -> tuple[str, ...] | None:
        """The scales the firm may be (those every scale word allows), None if it said none."""
        found = self.of("scale")
        if not found:
            return None
        allowed = set(found[0].value)
        for f in found[1:]:
            allowed = (allowed & set(f.value)) or set(f.value)  # words that contradict: the last one said
        return tuple(s for s in ("large", "medium", "small", "micro") if s in allowed)

    @property
    def established(self) -> tuple[dt.date | None, dt.date | None] | None:
        """The 成立日期 range the age words allow (earliest, latest), None if none was said."""
        found = self.of("age")
        return found[-1].value if found else None

    @property
    def held(self) -> frozenset[str]:
        return frozenset(f.value for f in self.of("qualification"))

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.value for f in self.of("topic")))

    def range_of(self, kind: str) -> tuple | None:
        found = self.of(kind)
        return found[-1].value if found else None

    def firm_spans(self) -> list[tuple[int, int]]:
        """Where the query describes the firm (its words are the firm's, not what it asks for)."""
        return [s for f in self.findings if f.kind in FIRM_KINDS for s in f.spans]

    def fact_spans(self) -> list[tuple[int, int]]:
        """Where the query states numbers and ages (no words to rank policy text by)."""
        return [s for f in self.findings if f.kind in ("age", "employees", "revenue") for s in f.spans]

    def as_dict(self) -> dict:
        return {
            "query": self.query,
            "day": self.day.isoformat(),
            "findings": [f.as_dict() for f in self.findings],
            "summary": self.summary(),
        }

    def summary(self) -> str:
        """The understanding in one Chinese sentence, each part with the words it came from."""
        firm = [f for f in self.findings if f.kind not in ("topic", "wish")]
        asked = [f for f in self.findings if f.kind in ("topic", "wish")]
        said = lambda f: f"{f.label}（“{'”“'.join(f.words)}”）"  # noqa: E731
        parts = []
        if firm:
            parts.append("企业情况：" + "；".join(said(f) for f in firm))
        if asked:
            parts.append("想了解：" + "；".join(said(f) for f in asked))
        return "。".join(parts) + "。" if parts else "未从查询中识别出企业情况或政策主题。"


class _Dictionary:
    """Every fixed word of a taxonomy's vocabularies, matched leftmost-longest in one pass."""

    def __init__(self, taxonomy: Mapping, home: tuple[str, ...]):
        self.taxonomy = taxonomy
        targets = matcher(taxonomy)
        entries: dict[str, list[tuple[str, object]]] = {}

        def add(word: str, kind: str, value) -> None:
            entries.setdefault(unquote(normalize(word)), []).append((kind, value))

        for word, tags in targets.patterns["qualification"].items():
            add(word, "qualification", tuple(t.split(":", 1)[1] for t in tags))
        for code, words in QUALIFICATION_WORDS.items():
            if f"qualification:{code}" in taxonomy:
                for word in words:
                    add(word, "qualification", (code,))
        for word, tags in targets.patterns["industry"].items():
            add(word, "industry", tuple(t.split(":", 1)[1] for t in tags))
        for word, codes in INDUSTRY_WORDS.items():
            missing = [c for c in codes if f"industry:{c}" not in taxonomy]
            if missing:
                raise ValueError(f"INDUSTRY_WORDS 中 {word} 的行业代码 {missing} 不在行业分类中")
            add(word, "industry", codes)
        for word, codes in SCALE_WORDS.items():
            add(word, "scale", codes)
            if not word.endswith(("企业", "公司", "厂")):
                add(word + "企业", "scale", codes)
        for word, tags in targets.patterns["region"].items():
            add(word, "region", tuple(t.split(":", 1)[1] for t in tags))
        for word, code in self._home_stems(home).items():
            if word not in entries:
                add(word, "region", (code,))
        for topic, words in {**{t: () for t in QUERY_TOPIC_WORDS}, **TOPIC_KEYWORDS}.items():
            for word in (*words, *QUERY_TOPIC_WORDS.get(topic, ())):
                add(word, "topic", (topic,))
        self.entries = entries
        ordered = sorted(entries, key=lambda w: (-len(w), w))
        self.regex = re.compile("|".join(re.escape(w) for w in ordered))
        self.home = home

    def _home_stems(self, home: tuple[str, ...]) -> dict[str, str]:
        """The districts of the home cities by their short names (江宁 for 江宁区), where unambiguous."""
        by_stem: dict[str, set[str]] = {}
        cities = {self._city(code) for code in home} - {None}
        for tag in self.taxonomy.values():
            if tag.kind != "region" or tag.parent not in cities or len(tag.label) < 3:
                continue
            if tag.label[-1] in "区县市":
                by_stem.setdefault(tag.label[:-1], set()).add(tag.code)
        return {stem: codes.pop() for stem, codes in by_stem.items() if len(codes) == 1}

    def _city(self, code: str) -> str | None:
        tag = self.taxonomy.get(f"region:{code}")
        while tag is not None and tag.parent is not None and self.taxonomy[tag.parent].parent is not None:
            tag = self.taxonomy[tag.parent]
        if tag is None:
            return None
        return tag.id if tag.parent is not None else None


def vocabulary() -> set[str]:
    """Every fixed word this module reads a query by (but the taxonomy's names): the search tokenizer
    keeps each one whole."""
    words = set(INDUSTRY_WORDS) | set(SCALE_WORDS) | {w for ws in QUALIFICATION_WORDS.values() for w in ws}
    words |= {w for ws in (*TOPIC_KEYWORDS.values(), *QUERY_TOPIC_WORDS.values()) for w in ws}
    words |= {w for ws in QUALIFICATION_ALIASES.values() for w in ws}
    return {unquote(normalize(w)) for w in words}


_dictionaries: dict[tuple[int, tuple[str, ...]], _Dictionary] = {}


def dictionary(taxonomy: Mapping, home: Iterable[str] = ()) -> _Dictionary:
    """The query dictionary of a taxonomy and home regions, built once per pair."""
    key = (id(taxonomy), tuple(sorted(set(home))))
    found = _dictionaries.get(key)
    if found is None or found.taxonomy is not taxonomy:
        found = _dictionaries[key] = _Dictionary(taxonomy, key[1])
    return found


# -- ages, head counts, revenue: patterns with numbers ---------------------------------------------------

_AGE_VERB = r"(?:成立|注册|创立|创办|开业|创业|经营|开了|干了|做了|运营)"
_AGE_FILL = r"(?:了|时间|至今|已经|已|才|刚刚|刚|有|大概|大约|约|快|将近|差不多)*"
_AGE_N = r"(?P<n>\d+|[一二两三四五六七八九十]+|半|十几|十多)"
AGE_PATTERNS = (
    re.compile(
        _AGE_VERB
        + _AGE_FILL
        + r"(?P<pre>不到|不满|未满|没满|不足|还不到|没到|超过|满|已满)?"
        + _AGE_N
        + r"(?P<more>多)?个?(?P<unit>年|月)(?P<mod>多|半|左右|以上|以内|之内|内|出头)?"
    ),  # fmt: skip
    re.compile(r"(?:成立|注册)(?:于|在)?(?P<year>(?:19|20)\d\d)年"),
    re.compile(r"(?P<year>(?:19|20)\d\d)年(?:初|底|中|年初|年底)?(?:成立|注册|创立|开业)"),
    re.compile(
        r"(?P<pre>不到|不满|未满|没满|不足|超过|满)?" + _AGE_N + r"(?P<more>多)?个?(?P<unit>年|月)"
        r"(?P<mod>多|半|左右|以上|以内|之内|内|出头)?前?(?:成立|注册|创立|开业)"
    ),  # fmt: skip
    re.compile(r"(?P<this>今年|去年|前年)(?:刚|才|新)?(?:成立|注册|创立|开业)"),
    re.compile(r"(?P<new>刚刚成立|刚成立|新成立|新注册|刚注册|刚开业|新设立|刚起步)"),
    re.compile(r"(?P<startup>初创)"),
)
_EMP_NUM = r"(?P<n>\d+|[一二两三四五六七八九十百千]+)(?P<mod>多|余|来)?"
EMPLOYEE_PATTERNS = (
    re.compile(
        r"(?:员工|职工|雇员|从业人员|人数|团队)(?:人数)?(?:有|共|总共|一共|才|只有)?(?P<pre>约|大概|大约|不到|超过)?"
        + _EMP_NUM
        + r"(?:个|名|位)?人?(?P<post>左右|以上)?"
    ),  # fmt: skip
    re.compile(
        r"(?P<pre>约|大概|大约|不到|超过)?" + _EMP_NUM + r"(?:个|名|位)?(?:人|员工|职工)(?P<post>左右)?"
        r"(?=的|规模)"
    ),  # fmt: skip
)
_MONEY_UNIT = {"亿": Decimal(10) ** 8, "千万": Decimal(10) ** 7, "百万": Decimal(10) ** 6, "万": Decimal(10) ** 4}
REVENUE_PATTERN = re.compile(
    r"(?:年|上年|上年度|去年)?(?:营收|营业收入|销售收入|销售额|营业额|收入)(?:有|达到|达|在|才|只有)?"
    r"(?P<pre>约|大概|大约|不到|超过|近|将近)?(?P<n>\d+(?:\.\d+)?|[一二两三四五六七八九十百千]+)(?P<mod>多|余|来)?"
    r"(?P<unit>亿|千万|百万|万)元?(?P<post>左右|以上|以下)?"
)


OLDEST = 200  # years: an age above this is no firm's (the oldest 老字号 are a few centuries old at most)


def _anniversary(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def established_range(day: dt.date, low: int, high: int | None) -> tuple[dt.date | None, dt.date]:
    """The 成立日期 that make a firm ``low`` … ``high`` whole years old on ``day`` (high None: or older)."""
    latest = _anniversary(day, low)
    earliest = None if high is None else _anniversary(day, high + 1) + dt.timedelta(days=1)
    return earliest, latest


def _age_words(m: re.Match, day: dt.date) -> tuple[tuple, str] | None:
    """(成立日期 range, 标签) of one age match, or None when it says no usable age."""
    g = m.groupdict()
    if g.get("new"):
        return established_range(day, 0, 0), "新成立（不满 1 年）"
    if g.get("startup"):
        return established_range(day, 0, 2), "初创（成立不满 3 年）"
    if g.get("this"):
        year = day.year - {"今年": 0, "去年": 1, "前年": 2}[g["this"]]
        return (dt.date(year, 1, 1), min(dt.date(year, 12, 31), day)), f"{year} 年成立"
    if g.get("year"):
        year = int(g["year"])
        if year > day.year:
            return None
        return (dt.date(year, 1, 1), min(dt.date(year, 12, 31), day)), f"{year} 年成立"
    n_text = g["n"]
    if n_text in ("十几", "十多"):
        low, high = 10, 19
    else:
        n = Decimal("0.5") if n_text == "半" else chinese_number(n_text)
        if n is None:
            return None
        years = int(n // 12) if g["unit"] == "月" else int(n)
        if years > OLDEST:  # a year ("2030年成立") or a slip, not an age
            return None
        low, high = years, years
        if g.get("more") and years >= 10 and years % 10 == 0:
            high = years + 9
        pre, mod = g.get("pre"), g.get("mod")
        if pre in ("不到", "不满", "未满", "没满", "不足", "还不到", "没到"):
            exact = (n % 12 == 0) if g["unit"] == "月" else (n == int(n))
            low, high = 0, max(years - 1 if exact else years, 0)
        elif pre in ("超过", "满", "已满") or mod == "以上":
            high = None
        elif mod in ("以内", "之内", "内"):
            low = 0
        elif mod == "左右":
            low, high = max(years - 1, 0), years + 1
    if high is None:
        label = f"成立 {low} 年以上"
    elif low == high:
        label = f"成立约 {low} 年" if low else "成立不满 1 年"
    else:
        label = f"成立 {low}–{high} 年"
    return established_range(day, low, high), label


def understand(query: str, day: dt.date, taxonomy: Mapping, home: Iterable[str] = ()) -> Understanding:
    """Read a query (``home``: the region codes of the policies searched, which settle a district name held
    by several cities and let a district go by its short name)."""
    text = unquote(normalize(query))
    findings: list[Finding] = []
    taken = [False] * len(text)

    def free(start: int, end: int) -> bool:
        return not any(taken[start:end])

    def take(f: Finding, start: int, end: int) -> None:
        f.words.append(text[start:end])
        f.spans.append((start, end))
        for i in range(start, end):
            taken[i] = True
        findings.append(f)

    for pattern in AGE_PATTERNS:
        for m in pattern.finditer(text):
            if not free(*m.span()):
                continue
            read = _age_words(m, day)
            if read is None:
                continue
            take(Finding("age", read[0], read[1]), *m.span())
            if m.groupdict().get("startup"):
                findings.append(Finding("topic", "startup", "创业孵化", [m.group()], []))
    for pattern in EMPLOYEE_PATTERNS:
        for m in pattern.finditer(text):
            n = chinese_number(m["n"])
            if n is None or not free(*m.span()):
                continue
            low, high = _about(n, m["mod"] or m["pre"] or m["post"])
            label = f"从业人员 {low}–{high} 人" if high != low else f"从业人员 {low} 人"
            label = f"从业人员 {low} 人以上" if high is None else label
            take(Finding("employees", (int(low), None if high is None else int(high)), label), *m.span())
    for m in REVENUE_PATTERN.finditer(text):
        n = chinese_number(m["n"])
        if n is None or not free(*m.span()):
            continue
        unit = _MONEY_UNIT[m["unit"]]
        low, high = _about(n, m["mod"] or m["pre"] or m["post"])
        if m["mod"]:  # 三百多万: 300–399 万
            high = low + (Decimal(10) ** max(len(str(int(n))) - 1, 0)) - Decimal("0.01") / unit
        lo = (low * unit).quantize(Decimal("0.01"))
        hi = None if high is None else (high * unit).quantize(Decimal("0.01"))
        shown = f"{m['n']}{m['mod'] or ''}{m['unit']}元"
        take(Finding("revenue", (lo, hi), f"上年度营业收入约 {shown}"), *m.span())

    words = dictionary(taxonomy, home)
    masked = "".join("#" if t else c for c, t in zip(text, taken, strict=True))
    regions_named: list[tuple[re.Match, tuple[str, ...]]] = []
    for m in words.regex.finditer(masked):
        entries = words.entries[m.group()]
        firm = any(kind in FIRM_KINDS for kind, _ in entries)
        wished = False
        for kind, value in entries:
            if kind == "region":
                regions_named.append((m, value))
            elif kind == "qualification":
                code, label = value[0], taxonomy[f"qualification:{value[0]}"].label
                wished = _aspired(text, *m.span())  # a wish is no fact: what the query asks about
                found = Finding("wish", code, f"申报{label}") if wished else Finding("qualification", code, label)
                take(found, *m.span())
            elif kind == "topic" and firm and not wished:
                continue  # the firm's own words (小微企业, 餐饮) say who asks, not what about
            elif kind == "industry":
                label = "、".join(taxonomy[f"industry:{c}"].label for c in value)
                take(Finding("industry", tuple(value), label), *m.span())
            elif kind == "scale":
                label = "或".join(taxonomy[f"scale:{c}"].label for c in value) + "企业"
                take(Finding("scale", tuple(value), label), *m.span())
            elif kind == "topic":
                topic = value[0]
                take(Finding("topic", topic, taxonomy[f"topic:{topic}"].label), *m.span())
    for m, codes in regions_named:
        code = _resolve_region(codes, regions_named, words.home, taxonomy)
        if code is not None:
            take(Finding("region", code, _full_name(taxonomy, code)), *m.span())
    _merge(findings)
    _drop_ancestors(findings, taxonomy)
    findings.sort(key=lambda f: f.spans[0][0] if f.spans else len(text))
    return Understanding(query, text, day, findings)


def _aspired(text: str, start: int, end: int) -> bool:
    return bool(ASPIRATION_BEFORE.search(text[max(0, start - 6) : start]) or ASPIRATION_AFTER.match(text[end:]))


def _ancestors(taxonomy: Mapping, tag: str) -> list[str]:
    out, parent = [], taxonomy[tag].parent
    while parent is not None:
        out.append(parent)
        parent = taxonomy[parent].parent
    return out


def _resolve_region(codes, named, home: tuple[str, ...], taxonomy: Mapping) -> str | None:
    """A region name held by one place is that place; held by several, the one inside a home region or inside
    another place the query names; else nothing (never a guess)."""
    if len(codes) == 1:
        return codes[0]
    others = {c for _, cs in named if len(cs) == 1 for c in cs}
    for scope in (others, set(home)):
        inside = [c for c in codes if any(a.split(":", 1)[1] in scope for a in _ancestors(taxonomy, f"region:{c}"))]
        if len(inside) == 1:
            return inside[0]
    return None


def _full_name(taxonomy: Mapping, code: str) -> str:
    tag = f"region:{code}"
    names = [taxonomy[t].label for t in reversed([tag, *_ancestors(taxonomy, tag)])]
    return "".join(n for n in names if n != "市辖区")


def _merge(findings: list[Finding]) -> None:
    """One finding per kind and value: the words of a repeated one are kept together."""
    seen: dict[tuple, Finding] = {}
    out = []
    for f in findings:
        key = (f.kind, f.value)
        if key in seen and f.kind not in ("age", "employees", "revenue"):
            seen[key].words += [w for w in f.words if w not in seen[key].words]
            seen[key].spans += f.spans
            continue
        seen[key] = f
        out.append(f)
    findings[:] = out


def _drop_ancestors(findings: list[Finding], taxonomy: Mapping) -> None:
    """南京 and 江宁区 both named: the firm is in 江宁区 (the coarser place adds nothing); likewise 制造业 and
    汽车. The dropped finding's words stay with the finer one."""
    for kind in ("region", "industry"):
        found = [f for f in findings if f.kind == kind]
        codes = lambda f: f.value if isinstance(f.value, tuple) else (f.value,)  # noqa: E731
        for f in found:
            for g in found:
                if g is f or g not in findings:
                    continue
                fine = all(
                    any(f"{kind}:{c}" in _ancestors(taxonomy, f"{kind}:{d}") for d in codes(g)) for c in codes(f)
                )
                if fine and f in findings:
                    g.words = [*f.words, *g.words]
                    g.spans = [*f.spans, *g.spans]
                    findings.remove(f)
                    break


__all__ = [
    "Finding",
    "Understanding",
    "understand",
    "dictionary",
    "established_range",
    "chinese_number",
    "INDUSTRY_WORDS",
    "SCALE_WORDS",
    "QUERY_TOPIC_WORDS",
]
