"""The knowledge graph: built from the store with a source on every edge, saved with its format, kept current
change by change (equal to a rebuild), features from a snapshot as of a date, candidates that keep what the
rule engine keeps, and explanations in Chinese beside the rule trace."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from graph.errors import GraphError
from graph.explain import explain
from graph.features import FEATURES, FeatureIndex
from graph.knowledge import EDGE_SOURCES, FORMAT, KnowledgeGraph, TagEdge
from matcher.catalog import tag_taxonomy
from matcher.columnar import FALSE, Table, evaluate_conditions
from matcher.profiles import derived_tags, known_kinds, policy_targets, table_tags
from matcher.spec import parse_spec, read_yaml
from service import knowledge
from service.cli import main
from service.ledger.sweeps import verified_table
from service.store import session_scope
from service.store import tags as stored_tags
from service.store.models import Enterprise, FieldValue, Payout, Policy, utcnow
from service.synth.params import REFERENCE_DATE

DAY = REFERENCE_DATE


def edge_set(kg: KnowledgeGraph) -> set:
    return {(u, v, k, d["source"]) for u, v, k, d in kg.g.edges(keys=True, data=True)}


# -- profiles and targets (the decision core's side) ---------------------------------------------------


def test_table_tags_equal_the_scalar_derived_tags(small_world):
    import csv

    from matcher import catalog

    with open(small_world / "enterprises.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    records = [
        {k: catalog.parse_value(k, v, today=DAY) for k, v in r.items() if k in catalog.FIELDS and v != ""} for r in rows
    ]
    table = Table.from_records(records, DAY)
    for facts, (tags, known) in zip(records, table_tags(table), strict=True):
        assert tags == derived_tags(facts, DAY)
        assert known == known_kinds(facts)


def test_policy_targets_read_requirements_from_the_conditions():
    spec = parse_spec(read_yaml(_policy_file("bj-suanliquan.yaml")))
    targets = policy_targets(spec)
    groups: dict = {}
    for tag, group in targets:
        groups.setdefault(group, set()).add(tag)
    assert {"region:110000"} in groups.values()
    assert {"industry:I64", "industry:I65", "industry:C"} in groups.values()  # an or of one kind: any of them
    negated = dataclasses.replace(
        spec, conditions=[{"!": {"in_industry": [{"var": "industry"}, "C"]}}, {">": [{"var": "employees"}, "0"]}]
    )
    assert policy_targets(negated) == []  # a negated condition names no target


def _policy_file(name):
    from importlib import resources

    return resources.files("matcher").joinpath("policies", name)


# -- building, sources, files ----------------------------------------------------------------------------


def test_build_from_the_store_gives_every_kind_and_a_source_on_every_edge(city):
    with city.begin() as conn:
        pid = conn.scalar(select(Policy.id).where(Policy.slug == "ruanjian-qiye-jiangli"))
        stored_tags.assign(
            conn, "policy", "model", {pid: [("topic:digital", 0.9), ("topic:green", 0.7)]}, model_version="t1"
        )
        stored_tags.correct(conn, "policy", pid, "topic:green", False, by="analyst", reason="正文未涉及")
    kg = knowledge.build(city, DAY)
    stats = kg.stats()
    assert set(stats["nodes"]) == {"tag", "policy", "department", "document", "enterprise"}
    assert {"has_tag", "targets", "is_a", "issued_by", "in_document", "received", "same_group"} <= set(stats["edges"])
    assert stats["nodes"]["enterprise"] == 300
    assert all(d["source"] in EDGE_SOURCES for _, _, d in kg.g.edges(data=True))
    topics = {v: d for v, d in kg.edges_of("policy:ruanjian-qiye-jiangli", "targets") if v.startswith("topic:")}
    assert set(topics) == {"topic:digital"}  # the officer's "no" wins over the model's green
    assert topics["topic:digital"]["source"] == "model" and topics["topic:digital"]["model_version"] == "t1"
    required = [d for v, d in kg.edges_of("policy:ruanjian-qiye-jiangli", "targets") if v == "industry:I65"]
    assert required and required[0]["source"] == "rule" and required[0]["group"] is not None


def test_save_and_load_keep_the_graph_and_refuse_another_format(city, tmp_path):
    kg = knowledge.build(city, DAY)
    path = kg.save(tmp_path / "g.pickle")
    again = KnowledgeGraph.load(path)
    assert edge_set(again) == edge_set(kg) and again.as_of == DAY and again.marks == kg.marks
    import pickle

    state = pickle.loads(path.read_bytes())
    state["format"] = FORMAT + 1
    (tmp_path / "old.pickle").write_bytes(pickle.dumps(state))
    with pytest.raises(GraphError, match="格式版本为 2.*请重新运行 zhida graph build"):
        KnowledgeGraph.load(tmp_path / "old.pickle")
    (tmp_path / "junk.pickle").write_bytes(b"not a graph")
    with pytest.raises(GraphError, match="无法读取"):
        KnowledgeGraph.load(tmp_path / "junk.pickle")
    with pytest.raises(GraphError, match="不存在"):
        KnowledgeGraph.load(tmp_path / "none.pickle")


def test_incremental_changes_equal_a_rebuild(city):
    kg = knowledge.build(city, DAY)
    with session_scope(city) as session:
        firm = session.scalar(select(Enterprise).order_by(Enterprise.id).limit(1))
        before = kg.tags_of(f"enterprise:{firm.uscc}")
        # the firm grows: 5,000 employees and 5 亿 revenue make it large
        for field, value in (("employees", "5000"), ("revenue", "500000000.00")):
            session.execute(
                update(FieldValue)
                .where(FieldValue.enterprise_id == firm.id, FieldValue.field == field)
                .values(value=value, recorded_at=utcnow())
            )
        other = session.scalar(select(Enterprise).order_by(Enterprise.id.desc()).limit(1))
        pid = session.scalar(select(Policy.id).where(Policy.slug == "xiaowei-shebao-butie"))
        session.add(Payout(policy_id=pid, enterprise_id=other.id, period="2026", amount=Decimal("1000.00")))
        retired = session.scalar(select(Policy).where(Policy.slug == "jiuye-jianxi"))
        retired.status = "retired"
    counts = knowledge.refresh(kg, city)
    assert counts["enterprises"] >= 1 and counts["received"] == 1 and counts["policies"] >= 1
    after = kg.tags_of(f"enterprise:{firm.uscc}")
    assert "scale:large" in after and after != before
    assert "policy:jiuye-jianxi" not in kg.g
    assert any(v == "policy:xiaowei-shebao-butie" for v, _ in kg.edges_of(f"enterprise:{other.uscc}", "received"))
    rebuilt = knowledge.build(city, DAY)
    assert edge_set(kg) == edge_set(rebuilt)


def test_bad_tags_are_refused_and_change_nothing():
    kg = KnowledgeGraph(tag_taxonomy(), DAY)
    kg.set_enterprise("E1", name="甲", tags=[TagEdge("industry:C3911")])
    with pytest.raises(GraphError, match="不在标签体系"):
        kg.set_enterprise("E1", name="甲", tags=[TagEdge("industry:ZZ")])
    with pytest.raises(GraphError, match="请先加入"):
        kg.add_received("E1", "nope", DAY)


# -- features from a snapshot ----------------------------------------------------------------------------


def small_graph() -> KnowledgeGraph:
    kg = KnowledgeGraph(tag_taxonomy(), DAY)
    common = dict(mode="instant", valid_from=dt.date(2025, 1, 1), valid_to=dt.date(2027, 12, 31), published_on=None)
    kg.set_policy(
        "c39",
        name="电子信息制造业扩产奖励",
        department="雨花台区工业和信息化局",
        targets=[TagEdge("region:320114", group=0), TagEdge("industry:C39", group=1)],
        **common,
    )
    kg.set_policy(
        "c38", name="电气机械扩产奖励", department="市工信局", targets=[TagEdge("industry:C38", group=0)], **common
    )
    kg.set_policy(
        "i65", name="软件企业奖励", department="市工信局", targets=[TagEdge("industry:I65", group=0)], **common
    )
    kg.set_policy(
        "small",
        name="小微企业社保补贴",
        department="市人社局",
        targets=[TagEdge("scale:small", group=0), TagEdge("scale:micro", group=0)],
        **common,
    )
    kg.set_policy("open", name="普惠政策", department="市人社局", **common)
    kg.set_policy("later", name="明年的政策", department="市人社局", **common | {"valid_from": dt.date(2027, 1, 1)})
    kg.set_enterprise(
        "E1", name="甲", tags=[TagEdge("industry:C3911"), TagEdge("region:320114"), TagEdge("scale:medium")]
    )
    kg.set_enterprise(
        "E2", name="乙", tags=[TagEdge("industry:C3912"), TagEdge("region:320114"), TagEdge("scale:medium")]
    )
    kg.set_enterprise(
        "E3", name="丙", tags=[TagEdge("industry:I6513"), TagEdge("region:320105"), TagEdge("scale:small")]
    )
    kg.add_received("E2", "c39", dt.date(2026, 3, 1))
    kg.add_received("E1", "c38", dt.date(2026, 2, 1))
    kg.add_received("E2", "c39", dt.date(2026, 9, 1))  # after the snapshot below
    return kg


def test_features_closeness_overlap_peers_and_history():
    index = FeatureIndex(small_graph(), DAY)
    e1 = index.profiles["E1"]
    cands = index.candidates(e1)
    names = [index.policies[p] for p in cands]
    assert set(names) == {"c39", "open"}  # c38, i65: not its industry; small: a medium firm; later: not yet
    every = np.arange(len(index.policies))
    f = index.features(e1, every)
    assert set(f) == set(FEATURES)
    at = index.pol_ix
    assert f["industry_closeness"][at["c39"]] == 1.0
    assert f["industry_closeness"][at["c38"]] == pytest.approx(0.5)  # same 门类 C, another 大类
    assert f["industry_closeness"][at["i65"]] == 0.0
    assert np.isnan(f["industry_closeness"][at["open"]])  # names no industry
    assert f["region_closeness"][at["c39"]] == 1.0
    assert f["tag_overlap"][at["c39"]] == 1.0 and np.isnan(f["tag_overlap"][at["open"]])
    assert f["peers_received"][at["c39"]] == 1  # E2: same 大类 C39 and scale, received it before the date
    assert f["peers_received_share"][at["c39"]] == 1.0
    assert f["department_history"][at["c39"]] == 0 and f["department_history"][at["i65"]] == 1  # 市工信局
    assert f["received_before"][at["c38"]] == 1
    assert f["ppr"][at["c39"]] > f["ppr"][at["open"]]


def test_snapshot_never_sees_the_future():
    kg = small_graph()
    early = FeatureIndex(kg, dt.date(2026, 2, 15))
    late = FeatureIndex(kg, dt.date(2026, 12, 31))
    e2_early, e2_late = early.profiles["E2"], late.profiles["E2"]
    assert len(e2_early.received) == 0 and len(e2_late.received) == 2
    p = np.array([early.pol_ix["c39"]])
    assert early.features(early.profiles["E1"], p)["peers_received"][0] == 0
    assert "later" not in early.pol_ix and "later" in FeatureIndex(kg, dt.date(2027, 1, 2)).pol_ix


def test_ppr_batched_equals_one_at_a_time():
    index = FeatureIndex(small_graph(), DAY)
    profiles = [index.profiles[k] for k in ("E1", "E2", "E3")]
    batch = index.ppr(profiles)
    for row, prof in zip(batch, profiles, strict=True):
        np.testing.assert_allclose(row, index.ppr([prof])[0])
    assert np.all(batch >= 0)


def test_index_follows_an_enterprise_update():
    kg = small_graph()
    index = FeatureIndex(kg, DAY)
    assert "small" not in [index.policies[p] for p in index.candidates(index.profiles["E1"])]
    kg.set_enterprise(
        "E1", name="甲", tags=[TagEdge("industry:C3911"), TagEdge("region:320114"), TagEdge("scale:small")]
    )
    index.update_enterprise("E1")
    assert "small" in [index.policies[p] for p in index.candidates(index.profiles["E1"])]
    fresh = FeatureIndex(kg, DAY)
    np.testing.assert_allclose(index.idf, fresh.idf)
    assert index.group_size == fresh.group_size


def test_candidates_keep_what_the_rule_engine_keeps(city):
    """Recall ≥ 0.99 (here: every pair) of the policies in force the conditions find eligible or undetermined."""
    from service.knowledge import _current_versions
    from service.ledger.facts import spec_of

    kg = knowledge.build(city, DAY)
    index = FeatureIndex(kg, DAY)
    table, ids = verified_table(city, DAY)
    with city.connect() as conn:
        uscc = dict(conn.execute(select(Enterprise.id, Enterprise.uscc)).all())
        versions = _current_versions(conn)
    kept = [set(index.candidates(index.profiles[uscc[i]], DAY).tolist()) for i in ids]
    live = index.live(DAY)
    want = got = 0
    for _, slug, pv in versions:
        p = index.pol_ix[slug]
        if not live[p]:
            continue
        outcome, _ = evaluate_conditions(spec_of(pv).conditions, table)
        for r in np.flatnonzero(outcome != FALSE):
            want += 1
            got += p in kept[r]
    assert want > 1000
    assert got / want >= 0.99
    assert sum(map(len, kept)) < 0.8 * len(ids) * live.sum()  # and they do leave policies out


# -- explanations ----------------------------------------------------------------------------------------


def test_explanation_names_the_industry_and_region_path():
    kg = small_graph()
    found = explain(kg, "E1", "c39")
    assert found.sentence.startswith(
        "贵企业属于 C39 计算机、通信和其他电子设备制造业，位于雨花台区，本政策（电子信息制造业扩产奖励）面向该区"
        "计算机、通信和其他电子设备制造企业"
    )
    best = found.paths[0]
    assert best.nodes[0] == "enterprise:E1" and best.nodes[-1] == "policy:c39" and best.kinds[-1] == "targets"
    history = explain(kg, "E1", "i65").sentence
    assert "贵企业曾获得市工信局的《电气机械扩产奖励》支持" in history
    assert explain(kg, "E3", "small").sentence.startswith(
        "贵企业为小型企业，本政策（小微企业社保补贴）面向小型、微型企业"
    )


def test_explain_match_adds_the_rule_trace(city):
    kg = knowledge.build(city, DAY)
    index = FeatureIndex(kg, DAY)
    uscc = next(k for k, p in index.profiles.items() if len(index.candidates(p, DAY)))
    slug = index.policies[index.candidates(index.profiles[uscc], DAY)[0]]
    found = knowledge.explain_match(city, kg, uscc, slug, DAY)
    assert "规则核验：" in found["sentence"]
    assert found["decision"]["outcome"] in ("eligible", "not_eligible", "undetermined")
    assert all("{" not in s for s in found["decision"]["trace"])  # sentences, not JsonLogic


# -- the command line ------------------------------------------------------------------------------------


def test_cli_build_stats_update_explain(city, db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    monkeypatch.setenv("ZHIDA_MODELS_DIR", str(tmp_path / "models"))
    runner = CliRunner()
    built = runner.invoke(main, ["graph", "build", "--as-of", DAY.isoformat()])
    assert built.exit_code == 0, built.output
    assert "知识图谱已构建" in built.output and "企业 300" in built.output
    assert (tmp_path / "models" / "graph.pickle").exists()
    stats = runner.invoke(main, ["graph", "stats"])
    assert stats.exit_code == 0 and "具有标签" in stats.output
    with city.begin() as conn:
        conn.execute(update(Enterprise).where(Enterprise.id == 1).values(name="改名后的企业"))
    updated = runner.invoke(main, ["graph", "update"])
    assert updated.exit_code == 0 and "企业 1 家" in updated.output
    with city.connect() as conn:
        uscc = conn.scalar(select(Enterprise.uscc).where(Enterprise.id == 1))
    shown = runner.invoke(main, ["graph", "explain", uscc, "--as-of", DAY.isoformat(), "--limit", "2"])
    assert shown.exit_code == 0, shown.output
    assert "规则核验" in shown.output and "共解释" in shown.output
    bad = runner.invoke(main, ["graph", "explain", "91000000000000000X"])
    assert bad.exit_code != 0 and "图谱中没有企业" in bad.output
    missing = runner.invoke(main, ["graph", "stats", "--graph", str(tmp_path / "none.pickle")])
    assert missing.exit_code != 0 and "请先运行 zhida graph build" in missing.output
