"""The policy tagger: a policy's title and text to its topics (a trained model) and its targets (a dictionary).

Model (docs/policy-tagger.md): TF-IDF over jieba word unigrams and bigrams and over character 2–4-grams of
the normalised text, plus the topic keyword counts, into one logistic regression per topic (one-vs-rest,
balanced class weights). Each topic's raw score is calibrated (Platt scaling) and given its own decision
threshold, both fitted on out-of-fold scores of the training set, with folds that hold out whole issuers:
thresholds chosen on the data a model was fitted to would be far too confident. A topic with too few
positive examples gets no model (its score is 0): the tagger says it cannot tell rather than guess.

``topic:other`` is the fallback: it is assigned when no other topic reaches its threshold.

Everything is deterministic for a seed, and a model's version is a hash of its training data, parameters,
code and library versions: the same inputs give the same version and the same scores.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import sparse

from models.policy_data import TOPIC_CODES, Example
from models.policy_dictionary import TOPIC_KEYWORDS, keyword_counts, matcher
from models.policy_metrics import score
from models.policy_text import fold_digits, normalize, unquote, word_ngrams

FORMAT = 1  # of the saved file
FALLBACK = "other"
LEXICON_TOPICS = tuple(TOPIC_KEYWORDS)

PARAMS = {
    "seed": 20240601,
    "C": 1.0,  # inverse regularisation of each topic's linear SVM
    "word_min_df": 2,
    "char_ngrams": [2, 4],
    "char_min_df": 2,
    "char_max_features": 60000,
    "text_weight": 0.3,  # scale of each unit-norm TF-IDF block (smaller: more regularised)
    "lexicon_weight": 1.0,  # scale of the keyword features
    "inner_folds": 5,  # out-of-fold scores for calibration and thresholds
    "min_positives": 5,  # fewer positive examples: no classifier for the topic, its keyword evidence alone
    "min_keyword_positives": 2,  # fewer still: the topic is never assigned (one example calibrates nothing)
}

_CODE_FILES = ("policy_text.py", "policy_dictionary.py", "policy_data.py", "policy_metrics.py", "policy_tagger.py")


def document(title: str, text: str) -> str:
    """What the model reads: the title twice (it says what the policy is for), then the text, normalised
    and unquoted (digits are folded by the TF-IDF blocks, not here: the keywords include 5G)."""
    title = unquote(normalize(title))
    return f"{title}\n{title}\n{unquote(normalize(text))}"


@lru_cache(maxsize=8192)
def _cached_words(doc: str) -> tuple[str, ...]:
    return tuple(word_ngrams(doc))


def cached_word_ngrams(doc: str) -> tuple[str, ...]:
    """word_ngrams, memoised: cross-validation vectorises the same documents many times."""
    return _cached_words(doc)


def _lexicon(docs: Sequence[str]) -> np.ndarray:
    """Per topic: log(1 + keyword hits in the document), then per topic whether the title has one."""
    rows = []
    for d in docs:
        title = d.split("\n", 1)[0]
        body, head = keyword_counts(d), keyword_counts(title)
        rows.append([np.log1p(body[t]) for t in LEXICON_TOPICS] + [float(head[t] > 0) for t in LEXICON_TOPICS])
    return np.array(rows, dtype=float)


def lexicon_columns(topic: str) -> list[int]:
    """The keyword features a topic's classifier sees: its own two (hits, title hit); the fallback sees all
    (it is what no topic's words describe). Other topics' keywords are left out: learnt from ~100 texts,
    their weights fit the training issuers, not the topic."""
    if topic in LEXICON_TOPICS:
        k = LEXICON_TOPICS.index(topic)
        return [k, k + len(LEXICON_TOPICS)]
    return list(range(2 * len(LEXICON_TOPICS)))


@dataclass
class Block:
    """A set of documents as features: the TF-IDF blocks (shared by all topics) and the keyword features."""

    text: sparse.csr_matrix
    lexicon: np.ndarray

    def design(self, columns: list[int], lexicon_weight: float):
        lex = sparse.csr_matrix(lexicon_weight * self.lexicon[:, columns])
        return sparse.hstack([self.text, lex], format="csr")

    def rows(self, idx) -> Block:
        return Block(self.text[idx], self.lexicon[idx])


class Features:
    """Word and character TF-IDF (fitted on one training set) and the keyword features."""

    def __init__(self, params: Mapping):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.words = TfidfVectorizer(
            analyzer=cached_word_ngrams, min_df=params["word_min_df"], sublinear_tf=True, dtype=np.float64
        )
        lo, hi = params["char_ngrams"]
        self.chars = TfidfVectorizer(
            analyzer="char",
            ngram_range=(lo, hi),
            preprocessor=fold_digits,
            min_df=params["char_min_df"],
            max_features=params["char_max_features"],
            sublinear_tf=True,
            lowercase=False,
            dtype=np.float64,
        )
        self.text_weight = params["text_weight"]

    def fit_transform(self, docs: Sequence[str]) -> Block:
        return self._block(self.words.fit_transform(docs), self.chars.fit_transform(docs), docs)

    def transform(self, docs: Sequence[str]) -> Block:
        return self._block(self.words.transform(docs), self.chars.transform(docs), docs)

    def _block(self, w, c, docs) -> Block:
        return Block(sparse.hstack([self.text_weight * w, self.text_weight * c], format="csr"), _lexicon(docs))


def keyword_evidence(block: Block, topic: str) -> np.ndarray:
    """log(1 + the topic's keyword hits); for the fallback, of all topics' hits (few hits: likely other)."""
    n = len(LEXICON_TOPICS)
    if topic in LEXICON_TOPICS:
        return block.lexicon[:, LEXICON_TOPICS.index(topic)]
    return np.log1p(np.expm1(block.lexicon[:, :n]).sum(axis=1))


@dataclass
class TopicModel:
    """One topic's scorer: p = 1 / (1 + exp(-(a·s + k·w + b))), s the classifier's score (0 without one),
    w the keyword evidence; a, k, b fitted on out-of-fold scores (calibration that also weighs the explicit
    words against the learnt ones), and the threshold with the best out-of-fold F1."""

    classifier: object | None  # None: too few positives to learn from the text
    columns: list[int] = field(default_factory=list)  # the keyword features the classifier reads
    a: float = 0.0
    k: float = 0.0
    b: float = -10.0
    threshold: float = 2.0  # over 1: never assigned (too little evidence)
    positives: int = 0
    oof_f1: float | None = None  # the F1 of the chosen threshold on the out-of-fold scores

    def scores(self, block: Block, topic: str, lexicon_weight: float) -> np.ndarray:
        s = np.zeros(block.lexicon.shape[0])
        if self.classifier is not None:
            s = self.classifier.decision_function(block.design(self.columns, lexicon_weight))
        z = self.a * s + self.k * keyword_evidence(block, topic) + self.b
        return 1.0 / (1.0 + np.exp(-z))


@dataclass
class PolicyTagger:
    version: str
    params: dict
    features: Features
    topics: dict[str, TopicModel]
    trained_on: dict = field(default_factory=dict)  # examples by source, labels by topic

    def scores(self, docs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Calibrated scores, one row per (title, text), one column per topic (TOPIC_CODES order)."""
        block = self.features.transform([document(t, x) for t, x in docs])
        w = self.params["lexicon_weight"]
        return np.column_stack([self.topics[t].scores(block, t, w) for t in TOPIC_CODES])

    def decide(self, row: np.ndarray) -> list[str]:
        """The topics of one row of scores: each at or over its threshold; none of them, the fallback."""
        chosen = [t for t, s in zip(TOPIC_CODES, row) if t != FALLBACK and s >= self.topics[t].threshold]
        return chosen or [FALLBACK]

    def tag(self, docs: Sequence[tuple[str, str]], taxonomy: Mapping | None = None) -> list[dict]:
        """``{topics, scores, targets}`` per (title, text): topics and scores as ``topic:<code>`` tag ids,
        targets the dictionary's mentions (when a taxonomy is given)."""
        out = []
        rows = self.scores(docs) if docs else np.zeros((0, len(TOPIC_CODES)))
        find = matcher(taxonomy).find if taxonomy is not None else None
        for (title, text), row in zip(docs, rows):
            out.append(
                {
                    "topics": [f"topic:{t}" for t in self.decide(row)],
                    "scores": {f"topic:{t}": round(float(s), 4) for t, s in zip(TOPIC_CODES, row)},
                    "targets": find(f"{title}\n{text}") if find else [],
                }
            )
        return out

    def thresholds(self) -> dict[str, float | None]:
        """Each topic's threshold; None for a topic the tagger never assigns (no positive example)."""
        return {t: (m.threshold if m.threshold <= 1.0 else None) for t, m in self.topics.items()}


# -- training -------------------------------------------------------------------------------------------------


def version_of(examples: Sequence[Example], params: Mapping) -> str:
    """A hash of what decides the model: data, parameters, this code and the libraries it runs on."""
    import jieba
    import sklearn

    here = Path(__file__).parent
    code = hashlib.sha256(b"".join((here / f).read_bytes() for f in _CODE_FILES)).hexdigest()
    payload = {
        "format": FORMAT,
        "params": dict(params),
        "code": code,
        "libraries": {"scikit-learn": sklearn.__version__, "jieba": jieba.__version__, "numpy": np.__version__},
        "examples": [
            [e.id, e.source, e.group, e.title, e.text, sorted((t, v) for t, v in e.labels.items())] for e in examples
        ],
    }
    blob = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    return "pt-" + hashlib.sha256(blob).hexdigest()[:12]


def _classifier(params: Mapping):
    from sklearn.svm import LinearSVC

    return LinearSVC(C=params["C"], class_weight="balanced", random_state=params["seed"], max_iter=5000)


def _folds(groups: Sequence[str], n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds that hold out whole groups (GroupKFold); with one group, plain interleaved folds."""
    from sklearn.model_selection import GroupKFold, KFold

    idx = np.arange(len(groups))
    distinct = len(set(groups))
    if distinct >= 2:
        return list(GroupKFold(n_splits=min(n, distinct)).split(idx, groups=groups))
    if len(groups) < 2:
        return []
    return list(KFold(n_splits=min(n, len(groups))).split(idx))


def _label_matrix(examples: Sequence[Example]) -> np.ndarray:
    """+1 / 0 per known label, -1 unknown."""
    return np.array([[(-1 if t not in e.labels else int(e.labels[t])) for t in TOPIC_CODES] for e in examples])


def _fit_topic(block: Block, y: np.ndarray, topic: str, params: Mapping):
    clf = _classifier(params)
    clf.fit(block.design(lexicon_columns(topic), params["lexicon_weight"]), y)
    return clf


def out_of_fold_scores(examples: Sequence[Example], params: Mapping) -> np.ndarray:
    """Raw decision scores of each example from models that did not see its group (NaN: no model)."""
    docs = [document(e.title, e.text) for e in examples]
    Y = _label_matrix(examples)
    out = np.full(Y.shape, np.nan)
    for train, test in _folds([e.group for e in examples], params["inner_folds"]):
        feats = Features(params)
        tr = feats.fit_transform([docs[i] for i in train])
        te = feats.transform([docs[i] for i in test])
        for j, topic in enumerate(TOPIC_CODES):
            known = np.flatnonzero(Y[train, j] >= 0)
            y = Y[train, j][known]
            if y.sum() < 1 or (y == 0).sum() < 1:
                continue
            clf = _fit_topic(tr.rows(known), y, topic, params)
            out[test, j] = clf.decision_function(te.design(lexicon_columns(topic), params["lexicon_weight"]))
    return out


def _calibrate(features: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Platt scaling over one or more scores: the coefficients and the intercept (last)."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1.0, solver="lbfgs", random_state=seed)
    lr.fit(features, y)
    return np.concatenate([lr.coef_[0], lr.intercept_])


def best_threshold(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The threshold with the best F1 on (p, y), and that F1. Candidates lie between consecutive scores;
    of the best ones the middle of the widest run is taken, so the cut sits in the gap, not on an example."""
    cuts = np.unique(np.concatenate([[0.0, 1.0], p]))
    mids = (cuts[:-1] + cuts[1:]) / 2
    positives = float((y == 1).sum())
    f1s = []
    for m in mids:
        pred = p >= m
        tp = float(np.sum(pred & (y == 1)))
        f1s.append(0.0 if tp == 0 else 2 * tp / (pred.sum() + positives))
    f1s = np.array(f1s)
    top = float(f1s.max())
    if top <= 0:
        return 0.5, 0.0
    best, width, i = 0.5, -1.0, 0
    while i < len(mids):
        if f1s[i] < top - 1e-12:
            i += 1
            continue
        j = i
        while j + 1 < len(mids) and f1s[j + 1] >= top - 1e-12:
            j += 1
        lo, hi = cuts[i], cuts[j + 1]  # every threshold in (lo, hi] gives the same predictions
        if hi - lo > width:
            width, best = hi - lo, (lo + hi) / 2
        i = j + 1
    return float(best), top


def fit(examples: Sequence[Example], params: Mapping | None = None) -> PolicyTagger:
    """Train on labelled examples (unknown labels skipped per topic)."""
    params = {**PARAMS, **(params or {})}
    version = version_of(examples, params)
    docs = [document(e.title, e.text) for e in examples]
    Y = _label_matrix(examples)
    oof = out_of_fold_scores(examples, params)
    feats = Features(params)
    block = feats.fit_transform(docs)
    topics: dict[str, TopicModel] = {}
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))
    held_out = np.full(Y.shape, np.nan)  # each example's calibrated out-of-fold score
    for j, t in enumerate(TOPIC_CODES):
        known = Y[:, j] >= 0
        y = Y[known, j]
        pos, neg = int(y.sum()), int((y == 0).sum())
        w = keyword_evidence(block, t)
        if pos < params["min_keyword_positives"] or neg < 1:  # too little to tell the topic apart by
            topics[t] = TopicModel(None, positives=pos)
            continue
        seen = known & ~np.isnan(oof[:, j])
        ys = Y[seen, j]
        if pos >= params["min_positives"] and neg >= 2 and ys.sum() >= 1 and (ys == 0).sum() >= 1:
            clf = _fit_topic(block.rows(np.flatnonzero(known)), y, t, params)
            a, k, b = _calibrate(np.column_stack([oof[seen, j], w[seen]]), ys, params["seed"])
            held_out[seen, j] = sigmoid(a * oof[seen, j] + k * w[seen] + b)
            thr, f1 = best_threshold(held_out[seen, j], ys)
            topics[t] = TopicModel(clf, lexicon_columns(t), a, k, b, thr, pos, f1)
        else:  # too few examples to learn from the text: the keyword evidence alone, calibrated
            k, b = _calibrate(w[known].reshape(-1, 1), y, params["seed"])
            held_out[known, j] = sigmoid(k * w[known] + b)
            thr, f1 = best_threshold(held_out[known, j], y)
            topics[t] = TopicModel(None, [], 0.0, k, b, thr, pos, f1)
    tagger = PolicyTagger(version, params, feats, topics)
    full = [i for i, e in enumerate(examples) if len(e.labels) == len(TOPIC_CODES)]
    oof_scores = score(
        [examples[i].topics for i in full], [tagger.decide(np.nan_to_num(held_out[i], nan=0.0)) for i in full]
    )
    tagger.trained_on = {
        "examples": len(examples),
        "sources": {s: sum(e.source == s for e in examples) for s in sorted({e.source for e in examples})},
        "positives": {t: int((Y[:, j] == 1).sum()) for j, t in enumerate(TOPIC_CODES)},
        "labels": int((Y >= 0).sum()),
        # out-of-fold by issuer on the training set itself, thresholds chosen on the same scores: optimistic
        "out_of_fold": {"micro_f1": oof_scores.micro["f1"], "macro_f1": oof_scores.macro_f1, "n": len(full)},
    }
    return tagger


# -- saved models ---------------------------------------------------------------------------------------------

CURRENT = "policy-tagger.current"


def path_of(folder: Path, version: str) -> Path:
    return Path(folder) / f"policy-tagger-{version}.joblib"


def save(tagger: PolicyTagger, folder: Path) -> Path:
    """One file per version, and a pointer to the one in use."""
    import joblib

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = path_of(folder, tagger.version)
    tmp = path.with_suffix(".tmp")
    joblib.dump({"format": FORMAT, "tagger": tagger}, tmp)
    tmp.replace(path)
    (folder / CURRENT).write_text(tagger.version + "\n", encoding="utf-8")
    return path


def current_version(folder: Path) -> str | None:
    pointer = Path(folder) / CURRENT
    if not pointer.exists():
        return None
    return pointer.read_text(encoding="utf-8").strip() or None


def load(folder: Path, version: str | None = None) -> PolicyTagger:
    """The saved tagger of ``version`` (default: the one in use); FileNotFoundError if there is none."""
    import joblib

    version = version or current_version(folder)
    if version is None:
        raise FileNotFoundError(Path(folder) / CURRENT)
    path = path_of(folder, version)
    data = joblib.load(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} 不是本版本可读的政策标注模型（格式 {FORMAT}）")
    return data["tagger"]
