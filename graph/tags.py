"""The tag taxonomy: what an enterprise is and what a policy is for, as ids with Chinese labels and parents.

One vocabulary for the taggers, the knowledge graph, the candidates and the explanations. A tag id is
``kind:code`` (``industry:C39``, ``region:320114``, ``topic:digital``); its parent is a tag of the same
kind (``industry:C39`` → ``industry:C``), or none for the top of a tree. Industries and regions are the
official trees (GB/T 4754-2017, the current 行政区划 and zhida's zones); scale, qualifications, benefit
types and handling modes come from the field catalog and the policy spec, passed in by the caller
(``matcher.catalog.tag_taxonomy``), so a deployment's catalog (its own qualifications, say) extends the
taxonomy too. Documented in docs/tags.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

KINDS = {
    "industry": "国民经济行业",
    "region": "行政区划",
    "scale": "企业规模",
    "age": "成立年限",
    "qualification": "企业资质",
    "ownership": "登记注册类型",
    "benefit": "支持方式",
    "mode": "兑现方式",
    "topic": "政策主题",
}

# The 20 topics of 政策找人, in the order people read them; other is the catch-all.
TOPICS = {
    "rd_innovation": "研发创新",
    "high_tech": "高新技术",
    "srdi": "专精特新",
    "employment": "稳岗就业",
    "talent": "人才",
    "financing": "融资贴息",
    "listing": "上市",
    "digital": "数字化转型",
    "smart_manufacturing": "智能制造",
    "green": "绿色低碳",
    "foreign_trade": "外贸外资",
    "consumption": "消费商贸",
    "culture_tourism": "文化旅游",
    "agriculture": "农业",
    "small_micro": "小微企业",
    "startup": "创业孵化",
    "ip": "知识产权",
    "rent_relief": "房租减免",
    "tax_relief": "税费减免",
    "other": "其他",
}

# Years since registration, as policies count them: [low, high) in whole years.
AGE_BANDS = {
    "0-1": ("成立不满 1 年", 0, 1),
    "1-3": ("成立 1–3 年", 1, 3),
    "3-5": ("成立 3–5 年", 3, 5),
    "5-10": ("成立 5–10 年", 5, 10),
    "10+": ("成立 10 年以上", 10, None),
}

# 登记注册类型 as 市场监管 reports it (the broad classes of 国统字〔2011〕86号).
OWNERSHIP = {
    "state_owned": "国有及国有控股企业",
    "collective": "集体企业",
    "private": "私营企业",
    "hmt_invested": "港澳台投资企业",
    "foreign_invested": "外商投资企业",
    "individual": "个体工商户",
}

BENEFIT_LABELS = {
    "subsidy": "资金补贴",
    "reward": "奖励",
    "interest_subsidy": "贷款贴息",
    "fee_reduction": "费用减免",
    "tax_reduction": "税收优惠",
}


@dataclass(frozen=True, slots=True)
class Tag:
    id: str  # kind:code
    kind: str
    code: str
    label: str  # Chinese, as people read it
    parent: str | None = None  # a tag id of the same kind

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind]


def tag_id(kind: str, code: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"标签类别 {kind!r} 不存在：应为 {'、'.join(KINDS)} 之一")
    return f"{kind}:{code}"


def age_band(years: int) -> str:
    """The age band of a firm ``years`` whole years old."""
    for code, (_, low, high) in AGE_BANDS.items():
        if years >= low and (high is None or years < high):
            return code
    raise ValueError(f"成立年限应为非负整数（实际 {years!r}）")


def build(scales: dict[str, str], qualifications: dict[str, str], modes: dict[str, str]) -> dict[str, Tag]:
    """Every tag, parents before children within each kind. The vocabularies that the field catalog and
    the policy spec own come in as ``code: 标签`` (``matcher.catalog.tag_taxonomy`` passes the effective
    ones): the graph does not read the decision core."""
    return _build(tuple(scales.items()), tuple(qualifications.items()), tuple(modes.items()))


@lru_cache(maxsize=4)
def _build(scales, qualifications, modes) -> dict[str, Tag]:
    from graph.taxonomy import NATIONAL, industries, regions

    tags: dict[str, Tag] = {}

    def add(kind: str, code: str, label: str, parent: str | None = None) -> None:
        tags[tag_id(kind, code)] = Tag(tag_id(kind, code), kind, code, label, tag_id(kind, parent) if parent else None)

    for node in sorted(industries(), key=lambda n: (n.level, n.code)):
        add("industry", node.code, node.name, node.parent)
    for node in sorted(regions(), key=lambda n: (n.level, n.code)):
        if node.code != NATIONAL:
            parent = node.parent if node.parent and node.parent != NATIONAL else None
            add("region", node.code, node.name, parent)
    for zone in regions().zones():  # 功能区: under the region administering them (深汕 under 深圳市)
        add("region", zone.code, zone.name, zone.parent)
    for kind, entries in (
        ("scale", scales),
        ("age", tuple((code, label) for code, (label, _, _) in AGE_BANDS.items())),
        ("qualification", qualifications),
        ("ownership", tuple(OWNERSHIP.items())),
        ("benefit", tuple(BENEFIT_LABELS.items())),
        ("mode", modes),
        ("topic", tuple(TOPICS.items())),
    ):
        for code, label in entries:
            add(kind, code, label)
    return tags


def ancestors(tags: dict[str, Tag], tag: str) -> list[Tag]:
    """The tag's parents up to the top of its tree, nearest first."""
    out, current = [], tags[tag].parent
    while current is not None:
        out.append(tags[current])
        current = tags[current].parent
    return out
