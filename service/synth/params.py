"""Every number the synthetic world is made of, in one place, with where it comes from.

The anchors are approximate public figures (see ../shared/DESIGN.md, "Realism
anchors"): the 2018 national economic census for the scale mix, MOST/MIIT
counts for 高新技术企业 and 专精特新, and common city-platform practice for
the policy mix. Change a number here and the generator follows; the tests in
tests/test_generate.py check the world still matches the anchors.
"""

from __future__ import annotations

import datetime as dt

# The day the generated verified data refer to. Fixed, so output never depends
# on the wall clock (same seed, same bytes).
REFERENCE_DATE = dt.date(2026, 6, 30)
FIRST_ESTABLISHED = dt.date(1990, 1, 1)

# Share of enterprises by GB/T 4754-2017 门类/大类 in a large Chinese city's
# register (wholesale/retail and business services dominate; census 2018).
SECTION_MIX: dict[str, float] = {
    "F51": 0.17,
    "F52": 0.12,
    "L": 0.12,
    "M": 0.10,
    "C": 0.11,
    "I65": 0.06,
    "I64": 0.015,
    "I63": 0.005,
    "E": 0.05,
    "H62": 0.04,
    "H61": 0.01,
    "K": 0.03,
    "G": 0.04,
    "O": 0.035,
    "N": 0.02,
    "R": 0.025,
    "P": 0.01,
    "Q": 0.008,
    "A": 0.012,
    "D": 0.003,
    "B": 0.001,
    "J": 0.005,
}

# Firm age in years ~ exponential (young firms dominate the register).
AGE_MEAN_YEARS = 7.5

# log(employees) ~ mean + sd * Student-t(df) + age effect; gives ≈ 80 % 微型, 13–15 % 小型,
# 1–2 % 中型, 0.1–0.3 % 大型 under 国统字〔2017〕213号 (checked by the tests).
LOG_EMPLOYEES_MEAN = 0.80
LOG_EMPLOYEES_SD = 1.10
LOG_EMPLOYEES_MAX = 11.5  # ≈ 100,000 staff, the largest employers of a city
LOG_EMPLOYEES_T_DF = 6  # Student-t: a heavier upper tail than the normal
LOG_EMPLOYEES_PER_AGE_YEAR = 0.035

# Revenue per employee (yuan), median by section prefix, log-normal spread.
REVENUE_PER_EMPLOYEE: dict[str, float] = {
    "F51": 1_800_000,
    "F52": 450_000,
    "C": 700_000,
    "I65": 420_000,
    "I64": 600_000,
    "I63": 900_000,
    "E": 600_000,
    "H": 180_000,
    "K": 1_500_000,
    "L": 350_000,
    "M": 380_000,
    "G": 500_000,
    "D": 2_000_000,
    "B": 1_200_000,
    "A": 250_000,
    "J": 900_000,
    "*": 250_000,
}
LOG_REVENUE_PER_EMPLOYEE_SD = 1.0
REVENUE_GROWTH_MEAN = 0.06
REVENUE_GROWTH_SD = 0.22
ASSETS_TO_REVENUE: dict[str, float] = {"K": 4.0, "E": 1.2, "L": 1.5, "D": 3.0, "*": 0.7}
TAX_RATE_OF_REVENUE: dict[str, float] = {"F51": 0.012, "F52": 0.02, "K": 0.08, "*": 0.035}
REGISTERED_CAPITAL_TO_REVENUE = 0.35

# R&D: who does it and how much (share of revenue). C39 and I65 are R&D-heavy,
# retail and catering hardly do any (国家统计局 R&D 投入统计公报).
RD_PROPENSITY: dict[str, float] = {
    "C39": 0.65,
    "I65": 0.60,
    "M73": 0.75,
    "C35": 0.45,
    "C34": 0.40,
    "C27": 0.50,
    "C": 0.25,
    "M": 0.20,
    "I": 0.35,
    "F52": 0.01,
    "H62": 0.005,
    "F51": 0.03,
    "*": 0.04,
}
RD_INTENSITY_MEDIAN: dict[str, float] = {
    "C39": 0.055,
    "I65": 0.09,
    "M73": 0.15,
    "C27": 0.05,
    "C": 0.028,
    "I": 0.05,
    "*": 0.02,
}
RD_INTENSITY_SD = 0.6

RD_GROWTH_MEAN = 0.12  # year-on-year change of R&D expense
RD_GROWTH_SD = 0.35
# 智能制造能力成熟度 (GB/T 39116-2020): few manufacturers are assessed, most at 1–2.
SMART_MANUFACTURING_ASSESSED = 0.04
SMART_MANUFACTURING_LEVELS = [0.45, 0.33, 0.16, 0.05, 0.01]
DIGITAL_DIAGNOSIS_SHARE = 0.03  # manufacturers that bought a 数字化转型诊断 last year
DIGITAL_DIAGNOSIS_FEE_MEDIAN = 120_000.0

INSURED_SHARE = (0.70, 0.98)  # uniform range of insured / employees
UNEMPLOYMENT_INSURANCE_PER_HEAD = 420.0  # yuan/yr: 0.5 % unit rate on ≈ 84k wage base
GRADUATE_HIRE_RATE = 0.04  # graduates hired per employee per year
SKILL_CERT_REPORTED = 0.30  # share of firms whose 技能证书 count is known
SKILL_CERT_RATE = 0.06
LOAN_SHARE = 0.35  # firms with bank loans (interest known)
LOAN_INTEREST_OF_REVENUE = (0.004, 0.03)
PATENTS_PER_RD_MILLION = 0.6

# Qualifications: national counts relative to ≈ 50 M enterprises, higher in a
# tech city, concentrated in R&D-intensive firms.
QUALIFICATION_TARGET_SHARE: dict[str, float] = {
    "high_tech": 0.015,
    "tech_sme": 0.03,
    "innovative_sme": 0.02,
    "srdi_sme": 0.006,
    "little_giant": 0.0008,
    "gazelle": 0.002,
    "unicorn": 0.00005,
}
LISTED_SHARE_OF_LARGE = 0.12
NEEQ_SHARE_OF_MEDIUM = 0.04
DISHONEST_SHARE = 0.005  # 失信被执行人
ABNORMAL_SHARE = 0.02  # 经营异常名录

# Districts: urban 区 attract more registrations than 县 / county-level 市.
DISTRICT_WEIGHT = {"区": 3.0, "*": 1.0}

# Events: take-up is logistic in these terms (see events.py).
PUSHES_PER_FIRM = (2, 7)  # uniform count of policies pushed to each firm over the year
TAKEUP = {
    "view_intercept": -0.2,
    "view_relevance": 1.6,
    "view_engagement": 1.0,
    "apply_intercept": -1.6,
    "apply_eligible": 2.4,
    "apply_amount": 0.35,
    "apply_relevance": 1.0,
    "apply_engagement": 1.2,
    "apply_history": 0.5,
    "approve_eligible": 0.95,
    "approve_ineligible": 0.04,
    "rating_share": 0.4,
}
EVENT_DAYS = 365
