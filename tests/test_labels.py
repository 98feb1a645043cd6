"""Graded labels: per enterprise and push round, view < apply < approved, automatic payouts never
positive, acts attributed to the push they followed, rows contiguous per query."""

from __future__ import annotations

import json

import pandas as pd

from models.labels import HORIZON_DAYS, graded_labels, query_sizes


def frame(rows):
    df = pd.DataFrame(rows, columns=["enterprise", "policy", "kind", "occurred_at", "payload"])
    df["occurred_at"] = pd.to_datetime(df["occurred_at"]).dt.tz_localize("Asia/Shanghai")
    return df


def test_grades_rounds_and_automatic_policies():
    ev = frame(
        [
            ("E1", "a", "push", "2026-01-05 09:00", {"round": "r1"}),
            ("E1", "b", "push", "2026-01-05 09:00", {"round": "r1"}),
            ("E1", "c", "push", "2026-01-05 09:00", {"round": "r1"}),
            ("E1", "auto", "push", "2026-01-05 09:00", {"round": "r1"}),
            ("E1", "a", "view", "2026-01-05 10:00", {}),
            ("E1", "b", "view", "2026-01-05 10:00", {}),
            ("E1", "b", "apply", "2026-01-06 10:00", {}),
            ("E1", "b", "approved", "2026-01-20 10:00", {}),
            ("E1", "auto", "paid", "2026-01-20 10:00", {}),
            ("E3", "auto", "push", "2026-01-20 10:00", {"automatic": True}),  # the payout's notice: no query
            ("E2", "a", "push", "2026-01-07 09:00", {}),  # no round logged: the day is the round
            ("E2", "b", "push", "2026-01-07 15:00", {}),
            ("E2", "a", "apply", "2026-01-08 10:00", {}),
        ]
    )
    labels = graded_labels(ev, automatic={"auto"})
    got = {(r.query, r.policy): r.label for r in labels.itertuples()}
    assert got == {
        ("E1|r1", "a"): 1,
        ("E1|r1", "b"): 3,
        ("E1|r1", "c"): 0,
        ("E1|r1", "auto"): 0,  # paid by the rules: no choice, not a positive
        ("E2|2026-01-07", "a"): 2,
        ("E2|2026-01-07", "b"): 0,
    }
    assert list(query_sizes(labels)) == [4, 2]  # contiguous per query, in time order
    assert labels.loc[labels["automatic"], "policy"].tolist() == ["auto"]
    ev.loc[len(ev)] = ("E1", "auto", "view", pd.Timestamp("2026-01-05 10:00", tz="Asia/Shanghai"), {})
    viewed = graded_labels(ev, automatic={"auto"})
    assert viewed.loc[viewed["policy"] == "auto", "label"].tolist() == [1]  # opening the message is a choice


def test_an_act_belongs_to_the_push_it_followed_within_the_horizon():
    ev = frame(
        [
            ("E1", "a", "push", "2025-03-01 09:00", {"round": "r1"}),
            ("E1", "a", "push", "2025-06-01 09:00", {"round": "r2"}),  # an annual measure pushed again
            ("E1", "a", "apply", "2025-06-03 09:00", {}),
            ("E1", "b", "push", "2025-01-01 09:00", {"round": "r0"}),
            (
                "E1",
                "b",
                "view",
                (pd.Timestamp("2025-01-01 09:00") + pd.Timedelta(days=HORIZON_DAYS + 1)).strftime("%Y-%m-%d %H:%M"),
                {},
            ),
        ]
    )
    got = {(r.query, r.policy): r.label for r in graded_labels(ev).itertuples()}
    assert got == {("E1|r1", "a"): 0, ("E1|r2", "a"): 2, ("E1|r0", "b"): 0}


def test_payloads_from_json_text_rows_work_too():
    ev = frame([("E1", "a", "push", "2026-01-05 09:00", json.loads('{"channel": "sms"}'))])
    assert graded_labels(ev)["label"].tolist() == [0]
