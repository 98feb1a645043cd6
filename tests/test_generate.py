"""The synthetic city: valid, reproducible, and shaped like the real thing."""

import csv
import datetime as dt
import hashlib
import json
from collections import Counter
from decimal import Decimal

import numpy as np
import pytest
from click.testing import CliRunner

from graph import industries, regions
from matcher import catalog, uscc
from matcher.scale import classify
from matcher.spec import load_specs
from service.cli import main
from service.synth import events as synth_events
from service.synth.evaluate import decide
from service.synth.world import generate_world

N = 3000


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("city")
    summary = generate_world(N, 5, "南京市", out)
    rows = list(csv.DictReader(open(out / "enterprises.csv", encoding="utf-8")))
    evs = [json.loads(line) for line in open(out / "events.jsonl", encoding="utf-8")]
    return out, summary, rows, evs


def _digest(folder):
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    for name, seed in (("a", 9), ("b", 9), ("c", 10)):
        generate_world(300, seed, "南京市", tmp_path / name)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")


def test_every_cell_parses_with_the_catalog(world):
    _, _, rows, _ = world
    for row in rows[:2000]:
        for f in catalog.FACT_FIELDS:
            catalog.parse_value(f.name, row[f.name], today=dt.date.fromisoformat(row["as_of"]))


def test_codes_are_real_valid_and_unique(world):
    _, _, rows, _ = world
    nanjing = regions().city("南京市").code
    assert len({r["uscc"] for r in rows}) == len(rows) == N
    assert len({r["name"] for r in rows}) == N
    for r in rows:
        assert uscc.is_valid(r["uscc"]) and r["uscc"][2:8] == r["region"]
        assert regions().is_within(r["region"], nanjing) and regions().get(r["region"]).level == 2
        assert industries().get(r["industry"]).level == 3


def test_scale_mix_matches_the_census(world):
    _, _, rows, _ = world
    scales = Counter(
        classify(r["industry"], int(r["employees"]), Decimal(r["revenue"]), Decimal(r["total_assets"])) for r in rows
    )
    share = {k: v / N for k, v in scales.items()}
    assert share["micro"] >= 0.75 and 0.09 <= share["small"] <= 0.20
    assert 0.005 <= share.get("medium", 0) <= 0.03 and share.get("large", 0) <= 0.01


def test_sizes_are_heavy_tailed_and_correlated(world):
    _, _, rows, _ = world
    revenue = np.array([float(r["revenue"]) for r in rows])
    staff = np.array([float(r["employees"]) for r in rows])
    top = np.sort(revenue)[::-1][: N // 100].sum() / revenue.sum()
    assert top > 0.30
    assert np.corrcoef(np.log(revenue), np.log(staff))[0, 1] > 0.5
    assert all(int(r["insured_employees"]) <= int(r["employees"]) for r in rows)


def test_rd_intensity_depends_on_industry(world):
    _, _, rows, _ = world

    def mean_ratio(prefixes):
        picked = [r for r in rows if r["industry"].startswith(prefixes)]
        return np.mean([float(r["rd_expense"] or 0) / float(r["revenue"]) for r in picked])

    assert mean_ratio(("C39", "I65")) > 5 * mean_ratio(("F52", "H62"))


def test_qualifications_are_rare_and_nested(world):
    _, _, rows, _ = world
    quals = [set(r["qualifications"].split(";")) - {""} for r in rows]
    high_tech = sum("high_tech" in q for q in quals) / N
    assert 0.005 <= high_tech <= 0.03
    assert all("srdi_sme" in q for q in quals if "little_giant" in q)


def test_policies_cover_the_programmes_and_modes(world):
    out, summary, _, _ = world
    specs, errors = load_specs(out / "policies")
    assert errors == [] and len(specs) == summary["policies"] >= 40
    modes = Counter(s.mode for s in specs)
    assert 0.15 <= modes["automatic"] / len(specs) <= 0.35 and modes["review"] >= 3
    names = " ".join(s.name for s in specs)
    for programme in (
        "稳岗返还",
        "高新技术企业",
        "研发费用",
        "专精特新",
        "贴息",
        "吸纳就业",
        "租房",
        "上市",
        "技能提升",
    ):
        assert programme in names
    assert all(len(s.tests) >= 2 for s in specs)


def test_spec_cases_agree_with_the_evaluator(world):
    out, _, _, _ = world
    specs, _ = load_specs(out / "policies")
    for spec in specs:
        data = spec.to_json()
        for case in spec.tests:
            decision, amount, missing = decide(data, case.facts, case.as_of)
            assert decision == case.decision, (spec.id, case.name)
            if case.amount is not None:
                assert amount == case.amount
            if case.missing is not None:
                assert tuple(missing) == case.missing


def test_events_are_causal_and_time_ordered(world):
    _, _, _, evs = world
    assert len(evs) / N > 3
    times = [e["occurred_at"] for e in evs]
    assert times == sorted(times)
    assert len({e["event_id"] for e in evs}) == len(evs)
    seen = {}
    for e in evs:
        key = (e["uscc"], e["policy_id"])
        kinds = seen.setdefault(key, [])
        need = {"view": "push", "apply": "view", "approved": "apply", "rejected": "apply"}.get(e["kind"])
        if need:
            assert need in kinds, (key, e["kind"], kinds)
        kinds.append(e["kind"])


def test_take_up_follows_eligibility_and_relevance(world):
    out, _, rows, evs = world
    from service.synth import policies

    specs = {s["id"]: s for s in policies.build("南京市", dt.date(2026, 6, 30))}
    facts = {f["uscc"]: f for f in synth_events.typed_facts(__import__("pandas").DataFrame(rows))}
    applied = {(e["uscc"], e["policy_id"]) for e in evs if e["kind"] == "apply"}
    viewed = [e for e in evs if e["kind"] == "view"]
    by_elig = {True: [], False: []}
    for e in viewed:
        spec = specs[e["policy_id"]]
        ok = decide(spec, facts[e["uscc"]], dt.date(2026, 6, 30))[0] == "eligible"
        by_elig[ok].append((e["uscc"], e["policy_id"]) in applied)
    assert np.mean(by_elig[True]) > np.mean(by_elig[False]) + 0.2
    pushes = [e for e in evs if e["kind"] == "push" and specs[e["policy_id"]]["mode"] != "automatic"]
    views = {(e["uscc"], e["policy_id"]) for e in viewed}
    high = [(e["uscc"], e["policy_id"]) in views for e in pushes if e["payload"]["relevance"] >= 0.6]
    low = [(e["uscc"], e["policy_id"]) in views for e in pushes if e["payload"]["relevance"] < 0.3]
    assert np.mean(high) > np.mean(low)


def test_cli_generates_and_summarises(tmp_path):
    result = CliRunner().invoke(main, ["generate", "--enterprises", "50", "--seed", "2", "--out", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    assert "企业 50 家" in result.stdout and (tmp_path / "w" / "events.jsonl").exists()


def test_cli_refuses_an_unknown_city(tmp_path):
    result = CliRunner().invoke(main, ["generate", "--city", "火星市", "--out", str(tmp_path / "w")])
    assert result.exit_code != 0 and "火星市" in result.output
