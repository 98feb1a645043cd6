"""The synthetic city: valid, reproducible, and shaped like the real thing."""

import csv
import datetime as dt
import hashlib
import json
from collections import Counter, defaultdict
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from graph import industries, regions
from matcher import catalog, uscc
from matcher.decision import decide
from matcher.policytest import run_cases
from matcher.rulecheck import fields_used
from matcher.scale import classify
from matcher.spec import load_specs
from service.cli import main
from service.synth import assessment as synth_assessment
from service.synth import enterprises as synth_enterprises
from service.synth import events as synth_events
from service.synth import params, policies
from service.synth import rosters as synth_rosters
from service.synth.world import generate_world

N = 2000
AS_OF = params.REFERENCE_DATE
REQUIRED = (
    "id name document document_number department region valid_from valid_to target topics mode "
    "time_limit_days benefit_type period conditions amount budget materials tests"
).split()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("city")
    summary = generate_world(N, 5, "南京市", out)
    frame = synth_rosters.read(out)  # enterprises.csv with the rosters imported as of the reference date
    with open(out / "events.jsonl", encoding="utf-8") as fh:
        evs = [json.loads(line) for line in fh]
    specs = {s["id"]: policies.to_spec(s) for s in policies.build("南京市", AS_OF)}
    return out, summary, frame, evs, specs


@pytest.fixture(scope="module")
def decisions(world):
    """Every firm against every policy as the events saw it, and the typed facts of each firm."""
    _, _, frame, _, specs = world
    assessment = synth_assessment.assess(frame, list(specs.values()), AS_OF)
    return synth_assessment.table(frame, AS_OF), assessment


def _elig(assessment, specs) -> dict:
    """Per policy id: 1 / 0 / -1 for every firm."""
    return {pid: assessment.elig[:, j] for j, pid in enumerate(specs)}


def _digest(folder):
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    for name, seed in (("a", 9), ("b", 9), ("c", 10)):
        generate_world(400, seed, "南京市", tmp_path / name)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")
    generate_world(400, 9, "南京市", tmp_path / "a")  # a rerun into the same folder changes nothing
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_columns_are_the_catalog_facts_and_every_cell_parses(world):
    out, _, frame, _, _ = world
    with open(out / "enterprises.csv", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header == [f.name for f in catalog.FACT_FIELDS if f.type != "records"] + ["as_of"]
    for row in frame.to_dict("records"):
        as_of = dt.date.fromisoformat(row["as_of"])
        # on record from the history's start, or from registration: the firm's state over its history
        start = AS_OF - dt.timedelta(days=params.EVENT_DAYS)
        assert as_of == max(start, dt.date.fromisoformat(row["established_on"])) and as_of <= AS_OF
        typed = {}
        for f in catalog.FACT_FIELDS:
            if f.type == "records":
                continue
            value = catalog.parse_value(f.name, row[f.name], today=as_of)
            assert (value is None) == (row[f.name] == ""), f.name
            if f.required:
                assert value is not None, f.name
            typed[f.name] = value
        assert catalog.inconsistencies(typed, as_of) == [], row["uscc"]  # the catalog's rules across fields
    # realistic gaps that later make decisions undetermined
    for name in ("rd_expense", "skill_certificates", "loan_interest_paid", "revenue_prev"):
        assert 0.05 < (frame[name] == "").mean() < 0.99, name


def test_rosters_say_who_is_on_them_and_the_register_leaves_it_to_them(world, tmp_path):
    out, summary, frame, _, _ = world
    raw = pd.read_csv(out / "enterprises.csv", dtype=str, keep_default_na=False)
    for name in synth_rosters.roster_fields():
        assert (raw[name] == "").all(), name  # enterprises.csv leaves every roster field to the rosters
    published = sorted(p.stem for p in (out / "rosters").glob("*.csv"))
    modelled = {"qualifications", "on_dishonesty_list", "on_serious_dishonesty_list", "in_abnormal_operation"}
    modelled.add("research_integrity_restricted")
    assert published == sorted(r.id for r in catalog.ROSTERS.values() if r.field in modelled)
    assert summary["rosters"]["high_tech"] == sum("high_tech" in q.split(";") for q in frame["qualifications"]) > 0
    for r in (catalog.ROSTERS[rid] for rid in published):
        text = (out / "rosters" / f"{r.id}.csv").read_text(encoding="utf-8")
        listed = pd.read_csv(out / "rosters" / f"{r.id}.csv", dtype=str, keep_default_na=False)
        assert text.startswith("uscc,name\n") and listed["uscc"].is_unique and set(listed["uscc"]) <= set(raw["uscc"])
        assert len(listed) == summary["rosters"][r.id]
    # read back (rosters imported), the city is the generator's own, every roster field known
    truth = synth_enterprises.generate(N, np.random.default_rng(5), "南京市", AS_OF)
    pd.testing.assert_frame_equal(frame, truth)
    for name in synth_rosters.roster_fields():  # a field it models is known for every firm, the others for none
        assert (frame[name] != "").all() if name in modelled else (frame[name] == "").all(), name
    assert 0.003 <= (frame["on_dishonesty_list"] == "true").mean() <= 0.01
    assert 0.01 <= (frame["in_abnormal_operation"] == "true").mean() <= 0.03


def test_codes_are_real_valid_and_unique(world):
    _, _, frame, _, _ = world
    tree = regions()
    nanjing = tree.city("南京市").code
    assert frame["uscc"].is_unique and frame["name"].is_unique and len(frame) == N
    for code, region, industry, name, est in frame[["uscc", "region", "industry", "name", "established_on"]].values:
        assert uscc.is_valid(code) and code[2:8] == region
        assert code[8:10] == "MA" or est < "2015-10-01"
        assert tree.is_within(region, nanjing) and tree.is_registration_level(region)
        assert tree.get(region).name != "市辖区"
        assert industries().get(industry).level == 3
        assert name.startswith("南京") and name.endswith("公司")
        assert "1990-01-01" <= est < AS_OF.isoformat()
    assert frame["region"].nunique() == len(regions().children(nanjing))
    # core and high-tech districts register more firms than the rural ones
    share = frame["region"].value_counts(normalize=True)
    assert share["320115"] > 2 * share["320118"]  # 江宁 vs 高淳


def test_vectorised_codes_equal_the_reference_builder():
    region = np.array(["320102", "320115", "110105"])
    serial = np.array([0, 123456, 31**6 - 1])
    codes = synth_enterprises.make_usccs(region, serial, np.array([True, False, True]))
    assert all(uscc.is_valid(c) for c in codes) and [c[2:8] for c in codes] == list(region)
    assert codes[0][8:10] == codes[2][8:10] == "MA" and codes[1][8:16].isdigit()
    more = synth_enterprises.make_usccs(np.full(5000, "320102"), np.arange(5000) * 7919, np.arange(5000) % 2 == 0)
    assert len(set(more)) == 5000 and all(uscc.is_valid(c) for c in more[:500])


def test_business_scope_uses_the_industry_vocabulary(world):
    _, _, frame, _, _ = world
    tree = industries()
    for industry, scope in frame[["industry", "business_scope"]].values[:300]:
        own = tree.get(industry).name.replace("其他", "").replace("未列明", "")
        assert own.removesuffix("业") in scope, (industry, scope)
        assert scope.endswith("经营活动）")


def test_scale_mix_matches_the_census(world):
    _, _, frame, _, _ = world
    scales = Counter(
        classify(
            r["industry"],
            int(r["employees"]),
            Decimal(r["revenue"]) if r["revenue"] else None,
            Decimal(r["total_assets"]),
        )
        for r in frame.to_dict("records")
    )
    share = {k: v / N for k, v in scales.items()}
    assert 0.75 <= share["micro"] <= 0.88 and 0.10 <= share["small"] <= 0.19
    assert 0.005 <= share.get("medium", 0) <= 0.03 and share.get("large", 0) <= 0.008


def test_sizes_are_heavy_tailed_and_correlated(world):
    _, _, frame, _, _ = world
    known = frame[frame["revenue"] != ""]
    revenue = known["revenue"].astype(float).to_numpy()
    staff = known["employees"].astype(float).to_numpy()
    assets = known["total_assets"].astype(float).to_numpy()
    tax = known["tax_paid"].astype(float).to_numpy()
    top = np.sort(revenue)[::-1][: len(revenue) // 100].sum() / revenue.sum()
    assert top > 0.30
    assert np.corrcoef(np.log(revenue), np.log(staff))[0, 1] > 0.5
    assert np.corrcoef(np.log(revenue), np.log(assets))[0, 1] > 0.5
    assert np.corrcoef(np.log(revenue), np.log(tax + 1))[0, 1] > 0.8
    age = (pd.Timestamp(AS_OF) - pd.to_datetime(frame["established_on"])).dt.days
    assert np.corrcoef(np.log(frame["employees"].astype(float)), age)[0, 1] > 0.05
    assert (frame["insured_employees"].astype(int) <= frame["employees"].astype(int)).all()


def test_rd_intensity_depends_on_industry(world):
    _, _, frame, _, _ = world
    known = frame[frame["revenue"] != ""]

    def mean_ratio(prefixes):
        picked = known[known["industry"].str.startswith(prefixes)]
        rd = picked["rd_expense"].replace("", "0").astype(float)
        return (rd / picked["revenue"].astype(float)).mean()

    assert mean_ratio(("C39", "I65")) > 20 * mean_ratio(("F52", "H62"))


def test_qualifications_are_rare_nested_and_follow_rd(world):
    _, _, frame, _, _ = world
    quals = [set(q.split(";")) - {"none"} for q in frame["qualifications"]]
    high_tech = np.array(["high_tech" in q for q in quals])
    assert 0.008 <= high_tech.mean() <= 0.025
    assert all("srdi_sme" in q for q in quals if "little_giant" in q)
    assert all("high_tech" in q for q in quals if {"gazelle", "unicorn"} & q)
    assert all(r != "" for r, h in zip(frame["rd_expense"], high_tech) if h)
    patents = frame["invention_patents"].astype(int).to_numpy()
    assert patents[high_tech].mean() > 5 * patents[~high_tech].mean()
    listed = frame["listed_status"].isin(["sse_main", "szse_main", "star", "chinext", "bse", "overseas"])
    for r in frame[listed].to_dict("records"):
        assert (
            classify(r["industry"], int(r["employees"]), Decimal(r["revenue"]), Decimal(r["total_assets"])) == "large"
        )


def test_policies_carry_every_element(world):
    out, summary, _, _, _ = world
    specs, errors = load_specs(out / "policies")
    assert errors == [] and len(specs) == summary["policies"] >= 40
    tree = regions()
    nanjing = tree.city("南京市").code
    for path in sorted((out / "policies").glob("*.yaml")):
        import yaml

        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert [k for k in REQUIRED if k not in data] == [], path.name
        assert path.stem == data["id"] and isinstance(data["valid_from"], dt.date)
        assert data["valid_from"] <= AS_OF <= data["valid_to"]
        assert tree.is_within(data["region"], nanjing)
        for rule in (data["conditions"], data["amount"]["formula"]):
            assert fields_used(rule) <= set(catalog.FIELDS), path.name
        assert {"in_region"} <= _operators(data["conditions"]) <= OPERATORS
        assert _operators(data["amount"]["formula"]) <= OPERATORS
        assert 1_000_000 <= Decimal(data["budget"]) <= 1_000_000_000
        if data["mode"] == "review":
            assert 5 <= data["time_limit_days"] <= 20
        assert (data["time_limit_days"] == 0) == (data["mode"] == "automatic")
        assert data["materials"] or data["mode"] == "automatic"
        kinds = [c["expect"]["decision"] for c in data["tests"]]
        assert kinds[0] == "eligible" and "amount" in data["tests"][0]["expect"]
        assert {"not_eligible", "undetermined"} & set(kinds[1:])
    modes = Counter(s.mode for s in specs)
    assert 0.18 <= modes["automatic"] / len(specs) <= 0.30 and modes["review"] >= 3
    assert len({s.region for s in specs}) >= 3  # city-wide and district measures
    assert len({s.exclusive_group for s in specs if s.exclusive_group}) >= 3
    names = " ".join(s.name for s in specs)
    for programme in (
        "稳岗返还",
        "高新技术企业",
        "研发费用",
        "专精特新",
        "小巨人",
        "贷款贴息",
        "吸纳就业",
        "租房",
        "上市",
    ):
        assert programme in names
    for programme in ("技能提升", "小升规", "数字化转型", "瞪羚", "独角兽", "人才", "专利", "外贸", "首台", "房租"):
        assert programme in names


OPERATORS = {
    "and", "or", "!", "if", "==", "!=", "<", "<=", ">", ">=", "in", "+", "-", "*", "/", "min", "max", "var",
    "in_region", "in_industry", "has_qualification",
}  # fmt: skip


def _operators(rule) -> set:
    if isinstance(rule, dict):
        return set(rule) | set().union(*(_operators(v) for v in rule.values()))
    if isinstance(rule, list):
        return set().union(*(_operators(v) for v in rule)) if rule else set()
    return set()


def test_spec_cases_pass_the_engine(world):
    out, _, _, _, _ = world
    specs, _ = load_specs(out / "policies")
    for spec in specs:
        assert [r.detail for r in run_cases(spec, AS_OF) if not r.passed] == [], spec.id


def test_templates_fill_in_for_any_city():
    from service.synth import catalogue

    ids = [t["id"] for _, t in catalogue.templates()]
    assert len(ids) == len(set(ids)) >= 40
    text = ("name", "document", "document_number", "department", "target")
    for name in ("苏州市", "长春市", "泉州市"):
        city = regions().city(name)
        hosts = {d.code: d.name for d in policies.host_districts(name).values()}
        for spec in policies.build(name, AS_OF):
            words = "".join(spec[k] for k in text)
            assert "{" not in words and "}" not in words, spec["id"]
            assert spec["region"] == city.code or hosts[spec["region"]] in spec["name"]
            assert spec["conditions"]["and"][0] == {"in_region": [{"var": "region"}, spec["region"]]}
    _, gaoqi = catalogue.templates()[0]
    with pytest.raises(catalogue.TemplateError, match="占位符"):
        catalogue.fill({**gaoqi, "name": "{district}奖励"}, "苏州市", "320500", policies.host_districts("苏州市"))


def test_a_broken_template_is_refused_by_name(tmp_path, monkeypatch):
    from service.synth import catalogue

    source = (catalogue.TEMPLATES / "36-chuangye-danbao-tiexi.yaml").read_text(encoding="utf-8")
    monkeypatch.setattr(catalogue, "TEMPLATES", tmp_path)
    catalogue.templates.cache_clear()
    try:
        (tmp_path / "01-chuangye-danbao-tiexi.yaml").write_text(source.replace("2023-05-01", "2015-05-01"), "utf-8")
        with pytest.raises(catalogue.TemplateError, match="chuangye-danbao-tiexi.*示例企业"):
            policies.build("南京市", AS_OF)
        (tmp_path / "01-chuangye-danbao-tiexi.yaml").write_text(source + "cap: 1\n", "utf-8")
        catalogue.templates.cache_clear()
        with pytest.raises(catalogue.TemplateError, match="01-chuangye-danbao-tiexi.yaml.*cap"):
            policies.build("南京市", AS_OF)
    finally:
        monkeypatch.undo()
        catalogue.templates.cache_clear()


def test_the_assessment_is_the_engines_decision(world, decisions):
    _, _, _, _, specs = world
    firms, assessment = decisions
    code = {"eligible": 1, "not_eligible": 0, "undetermined": -1}
    for j, spec in enumerate(specs.values()):
        for i in range(300):
            d = decide(spec, firms.facts(i), AS_OF)
            assert code[d.outcome] == assessment.elig[i, j], (spec.id, i)
            if d.outcome == "eligible":
                assert d.amount * 100 == int(assessment.cents[i, j]) == round(assessment.offer[i, j] * 100)


def test_events_are_causal_and_time_ordered(world):
    _, summary, frame, evs, specs = world
    assert 5 <= len(evs) / N <= 25 and summary["events"] == len(evs)
    assert [e["occurred_at"] for e in evs] == sorted(e["occurred_at"] for e in evs)
    assert len({e["event_id"] for e in evs}) == len(evs)
    known = set(frame["uscc"])
    start = dt.datetime.combine(
        AS_OF - dt.timedelta(days=params.EVENT_DAYS), dt.time(), dt.timezone(dt.timedelta(hours=8))
    )
    end = dt.datetime.combine(AS_OF, dt.time(), dt.timezone(dt.timedelta(hours=8)))
    need = {"view": "push", "apply": "view", "approved": "apply", "rejected": "apply"}
    chains = defaultdict(list)
    for e in evs:
        assert set(e) == {"event_id", "uscc", "policy_id", "kind", "occurred_at", "payload"}
        assert e["uscc"] in known and e["policy_id"] in specs
        at = dt.datetime.fromisoformat(e["occurred_at"])
        spec = specs[e["policy_id"]]
        assert start <= at < end and spec.valid_from <= at.date() <= spec.valid_to
        kinds = chains[(e["uscc"], e["policy_id"], _chain(e))]
        if e["kind"] in need:
            assert need[e["kind"]] in kinds, (e, kinds)
        if e["kind"] == "paid":
            assert kinds[-1] == "approved" if spec.mode != "automatic" else kinds == ["push"]
            assert Decimal(e["payload"]["amount"]) > 0
        if e["kind"] == "rating":
            assert kinds[-1] in ("paid", "rejected") and 1 <= e["payload"]["score"] <= 5
        kinds.append(e["kind"])
    for (_, pid, _), kinds in chains.items():
        if specs[pid].mode == "automatic":
            assert "apply" not in kinds
        assert kinds.count("push") == 1  # one chain per push


def test_payouts_are_exact_and_within_budget(world, decisions):
    _, _, frame, evs, specs = world
    firms, _ = decisions
    index = {u: i for i, u in enumerate(frame["uscc"])}
    paid = defaultdict(Decimal)
    for e in evs:
        if e["kind"] == "paid":
            d = decide(specs[e["policy_id"]], firms.facts(index[e["uscc"]]), AS_OF)
            assert d.outcome == "eligible" and f"{d.amount:.2f}" == e["payload"]["amount"], e
            paid[e["policy_id"]] += d.amount
    assert all(total <= specs[pid].budget for pid, total in paid.items())
    assert {specs[pid].mode for pid in paid} == {"automatic", "instant", "review"}


def _chain(e) -> str:
    """The push round an event follows from (``a`` for a 免申即享 notice): the last part of its id."""
    return e["event_id"].rsplit(":", 1)[1]


def test_take_up_follows_eligibility(world, decisions):
    _, _, frame, evs, specs = world
    elig = _elig(decisions[1], specs)
    index = {u: i for i, u in enumerate(frame["uscc"])}
    applied = {(e["uscc"], e["policy_id"], _chain(e)) for e in evs if e["kind"] == "apply"}
    by_elig = defaultdict(list)
    for e in evs:
        if e["kind"] == "view":
            key = (e["uscc"], e["policy_id"], _chain(e))
            by_elig[int(elig[e["policy_id"]][index[e["uscc"]]])].append(key in applied)
    assert len(by_elig[1]) > 300 and len(by_elig[0]) > 300
    assert np.mean(by_elig[1]) > np.mean(by_elig[0]) + 0.2  # eligible viewers apply far more often
    assert np.mean(by_elig[-1]) > np.mean(by_elig[0])  # undetermined firms sometimes try
    # every eligible firm in scope of an automatic policy was paid (budgets allowing)
    for pid, spec in specs.items():
        if spec.mode == "automatic":
            paid = {e["uscc"] for e in evs if e["kind"] == "paid" and e["policy_id"] == pid}
            assert paid == {u for u, i in index.items() if elig[pid][i] == 1}, pid


def test_events_carry_only_what_a_platform_logs(world):
    """No generator internals (relevance, taste, engagement, probabilities) in any payload."""
    _, _, _, evs, specs = world
    allowed = {
        "push": {"channel", "round", "rank", "deadline", "automatic"},
        "view": {"seconds"},
        "apply": {"commitment"},
        "approved": {"amount"},
        "rejected": {"reason", "missing"},
        "paid": {"amount", "mode"},
        "rating": {"score"},
    }
    for e in evs:
        assert set(e["payload"]) <= allowed[e["kind"]], e
    pushes = [e for e in evs if e["kind"] == "push"]
    for e in pushes:
        if specs[e["policy_id"]].mode == "automatic":
            assert e["payload"]["automatic"] is True and _chain(e) == "a"
        else:
            pl = e["payload"]
            assert _chain(e) == f"r{pl['round']}" and pl["rank"] >= 1
            assert e["occurred_at"][:10] <= pl["deadline"] <= specs[e["policy_id"]].valid_to.isoformat()
    # a round bundles several policies shown in rank order at one moment
    rounds = defaultdict(list)
    for e in pushes:
        if _chain(e) != "a":
            rounds[(e["uscc"], _chain(e))].append((e["occurred_at"], e["payload"]["rank"]))
    assert all(
        len({t for t, _ in r}) == 1 and sorted(k for _, k in r) == list(range(1, len(r) + 1)) for r in rounds.values()
    )
    assert np.mean([len(r) for r in rounds.values()]) > 3


def test_annual_measures_repeat_across_periods(world):
    """A firm applies again for an annual measure in a later period; a once-only measure never twice."""
    _, _, _, evs, specs = world
    applies = defaultdict(list)
    for e in evs:
        if e["kind"] == "apply":
            applies[(e["uscc"], e["policy_id"])].append(e["occurred_at"])
    again = [k for k, v in applies.items() if len(v) > 1]
    assert len(again) >= 5
    assert all(specs[pid].period == "annual" for _, pid in again)


def _push_table(evs):
    """Recommended pushes with what followed: (time, channel, hour, recent pushes, viewed, applied, days left)."""
    done = {(e["uscc"], e["policy_id"], _chain(e), e["kind"]) for e in evs if e["kind"] in ("view", "apply")}
    seen = defaultdict(list)  # firm -> times of earlier recommended pushes
    rows = []
    for e in evs:  # in time order
        if e["kind"] != "push" or _chain(e) == "a":
            continue
        at = dt.datetime.fromisoformat(e["occurred_at"])
        earlier = [t for t in seen[e["uscc"]] if (at - t).days < params.FATIGUE_DAYS and t < at]
        key = (e["uscc"], e["policy_id"], _chain(e))
        left = (dt.date.fromisoformat(e["payload"]["deadline"]) - at.date()).days
        rows.append(
            (e["payload"]["channel"], at.hour, len(earlier), key + ("view",) in done, key + ("apply",) in done, left)
        )
        seen[e["uscc"]].append(at)
    return rows


def test_fatigue_channel_hour_and_deadline_show_in_aggregate(world):
    _, _, _, evs, _ = world
    rows = _push_table(evs)

    def rate(keep, col=3):
        hit = [r[col] for r in rows if keep(r)]
        assert len(hit) > 100
        return np.mean(hit)

    assert rate(lambda r: r[2] == 0) > rate(lambda r: r[2] >= 5) + 0.02  # fatigue
    assert rate(lambda r: r[0] == "wechat") > rate(lambda r: r[0] in ("sms", "email")) + 0.05  # channel
    assert rate(lambda r: 9 <= r[1] <= 11) > rate(lambda r: r[1] >= 18) + 0.05  # time of day
    # applications rise in the last month before the period closes
    assert rate(lambda r: r[3] and r[5] < 30, 4) > rate(lambda r: r[3] and r[5] >= 30, 4) + 0.03


def test_truth_is_written_apart_and_never_imported(world):
    out, summary, frame, _, specs = world
    truth = out / "truth"
    meta = json.loads((truth / "meta.json").read_text(encoding="utf-8"))
    assert meta["policies"] == list(specs) and meta["scored_from"] < AS_OF.isoformat()
    firms = pd.read_csv(truth / "firms.csv", dtype={"uscc": str})
    assert list(firms["uscc"]) == list(frame["uscc"])
    takeup = np.load(truth / "takeup.npy")
    assert takeup.shape == (N, len(specs), 3) and 0 <= takeup.min() and takeup.max() <= 1
    assert np.load(truth / "tastes.npy").shape == (N, len(meta["topics"]) + len(meta["departments"]))
    # the latent communities follow the fields only in part
    shares = pd.crosstab(frame["industry"].str[:1], firms["cluster"], normalize="index").max(axis=1)
    assert 0.2 < shares.median() < 0.9
    # nothing of the platform reads truth/
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "service"
    for path in list((root / "io").glob("*.py")) + list((root / "cli").glob("*.py")):
        assert "truth" not in path.read_text(encoding="utf-8"), path


def test_past_engagement_raises_take_up(world):
    """A viewed policy is applied for more often by firms that applied for something before."""
    _, _, _, evs, _ = world
    applied = {(e["uscc"], e["policy_id"]) for e in evs if e["kind"] == "apply"}
    before = set()  # firms with an earlier application
    outcome = defaultdict(list)
    for e in evs:  # in time order
        if e["kind"] == "view":
            outcome[e["uscc"] in before].append((e["uscc"], e["policy_id"]) in applied)
        elif e["kind"] == "apply":
            before.add(e["uscc"])
    assert len(outcome[True]) > 200 and np.mean(outcome[True]) > np.mean(outcome[False]) + 0.05


def test_cli_generates_and_summarises(tmp_path):
    result = CliRunner().invoke(main, ["generate", "--enterprises", "50", "--seed", "2", "--out", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    assert "企业 50 家" in result.stdout and "政策" in result.stdout
    assert "生成企业" in result.stderr and (tmp_path / "w" / "events.jsonl").exists()


def test_cli_refuses_an_unknown_city(tmp_path):
    result = CliRunner().invoke(main, ["generate", "--city", "火星市", "--out", str(tmp_path / "w")])
    assert result.exit_code != 0 and "火星市" in result.output


def test_other_cities_work(tmp_path):
    summary = generate_world(300, 1, "杭州市", tmp_path)
    frame = pd.read_csv(tmp_path / "enterprises.csv", dtype=str, keep_default_na=False)
    hangzhou = regions().city("杭州市").code
    assert all(regions().is_within(r, hangzhou) for r in frame["region"])
    assert "330104" not in set(frame["region"])  # 江干区 was abolished in 2021
    specs, errors = load_specs(tmp_path / "policies")
    assert errors == [] and len(specs) == summary["policies"]
    assert all(s.document_number.startswith("杭") for s in specs if s.region == hangzhou)


def test_doc_examples_follow_the_formats():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "synthetic-data.md").read_text(encoding="utf-8")
    rows = list(csv.DictReader(re.search(r"```csv\n(.*?)```", text, re.S).group(1).splitlines()))
    assert rows and list(rows[0]) == [f.name for f in catalog.FACT_FIELDS if f.type != "records"] + ["as_of"]
    for row in rows:
        for f in catalog.FACT_FIELDS:
            if f.type == "records":
                continue
            catalog.parse_value(f.name, row[f.name], today=AS_OF)
    lines = re.search(r"```json\n(.*?)```", text, re.S).group(1).splitlines()
    for line in lines:
        event = json.loads(line)
        assert event["event_id"].startswith(f"{event['uscc']}:{event['policy_id']}:{event['kind']}:")
        assert uscc.is_valid(event["uscc"]) and event["kind"] in synth_events.KINDS
    listed = set(re.findall(r"^\| `([a-z]+(?:-[a-z]+)+)` \|", text, re.M))
    assert listed == {s["id"] for s in policies.build("南京市", AS_OF)}


# --------------------------------------------------------------------------- --policies: district versions


def test_the_default_policies_leave_the_city_byte_for_byte(tmp_path):
    """Without --policies, or with the catalogue's own size, the files are the catalogue city's."""
    base, _ = policies.capacity("南京市")
    plain = generate_world(300, 4, "南京市", tmp_path / "plain")
    same = generate_world(300, 4, "南京市", tmp_path / "same", n_policies=base)
    assert plain["policies"] == same["policies"] == base == 46 and plain["district_versions"] == 0
    assert _digest(tmp_path / "plain") == _digest(tmp_path / "same")
    runner = CliRunner()
    for name, extra in (("cli", []), ("cli46", ["--policies", "46"])):
        args = ["generate", "--enterprises", "300", "--seed", "4", "--out", str(tmp_path / name), *extra]
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        assert "区级版本" not in result.stdout
        assert _digest(tmp_path / name) == _digest(tmp_path / "plain")


@pytest.fixture(scope="module")
def world200(tmp_path_factory):
    out = tmp_path_factory.mktemp("city200")
    summary = generate_world(600, 3, "南京市", out, n_policies=200)
    return out, summary


def test_more_policies_are_district_versions_of_city_measures(world200):
    from service.synth import catalogue

    out, summary = world200
    specs, errors = load_specs(out / "policies")
    assert errors == [] and len(specs) == summary["policies"] == 200
    assert len({s.id for s in specs}) == 200 and len({s.name for s in specs}) == 200
    catalogue_specs = {s["id"]: s for s in policies.build("南京市", AS_OF)}
    built = policies.build("南京市", AS_OF, 200)
    assert [s["id"] for s in built[:46]] == list(catalogue_specs)  # the catalogue first, as it is
    versions = built[46:]
    assert len(versions) == summary["district_versions"] == 154
    templates = {t["id"]: t for _, t in catalogue.templates()}
    wide = [t["id"] for t in templates.values() if catalogue.city_wide(t)]
    districts = policies.issuing_districts("南京市")
    assert [d.code for d in districts] == sorted(d.code for d in districts) and districts[0].name == "玄武区"
    # district by district, each re-issuing the city-wide templates in catalogue order
    expected = [(d, t) for d in districts for t in wide][: len(versions)]
    tree = regions()
    by_id = {s.id: s for s in specs}
    for (district, of), raw in zip(expected, versions):
        city = catalogue_specs[of]
        spec = by_id[raw["id"]]
        assert raw["_of"] == of and spec.id == f"{of}-q{district.code[4:]}"
        assert spec.region == district.code and tree.get(spec.region).name == district.name
        assert spec.name.startswith(district.name) and spec.department.startswith(district.name)
        assert spec.document.count(district.name) == 1 and "南京" not in spec.document + spec.department
        assert spec.document_number.startswith(district.name[:2]) and not spec.document_number.startswith("宁")
        # the same measure, for the district's firms
        assert spec.conditions["and"][0] == {"in_region": [{"var": "region"}, district.code]}
        assert spec.conditions["and"][1:] == city["conditions"]["and"][1:]
        assert raw["amount"] == city["amount"] and list(spec.topics) == city["topics"]
        for key in ("mode", "benefit_type", "period", "valid_from", "valid_to", "time_limit_days", "materials"):
            assert raw[key] == city[key], key
        share = Decimal(str(params.DISTRICT_BUDGET_SHARE))
        assert spec.budget == max(Decimal(city["budget"]) * share // 10000 * 10000, Decimal(10000)) > 0
        assert spec.budget < Decimal(city["budget"])
        group = city.get("exclusive_group")
        assert spec.exclusive_group == (f"{group}-q{district.code[4:]}" if group else None)
        # its own cases pass the engine, with the example firm registered in the district
        assert [r.detail for r in run_cases(spec, AS_OF) if not r.passed] == [], spec.id
        assert all(c.facts["region"] == district.code for c in spec.tests)
        assert spec.tests[0].decision == "eligible" and spec.tests[0].amount is not None
    # the city measure and the district's are not exclusive, the district's pair still is
    assert by_id["gaoqi-shouci-rending-q02"].exclusive_group == by_id["gaoqi-chongxin-rending-q02"].exclusive_group
    assert by_id["gaoqi-shouci-rending-q02"].exclusive_group != by_id["gaoqi-shouci-rending"].exclusive_group
    modes = Counter(s.mode for s in specs)
    assert 0.18 <= modes["automatic"] / len(specs) <= 0.30


def test_district_versions_reach_only_their_districts_firms(world200):
    out, summary = world200
    specs, _ = load_specs(out / "policies")
    region = {s.id: s.region for s in specs}
    budget = {s.id: s.budget for s in specs}
    paid = defaultdict(Decimal)
    seen = Counter()
    with open(out / "events.jsonl", encoding="utf-8") as fh:
        for line in fh:
            event = json.loads(line)
            pid = event["policy_id"]
            assert len(event["event_id"]) <= 64 and pid in region
            if region[pid] != "320100":
                assert event["uscc"][2:8] == region[pid], event["event_id"]
            if pid.endswith(("-q02", "-q04", "-q05", "-q06")):
                seen[event["kind"]] += 1
            if event["kind"] == "paid":
                paid[pid] += Decimal(event["payload"]["amount"])
    assert all(paid[p] <= budget[p] for p in paid)
    assert seen["push"] and seen["apply"] and seen["paid"]  # versions are pushed, applied for and paid
    meta = json.loads((out / "truth" / "meta.json").read_text(encoding="utf-8"))
    assert meta["policies"] == [s["id"] for s in policies.build("南京市", AS_OF, 200)]
    assert np.load(out / "truth" / "takeup.npy").shape == (600, 200, 3)


def test_the_most_policies_a_city_can_have():
    from service.synth import catalogue

    base, most = policies.capacity("南京市")
    wide = sum(catalogue.city_wide(t) for _, t in catalogue.templates())
    assert (base, most) == (46, 46 + 11 * wide) and wide == 43
    specs = policies.build("南京市", AS_OF, most)
    ids = [s["id"] for s in specs]
    assert len(ids) == len(set(ids)) == most == len({s["name"] for s in specs})
    assert Counter(s["region"] for s in specs)["320100"] == wide  # the city's own, then 11 districts' 43 each
    # every event id <uscc>:<policy>:<kind>:<chain> fits the importer's 64 characters
    assert 18 + 1 + max(map(len, ids)) + len(":approved:r12") <= 64


def test_a_number_of_policies_outside_the_range_is_refused(tmp_path):
    runner = CliRunner()
    for bad, words in (("45", "46"), ("0", "46"), ("-3", "46"), ("520", "519")):
        out = tmp_path / f"w{bad}"
        result = runner.invoke(main, ["generate", "--enterprises", "20", "--policies", bad, "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert "--policies" in result.output and words in result.output and "Traceback" not in result.output
        assert not out.exists()  # refused before any work
    with pytest.raises(policies.PolicyCountError, match="519"):
        policies.build("南京市", AS_OF, 600)
    with pytest.raises(policies.PolicyCountError, match="46"):
        generate_world(20, 1, "南京市", tmp_path / "x", n_policies=10)
    result = runner.invoke(main, ["generate", "--policies", "abc", "--out", str(tmp_path / "y")])
    assert result.exit_code == 2 and "--policies" in result.output


def test_the_cli_summary_counts_the_district_versions(tmp_path):
    args = ["generate", "--enterprises", "100", "--seed", "2", "--policies", "60", "--out", str(tmp_path / "w")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "政策 60 项" in result.stdout and "区级版本 14 项" in result.stdout
    assert len(list((tmp_path / "w" / "policies").glob("*-q02.yaml"))) == 14


def test_versions_share_their_city_measures_appeal_and_department_taste():
    frame = synth_enterprises.generate(300, np.random.default_rng(1), "南京市", AS_OF)
    built = policies.build("南京市", AS_OF, 60)
    specs = [policies.to_spec(s) for s in built]
    index = {s["id"]: j for j, s in enumerate(built)}
    of = np.array([index[s["_of"]] if "_of" in s else -1 for s in built])
    *_, departments, _, dept_taste, taste, appeal = synth_events._latent(frame, specs, np.random.default_rng(2), of)
    assert departments == sorted({s.department for s in specs[:46]})  # no taste of its own for a new office
    v = np.flatnonzero(of >= 0)
    assert len(v) == 14
    assert np.corrcoef(appeal[v], appeal[of[v]])[0, 1] > 0.8
    assert np.abs(appeal[v] - appeal[of[v]]).max() < 5 * params.DISTRICT_APPEAL_SD
    assert all(specs[j].department not in departments for j in v)  # 玄武区's offices are new to the catalogue
    assert np.allclose(taste[:, v], taste[:, of[v]])  # same topics, and the city bureau's taste
    with pytest.raises(ValueError, match="versions_of"):
        synth_events.simulate(frame, specs, np.random.default_rng(2), AS_OF, versions_of=[0] * 3)
