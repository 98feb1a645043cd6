"""Policy search: the query understood, BM25 ranking, the rule engine's filter on a firm described in part,
bad input refused."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from matcher.catalog import tag_taxonomy
from matcher.partial import Partial, decide_partial
from matcher.spec import parse_spec
from models.policy_search import (
    FIRM_WEIGHT,
    PolicyDoc,
    SearchIndex,
    policy_document,
    policy_topics,
    query_terms,
    rank,
    tokens,
)
from models.query_understanding import chinese_number, understand
from service.errors import BadRequest
from service.search import check_query, partial_of, search_policies

DAY = dt.date(2026, 6, 30)
NANJING = ("320100", "320104", "320114", "320116")


def read(q: str, home=NANJING):
    return understand(q, DAY, tag_taxonomy(), home)


def found(u, kind):
    return [(f.value, f.words) for f in u.of(kind)]


# -- understanding ---------------------------------------------------------------------------------------


def test_the_example_query_is_understood_with_the_words_it_came_from():
    u = read("我是一家成立两年的小型软件企业，有什么研发补贴")
    assert found(u, "industry") == [(("I65",), ["软件"])]
    assert found(u, "scale") == [(("small",), ["小型"])]
    assert found(u, "topic") == [("rd_innovation", ["研发"])]
    # two whole years old on the day: registered after 2023-06-30 and on or before 2024-06-30
    assert u.established == (dt.date(2023, 7, 1), dt.date(2024, 6, 30))
    assert found(u, "age")[0][1] == ["成立两年"]
    assert not u.regions and not u.held
    summary = u.summary()
    assert "软件和信息技术服务业（“软件”）" in summary and "研发创新（“研发”）" in summary
    terms = {t.word: t.weight for t in query_terms(u)[0]}
    assert terms == {"研发": 1.0, "软件": FIRM_WEIGHT, "小型": FIRM_WEIGHT}  # 我是, 一家, 的, 有, 什么, 补贴: left out


@pytest.mark.parametrize(
    "query, low, high",
    [
        ("成立不到一年的公司", 0, 0),
        ("公司成立了三年多", 3, 3),
        ("成立3年以上", 3, None),
        ("我们成立十多年了", 10, 19),
        ("刚成立的小公司", 0, 0),
        ("初创团队", 0, 2),
        ("成立8个月", 0, 0),
        ("成立五年左右", 4, 6),
    ],
)
def test_ages_become_ranges_of_registration_dates(query, low, high):
    from models.query_understanding import established_range

    assert read(query).established == established_range(DAY, low, high)


def test_a_year_of_registration_is_that_year():
    assert read("2022年成立的中小企业").established == (dt.date(2022, 1, 1), dt.date(2022, 12, 31))
    assert read("去年注册的公司").established == (dt.date(2025, 1, 1), dt.date(2025, 12, 31))


@pytest.mark.parametrize("query", ["餐饮企业 2030年成立", "成立了9999年", "成立 3000 年的老字号"])
def test_a_year_still_to_come_or_an_impossible_age_is_no_age(query):
    """Found by the OpenAPI tests: "2030年成立" read as an age of 2030 years crashed the search (500)."""
    assert read(query).established is None


def test_scales_as_firms_say_them():
    assert read("小微企业贷款").scales == ("small", "micro")
    assert read("中小企业数字化").scales == ("medium", "small", "micro")
    assert read("大型企业稳岗返还").scales == ("large",)
    u = read("小微企业贷款")
    assert [t.value for t in u.of("topic")] == ["financing"]  # 小微企业 is who asks, not the topic


def test_regions_resolve_by_the_other_places_named_and_the_home_city():
    u = read("南京江宁区的企业")
    assert u.regions == ("320115",) and u.of("region")[0].words == ["南京", "江宁区"]
    assert read("秦淮的饭店").regions == ("320104",)  # a home district by its short name
    assert read("鼓楼区的企业").regions == ("320106",)  # 鼓楼区 of 南京, not of 福州 or 徐州
    assert read("鼓楼区的企业", home=()).regions == ()  # no home: too ambiguous to guess
    assert read("深圳南山区的软件公司").regions == ("440305",)


def test_a_qualification_held_is_a_fact_and_one_wished_for_is_a_topic():
    held = read("我们是高新技术企业，有什么奖励")
    assert held.held == frozenset({"high_tech"}) and not held.of("wish")
    wish = read("想申请专精特新，成立十多年的汽车零部件工厂")
    assert not wish.held and [f.value for f in wish.of("wish")] == ["srdi_sme"]
    assert "srdi" in wish.topics and wish.industries == ("C367",)  # 工厂 (C) is subsumed by 汽车零部件


def test_head_count_and_revenue():
    u = read("三十人的小公司，营收三百多万")
    assert u.range_of("employees") == (30, 30)
    assert u.range_of("revenue") == (Decimal("3000000.00"), Decimal("3999999.99"))
    assert read("员工120人").range_of("employees") == (120, 120)
    assert read("员工二十多人").range_of("employees") == (20, 29)


@pytest.mark.parametrize("text, value", [("两", 2), ("十二", 12), ("二十五", 25), ("三千五", 3500), ("一百零五", 105)])
def test_chinese_numbers(text, value):
    assert chinese_number(text) == value


# -- ranking ---------------------------------------------------------------------------------------------


def _docs():
    def doc(slug, name, target, topics):
        text = policy_document(name, target, topics)
        return PolicyDoc(slug, text, policy_topics(text))

    return [
        doc("rent", "小微企业房租减免", "承租国有房屋的小微企业", ["房租"]),
        doc("rd", "企业研发费用后补助", "研发费用达到规定额度的企业", ["科技创新", "研发投入"]),
        doc("jobs", "一次性吸纳就业补贴", "吸纳高校毕业生的企业", ["就业"]),
        doc("loan", "小微企业首贷贴息", "首次取得贷款的小微企业", ["金融", "贷款贴息"]),
    ]


def test_bm25_puts_the_rd_policy_first_for_an_rd_subsidy_query():
    index = SearchIndex(_docs())
    u = read("我是一家成立两年的小型软件企业，有什么研发补贴")
    terms, _ = query_terms(u)
    hits = sorted(rank(index, u, terms, tag_taxonomy()), key=lambda h: -h.score)
    assert hits[0].id == "rd" and "研发" in hits[0].words
    assert [h.id for h in hits if h.matched] == ["rd"]


def test_a_word_in_most_policies_matches_nothing():
    index = SearchIndex(_docs())
    assert "企业" not in tokens("企业研发费用")  # a stopword
    assert index.informative("研发") and not index.informative("小微企业")  # in 2 of 4: idf 0
    u = read("小微企业有什么政策")
    terms, _ = query_terms(u)
    scores = index.text_scores(terms)[0]
    assert not scores.any()  # 小微企业 is in half the policies: BM25's idf is not positive there


def test_topics_find_what_the_words_miss():
    index = SearchIndex(_docs())
    u = read("公司想招人，有什么补贴")  # 招人 is in no policy text; its topic 稳岗就业 is
    terms, _ = query_terms(u)
    best = max(rank(index, u, terms, tag_taxonomy()), key=lambda h: h.score)
    assert best.id == "jobs" and best.topics == ["employment"] and best.text == 0


# -- the filter: a firm described in part, decided by the rule engine -------------------------------------


def _spec(conditions, **extra):
    return parse_spec(
        {
            "id": "test-policy",
            "name": "测试政策",
            "document": "测试文件",
            "document_number": "测〔2026〕1号",
            "department": "测试局",
            "region": "320100",
            "valid_from": "2025-01-01",
            "valid_to": "2027-12-31",
            "target": "测试",
            "topics": ["测试"],
            "mode": "instant",
            "time_limit_days": 1,
            "benefit_type": "subsidy",
            "period": "once",
            "conditions": {"and": [{"in_region": [{"var": "region"}, "320100"]}, *conditions]},
            "amount": {"formula": "10000.00"},
            "budget": "1000000.00",
            "materials": [],
            "tests": [{"name": "未知", "facts": {}, "expect": {"decision": "undetermined"}}],
            **extra,
        }
    )


SOFTWARE_TWO_YEARS = "我是一家成立两年的小型软件企业，有什么研发补贴"


@pytest.mark.parametrize(
    "conditions, outcome",
    [
        ([{"in_industry": [{"var": "industry"}, "C"]}], "not_eligible"),  # 制造业 only
        ([{">=": [{"var": "age_years"}, 3]}], "not_eligible"),  # three years or more
        ([{"<": [{"var": "age_years"}, 3]}], "undetermined"),  # met; the region is not said
        ([{"in": [{"var": "scale"}, ["small", "micro"]]}], "undetermined"),
        ([{"==": [{"var": "scale"}, "large"]}], "not_eligible"),
        ([{"in_industry": [{"var": "industry"}, "I6513"]}], "undetermined"),  # 软件 may or may not be 应用软件开发
        ([{">=": [{"var": "rd_expense"}, "1000000"]}], "undetermined"),  # not said: unknown
    ],
)
def test_a_policy_is_left_out_only_when_no_described_firm_can_meet_it(conditions, outcome):
    partial = partial_of(read(SOFTWARE_TWO_YEARS))
    assert decide_partial(_spec(conditions), partial, DAY).outcome == outcome


def test_the_reason_names_the_firm_as_described():
    d = decide_partial(_spec([{"in_industry": [{"var": "industry"}, "C"]}]), partial_of(read(SOFTWARE_TWO_YEARS)), DAY)
    assert [leaf.sentence for leaf in d.trace if leaf.outcome is False] == ["所属行业软件和信息技术服务业不属于制造业"]


def test_eligible_when_every_described_firm_is():
    partial = Partial(within={"region": ("320115",), "industry": ("I65",)}, choices={"scale": ("small", "micro")})
    spec = _spec([{"in": [{"var": "scale"}, ["small", "micro"]]}, {"in_industry": [{"var": "industry"}, "I"]}])
    d = decide_partial(spec, partial, DAY)
    assert d.outcome == "eligible" and d.worlds == 2
    d = decide_partial(_spec([{"==": [{"var": "scale"}, "small"]}]), partial, DAY)
    assert d.outcome == "undetermined" and d.split == ("scale",)  # small: yes; micro: no


def test_a_range_is_decided_at_the_policys_own_thresholds():
    spec = _spec([{">=": [{"var": "employees"}, 50]}])
    region = {"region": ("320115",)}
    assert decide_partial(spec, Partial(within=region, ranges={"employees": (20, 29)}), DAY).outcome == "not_eligible"
    assert decide_partial(spec, Partial(within=region, ranges={"employees": (40, 59)}), DAY).outcome == "undetermined"
    assert decide_partial(spec, Partial(within=region, ranges={"employees": (50, None)}), DAY).outcome == "eligible"


def test_an_age_is_decided_at_the_policys_date_too():
    spec = _spec([{"after": [{"var": "established_on"}, "2024-01-01"]}])
    region = {"region": ("320115",)}
    two_years = Partial(within=region, ranges={"established_on": (dt.date(2023, 7, 1), dt.date(2024, 6, 30))})
    assert decide_partial(spec, two_years, DAY).outcome == "undetermined"  # before or after New Year 2024
    older = Partial(within=region, ranges={"established_on": (None, dt.date(2023, 6, 30))})
    assert decide_partial(spec, older, DAY).outcome == "not_eligible"


def test_qualifications_held_and_the_others_unknown():
    region = {"region": ("320115",)}
    held = Partial(within=region, held=frozenset({"high_tech"}))
    has = lambda q: {"has_qualification": [{"var": "qualifications"}, q]}  # noqa: E731
    assert decide_partial(_spec([has("high_tech")]), held, DAY).outcome == "eligible"
    assert decide_partial(_spec([has("srdi_sme")]), held, DAY).outcome == "undetermined"
    assert decide_partial(_spec([{"!": has("high_tech")}]), held, DAY).outcome == "not_eligible"


def test_a_city_named_is_every_district_of_it():
    spec = _spec([{"in_region": [{"var": "region"}, "320114"]}])
    assert decide_partial(spec, Partial(within={"region": ("320100",)}), DAY).outcome == "undetermined"
    assert decide_partial(spec, Partial(within={"region": ("320115",)}), DAY).outcome == "not_eligible"
    assert decide_partial(spec, Partial(within={"region": ("440305",)}), DAY).outcome == "not_eligible"


# -- the whole search over a stored city ----------------------------------------------------------------


def test_search_over_the_city_ranks_filters_and_explains(city):
    result = search_policies(city, SOFTWARE_TWO_YEARS, DAY, limit=5)
    body = result.to_json()
    json.dumps(body, ensure_ascii=False)  # JSON-ready as it is
    first = body["results"][0]
    assert first["policy_id"] in ("yanfa-feiyong-buzhu", "yanfa-zengliang-jiangli")
    assert "研发" in first["matched"]["words"]
    assert first["decision"]["outcome"] == "undetermined" and "上年度研发费用" in first["decision"]["missing_labels"]
    assert len(body["results"]) == 5
    gone = {p["policy_id"]: p for p in body["left_out"]["policies"]}
    assert "shuzihua-zhuanxing" in gone  # 中小制造企业 only: a software firm cannot meet it
    assert "软件和信息技术服务业不属于制造业" in gone["shuzihua-zhuanxing"]["explanation"]
    assert body["left_out"]["count"] == len(gone) and body["left_out"]["by_reason"][0]["reason"] == "not_eligible"
    assert "软件和信息技术服务业（“软件”）" in body["understanding"]["summary"]
    kept = {r["policy_id"] for r in body["results"]}
    assert not kept & set(gone)


def test_search_leaves_out_policies_not_in_force(city):
    body = search_policies(city, "大型企业稳岗返还", dt.date(2025, 6, 30)).to_json()
    gone = {p["policy_id"]: p for p in body["left_out"]["policies"]}
    assert gone["wengang-fanhuan-daqiye"]["reason"] == "not_in_force"  # in force from 2026-01-01
    assert "2026-01-01 起施行" in gone["wengang-fanhuan-daqiye"]["explanation"]
    body = search_policies(city, "大型企业稳岗返还", DAY).to_json()
    assert body["results"][0]["policy_id"] == "wengang-fanhuan-daqiye"
    assert body["left_out"]["by_reason"] == [{"reason": "not_eligible", "label": "所述企业不符合条件", "count": 4}]


def test_a_query_that_only_describes_the_firm_lists_what_it_may_meet(city):
    body = search_policies(city, "我们是雨花台区的高企，今年有啥", DAY, limit=50).to_json()
    assert body["browse"] and body["results"][0]["policy_id"] == "qu-gaoqi-peiyu"  # its district's, for 高企
    shown = {r["policy_id"] for r in body["results"]}
    assert "qu-xiaowei-wengang" not in shown  # 秦淮区's measure
    assert len(shown) + body["left_out"]["count"] == body["found"] == body["considered"]
    assert search_policies(city, "软件企业想了解航天", DAY).to_json()["notes"] == ["没有政策提到：航天"]


# -- bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "q, detail",
    [
        ("", "请输入要搜索的内容"),
        ("   \n", "请输入要搜索的内容"),
        ("研发" * 101, "查询过长：202 个字符，最多 200 个"),
        ("研发\x00补贴", "空字符"),
        ("研发\ud800补贴", "代理项"),
        ("研发\x07补贴", "控制字符 U+0007"),
        (None, "查询应为文本"),
    ],
)
def test_bad_queries_are_refused_in_chinese(q, detail):
    with pytest.raises(BadRequest) as e:
        check_query(q)
    assert detail in str(e.value) and e.value.status == 400 and e.value.extra == {"field": "q"}


def test_bad_limit_and_day(tmp_path):
    from service.store import make_engine, upgrade

    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    with pytest.raises(BadRequest, match="limit"):
        search_policies(engine, "研发补贴", DAY, limit=0)
    with pytest.raises(TypeError):
        search_policies(engine, "研发补贴", dt.datetime(2026, 6, 30))
    body = search_policies(engine, "研发补贴", DAY).to_json()  # no policies at all: an empty answer
    assert body["results"] == [] and body["considered"] == 0
