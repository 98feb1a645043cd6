"""How well the scope classifier reads real licences: the hand-written licence-style sets and baselines.

``models/data/business_scopes_heldout.jsonl`` (237 scopes) and ``business_scopes_dev.jsonl`` (61) were
written by hand in the wording of real 营业执照 (一般项目/许可项目 and older styles), each with its gold
大类 and the kind of firm, before the classifier existed and without the generator (docs/scope-
classifier.md says how). The dev set served design choices; the held-out set only measures.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from importlib import resources

import numpy as np

from graph import industries
from models import scope_classifier as sc

SETS = {"heldout": "business_scopes_heldout.jsonl", "dev": "business_scopes_dev.jsonl"}
STANDARD_STYLE = re.compile(r"一般项目|许可项目")


def licence_set(name: str = "heldout") -> list[dict]:
    """The rows ``{id, business_scope, industry, kind}`` of a shipped licence-style set."""
    text = resources.files("models").joinpath("data").joinpath(SETS[name]).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def style(scope: str) -> str:
    """``standard`` (一般项目/许可项目, the 2021 catalogue's wording) or ``older``."""
    return "standard" if STANDARD_STYLE.search(scope) else "older"


def hits(tops: Sequence[Sequence[tuple[str, float]]], gold: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per row: gold is first; gold is among the three."""
    first = np.array([t[0][0] == g for t, g in zip(tops, gold)])
    three = np.array([g in [c for c, _ in t[:3]] for t, g in zip(tops, gold)])
    return first, three


def breakdown(tops, rows: list[dict]) -> dict:
    """Top-1/top-3 overall, per 门类 and per wording."""
    gold = [r["industry"] for r in rows]
    first, three = hits(tops, gold)

    def part(mask) -> dict:
        mask = np.asarray(mask, dtype=bool)
        n = int(mask.sum())
        return {
            "n": n,
            "top1": float(first[mask].mean()) if n else 0.0,
            "top3": float(three[mask].mean()) if n else 0.0,
        }

    out = part(np.ones(len(rows)))
    out["sections"] = {s: part([g[0] == s for g in gold]) for s in sorted({g[0] for g in gold})}
    out["styles"] = {s: part([style(r["business_scope"]) == s for r in rows]) for s in ("standard", "older")}
    return out


def evaluate(model: sc.ScopeClassifier, rows: list[dict], seed: int = 0) -> dict:
    """:func:`breakdown` of the model's top-3, and its flag on these firms: the share flagged when recorded
    under their gold 大类 (false flags) and when recorded under a random other one (any; same 门类)."""
    scopes, gold = [r["business_scope"] for r in rows], [r["industry"] for r in rows]
    proba = model.predict_proba(scopes)
    order = np.argsort(-proba, axis=1, kind="stable")[:, :3]
    tops = [[(str(model.classes_[j]), float(p[j])) for j in idx] for p, idx in zip(proba, order)]
    out = breakdown(tops, rows)
    rng = np.random.default_rng(seed)
    flagged = {
        "false_flag": sc.flag_inputs(proba, model.classes_, gold),
        "detection": sc.flag_inputs(proba, model.classes_, sc.swap(gold, rng)),
        "detection_same_section": sc.flag_inputs(proba, model.classes_, sc.swap(gold, rng, same_section=True)),
    }
    for key, inputs in flagged.items():
        out[key] = float(np.mean(sc.is_flagged(inputs, model.thresholds_)))
    wrongly = sc.is_flagged(flagged["false_flag"], model.thresholds_)
    out["false_flagged"] = [
        {"id": r["id"], "kind": r["kind"], "gold": r["industry"], "top": [c for c, _ in t]}
        for r, t, hit in zip(rows, tops, wrongly)
        if hit
    ]
    out["missed"] = [
        {"id": r["id"], "kind": r["kind"], "gold": r["industry"], "top": [c for c, _ in t]}
        for r, t in zip(rows, tops)
        if r["industry"] not in [c for c, _ in t]
    ]
    return out


class NameOverlap:
    """Baseline without learning: the 大类 whose name, or one of its 中类 or 小类 names, has the largest
    share of its character bigrams in the scope (ties: more bigrams matched, then code order)."""

    def __init__(self):
        self.names: dict[str, list[set[str]]] = {}
        for node in industries():
            if node.level >= 1:
                grams = _bigrams(node.name.replace("其他", "").replace("未列明", ""))
                if grams:
                    self.names.setdefault(node.code[:3], []).append(grams)

    def top(self, scopes: Sequence[str], k: int = 3) -> list[list[tuple[str, float]]]:
        out = []
        for scope in scopes:
            grams = _bigrams(sc.clean(scope))
            scored = []
            for code, names in self.names.items():
                best = max(((len(n & grams) / len(n), len(n & grams)) for n in names), default=(0.0, 0))
                scored.append((best, code))
            scored.sort(key=lambda x: (-x[0][0], -x[0][1], x[1]))
            out.append([(code, share) for (share, _), code in scored[:k]])
        return out


def _bigrams(text: str) -> set[str]:
    text = re.sub(r"[^\u4e00-\u9fff]", "", text)
    return {text[i : i + 2] for i in range(len(text) - 1)}


def description_only(seed: int = 0) -> sc.ScopeClassifier:
    """Baseline: the same classifier trained on the standard's names and descriptions alone."""
    data = sc.training_set([], seed=seed)
    return sc.ScopeClassifier(seed=seed).fit(data.texts, data.labels, groups=sc.fold_groups(data.origins))
