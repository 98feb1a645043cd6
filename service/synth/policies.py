"""≥ 40 policy specs for a city, modelled on real 惠企 programmes.

Each measure is written once as data (conditions and amount in JsonLogic over
the field catalog) together with an example enterprise that qualifies and a
change that makes it not qualify; the test cases in each spec are computed from
those with the exact Decimal evaluator in :mod:`service.synth.evaluate`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np

from graph import regions
from matcher import catalog
from service.synth.evaluate import decide

V = lambda name: {"var": name}  # noqa: E731


def ge(f, x):
    return {">=": [V(f), x]}


def gt(f, x):
    return {">": [V(f), x]}


def le(f, x):
    return {"<=": [V(f), x]}


def lt(f, x):
    return {"<": [V(f), x]}


def eq(f, x):
    return {"==": [V(f), x]}


def qual(q):
    return {"has_qualification": [V("qualifications"), q]}


def industry(code):
    return {"in_industry": [V("industry"), code]}


CLEAN = [{"!": V("on_dishonesty_list")}, {"!": V("in_abnormal_operation")}]
SME = {"in": [V("scale"), ["small", "micro", "medium"]]}
SMALL = {"in": [V("scale"), ["small", "micro"]]}

# Base facts of an example enterprise; each policy overrides what it needs.
BASE = {
    "industry": "C3911",
    "established_on": dt.date(2015, 3, 1),
    "registered_capital": Decimal("10000000.00"),
    "employees": 120,
    "insured_employees": 110,
    "revenue": Decimal("50000000.00"),
    "revenue_prev": Decimal("40000000.00"),
    "total_assets": Decimal("60000000.00"),
    "tax_paid": Decimal("2000000.00"),
    "rd_expense": Decimal("3000000.00"),
    "unemployment_insurance_paid": Decimal("50000.00"),
    "graduates_hired": 6,
    "skill_certificates": 10,
    "invention_patents": 8,
    "loan_interest_paid": Decimal("800000.00"),
    "qualifications": frozenset({"high_tech"}),
    "listed_status": "unlisted",
    "on_dishonesty_list": False,
    "in_abnormal_operation": False,
}
# Validity (inclusive). Most 若干措施 run three years; annual notices (稳岗返还,
# 纾困, 促消费) one calendar year; a few older measures end this year. Events
# of a policy fall inside its validity.
VALIDITY: dict[str, tuple[str, str]] = {
    "*": ("2025-01-01", "2027-12-31"),
    "wengang-fanhuan-zhongxiaowei": ("2026-01-01", "2026-12-31"),
    "wengang-fanhuan-daqiye": ("2026-01-01", "2026-12-31"),
    "xiaowei-fangzu-jianmian": ("2026-01-01", "2026-12-31"),
    "xiaowei-shebao-butie": ("2026-01-01", "2026-12-31"),
    "canyin-xiaofei-jiangli": ("2026-01-01", "2026-12-31"),
    "pifa-lingshou-zengzhang": ("2026-01-01", "2026-12-31"),
    "rengong-zhineng-suanli": ("2026-01-01", "2028-12-31"),
    "zhineng-gongchang": ("2026-01-01", "2028-12-31"),
    "shuzihua-zhuanxing": ("2026-01-01", "2028-12-31"),
    "shangshi-jiangli": ("2024-07-01", "2027-06-30"),
    "xinsanban-guapai": ("2024-07-01", "2027-06-30"),
    "jiuye-jianxi": ("2024-07-01", "2026-12-31"),
    "qu-rencai-anju": ("2025-07-01", "2027-06-30"),
}
# Fields a test case prefers to leave out for its "undetermined" case: the ones
# really missing for many firms, so the case shows what a firm must declare.
OFTEN_MISSING = (
    "rd_expense",
    "loan_interest_paid",
    "skill_certificates",
    "revenue_prev",
    "digital_diagnosis_fee",
    "smart_manufacturing_level",
    "graduates_hired",
    "revenue",
    "unemployment_insurance_paid",
    "total_assets",
)
# What a derived field is computed from (test facts must carry the inputs).
DERIVED_INPUTS = {
    "scale": ("industry", "employees", "revenue", "total_assets"),
    "age_years": ("established_on",),
    "rd_ratio": ("rd_expense", "revenue"),
    "revenue_growth": ("revenue", "revenue_prev"),
}


def _abbr(city: str) -> str:
    return {
        "南京市": "宁",
        "杭州市": "杭",
        "深圳市": "深",
        "苏州市": "苏",
        "上海市": "沪",
        "北京市": "京",
        "广州市": "穗",
        "长春市": "长",
        "泉州市": "泉",
    }.get(city, city[0])


def catalogue(city_name: str, city_code: str, districts: list) -> list[dict]:
    """The measures, as dicts with spec elements plus ``example`` and ``counter``."""
    a = _abbr(city_name)
    c = city_name
    in_city = {"in_region": [V("region"), city_code]}
    d1, d2, d3 = districts["tech"], districts["services"], districts["manufacturing"]

    def P(
        id,
        name,
        document,
        number,
        dept,
        topics,
        mode,
        benefit,
        target,
        conditions,
        formula,
        budget,
        materials,
        example=None,
        counter=None,
        cap=None,
        floor=None,
        period="annual",
        days=None,
        group=None,
        region=None,
        declarable=None,
        rounding="half_up",
        valid=None,
    ):
        valid = valid or VALIDITY.get(id, VALIDITY["*"])
        region_code = region.code if region is not None else city_code
        scope = {"in_region": [V("region"), region_code]} if region is not None else in_city
        return {
            "id": id,
            "name": name,
            "document": document,
            "document_number": number,
            "department": dept,
            "region": region_code,
            "valid_from": dt.date.fromisoformat(valid[0]),
            "valid_to": dt.date.fromisoformat(valid[1]),
            "target": target,
            "topics": topics,
            "mode": mode,
            "time_limit_days": 0 if mode == "automatic" else (days or (15 if mode == "review" else 1)),
            "benefit_type": benefit,
            "period": period,
            "conditions": {"and": [scope, *conditions, *CLEAN]},
            "amount": {
                k: v
                for k, v in (("formula", formula), ("cap", cap), ("floor", floor), ("rounding", rounding))
                if v is not None
            },
            "budget": budget,
            "exclusive_group": group,
            # 即申即办 runs on a credit commitment (信用承诺) in place of most paperwork.
            "materials": materials + (["信用承诺书"] if mode == "instant" else []),
            "declarable": declarable or [],
            "_example": {"region": (region or d1).code, **(example or {})},
            "_counter": counter or {},
        }

    sci, hr, mi, fin, com = (
        f"{c}科学技术局",
        f"{c}人力资源和社会保障局",
        f"{c}工业和信息化局",
        f"{c}地方金融监督管理局",
        f"{c}商务局",
    )
    lic = ["营业执照", "法定代表人身份证明"]
    out = [
        P(
            "gaoqi-shouci-rending",
            "高新技术企业首次认定奖励",
            f"{c}关于加快培育高新技术企业的若干措施",
            f"{a}科规〔2025〕2号",
            sci,
            ["科技创新", "高新技术企业"],
            "automatic",
            "reward",
            "当年首次通过高新技术企业认定的企业（成立不满 6 年）",
            [qual("high_tech"), lt("age_years", 6)],
            "300000.00",
            "60000000.00",
            [],
            example={"established_on": dt.date(2022, 5, 1)},
            counter={"qualifications": frozenset()},
            group="gaoqi-jiangli",
        ),
        P(
            "gaoqi-chongxin-rending",
            "高新技术企业重新认定奖励",
            f"{c}关于加快培育高新技术企业的若干措施",
            f"{a}科规〔2025〕2号",
            sci,
            ["科技创新", "高新技术企业"],
            "instant",
            "reward",
            "通过高新技术企业重新认定的企业",
            [qual("high_tech"), ge("age_years", 6)],
            "100000.00",
            "20000000.00",
            lic + ["高新技术企业证书"],
            counter={"qualifications": frozenset()},
            group="gaoqi-jiangli",
        ),
        P(
            "yanfa-feiyong-buzhu",
            "企业研发费用后补助",
            f"{c}企业研究开发费用省市联动奖补实施细则",
            f"{a}科发〔2025〕41号",
            sci,
            ["科技创新", "研发投入"],
            "automatic",
            "subsidy",
            "上年度研发费用达到规定额度的企业",
            [ge("rd_expense", "1000000"), ge("rd_ratio", "3")],
            {
                "if": [
                    ge("rd_expense", "50000000"),
                    "2000000",
                    {
                        "if": [
                            ge("rd_expense", "10000000"),
                            {"*": [V("rd_expense"), "0.05"]},
                            {"*": [V("rd_expense"), "0.08"]},
                        ]
                    },
                ]
            },
            "150000000.00",
            [],
            cap="2000000.00",
            counter={"rd_expense": Decimal("500000.00")},
        ),
        P(
            "yanfa-zengliang-jiangli",
            "研发投入增量奖励",
            f"{c}研发投入增量奖励办法",
            f"{a}科规〔2024〕7号",
            sci,
            ["科技创新", "研发投入"],
            "instant",
            "reward",
            "研发投入强度较高且营业收入增长的企业",
            [ge("rd_ratio", "5"), gt("revenue_growth", "10")],
            {"*": [V("rd_expense"), "0.1"]},
            "50000000.00",
            lic + ["研发费用专项审计报告"],
            cap="1000000.00",
            example={"rd_expense": Decimal("3000000.00")},
            counter={"revenue_prev": Decimal("49000000.00")},
        ),
        P(
            "zhuanjingtexin-jiangli",
            "专精特新中小企业认定奖励",
            f"{c}促进专精特新中小企业高质量发展若干措施",
            f"{a}工信规〔2025〕3号",
            mi,
            ["专精特新", "中小企业"],
            "automatic",
            "reward",
            "新认定的省级专精特新中小企业",
            [qual("srdi_sme"), SME],
            "200000.00",
            "30000000.00",
            [],
            example={"qualifications": frozenset({"srdi_sme"})},
            counter={"qualifications": frozenset()},
            group="zhuanjingtexin",
        ),
        P(
            "xiaojuren-jiangli",
            "专精特新“小巨人”企业奖励",
            f"{c}促进专精特新中小企业高质量发展若干措施",
            f"{a}工信规〔2025〕3号",
            mi,
            ["专精特新", "小巨人"],
            "automatic",
            "reward",
            "新认定的国家级专精特新“小巨人”企业",
            [qual("little_giant")],
            "1000000.00",
            "30000000.00",
            [],
            example={"qualifications": frozenset({"srdi_sme", "little_giant"})},
            counter={"qualifications": frozenset({"srdi_sme"})},
            group="zhuanjingtexin",
        ),
        P(
            "kejixing-daikuan-tiexi",
            "科技型中小企业贷款贴息",
            f"{c}科技金融贴息管理办法",
            f"{a}金规〔2025〕1号",
            fin,
            ["金融", "贷款贴息", "科技创新"],
            "instant",
            "interest_subsidy",
            "取得科技贷款的科技型中小企业",
            [qual("tech_sme"), gt("loan_interest_paid", "0")],
            {"*": [V("loan_interest_paid"), "0.5"]},
            "40000000.00",
            lic + ["借款合同", "利息支付凭证"],
            cap="500000.00",
            example={"qualifications": frozenset({"tech_sme"})},
            counter={"qualifications": frozenset({"high_tech"})},
            declarable=["loan_interest_paid"],
        ),
        P(
            "xiaowei-daikuan-tiexi",
            "小微企业首贷贴息",
            f"{c}普惠金融支持小微企业发展若干措施",
            f"{a}金发〔2025〕9号",
            fin,
            ["金融", "贷款贴息", "小微企业"],
            "instant",
            "interest_subsidy",
            "首次取得银行贷款的小微企业",
            [SMALL, gt("loan_interest_paid", "0")],
            {"*": [V("loan_interest_paid"), "0.3"]},
            "60000000.00",
            lic + ["借款合同", "利息支付凭证"],
            cap="100000.00",
            example={
                "employees": 30,
                "insured_employees": 28,
                "revenue": Decimal("8000000.00"),
                "revenue_prev": Decimal("7000000.00"),
                "loan_interest_paid": Decimal("120000.00"),
            },
            counter={"employees": 500, "revenue": Decimal("500000000.00")},
            declarable=["loan_interest_paid"],
        ),
        P(
            "xina-jiuye-buzhu",
            "一次性吸纳就业补贴",
            f"{c}关于进一步稳定和扩大就业的若干政策措施",
            f"{a}人社规〔2025〕4号",
            hr,
            ["就业", "高校毕业生"],
            "instant",
            "subsidy",
            "吸纳离校 2 年内高校毕业生并缴纳社保的企业",
            [ge("graduates_hired", 1)],
            {"*": [V("graduates_hired"), "1000"]},
            "30000000.00",
            lic + ["劳动合同", "社保缴费记录"],
            cap="100000.00",
            counter={"graduates_hired": 0},
            declarable=["graduates_hired"],
        ),
        P(
            "wengang-fanhuan-zhongxiaowei",
            "失业保险稳岗返还（中小微企业）",
            f"关于做好{c}失业保险稳岗返还工作的通知",
            f"{a}人社发〔2026〕12号",
            hr,
            ["就业", "稳岗", "社保"],
            "automatic",
            "subsidy",
            "上年度未裁员或裁员率不高于 5.5% 的参保中小微企业（返还上年度实际缴纳失业保险费的 90%）",
            [SME, ge("insured_employees", 1), gt("unemployment_insurance_paid", "0")],
            {"*": [V("unemployment_insurance_paid"), "0.9"]},
            "300000000.00",
            [],
            counter={"employees": 2000, "revenue": Decimal("600000000.00")},
            group="wengang",
        ),
        P(
            "wengang-fanhuan-daqiye",
            "失业保险稳岗返还（大型企业）",
            f"关于做好{c}失业保险稳岗返还工作的通知",
            f"{a}人社发〔2026〕12号",
            hr,
            ["就业", "稳岗", "社保"],
            "automatic",
            "subsidy",
            "上年度未裁员或裁员率不高于参保职工总数 5.5% 的参保大型企业（返还上年度实际缴纳失业保险费的 50%）",
            [eq("scale", "large"), gt("unemployment_insurance_paid", "0")],
            {"*": [V("unemployment_insurance_paid"), "0.5"]},
            "40000000.00",
            [],
            example={
                "employees": 2000,
                "insured_employees": 1900,
                "revenue": Decimal("600000000.00"),
                "total_assets": Decimal("700000000.00"),
                "unemployment_insurance_paid": Decimal("800000.00"),
            },
            counter={"employees": 120},
            group="wengang",
        ),
        P(
            "yuangong-zufang-butie",
            "企业员工租房补贴",
            f"{c}支持企业引才留才若干措施",
            f"{a}人社规〔2025〕6号",
            hr,
            ["人才", "住房"],
            "instant",
            "subsidy",
            "为新引进员工租赁住房的重点产业企业",
            [{"or": [industry("C"), industry("I65"), industry("M")]}, ge("graduates_hired", 1)],
            {"*": [V("graduates_hired"), "6000"]},
            "25000000.00",
            lic + ["租赁合同", "员工名册"],
            cap="300000.00",
            counter={"industry": "F5211"},
            declarable=["graduates_hired"],
        ),
        P(
            "shangshi-jiangli",
            "企业上市奖励",
            f"{c}推进企业上市高质量发展若干措施",
            f"{a}政规〔2024〕8号",
            fin,
            ["上市", "资本市场"],
            "review",
            "reward",
            "在境内外证券交易所上市的企业",
            [{"in": [V("listed_status"), ["sse_main", "szse_main", "star", "chinext", "bse", "overseas"]]}],
            {
                "if": [
                    {"in": [V("listed_status"), ["sse_main", "szse_main", "star"]]},
                    "5000000",
                    {"if": [eq("listed_status", "chinext"), "4000000", "3000000"]},
                ]
            },
            "60000000.00",
            lic + ["上市公告书", "募集资金到账证明"],
            period="once",
            days=20,
            example={"listed_status": "star"},
            counter={"listed_status": "unlisted"},
        ),
        P(
            "xinsanban-guapai",
            "新三板挂牌奖励",
            f"{c}推进企业上市高质量发展若干措施",
            f"{a}政规〔2024〕8号",
            fin,
            ["上市", "资本市场"],
            "instant",
            "reward",
            "在全国中小企业股份转让系统挂牌的企业",
            [eq("listed_status", "neeq")],
            "500000.00",
            "10000000.00",
            lic + ["挂牌公告"],
            period="once",
            example={"listed_status": "neeq"},
            counter={"listed_status": "unlisted"},
        ),
        P(
            "jineng-tisheng-butie",
            "企业职工技能提升补贴",
            f"{c}职业技能提升行动实施方案",
            f"{a}人社发〔2025〕33号",
            hr,
            ["技能", "培训", "就业"],
            "instant",
            "subsidy",
            "职工取得职业资格证书或职业技能等级证书的参保企业",
            [ge("skill_certificates", 1), ge("insured_employees", 1)],
            {"*": [V("skill_certificates"), "1500"]},
            "15000000.00",
            lic + ["证书复印件", "参保证明"],
            cap="200000.00",
            counter={"skill_certificates": 0},
            declarable=["skill_certificates"],
        ),
        P(
            "xiaoshenggui-jiangli",
            "首次“小升规”企业奖励",
            f"{c}促进小微企业上规模若干措施",
            f"{a}工信发〔2025〕17号",
            mi,
            ["小升规", "中小企业"],
            "automatic",
            "reward",
            "首次纳入规模以上工业统计的企业",
            [industry("C"), ge("revenue", "20000000"), lt("revenue_prev", "20000000")],
            "100000.00",
            "20000000.00",
            [],
            period="once",
            example={"revenue": Decimal("25000000.00"), "revenue_prev": Decimal("18000000.00")},
            counter={"revenue_prev": Decimal("22000000.00")},
        ),
        P(
            "shuzihua-zhuanxing",
            "中小企业数字化转型补助",
            f"{c}中小企业数字化转型专项行动方案",
            f"{a}工信规〔2026〕1号",
            mi,
            ["数字化转型", "中小企业", "数字经济"],
            "review",
            "subsidy",
            "实施数字化改造项目的中小制造企业",
            [industry("C"), SME, ge("revenue", "5000000")],
            {"*": [V("revenue"), "0.005"]},
            "50000000.00",
            lic + ["项目合同", "发票", "验收报告"],
            cap="500000.00",
            floor="50000.00",
            days=15,
            counter={"industry": "L7212"},
        ),
        P(
            "dengling-jiangli",
            "瞪羚企业奖励",
            f"{c}培育瞪羚企业和独角兽企业行动计划",
            f"{a}科发〔2025〕22号",
            sci,
            ["科技创新", "瞪羚企业", "高成长"],
            "automatic",
            "reward",
            "新入库的瞪羚企业",
            [qual("gazelle")],
            "500000.00",
            "20000000.00",
            [],
            example={"qualifications": frozenset({"high_tech", "gazelle"})},
            counter={"qualifications": frozenset({"high_tech"})},
            group="gaochengzhang",
        ),
        P(
            "dujiaoshou-jiangli",
            "独角兽企业奖励",
            f"{c}培育瞪羚企业和独角兽企业行动计划",
            f"{a}科发〔2025〕22号",
            sci,
            ["科技创新", "独角兽企业", "高成长"],
            "automatic",
            "reward",
            "新入库的独角兽（含潜在独角兽）企业",
            [qual("unicorn")],
            "5000000.00",
            "30000000.00",
            [],
            example={"qualifications": frozenset({"high_tech", "unicorn"})},
            counter={"qualifications": frozenset({"high_tech"})},
            group="gaochengzhang",
        ),
        P(
            "faming-zhuanli-zizhu",
            "发明专利资助",
            f"{c}知识产权资助办法",
            f"{a}知规〔2025〕2号",
            f"{c}市场监督管理局（知识产权局）",
            ["知识产权", "专利"],
            "instant",
            "subsidy",
            "上年度获得国内发明专利授权的企业",
            [ge("invention_patents", 1)],
            {"*": [V("invention_patents"), "5000"]},
            "20000000.00",
            lic + ["专利证书"],
            cap="200000.00",
            counter={"invention_patents": 0},
        ),
        P(
            "shoutaitao-jiangli",
            "首台（套）重大技术装备奖励",
            f"{c}首台（套）重大技术装备认定奖励办法",
            f"{a}工信规〔2025〕6号",
            mi,
            ["首台套", "装备制造"],
            "review",
            "reward",
            "研制首台（套）重大技术装备的装备制造企业",
            [{"or": [industry("C34"), industry("C35"), industry("C38"), industry("C39")]}, ge("invention_patents", 3)],
            {"*": [V("revenue"), "0.01"]},
            "30000000.00",
            lic + ["首台（套）认定证书", "销售合同"],
            cap="3000000.00",
            floor="300000.00",
            days=20,
            counter={"industry": "C1311"},
        ),
        P(
            "xiaowei-fangzu-jianmian",
            "小微企业房租减免",
            f"{c}支持小微企业和个体工商户纾困若干措施",
            f"{a}政发〔2026〕5号",
            f"{c}国有资产监督管理委员会",
            ["纾困", "房租", "小微企业"],
            "instant",
            "fee_reduction",
            "承租国有经营性房屋的小微企业",
            [SMALL],
            {"min": [{"*": [V("revenue"), "0.01"]}, "60000"]},
            "200000000.00",
            lic + ["租赁合同"],
            example={
                "employees": 8,
                "insured_employees": 8,
                "revenue": Decimal("1500000.00"),
                "revenue_prev": Decimal("1400000.00"),
                "total_assets": Decimal("900000.00"),
            },
            counter={"employees": 500, "revenue": Decimal("500000000.00")},
        ),
        P(
            "xiaowei-shebao-butie",
            "小微企业吸纳高校毕业生社保补贴",
            f"{c}援企稳岗扩就业若干措施",
            f"{a}人社规〔2026〕2号",
            hr,
            ["就业", "社保", "小微企业", "高校毕业生"],
            "automatic",
            "subsidy",
            "招用毕业年度高校毕业生、签订 1 年以上劳动合同并缴纳社会保险费的小微企业（每人 3000 元）",
            [SMALL, ge("graduates_hired", 1), ge("insured_employees", 3)],
            {"*": [V("graduates_hired"), "3000"]},
            "20000000.00",
            [],
            cap="30000.00",
            example={
                "employees": 15,
                "insured_employees": 12,
                "graduates_hired": 2,
                "revenue": Decimal("3000000.00"),
                "revenue_prev": Decimal("2800000.00"),
                "total_assets": Decimal("2000000.00"),
            },
            counter={"graduates_hired": 0},
        ),
        P(
            "chuangxinxing-zhongxiao",
            "创新型中小企业培育奖励",
            f"{c}优质中小企业梯度培育实施方案",
            f"{a}工信发〔2025〕28号",
            mi,
            ["中小企业", "科技创新"],
            "instant",
            "reward",
            "新评价入库的创新型中小企业",
            [qual("innovative_sme"), SME],
            "50000.00",
            "10000000.00",
            lic + ["创新型中小企业评价结果"],
            example={"qualifications": frozenset({"innovative_sme"})},
            counter={"qualifications": frozenset()},
        ),
        P(
            "kejixing-zhongxiao-pingjia",
            "科技型中小企业研发奖补",
            f"{c}科技型中小企业评价入库奖补办法",
            f"{a}科规〔2025〕5号",
            sci,
            ["科技创新", "中小企业"],
            "instant",
            "subsidy",
            "评价入库且有研发投入的科技型中小企业",
            [qual("tech_sme"), ge("rd_expense", "200000")],
            {"*": [V("rd_expense"), "0.05"]},
            "25000000.00",
            [],
            cap="200000.00",
            example={"qualifications": frozenset({"tech_sme"})},
            counter={"rd_expense": Decimal("100000.00")},
        ),
        P(
            "nashui-gongxian-jiangli",
            "纳税贡献奖励",
            f"{c}促进总部经济和实体经济发展若干政策",
            f"{a}政规〔2025〕11号",
            f"{c}财政局",
            ["税收", "总部经济"],
            "review",
            "reward",
            "上年度纳税额较大且增长的企业",
            [ge("tax_paid", "10000000"), gt("revenue_growth", "0")],
            {"*": [V("tax_paid"), "0.02"]},
            "50000000.00",
            lic + ["完税证明"],
            cap="2000000.00",
            days=15,
            example={"tax_paid": Decimal("15000000.00")},
            counter={"tax_paid": Decimal("1000000.00")},
        ),
        P(
            "waimao-tuozhan",
            "外贸企业开拓市场补助",
            f"{c}稳外贸稳外资若干措施",
            f"{a}商规〔2025〕3号",
            com,
            ["外贸", "开拓市场"],
            "instant",
            "subsidy",
            "参加境外展会的外贸企业",
            [{"or": [industry("F51"), industry("C")]}, ge("revenue", "2000000")],
            {"*": [V("revenue"), "0.002"]},
            "50000000.00",
            lic + ["参展合同", "费用凭证"],
            cap="150000.00",
            counter={"industry": "H6210"},
        ),
        P(
            "dianshang-zhibo",
            "电子商务企业发展奖励",
            f"{c}促进电子商务高质量发展若干措施",
            f"{a}商发〔2025〕14号",
            com,
            ["电子商务", "数字经济", "消费"],
            "instant",
            "reward",
            "年网络零售额达到规定规模的电商企业",
            [industry("F5292"), ge("revenue", "10000000")],
            {"*": [V("revenue"), "0.003"]},
            "10000000.00",
            lic + ["平台销售数据"],
            cap="300000.00",
            example={"industry": "F5292", "employees": 60, "revenue": Decimal("30000000.00")},
            counter={"revenue": Decimal("5000000.00")},
        ),
        P(
            "canyin-xiaofei-jiangli",
            "餐饮住宿企业促消费奖励",
            f"{c}提振消费若干措施",
            f"{a}商发〔2026〕3号",
            com,
            ["消费", "餐饮住宿"],
            "instant",
            "reward",
            "营业收入增长的餐饮、住宿企业",
            [{"or": [industry("H61"), industry("H62")]}, ge("revenue", "2000000"), gt("revenue_growth", "5")],
            "50000.00",
            "8000000.00",
            [],
            example={
                "industry": "H6210",
                "employees": 40,
                "revenue": Decimal("6000000.00"),
                "revenue_prev": Decimal("5000000.00"),
            },
            counter={"revenue_prev": Decimal("6000000.00")},
        ),
        P(
            "pifa-lingshou-zengzhang",
            "批发零售业增长奖励",
            f"{c}提振消费若干措施",
            f"{a}商发〔2026〕3号",
            com,
            ["消费", "商贸流通"],
            "instant",
            "reward",
            "限额以上批发零售企业销售额增长",
            [{"or": [industry("F51"), industry("F52")]}, ge("revenue", "20000000"), gt("revenue_growth", "10")],
            {"if": [ge("revenue", "500000000"), "300000", {"if": [ge("revenue", "100000000"), "150000", "50000"]}]},
            "12000000.00",
            [],
            example={
                "industry": "F5161",
                "employees": 25,
                "revenue": Decimal("60000000.00"),
                "revenue_prev": Decimal("50000000.00"),
            },
            counter={"industry": "C3911"},
        ),
        P(
            "jianzhu-ye-fuchi",
            "建筑业企业资质升级奖励",
            f"{c}促进建筑业高质量发展若干措施",
            f"{c[:-1]}建规〔2025〕9号",
            f"{c}城乡建设委员会",
            ["建筑业", "资质"],
            "review",
            "reward",
            "资质升级的建筑业企业",
            [industry("E"), ge("revenue", "30000000")],
            "200000.00",
            "6000000.00",
            lic + ["资质证书"],
            period="once",
            days=10,
            example={"industry": "E4811", "revenue": Decimal("80000000.00"), "total_assets": Decimal("90000000.00")},
            counter={"revenue": Decimal("10000000.00")},
        ),
        P(
            "ruanjian-qiye-jiangli",
            "软件和信息服务企业成长奖励",
            f"{c}软件和信息服务业高质量发展若干政策",
            f"{a}工信规〔2025〕9号",
            mi,
            ["软件", "数字经济", "信息技术"],
            "instant",
            "reward",
            "营业收入首次突破规定规模的软件企业",
            [industry("I65"), ge("revenue", "10000000"), gt("revenue_growth", "15")],
            {"if": [ge("revenue", "100000000"), "1000000", {"if": [ge("revenue", "50000000"), "500000", "200000"]}]},
            "30000000.00",
            lic + ["审计报告"],
            example={"industry": "I6513", "revenue": Decimal("60000000.00"), "revenue_prev": Decimal("45000000.00")},
            counter={"industry": "C3911"},
        ),
        P(
            "rengong-zhineng-suanli",
            "人工智能企业算力券",
            f"{c}人工智能产业发展行动计划",
            f"{a}工信发〔2026〕8号",
            mi,
            ["人工智能", "数字经济", "算力"],
            "review",
            "subsidy",
            "租用算力开展模型研发的人工智能企业",
            [{"or": [industry("I65"), industry("M73")]}, ge("rd_expense", "1000000")],
            {"*": [V("rd_expense"), "0.2"]},
            "40000000.00",
            lic + ["算力租赁合同", "发票"],
            cap="2000000.00",
            days=10,
            example={"industry": "I6513"},
            counter={"industry": "F5211"},
        ),
        P(
            "zhuanli-zhiya-tiexi",
            "知识产权质押融资贴息",
            f"{c}知识产权质押融资风险补偿和贴息办法",
            f"{a}知规〔2025〕4号",
            f"{c}市场监督管理局（知识产权局）",
            ["知识产权", "金融", "贷款贴息"],
            "instant",
            "interest_subsidy",
            "以专利权质押取得贷款的企业",
            [ge("invention_patents", 1), gt("loan_interest_paid", "0")],
            {"*": [V("loan_interest_paid"), "0.4"]},
            "15000000.00",
            lic + ["质押登记通知书", "借款合同", "付息凭证"],
            cap="300000.00",
            counter={"invention_patents": 0},
            declarable=["loan_interest_paid"],
        ),
        P(
            "xinchuang-qiye-kaiban",
            "初创企业开办补贴",
            f"{c}支持大众创业万众创新若干措施",
            f"{a}人社发〔2026〕9号",
            hr,
            ["创业", "小微企业"],
            "instant",
            "subsidy",
            "成立不满 3 年并带动就业的初创小微企业",
            [lt("age_years", 3), SMALL, ge("insured_employees", 1)],
            "10000.00",
            "30000000.00",
            lic + ["社保缴费证明"],
            period="once",
            example={
                "established_on": dt.date(2024, 9, 1),
                "employees": 6,
                "insured_employees": 5,
                "revenue": Decimal("800000.00"),
                "revenue_prev": Decimal("300000.00"),
                "total_assets": Decimal("500000.00"),
            },
            counter={"established_on": dt.date(2010, 1, 1)},
        ),
        P(
            "chuangye-danbao-tiexi",
            "创业担保贷款贴息",
            f"{c}创业担保贷款实施办法",
            f"{a}人社规〔2025〕10号",
            hr,
            ["创业", "金融", "贷款贴息"],
            "instant",
            "interest_subsidy",
            "取得创业担保贷款的小微企业",
            [SMALL, lt("age_years", 5), gt("loan_interest_paid", "0")],
            {"*": [V("loan_interest_paid"), "0.5"]},
            "12000000.00",
            lic + ["借款合同", "付息凭证"],
            cap="60000.00",
            example={
                "established_on": dt.date(2023, 5, 1),
                "employees": 10,
                "insured_employees": 9,
                "revenue": Decimal("2000000.00"),
                "revenue_prev": Decimal("1200000.00"),
                "total_assets": Decimal("1500000.00"),
                "loan_interest_paid": Decimal("40000.00"),
            },
            counter={"established_on": dt.date(2012, 1, 1)},
            declarable=["loan_interest_paid"],
        ),
        P(
            "jiuye-jianxi",
            "企业吸纳就业见习补贴",
            f"{c}高校毕业生就业见习管理办法",
            f"{a}人社规〔2024〕12号",
            hr,
            ["就业", "高校毕业生", "见习"],
            "instant",
            "subsidy",
            "组织高校毕业生见习的企业",
            [ge("graduates_hired", 2), ge("insured_employees", 10)],
            {"*": [V("graduates_hired"), "2280"]},
            "10000000.00",
            lic + ["见习协议", "见习人员名册"],
            cap="114000.00",
            counter={"insured_employees": 5},
            declarable=["graduates_hired"],
        ),
        P(
            "zhiliang-pinpai-jiangli",
            "质量品牌建设奖励",
            f"{c}质量强市建设若干措施",
            f"{a}市监规〔2025〕2号",
            f"{c}市场监督管理局",
            ["质量", "品牌"],
            "review",
            "reward",
            "获得政府质量奖或提名奖的企业",
            [ge("age_years", 5), ge("revenue", "100000000")],
            "300000.00",
            "5000000.00",
            lic + ["获奖证书"],
            period="once",
            days=15,
            example={"revenue": Decimal("150000000.00"), "revenue_prev": Decimal("120000000.00")},
            counter={"revenue": Decimal("20000000.00")},
        ),
        P(
            "lvse-zhizao",
            "绿色工厂认定奖励",
            f"{c}工业绿色低碳发展若干措施",
            f"{a}工信发〔2025〕35号",
            mi,
            ["绿色制造", "节能降碳"],
            "instant",
            "reward",
            "获评省级以上绿色工厂的制造业企业",
            [industry("C"), ge("revenue", "20000000"), ge("employees", 50)],
            "200000.00",
            "10000000.00",
            lic + ["绿色工厂认定文件"],
            period="once",
            counter={"employees": 20},
        ),
        P(
            "zhineng-gongchang",
            "智能工厂建设补助",
            f"{c}“人工智能+”先进制造业行动计划",
            f"{a}工信规〔2026〕2号",
            mi,
            ["智能制造", "人工智能", "数字化转型"],
            "review",
            "subsidy",
            "建设智能工厂的规模以上制造业企业",
            [industry("C"), ge("revenue", "20000000"), ge("rd_ratio", "2")],
            {"*": [V("revenue"), "0.01"]},
            "60000000.00",
            lic + ["项目投资明细", "验收报告"],
            cap="5000000.00",
            floor="500000.00",
            days=20,
            counter={"rd_expense": Decimal("100000.00")},
        ),
        P(
            "shuzi-jingji-hexin",
            "数字经济核心产业企业成长奖励",
            f"{c}数字经济高质量发展资金支持措施",
            f"{a}发改规〔2025〕5号",
            f"{c}发展和改革委员会",
            ["数字经济", "软件", "电子信息"],
            "instant",
            "reward",
            "营业收入增长较快的数字经济核心产业企业",
            [
                {"or": [industry("C39"), industry("I63"), industry("I64"), industry("I65")]},
                ge("revenue", "20000000"),
                ge("revenue_growth", "20"),
            ],
            {"*": [{"-": [V("revenue"), V("revenue_prev")]}, "0.02"]},
            "40000000.00",
            lic + ["审计报告"],
            cap="1000000.00",
            example={"revenue_prev": Decimal("40000000.00")},
            counter={"revenue_prev": Decimal("48000000.00")},
        ),
        P(
            "qu-gaoqi-peiyu",
            f"{d1.name}高新技术企业培育奖励",
            f"{d1.name}科技创新若干政策",
            f"{d1.name[:2]}政规〔2025〕4号",
            f"{d1.name}科学技术局",
            ["科技创新", "高新技术企业"],
            "automatic",
            "reward",
            f"注册在{d1.name}的高新技术企业",
            [qual("high_tech")],
            "100000.00",
            "8000000.00",
            [],
            region=d1,
            counter={"qualifications": frozenset()},
        ),
        P(
            "qu-xiaowei-wengang",
            f"{d2.name}小微企业稳岗补贴",
            f"{d2.name}援企稳岗若干措施",
            f"{d2.name[:2]}人社发〔2026〕3号",
            f"{d2.name}人力资源和社会保障局",
            ["就业", "稳岗", "小微企业"],
            "instant",
            "subsidy",
            f"注册在{d2.name}且参保职工稳定的小微企业",
            [SMALL, ge("insured_employees", 5)],
            {"*": [V("insured_employees"), "500"]},
            "5000000.00",
            lic + ["参保证明"],
            cap="25000.00",
            region=d2,
            example={
                "employees": 20,
                "insured_employees": 18,
                "revenue": Decimal("2500000.00"),
                "revenue_prev": Decimal("2300000.00"),
                "total_assets": Decimal("1800000.00"),
            },
            counter={"insured_employees": 3},
        ),
        P(
            "qu-rencai-anju",
            f"{d3.name}人才安居补贴",
            f"{d3.name}人才安居实施办法",
            f"{d3.name[:2]}人才办〔2025〕2号",
            f"{d3.name}人才工作领导小组办公室",
            ["人才", "住房"],
            "review",
            "subsidy",
            f"注册在{d3.name}并引进高校毕业生的企业",
            [ge("graduates_hired", 3), ge("insured_employees", 10)],
            {"*": [V("graduates_hired"), "10000"]},
            "10000000.00",
            lic + ["人才引进名单", "劳动合同"],
            cap="500000.00",
            region=d3,
            days=10,
            counter={"graduates_hired": 1},
            declarable=["graduates_hired"],
        ),
        P(
            "zhineng-zhizao-chengshudu",
            "智能制造能力成熟度评估奖励",
            f"{c}推进制造业智能化改造和数字化转型若干措施",
            f"{a}工信规〔2025〕11号",
            mi,
            ["智能制造", "数字化转型"],
            "instant",
            "reward",
            "通过智能制造能力成熟度（GB/T 39116）二级及以上评估的制造业企业",
            [industry("C"), ge("smart_manufacturing_level", 2)],
            {
                "if": [
                    ge("smart_manufacturing_level", 4),
                    "500000",
                    {"if": [ge("smart_manufacturing_level", 3), "300000", "100000"]},
                ]
            },
            "20000000.00",
            lic + ["成熟度评估报告"],
            period="once",
            example={"smart_manufacturing_level": 3},
            counter={"smart_manufacturing_level": 1},
        ),
        P(
            "shuzihua-zhenduan-butie",
            "中小企业数字化转型诊断服务补贴",
            f"{c}中小企业数字化转型专项行动方案",
            f"{a}工信规〔2026〕1号",
            mi,
            ["数字化转型", "中小企业", "智能制造"],
            "instant",
            "subsidy",
            "购买备案服务商数字化转型诊断服务的中小制造业企业（按实际费用的 50% 补贴）",
            [industry("C"), SME, gt("digital_diagnosis_fee", "0")],
            {"*": [V("digital_diagnosis_fee"), "0.5"]},
            "8000000.00",
            lic + ["诊断服务合同", "发票", "诊断报告"],
            cap="100000.00",
            example={"digital_diagnosis_fee": Decimal("86500.00")},
            counter={"industry": "I6513"},
            declarable=["digital_diagnosis_fee"],
        ),
    ]
    return out


def _facts_for(spec: dict, facts: dict) -> dict:
    """The facts a test case needs: the fields the rules read, derived ones by their inputs."""
    from matcher.rulecheck import fields_used

    used = fields_used(spec["conditions"]) | fields_used(spec["amount"]["formula"])
    needed = set()
    for name in used:
        needed.update(DERIVED_INPUTS.get(name, (name,)))
    return {k: facts[k] for k in sorted(needed) if k in facts}


def host_districts(city_name: str) -> dict:
    """The district that leans most towards each kind of firm (hosts that kind's district measure)."""
    from service.synth.enterprises import city_districts

    _, districts, _, affinity = city_districts(city_name)
    return {g: districts[int(np.argmax(a))] for g, a in affinity.items()}


def _say(facts: dict, names) -> str:
    """'上年度研发费用为300万元、企业资质为高新技术企业' for the named facts."""
    return "、".join(f"{catalog.FIELDS[k].label}为{catalog.label_value(k, facts[k])}" for k in names if k in facts)


def _basis(spec: dict, facts: dict) -> list[str]:
    """The facts an amount rests on: the formula's inputs, else the conditions' (no region/credit)."""
    from matcher.rulecheck import fields_used

    def inputs(rule):
        out = []
        for name in sorted(fields_used(rule)):
            out += [n for n in DERIVED_INPUTS.get(name, (name,)) if n not in out]
        return [n for n in out if n not in ("region", "on_dishonesty_list", "in_abnormal_operation")]

    formula = spec["amount"]["formula"]
    names = inputs(formula) if isinstance(formula, dict) else []
    return (names or inputs(spec["conditions"]))[:2]


def build(city_name: str, as_of: dt.date) -> list[dict]:
    """Specs (dicts ready for YAML) with test cases computed by the exact evaluator.

    Each spec gets an eligible case with its amount (from an example firm), a
    not-eligible case (the example with one fact changed) and, where one
    missing fact makes the decision undetermined, a case naming what to declare.
    """
    tree = regions()
    city = tree.city(city_name) if not city_name.isdigit() else tree.get(city_name)
    city_name = city.name
    districts = host_districts(city_name)
    specs = []
    for raw in catalogue(city_name, city.code, districts):
        example, counter = raw.pop("_example"), raw.pop("_counter")
        facts = _facts_for(raw, {**BASE, **example})
        decision, amount, _ = decide(raw, facts, as_of)
        if decision != "eligible":
            raise AssertionError(f"{raw['id']}: example enterprise is {decision}")
        cases = [
            {
                "name": f"{_say(facts, _basis(raw, facts))}的企业符合条件，金额 {amount:.2f} 元",
                "as_of": as_of,
                "facts": facts,
                "expect": {"decision": "eligible", "amount": f"{amount:.2f}"},
            }
        ]
        if counter:
            bad = _facts_for(raw, {**BASE, **example, **counter})
            bad_decision, _, _ = decide(raw, bad, as_of)
            if bad_decision != "not_eligible":
                raise AssertionError(f"{raw['id']}: counter-example is {bad_decision}")
            cases.append(
                {
                    "name": f"{_say(bad, list(counter))}时不符合条件",
                    "as_of": as_of,
                    "facts": bad,
                    "expect": {"decision": "not_eligible"},
                }
            )
        credit = ("on_dishonesty_list", "in_abnormal_operation")
        order = sorted(
            facts,
            key=lambda k: (
                OFTEN_MISSING.index(k) if k in OFTEN_MISSING else len(OFTEN_MISSING),
                catalog.FIELDS[k].required,
                k in credit,
                k,
            ),
        )
        for drop in order:
            if drop == "region":
                continue
            partial = {k: v for k, v in facts.items() if k != drop}
            d, _, missing = decide(raw, partial, as_of)
            if d == "undetermined":
                need = "、".join(catalog.FIELDS[m].label for m in missing)
                cases.append(
                    {
                        "name": f"缺少{catalog.FIELDS[drop].label}时结果待定，需补充申报{need}",
                        "as_of": as_of,
                        "facts": partial,
                        "expect": {"decision": "undetermined", "missing": missing},
                    }
                )
                break
        if len(cases) < 2:
            raise AssertionError(f"{raw['id']}: fewer than two test cases")
        raw["tests"] = cases
        specs.append(raw)
    return specs


def to_yaml_data(spec: dict) -> dict:
    """Plain YAML-friendly data: dates as YAML dates, money and typed facts as catalog text."""
    out = {k: v for k, v in spec.items() if v is not None and k != "tests"}
    out["tests"] = []
    for case in spec["tests"]:
        facts = {}
        for k, v in case["facts"].items():
            f = catalog.FIELDS[k]
            if f.type == "set":
                facts[k] = sorted(v)
            elif f.type in ("count", "bool", "date"):
                facts[k] = v
            else:
                facts[k] = catalog.format_value(k, v)
        out["tests"].append({"name": case["name"], "as_of": case["as_of"], "facts": facts, "expect": case["expect"]})
    return out
