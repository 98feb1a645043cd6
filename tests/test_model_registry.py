"""The model registry: files with their schema, one model in production per kind, promote and roll back
(audited), and a model whose feature schema differs is refused."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from sqlalchemy import exc, func, select, update

from models.registry import Artifact, ModelError, load, save, schema_hash
from service import model_registry as registry
from service.cli import main
from service.errors import BadRequest, NotFound
from service.store.models import AuditRecord, ModelVersion

SCHEMA = schema_hash(("tag_overlap", "ppr"))


def artifact(version: str, schema: str = SCHEMA) -> Artifact:
    return Artifact(
        kind="ranker",
        version=version,
        model={"weights": [1, 2]},
        schema_hash=schema,
        feature_names=("tag_overlap", "ppr"),
        params={"seed": 1},
        trained_from=dt.date(2025, 1, 1),
        trained_until=dt.date(2025, 12, 31),
        metrics={"ndcg@10": 0.71},
    )


def test_a_file_keeps_its_model_and_is_refused_for_another_schema(tmp_path):
    path = save(artifact("v1"), tmp_path)
    back = load(path, SCHEMA)
    assert back.model == {"weights": [1, 2]} and back.trained_until == dt.date(2025, 12, 31)
    with pytest.raises(ModelError, match="特征结构.*不一致，拒绝加载"):
        load(path, schema_hash(("tag_overlap", "ppr", "amount_ratio")))
    (tmp_path / "junk.joblib").write_bytes(b"junk")
    with pytest.raises(ModelError, match="无法读取"):
        load(tmp_path / "junk.joblib")
    with pytest.raises(ModelError, match="不存在"):
        load(tmp_path / "none.joblib")


def test_promote_and_roll_back(engine, tmp_path):
    for v in ("v1", "v2", "v3"):
        registry.register(engine, artifact(v), tmp_path)
    assert registry.production(engine, "ranker") is None  # a trained model never serves until promoted
    registry.promote(engine, "ranker", "v1", "分析员甲")
    registry.promote(engine, "ranker", "v3", "分析员甲")
    assert registry.production(engine, "ranker").version == "v3"
    assert registry.load_production(engine, "ranker", SCHEMA).version == "v3"
    with pytest.raises(ModelError):
        registry.load_production(engine, "ranker", schema_hash(("other",)))
    back = registry.rollback(engine, "ranker", "分析员乙")
    assert back.version == "v1" and registry.production(engine, "ranker").version == "v1"
    statuses = {r.version: r.status for r in registry.versions(engine, "ranker")}
    assert statuses == {"v1": "production", "v2": "candidate", "v3": "retired"}
    with engine.connect() as conn:
        actions = conn.scalars(select(AuditRecord.action).where(AuditRecord.action.like("model.%"))).all()
    assert actions.count("model.promote") == 2 and actions.count("model.rollback") == 1
    assert actions.count("model.register") == 3


def test_bad_requests_change_nothing(engine, tmp_path):
    registry.register(engine, artifact("v1"), tmp_path)
    with pytest.raises(BadRequest, match="已登记"):
        registry.register(engine, artifact("v1"), tmp_path)
    with pytest.raises(NotFound):
        registry.promote(engine, "ranker", "v9", "甲")
    with pytest.raises(BadRequest, match="推广"):
        registry.promote(engine, "ranker", "v1", " ")
    with pytest.raises(BadRequest, match="没有此前推广过的模型"):
        registry.rollback(engine, "ranker", "甲")
    assert registry.production(engine, "ranker") is None


def test_the_database_allows_one_production_model_per_kind(engine, tmp_path):
    for v in ("v1", "v2"):
        registry.register(engine, artifact(v), tmp_path)
    registry.promote(engine, "ranker", "v1", "甲")
    with pytest.raises(exc.IntegrityError), engine.begin() as conn:
        conn.execute(update(ModelVersion).where(ModelVersion.version == "v2").values(status="production"))
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).where(ModelVersion.status == "production")) == 1


def test_cli_lists_promotes_and_rolls_back(engine, db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    for v in ("v1", "v2"):
        registry.register(engine, artifact(v), tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["models", "promote", "ranker", "v1", "--by", "甲"]).exit_code == 0
    out = runner.invoke(main, ["models", "promote", "ranker", "v2", "--by", "甲"])
    assert out.exit_code == 0 and "v2 已推广为在用模型" in out.output
    listed = runner.invoke(main, ["models", "list"])
    assert "在用 v2" in listed.output and "训练 2025-01-01 至 2025-12-31" in listed.output
    back = runner.invoke(main, ["models", "rollback", "ranker", "--by", "乙"])
    assert back.exit_code == 0 and "已回滚到 v1" in back.output
    bad = runner.invoke(main, ["models", "promote", "ranker", "v9", "--by", "甲"])
    assert bad.exit_code != 0 and "没有登记的模型" in bad.output


def test_a_metric_over_no_query_is_stored_as_null(engine, tmp_path):
    nan = artifact("v-nan")
    nan.metrics = {"figures": {"cold_start": {"ranker": {"ndcg@10": float("nan"), "queries": 0.0}}}}
    registry.register(engine, nan, tmp_path)  # PostgreSQL's JSON has no NaN: it would refuse the row
    (row,) = registry.versions(engine, "ranker")
    assert row.metrics["figures"]["cold_start"]["ranker"] == {"ndcg@10": None, "queries": 0.0}
