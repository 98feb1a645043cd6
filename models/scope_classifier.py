"""Business scope (经营范围) → GB/T 4754-2017 大类: which industry a firm's licence text says it is in.

Why: 政策找人 needs a firm's industry, and the recorded one is sometimes missing or wrong (a software
house registered as a restaurant gets restaurant policies). The model reads the scope and gives the
three likeliest 大类 with calibrated probabilities; :func:`flag` marks a firm whose scope strongly
disagrees with its recorded class. It only tags and flags: no payout ever depends on it.

Training data (docs/scope-classifier.md): the standard's own text below each 大类 (names and
descriptions of 大类, 中类 and 小类, without the "指…" and "不包括…" boilerplate) and generated scopes
passed in by the caller (``service.scopes`` gives the generator's; this package never imports the
service), plus a noisy copy of each scope with its items shuffled, reworded and mixed with items common
to many trades, as real licences are. Features: TF-IDF over jieba words (1–2-grams), characters
(1–3-grams) and, apart, the first item of each part (the main business). Classifier: a linear SVM
(hinge loss, SGD) whose scores are calibrated by temperature scaling on out-of-fold scores, the folds
holding out whole 中类; those out-of-fold probabilities are also the held-out data that
:func:`train` reports on and picks the flag thresholds from. Deterministic for a seed; the version is
a hash of the training data, the parameters and this file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from graph import industries

FILE_PREFIX = "scope-classifier-"
FILE_SUFFIX = ".joblib"
MAX_FALSE_FLAG = 0.01  # of consistent held-out firms flagged at most (real licences: ~3× more, see docs)
GENERIC_MIN_DIVISIONS = 4  # an item listed under this many 大类 says little about any of them
# The flag's thresholds are picked from these grids (0: that condition is off), see choose_thresholds.
LOW_DIVISION_GRID = (0.0, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3)  # P(recorded 大类) below this …
LOW_SECTION_GRID = (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.02, 0.05, 0.1)  # … or P(its 门类) below this …
HIGH_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # … and P(top 大类) at least this: flagged

# Legal wording every licence carries, and the labels of its two parts: no trade in them.
_BRACKETS = re.compile(r"[（(【\[]([^（()）【】\[\]]*)[)）】\]]")
_LEGAL_WORDS = re.compile(r"依法|批准|许可|审批|不含|除外|^除|不得|须经|凭|具体经营|以相关部门|不涉及|涉及")
_LABELS = re.compile(r"(?:许可经营项目|一般经营项目|许可项目|一般项目|经营范围|主营|兼营)[:：]")
_NONE_ITEM = re.compile(r"(许可经营项目|一般经营项目)[:：]?无[。；;，,]?")
_SPLIT = re.compile(r"[；;。，,\n\r]+")
# The standard's descriptions: "指…", "本门类包括 01～05 大类", "不包括…" (which names other classes).
_SECTION_NOTE = re.compile(r"本门类包括[^，。；]*")
_EXCLUDES = re.compile(r"[，；。]?\s*(但)?不包括[^；。]*")
_LEADS = re.compile(r"^(指|包括|还包括|也包括|含)")
_WORD = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")


def clean(text: str) -> str:
    """The trade in a scope: the legal wording and the 一般项目/许可项目 labels taken out, items kept."""
    text = _NONE_ITEM.sub("；", str(text or ""))
    previous = None
    while previous != text:  # innermost brackets first: "（含凉菜、不含裱花蛋糕）"
        previous = text
        text = _BRACKETS.sub(lambda m: "；" if _LEGAL_WORDS.search(m.group(1)) else f"（{m.group(1)}）", text)
    text = _LABELS.sub("；", text)
    return "；".join(items(text)) if text.strip() else ""


def items(text: str) -> list[str]:
    """The items of a scope, in order (split at ；。，, not at 、 which joins one item's parts)."""
    return [i.strip(" 　、：:") for i in _SPLIT.split(text) if _WORD.search(i)]


def lead(text: str) -> str:
    """The first item of each part of a scope (许可项目, 一般项目; the whole text when unlabelled): where
    licences put the main business (主营项目)."""
    firsts = [items(clean(part))[:1] for part in _LABELS.split(_NONE_ITEM.sub("；", str(text or "")))]
    return "；".join(first[0] for first in firsts if first)


def clean_description(text: str) -> str:
    """A standard description without its boilerplate and without what it excludes."""
    text = _EXCLUDES.sub("", _SECTION_NOTE.sub("", text or ""))
    parts = [_LEADS.sub("", p.strip()) for p in re.split(r"[；。]", text)]
    return "；".join(p for p in parts if _WORD.search(p))


def division_of(code: str) -> str:
    """The 大类 of an industry code at or below 大类 level (3911, C3911, C391 → C39)."""
    canon = industries().canonical(code)
    if len(canon) < 3:
        raise ValueError(f"行业代码 {code} 是门类，不是大类或更细的代码")
    return canon[:3]


def divisions() -> list[tuple[str, str]]:
    """(code, name) of the 97 大类, in code order."""
    return sorted((d.code, d.name) for d in industries().at_level(1))


def generic_items(scopes: Iterable[tuple[str, str]]) -> list[str]:
    """Items listed under at least GENERIC_MIN_DIVISIONS 大类 (货物进出口, 技术服务…): real licences add them
    to almost any trade, so training copies get some too."""
    seen: dict[str, set[str]] = {}
    for text, code in scopes:
        for item in items(clean(text)):
            seen.setdefault(item, set()).add(code[:3])
    return sorted(i for i, d in seen.items() if len(d) >= GENERIC_MIN_DIVISIONS)


# Wordings that real licences use for the same item: the 2021 catalogue says 销售 for wholesale and
# retail alike, older licences 生产 for 制造.
REWRITES = (("批发", "销售"), ("零售", "销售"), ("制造", "生产"))


def augment(scopes: Sequence[tuple[str, str]], generic: Sequence[str], rng: np.random.Generator, copies: int):
    """``copies`` noisy versions of each ``(scope, code)``: items shuffled, one maybe dropped, 1–3 generic
    items added, and half of them in the other wording (REWRITES). Codes are kept as given."""
    out = []
    for text, code in scopes:
        own = items(clean(text))
        for _ in range(copies):
            picked = own[:1] + [own[1:][i] for i in rng.permutation(len(own) - 1)]  # the main item stays first
            if len(picked) > 2 and rng.random() < 0.5:
                picked.pop()
            if rng.random() < 0.5:
                for old, new in REWRITES:
                    picked = [i.replace(old, new) for i in picked]
            if generic:
                extra = rng.choice(len(generic), size=min(len(generic), int(rng.integers(1, 4))), replace=False)
                for i in extra:
                    picked.insert(int(rng.integers(1, len(picked) + 1)), generic[int(i)])
            out.append(("；".join(picked), code))
    return out


@dataclass(frozen=True)
class TrainingSet:
    """Texts with their 大类, the code each came from (小类, 中类 or 大类: for grouped folds) and whether it is
    a scope (generated, or a noisy copy) rather than the standard's own text."""

    texts: list[str]
    labels: list[str]
    origins: list[str]
    copies: list[bool]


def training_set(generated: Sequence[tuple[str, str]], *, seed: int = 0, copies: int = 1) -> TrainingSet:
    """The standard's documents, the generated scopes (``(scope, industry code)`` pairs) cleaned, and
    ``copies`` noisy copies of each. Deterministic for ``seed``."""
    tree = industries()
    scopes = sorted({(clean(t), tree.canonical(c)) for t, c in generated})
    scopes = [(t, c) for t, c in scopes if t]
    standard = [(t, c) for t, c in standard_documents()]
    noisy = augment(scopes, generic_items(scopes), np.random.default_rng(seed), copies)
    docs = standard + scopes + noisy
    return TrainingSet(
        [t for t, _ in docs],
        [c[:3] for _, c in docs],
        [c for _, c in docs],
        [False] * (len(standard) + len(scopes)) + [True] * len(noisy),
    )


def fold_groups(origins: Sequence[str]) -> list[str]:
    """The group of each document for cross-validation: its 中类 where its 大类 has several (so a fold holds
    out whole 中类, as a real scope names things no text of the standard does), else its 小类 where the
    中类 has several, else the document alone. Every 大类 thus keeps data in every training fold."""
    tree = industries()
    groups_per_division: dict[str, int] = {}
    classes_per_group: dict[str, int] = {}
    for node in tree:
        if node.level == 2:
            groups_per_division[node.code[:3]] = groups_per_division.get(node.code[:3], 0) + 1
        if node.level == 3:
            classes_per_group[node.code[:4]] = classes_per_group.get(node.code[:4], 0) + 1
    out = []
    for i, code in enumerate(origins):
        if len(code) >= 4 and groups_per_division[code[:3]] >= 2:
            out.append(code[:4])
        elif len(code) == 5 and classes_per_group[code[:4]] >= 2:
            out.append(code)
        else:
            out.append(f"#{i}")
    return out


def standard_documents() -> list[tuple[str, str]]:
    """(text, code) from the standard: every name and cleaned description at or below each 大类."""
    out = []
    for node in sorted(industries(), key=lambda n: n.code):
        if node.level == 0:
            continue
        out.append((node.name, node.code))
        described = clean_description(node.description)
        if described:
            out.append((described, node.code))
    return out


# --------------------------------------------------------------------------- the estimator


@cache
def _tokenizer():
    """A jieba tokenizer of our own (quiet; words another module adds to jieba's global one do not change ours)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.initialize()
    return tok


def words(text: str) -> list[str]:
    """jieba words of a cleaned scope, punctuation left out."""
    return [w for w in _tokenizer().lcut(text, HMM=False) if _WORD.search(w)]


def _softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(scores: np.ndarray, gold: np.ndarray) -> float:
    """The temperature T minimising the log loss of softmax(scores / T) (Guo et al. 2017)."""
    from scipy.optimize import minimize_scalar

    rows = np.arange(len(gold))

    def loss(log_t: float) -> float:
        return float(-np.mean(np.log(_softmax(scores, np.exp(log_t))[rows, gold] + 1e-12)))

    return float(np.exp(minimize_scalar(loss, bounds=(-6.0, 4.0), method="bounded").x))


class ScopeClassifier(ClassifierMixin, BaseEstimator):
    """Scope text → 大类 probabilities (a scikit-learn estimator: fit, predict, predict_proba).

    A linear SVM over word and character TF-IDF; its scores are calibrated by temperature scaling
    fitted on out-of-fold scores (folds grouped by ``groups`` when given, see :func:`fold_groups`).
    ``oof_proba_`` keeps those out-of-fold probabilities after ``fit`` (``train`` uses and drops them)."""

    def __init__(
        self,
        *,
        word_ngrams=(1, 2),
        char_ngrams=(1, 3),
        lead_weight=1.0,
        alpha=1e-4,
        epochs=15,
        folds=3,
        seed=0,
        n_jobs=None,
    ):
        self.word_ngrams = word_ngrams
        self.lead_weight = lead_weight
        self.char_ngrams = char_ngrams
        self.alpha = alpha
        self.epochs = epochs
        self.folds = folds
        self.seed = seed
        self.n_jobs = n_jobs

    def _features(self, texts, fit: bool):
        cleaned = [clean(t) for t in texts]
        leads = [lead(t) for t in texts]
        if fit:
            self.words_ = TfidfVectorizer(
                tokenizer=words,
                token_pattern=None,
                lowercase=False,
                ngram_range=tuple(self.word_ngrams),
                sublinear_tf=True,
                dtype=np.float32,
            )
            self.chars_ = self._chars()
            self.leads_ = self._chars()
            blocks = [self.words_.fit_transform(cleaned), self.chars_.fit_transform(cleaned)]
            blocks.append(self.leads_.fit_transform(leads) * self.lead_weight)
        else:
            blocks = [self.words_.transform(cleaned), self.chars_.transform(cleaned)]
            blocks.append(self.leads_.transform(leads) * self.lead_weight)
        return sparse.hstack(blocks).tocsr()

    def _chars(self):
        return TfidfVectorizer(
            analyzer="char", ngram_range=tuple(self.char_ngrams), min_df=2, sublinear_tf=True, dtype=np.float32
        )

    def _svm(self, features, y):
        """A linear SVM (hinge loss) by stochastic gradient descent: a fixed number of epochs, one class
        against the rest: about a second per fit where liblinear took several on 97 classes."""
        svm = SGDClassifier(
            loss="hinge", alpha=self.alpha, max_iter=self.epochs, tol=None, random_state=self.seed, n_jobs=self.n_jobs
        )
        return svm.fit(features, y)

    def fit(self, X, y, groups=None):
        y = np.asarray(y)
        features = self._features(X, fit=True)
        self.classes_ = np.unique(y)
        gold = np.searchsorted(self.classes_, y)
        if groups is None:
            splits = StratifiedKFold(self.folds, shuffle=True, random_state=self.seed).split(features, y)
        else:
            folds = StratifiedGroupKFold(self.folds, shuffle=True, random_state=self.seed)
            splits = folds.split(features, y, groups)
        splits = list(splits)
        self.svm_ = self._svm(features, y)
        fitted = [self._svm(features[train], y[train]) for train, _ in splits]
        scores = np.empty((len(y), len(self.classes_)))
        for svm, (_, test) in zip(fitted, splits):
            part = svm.decision_function(features[test])
            full = np.full((len(test), len(self.classes_)), np.nan)
            full[:, np.searchsorted(self.classes_, svm.classes_)] = part
            floor = np.nanmin(full, axis=1, keepdims=True) - 1.0  # a class the fold never saw: below all others
            scores[test] = np.where(np.isnan(full), floor, full)
        self.temperature_ = fit_temperature(scores, gold)
        self.oof_proba_ = _softmax(scores, self.temperature_)
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "svm_")
        return _softmax(self.svm_.decision_function(self._features(X, fit=False)), self.temperature_)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def top(self, X, k: int = 3) -> list[list[tuple[str, float]]]:
        """The ``k`` likeliest 大类 of each text, as (code, probability), likeliest first."""
        proba = self.predict_proba(X)
        order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
        return [[(str(self.classes_[j]), float(row[j])) for j in idx] for row, idx in zip(proba, order)]


# --------------------------------------------------------------------------- the flag


@dataclass(frozen=True)
class Verdict:
    """What the model says about one firm: the top 大类, whether its recorded class is doubtful, and why."""

    top: list[tuple[str, float]]
    recorded: str | None  # the recorded 大类 (None: none recorded)
    p_recorded: float | None  # the model's probability of that 大类
    p_section: float | None  # … and of its whole 门类
    flagged: bool
    reason: str


def label(code: str) -> str:
    return industries().get(code).name


def flag_inputs(proba: np.ndarray, classes: np.ndarray, recorded: Sequence[str]) -> np.ndarray:
    """Rows of (P(recorded 大类), P(its 门类), P(top 大类), 1 if the recorded 大类 is among the top three)."""
    index = {c: i for i, c in enumerate(classes)}
    sections = np.array([c[0] for c in classes])
    per_section = {s: proba[:, sections == s].sum(axis=1) for s in np.unique(sections)}
    rows = np.arange(len(recorded))
    at = np.array([index[c] for c in recorded], dtype=int)
    p = proba[rows, at]
    p_section = np.array([per_section[c[0]][r] for r, c in zip(rows, recorded)])
    in_top3 = (np.argsort(-proba, axis=1, kind="stable")[:, :3] == at[:, None]).any(axis=1)
    return np.column_stack([p, p_section, proba.max(axis=1), in_top3])


def is_flagged(inputs: np.ndarray, thresholds: dict) -> np.ndarray:
    """The flag: the top 大类 is confident (≥ high), the recorded 大类 is not among the three shown, and it is
    very unlikely (< low_division) or its whole 门类 is (< low_section). A 门类 the model rules out is the
    strong disagreement; within one 门类 the model confuses neighbours (C34/C35) too often to flag on the
    大类 alone unless it is tiny."""
    p, p_section, p_top, in_top3 = inputs[:, 0], inputs[:, 1], inputs[:, 2], inputs[:, 3]
    unlikely = (p < thresholds["low_division"]) | (p_section < thresholds["low_section"])
    return unlikely & (p_top >= thresholds["high"]) & (in_top3 < 0.5)


def verdicts(model: ScopeClassifier, scopes: Sequence[str], recorded: Sequence[str | None]) -> list[Verdict]:
    """:func:`flag` for many firms at once (one matrix product, not one per firm). ``recorded``: 大类 or None."""
    proba = model.predict_proba(list(scopes))
    known = [i for i, c in enumerate(recorded) if c]
    inputs = np.full((len(recorded), 4), np.nan)
    if known:
        inputs[known] = flag_inputs(proba[known], model.classes_, [recorded[i] for i in known])
    flagged = is_flagged(np.nan_to_num(inputs, nan=1.0), model.thresholds_)
    out = []
    for row, code, (p, p_section, _, _), hit in zip(proba, recorded, inputs, flagged):
        order = np.argsort(-row, kind="stable")[:3]
        top = [(str(model.classes_[j]), float(row[j])) for j in order]
        best, p_best = top[0]
        if not code:
            reason = f"未登记行业：经营范围最接近 {best} {label(best)}（概率 {p_best:.2f}）"
            out.append(Verdict(top, None, None, None, False, reason))
            continue
        codes = [c for c, _ in top]
        named = f"登记行业 {code} {label(code)}（概率 {p:.3f}，所属门类 {code[0]} 合计 {p_section:.3f}）"
        if hit:
            reason = f"经营范围明显不符合{named}，更像 {best} {label(best)}（概率 {p_best:.2f}）"
        elif code in codes:
            reason = f"经营范围与登记行业 {code} {label(code)} 相符（第 {codes.index(code) + 1} 位，概率 {p:.2f}）"
        else:
            reason = f"{named}不在前三位，但差异不足以标记（首选 {best} {label(best)}，概率 {p_best:.2f}）"
        out.append(Verdict(top, code, float(p), float(p_section), bool(hit), reason))
    return out


def describe_flag(thresholds: dict) -> str:
    """The flag's rule in words, its switched-off conditions left out."""
    unlikely = []
    if thresholds["low_division"] > 0:
        unlikely.append(f"登记大类的概率 < {thresholds['low_division']:g}")
    if thresholds["low_section"] > 0:
        unlikely.append(f"登记大类所属门类的概率合计 < {thresholds['low_section']:g}")
    return f"首选大类概率 ≥ {thresholds['high']:g}，且{'或'.join(unlikely) or '（从不标记）'}"


def flag(model: ScopeClassifier, scope: str, recorded_industry: str | None) -> Verdict:
    """Is ``recorded_industry`` (any code at or below 大类, or None) doubtful for this scope?

    See :func:`is_flagged`; the thresholds are ``model.thresholds_``, chosen by :func:`train` on held-out
    data."""
    code = division_of(recorded_industry) if recorded_industry else None
    return verdicts(model, [scope], [code])[0]


def choose_thresholds(consistent: np.ndarray, swapped: np.ndarray, max_false: float = MAX_FALSE_FLAG) -> dict:
    """The thresholds that flag the most swapped firms while flagging at most ``max_false`` of the consistent
    ones (rows of :func:`flag_inputs`); ties go to fewer false flags, then to the stricter thresholds."""
    best = None
    for low_division in LOW_DIVISION_GRID:
        for low_section in LOW_SECTION_GRID:
            for high in HIGH_GRID:
                t = {"low_division": low_division, "low_section": low_section, "high": high}
                false = float(np.mean(is_flagged(consistent, t)))
                if false > max_false:
                    continue
                caught = float(np.mean(is_flagged(swapped, t)))
                key = (caught, -false, -low_division, -low_section, high)
                if best is None or key > best[0]:
                    best = (key, {**t, "false_flag": false, "detection": caught})
    return best[1]  # both lows at 0 flag nobody, so some thresholds always qualify


# --------------------------------------------------------------------------- training, versions, files


def version(texts: Sequence[str], labels: Sequence[str], params: dict) -> str:
    """A content hash of the training data, the parameters and this file's code."""
    h = hashlib.sha256()
    h.update(json.dumps(params, sort_keys=True, ensure_ascii=False).encode())
    h.update(Path(__file__).read_bytes())
    for t, c in zip(texts, labels):
        h.update(f"{c}\t{t}\n".encode())
    return h.hexdigest()[:12]


def swap(codes: Sequence[str], rng: np.random.Generator, same_section: bool = False) -> list[str]:
    """Another 大类 for each firm, drawn at random (``same_section``: from its own 门类 when it has others)."""
    pool = [c for c, _ in divisions()]
    out = []
    for code in codes:
        others = [c for c in pool if c != code and (not same_section or c[0] == code[0])] or [
            c for c in pool if c != code
        ]
        out.append(others[int(rng.integers(0, len(others)))])
    return out


def held_out_figures(proba: np.ndarray, classes: np.ndarray, gold: Sequence[str], seed: int) -> dict:
    """Top-1/top-3 and the flag's inputs (:func:`flag_inputs`) on held-out probabilities, for consistent
    firms and for the same firms recorded under a random other 大类 (any, and one of the same 门类)."""
    index = {c: i for i, c in enumerate(classes)}
    order = np.argsort(-proba, axis=1, kind="stable")[:, :3]
    gold_idx = np.array([index[c] for c in gold])
    rng = np.random.default_rng(seed)
    pairs = {"consistent": flag_inputs(proba, classes, gold)}
    for name, same in (("swapped", False), ("swapped_same_section", True)):
        pairs[name] = flag_inputs(proba, classes, swap(list(gold), rng, same))
    return {
        "n": len(gold),
        "top1": float(np.mean(order[:, 0] == gold_idx)),
        "top3": float(np.mean((order == gold_idx[:, None]).any(axis=1))),
        "pairs": pairs,
    }


def _version_params(model: ScopeClassifier, max_false: float) -> dict:
    params = {k: v for k, v in model.get_params().items() if k != "n_jobs"}  # threads do not change the result
    return {**params, "max_false": max_false}


def train(generated: Sequence[tuple[str, str]], *, seed: int = 0, max_false: float = MAX_FALSE_FLAG, **params):
    """A fitted :class:`ScopeClassifier` with ``version_``, ``thresholds_`` and ``report_``.

    ``generated``: ``(scope, 小类 code)`` pairs. The out-of-fold probabilities of the noisy scope copies
    (folds holding out whole 中类) are the held-out data: top-1/top-3 on them are reported, and the flag
    thresholds are chosen on them so that at most ``max_false`` of consistent firms are flagged."""
    data = training_set(generated, seed=seed)
    model = ScopeClassifier(seed=seed, **params).fit(data.texts, data.labels, groups=fold_groups(data.origins))
    firms = np.flatnonzero(data.copies)
    gold = [data.labels[i] for i in firms]
    figures = held_out_figures(model.oof_proba_[firms], model.classes_, gold, seed + 1)
    del model.oof_proba_
    pairs = figures.pop("pairs")
    thresholds = choose_thresholds(pairs["consistent"], pairs["swapped"], max_false)
    thresholds["detection_same_section"] = float(np.mean(is_flagged(pairs["swapped_same_section"], thresholds)))
    model.version_ = version(data.texts, data.labels, _version_params(model, max_false))
    model.thresholds_ = thresholds
    model.report_ = {"documents": len(data.texts), "held_out": figures, "temperature": model.temperature_}
    return model


def expected_version(generated: Sequence[tuple[str, str]], *, seed: int = 0, max_false: float = MAX_FALSE_FLAG, **p):
    """The version :func:`train` would give, without training (to find a saved model)."""
    data = training_set(generated, seed=seed)
    return version(data.texts, data.labels, _version_params(ScopeClassifier(seed=seed, **p), max_false))


def path_for(directory: str | Path, model_version: str) -> Path:
    return Path(directory) / f"{FILE_PREFIX}{model_version}{FILE_SUFFIX}"


def save(model: ScopeClassifier, directory: str | Path) -> Path:
    """Write ``scope-classifier-<version>.joblib`` in ``directory`` (created if needed)."""
    import joblib

    path = path_for(directory, model.version_)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path, compress=3)
    return path


def load(path: str | Path) -> ScopeClassifier:
    import joblib

    try:
        model = joblib.load(path)
    except Exception as e:  # a truncated file, another format: said plainly, not as a pickle traceback
        raise ValueError(f"无法读取模型文件 {path}：{e}") from None
    if not isinstance(model, ScopeClassifier) or not hasattr(model, "version_"):
        raise ValueError(f"{path} 不是经营范围分类模型")
    return model
