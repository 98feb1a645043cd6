"""The policy tagger: one normal form for every source, jieba words, the dictionary of explicit mentions on
real sentences, and a model that tags held-out real texts sensibly with per-topic calibrated thresholds,
deterministically."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from matcher.catalog import tag_taxonomy
from models import policy_data, policy_tagger
from models.policy_dictionary import keyword_counts, matcher
from models.policy_text import fold, normalize, tokenizer, words

HELD_OUT_ISSUER = "北京市发展和改革委员会"  # as the held_out_tagger fixture (conftest.py) leaves out


def tags_of(text: str, kind: str | None = None) -> set[str]:
    found = {m["tag"] for m in matcher(tag_taxonomy()).find(text)}
    return {t for t in found if kind is None or t.startswith(kind + ":")}


# -- text -----------------------------------------------------------------------------------------------------------


def test_one_normal_form_for_pdf_spaces_and_full_width_forms():
    # as the Shenzhen PDFs come out: spaces inside words, full-width digits and brackets
    assert normalize("第六条 【支持开展数字化普及应用】 数 字经济 企业（２０２３年）") == (
        "第六条【支持开展数字化普及应用】数字经济企业(2023年)"
    )
    assert normalize("AI  Agent 与  5G 应用") == "ai agent与5g应用"
    assert fold(normalize("对“专精特新”企业给予300万元")) == "对专精特新企业给予000万元"


def test_jieba_keeps_policy_words_whole():
    toks = words(fold(normalize("对国家级专精特新“小巨人”企业给予贷款贴息，支持企业上云用数赋智")))
    for word in ("专精特新", "小巨人", "贷款贴息", "上云用数赋智"):
        assert word in toks
    assert "，" not in toks


def test_jieba_is_quiet_and_set_up_once():
    assert tokenizer() is tokenizer()
    run = subprocess.run(
        [sys.executable, "-c", "from models.policy_text import words; words('测试一下'); words('再来一次')"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stderr == ""  # no "Building prefix dict" chatter


# -- dictionary ---------------------------------------------------------------------------------------------------


def test_qualifications_and_scales_named_in_a_real_card():
    # 中关村 cards' 服务对象 (pol0064_bj066)
    sentence = "注册在中关村示范区范围内的国家高新技术企业、中关村高新技术企业或评价入库的科技型中小企业"
    assert tags_of(sentence, "qualification") == {"qualification:high_tech", "qualification:tech_sme"}
    assert tags_of(sentence, "scale") == {"scale:medium", "scale:small", "scale:micro"}
    found = matcher(tag_taxonomy()).find(sentence)
    high_tech = next(m for m in found if m["tag"] == "qualification:high_tech")
    assert high_tech["count"] == 2 and "国家高新技术企业" in high_tech["found"] and "中关村" in high_tech["context"]


def test_little_giant_is_not_also_a_plain_srdi_mention():
    assert tags_of("对迁入本市的国家级专精特新“小巨人”企业给予一次性奖励", "qualification") == {
        "qualification:little_giant"
    }
    assert tags_of("国家和市级“专精特新”中小企业及“小巨人”企业", "qualification") == {
        "qualification:srdi_sme",
        "qualification:little_giant",
    }


def test_regions_with_care_for_short_and_shared_names():
    # 坪山 数字经济措施 (sz03) and 研发投入补助 (sz08)
    assert tags_of("深圳市坪山区数字经济高质量发展资金支持措施", "region") == {"region:440300", "region:440310"}
    assert "region:994401" in tags_of("在本市（含深汕特别合作区）实际从事经营活动", "region")
    # 朝阳 here is 北京's 朝阳区 named without 区, not 辽宁 朝阳市 (pol0040_bj041)
    assert tags_of("允许朝阳、海淀、丰台、石景山等区落地先进制造业企业总部", "region") == set()
    # 朝阳区 is in 北京 and in 长春: resolved by the city the text names, else left out
    assert tags_of("长春市朝阳区", "region") == {"region:220100", "region:220104"}
    assert tags_of("北京市朝阳区", "region") == {"region:110000", "region:110105"}
    assert tags_of("朝阳区的企业", "region") == set()
    assert tags_of("北京", "region") == {"region:110000"}
    assert tags_of("市区和县城的商户", "region") == set()  # no 和县 (安徽) in running text


def test_industries_named_literally_and_not_inside_other_words():
    assert tags_of("支持软件和信息技术服务业企业和制造业企业", "industry") == {"industry:I65", "industry:C"}
    assert tags_of("租赁业和商务服务业", "industry") == {"industry:L71", "industry:L72"}
    assert tags_of("经营融资租赁业务三年以上", "industry") == set()  # 业务 is no 租赁业
    assert tags_of("人力资源社会保障局", "industry") == set()
    assert tags_of("在全国中小企业股份转让系统挂牌", "scale") == set()  # 新三板's name, not a scale


def test_keyword_lexicon_counts_topic_words():
    counts = keyword_counts("对小微企业贷款给予贴息，对获得融资担保的给予风险补偿")
    assert counts["financing"] >= 4 and counts["small_micro"] == 1 and counts["culture_tourism"] == 0


# -- data -----------------------------------------------------------------------------------------------------------


def test_corrections_are_applied_and_each_has_a_reason():
    corrections = policy_data.corrections()
    assert len(corrections) >= 40 and all(c["reason"].strip() for c in corrections)
    silver = {e.id: e for e in policy_data.corpus(corrected=False)}
    fixed = {e.id: e for e in policy_data.corpus()}
    for c in corrections:
        assert silver[c["id"]].labels[c["topic"]] != c["present"]  # each one changes a label
        assert fixed[c["id"]].labels[c["topic"]] == c["present"]
    # the 融资租赁公司 market-access rules are no financing support for enterprises
    assert fixed["pol0041_bj042"].topics == ["other"]


def test_issuer_groups_keep_one_department_on_one_side():
    groups = {e.id: e.group for e in policy_data.corpus()}
    # 市科委 alone and with 中关村管委会; 商务委员会 and 商务局; the 电影专资办 with the 电影局 (宣传部)
    assert groups["pol0054_bj056"] == groups["pol0064_bj066"]
    assert groups["pol0117_bj121"] == groups["pol0102_bj106"] == groups["pol0122_bj126"]
    assert groups["pol0099_bj102"] == groups["pol0098_bj101"] == groups["pol0090_bj093"]
    assert len(set(groups.values())) >= 12


def test_gold_labels_for_every_shenzhen_document():
    docs = policy_data.shenzhen()
    assert len(docs) == 9 and all(e.topics for e in docs)
    assert next(e for e in docs if e.id == "sz08").topics == ["rd_innovation"]


# -- the model ------------------------------------------------------------------------------------------------------


def _topics(tagger, title, text):
    return tagger.tag([(title, text)])[0]["topics"]


def test_held_out_real_texts_get_sensible_topics(held_out_tagger):
    # a 发改委 card (its issuer not trained on): 设备购置与更新改造贷款贴息
    card = next(e for e in policy_data.corpus() if e.id == "pol0020_bj021")
    assert card.group == HELD_OUT_ISSUER
    assert "topic:financing" in _topics(held_out_tagger, card.title, card.text)
    # Shenzhen, never trained on: 研发投入补助 and 坪山 数字经济措施
    sz = {e.id: e for e in policy_data.shenzhen()}
    assert "topic:rd_innovation" in _topics(held_out_tagger, sz["sz08"].title, sz["sz08"].text)
    assert "topic:digital" in _topics(held_out_tagger, sz["sz03"].title, sz["sz03"].text)
    # a short text of its own
    text = "对获得国家级专精特新“小巨人”认定的中小企业给予一次性奖励100万元"
    assert "topic:srdi" in _topics(held_out_tagger, "专精特新“小巨人”企业奖励", text)


def test_output_has_every_topic_scored_and_targets_with_the_taxonomy(held_out_tagger):
    [out] = held_out_tagger.tag([("深圳市坪山区数字化转型诊断服务资助", "对坪山区工业企业给予资助")], tag_taxonomy())
    assert set(out["scores"]) == {f"topic:{t}" for t in policy_data.TOPIC_CODES}
    assert all(0.0 <= s <= 1.0 for s in out["scores"].values())
    assert all(out["scores"][t] >= held_out_tagger.topics[t[6:]].threshold for t in out["topics"] if t != "topic:other")
    assert {"region:440300", "region:440310"} <= {m["tag"] for m in out["targets"]}


def test_nothing_confident_falls_back_to_other(held_out_tagger):
    assert _topics(held_out_tagger, "会议通知", "兹定于下周召开工作会议，请各单位准时参加。") == ["topic:other"]


def test_thresholds_are_calibrated_per_topic_on_out_of_fold_scores(held_out_tagger):
    thresholds = held_out_tagger.thresholds()
    learnt = {t: v for t, v in thresholds.items() if v is not None}
    assert len(learnt) >= 15
    assert all(0.0 < v < 1.0 for v in learnt.values())
    assert len({round(v, 3) for v in learnt.values()}) >= 10  # one per topic, not one for all
    assert all(held_out_tagger.topics[t].oof_f1 is not None for t in learnt)
    # 稳岗就业 has one example in the cards: too few to calibrate anything, never assigned
    assert thresholds["employment"] is None and held_out_tagger.topics["employment"].positives <= 1


def test_best_threshold_cuts_in_the_widest_gap():
    thr, f1 = policy_tagger.best_threshold(np.array([0.1, 0.2, 0.6, 0.9]), np.array([0, 0, 1, 1]))
    assert f1 == 1.0 and 0.2 < thr <= 0.6 and thr == pytest.approx(0.4)


def test_same_data_and_seed_give_the_same_model_and_scores():
    sample = policy_data.corpus()[::3]
    a, b = policy_tagger.fit(sample), policy_tagger.fit(sample)
    assert a.version == b.version and a.version.startswith("pt-")
    docs = [(e.title, e.text) for e in policy_data.shenzhen()[:3]]
    assert np.array_equal(a.scores(docs), b.scores(docs))
    assert policy_tagger.version_of(sample, {**policy_tagger.PARAMS, "seed": 1}) != a.version
    relabelled = [policy_data.Example(**{**vars(e), "labels": dict(e.labels)}) for e in sample]
    relabelled[0].labels["green"] = not relabelled[0].labels["green"]
    assert policy_tagger.version_of(relabelled, policy_tagger.PARAMS) != a.version


def test_saved_and_loaded_tagger_scores_the_same(held_out_tagger, tmp_path):
    path = policy_tagger.save(held_out_tagger, tmp_path)
    assert path.name == f"policy-tagger-{held_out_tagger.version}.joblib"
    assert policy_tagger.current_version(tmp_path) == held_out_tagger.version
    again = policy_tagger.load(tmp_path)
    docs = [(e.title, e.text) for e in policy_data.shenzhen()[:2]]
    assert np.array_equal(again.scores(docs), held_out_tagger.scores(docs))
    with pytest.raises(FileNotFoundError):
        policy_tagger.load(tmp_path / "empty")
