"""Ranking policy texts for a plain-Chinese query: jieba words, BM25 (``rank_bm25``), topic and target boosts.

A policy's searchable text is its name (twice: it says what the policy is for), target group, topics,
document title and source text (:func:`policy_document`), cut by the tagger's jieba tokenizer in search
mode (a compound and its parts: 贷款贴息 → 贷款, 贴息, 贷款贴息), without particles, pronouns and words every
policy shares (:data:`STOPWORDS`). A query is cut the same way; each word weighs 1 when it says what the
query asks for, :data:`FIRM_WEIGHT` when it describes the firm (软件, 小微, 江宁区: a policy that names them
fits better, but they are not the question), 0 inside a stated age, head count or revenue.

The score of a policy (:func:`rank`) adds three parts, each explained in the hit:

- text: Σ weight · BM25 of each query word, divided by the best policy's sum (so 0 … 1). A word found in
  more than half the policies weighs nothing: BM25's idf is ≤ 0 there, and rank_bm25's floor (a quarter
  of the average idf) would otherwise let one common word match every policy;
- topics: :data:`TOPIC_WEIGHT` × the share of the query's topics the policy is about (topics from the
  tagger's keyword lexicon over the policy text, plus the stored tagger's and officers' topic tags), so
  研发 finds 研究开发 and 招人 finds 吸纳就业;
- target: :data:`TARGET_WEIGHT` for each kind of the firm's stated facts that the policy's conditions single
  out and the firm certainly meets — its industry, scale, qualification, district (a city-wide region
  requirement singles nobody out).

The weights are set by what each part means, not fitted to the judged queries of docs/search.md.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from models.policy_dictionary import keyword_counts
from models.policy_text import DOMAIN_WORDS, normalize, unquote

FIRM_WEIGHT = 0.3
TOPIC_WEIGHT = 0.5
TARGET_WEIGHT = 0.2
BM25_PARAMS = {"k1": 1.5, "b": 0.75}  # rank_bm25's defaults, the usual ones

# Words that carry no topic: pronouns, particles, question words, what every policy offers (money) and is for
# (企业). 贴息, 减免, 补贴 … in a compound (贷款贴息, 房租减免) still match through the compound and its parts.
STOPWORDS = frozenset(
    """
    我 我们 我司 我方 本 本公司 咱们 咱 你们 您 公司 企业 单位 一家 一个 家 个 是 的 了 着 过 有 有没有
    没有 没 什么 哪些 哪个 哪 些 那些 这些 这个 那个 可以 能 能否 能不能 可不可以 会 申请 申报 办理
    享受 领 领取 拿 拿到 获得 得到 怎么 怎样 如何 请问 问 问下 想 想要 需要 要 吗 呢 吧 啊 呀 么 嘛
    政策 相关 方面 一下 一些 和 与 及 以及 或 或者 在 对 给 为 从 向 把 被 做 搞 干 还 也 都 就 请 谢谢
    目前 现在 最近 资金 钱 补贴 补助 奖励 奖补 资助 扶持 支持 优惠 帮助 帮扶 项目 多少 额度 标准 条件
    规定 办法 措施 若干 关于 进一步 实施 管理 工作 通知 意见 方案 细则 发展 推进 促进 加快 高质量 市 区
    县 年 年度 上年 上年度 当年 万元 元 以上 以下 了解 知道 看看 查询 介绍
    """.split()
)
_MEANINGFUL = re.compile(r"[\u4e00-\u9fff]|[a-z]")  # a word must hold a Chinese character or a letter


def policy_document(
    name: str, target: str = "", topics: Iterable[str] = (), document: str = "", source: str = ""
) -> str:
    """The text a policy is searched by (name twice: a title says what the policy is for)."""
    parts = (name, name, target, "、".join(topics), document, source)
    return "\n".join(p for p in parts if p)


def _keep(word: str) -> bool:
    return bool(_MEANINGFUL.search(word)) and word not in STOPWORDS and (len(word) > 1 or word.isascii())


def tokens(text: str) -> list[str]:
    """The search words of a text: jieba's search mode over the normalised text, stopwords left out."""
    return [w for w, _, _ in _cut(unquote(normalize(text))) if _keep(w)]


def _cut(text: str) -> list[tuple[str, int, int]]:
    return list(search_tokenizer().tokenize(text, mode="search", HMM=False))


_lock = threading.Lock()
_tokenizer = None


def search_tokenizer():
    """A jieba tokenizer of its own (the tagger's is left as its models were trained with) that knows every
    word of the project's vocabularies as one word: the tagger's domain words and topic keywords, the query
    words of ``models.query_understanding``. 稳岗 or 高企 cut into single characters would match nothing."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                tok.initialize()
                for word in sorted(_vocabulary()):
                    if len(word) > 1:
                        tok.add_word(word, freq=50_000)
                _tokenizer = tok
    return _tokenizer


@dataclass(frozen=True)
class Term:
    word: str
    weight: float
    role: str  # ask | firm

    def as_dict(self) -> dict:
        return {"word": self.word, "weight": self.weight, "role": self.role}


def query_terms(understanding) -> tuple[list[Term], list[str]]:
    """The query's weighted words (see the module docstring) and the words left out as carrying no topic,
    from a :class:`models.query_understanding.Understanding`."""
    text = understanding.text
    firm, facts = understanding.firm_spans(), understanding.fact_spans()
    inside = lambda spans, s, e: any(a <= s and e <= b for a, b in spans)  # noqa: E731
    overlaps = lambda spans, s, e: any(s < b and a < e for a, b in spans)  # noqa: E731
    best: dict[str, Term] = {}
    dropped: list[str] = []
    cut = _cut(text)
    for word, start, end in cut:
        if inside(firm, start, end) and _covered(start, end, cut) and word not in _vocabulary():
            continue  # a firm's word matches whole or by the known words in it: 高新技术企业, not 技术
        if overlaps(facts, start, end):
            continue  # an age, a head count, a revenue: read as facts, no words to rank by
        if not _keep(word):
            if _MEANINGFUL.search(word) and word not in dropped:
                dropped.append(word)
            continue
        term = Term(word, FIRM_WEIGHT, "firm") if inside(firm, start, end) else Term(word, 1.0, "ask")
        if word not in best or best[word].weight < term.weight:
            best[word] = term
    return list(best.values()), dropped


@lru_cache(maxsize=1)
def _vocabulary() -> frozenset[str]:
    from models.query_understanding import vocabulary

    return frozenset({*DOMAIN_WORDS, *vocabulary()})


def _covered(start: int, end: int, cut: list[tuple[str, int, int]]) -> bool:
    """Whether a longer kept word of the cut spans this one."""
    return any(s <= start and end <= e and e - s > end - start and _keep(w) for w, s, e in cut)


@dataclass
class PolicyDoc:
    """One policy as the index holds it: its id, searchable text, topic codes and condition targets
    (``(tag id, group)`` as ``matcher.profiles.policy_targets`` gives them)."""

    id: str
    text: str
    topics: frozenset[str] = frozenset()
    targets: tuple[tuple[str, int | None], ...] = ()


def policy_topics(text: str, tagged: Iterable[str] = ()) -> frozenset[str]:
    """A policy's topics: the tagger's keyword lexicon over its text, plus its stored topic tags (``topic:x``
    or ``x``) but the fallback ``other``."""
    found = {t for t, n in keyword_counts(text).items() if n > 0}
    found |= {t.split(":", 1)[-1] for t in tagged}
    return frozenset(found - {"other"})


@dataclass
class Hit:
    """One policy's score for a query and why: the words that matched (with what each added to the text
    part before it was scaled), the topics and the targets."""

    index: int
    id: str
    score: float
    text: float
    topic: float
    target: float
    words: dict[str, float] = field(default_factory=dict)
    topics: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)  # tag ids the firm meets and the policy singles out

    @property
    def matched(self) -> bool:
        """Whether the query found the policy at all (by a word, a topic or a target)."""
        return self.score > 0


class SearchIndex:
    """BM25 over the policies' words (built once per set of policies)."""

    def __init__(self, docs: Sequence[PolicyDoc]):
        from rank_bm25 import BM25Okapi

        self.docs = list(docs)
        self.words = [tokens(d.text) for d in self.docs]
        self.df = Counter(w for ws in self.words for w in set(ws))
        # rank_bm25 divides by the vocabulary size: an index of no words scores nothing
        self.bm25 = BM25Okapi(self.words, **BM25_PARAMS) if any(self.words) else None

    def __len__(self) -> int:
        return len(self.docs)

    def informative(self, word: str) -> bool:
        """In at least one policy and in at most half of them (BM25's idf is positive)."""
        n = self.df.get(word, 0)
        return 0 < n and 2 * n < len(self.docs)

    def text_scores(self, terms: Sequence[Term]) -> tuple[np.ndarray, list[dict[str, float]]]:
        """Σ weight · BM25 per policy, and each policy's words with what they added."""
        total = np.zeros(len(self.docs))
        per_doc: list[dict[str, float]] = [{} for _ in self.docs]
        if self.bm25 is None:
            return total, per_doc
        for term in terms:
            if not self.informative(term.word):
                continue
            part = term.weight * self.bm25.get_scores([term.word])
            total += part
            for i in np.flatnonzero(part > 0):
                per_doc[i][term.word] = round(float(part[i]), 4)
        return total, per_doc


def rank(index: SearchIndex, understanding, terms: Sequence[Term], taxonomy: Mapping) -> list[Hit]:
    """Every policy's :class:`Hit` for the query, in index order (the module docstring gives the score)."""
    text, words = index.text_scores(terms)
    top = float(text.max()) if len(text) else 0.0
    asked = understanding.topics
    hits = []
    for i, doc in enumerate(index.docs):
        t = float(text[i]) / top if top > 0 else 0.0
        shared = [x for x in asked if x in doc.topics]
        topic = TOPIC_WEIGHT * len(shared) / len(asked) if asked else 0.0
        met = targets_met(understanding, doc.targets, taxonomy)
        target = TARGET_WEIGHT * len({m.split(":", 1)[0] for m in met})
        score = round(t + topic + target, 6)
        hits.append(Hit(i, doc.id, score, round(t, 6), round(topic, 6), round(target, 6), words[i], shared, met))
    return hits


def asks(understanding, terms: Sequence[Term], index: SearchIndex) -> bool:
    """Whether the query asks about something the policies speak of (a topic, or a word of its own that some
    policy uses), or only describes the firm ("我们是高新技术企业，今年有什么"): then every policy the firm
    may meet is an answer."""
    return bool(understanding.topics) or any(t.role == "ask" and index.informative(t.word) for t in terms)


def unmatched(terms: Sequence[Term], index: SearchIndex) -> list[str]:
    """The query's own words that no policy uses (said back, so the firm knows what was not found)."""
    return [t.word for t in terms if t.role == "ask" and not index.df.get(t.word)]


def _up(taxonomy: Mapping, tag: str) -> list[str]:
    out = [tag]
    parent = taxonomy[tag].parent if tag in taxonomy else None
    while parent is not None:
        out.append(parent)
        parent = taxonomy[parent].parent
    return out


def targets_met(understanding, targets: Sequence[tuple[str, int | None]], taxonomy: Mapping) -> list[str]:
    """The policy's required tags (any-of groups) that the firm, as the query describes it, certainly holds:
    every industry it may be in lies inside one of the group's, every scale it may be is in the group, it
    holds one of the group's qualifications, or it is registered inside one of the group's districts."""
    groups: dict[int, list[str]] = {}
    for tag, group in targets:
        if group is not None:
            groups.setdefault(group, []).append(tag)
    firm = {
        "industry": [f"industry:{c}" for c in understanding.industries],
        "region": [f"region:{c}" for c in understanding.regions],
        "scale": [f"scale:{c}" for c in (understanding.scales or ())],
        "qualification": [f"qualification:{c}" for c in understanding.held],
    }
    met: list[str] = []
    for tags in groups.values():
        kind = tags[0].split(":", 1)[0]
        have = firm.get(kind) or []
        if not have:
            continue
        if kind == "qualification":
            hit = [t for t in tags if t in have]
        elif kind == "scale":
            hit = tags if all(h in tags for h in have) else []
        else:
            if kind == "region":  # a district's own measure, not the city's
                tags = [t for t in tags if t in taxonomy and len(_up(taxonomy, t)) >= 3]
            inside = [[t for t in tags if t in _up(taxonomy, h)] for h in have]
            hit = sorted({t for found in inside for t in found}) if all(inside) else []
        met += [t for t in hit if t not in met]
    return met


__all__ = [
    "FIRM_WEIGHT",
    "TOPIC_WEIGHT",
    "TARGET_WEIGHT",
    "STOPWORDS",
    "PolicyDoc",
    "SearchIndex",
    "Hit",
    "Term",
    "asks",
    "unmatched",
    "policy_document",
    "policy_topics",
    "query_terms",
    "rank",
    "targets_met",
    "tokens",
]
