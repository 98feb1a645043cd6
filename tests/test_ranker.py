"""Training the ranker: a time split (train, then validate, then test), early stopping, the same model for
the same data and seed, one evaluator for the model and every baseline, and a registered candidate."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from models import ranker
from models.features import FEATURES
from service import knowledge
from service.cli import main
from service.errors import BadRequest
from service.ranking import train_ranker
from service.synth.params import REFERENCE_DATE

UNTIL = REFERENCE_DATE.replace(month=5, day=1)


def test_the_evaluator_on_known_rankings():
    split = ranker.Split(
        x=np.zeros((6, len(FEATURES))),
        y=np.array([3, 0, 1, 0, 0, 2]),
        groups=np.array([3, 3]),
        policies=np.array(["a", "b", "c", "a", "b", "c"]),
    )
    perfect = ranker.evaluate(split.y.astype(float), split)
    assert perfect["ndcg@10"] == 1.0 and perfect["map"] == 1.0 and perfect["recall@10"] == 1.0
    worst = ranker.evaluate(np.array([1, 2, 3, 3, 2, 1.0]), split)
    assert worst["ndcg@10"] < 1.0 and worst["map"] < 1.0
    all_zero = ranker.Split(split.x[:3], np.zeros(3, dtype=int), np.array([3]), split.policies[:3])
    assert np.isnan(ranker.evaluate(np.arange(3.0), all_zero)["ndcg@10"])  # left out, never counted as 1
    assert ranker.gap_closed(0.8, 0.6) == pytest.approx(0.5)


def test_training_is_deterministic_and_registered(city, tmp_path, db_url, monkeypatch):
    kg = knowledge.build(city, REFERENCE_DATE)
    first = train_ranker(city, kg, UNTIL, period_days=45, seed=3)
    again = train_ranker(city, kg, UNTIL, period_days=45, seed=3)
    assert first.version == again.version
    assert set(first.figures["overall"]) == {"ranker", "popularity", "tag_overlap", "ppr", "eligible_by_amount"}
    assert first.window["test_from"] < first.window["until"] and first.rows["test"]["queries"] > 0
    x = np.random.default_rng(0).random((5, len(FEATURES)))
    np.testing.assert_array_equal(ranker.score(first.artifact.model, x), ranker.score(again.artifact.model, x))
    with pytest.raises(BadRequest, match="不足以按"):
        train_ranker(city, kg, REFERENCE_DATE.replace(year=2025, month=2, day=1), period_days=45)

    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    monkeypatch.setenv("ZHIDA_MODELS_DIR", str(tmp_path / "models"))
    kg.save(tmp_path / "models" / "graph.pickle")  # the same graph: the same features, the same version
    out = CliRunner().invoke(main, ["train", "--until", UNTIL.isoformat(), "--period-days", "45", "--seed", "3"])
    assert out.exit_code == 0, out.output
    assert f"排序模型 {first.version}" in out.output and "已登记为候选模型" in out.output
    twice = CliRunner().invoke(main, ["train", "--until", UNTIL.isoformat(), "--period-days", "45", "--seed", "3"])
    assert twice.exit_code == 0 and "同一版本（相同的数据、参数与种子）已登记过" in twice.output
    listed = CliRunner().invoke(main, ["models", "list"])
    assert first.version in listed.output and "在用 无" in listed.output


def test_rank_writes_every_candidate_with_the_rule_decision(city, tmp_path, db_url, monkeypatch):
    import csv

    from service.model_registry import promote, register

    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    monkeypatch.setenv("ZHIDA_MODELS_DIR", str(tmp_path / "models"))
    kg = knowledge.build(city, REFERENCE_DATE)
    kg.save(tmp_path / "models" / "graph.pickle")
    runner = CliRunner()
    day = REFERENCE_DATE.isoformat()
    out = runner.invoke(main, ["rank", "--all", "--out", str(tmp_path / "all.csv"), "--as-of", day])
    assert out.exit_code == 0, out.output
    assert "没有在用的排序模型" in out.output and "300 家企业" in out.output
    with open(tmp_path / "all.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and set(rows[0]) == {"uscc", "policy_id", "score", "decision"}
    assert {r["decision"] for r in rows} <= {"eligible", "not_eligible", "undetermined"}
    assert len({r["uscc"] for r in rows}) > 200

    report = train_ranker(city, kg, UNTIL, period_days=45, seed=3)
    register(city, report.artifact, tmp_path / "models")
    promote(city, "ranker", report.version, "分析员")
    one = rows[0]["uscc"]
    out = runner.invoke(main, ["rank", "--enterprise", one, "--out", str(tmp_path / "one.csv"), "--as-of", day])
    assert out.exit_code == 0 and report.version in out.output and "没有在用" not in out.output
    with open(tmp_path / "one.csv", encoding="utf-8") as fh:
        mine = list(csv.DictReader(fh))
    assert {r["uscc"] for r in mine} == {one}
    scores = [float(r["score"]) for r in mine]
    assert scores == sorted(scores, reverse=True)
    bad = runner.invoke(main, ["rank", "--out", str(tmp_path / "x.csv")])
    assert bad.exit_code != 0 and "二选一" in bad.output
    unknown = runner.invoke(main, ["rank", "--enterprise", "91000000000000000X", "--out", str(tmp_path / "x.csv")])
    assert unknown.exit_code != 0 and "图谱中没有企业" in unknown.output


def test_evaluate_scores_a_registered_model_by_slice_with_a_chart(city, tmp_path, db_url, monkeypatch):
    import json

    from service.model_registry import register

    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    monkeypatch.setenv("ZHIDA_MODELS_DIR", str(tmp_path / "models"))
    kg = knowledge.build(city, REFERENCE_DATE)
    kg.save(tmp_path / "models" / "graph.pickle")
    report = train_ranker(city, kg, UNTIL, period_days=45, seed=3)
    register(city, report.artifact, tmp_path / "models")
    runner = CliRunner()
    start = report.window["test_from"]
    args = ["evaluate", "--from", start, "--until", UNTIL.isoformat(), "--version", report.version]
    out = runner.invoke(main, [*args, "--plot", str(tmp_path / "eval.png"), "--json", str(tmp_path / "eval.json")])
    assert out.exit_code == 0, out.output
    saved = json.loads((tmp_path / "eval.json").read_text(encoding="utf-8"))
    # the same period, the same model: the training run's own test figures, by the same evaluator
    assert saved["figures"]["overall"]["ranker"] == pytest.approx(report.figures["overall"]["ranker"])
    assert {"overall", "non_automatic"} <= set(saved["figures"])
    assert (tmp_path / "eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "全部" in out.output and "最佳基线" in out.output

    baselines = runner.invoke(main, ["evaluate", "--from", start, "--until", UNTIL.isoformat()])
    assert baselines.exit_code == 0 and "只评估基线" in baselines.output and "排序模型 NDCG" not in baselines.output
    backwards = runner.invoke(main, ["evaluate", "--from", UNTIL.isoformat(), "--until", start])
    assert backwards.exit_code != 0 and "应早于结束日" in backwards.output
    unknown = runner.invoke(main, [*args[:5], "--version", "rk-nope"])
    assert unknown.exit_code != 0 and "没有登记的模型 ranker rk-nope" in unknown.output
