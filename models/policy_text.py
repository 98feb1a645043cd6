"""Policy text as the tagger reads it: one normal form, jieba words, character n-grams.

PDF extraction leaves spaces inside Chinese words (``数 字经济``) and mixes full- and half-width forms;
Beijing cards and Shenzhen documents differ in exactly these ways, so every text is brought to one form
first (NFKC, no whitespace next to a Chinese character, digits folded to ``0``) or the model would learn
the source's typography instead of its content.

jieba gets its own :class:`jieba.Tokenizer` (not the global one another module may configure), is made
quiet (no "Building prefix dict" on stderr) and is initialised once per process, under a lock.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata

_SPACE_NEAR_CJK = re.compile(r"(?<=[^\x00-\x7f])\s+|\s+(?=[^\x00-\x7f])")
_SPACES = re.compile(r"\s+")
_DIGITS = re.compile(r"\d")
_QUOTES = re.compile(r"[\"'“”‘’「」『』《》〈〉]")
_WORD = re.compile(r"[\w\u4e00-\u9fff]")  # a token must hold a letter, digit or Chinese character

# Words jieba's dictionary splits but a policy means as one: qualifications, instruments, programmes.
DOMAIN_WORDS = (
    "专精特新",
    "小巨人",
    "高新技术企业",
    "科技型中小企业",
    "创新型中小企业",
    "瞪羚企业",
    "独角兽企业",
    "小微企业",
    "中小微企业",
    "个体工商户",
    "贷款贴息",
    "融资租赁",
    "融资担保",
    "风险补偿",
    "股权投资",
    "新三板",
    "北交所",
    "首台套",
    "揭榜挂帅",
    "概念验证",
    "成果转化",
    "数字化转型",
    "智能制造",
    "工业互联网",
    "上云用数赋智",
    "算力券",
    "创新券",
    "孵化器",
    "众创空间",
    "知识产权",
    "房租补贴",
    "租金补贴",
    "稳岗返还",
    "以工代训",
    "加计扣除",
    "碳达峰",
    "碳中和",
    "跨境电商",
    "老字号",
    "首店",
)

_lock = threading.Lock()
_tokenizer = None


def normalize(text: str) -> str:
    """One form for every source: NFKC, whitespace only between Latin words, lower-case Latin."""
    text = unicodedata.normalize("NFKC", text or "")
    text = _SPACE_NEAR_CJK.sub("", text)
    return _SPACES.sub(" ", text).strip().lower()


def unquote(text: str) -> str:
    """Quotes dropped: “专精特新”中小企业 and 专精特新中小企业 are the same words."""
    return _QUOTES.sub("", text)


def fold_digits(text: str) -> str:
    """Every digit as 0: amounts and years are not topics (the TF-IDF blocks' preprocessor)."""
    return _DIGITS.sub("0", text)


def fold(text: str) -> str:
    """The model's view of a normalised text: quotes dropped, digits folded."""
    return fold_digits(unquote(text))


def tokenizer():
    """The tagger's jieba tokenizer, initialised once, quietly."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                logging.getLogger("jieba").setLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                tok.initialize()
                for word in DOMAIN_WORDS:
                    tok.add_word(word, freq=50_000)
                _tokenizer = tok
    return _tokenizer


def words(text: str) -> list[str]:
    """jieba's words of a folded text, without punctuation or spaces."""
    return [w for w in tokenizer().lcut(text, HMM=False) if _WORD.search(w) and not w.isspace()]


def word_ngrams(text: str) -> list[str]:
    """Word unigrams and bigrams of a text with its digits folded (the TF-IDF analyzer; module-level so a
    saved model pickles it by name)."""
    toks = words(fold_digits(text))
    return toks + [f"{a} {b}" for a, b in zip(toks, toks[1:])]
