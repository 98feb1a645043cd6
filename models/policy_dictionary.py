"""Explicit mentions: the regions, qualifications, industries and scales a policy text names, and the
topic keyword lexicon (the tagger's baseline).

What a policy says in so many words needs no model: "坪山区", "专精特新中小企业", "软件和信息技术服务业",
"小微企业" are found by a dictionary, and said with the words and the place they were found, so an officer
can check them. The vocabularies come from the taxonomy passed in (``matcher.catalog.tag_taxonomy()``:
the regions and industries of ``graph/data``, the effective catalog's qualifications), so a deployment's
own qualification is found by its label too; this module reads no other package.

Short names need care: "北京" and "深圳" are safe, "中山" (中山大学), "长治" (长治久安) and two-character
county names ("和县" in "市和县") are not, and "朝阳区" is in 北京 and in 长春 — an ambiguous name is
resolved by the other places the text names, or left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from models.policy_text import normalize, unquote

TARGET_KINDS = ("region", "qualification", "industry", "scale")

# -- topics: the keyword lexicon (the baseline, and what a reader expects each topic to be about) -------------

TOPIC_KEYWORDS: dict[str, tuple[str, ...]] = {
    "rd_innovation": (
        "研发",
        "研究开发",
        "技术攻关",
        "成果转化",
        "技术创新",
        "创新中心",
        "重点实验室",
        "工程研究中心",
        "企业技术中心",
        "新型研发机构",
        "概念验证",
        "揭榜挂帅",
        "首台套",
        "首台(套)",
    ),
    "high_tech": ("高新技术", "高精尖", "战略性新兴产业", "硬科技", "前沿技术"),
    "srdi": ("专精特新", "小巨人", "单项冠军"),
    "employment": ("就业", "稳岗", "吸纳", "社会保险补贴", "失业", "招用", "见习", "以工代训", "用工"),
    "talent": ("人才", "引才", "落户", "博士后", "技能培训", "职业技能", "人才公寓", "安居"),
    "financing": ("贷款", "贴息", "融资", "担保", "风险补偿", "股权投资", "投资基金", "融资租赁", "信贷", "授信"),
    "listing": ("上市", "挂牌", "新三板", "证券交易所", "北交所", "科创板", "创业板", "股份制改造"),
    "digital": ("数字化", "数字经济", "大数据", "上云", "工业互联网", "人工智能", "算力", "5g", "云计算", "区块链"),
    "smart_manufacturing": ("智能制造", "智能工厂", "数字化车间", "机器人", "机器换人", "智能化改造", "示范工厂"),
    "green": ("绿色", "低碳", "节能", "减排", "碳达峰", "碳中和", "新能源", "环保", "清洁能源", "光伏", "氢能"),
    "foreign_trade": ("外贸", "进出口", "出口", "跨境", "外资", "外商投资", "对外投资", "境外", "国际市场", "走出去"),
    "consumption": ("消费", "商贸", "零售", "商业", "餐饮", "首店", "步行街", "电子商务", "电商", "会展", "老字号"),
    "culture_tourism": ("文化", "旅游", "文旅", "影视", "电影", "动漫", "演艺", "出版", "广播电视", "文创", "艺术"),
    "agriculture": ("农业", "农产品", "农户", "耕地", "种业", "农民", "乡村振兴", "畜牧", "粮食", "涉农"),
    "small_micro": ("小微企业", "中小企业", "中小微企业", "个体工商户", "小型微型", "小升规"),
    "startup": ("创业", "孵化", "众创空间", "创客", "初创", "天使投资", "大学科技园"),
    "ip": ("知识产权", "专利", "商标", "著作权", "版权"),
    "rent_relief": ("房租", "租金", "免租", "租房"),
    "tax_relief": ("税收优惠", "免征", "减征", "减免", "所得税", "增值税", "加计扣除", "税费", "减税", "降费"),
}


def keyword_counts(text: str) -> dict[str, int]:
    """How often each topic's keywords occur in a text (normalised here)."""
    t = unquote(normalize(text))
    return {topic: sum(t.count(k) for k in words) for topic, words in TOPIC_KEYWORDS.items()}


# -- targets ---------------------------------------------------------------------------------------------------

# Names that are not places in running text, and province/city short names that are common words.
_REGION_STOP = {"市辖区", "省直辖县级行政区划", "自治区直辖县级行政区划", "县", "城区", "矿区", "郊区"}
_SHORT_STOP = {"中山", "长治", "大同", "来宾", "安康", "阿里", "山南", "白山", "吉安", "三明", "丽水", "通化", "黄山"}
_SHORT_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "省", "市")
# Industry names read as something else in policies: 人力资源社会保障局, 卫生健康委, the public sector.
_INDUSTRY_STOP = {"卫生", "社会保障", "国家机构", "国际组织", "中国共产党机关", "人民政协、民主党派", "土地管理"}
# Proper names that contain a target word without meaning it: 新三板's official name, an exchange's board.
_NOT_MENTIONS = ("全国中小企业股份转让系统", "中小企业股份转让系统", "专精特新专板", "专精特新板")

# The shipped catalog's qualifications by the words policies use; any other comes in by its label.
QUALIFICATION_ALIASES: dict[str, tuple[str, ...]] = {
    "high_tech": ("高新技术企业", "国家高新技术企业", "国家级高新技术企业"),
    "tech_sme": ("科技型中小企业",),
    "innovative_sme": ("创新型中小企业",),
    "srdi_sme": ("专精特新中小企业", "专精特新企业", "专精特新"),
    "little_giant": ("专精特新小巨人企业", "专精特新小巨人", "小巨人企业", "小巨人"),
    "gazelle": ("瞪羚企业", "瞪羚"),
    "unicorn": ("独角兽企业", "独角兽"),
}

# 大中小微 as policies say it (工信部联企业〔2011〕300号: 中小企业 are 中型, 小型 and 微型).
SCALE_WORDS: dict[str, tuple[str, ...]] = {
    "大中型企业": ("large", "medium"),
    "大型企业": ("large",),
    "中型企业": ("medium",),
    "中小微企业": ("medium", "small", "micro"),
    "中小企业": ("medium", "small", "micro"),
    "小微企业": ("small", "micro"),
    "小型微型企业": ("small", "micro"),
    "小型企业": ("small",),
    "微型企业": ("micro",),
}


@dataclass
class Mention:
    tag: str
    label: str
    count: int = 0
    found: list[str] = field(default_factory=list)
    context: str = ""
    first: int = -1  # where the first word was found (the context's place)

    def as_dict(self) -> dict:
        return {"tag": self.tag, "label": self.label, "count": self.count, "found": self.found, "context": self.context}


def _alternation(patterns) -> re.Pattern:
    """Leftmost-longest over many literal patterns: longer alternatives first."""
    ordered = sorted(set(patterns), key=lambda p: (-len(p), p))
    return re.compile("|".join(re.escape(p) for p in ordered))


def _depth(taxonomy: Mapping, tag_id: str) -> int:
    d, parent = 0, taxonomy[tag_id].parent
    while parent is not None:
        d, parent = d + 1, taxonomy[parent].parent
    return d


class TargetMatcher:
    """The dictionary of one taxonomy: ``find(text)`` gives the target tags a text names, with where."""

    def __init__(self, taxonomy: Mapping):
        self.taxonomy = taxonomy
        self.patterns: dict[str, dict[str, tuple[str, ...]]] = {kind: {} for kind in TARGET_KINDS}
        self._regions(taxonomy)
        self._industries(taxonomy)
        self._qualifications(taxonomy)
        for word, codes in SCALE_WORDS.items():
            tags = tuple(f"scale:{c}" for c in codes if f"scale:{c}" in taxonomy)
            if tags:
                self.patterns["scale"][word] = tags
        self.regex = {kind: _alternation(p) for kind, p in self.patterns.items() if p}
        # an industry name ending in 业 is not the start of 业务 (融资租赁业务 is no 租赁业)
        if "industry" in self.regex:
            self.regex["industry"] = re.compile(f"(?:{self.regex['industry'].pattern})(?!(?<=业)务)")

    def _regions(self, taxonomy: Mapping) -> None:
        by_name: dict[str, list[str]] = {}
        short: dict[str, list[tuple[int, str]]] = {}
        stems = set()  # 朝阳 of 朝阳区: a district named without its suffix ("朝阳、海淀、丰台等区")
        for t in taxonomy.values():
            if t.kind != "region" or t.label in _REGION_STOP:
                continue
            if len(t.label) > 2:
                by_name.setdefault(t.label, []).append(t.id)
            depth = _depth(taxonomy, t.id)
            if depth >= 2 and len(t.label) > 2:
                stems.add(t.label[:-1])
            if depth <= 1 and t.label != "市辖区":  # provinces and cities only: districts' short names collide
                for suffix in _SHORT_SUFFIXES:
                    if t.label.endswith(suffix) and len(t.label) - len(suffix) >= 2:
                        short.setdefault(t.label[: -len(suffix)], []).append((depth, t.id))
                        break
        patterns = {name: tuple(ids) for name, ids in by_name.items()}
        for name, cands in short.items():
            if name in _SHORT_STOP or name in patterns or name in stems:
                continue
            top = min(d for d, _ in cands)  # 吉林: the province before the city of the same name
            ids = [i for d, i in cands if d == top]
            if len(ids) == 1:
                patterns[name] = tuple(ids)
        self.patterns["region"] = patterns

    def _industries(self, taxonomy: Mapping) -> None:
        names: dict[str, list[tuple[int, str]]] = {}
        for t in taxonomy.values():
            if t.kind != "industry" or t.label in _INDUSTRY_STOP:
                continue
            depth = _depth(taxonomy, t.id)
            if depth > 1:  # 门类 and 大类: finer classes are rarely named in policies
                continue
            variants = {t.label, t.label.replace("、", "")}
            for v in list(variants):
                if v.endswith("业") and len(v) - 1 >= 4 and not v.startswith("其他"):  # 软件和信息技术服务(业)
                    variants.add(v[:-1])
            for v in variants:
                names.setdefault(v, []).append((depth, t.id))
        # a name at two levels (教育 is 门类 P and 大类 P83): the finer one, its parent follows from the tree
        self.patterns["industry"] = {n: (max(c)[1],) for n, c in names.items()}

    def _qualifications(self, taxonomy: Mapping) -> None:
        out: dict[str, tuple[str, ...]] = {}
        for t in taxonomy.values():
            if t.kind != "qualification":
                continue
            for word in (unquote(normalize(t.label)), *QUALIFICATION_ALIASES.get(t.code, ())):
                out[word] = (t.id,)
        self.patterns["qualification"] = out

    def find(self, text: str) -> list[dict]:
        """The target tags the text names, each with its count, the words found and the first context."""
        shown = t = unquote(normalize(text))
        for phrase in _NOT_MENTIONS:
            t = t.replace(phrase, "#" * len(phrase))
        out: list[Mention] = []
        for kind in TARGET_KINDS:
            regex = self.regex.get(kind)
            if regex is None:
                continue
            hits: dict[str, list[tuple[int, str]]] = {}
            for m in regex.finditer(t):
                hits.setdefault(m.group(), []).append((m.start(), m.group()))
            mentions: dict[str, Mention] = {}
            resolved = self._resolve(kind, hits)
            for word, tags in resolved.items():
                for tag in tags:
                    mention = mentions.setdefault(tag, Mention(tag, self.taxonomy[tag].label))
                    mention.count += len(hits[word])
                    if word not in mention.found:
                        mention.found.append(word)
                    first = hits[word][0][0]
                    if mention.first < 0 or first < mention.first:
                        mention.context = shown[max(0, first - 12) : first + len(word) + 12]
                        mention.first = first
            out.extend(sorted(mentions.values(), key=lambda m: (-m.count, m.tag)))
        return [m.as_dict() for m in out]

    def _resolve(self, kind: str, hits: dict) -> dict[str, tuple[str, ...]]:
        """Words to tags; a region name held by several places goes to the one whose province or city
        the text also names, or is dropped."""
        table = self.patterns[kind]
        out = {w: table[w] for w in hits if len(table[w]) == 1}
        if kind != "region":
            return {w: table[w] for w in hits}
        named = {tag for tags in out.values() for tag in tags}
        for word in hits:
            cands = table[word]
            if len(cands) == 1:
                continue
            inside = [c for c in cands if any(a in named for a in self._ancestors(c))]
            if len(inside) == 1:
                out[word] = (inside[0],)
        return out

    def _ancestors(self, tag: str) -> list[str]:
        out, parent = [], self.taxonomy[tag].parent
        while parent is not None:
            out.append(parent)
            parent = self.taxonomy[parent].parent
        return out


_matchers: dict[int, TargetMatcher] = {}


def matcher(taxonomy: Mapping) -> TargetMatcher:
    """The dictionary of this taxonomy, built once per taxonomy object."""
    key = id(taxonomy)
    found = _matchers.get(key)
    if found is None or found.taxonomy is not taxonomy:
        found = _matchers[key] = TargetMatcher(taxonomy)
    return found
