"""GB/T 4754-2017 industries and administrative divisions, as shipped."""

import pytest

from graph import UnknownCode, industries, regions


def test_industry_counts_match_the_standard():
    tree = industries()
    assert [len(tree.at_level(level)) for level in range(4)] == [20, 97, 473, 1381]


def test_region_counts_match_the_2023_codes():
    levels = [0, 0, 0]
    for r in regions():
        levels[r.level] += 1
    # 342 cities; 东莞, 中山 and 儋州 have no districts and are listed again as their
    # own county-level unit, so 2,978 area rows hold 2,975 districts and counties.
    assert levels == [31, 342, 2975]


def test_cities_without_districts_are_registration_regions():
    tree = regions()
    assert tree.get("441900").name == "东莞市" and tree.get("441900").level == 1
    assert tree.is_registration_level("441900") and not tree.is_registration_level("320100")
    assert [r.code for r in tree.ancestors("441900")] == ["441900", "440000"]


@pytest.mark.parametrize(
    "raw, canonical", [("3911", "C3911"), ("c3911", "C3911"), ("C39", "C39"), ("65", "I65"), ("I", "I")]
)
def test_industry_codes_are_canonicalised(raw, canonical):
    assert industries().canonical(raw) == canonical


def test_industry_hierarchy():
    tree = industries()
    assert [i.code for i in tree.ancestors("C3911")] == ["C3911", "C391", "C39", "C"]
    assert tree.is_within("C3911", "C39") and tree.is_within("C3911", "C")
    assert not tree.is_within("C3911", "I65")
    assert {c.code for c in tree.children("C391")} >= {"C3911", "C3912"}


def test_industry_lookup_by_name():
    assert [i.code for i in industries().by_name("软件开发")] == ["I651"]


def test_transcription_error_0711_is_corrected_to_0712():
    assert industries().get("0711").name == "陆地石油开采"
    assert industries().get("0712").name == "海洋石油开采"


@pytest.mark.parametrize("raw, canonical", [("32", "320000"), ("3201", "320100"), ("320102", "320102")])
def test_region_codes_are_canonicalised(raw, canonical):
    assert regions().canonical(raw) == canonical


def test_region_hierarchy_and_names():
    tree = regions()
    assert tree.is_within("320102", "320100") and tree.is_within("320102", "320000")
    assert not tree.is_within("320102", "310000")
    assert tree.full_name("320102") == "江苏省南京市玄武区"
    assert tree.city("南京市").code == "320100"
    assert {r.code for r in tree.by_name("鼓楼区")} >= {"320106", "350102"}


def test_abolished_district_is_refused_with_its_history():
    with pytest.raises(UnknownCode) as err:
        regions().canonical("330104")
    assert "江干区" in str(err.value) and "2021" in str(err.value)


@pytest.mark.parametrize("code", ["999999", "32010", "abc", ""])
def test_unknown_region_codes_are_refused(code):
    with pytest.raises(UnknownCode):
        regions().canonical(code)


@pytest.mark.parametrize("code", ["Z99", "9999", "C9999"])
def test_unknown_industry_codes_are_refused(code):
    with pytest.raises(UnknownCode):
        industries().canonical(code)
