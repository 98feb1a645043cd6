"""Communities of taste (models.taste): EM finds communities planted in a toy city from who opens what,
reads a new policy through its topics, counts only what was known before the snapshot's day."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models import taste


def _toy(seed: int = 3, n: int = 3000, pushes: int = 8):
    """Two communities with opposite tastes over 6 policies; the first field half reveals the community."""
    rng = np.random.default_rng(seed)
    community = rng.integers(0, 2, n)
    theta = np.array([[0.7, 0.7, 0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7, 0.7, 0.7]])
    opened = rng.multinomial(pushes, np.full(6, 1 / 6), n).astype(float)
    opened[: n // 10] = 0  # a tenth have no history: the fields alone place them
    viewed = rng.binomial(opened.astype(int), theta[community]).astype(float)
    field = np.where(rng.random(n) < 0.8, community, 1 - community)  # reveals it 80 % of the time
    return community, opened, viewed, field


def test_em_recovers_planted_communities_and_uses_the_fields_without_history():
    community, opened, viewed, field = _toy()
    fitted = taste.fit(opened, viewed, [field], k=2)
    guess = fitted.resp.argmax(1)
    agree = max((guess == community).mean(), (guess != community).mean())  # labels may swap
    assert agree > 0.9
    none = opened.sum(1) == 0
    agree_none = max((guess[none] == community[none]).mean(), (guess[none] != community[none]).mean())
    assert 0.7 < agree_none < 0.9  # the fields' 80 %, no better: nothing else is known of them
    again = taste.fit(opened, viewed, [field], k=2)
    assert np.array_equal(again.resp, fitted.resp)  # deterministic with the seed


def test_preferences_follow_the_community_and_read_new_policies_through_facets():
    community, opened, viewed, field = _toy()
    facets = np.array([[1, 0], [1, 0], [1, 0], [0, 1], [0, 1], [0, 1]], dtype=float)  # topic A: 0–2, B: 3–5
    opened[:, 5] = np.where(np.arange(len(opened)) < 5, 1, 0)  # policy 5 is new: pushed 5 times in all
    viewed[:, 5] = np.minimum(viewed[:, 5], opened[:, 5])
    fitted = taste.fit(opened, viewed, [field], k=2)
    pref = taste.preferences(fitted, opened, viewed, facets)
    likes_a = community == 0
    cv, cf = pref["community_view_logit"], pref["community_facet_logit"]
    assert cv[likes_a, 0].mean() > 1 > -1 > cv[~likes_a, 0].mean()
    assert np.isnan(cv[:, 5]).all()  # opened too rarely to be read directly …
    assert cf[~likes_a, 5].mean() > 1 > -1 > cf[likes_a, 5].mean()  # … but its topic B tells
    assert np.isfinite(pref["firm_view_lift"]).all()


def test_counts_before_see_only_rounds_opened_and_views_made_before_the_day():
    t = pd.Timestamp("2026-03-01", tz="UTC")
    ev = pd.DataFrame(
        [
            ("E1", "a", "push", t - pd.Timedelta(days=9), {"round": 1}),
            ("E1", "b", "push", t - pd.Timedelta(days=9), {"round": 1}),
            ("E1", "b", "view", t - pd.Timedelta(days=8), {}),  # opens round 1: a counts as not viewed
            ("E2", "a", "push", t - pd.Timedelta(days=9), {"round": 1}),  # never opened: says nothing
            ("E3", "a", "push", t - pd.Timedelta(days=2), {"round": 1}),
            ("E3", "a", "view", t + pd.Timedelta(days=1), {}),  # after the day: unknown then
        ],
        columns=["enterprise", "policy", "kind", "occurred_at", "payload"],
    )
    outcomes = taste.push_outcomes(ev)
    firms, policies = {"E1": 0, "E2": 1, "E3": 2}, {"a": 0, "b": 1}
    opened, viewed = taste.counts_before(outcomes, t, firms, policies)
    assert opened.tolist() == [[1, 1], [0, 0], [0, 0]] and viewed.tolist() == [[0, 1], [0, 0], [0, 0]]
    opened, viewed = taste.counts_before(outcomes, t + pd.Timedelta(days=2), firms, policies)
    assert opened[2].tolist() == [1, 0] and viewed[2].tolist() == [1, 0]
