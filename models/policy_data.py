"""The policy tagger's labelled texts: where each comes from, its labels, and the group it is held out with.

- ``policy_corpus.jsonl``: 104 real Beijing policy cards with silver topic labels (keyword counts), a copy
  of ``../shared/data/policy_corpus.jsonl``; ``policy_corpus_corrections.jsonl`` records every label the
  card's text contradicts (``{id, topic, present, reason}``) and is applied on reading.
- ``policy_texts_shenzhen.jsonl`` with ``policy_texts_shenzhen_labels.jsonl``: nine real Shenzhen documents
  and the gold topics read from them, with the reason for each.
- ``policy_measure_labels.jsonl``: the topics of the real measures shipped as specs (``matcher/policies``);
  their texts come from the specs, passed in (this package reads no other package's files).

A label set is a ``{topic code: bool}``; a topic absent from it is unknown (an officer's correction of a
stored policy says one topic, not all twenty), and training skips unknown labels.

Issuer groups: the held-out split must never put one department's cards on both sides, and departments
appear under several names (北京市科学技术委员会 alone and with 中关村管委会; 商务委员会 renamed 商务局; the
电影专资办 under the 电影局), so an issuer string is split into its departments, each department mapped to
the body it belongs to, and the group is that body.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from graph.tags import TOPICS

TOPIC_CODES = tuple(TOPICS)
CODE_OF_LABEL = {label: code for code, label in TOPICS.items()}

CORPUS = "policy_corpus.jsonl"
CORRECTIONS = "policy_corpus_corrections.jsonl"
SHENZHEN = "policy_texts_shenzhen.jsonl"
SHENZHEN_LABELS = "policy_texts_shenzhen_labels.jsonl"
MEASURE_LABELS = "policy_measure_labels.jsonl"

# department name -> the body it belongs to (renamings and offices under one bureau)
_BODIES = {
    "中关村科技园区管理委员会": "北京市科学技术委员会",
    "北京市商务委员会": "北京市商务局",
    "北京市新闻出版广电局": "北京市广播电视局",
    "北京市电影专资管理办公室": "北京市电影局",
    "北京文化艺术基金": "北京市文化和旅游局",
    "北京市人民政府办公厅": "北京市人民政府",
    "北京市大数据工作推进小组办公室": "北京市经济和信息化局",
    # the 宣传部's offices and funds
    "北京市国有文化资产管理中心": "中共北京市委宣传部",
    "北京市宣传思想文化人才发展中心": "中共北京市委宣传部",
    "北京市文化改革和发展领导小组办公室": "中共北京市委宣传部",
    "北京市电影局": "中共北京市委宣传部",
}


class DataError(ValueError):
    """A labelled file that cannot be read as documented (the message names the file and the line)."""


@dataclass
class Example:
    id: str
    title: str
    text: str
    source: str  # beijing | shenzhen | measure | store
    group: str  # held out together
    labels: dict[str, bool] = field(default_factory=dict)

    @property
    def topics(self) -> list[str]:
        return [t for t in TOPIC_CODES if self.labels.get(t)]


def data_dir() -> Path:
    return Path(str(resources.files("models").joinpath("data")))


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path.name}:{n}: 不是有效的 JSON（{e.msg}）") from None
            if not isinstance(row, dict):
                raise DataError(f"{path.name}:{n}: 每行应为一个 JSON 对象")
            rows.append(row)
    return rows


def topic_code(name: str, where: str) -> str:
    """A topic given as its code or its Chinese label."""
    if name in TOPICS:
        return name
    if name in CODE_OF_LABEL:
        return CODE_OF_LABEL[name]
    raise DataError(f"{where}: 主题 {name!r} 不在 20 个政策主题之中")


def full_labels(names, where: str) -> dict[str, bool]:
    present = {topic_code(n, where) for n in names}
    return {t: t in present for t in TOPIC_CODES}


def _departments(issuer: str) -> list[str]:
    return [_body(p.strip()) for p in re.split(r"[、/，,]", issuer or "") if p.strip()] or ["(未知)"]


def _body(dept: str) -> str:
    seen = set()
    while dept in _BODIES and dept not in seen:
        seen.add(dept)
        dept = _BODIES[dept]
    return dept


def issuer_groups(issuers) -> dict[str, str]:
    """``{issuer: group}``: bodies that issue together are one group (union-find over co-issuing), named
    by the alphabetically first body, so a joint card and each body's own cards are held out together."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for issuer in issuers:
        first, *rest = _departments(issuer)
        for other in rest:
            a, b = find(first), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {issuer: find(_departments(issuer)[0]) for issuer in issuers}


def corrections(folder: Path | None = None) -> list[dict]:
    path = (folder or data_dir()) / CORRECTIONS
    out = []
    for n, row in enumerate(read_jsonl(path), 1):
        where = f"{path.name}:{n}"
        if not isinstance(row.get("id"), str) or not isinstance(row.get("present"), bool):
            raise DataError(f"{where}: 应有 id（文本）和 present（true/false）")
        if not str(row.get("reason", "")).strip():
            raise DataError(f"{where}: 更正须说明理由（reason）")
        out.append({**row, "topic": topic_code(str(row.get("topic")), where)})
    return out


def corpus(corrected: bool = True, folder: Path | None = None) -> list[Example]:
    """The Beijing cards, with the silver labels corrected where the text contradicts them."""
    folder = folder or data_dir()
    path = folder / CORPUS
    rows = read_jsonl(path)
    groups = issuer_groups([row.get("issuer", "") for row in rows])
    out = []
    for n, row in enumerate(rows, 1):
        out.append(
            Example(
                id=row["id"],
                title=row.get("title", ""),
                text=row.get("text", ""),
                source="beijing",
                group=groups[row.get("issuer", "")],
                labels=full_labels(row.get("topics", []), f"{path.name}:{n}"),
            )
        )
    if corrected:
        by_id = {e.id: e for e in out}
        for c in corrections(folder):
            if c["id"] not in by_id:
                raise DataError(f"{CORRECTIONS}: 卡片 {c['id']} 不在语料中")
            by_id[c["id"]].labels[c["topic"]] = c["present"]
    return out


def shenzhen(folder: Path | None = None) -> list[Example]:
    """The Shenzhen documents with the gold topics read from them."""
    folder = folder or data_dir()
    docs = read_jsonl(folder / SHENZHEN)
    out = []
    for n, row in enumerate(read_jsonl(folder / SHENZHEN_LABELS), 1):
        where = f"{SHENZHEN_LABELS}:{n}"
        i = row.get("index")
        if not isinstance(i, int) or not 0 <= i < len(docs):
            raise DataError(f"{where}: index 应为 0 到 {len(docs) - 1} 的整数")
        doc = docs[i]
        out.append(
            Example(f"sz{i:02d}", doc["title"], doc["text"], "shenzhen", "深圳", full_labels(row["topics"], where))
        )
    return out


def spec_text(spec: dict) -> tuple[str, str]:
    """A policy spec's title and text as the tagger reads them: what the policy says it is for."""
    parts = [spec.get("document") or "", spec.get("target") or "", "、".join(spec.get("topics") or ())]
    parts.append(spec.get("source_text") or "")
    return spec.get("name") or "", "\n".join(p for p in parts if p)


def measure_labels(folder: Path | None = None) -> dict[str, dict[str, bool]]:
    path = (folder or data_dir()) / MEASURE_LABELS
    out = {}
    for n, row in enumerate(read_jsonl(path), 1):
        out[row["slug"]] = full_labels(row["topics"], f"{path.name}:{n}")
    return out


def measures(specs: dict[str, dict], folder: Path | None = None) -> list[Example]:
    """The real measures (``{slug: spec as JSON}``) that have labels; grouped by their department's body
    (深圳 ones together, so the cross-source test never trains on them)."""
    issuers = [row.get("issuer", "") for row in read_jsonl((folder or data_dir()) / CORPUS)]
    issuers += [s.get("department") or "" for s in specs.values()]
    groups = issuer_groups(issuers)
    out = []
    for slug, labels in measure_labels(folder).items():
        spec = specs.get(slug)
        if spec is None:
            continue
        title, text = spec_text(spec)
        dept = spec.get("department") or ""
        group = "深圳" if dept.startswith("深圳") else groups[dept]
        out.append(Example(slug, title, text, "measure", group, dict(labels)))
    return out
