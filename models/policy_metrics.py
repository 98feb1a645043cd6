"""Multi-label scores of topic predictions: micro and macro F1, and per topic precision, recall and F1."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from models.policy_data import TOPIC_CODES


@dataclass
class Scores:
    micro: dict[str, float]  # precision, recall, f1
    macro_f1: float  # over topics with at least one true example in the test set
    per_topic: dict[str, dict[str, float]]  # precision, recall, f1, support, predicted
    n: int
    truth: list = field(default_factory=list, repr=False)
    predicted: list = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        return {"n": self.n, "micro": self.micro, "macro_f1": self.macro_f1, "per_topic": self.per_topic}


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def score(truth: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> Scores:
    per, TP, FP, FN = {}, 0, 0, 0
    for t in TOPIC_CODES:
        tp = sum(t in a and t in b for a, b in zip(truth, predicted))
        fp = sum(t not in a and t in b for a, b in zip(truth, predicted))
        fn = sum(t in a and t not in b for a, b in zip(truth, predicted))
        p, r, f = _prf(tp, fp, fn)
        per[t] = {"precision": p, "recall": r, "f1": f, "support": tp + fn, "predicted": tp + fp}
        TP, FP, FN = TP + tp, FP + fp, FN + fn
    p, r, f = _prf(TP, FP, FN)
    present = [per[t]["f1"] for t in TOPIC_CODES if per[t]["support"] > 0]
    macro = float(np.mean(present)) if present else 0.0
    return Scores({"precision": p, "recall": r, "f1": f}, macro, per, len(truth), list(truth), list(predicted))


def micro_f1(truth: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> float:
    tp = sum(len(set(a) & set(b)) for a, b in zip(truth, predicted))
    n_pred, n_true = sum(len(set(b)) for b in predicted), sum(len(set(a)) for a in truth)
    return 2 * tp / (n_pred + n_true) if n_pred + n_true else 0.0


def paired_bootstrap(a: Scores, b: Scores, rounds: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """The micro-F1 difference a − b on the same texts, and its 90% interval over texts resampled with
    replacement: how much of a difference is the luck of which texts were in the test."""
    rng = np.random.default_rng(seed)
    n = len(a.truth)
    diffs = []
    for _ in range(rounds):
        idx = rng.integers(0, n, n)
        truth = [a.truth[i] for i in idx]
        diffs.append(micro_f1(truth, [a.predicted[i] for i in idx]) - micro_f1(truth, [b.predicted[i] for i in idx]))
    low, high = np.percentile(diffs, [5, 95])
    return a.micro["f1"] - b.micro["f1"], float(low), float(high)
