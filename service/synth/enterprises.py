"""Synthetic enterprises: real codes, heavy-tailed sizes, plausible correlations.

Vectorised with numpy over one Generator, so 100,000 firms take a few
seconds; Python loops run per distinct industry, not per firm.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache

import numpy as np
import pandas as pd

from graph import industries, regions
from matcher import catalog, uscc
from matcher.scale import classify_arrays
from service.synth import params as P

# Characters of 字号 (trade names): common auspicious characters of real names.
TRADE_CHARS = "".join(
    dict.fromkeys(
        "华宏瑞泰鑫盛恒达通诚博远创新天云海金银正亿德安康中宇星辰晨光明辉昌隆兴旺顺丰利源宝嘉"
        "禾润泽浩瀚东方江河山川峰岭森林青蓝翔鹏凯越卓锐智慧思齐志航启元初锦绣秀美佳优尚品"
        "精工匠心诺信义仁和谐同舟共济合力聚众融汇贯达致远永长久福祥泓汉唐宁苏扬徽皖淮楚吴越"
    )
)
# When an industry name gives no usable trade word, by section.
SECTION_WORD = {
    "A": "农业",
    "B": "矿业",
    "C": "制造",
    "D": "能源",
    "E": "建设工程",
    "F": "商贸",
    "G": "物流",
    "H": "餐饮管理",
    "I": "信息技术",
    "J": "投资管理",
    "K": "置业",
    "L": "商务服务",
    "M": "科技",
    "N": "环境工程",
    "O": "家政服务",
    "P": "教育咨询",
    "Q": "健康管理",
    "R": "文化传媒",
}
# Standard items of 经营范围 (经营范围规范表述目录) a firm of each kind lists.
SCOPE_GENERIC = {
    "A": ["农产品的生产、销售、加工、运输、贮藏及其他相关服务"],
    "C": ["货物进出口", "技术进出口"],
    "D": ["合同能源管理", "节能管理服务"],
    "E": ["建筑材料销售", "工程管理服务"],
    "F": ["互联网销售（除销售需要许可的商品）", "货物进出口"],
    "G": ["普通货物仓储服务（不含危险化学品等需许可审批的项目）", "国内货物运输代理"],
    "H61": ["酒店管理", "会议及展览服务"],
    "H62": ["餐饮管理", "食品销售（仅销售预包装食品）"],
    "I": ["技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广", "信息系统集成服务", "软件开发"],
    "J": ["以自有资金从事投资活动"],
    "K": ["住房租赁", "非居住房地产租赁", "物业管理"],
    "L": ["企业管理咨询", "信息咨询服务（不含许可类信息咨询服务）"],
    "M": ["技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广", "科技中介服务"],
    "N": ["园林绿化工程施工", "环境保护监测"],
    "O": ["家政服务", "居民日常生活服务"],
    "P": ["教育咨询服务（不含涉许可审批的教育培训活动）"],
    "Q": ["健康咨询服务（不含诊疗服务）"],
    "R": ["组织文化艺术交流活动", "会议及展览服务"],
}
# Verb a manufacturer / trader puts after the goods named in the standard's description.
GOODS_VERB = {"C": "销售", "F51": "批发", "F52": "零售"}
GENERIC_GOODS = {"产品", "材料", "设备", "用品", "制品", "器材", "工具", "其他", "配件", "物品", "商品"}
# Words too vague to name a firm by (其他综合零售 -> 综合).
VAGUE_WORDS = {"批发", "零售", "综合", "经营", "服务", "制造", "专用", "通用", "普通", "一般", "辅助"}
SCOPE_TAIL_OLD = "（依法须经批准的项目，经相关部门批准后方可开展经营活动）"
SCOPE_TAIL_NEW = "（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）"
SCOPE_VARIANTS = 3


def by_prefix(code: str, table: dict):
    """The value of the longest key of ``table`` that prefixes ``code`` (``*`` otherwise)."""
    best = None
    for key in table:
        if key != "*" and code.startswith(key) and (best is None or len(key) > len(best)):
            best = key
    return table[best] if best is not None else table["*"]


def per_industry(industry: np.ndarray, table: dict) -> np.ndarray:
    """``by_prefix`` for every firm, computed once per distinct industry."""
    codes, inverse = np.unique(industry, return_inverse=True)
    return np.array([by_prefix(c, table) for c in codes])[inverse]


def city_districts(city: str):
    """(city, current districts, base weights, {group: affinity array}) for registration."""
    tree = regions()
    city_region = tree.get(city) if city.isdigit() else tree.city(city)
    districts = [r for r in tree.children(city_region.code) if r.name != "市辖区"]
    if not districts:
        raise ValueError(f"{city_region.name} 没有可用的区县")
    profile = P.DISTRICT_PROFILES.get(city_region.name, {})
    weights, affinity = [], {g: [] for g in ("tech", "manufacturing", "services")}
    for d in districts:
        if d.name in profile:
            w, aff = profile[d.name]
        else:
            key = d.name[-1] if d.name[-1] in P.DISTRICT_WEIGHT_BY_SUFFIX else "*"
            w = P.DISTRICT_WEIGHT_BY_SUFFIX[key]
            aff = P.DISTRICT_AFFINITY_BY_SUFFIX[key if key in P.DISTRICT_AFFINITY_BY_SUFFIX else "*"]
        weights.append(w)
        for g in affinity:
            affinity[g].append(aff[g])
    weights = np.array(weights, dtype=float)
    return city_region, districts, weights / weights.sum(), {g: np.array(v) for g, v in affinity.items()}


@cache
def _classes_by_key() -> dict[str, list[str]]:
    classes = [i.code for i in industries().at_level(3)]
    return {key: [c for c in classes if c.startswith(key)] for key in P.SECTION_MIX}


# --------------------------------------------------------------------------- names


def _clean_word(name: str) -> str | None:
    """A trade word from an industry name (计算机整机制造 -> 计算机整机), or None if unusable."""
    word = re.sub(r"[（(].*?[)）]", "", name).replace("其他", "").replace("未列明", "")
    if re.search(r"[、，,和及与]", word):
        return None
    for suffix in ("制造", "服务", "活动", "批发", "零售", "经营", "业", "种植", "养殖"):
        if word.endswith(suffix) and len(word) > len(suffix) + 1:
            word = word[: -len(suffix)]
            break
    word = word.removesuffix("的")
    return word if 2 <= len(word) <= 6 and word not in VAGUE_WORDS else None


@cache
def trade_word(code: str) -> str:
    """The industry word in a firm name: from the 小类, else its 中类 or 大类, else the section."""
    tree = industries()
    node = tree.get(code)
    while node is not None and node.level >= 1:
        word = _clean_word(node.name)
        if word:
            if code.startswith("F51"):
                word = word.removesuffix("产品") + "贸易"
            return word
        node = tree.get(node.parent) if node.parent else None
    return SECTION_WORD.get(code[0], "实业")


def _names(rng, industry, city_short: str, large: np.ndarray, listed: np.ndarray) -> np.ndarray:
    """Unique names: city + 字号 + industry word + form (南京华瑞计算机整机有限公司)."""
    n = len(industry)
    k = len(TRADE_CHARS)
    chars = np.array(list(TRADE_CHARS))
    first, second = rng.integers(0, k, n), rng.integers(0, k, n)
    brand = np.char.add(chars[first], chars[second])
    words = np.array([trade_word(c) for c in np.unique(industry)])[np.unique(industry, return_inverse=True)[1]]
    form = np.where(listed, "股份有限公司", np.where(large & (rng.random(n) < 0.3), "集团有限公司", "有限公司"))
    brand = brand.astype(object)
    # Clashes get one more 字号 character, drawn until every name is unique.
    for _ in range(20):
        names = np.char.add(np.char.add(np.char.add(city_short, brand.astype(str)), words), form)
        _, idx = np.unique(names, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[idx] = False  # the first holder keeps its name
        if not dup.any():
            return names
        brand[dup] = brand[dup] + chars[rng.integers(0, k, dup.sum())].astype(object)
    raise AssertionError("could not make unique names")  # pragma: no cover - 20 rounds always suffice


# --------------------------------------------------------------------------- 经营范围


PRODUCT_END = set("品器机料具材剂件备车船药酒布纸板管线油肥鞋表仪灯砖瓦瓶箱带绳缆锁钉笔茶粉纱盐糖奶肉蛋泵阀")
NOT_GOODS = re.compile(
    r"^[用对以为]|等|的|进行|经|加工|处理|销售|生产|制作|提炼|方式|方法|如|由|从|其|至少|主要|具有|也称|包括"
    r"|上述|未列明|一定|任何|特殊|不论|专门|配套|有关|成品|半成品|类似|各种|其他"
)


def _goods(description: str) -> list[str]:
    """Products named in a standard description ('指小五金、工具、水暖部件及材料的批发…' -> [水暖部件])."""
    first = re.split(r"[，；。]", description or "")[0].removeprefix("指")
    if "的" not in first:
        return []
    head = first.rsplit("的", 1)[0].rsplit("的", 1)[-1]
    out = []
    for piece in re.split(r"[、和及与或]|以及", head):
        piece = piece.strip()
        if (
            re.fullmatch(r"[\u4e00-\u9fff]{2,7}", piece)
            and piece[-1] in PRODUCT_END
            and piece not in GENERIC_GOODS
            and not NOT_GOODS.search(piece)
        ):
            out.append(piece)
    return out


def _activity(name: str) -> str:
    """An industry name as a 经营范围 item: no 其他/未列明, no trailing 业."""
    item = name.replace("其他", "").replace("未列明", "")
    return item[:-1] if item.endswith("业") and len(item) > 3 else item


@cache
def _scope_pool(code: str) -> tuple[list[str], list[str]]:
    """(specific items, generic items) for an industry's 经营范围.

    Specific: the sibling classes (same 中类), the class's own product for
    sale (X制造 -> X销售) and products the standard's description names.
    """
    tree = industries()
    ind = tree.get(code)
    parent = tree.get(ind.parent)
    own = _activity(ind.name)
    items = []
    verb = by_prefix(code, {**GOODS_VERB, "*": None})
    if code.startswith("C") and own.endswith("制造"):
        items.append(own.removesuffix("制造").removesuffix("的") + "销售")
    items += [_activity(s.name) for s in tree.children(parent.code) if s.code != code]
    if verb:
        for text in (ind.description, parent.description):
            items += [g + verb for g in _goods(text)]
    generic = by_prefix(code, {**SCOPE_GENERIC, "*": []})
    return [i for i in dict.fromkeys(items) if i != own and len(i) >= 3], list(generic)


@cache
def business_scope(code: str, variant: int = 0, standard: bool = True) -> str:
    """经营范围 from the industry's own vocabulary: its name, siblings, goods and standard items.

    ``variant`` picks one of a few subsets (firms of one class do not all
    write the same text); ``standard`` uses the post-2021 wording.
    """
    specific, generic = _scope_pool(code)
    picked = specific[variant : variant + 3] if len(specific) > variant else specific[:3]
    items = list(dict.fromkeys([_activity(industries().get(code).name), *picked, *generic[: 1 + variant % 2]]))
    body = "；".join(items)
    return f"一般项目：{body}{SCOPE_TAIL_NEW}" if standard else f"{body}。{SCOPE_TAIL_OLD}"


# --------------------------------------------------------------------------- codes


_CHARSET = np.array(list(uscc.CHARSET))
_CHAR_VALUE = {c: i for i, c in enumerate(uscc.CHARSET)}


def make_usccs(region: np.ndarray, serial: np.ndarray, new_style: np.ndarray) -> np.ndarray:
    """Valid 统一社会信用代码 for many firms at once (GB 32100-2015, GB 11714 inside).

    Firms registered since the 2015 reform get organisation codes "MA" + six
    base-31 characters of ``serial``; older firms keep an 8-digit organisation
    code. ``serial`` must be unique and < 31**6 (so both forms are unique).
    """
    n = len(region)
    body = np.empty((n, 8), dtype=np.int64)  # values in CHARSET
    s = serial.astype(np.int64).copy()
    for pos in range(7, 1, -1):  # six base-31 characters
        s, body[:, pos] = np.divmod(s, 31)
    body[:, 0], body[:, 1] = _CHAR_VALUE["M"], _CHAR_VALUE["A"]
    digits = (serial.astype(np.int64) * 7 + 10_000_000) % 100_000_000  # unique 8-digit codes
    for pos in range(7, -1, -1):
        digits, d = np.divmod(digits, 10)
        body[~new_style, pos] = d[~new_style]
    # GB 11714 check character: sum(value36 × weight) mod 11 (values of CHARSET chars in base 36).
    value36 = np.array([int(c, 36) for c in uscc.CHARSET])
    total = (value36[body] * np.array([3, 7, 9, 10, 5, 8, 4, 2])).sum(axis=1)
    r = 11 - total % 11
    org_check = np.where(r == 10, _CHAR_VALUE["X"], np.where(r == 11, 0, r))
    region_digits = np.array([list(map(int, code)) for code in region], dtype=np.int64).reshape(n, 6)
    first17 = np.column_stack(
        [np.full(n, _CHAR_VALUE["9"]), np.full(n, _CHAR_VALUE["1"]), region_digits, body, org_check]
    )
    total = (first17 * np.array(uscc.WEIGHTS)).sum(axis=1)
    check = (31 - total % 31) % 31
    chars = _CHARSET[np.column_stack([first17, check])]
    return np.ascontiguousarray(chars).view("<U18").reshape(n)


def _money(values: np.ndarray) -> np.ndarray:
    """Whole yuan as text with two places (money stays text until parsed as Decimal)."""
    return np.char.add(np.round(values).astype(np.int64).astype(str), ".00")


def _blank(mask: np.ndarray, text: np.ndarray) -> np.ndarray:
    return np.where(mask, text, "")


# --------------------------------------------------------------------------- the register


def generate(n: int, rng: np.random.Generator, city: str, reference_date: dt.date = P.REFERENCE_DATE) -> pd.DataFrame:
    """``n`` enterprises as a DataFrame of catalog-formatted text columns (+ ``as_of``), as the generator knows
    them: the roster fields explicit (``none``, ``false``); :func:`.rosters.register` is what ``enterprises.csv``
    publishes."""
    if n < 1:
        raise ValueError("企业数量应为正整数")
    city_region, districts, dweights, affinity = city_districts(city)

    # What: an industry class from the section mix.
    keys = list(P.SECTION_MIX)
    kweights = np.array([P.SECTION_MIX[k] for k in keys])
    key_idx = rng.choice(len(keys), n, p=kweights / kweights.sum())
    classes = _classes_by_key()
    industry = np.empty(n, dtype="<U5")
    for i, key in enumerate(keys):
        mask = key_idx == i
        pool = np.array(classes[key])
        industry[mask] = pool[rng.integers(0, len(pool), mask.sum())]

    # Where: a district, by its weight and its pull on this kind of firm.
    group = per_industry(industry, P.INDUSTRY_GROUP)
    codes = np.array([d.code for d in districts])
    region = np.empty(n, dtype="<U6")
    for g, aff in affinity.items():
        mask = group == g
        w = dweights * aff
        region[mask] = codes[rng.choice(len(codes), mask.sum(), p=w / w.sum())]

    # When: age ~ exponential, capped at the oldest registration.
    ref = np.datetime64(reference_date, "D")
    span = (reference_date - P.FIRST_ESTABLISHED).days
    age_days = (np.minimum(rng.exponential(P.AGE_MEAN_YEARS * 365.25, n), span - 1) + 1).astype(np.int64)
    established = ref - age_days.astype("timedelta64[D]")
    age_years = age_days / 365.25
    last_year = reference_date.year - 1
    est_year = established.astype("datetime64[Y]").astype(np.int64) + 1970
    no_last_year = est_year > last_year  # registered this year: no 上年度 filings yet
    no_prev_year = est_year > last_year - 1
    # Share of last year the firm existed (a firm registered in October had one quarter).
    year_start = np.datetime64(f"{last_year}-01-01", "D")
    next_year = np.datetime64(f"{last_year + 1}-01-01", "D")
    operating = np.clip((next_year - np.maximum(established, year_start)).astype(float) / 365, 0.05, 1)

    # Size: staff heavy-tailed and rising with age; revenue per head by industry.
    log_emp = (
        P.LOG_EMPLOYEES_MEAN
        + P.LOG_EMPLOYEES_SD * rng.standard_t(P.LOG_EMPLOYEES_T_DF, n)
        + P.LOG_EMPLOYEES_PER_AGE_YEAR * np.minimum(age_years, 20)
    )
    employees = np.maximum(1, np.round(np.exp(np.minimum(log_emp, P.LOG_EMPLOYEES_MAX)))).astype(np.int64)
    rpe = per_industry(industry, P.REVENUE_PER_EMPLOYEE).astype(float)
    revenue = np.maximum(1000.0, employees * rpe * np.exp(rng.normal(0, P.LOG_REVENUE_PER_EMPLOYEE_SD, n)))
    revenue_full = revenue.copy()  # a full year's turnover, for assets and capital
    revenue = np.round(revenue * operating)
    growth = np.clip(rng.normal(P.REVENUE_GROWTH_MEAN, P.REVENUE_GROWTH_SD, n), -0.7, 3.0)
    revenue_prev = revenue_full / (1 + growth)
    assets = revenue_full * per_industry(industry, P.ASSETS_TO_REVENUE) * np.exp(rng.normal(0, P.ASSETS_SD, n))
    tax = revenue * per_industry(industry, P.TAX_RATE_OF_REVENUE) * np.exp(rng.normal(0, P.TAX_SD, n))
    capital = revenue_full * P.REGISTERED_CAPITAL_TO_REVENUE * np.exp(rng.normal(0, P.REGISTERED_CAPITAL_SD, n))
    capital = np.maximum(1, np.round(capital / 10_000)) * 10_000  # registered in whole 万元
    insured = np.minimum(employees, np.round(employees * rng.uniform(*P.INSURED_SHARE, n))).astype(np.int64)
    ui_paid = (
        insured * P.UNEMPLOYMENT_INSURANCE_PER_HEAD * operating * np.exp(rng.normal(0, P.UNEMPLOYMENT_INSURANCE_SD, n))
    )

    # R&D by industry; patents follow R&D.
    does_rd = (rng.random(n) < per_industry(industry, P.RD_PROPENSITY)) & ~no_last_year
    intensity = np.minimum(
        per_industry(industry, P.RD_INTENSITY_MEDIAN) * np.exp(rng.normal(0, P.RD_INTENSITY_SD, n)),
        P.RD_INTENSITY_MAX,
    )
    rd = np.where(does_rd, revenue * intensity, 0.0)
    rd_growth = np.clip(rng.normal(P.RD_GROWTH_MEAN, P.RD_GROWTH_SD, n), -0.6, 3.0)
    patent_rate = P.PATENTS_BASE + rd / 1e6 * P.PATENTS_PER_RD_MILLION * np.minimum(age_years, 10) / 5
    patents = np.where(does_rd, rng.poisson(patent_rate), 0)
    graduates = rng.poisson(employees * P.GRADUATE_HIRE_RATE)
    certs_known = rng.random(n) < P.SKILL_CERT_REPORTED
    certs = np.minimum(rng.poisson(employees * P.SKILL_CERT_RATE), employees)  # a certificate is a worker's
    loan_p = P.LOAN_SHARE_MIN + (P.LOAN_SHARE_MAX - P.LOAN_SHARE_MIN) / (1 + np.exp(-(np.log(employees) - 3)))
    has_loan = (rng.random(n) < loan_p) & ~no_last_year
    loan_interest = revenue * rng.uniform(*P.LOAN_INTEREST_OF_REVENUE, n)

    manufacturing = np.char.startswith(industry, "C")
    assessed = manufacturing & (rng.random(n) < P.SMART_MANUFACTURING_ASSESSED)
    smart_level = np.where(assessed, rng.choice([1, 2, 3, 4, 5], n, p=P.SMART_MANUFACTURING_LEVELS), 0)
    diagnosed = manufacturing & (rng.random(n) < P.DIGITAL_DIAGNOSIS_SHARE) & ~no_last_year
    diagnosis_fee = np.round(rng.lognormal(np.log(P.DIGITAL_DIAGNOSIS_FEE_MEDIAN), 0.6, n), -2)

    # Scale by the official thresholds, on exactly the values written out.
    revenue_out = np.round(revenue)
    assets_out = np.round(assets)
    known = ~no_last_year
    scale = classify_arrays(
        industry, employees.astype(float), np.ones(n, bool), revenue_out, known, assets_out, np.ones(n, bool)
    )
    large, medium = scale == "large", scale == "medium"
    quals = _qualifications(rng, does_rd, intensity, patents, revenue, employees, age_years, growth, scale)
    listed = np.full(n, "unlisted", dtype=object)
    boards = list(P.LISTING_BOARDS)
    pick = large & (rng.random(n) < P.LISTED_SHARE_OF_LARGE)
    board_p = np.array(list(P.LISTING_BOARDS.values()))
    listed[pick] = np.array(boards)[rng.choice(len(boards), pick.sum(), p=board_p / board_p.sum())]
    listed[(medium | large) & ~pick & (rng.random(n) < P.NEEQ_SHARE_OF_MEDIUM)] = "neeq"
    is_listed = (listed != "unlisted") & (listed != "neeq")

    serials = rng.choice(31**6, n, replace=False)
    new_style = established >= np.datetime64(P.USCC_MA_FROM, "D")
    codes_out = make_usccs(region, serials, new_style)
    names = _names(rng, industry, city_region.name.removesuffix("市"), large, is_listed)
    variant = rng.integers(0, P.SCOPE_VARIANTS, n)
    standard = established >= np.datetime64(P.SCOPE_STANDARD_FROM, "D")
    scope = [business_scope(c, v, s) for c, v, s in zip(industry.tolist(), variant.tolist(), standard.tolist())]

    # Facts added with the open catalog (稳岗返还, 研发加计扣除, 社保欠缴, the credit lists), from their own stream.
    more = np.random.default_rng(rng.integers(2**63))
    claims_deduction = does_rd & (more.random(n) < P.RD_DEDUCTION_CLAIMED)
    insured_start = np.round(insured * np.exp(more.normal(0, P.INSURED_START_SD, n))).astype(np.int64)
    laid_off = np.where(more.random(n) < P.LAYOFF_SHARE, np.round(insured_start * more.uniform(*P.LAYOFF_RATE, n)), 0)
    arrears = more.random(n) < P.ARREARS_SHARE
    serious = more.random(n) < P.SERIOUS_DISHONEST_SHARE
    integrity = does_rd & (more.random(n) < P.INTEGRITY_RESTRICTED_SHARE)

    frame = pd.DataFrame(
        {
            "uscc": codes_out,
            "name": names,
            "region": region,
            "industry": industry,
            "established_on": np.datetime_as_string(established, unit="D"),
            "registered_capital": _money(capital),
            "business_scope": scope,
            "employees": employees.astype(str),
            "insured_employees": insured.astype(str),
            "revenue": _blank(known, _money(revenue_out)),
            "revenue_prev": _blank(~no_prev_year, _money(revenue_prev)),
            "total_assets": _money(assets_out),
            "tax_paid": _blank(known, _money(tax)),
            "rd_expense_prev": _blank(does_rd & ~no_prev_year, _money(rd / (1 + rd_growth))),
            "rd_expense": _blank(does_rd, _money(rd)),
            "rd_super_deduction": np.where(claims_deduction, "true", "false"),
            "unemployment_insurance_paid": _blank(known, _money(ui_paid)),
            "layoffs": _blank(known, laid_off.astype(np.int64).astype(str)),
            "insured_employees_start": _blank(known, insured_start.astype(str)),
            "social_insurance_arrears": np.where(arrears, "true", "false"),
            "graduates_hired": graduates.astype(str),
            "skill_certificates": _blank(certs_known, certs.astype(str)),
            "invention_patents": patents.astype(str),
            "loan_interest_paid": _blank(has_loan, _money(loan_interest)),
            "smart_manufacturing_level": _blank(smart_level > 0, smart_level.astype(str)),
            "digital_diagnosis_fee": _blank(diagnosed, _money(diagnosis_fee)),
            "qualifications": quals,
            "listed_status": listed.astype(str),
            "on_dishonesty_list": np.where(rng.random(n) < P.DISHONEST_SHARE, "true", "false"),
            "on_serious_dishonesty_list": np.where(serious, "true", "false"),
            "research_integrity_restricted": np.where(integrity, "true", "false"),
            "in_abnormal_operation": np.where(rng.random(n) < P.ABNORMAL_SHARE, "true", "false"),
        }
    )
    # the shipped facts in catalog order; lists of records are written as files of their own, and a field
    # the generator does not model (a deployment's own, or one added to the catalog as data) is left empty
    # (unknown)
    assert list(frame.columns) == [f.name for f in catalog.FACT_FIELDS if f.name in frame.columns], "catalog order"
    frame = frame.reindex(columns=[f.name for f in catalog.FACT_FIELDS if f.type != "records"], fill_value="")
    # The generator's firms keep one state over the whole interaction history (events.py decides every push
    # and application with it), so their facts were on record from the history's start, or from the day the
    # firm registered or moved in: a ranker trained on the history reads them as the platform had them then.
    start = np.datetime64(reference_date - dt.timedelta(days=P.EVENT_DAYS), "D")
    on_record = np.maximum(start, established)
    settled = pd.to_datetime(frame["settled_on"].replace("", None)).to_numpy().astype("datetime64[D]")
    on_record = np.where(np.isnat(settled), on_record, np.maximum(on_record, settled))
    frame["as_of"] = np.datetime_as_string(on_record, unit="D")
    return frame


def _top(score: np.ndarray, pool: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` highest-scoring members of ``pool`` (a boolean mask)."""
    out = np.zeros(len(score), dtype=bool)
    idx = np.flatnonzero(pool)
    if count <= 0 or len(idx) == 0:
        return out
    best = idx[np.argsort(-score[idx], kind="stable")[:count]]
    out[best] = True
    return out


def _qualifications(rng, does_rd, intensity, patents, revenue, employees, age_years, growth, scale) -> np.ndarray:
    """Qualifications for the most innovative firms, at the shares in params; 小巨人 ⊂ 专精特新 (``none``: no
    qualification; :mod:`.rosters` publishes them as rosters).

    One noisy "innovativeness" score (R&D intensity, patents, size) ranks the
    R&D-declaring firms; each qualification takes the top of its own pool
    (the formal thresholds of its 认定办法) up to its share of all firms.
    """
    n = len(does_rd)
    share = P.QUALIFICATION_SHARE
    score = (
        P.QUALIFICATION_SCORE["rd_intensity"] * np.log(np.maximum(intensity, 1e-4))
        + P.QUALIFICATION_SCORE["patents"] * np.log1p(patents)
        + P.QUALIFICATION_SCORE["revenue"] * np.log(np.maximum(revenue, 1.0))
        + rng.normal(0, P.QUALIFICATION_NOISE_SD, n)
    )
    count = {q: int(round(s * n)) for q, s in share.items()}
    sme = np.isin(scale, ["small", "micro", "medium"]) & (revenue <= P.SME_MAX_REVENUE)
    sme &= employees <= P.SME_MAX_EMPLOYEES
    has = {
        "high_tech": _top(
            score, does_rd & (intensity >= P.HIGH_TECH_MIN_RD_RATIO) & (age_years >= 1), count["high_tech"]
        ),
        "tech_sme": _top(score + rng.normal(0, 0.5, n), does_rd & sme, count["tech_sme"]),
        "innovative_sme": _top(score + rng.normal(0, 0.5, n), does_rd & sme, count["innovative_sme"]),
    }
    srdi_pool = does_rd & sme & (revenue >= P.SRDI_MIN_REVENUE) & (age_years >= P.SRDI_MIN_AGE_YEARS)
    has["srdi_sme"] = _top(score, srdi_pool, count["srdi_sme"])
    has["innovative_sme"] |= has["srdi_sme"]  # 梯度培育: 专精特新 come from the 创新型 tier
    giant_pool = has["srdi_sme"] & (revenue >= P.LITTLE_GIANT_MIN_REVENUE)
    has["little_giant"] = _top(score, giant_pool, count["little_giant"])
    fast = (age_years < P.GAZELLE_MAX_AGE_YEARS) & (growth >= P.GAZELLE_MIN_GROWTH)
    has["gazelle"] = _top(score, has["high_tech"] & fast, count["gazelle"])
    young_high_tech = has["high_tech"] & (age_years < P.UNICORN_MAX_AGE_YEARS)
    has["unicorn"] = _top(np.log(np.maximum(revenue, 1.0)), young_high_tech, count["unicorn"])
    out = np.full(n, "", dtype=object)
    for q in sorted(catalog.QUALIFICATIONS):  # catalog.format_value order: sorted
        out = np.where(has[q], np.where(out == "", q, out + ";" + q), out)
    return np.where(out == "", "none", out).astype(str)  # known to hold none: the rosters list it nowhere
