"""The official JsonLogic test suite, every case (../shared/conformance/jsonlogic/tests.json).

The suite ships beside the checkout; a copy is kept in tests/data so the tests
also run from a bare checkout.
"""

import json
import math
from pathlib import Path

import pytest

from matcher.jsonlogic import evaluate

HERE = Path(__file__).resolve().parent
SUITE = HERE / "data" / "jsonlogic_tests.json"
SKIPPED: dict[int, str] = {}  # index -> reason; none are skipped


def _cases():
    out, section = [], ""
    for i, entry in enumerate(json.loads(SUITE.read_text(encoding="utf-8"))):
        if isinstance(entry, str):
            section = entry
            continue
        rule, data, expected = entry
        marks = [pytest.mark.skip(reason=SKIPPED[i])] if i in SKIPPED else []
        out.append(pytest.param(rule, data, expected, id=f"{i}-{section[:30]}", marks=marks))
    return out


def same(a, b) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    return a == b


def test_suite_copy_matches_the_shared_one():
    shared = HERE.parent.parent / "shared" / "conformance" / "jsonlogic" / "tests.json"
    if not shared.exists():
        pytest.skip("../shared not beside this checkout")
    assert json.loads(shared.read_text(encoding="utf-8")) == json.loads(SUITE.read_text(encoding="utf-8"))


def test_the_suite_is_complete():
    assert len(_cases()) >= 250 and not SKIPPED


@pytest.mark.parametrize("rule, data, expected", _cases())
def test_official_case(rule, data, expected):
    assert same(evaluate(rule, data), expected)
