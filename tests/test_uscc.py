"""统一社会信用代码 per GB 32100-2015."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matcher import uscc
from matcher.errors import InvalidUSCC

# Well-formed codes; the first is the example widely cited with GB 32100-2015.
REAL = ["91350100M000100Y43", "91110000802100433B", "91440300708461136T"]


@pytest.mark.parametrize("code", REAL)
def test_real_codes_are_valid(code):
    assert uscc.validate(code) == code


def test_lower_case_and_spaces_are_normalised():
    assert uscc.validate(" 91350100m000100y43 ") == "91350100M000100Y43"


@pytest.mark.parametrize(
    "code, reason",
    [
        ("91350100M000100Y44", "校验位"),
        ("91350100M000100Y4", "18 位"),
        ("91350100M000100YI3", "不允许的字符"),
        ("91350100M000100YO3", "不允许的字符"),
        ("Z1350100M000100Y43", "不允许的字符"),
        ("B1350100M000100Y43", "登记管理部门"),
        ("95350100M000100Y43", "机构类别"),
        ("913A0100M000100Y43", "行政区划"),
    ],
)
def test_invalid_codes_say_why(code, reason):
    with pytest.raises(InvalidUSCC) as err:
        uscc.validate(code)
    assert reason in str(err.value)


def test_non_string_is_refused():
    with pytest.raises(InvalidUSCC):
        uscc.validate(913501)


@given(st.integers(min_value=0, max_value=31**8 - 1), st.sampled_from(["320102", "110105", "440305"]))
def test_made_codes_validate_and_carry_the_region(serial, region):
    code = uscc.make(region, serial)
    assert uscc.validate(code) == code and code[2:8] == region


def test_every_single_character_change_is_detected():
    code = REAL[0]
    for i in range(18):
        for c in uscc.CHARSET:
            if c != code[i]:
                assert not uscc.is_valid(code[:i] + c + code[i + 1 :]) or i in (0, 1)
