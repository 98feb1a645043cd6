"""The LightGBM learning-to-rank model, its baselines and one evaluator for all of them.

Queries are contiguous row blocks (``group`` sizes, ``models.labels.query_sizes``); grades 0–3 with the
explicit gains of ``models.labels.LABEL_GAIN``. The evaluator is ours, used alike for the model and every
baseline: NDCG@k with those gains (queries with no positive left out: their NDCG is undefined, and
LightGBM's own counts them as 1), MAP and recall@k over "applied or better" (grade ≥ 2), and catalogue
coverage (the share of the candidate policies that reach someone's top 10). Scores rank within a query
only; they are never compared across enterprises.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from models.features import FEATURES
from models.labels import LABEL_GAIN

RELEVANT = 2  # applied or better: what MAP and recall count
PARAMS = {
    "objective": "lambdarank",
    "n_estimators": 400,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 50,
    "colsample_bytree": 0.9,
    "reg_lambda": 1.0,
    "lambdarank_truncation_level": 13,  # k + 3 for NDCG@10
    "label_gain": list(LABEL_GAIN),
    "deterministic": True,
    "force_row_wise": True,
    "n_jobs": 2,
    "verbose": -1,
}
EARLY_STOPPING = 30


@dataclass
class Split:
    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray  # query sizes, rows contiguous
    policies: np.ndarray  # the policy id of each row (coverage, slices)


def fit(train: Split, valid: Split, seed: int = 1, params: dict | None = None):
    """A ``LGBMRanker`` fitted on ``train``, stopped early on ``valid``'s NDCG@10."""
    import lightgbm as lgb

    chosen = {**PARAMS, **(params or {}), "random_state": seed}
    model = lgb.LGBMRanker(**chosen)
    evaluation = {"eval_set": [(frame(valid.x), valid.y)]}
    if "eval_X" in inspect.signature(model.fit).parameters:  # LightGBM ≥ 4.7 names them so
        evaluation = {"eval_X": (frame(valid.x),), "eval_y": (valid.y,)}
    model.fit(
        frame(train.x),
        train.y,
        group=train.groups,
        eval_group=[valid.groups],
        eval_at=[10],
        callbacks=[lgb.early_stopping(EARLY_STOPPING, verbose=False)],
        **evaluation,
    )
    return model


def frame(x: np.ndarray):
    """Features as a DataFrame with the schema's names (what the model was fitted with)."""
    import pandas as pd

    return pd.DataFrame(x, columns=list(FEATURES))


def score(model, x: np.ndarray) -> np.ndarray:
    return model.predict(frame(x))


def _blocks(groups: np.ndarray):
    start = 0
    for size in groups:
        yield start, start + int(size)
        start += int(size)


def evaluate(scores: np.ndarray, split: Split, k: int = 10) -> dict[str, float]:
    """NDCG@5, NDCG@10, MAP, recall@10 and coverage of ``scores`` on ``split`` (ties: row order)."""
    gains = np.asarray(LABEL_GAIN)
    ndcg = {5: [], 10: []}
    aps, recalls = [], []
    shown: set = set()
    for a, b in _blocks(split.groups):
        y, s = split.y[a:b], scores[a:b]
        order = np.lexsort((np.arange(b - a), -s))
        ranked = y[order]
        shown.update(split.policies[a:b][order][:k].tolist())
        ideal = np.sort(y)[::-1]
        for cut in ndcg:
            disc = 1.0 / np.log2(np.arange(2, min(cut, len(y)) + 2))
            idcg = float((gains[ideal[:cut]] * disc).sum())
            if idcg > 0:
                ndcg[cut].append(float((gains[ranked[:cut]] * disc).sum()) / idcg)
        rel = ranked >= RELEVANT
        if rel.any():
            hits = np.cumsum(rel)
            aps.append(float((hits[rel] / (np.flatnonzero(rel) + 1)).mean()))
            recalls.append(float(rel[:k].sum() / rel.sum()))
    catalogue = len(set(split.policies.tolist())) or 1
    return {
        "ndcg@5": float(np.mean(ndcg[5])) if ndcg[5] else float("nan"),
        "ndcg@10": float(np.mean(ndcg[10])) if ndcg[10] else float("nan"),
        "map": float(np.mean(aps)) if aps else float("nan"),
        "recall@10": float(np.mean(recalls)) if recalls else float("nan"),
        "coverage": len(shown) / catalogue,
        "queries": float(len(ndcg[10])),
    }


def baselines(split: Split, popularity: dict[str, float]) -> dict[str, np.ndarray]:
    """Scores of the non-learned rankers on ``split``: popularity (the training period's take-up of each
    policy), weighted tag overlap, personalised PageRank, and eligible first, by amount."""
    col = {name: j for j, name in enumerate(FEATURES)}
    x = split.x

    def feature(name: str) -> np.ndarray:
        return np.nan_to_num(x[:, col[name]], nan=-1.0)

    eligible = np.nan_to_num(x[:, col["outcome_eligible"]], nan=0.0)
    undetermined = np.nan_to_num(x[:, col["outcome_undetermined"]], nan=0.0)
    amount = np.nan_to_num(x[:, col["log_amount"]], nan=0.0)
    return {
        "popularity": np.array([popularity.get(p, 0.0) for p in split.policies]),
        "tag_overlap": feature("tag_overlap_idf"),
        "ppr": feature("ppr"),
        "eligible_by_amount": eligible * 1e3 + undetermined * 1e2 + amount,
    }


SCORER_LABELS = {
    "ranker": "排序模型（LightGBM）",
    "popularity": "热门度",
    "tag_overlap": "标签重合度",
    "ppr": "个性化 PageRank",
    "eligible_by_amount": "符合者优先、按金额",
}  # the model and the baselines, as analysts read them


def gap_closed(model: float, best_baseline: float) -> float:
    """The share of the gap between the best baseline and a perfect ranking (1.0) that the model closes."""
    return (model - best_baseline) / (1.0 - best_baseline) if best_baseline < 1.0 else 0.0
