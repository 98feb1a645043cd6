"""The ranker's features from the store: one matrix in the schema's order, from the snapshot of the query's
month, and engagement that never sees the query's own outcome or anything later."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from models.features import FEATURES
from models.labels import graded_labels
from service import knowledge
from service.ranking import feature_matrix, load_events, snapshot_day
from service.synth.params import REFERENCE_DATE


def test_snapshot_day_is_the_first_of_the_month():
    assert snapshot_day(pd.Timestamp("2026-03-17 10:00", tz="UTC")) == dt.date(2026, 3, 1)


def test_features_of_pushed_policies_and_no_look_ahead(city):
    kg = knowledge.build(city, REFERENCE_DATE)
    events = load_events(city)
    automatic = {n.split(":", 1)[1] for n, d in kg.g.nodes(data=True) if d.get("mode") == "automatic"}
    labels = graded_labels(events, automatic)
    assert len(labels) > 100 and labels["label"].max() == 3
    queries = labels.rename(columns={"pushed_at": "at"})[["enterprise", "policy", "at"]].iloc[:300]
    snapshots: dict = {}
    x = feature_matrix(city, kg, queries, events, snapshots)
    assert x.shape == (300, len(FEATURES))
    assert set(snapshots) == {snapshot_day(a) for a in queries["at"]}
    col = {name: j for j, name in enumerate(FEATURES)}
    assert np.all(x[:, col["mode_automatic"]] == 0)  # automatic measures are not choices
    assert np.isfinite(x[:, col["share_met"]]).all() and np.isfinite(x[:, col["tag_overlap_idf"]]).any()
    # the events at or after each query's time change nothing
    cut = queries["at"].min()
    earlier = events[events["occurred_at"] < cut]
    first = queries[queries["at"] == cut]
    a = feature_matrix(city, kg, first, events, snapshots)
    b = feature_matrix(city, kg, first, earlier, snapshots)
    np.testing.assert_array_equal(np.nan_to_num(a, nan=-1), np.nan_to_num(b, nan=-1))


def test_months_featured_in_forked_workers_give_the_same_matrix(city):
    kg = knowledge.build(city, REFERENCE_DATE)
    events = load_events(city)
    automatic = {n.split(":", 1)[1] for n, d in kg.g.nodes(data=True) if d.get("mode") == "automatic"}
    labels = graded_labels(events, automatic)
    queries = labels.rename(columns={"pushed_at": "at"})[["enterprise", "policy", "at", "rank"]]
    assert queries["at"].map(snapshot_day).nunique() > 3  # the parent's month and at least two forked ones
    said: list[str] = []
    serial = feature_matrix(city, kg, queries, events)
    forked = feature_matrix(city, kg, queries, events, progress=said.append, workers=2)
    np.testing.assert_array_equal(np.nan_to_num(serial, nan=-7), np.nan_to_num(forked, nan=-7))
    assert "2 个进程" in said[0] and len(said) == queries["at"].map(snapshot_day).nunique()
