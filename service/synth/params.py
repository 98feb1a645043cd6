"""Every number the synthetic world is made of, in one place, with where it comes from.

The anchors are approximate public figures (see ../shared/DESIGN.md, "Realism
anchors"): the 2018 national economic census for the scale mix, MOST/MIIT
counts for 高新技术企业 and 专精特新, the 国家统计局 R&D bulletins for R&D
intensity, and common city-platform practice (雨花台 及时雨: 13 of 61 items
免申即享) for the policy mix. Where a number is a judgement rather than a
published figure, the comment says so. Change a number here and the generator
follows; tests/test_generate.py checks the world still matches the anchors.
"""

from __future__ import annotations

import datetime as dt

# ---------------------------------------------------------------------------
# Time
# ---------------------------------------------------------------------------
# The day the generated verified data refer to (the ``as_of`` column). Fixed, so
# output never depends on the wall clock: same seed, same bytes. "上年度" is the
# calendar year before it (2025), "前年度" the one before that (2024).
REFERENCE_DATE = dt.date(2026, 6, 30)
FIRST_ESTABLISHED = dt.date(1990, 1, 1)  # the register's oldest firms still alive
# 经营范围 switched to the standard wording (经营范围规范表述目录) in 2021.
SCOPE_STANDARD_FROM = dt.date(2021, 1, 1)
SCOPE_VARIANTS = 3  # firms of one class word their 经营范围 in a few ways
# Organisation codes of firms registered after the 2015 USCC reform start "MA".
USCC_MA_FROM = dt.date(2015, 10, 1)

# ---------------------------------------------------------------------------
# Industry mix (GB/T 4754-2017 门类 / 大类 prefixes), share of enterprises
# ---------------------------------------------------------------------------
# 2018 census, legal-entity enterprises of a large eastern city: 批发零售 ≈ 30 %,
# 租赁和商务服务 ≈ 12 %, 制造 ≈ 11 %, 科研技术 ≈ 10 %, 信息软件 ≈ 8 %, 建筑 ≈ 5 %.
# A 小类 is drawn uniformly inside its prefix.
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
# Which location profile (below) an industry follows.
INDUSTRY_GROUP: dict[str, str] = {
    "C": "manufacturing",
    "D": "manufacturing",
    "B": "manufacturing",
    "A": "manufacturing",
    "I": "tech",
    "M": "tech",
    "*": "services",
}

# ---------------------------------------------------------------------------
# Where firms register
# ---------------------------------------------------------------------------
# Share of a city's enterprises by district, and how strongly each kind of firm
# leans towards it (affinity multipliers). 南京: judgement from the districts'
# statistical bulletins (江宁 has the most market entities; the four core
# districts are dense in services; 雨花台 hosts 中国（南京）软件谷, 江宁 and
# 栖霞 the big development zones; 浦口/六合/溧水/高淳 are industrial and rural).
DISTRICT_PROFILES: dict[str, dict[str, tuple[float, dict[str, float]]]] = {
    "南京市": {
        "江宁区": (0.19, {"tech": 1.3, "manufacturing": 1.6, "services": 0.9}),
        "鼓楼区": (0.11, {"tech": 1.1, "manufacturing": 0.2, "services": 1.3}),
        "栖霞区": (0.10, {"tech": 1.2, "manufacturing": 1.1, "services": 0.9}),
        "秦淮区": (0.09, {"tech": 0.8, "manufacturing": 0.2, "services": 1.4}),
        "建邺区": (0.09, {"tech": 1.4, "manufacturing": 0.1, "services": 1.2}),
        "浦口区": (0.09, {"tech": 0.8, "manufacturing": 1.7, "services": 0.9}),
        "雨花台区": (0.08, {"tech": 2.4, "manufacturing": 0.6, "services": 0.8}),
        "玄武区": (0.07, {"tech": 1.3, "manufacturing": 0.1, "services": 1.2}),
        "六合区": (0.07, {"tech": 0.4, "manufacturing": 1.9, "services": 0.9}),
        "溧水区": (0.06, {"tech": 0.4, "manufacturing": 1.8, "services": 1.0}),
        "高淳区": (0.05, {"tech": 0.3, "manufacturing": 1.7, "services": 1.0}),
    }
}
# Any other city: urban 区 attract more registrations than 县 and county-level
# 市, and manufacturing leans outwards (judgement).
DISTRICT_WEIGHT_BY_SUFFIX = {"区": 3.0, "*": 1.0}
DISTRICT_AFFINITY_BY_SUFFIX = {
    "区": {"tech": 1.2, "manufacturing": 0.9, "services": 1.1},
    "*": {"tech": 0.5, "manufacturing": 1.5, "services": 0.8},
}

# ---------------------------------------------------------------------------
# Age and size
# ---------------------------------------------------------------------------
# Firm age in years ~ exponential: young firms dominate the register (about
# half of China's enterprises are under 5 years old).
AGE_MEAN_YEARS = 7.5

# log(employees) ~ mean + sd * Student-t(df) + age effect. Under
# 国统字〔2017〕213号 this gives ≈ 82 % 微型, 15 % 小型, 1.5 % 中型, 0.2 % 大型
# (census 2018: 微型 ≈ 80 %+, 小型 13–15 %, 中型 1–2 %, 大型 0.1–0.3 %).
LOG_EMPLOYEES_MEAN = 0.80
LOG_EMPLOYEES_SD = 1.10
LOG_EMPLOYEES_MAX = 11.5  # ≈ 100,000 staff, the largest employers of a city
LOG_EMPLOYEES_T_DF = 6  # Student-t: a heavier upper tail than the normal
LOG_EMPLOYEES_PER_AGE_YEAR = 0.035  # older firms are bigger (up to 20 years)

# Revenue per employee (yuan), median by prefix, log-normal spread: wholesale
# and real estate turn over far more per head than services (census 2018
# 营业收入 / 从业人员 by 门类, rounded).
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
MIN_REVENUE = 1000.0  # a trading firm files at least this much
# Revenue growth: nominal ≈ +6 % a year on average, wide spread.
REVENUE_GROWTH_MEAN = 0.06
REVENUE_GROWTH_SD = 0.22
# Assets / revenue and taxes / revenue (enterprise financial statistics, rounded).
ASSETS_TO_REVENUE: dict[str, float] = {"K": 4.0, "E": 1.2, "L": 1.5, "D": 3.0, "*": 0.7}
ASSETS_SD = 0.5
TAX_RATE_OF_REVENUE: dict[str, float] = {"F51": 0.012, "F52": 0.02, "K": 0.08, "*": 0.035}
TAX_SD = 0.4
REGISTERED_CAPITAL_TO_REVENUE = 0.35  # 认缴 capital, rounded to whole 万元
REGISTERED_CAPITAL_SD = 0.8

# ---------------------------------------------------------------------------
# R&D, patents, qualifications
# ---------------------------------------------------------------------------
# Share of firms that declare R&D (研发费用加计扣除): ≈ 1 % nationally, a few %
# in a tech city, concentrated in electronics, software and research
# (国家统计局 全国科技经费投入统计公报; the split is a judgement).
RD_PROPENSITY: dict[str, float] = {
    "C39": 0.35,
    "C40": 0.30,
    "C27": 0.30,
    "C26": 0.22,
    "C34": 0.22,
    "C35": 0.25,
    "C38": 0.22,
    "C": 0.10,
    "I65": 0.35,
    "I64": 0.15,
    "I63": 0.10,
    "M73": 0.50,
    "M74": 0.12,
    "M75": 0.15,
    "M": 0.04,
    "D": 0.05,
    "F52": 0.003,
    "F51": 0.01,
    "H": 0.002,
    "*": 0.01,
}
# Median R&D / revenue among firms that do R&D (high-tech manufacturing ≈ 2–6 %,
# software ≈ 8–10 %, research services higher).
RD_INTENSITY_MEDIAN: dict[str, float] = {
    "C39": 0.055,
    "C40": 0.05,
    "C27": 0.05,
    "C": 0.028,
    "I65": 0.09,
    "I": 0.05,
    "M73": 0.15,
    "*": 0.02,
}
RD_INTENSITY_SD = 0.6
RD_INTENSITY_MAX = 0.6
RD_GROWTH_MEAN = 0.12  # year-on-year change of R&D expense (R&D grew ≈ 10 % a year)
RD_GROWTH_SD = 0.35
# Valid invention patents of an R&D firm ~ Poisson(base + per_million · R&D/1e6 · min(age, 10)/5):
# patents accumulate with R&D and years (high-tech firms hold a few each).
PATENTS_BASE = 0.3
PATENTS_PER_RD_MILLION = 1.5

# Qualifications as shares of all enterprises, for a tech city (≈ 1 M
# enterprises in 南京). Nationally: 高新 ≈ 400k of 50 M (0.8 %), 专精特新
# ≈ 100k (0.2 %), 小巨人 ≈ 12k (0.024 %); 南京 has ≈ 1.5 % 高新, a few
# thousand 专精特新, ≈ 200 小巨人, ≈ 1,000 瞪羚, ≈ 20 独角兽.
QUALIFICATION_SHARE: dict[str, float] = {
    "high_tech": 0.015,
    "tech_sme": 0.03,
    "innovative_sme": 0.02,
    "srdi_sme": 0.004,
    "little_giant": 0.0004,
    "gazelle": 0.001,
    "unicorn": 0.00002,
}
# Innovativeness score that ranks R&D firms for every qualification:
#   w_i·log(R&D intensity) + w_p·log(1 + patents) + w_r·log(revenue) + N(0, noise).
# Balanced so that 高新 firms have a median R&D intensity of ≈ 6–8 % (认定 needs ≥ 3–5 %).
QUALIFICATION_SCORE = {"rd_intensity": 0.5, "patents": 0.3, "revenue": 0.2}
QUALIFICATION_NOISE_SD = 0.8
HIGH_TECH_MIN_RD_RATIO = 0.03  # 认定办法: R&D ≥ 3–5 % of revenue
SRDI_MIN_REVENUE = 10_000_000  # 专精特新: 营业收入 ≥ 1000 万元 (one of the routes)
SRDI_MIN_AGE_YEARS = 2  # 从事特定细分市场 2 年以上
LITTLE_GIANT_MIN_REVENUE = 50_000_000
GAZELLE_MAX_AGE_YEARS = 10
GAZELLE_MIN_GROWTH = 0.2
UNICORN_MAX_AGE_YEARS = 10
SME_MAX_REVENUE = 200_000_000  # 科技型中小企业: 营业收入 ≤ 2 亿, staff ≤ 500
SME_MAX_EMPLOYEES = 500

# Listing: A-share boards only among 大型 firms (about 1 in 8 of them); 新三板
# among 中型 and 大型. 南京 has ≈ 150 A-share companies in ≈ 1 M firms.
LISTED_SHARE_OF_LARGE = 0.12
LISTING_BOARDS = {"sse_main": 0.3, "szse_main": 0.25, "star": 0.15, "chinext": 0.15, "bse": 0.05, "overseas": 0.1}
NEEQ_SHARE_OF_MEDIUM = 0.04

# ---------------------------------------------------------------------------
# Staff, insurance, other facts
# ---------------------------------------------------------------------------
INSURED_SHARE = (0.70, 0.98)  # uniform range of insured / employees
UNEMPLOYMENT_INSURANCE_PER_HEAD = 420.0  # yuan/yr: 0.5 % unit rate on ≈ 84k wage base
UNEMPLOYMENT_INSURANCE_SD = 0.25
GRADUATE_HIRE_RATE = 0.04  # graduates hired per employee per year
SKILL_CERT_REPORTED = 0.30  # share of firms whose 技能证书 count is known (declared)
SKILL_CERT_RATE = 0.06  # certificates per employee per year
# Bank loans: about 1 in 4 micro firms borrows, big firms far more often
# (PBoC 普惠小微 coverage; judgement); interest 0.4–3 % of revenue. Only the
# borrowers' interest is known (declared).
LOAN_SHARE_MIN, LOAN_SHARE_MAX = 0.25, 0.70
LOAN_INTEREST_OF_REVENUE = (0.004, 0.03)
# 智能制造能力成熟度 (GB/T 39116-2020): few manufacturers are assessed, most at 1–2.
SMART_MANUFACTURING_ASSESSED = 0.04
SMART_MANUFACTURING_LEVELS = [0.45, 0.33, 0.16, 0.05, 0.01]
DIGITAL_DIAGNOSIS_SHARE = 0.03  # manufacturers that bought a 数字化转型诊断 last year
DIGITAL_DIAGNOSIS_FEE_MEDIAN = 120_000.0
DISHONEST_SHARE = 0.005  # 失信被执行人
ABNORMAL_SHARE = 0.02  # 经营异常名录
SERIOUS_DISHONEST_SHARE = 0.002  # 严重失信主体名单 (信用中国), rarer than 失信被执行人
INTEGRITY_RESTRICTED_SHARE = 0.003  # of R&D firms: 科研诚信严重失信行为记录, within its restriction period
RD_DEDUCTION_CLAIMED = 0.85  # of R&D firms: filed the 研发费用加计扣除 schedule (A107012)
LAYOFF_SHARE = 0.12  # firms that cut insured staff last year (稳岗返还's 裁员率)
LAYOFF_RATE = (0.01, 0.15)  # share of the start-of-year insured laid off, uniform
INSURED_START_SD = 0.08  # log-normal spread of start-of-year insured around the year-end count
ARREARS_SHARE = 0.03  # firms in arrears on social insurance

# ---------------------------------------------------------------------------
# District versions of city measures (zhida generate --policies N)
# ---------------------------------------------------------------------------
# Beyond the catalogue, districts re-issue city-wide measures as their own
# (区级配套 / 同类政策), for the firms registered there, with the same
# conditions and amounts. A district's fund for such a measure is a tenth of
# the city's: a 南京 district holds 5–19 % of the city's firms (DISTRICT_PROFILES)
# and district budgets for 配套 rewards run to millions where the city's run to
# tens of millions (judgement). Rounded down to whole 万元.
DISTRICT_BUDGET_SHARE = 0.1

# ---------------------------------------------------------------------------
# Interaction histories (events.jsonl)
# ---------------------------------------------------------------------------
# Eighteen months before the reference date (2025-01-01 … 2026-06-29): a
# calendar year to learn from and half a year to test on, and every annual
# measure's application period met at least twice.
EVENT_DAYS = 545
HISTORY_START = REFERENCE_DATE - dt.timedelta(days=EVENT_DAYS)  # the first day of the history
TRUTH_DAYS = 180  # truth/ describes the last 180 days (2026-01-01 on): the period a ranker is scored on
CHAIN_MARGIN_DAYS = 60  # pushes start at least this long before the reference date
# The platform pushes in rounds (one message bundling a few policies). Rounds
# per firm ~ Poisson(rate · months), the rate log-normal across firms: some
# firms subscribe to more, some are targeted more (judgement). The rate is the
# platform's, independent of the firm's latent engagement.
ROUNDS_PER_MONTH = 0.09
ROUNDS_RATE_SD = 0.6
ROUNDS_MAX = 12
POLICIES_PER_ROUND = (3, 8)  # uniform count of policies bundled in one round (fewer if fewer are open)
# The platform matches on what it sees (tags, its own eligibility check): a
# bundle's policies are drawn ∝ exp(w·relevance + eligibility bonus + Gumbel)
# and shown in that order (``rank`` in the push payload). Judgement.
PUSH_RELEVANCE_WEIGHT = 1.0
PUSH_ELIGIBILITY_BONUS = {"eligible": 1.5, "undetermined": 0.5}
CHANNELS = {"app": 0.45, "wechat": 0.30, "sms": 0.20, "email": 0.05}
# Push hour (local time) of a round, and its effect on the chance the round is
# opened (office mornings best, evenings worst; judgement).
PUSH_HOURS = {
    8: 0.06,
    9: 0.14,
    10: 0.14,
    11: 0.10,
    12: 0.05,
    13: 0.07,
    14: 0.11,
    15: 0.11,
    16: 0.09,
    17: 0.06,
    18: 0.03,
    19: 0.02,
    20: 0.02,
}
HOUR_EFFECT = {
    8: -0.2,
    9: 0.3,
    10: 0.3,
    11: 0.1,
    12: -0.3,
    13: -0.1,
    14: 0.1,
    15: 0.1,
    16: 0.0,
    17: -0.2,
    18: -0.5,
    19: -0.6,
    20: -0.7,
}
CHANNEL_EFFECT = {"app": 0.0, "wechat": 0.4, "sms": -0.6, "email": -1.2}
FATIGUE_DAYS = 28  # pushes within this many days before a round tire the firm
# Annual measures take applications for one period a year, closing on a
# policy-specific month end (the 申报通知; drawn per policy, shown as
# ``deadline`` in the push payload); a once-only measure closes at valid_to.
DEADLINE_MONTHS = (3, 4, 5, 6, 9, 10, 11, 12)
DEADLINE_RUSH_DAYS = 30  # applications rise in the last month before the close

# Latent behaviour (never written to events; see truth/): each firm belongs to
# one of LATENT_CLUSTERS communities, drawn ∝ exp(a[大类] + b[district] +
# c[scale]) with effects ~ N(0, CLUSTER_FIELD_SD): the fields reveal the
# community only in part. A community has a taste for every topic and every
# department ~ N(0, 1); a firm's taste is its community's plus N(0, FIRM_TASTE_SD).
# A policy's taste for a firm is the mean over its topics plus the department's.
LATENT_CLUSTERS = 16
CLUSTER_FIELD_SD = 1.0
FIRM_TASTE_SD = 0.5
DEPARTMENT_TASTE_WEIGHT = 0.7
POLICY_APPEAL_SD = 0.4  # a policy's own draw (some programmes are simply popular)
# A district's own version of a city measure (``--policies``) is the same programme: its appeal is the
# city measure's plus N(0, DISTRICT_APPEAL_SD), and a firm's taste for a district office new to the
# catalogue is its taste for the city bureau of the same line (玄武区科学技术局 → 南京市科学技术局). Judgement.
DISTRICT_APPEAL_SD = 0.2

# Take-up is logistic (events.py), e = the firm's latent engagement ~ N(0, 1),
# τ its taste for the policy, r the topical relevance the fields show:
#   P(open round)  = σ(open_intercept + open_engagement·e + channel + hour
#                      + open_fatigue·min(pushes in the last FATIGUE_DAYS, 12))
#   P(view | open) = σ(view_intercept + view_taste·τ + view_relevance·r
#                      + view_rank·(rank − 1) + appeal)
#   P(apply | view) = σ(apply_intercept + apply_eligible·[eligible]
#                       + apply_undetermined·[undetermined]
#                       + apply_amount·clip(log(100·amount / revenue))
#                       + apply_taste·τ + apply_relevance·r + apply_engagement·e + appeal
#                       + apply_deadline·[close within DEADLINE_RUSH_DAYS]
#                       + apply_habit·[approved for the same measure in an earlier period])
# Firms read the conditions, so eligibility is still the strongest single
# term, but taste and engagement (which no field shows) decide much of who
# acts. Judgement, tuned so that about 45 % of rounds are opened and about
# half of the eligible viewers apply.
TAKEUP = {
    "open_intercept": -0.1,
    "open_engagement": 0.9,
    "open_fatigue": -0.12,
    "view_intercept": 0.2,
    "view_taste": 2.0,
    "view_relevance": 0.6,
    "view_rank": -0.15,
    "apply_intercept": -4.2,
    "apply_eligible": 3.6,
    "apply_undetermined": 1.0,
    "apply_amount": 0.25,
    "apply_taste": 1.8,
    "apply_relevance": 0.4,
    "apply_engagement": 0.8,
    "apply_deadline": 1.0,
    "apply_habit": 1.2,
}
AMOUNT_TERM_CLIP = (-4.0, 3.0)  # log(100·amount/revenue) beyond this changes nothing
# An eligible application is approved unless its materials fail 形式审查.
APPROVE_ELIGIBLE = {"instant": 0.97, "review": 0.90}
RATING_SHARE = 0.4  # share of finished chains the firm rates (好差评)
RATING_SCORES = {"paid": [0.02, 0.02, 0.06, 0.20, 0.70], "rejected": [0.15, 0.20, 0.35, 0.20, 0.10]}
# Delays between steps.
VIEW_DELAY_MEAN_HOURS = 20.0  # exponential, capped at 10 days
VIEW_DELAY_MAX_HOURS = 240.0
APPLY_DELAY_HOURS = (1.0, 120.0)
INSTANT_DECISION_SECONDS = (5, 600)  # 即申即办 / 秒批
PAY_DELAY_DAYS = {"automatic": (1.0, 5.0), "instant": (0.5, 3.0), "review": (3.0, 10.0)}
AUTOMATIC_BATCH_SPREAD_DAYS = 3.0  # an automatic policy notifies its firms over a few days
RATING_DELAY_DAYS = (0.5, 3.0)

# Topical relevance r ∈ [0, 1] of a policy to a firm (events.py):
#   r = min(1, base + topic·min(#topics that speak to the firm, topic_max)
#              + industry·[the conditions name the firm's industry]
#              + qualification·[the firm holds a qualification the policy names])
# A topic speaks to a firm through its industry (TOPIC_SECTIONS) or through a
# trait (TOPIC_TRAITS, tested in events.py). Judgement.
RELEVANCE = {"base": 0.1, "topic": 0.2, "topic_max": 2, "industry": 0.3, "qualification": 0.4}
TOPIC_SECTIONS: dict[str, tuple[str, ...]] = {
    "科技创新": ("C", "I", "M"),
    "研发投入": ("C", "I65", "M73"),
    "数字经济": ("C39", "I"),
    "数字化转型": ("C",),
    "智能制造": ("C",),
    "软件": ("I65",),
    "信息技术": ("I",),
    "电子信息": ("C39", "I"),
    "人工智能": ("I65", "M73"),
    "算力": ("I",),
    "消费": ("F52", "H"),
    "商贸流通": ("F",),
    "餐饮住宿": ("H",),
    "电子商务": ("F52", "I64"),
    "外贸": ("F51", "C"),
    "开拓市场": ("F51", "C"),
    "建筑业": ("E",),
    "资质": ("E",),
    "绿色制造": ("C", "D"),
    "节能降碳": ("C", "D"),
    "装备制造": ("C34", "C35", "C37", "C38", "C40"),
    "首台套": ("C34", "C35", "C37", "C38", "C40"),
    "质量": ("C",),
    "品牌": ("C", "F52"),
    "小升规": ("C",),
    "房租": ("F52", "H", "O"),
    "纾困": ("F52", "H", "O", "R"),
    "总部经济": ("L72",),
    "税收": ("L72",),
}
TOPIC_TRAITS: dict[str, str] = {
    "小微企业": "small_or_micro",
    "中小企业": "sme",
    "创业": "young",
    "就业": "employer",
    "稳岗": "employer",
    "社保": "employer",
    "高校毕业生": "hires_graduates",
    "见习": "hires_graduates",
    "人才": "hires_graduates",
    "住房": "hires_graduates",
    "技能": "trains",
    "培训": "trains",
    "金融": "borrows",
    "贷款贴息": "borrows",
    "知识产权": "patents",
    "专利": "patents",
    "上市": "large_or_medium",
    "资本市场": "large_or_medium",
    "高成长": "fast_growing",
}
TRAIT_EMPLOYER_MIN_INSURED = 10
TRAIT_YOUNG_YEARS = 3
TRAIT_FAST_GROWTH_PCT = 20
# Qualifications a topic names (a firm holding one finds the policy relevant).
TOPIC_QUALIFICATIONS: dict[str, str] = {
    "高新技术企业": "high_tech",
    "专精特新": "srdi_sme",
    "小巨人": "little_giant",
    "瞪羚企业": "gazelle",
    "独角兽企业": "unicorn",
}
