"""The real Shenzhen measures shipped in matcher/policies pass their cases."""

import datetime as dt

from click.testing import CliRunner

from matcher.policytest import run_cases
from matcher.spec import load_specs
from service.cli import main
from service.cli.policy import shipped_policies


def test_at_least_five_real_measures_each_quoting_its_clause():
    specs, errors = load_specs(shipped_policies())
    assert errors == [] and len(specs) >= 5
    for spec in specs:
        assert spec.source_text and len(spec.tests) >= 4


def test_every_case_passes():
    specs, _ = load_specs(shipped_policies())
    failed = [r for s in specs for r in run_cases(s, dt.date.today()) if not r.passed]
    assert failed == []


def test_policy_test_defaults_to_the_shipped_policies():
    result = CliRunner().invoke(main, ["policy", "test"])
    assert result.exit_code == 0 and " 0 failed" in result.stdout
