"""Tags in the store: the taxonomy synced with parents; each source's tags replaced as a whole; an
officer's correction wins over the model and can remove a tag."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select

from service.store import tags as stored
from service.store.models import Enterprise, Policy, PolicyTag, Tag


def _policy(conn, slug="p1") -> int:
    return conn.execute(insert(Policy).values(slug=slug, status="draft").returning(Policy.id)).scalar_one()


def test_sync_writes_the_taxonomy_with_parents_and_is_idempotent(engine):
    with engine.begin() as conn:
        ids = stored.sync(conn)
        first = conn.scalar(select(func.count()).select_from(Tag))
        assert stored.sync(conn) == ids
        assert conn.scalar(select(func.count()).select_from(Tag)) == first
        c39 = conn.execute(select(Tag).where(Tag.kind == "industry", Tag.code == "C39")).one()
        assert c39.label == "计算机、通信和其他电子设备制造业"
        assert c39.parent_id == ids["industry:C"]
        assert ids["region:320114"] and ids["topic:digital"]


def test_assign_replaces_one_sources_tags_and_officer_wins(engine):
    with engine.begin() as conn:
        pid = _policy(conn)
        stored.assign(
            conn, "policy", "model", {pid: [("topic:digital", 0.91), ("topic:talent", 0.55)]}, model_version="m1"
        )
        stored.assign(conn, "policy", "rule", {pid: ["mode:automatic"]})
        stored.assign(
            conn, "policy", "model", {pid: [("topic:digital", 0.8), ("topic:green", 0.6)]}, model_version="m2"
        )
        got = stored.effective(conn, "policy")[pid]
        assert set(got) == {"topic:digital", "topic:green", "mode:automatic"}
        assert got["topic:digital"] == {"source": "model", "score": 0.8, "model_version": "m2"}

        stored.correct(conn, "policy", pid, "topic:green", False, by="analyst", reason="正文未涉及节能减排")
        stored.correct(conn, "policy", pid, "topic:talent", True, by="analyst", reason="第三条为人才奖励")
        got = stored.effective(conn, "policy")[pid]
        assert set(got) == {"topic:digital", "topic:talent", "mode:automatic"}
        assert got["topic:talent"]["source"] == "officer"
        # the model's rerun does not undo the officer's word
        stored.assign(conn, "policy", "model", {pid: [("topic:green", 0.99)]}, model_version="m3")
        assert "topic:green" not in stored.effective(conn, "policy")[pid]
        assert conn.scalar(select(func.count()).select_from(PolicyTag).where(PolicyTag.source == "officer")) == 2


def test_bad_assignments_change_nothing(engine):
    with engine.begin() as conn:
        pid = _policy(conn)
        eid = conn.execute(
            insert(Enterprise)
            .values(uscc="91320114MA1X000001", name="甲", region="320114", industry="C39")
            .returning(Enterprise.id)
        ).scalar_one()
        with pytest.raises(ValueError, match="模型版本"):
            stored.assign(conn, "policy", "model", {pid: [("topic:digital", 0.9)]})
        with pytest.raises(ValueError, match="不在标签体系"):
            stored.assign(conn, "enterprise", "rule", {eid: ["industry:ZZ"]})
        with pytest.raises(ValueError, match="理由"):
            stored.correct(conn, "policy", pid, "topic:digital", True, by="a", reason=" ")
        assert stored.effective(conn, "policy") == {} and stored.effective(conn, "enterprise") == {}
