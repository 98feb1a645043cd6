"""How good the policy tagger is, measured on texts of issuers and regions it did not train on, beside two
baselines that learn nothing from the text (docs/policy-tagger.md; ``bench/eval_policy_tagger.py``).

- held-out issuers: the Beijing cards in folds that hold out whole issuing bodies (GroupKFold); each fold's
  model calibrates its thresholds on its own training cards only (inner folds, again by issuer);
- cross-source: trained on all Beijing cards, tested on the Shenzhen documents and the Shenzhen measures.

Baselines: the keyword lexicon (a topic whose keywords occur at least k times; k chosen on the training
data) and the most frequent topics of the training data (every text gets the m most common topics).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from models import policy_tagger as pt
from models.policy_data import TOPIC_CODES, Example
from models.policy_dictionary import keyword_counts
from models.policy_metrics import Scores, score

__all__ = ["Scores", "score", "held_out_issuers", "cross_source"]

Predictor = Callable[[Sequence[Example]], list[list[str]]]


# -- predictors -------------------------------------------------------------------------------------------------


def keyword_predictor(train: Sequence[Example]) -> Predictor:
    """The lexicon baseline: topics with ≥ k keyword hits, k the best of 1–5 on the training data."""
    counts = [keyword_counts(f"{e.title}\n{e.text}") for e in train]

    def predict_with(k: int, cs) -> list[list[str]]:
        out = []
        for c in cs:
            chosen = [t for t, n in c.items() if n >= k]
            out.append(chosen or [pt.FALLBACK])
        return out

    truth = [e.topics for e in train]
    best = max(range(1, 6), key=lambda k: (score(truth, predict_with(k, counts)).micro["f1"], -k))

    def predict(examples: Sequence[Example]) -> list[list[str]]:
        return predict_with(best, [keyword_counts(f"{e.title}\n{e.text}") for e in examples])

    predict.k = best
    return predict


def frequent_predictor(train: Sequence[Example]) -> Predictor:
    """The prior baseline: the m most frequent training topics for every text (m: the mean label count)."""
    freq = Counter(t for e in train for t in e.topics)
    m = max(1, round(np.mean([len(e.topics) for e in train])))
    top = [t for t, _ in sorted(freq.items(), key=lambda kv: (-kv[1], TOPIC_CODES.index(kv[0])))[:m]]
    return lambda examples: [list(top) for _ in examples]


def model_predictor(train: Sequence[Example], params=None) -> Predictor:
    tagger = pt.fit(train, params)

    def predict(examples: Sequence[Example]) -> list[list[str]]:
        if not examples:
            return []
        rows = tagger.scores([(e.title, e.text) for e in examples])
        return [tagger.decide(r) for r in rows]

    predict.tagger = tagger
    return predict


PREDICTORS = {"model": model_predictor, "keywords": keyword_predictor, "frequent": frequent_predictor}


# -- protocols ---------------------------------------------------------------------------------------------------


def held_out_issuers(examples: Sequence[Example], folds: int = 5, params=None, progress=None) -> dict[str, Scores]:
    """Each predictor's out-of-fold predictions over folds that hold out whole issuer groups."""
    from sklearn.model_selection import GroupKFold

    groups = [e.group for e in examples]
    preds = {name: [None] * len(examples) for name in PREDICTORS}
    splits = list(GroupKFold(n_splits=folds).split(np.arange(len(examples)), groups=groups))
    for k, (train, test) in enumerate(splits, 1):
        tr, te = [examples[i] for i in train], [examples[i] for i in test]
        for name, make in PREDICTORS.items():
            p = make(tr, params) if name == "model" else make(tr)
            for i, labels in zip(test, p(te)):
                preds[name][i] = labels
        if progress:
            progress(k, len(splits), sorted({e.group for e in te}))
    truth = [e.topics for e in examples]
    return {name: score(truth, p) for name, p in preds.items()}


def cross_source(train: Sequence[Example], test: Sequence[Example], params=None) -> dict[str, Scores]:
    """Trained on one source, scored on another."""
    truth = [e.topics for e in test]
    out = {}
    for name, make in PREDICTORS.items():
        p = make(train, params) if name == "model" else make(train)
        out[name] = score(truth, p(test))
    return out


def split_folds(examples: Sequence[Example], folds: int = 5) -> list[list[str]]:
    """Which issuer groups each held-out fold holds (for the report)."""
    from sklearn.model_selection import GroupKFold

    groups = [e.group for e in examples]
    out = []
    for _, test in GroupKFold(n_splits=folds).split(np.arange(len(examples)), groups=groups):
        out.append(sorted({groups[i] for i in test}))
    return out
