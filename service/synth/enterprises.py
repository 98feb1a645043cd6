"""Synthetic enterprises: real codes, heavy-tailed sizes, plausible correlations.

Vectorised with numpy (one Generator), so 100,000 firms take seconds.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache

import numpy as np
import pandas as pd

from graph import industries, regions
from matcher import catalog, uscc
from matcher.scale import classify
from service.synth import params as P

SURNAME_CHARS = (
    "华宏瑞泰鑫盛恒达通信诚博远创新天云海金银正亿德安康中宇星辰晨光明辉昌隆兴旺顺丰利源宝嘉"
    "嘉禾禾丰润泽浩瀚东方南北西江河山川峰岭森林木青蓝紫红橙黄绿白翔鹏凯越卓锐智慧思齐志航启"
    "元初始新锦绣秀美佳优尚品质精工匠心意念诺言信义仁和谐同舟共济合力聚众融汇贯通达远行致"
)
SURNAME_CHARS = "".join(dict.fromkeys(SURNAME_CHARS))  # unique, order kept


def by_prefix(code: str, table: dict):
    """The value of the longest key of ``table`` that prefixes ``code`` (``*`` otherwise)."""
    best = None
    for key in table:
        if key != "*" and code.startswith(key) and (best is None or len(key) > len(best)):
            best = key
    return table[best] if best is not None else table["*"]


def city_districts(city: str):
    """Current districts of a city, with registration weights."""
    tree = regions()
    city_region = tree.city(city) if not city.isdigit() else tree.get(city)
    districts = [r for r in tree.children(city_region.code) if r.name != "市辖区"]
    weights = np.array([by_prefix_suffix(r.name) for r in districts], dtype=float)
    return city_region, districts, weights / weights.sum()


def by_prefix_suffix(name: str) -> float:
    return P.DISTRICT_WEIGHT.get(name[-1], P.DISTRICT_WEIGHT["*"])


@cache
def _classes_by_key() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    classes = [i.code for i in industries().at_level(3)]
    for key in P.SECTION_MIX:
        out[key] = [c for c in classes if c.startswith(key)]
    return out


def _short_word(name: str) -> str:
    """A trade word from an industry name: 计算机整机制造 -> 计算机整机."""
    word = re.split(r"[、，（(]", name)[0]
    for suffix in ("制造", "服务", "活动", "批发", "零售", "经营", "业", "种植", "养殖"):
        if word.endswith(suffix) and len(word) > len(suffix) + 1:
            word = word[: -len(suffix)]
            break
    return word[:6]


@cache
def business_scope(code: str) -> str:
    """经营范围 from the industry's own vocabulary: its name, siblings and description."""
    tree = industries()
    ind = tree.get(code)
    parent = tree.get(ind.parent)
    items = [ind.name]
    items += [s.name for s in tree.children(parent.code) if s.code != code][:3]
    for text in (ind.description, parent.description):
        for piece in re.split(r"[，；。：]", text or ""):
            piece = piece.strip().removeprefix("指").removeprefix("包括").removeprefix("对")
            if 3 < len(piece) <= 20 and "本类" not in piece and "不包括" not in piece and piece not in items:
                items.append(piece)
            if len(items) >= 7:
                break
    section = code[0]
    generic = {
        "C": "货物进出口",
        "F": "互联网销售（除销售需要许可的商品）",
        "I": "技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广",
        "M": "技术服务、技术开发、技术咨询",
        "L": "企业管理咨询",
    }.get(section)
    if generic:
        items.append(generic)
    return "；".join(dict.fromkeys(items)) + "（依法须经批准的项目，经相关部门批准后方可开展经营活动）"


def per_industry(industry: np.ndarray, table: dict) -> np.ndarray:
    """``by_prefix`` for every firm, computed once per distinct industry."""
    codes, inverse = np.unique(industry, return_inverse=True)
    return np.array([by_prefix(c, table) for c in codes])[inverse]


def _money(values: np.ndarray) -> np.ndarray:
    """Whole yuan as text with two places (money stays text until parsed as Decimal)."""
    return np.char.add(np.round(values).astype(np.int64).astype(str), ".00")


def generate(n: int, rng: np.random.Generator, city: str, reference_date: dt.date = P.REFERENCE_DATE) -> pd.DataFrame:
    """``n`` enterprises as a DataFrame of catalog-formatted text columns (+ ``as_of``)."""
    _, districts, dweights = city_districts(city)
    region = np.array([d.code for d in districts])[rng.choice(len(districts), n, p=dweights)]

    keys = list(P.SECTION_MIX)
    kweights = np.array([P.SECTION_MIX[k] for k in keys])
    key_idx = rng.choice(len(keys), n, p=kweights / kweights.sum())
    classes = _classes_by_key()
    industry = np.empty(n, dtype=object)
    for i, key in enumerate(keys):
        mask = key_idx == i
        pool = classes[key]
        industry[mask] = np.array(pool)[rng.integers(0, len(pool), mask.sum())]
    industry = industry.astype(str)

    span = (reference_date - P.FIRST_ESTABLISHED).days
    age_days = np.minimum(rng.exponential(P.AGE_MEAN_YEARS * 365.25, n), span - 1) + 1
    age_days = age_days.astype(int)
    established = np.array([reference_date - dt.timedelta(days=int(d)) for d in age_days])
    age_years = age_days / 365.25

    log_emp = (
        P.LOG_EMPLOYEES_MEAN
        + P.LOG_EMPLOYEES_SD * rng.standard_t(P.LOG_EMPLOYEES_T_DF, n)
        + P.LOG_EMPLOYEES_PER_AGE_YEAR * np.minimum(age_years, 20)
    )
    employees = np.maximum(1, np.round(np.exp(np.minimum(log_emp, P.LOG_EMPLOYEES_MAX)))).astype(np.int64)
    rpe = per_industry(industry, P.REVENUE_PER_EMPLOYEE)
    revenue = employees * rpe * np.exp(rng.normal(0, P.LOG_REVENUE_PER_EMPLOYEE_SD, n))
    growth = np.clip(rng.normal(P.REVENUE_GROWTH_MEAN, P.REVENUE_GROWTH_SD, n), -0.7, 3.0)
    revenue_prev = revenue / (1 + growth)
    young = age_years < 1.2  # no full previous year on record
    assets = revenue * per_industry(industry, P.ASSETS_TO_REVENUE) * np.exp(rng.normal(0, 0.5, n))
    tax = revenue * per_industry(industry, P.TAX_RATE_OF_REVENUE) * np.exp(rng.normal(0, 0.4, n))
    capital = np.maximum(10_000, revenue * P.REGISTERED_CAPITAL_TO_REVENUE * np.exp(rng.normal(0, 0.8, n)))
    capital = np.round(capital / 10_000) * 10_000  # registered in whole 万元
    insured = np.minimum(employees, np.round(employees * rng.uniform(*P.INSURED_SHARE, n))).astype(np.int64)
    ui_paid = insured * P.UNEMPLOYMENT_INSURANCE_PER_HEAD * np.exp(rng.normal(0, 0.25, n))

    does_rd = rng.random(n) < per_industry(industry, P.RD_PROPENSITY)
    intensity = per_industry(industry, P.RD_INTENSITY_MEDIAN) * np.exp(rng.normal(0, P.RD_INTENSITY_SD, n))
    rd = np.where(does_rd, revenue * np.minimum(intensity, 0.6), np.nan)
    patents = np.where(does_rd, rng.poisson(np.nan_to_num(rd) / 1e6 * P.PATENTS_PER_RD_MILLION), 0)
    graduates = rng.poisson(employees * P.GRADUATE_HIRE_RATE)
    certs_known = rng.random(n) < P.SKILL_CERT_REPORTED
    certs = rng.poisson(employees * P.SKILL_CERT_RATE)
    has_loan = rng.random(n) < P.LOAN_SHARE
    loan_interest = revenue * rng.uniform(*P.LOAN_INTEREST_OF_REVENUE, n)

    rd_growth = np.clip(rng.normal(P.RD_GROWTH_MEAN, P.RD_GROWTH_SD, n), -0.6, 3.0)
    manufacturing = np.char.startswith(industry.astype(str), "C")
    assessed = manufacturing & (rng.random(n) < P.SMART_MANUFACTURING_ASSESSED)
    smart_level = np.where(assessed, rng.choice([1, 2, 3, 4, 5], n, p=P.SMART_MANUFACTURING_LEVELS), 0)
    diagnosed = manufacturing & (rng.random(n) < P.DIGITAL_DIAGNOSIS_SHARE)
    diagnosis_fee = np.round(rng.lognormal(np.log(P.DIGITAL_DIAGNOSIS_FEE_MEDIAN), 0.6, n), -2)
    quals = _qualifications(rng, n, does_rd, intensity, patents, revenue, age_years)
    scale = np.array(
        [classify(c, int(e), int(r), int(a)) for c, e, r, a in zip(industry, employees, revenue, assets)], dtype=object
    )
    listed = np.full(n, "unlisted", dtype=object)
    large, medium = scale == "large", scale == "medium"
    boards = np.array(["sse_main", "szse_main", "star", "chinext", "bse", "overseas"])
    pick = large & (rng.random(n) < P.LISTED_SHARE_OF_LARGE)
    listed[pick] = boards[rng.integers(0, len(boards), pick.sum())]
    listed[medium & (rng.random(n) < P.NEEQ_SHARE_OF_MEDIUM)] = "neeq"

    serials = rng.choice(31**6, n, replace=False)
    codes = [uscc.make(r, int(s)) for r, s in zip(region, serials)]
    names = _names(rng, n, industry, city.removesuffix("市"))

    frame = pd.DataFrame(
        {
            "uscc": codes,
            "name": names,
            "region": region,
            "industry": industry,
            "established_on": [d.isoformat() for d in established],
            "registered_capital": _money(capital),
            "business_scope": [business_scope(c) for c in industry],
            "employees": employees.astype(str),
            "insured_employees": insured.astype(str),
            "revenue": _money(revenue),
            "revenue_prev": np.where(young, "", _money(revenue_prev)),
            "total_assets": _money(assets),
            "tax_paid": _money(tax),
            "rd_expense_prev": np.where(does_rd & ~young, _money(np.nan_to_num(rd) / (1 + rd_growth)), ""),
            "rd_expense": np.where(does_rd, _money(np.nan_to_num(rd)), ""),
            "unemployment_insurance_paid": _money(ui_paid),
            "graduates_hired": graduates.astype(str),
            "skill_certificates": np.where(certs_known, certs.astype(str), ""),
            "invention_patents": patents.astype(str),
            "loan_interest_paid": np.where(has_loan, _money(loan_interest), ""),
            "smart_manufacturing_level": np.where(smart_level > 0, smart_level.astype(str), ""),
            "digital_diagnosis_fee": np.where(diagnosed, _money(diagnosis_fee), ""),
            "qualifications": quals,
            "listed_status": listed,
            "on_dishonesty_list": np.where(rng.random(n) < P.DISHONEST_SHARE, "true", "false"),
            "in_abnormal_operation": np.where(rng.random(n) < P.ABNORMAL_SHARE, "true", "false"),
        }
    )
    assert list(frame.columns) == [f.name for f in catalog.FACT_FIELDS]
    frame["as_of"] = reference_date.isoformat()
    return frame


def _names(rng, n, industry, city_short: str) -> list[str]:
    """Unique names: city + three-character 字号 + trade word + 有限公司 (南京华瑞通计算机整机有限公司)."""
    k = len(SURNAME_CHARS)
    picks = rng.choice(k**3, n, replace=False)
    words = {c: _short_word(industries().get(c).name) for c in set(industry)}
    out = []
    for p, c in zip(picks, industry):
        a, b, d = p // (k * k), (p // k) % k, p % k
        out.append(f"{city_short}{SURNAME_CHARS[a]}{SURNAME_CHARS[b]}{SURNAME_CHARS[d]}{words[c]}有限公司")
    return out


def _qualifications(rng, n, does_rd, intensity, patents, revenue, age_years) -> np.ndarray:
    """Qualifications concentrated on R&D-intensive, patenting firms; 小巨人 ⊂ 专精特新."""
    score = np.where(
        does_rd,
        np.log(np.maximum(intensity, 1e-4)) + 0.3 * np.log1p(patents) + 0.15 * np.log(np.maximum(revenue, 1.0)),
        -np.inf,
    )
    order = np.argsort(-score + rng.normal(0, 0.8, n))  # noisy ranking by "innovativeness"
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    share = P.QUALIFICATION_TARGET_SHARE
    has = {q: (rank < max(1, round(share[q] * n))) & does_rd for q in share}
    has["tech_sme"] &= revenue < 2e8  # 科技型中小企业: SMEs only
    has["srdi_sme"] = (rank < round(share["srdi_sme"] * n * 3)) & does_rd & (rng.random(n) < 0.33)
    has["little_giant"] = has["srdi_sme"] & (rank < round(share["little_giant"] * n * 6))
    has["gazelle"] = has["high_tech"] & (age_years < 10) & (rng.random(n) < share["gazelle"] / share["high_tech"] * 3)
    has["unicorn"] = has["high_tech"] & (age_years < 10) & (revenue > 5e8)
    out = np.full(n, "", dtype=object)
    for q in sorted(catalog.QUALIFICATIONS):  # the catalog's canonical text: sorted, "none" when empty
        out = np.where(has[q], np.where(out == "", q, out + ";" + q), out)
    out = np.where(out == "", "none", out)
    return out
