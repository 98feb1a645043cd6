"""The ranker's feature definition: one schema with a hash, every feature required, engagement counted
strictly before the query time, text similarity of scope and policy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.features import FEATURES, SCHEMA_HASH, assemble, engagement, text_similarity


def test_assemble_orders_and_refuses_a_missing_feature():
    parts = {name: np.arange(3) + j for j, name in enumerate(FEATURES)}
    m = assemble(parts, 3)
    assert m.shape == (3, len(FEATURES)) and m[1, 5] == 6
    del parts["ppr"]
    with pytest.raises(ValueError, match="缺少特征：ppr"):
        assemble(parts, 3)
    assert len(SCHEMA_HASH) == 16 and len(set(FEATURES)) == len(FEATURES)


def test_engagement_counts_only_the_past():
    t = pd.Timestamp("2026-01-10 09:00", tz="Asia/Shanghai")
    ev = pd.DataFrame(
        [
            ("E1", "a", "人社局", "g1", "push", t - pd.Timedelta(days=5)),
            ("E1", "a", "人社局", "g1", "view", t - pd.Timedelta(days=4)),
            ("E1", "b", "人社局", "g1", "apply", t - pd.Timedelta(days=3)),
            ("E2", "a", "人社局", "g1", "push", t - pd.Timedelta(days=3)),
            ("E2", "a", "人社局", "g1", "apply", t - pd.Timedelta(days=2)),
            ("E1", "a", "人社局", "g1", "apply", t),  # at the query time itself: its own outcome, not counted
            ("E1", "a", "人社局", "g1", "push", t + pd.Timedelta(days=1)),
        ],
        columns=["enterprise", "policy", "department", "group", "kind", "occurred_at"],
    )
    q = pd.DataFrame(
        [("E1", "a", "人社局", "g1", t), ("E3", "a", "人社局", "g1", t)],
        columns=["enterprise", "policy", "department", "group", "at"],
    )
    f = engagement(ev, q)
    assert f["firm_pushes"].tolist() == [1, 0] and f["firm_views"].tolist() == [1, 0]
    assert f["firm_applies"].tolist() == [1, 0] and f["firm_department_applies"].tolist() == [1, 0]
    assert f["firm_policy_pushes"].tolist() == [1, 0]
    assert f["peers_policy_applies"].tolist() == [1, 1]  # E2's apply to a, in the same group
    assert f["peers_policy_apply_rate"].tolist() == [0.5, 0.5]
    assert np.isnan(f["firm_view_rate"][1])


def test_scope_similarity_prefers_the_matching_policy():
    scopes = ["一般项目：软件开发；信息技术咨询服务；数据处理服务", "一般项目：餐饮服务；食品销售"]
    texts = ["软件企业奖励：支持软件开发与信息技术服务企业", "餐饮消费奖励：支持餐饮服务企业"]
    sim = text_similarity(scopes, texts, (np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])))
    assert sim[0] > sim[1] and sim[3] > sim[2]


def test_deadline_and_approvals_are_read_from_the_log_before_the_query():
    t = pd.Timestamp("2026-03-10 09:00", tz="UTC")
    ev = pd.DataFrame(
        [
            ("E2", "a", "人社局", "g1", "push", t - pd.Timedelta(days=20), {"deadline": "2026-03-31"}),
            ("E1", "a", "人社局", "g1", "approved", t - pd.Timedelta(days=15), {}),
            ("E1", "a", "人社局", "g1", "paid", t - pd.Timedelta(days=14), {}),
            ("E2", "b", "人社局", "g1", "push", t - pd.Timedelta(days=20), {"deadline": "2026-02-28"}),  # passed
            ("E2", "a", "人社局", "g1", "push", t + pd.Timedelta(days=1), {"deadline": "2027-03-31"}),  # later
        ],
        columns=["enterprise", "policy", "department", "group", "kind", "occurred_at", "payload"],
    )
    q = pd.DataFrame(
        [("E1", "a", "人社局", "g1", t), ("E3", "b", "人社局", "g1", t), ("E3", "c", "人社局", "g1", t)],
        columns=["enterprise", "policy", "department", "group", "at"],
    )
    f = engagement(ev, q)
    assert f["days_to_application_deadline"][0] == 21
    assert np.isnan(f["days_to_application_deadline"][1:]).all()  # passed; never pushed
    assert f["firm_policy_approvals"].tolist() == [2, 0, 0]
    assert np.isnan(engagement(ev.drop(columns="payload"), q)["days_to_application_deadline"]).all()
