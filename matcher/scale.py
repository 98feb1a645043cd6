"""Enterprise scale (大型/中型/小型/微型) by 国统字〔2017〕213号
《统计上大中小微型企业划分办法（2017）》.

Each industry group lists lower bounds for 大型, 中型 and 小型 on some of
从业人员 (employees), 营业收入 (revenue) and 资产总额 (total_assets). The
document's rules, encoded in :func:`classify`:

- 大型、中型和小型企业须同时满足所列指标的下限，否则下划一档 — a class needs
  every listed indicator at or above its lower bound;
- 微型企业只须满足所列指标中的一项即可 — one indicator below the 小型 bound
  makes the enterprise 微型.

Thresholds are written as in the document (人, 万元) and converted to yuan.
金融业 (J), 公共管理 (S) and 国际组织 (T) are outside the 办法 and get ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from graph import industries

WAN = Decimal(10000)
REFERENCE = "国统字〔2017〕213号"
ORDER = ("large", "medium", "small")


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    codes: tuple[str, ...]  # canonical GB/T 4754-2017 prefixes (门类, 大类 or 小类)
    bounds: dict[str, tuple[Decimal, Decimal, Decimal]]  # field -> lower bounds (大, 中, 小)


def _g(name, codes, employees=None, revenue_wan=None, assets_wan=None) -> Group:
    bounds = {}
    if employees:
        bounds["employees"] = tuple(Decimal(x) for x in employees)
    if revenue_wan:
        bounds["revenue"] = tuple(Decimal(x) * WAN for x in revenue_wan)
    if assets_wan:
        bounds["total_assets"] = tuple(Decimal(x) * WAN for x in assets_wan)
    return Group(name, tuple(codes), bounds)


# 附表 统计上大中小微型企业划分标准 (lower bounds for 大型, 中型, 小型)
GROUPS: tuple[Group, ...] = (
    _g("农、林、牧、渔业", ["A"], revenue_wan=(20000, 500, 50)),
    _g("工业", ["B", "C", "D"], employees=(1000, 300, 20), revenue_wan=(40000, 2000, 300)),
    _g("建筑业", ["E"], revenue_wan=(80000, 6000, 300), assets_wan=(80000, 5000, 300)),
    _g("批发业", ["F51"], employees=(200, 20, 5), revenue_wan=(40000, 5000, 1000)),
    _g("零售业", ["F52"], employees=(300, 50, 10), revenue_wan=(20000, 500, 100)),
    _g(
        "交通运输业",
        ["G53", "G54", "G55", "G56", "G57", "G58"],
        employees=(1000, 300, 20),
        revenue_wan=(30000, 3000, 200),
    ),
    _g("仓储业", ["G59"], employees=(200, 100, 20), revenue_wan=(30000, 1000, 100)),
    _g("邮政业", ["G60"], employees=(1000, 300, 20), revenue_wan=(30000, 2000, 100)),
    _g("住宿业", ["H61"], employees=(300, 100, 10), revenue_wan=(10000, 2000, 100)),
    _g("餐饮业", ["H62"], employees=(300, 100, 10), revenue_wan=(10000, 2000, 100)),
    _g("信息传输业", ["I63", "I64"], employees=(2000, 100, 10), revenue_wan=(100000, 1000, 100)),
    _g("软件和信息技术服务业", ["I65"], employees=(300, 100, 10), revenue_wan=(10000, 1000, 50)),
    _g("房地产开发经营", ["K7010"], revenue_wan=(200000, 1000, 100), assets_wan=(10000, 5000, 2000)),
    _g("物业管理", ["K7020"], employees=(1000, 300, 100), revenue_wan=(5000, 1000, 500)),
    _g("租赁和商务服务业", ["L"], employees=(300, 100, 10), assets_wan=(120000, 8000, 100)),
    _g("其他未列明行业", ["K", "M", "N", "O", "P", "Q", "R"], employees=(300, 100, 10)),
)
INDICATORS = tuple(sorted({name for g in GROUPS for name in g.bounds}))  # every indicator some group uses
OUT_OF_SCOPE = {"J": "金融业", "S": "公共管理、社会保障和社会组织", "T": "国际组织"}


@lru_cache(maxsize=4096)
def group(industry_code: str) -> Group | None:
    """The group whose most specific prefix covers the industry (K7010 before K)."""
    code = industries().canonical(industry_code)
    best = None
    for g in GROUPS:
        for prefix in g.codes:
            if code.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), g)
    return best[1] if best else None


def group_of(industry_code: str) -> str:
    g = group(industry_code)
    if g is None:
        return OUT_OF_SCOPE[industries().canonical(industry_code)[0]] + "（不在划分办法范围内）"
    return g.name


def required_fields(industry_code: str) -> tuple[str, ...]:
    g = group(industry_code)
    return tuple(g.bounds) if g else ()


UNCLASSIFIED = "unclassified"  # an industry outside the 办法: the firm has no 企业规模


def classify(industry_code: str, employees=None, revenue=None, total_assets=None) -> str | None:
    """``large`` / ``medium`` / ``small`` / ``micro``, or None when it cannot be decided.

    ``unclassified`` when the industry is outside the 办法 (no 划型 applies, a known fact); None
    when a needed indicator is missing and the present ones do not already prove 微型.
    """
    g = group(industry_code)
    if g is None:
        return UNCLASSIFIED  # 社会组织, 国际组织 …: no 划型 exists for them, which is known, not unknown
    values = {"employees": employees, "revenue": revenue, "total_assets": total_assets}
    present = {k: Decimal(values[k]) for k in g.bounds if values[k] is not None}
    if any(present[k] < g.bounds[k][2] for k in present):
        return "micro"
    if len(present) < len(g.bounds):
        return None
    for i, name in enumerate(ORDER):
        if all(present[k] >= g.bounds[k][i] for k in g.bounds):
            return name
    raise AssertionError("unreachable: every indicator is at least the 小型 bound")


def classify_arrays(industry, employees, employees_known, revenue, revenue_known, assets, assets_known):
    """:func:`classify` for many enterprises at once (numpy), with the same answers.

    ``industry`` holds canonical codes ("" when missing); the numbers are float
    arrays with ``*_known`` masks. Returns an object array of scale names or None.
    """
    import numpy as np

    n = len(industry)
    out = np.full(n, None, dtype=object)
    values = {
        "employees": (employees, employees_known),
        "revenue": (revenue, revenue_known),
        "total_assets": (assets, assets_known),
    }
    codes, inverse = np.unique(industry, return_inverse=True)
    groups, outside = {}, []
    for i, code in enumerate(codes):
        g = group(code) if code else None
        if g is not None:
            groups.setdefault(g.name, (g, []))[1].append(i)
        elif code:
            outside.append(i)
    out[np.isin(inverse, outside)] = UNCLASSIFIED
    for g, idx in groups.values():
        rows = np.isin(inverse, idx)
        present_all = rows.copy()
        micro = np.zeros(n, dtype=bool)
        for name, bounds in g.bounds.items():
            v, k = values[name]
            micro |= rows & k & (v < float(bounds[2]))
            present_all &= k
        out[micro] = "micro"
        decided = present_all & ~micro
        for level, label in enumerate(ORDER):
            meets = decided.copy()
            for name, bounds in g.bounds.items():
                meets &= values[name][0] >= float(bounds[level])
            out[meets & (out == None)] = label  # noqa: E711
    return out
