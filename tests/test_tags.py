"""The tag taxonomy (issue 12, point 1): ids, Chinese labels and parents, one vocabulary for taggers and the graph."""

import pytest

from graph import industries, regions
from graph.tags import BENEFIT_LABELS, KINDS, TOPICS, age_band, tag_id
from graph.tags import ancestors as ancestors_in
from matcher import catalog
from matcher.spec import BENEFIT_TYPES


def taxonomy():
    return catalog.tag_taxonomy()


def ancestors(tag):
    return ancestors_in(taxonomy(), tag)


ISSUE_TOPICS = (
    "研发创新 高新技术 专精特新 稳岗就业 人才 融资贴息 上市 数字化转型 智能制造 绿色低碳 "
    "外贸外资 消费商贸 文化旅游 农业 小微企业 创业孵化 知识产权 房租减免 税费减免 其他"
).split()


def test_the_twenty_topics_of_the_issue():
    assert list(TOPICS.values()) == ISSUE_TOPICS
    topics = [t for t in taxonomy().values() if t.kind == "topic"]
    assert [t.label for t in topics] == ISSUE_TOPICS and all(t.parent is None for t in topics)


def test_every_kind_is_there_and_every_parent_is_a_tag_of_the_same_kind():
    tags = taxonomy()
    assert {t.kind for t in tags.values()} == set(KINDS)
    assert tuple(BENEFIT_LABELS) == BENEFIT_TYPES  # the spec's benefit types, each labelled
    for t in tags.values():
        assert t.id == f"{t.kind}:{t.code}" and t.label.strip()
        if t.parent is not None:
            assert tags[t.parent].kind == t.kind, t
        assert len(ancestors(t.id)) <= 4  # the deepest tree (industries) has four levels: no cycles


def test_the_official_trees_are_whole():
    tags = taxonomy()
    assert sum(t.kind == "industry" for t in tags.values()) == len(industries())
    official = {r.code for r in regions() if r.code != "000000"}
    zones = {z.code for z in regions().zones()}
    assert {t.code for t in tags.values() if t.kind == "region"} == official | zones
    assert [a.id for a in ancestors("industry:C3911")] == ["industry:C391", "industry:C39", "industry:C"]
    assert [a.label for a in ancestors("region:320114")] == ["南京市", "江苏省"]
    assert [a.label for a in ancestors("region:994401")] == ["深圳市", "广东省"]  # 深汕 under the city that runs it


def test_age_bands_split_at_whole_years():
    assert [age_band(y) for y in (0, 1, 2, 3, 5, 9, 10, 40)] == [
        "0-1",
        "1-3",
        "1-3",
        "3-5",
        "5-10",
        "5-10",
        "10+",
        "10+",
    ]
    with pytest.raises(ValueError, match="非负整数"):
        age_band(-1)
    with pytest.raises(ValueError, match="标签类别"):
        tag_id("colour", "red")


def test_a_deployments_catalog_extends_the_qualifications(tmp_path):
    choices = {**catalog.QUALIFICATIONS, "green_factory": "绿色工厂"}
    listed = ", ".join(f"{k}: {v}" for k, v in choices.items())
    path = tmp_path / "city.yaml"
    path.write_text(
        f"fields:\n  - name: qualifications\n    choices: {{{listed}}}\n"
        "rosters:\n  - {id: green_factory, label: 绿色工厂, field: qualifications, member: green_factory}\n",
        encoding="utf-8",
    )
    try:
        catalog.use([str(path)])
        assert taxonomy()["qualification:green_factory"].label == "绿色工厂"
    finally:
        catalog.use()
    assert "qualification:green_factory" not in taxonomy() and "qualification:unicorn" in taxonomy()
