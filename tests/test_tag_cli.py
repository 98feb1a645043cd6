"""``zhida tag``: a file of policies tagged round trip, bad input named by file and line with nothing written;
stored policies tagged with the model's version and their spec's rules; an analyst's correction wins over
the model, is audited and trains the next model — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select

from matcher.catalog import tag_taxonomy
from models import policy_tagger
from models.policy_data import TOPIC_CODES
from service import policy_tagging
from service.cli import main
from service.io.importer import import_policies
from service.store import tags as stored
from service.store.models import AuditRecord, Policy, PolicyVersion

LINES = [
    {
        "id": "p1",
        "title": "关于小微企业贷款贴息的通知",
        "text": "对本市小微企业获得的银行贷款给予50%贴息，年度最高100万元。",
    },
    {"id": 2, "title": "专精特新企业奖励", "text": "对深圳市坪山区新认定的国家级专精特新“小巨人”企业给予一次性奖励。"},
    {"id": "p3", "title": "", "text": "对开展研发活动的企业按研发费用增量给予资助。"},
]


def write_lines(path, lines):
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    return path


def test_a_file_of_policies_round_trip(tagger_dir, held_out_tagger, tmp_path):
    src, out = write_lines(tmp_path / "in.jsonl", LINES), tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["tag", "policies", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "标注完成：3 项政策" in result.output and held_out_tagger.version in result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["p1", 2, "p3"]
    for row in rows:
        assert set(row) == {"id", "topics", "scores", "targets", "model_version"}
        assert row["model_version"] == held_out_tagger.version
        assert set(row["scores"]) == {f"topic:{t}" for t in TOPIC_CODES}
        assert row["topics"] and all(t.startswith("topic:") for t in row["topics"])
    assert "topic:financing" in rows[0]["topics"]
    assert {"scale:small", "scale:micro"} <= {m["tag"] for m in rows[0]["targets"]}
    targets = {m["tag"]: m for m in rows[1]["targets"]}
    assert {"region:440310", "qualification:little_giant"} <= set(targets)
    assert targets["region:440310"]["found"] == ["坪山区"] and "坪山区" in targets["region:440310"]["context"]


BAD = [
    (b'{"id": "a", "title": "t", "text": "x"', "不是有效的 JSON"),
    (b'["a", "t", "x"]', "每行应为一个 JSON 对象"),
    (b'{"id": "a", "title": "t"}', "缺少字段 text"),
    (b'{"id": ["a"], "title": "t", "text": "x"}', "id 应为非空文本或整数"),
    (b'{"id": true, "title": "t", "text": "x"}', "id 应为非空文本或整数"),
    (b'{"id": "a", "title": 3, "text": "x"}', "title 应为文本"),
    ('{"id": "a", "title": "政策", "text": "补贴"}'.encode("gbk"), "不是 UTF-8"),
]


@pytest.mark.parametrize("line, reason", BAD)
def test_a_bad_line_is_named_by_file_and_line_and_nothing_is_written(tagger_dir, tmp_path, line, reason):
    good = json.dumps(LINES[0], ensure_ascii=False).encode()
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(good + b"\n\n" + line + b"\n")
    result = CliRunner().invoke(main, ["tag", "policies", str(src), "--out", str(out)])
    assert result.exit_code == 1
    assert f"{src}:3: " in result.output and reason in result.output
    assert "未写入任何结果" in result.output
    assert not out.exists()


def test_every_bad_line_is_reported_at_once(tagger_dir, tmp_path):
    lines = [LINES[0], {"id": "p1", "title": "t", "text": "x"}, {"title": "t", "text": "x"}]
    src, out = write_lines(tmp_path / "in.jsonl", lines), tmp_path / "out.jsonl"
    out.write_text("old\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["tag", "policies", str(src), "--out", str(out)])
    assert result.exit_code == 1
    assert f'{src}:2: id "p1" 与第 1 行重复' in result.output and f"{src}:3: 缺少字段 id" in result.output
    assert "输入有 2 处错误" in result.output
    assert out.read_text(encoding="utf-8") == "old\n"  # an earlier result is left as it was


def test_with_no_saved_model_the_command_trains_one_first(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    monkeypatch.setenv("ZHIDA_MODELS_DIR", str(folder))
    src, out = write_lines(tmp_path / "in.jsonl", LINES[:1]), tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["tag", "policies", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "还没有政策标注模型，先训练一个" in result.output
    version = policy_tagger.current_version(folder)
    assert version and (folder / f"policy-tagger-{version}.joblib").exists()
    assert json.loads(out.read_text(encoding="utf-8"))["model_version"] == version


# -- stored policies ------------------------------------------------------------------------------------------------


@pytest.fixture
def shipped(engine):
    """The 14 real measures, published in the store."""
    from service.cli.policy import shipped_policies

    assert import_policies(engine, shipped_policies()).committed
    return engine


def _slug_ids(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(Policy.slug, Policy.id)).all())


def test_stored_policies_are_tagged_with_the_model_version_and_their_rules(shipped, held_out_tagger):
    report = policy_tagging.tag_stored(shipped, held_out_tagger, tag_taxonomy())
    assert report.policies == 14 and report.topics >= 14 and report.rules == 42
    ids = _slug_ids(shipped)
    with shipped.connect() as conn:
        tags = stored.effective(conn, "policy")
    tiexi = tags[ids["ps-shuzihua-gaizao-tiexi"]]
    assert tiexi["mode:review"]["source"] == "rule" and tiexi["benefit:interest_subsidy"]["source"] == "rule"
    assert tiexi["region:440310"]["source"] == "rule"
    topics = {t: v for t, v in tiexi.items() if t.startswith("topic:")}
    assert "topic:financing" in topics
    assert all(v["source"] == "model" and v["model_version"] == held_out_tagger.version for v in topics.values())
    assert all(0 < v["score"] <= 1 for v in topics.values())
    # the dictionary's mentions are stored too; regions come from the spec only
    assert "qualification:srdi_sme" in tags[ids["ps-shangyun-yongshu"]]
    assert not any(t.startswith("region:") and v["source"] == "model" for p in tags.values() for t, v in p.items())
    # a rerun replaces the model's tags, it does not add to them
    policy_tagging.tag_stored(shipped, held_out_tagger, tag_taxonomy())
    with shipped.connect() as conn:
        assert stored.effective(conn, "policy") == tags


def test_a_correction_wins_is_audited_and_trains_the_next_model(shipped, held_out_tagger):
    policy_tagging.tag_stored(shipped, held_out_tagger, tag_taxonomy())
    ids = _slug_ids(shipped)
    pid = ids["ps-shuzihua-gaizao-tiexi"]
    before = policy_tagging.training_set(shipped)
    measure = next(e for e in before.examples if e.id == "ps-shuzihua-gaizao-tiexi")
    assert measure.labels["financing"] is True and before.officer_labels == 0

    tag = policy_tagging.correct(shipped, "ps-shuzihua-gaizao-tiexi", "融资贴息", False, "分析员", "测试：不按融资计")
    assert tag == "topic:financing"
    with shipped.connect() as conn:
        assert "topic:financing" not in stored.effective(conn, "policy")[pid]  # the officer's word wins
        record = conn.execute(
            select(AuditRecord.subject, AuditRecord.actor, AuditRecord.payload).where(
                AuditRecord.action == "tag.correct"
            )
        ).one()
    assert record.subject == "policy:ps-shuzihua-gaizao-tiexi" and record.actor == "分析员"
    assert record.payload == {"tag": "topic:financing", "present": False, "reason": "测试：不按融资计"}
    # the model's rerun does not undo it
    policy_tagging.tag_stored(shipped, held_out_tagger, tag_taxonomy())
    with shipped.connect() as conn:
        assert "topic:financing" not in stored.effective(conn, "policy")[pid]

    after = policy_tagging.training_set(shipped)
    measure = next(e for e in after.examples if e.id == "ps-shuzihua-gaizao-tiexi")
    assert measure.labels["financing"] is False and after.officer_labels == 1
    assert len(after.examples) == len(before.examples)
    assert policy_tagger.version_of(after.examples, policy_tagger.PARAMS) != policy_tagger.version_of(
        before.examples, policy_tagger.PARAMS
    )


def test_a_correction_of_a_policy_outside_the_shipped_ones_adds_a_training_text(engine):
    spec = {"id": "qu-fangzu", "name": "小微企业房租补贴", "target": "入驻园区的小微企业", "topics": ["房租"]}
    spec["source_text"] = "对入驻区级孵化园区的小微企业，按实际房租的50%给予补贴，最长两年。"
    with engine.begin() as conn:
        pid = conn.execute(
            insert(Policy).values(slug="qu-fangzu", status="published", current_version=1).returning(Policy.id)
        ).scalar_one()
        conn.execute(
            insert(PolicyVersion).values(
                policy_id=pid,
                version=1,
                spec=spec,
                spec_hash="0" * 64,
                name=spec["name"],
                mode="review",
                region="320114",
                valid_from=dt.date(2025, 1, 1),
                valid_to=dt.date(2026, 12, 31),
                budget=Decimal("1000000.00"),
            )
        )
    before = len(policy_tagging.training_set(engine).examples)
    policy_tagging.correct(engine, "qu-fangzu", "topic:rent_relief", True, "分析员", "第一款即房租补贴")
    ts = policy_tagging.training_set(engine)
    assert len(ts.examples) == before + 1
    added = ts.examples[-1]
    assert added.id == "qu-fangzu" and added.source == "store" and added.labels == {"rent_relief": True}
    assert "房租的50%" in added.text


def test_correct_refuses_what_it_cannot_record(engine):
    with pytest.raises(policy_tagging.UnknownPolicy, match="库中没有政策"):
        policy_tagging.correct(engine, "nope", "digital", True, "分析员", "理由")
    with pytest.raises(ValueError, match="不在 20 个政策主题"):
        policy_tagging.topic_tag("云计算")
    with engine.connect() as conn:
        assert conn.execute(select(AuditRecord)).first() is None


def test_the_commands_on_a_store(shipped, db_url, tagger_dir, monkeypatch):
    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    runner = CliRunner()
    result = runner.invoke(main, ["tag", "policies", "--stored"])
    assert result.exit_code == 0, result.output
    assert "已标注 14 项政策" in result.output
    result = runner.invoke(
        main, ["tag", "correct", "sz-yanfa-touru-buzhu", "tax_relief", "--yes", "--reason", "加计扣除", "--by", "甲"]
    )
    assert result.exit_code == 0, result.output
    assert "税费减免（topic:tax_relief）适用" in result.output
    result = runner.invoke(
        main, ["tag", "correct", "sz-yanfa-touru-buzhu", "tax_relief", "--reason", "r", "--by", "甲"]
    )
    assert result.exit_code != 0 and "--yes 或 --no" in result.output
    result = runner.invoke(main, ["tag", "correct", "nope", "digital", "--no", "--reason", "r", "--by", "甲"])
    assert result.exit_code != 0 and "库中没有政策 nope" in result.output


@pytest.mark.slow
def test_train_command_uses_the_stores_corrections(shipped, db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    policy_tagging.correct(shipped, "bj-suanliquan", "smart_manufacturing", True, "分析员", "租用算力用于制造业")
    out = tmp_path / "models"
    result = CliRunner().invoke(main, ["tag", "train", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "采用人工更正 1 条" in result.output and "训练完成：模型 pt-" in result.output
    version = policy_tagger.current_version(out)
    tagger = policy_tagger.load(out)
    assert tagger.version == version and tagger.trained_on["examples"] == 127
