"""Evaluate the policy tagger on held-out issuers and on another region, beside two baselines.

Prints the figures of docs/policy-tagger.md as Markdown tables (progress on stderr, a one-line summary at
the end):

1. the Beijing cards (silver labels with the recorded corrections) in 5 folds that hold out whole issuing
   bodies: the tagger (each fold's model calibrates its thresholds on its own training cards), the keyword
   lexicon, and the most frequent topics;
2. trained on all Beijing cards, tested on the 9 Shenzhen documents and the 11 Shenzhen measures shipped
   as specs, with gold labels read from their texts; and the same model trained on the uncorrected silver
   labels, to show what the corrections are worth.

    python bench/eval_policy_tagger.py [--folds 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _row(name: str, s) -> str:
    m = s.micro
    return f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {s.macro_f1:.3f} |"


def _table(title: str, results: dict, n: int) -> list[str]:
    names = {"model": "tagger (model)", "keywords": "keyword lexicon", "frequent": "most frequent topics"}
    out = [
        f"**{title}** ({n} texts)",
        "",
        "| | micro P | micro R | micro F1 | macro F1 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    out += [_row(names.get(k, k), v) for k, v in results.items()]
    return out + [""]


def _per_topic(title: str, results: dict) -> list[str]:
    from graph.tags import TOPICS

    model, kw = results["model"], results["keywords"]
    out = [
        f"**{title}**",
        "",
        "| topic | support | model P | model R | model F1 | keywords F1 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for t, label in TOPICS.items():
        a, b = model.per_topic[t], kw.per_topic[t]
        if a["support"] == 0 and a["predicted"] == 0 and b["predicted"] == 0:
            continue
        out.append(
            f"| {label} `{t}` | {a['support']} | {a['precision']:.2f} | {a['recall']:.2f} | {a['f1']:.2f} "
            f"| {b['f1']:.2f} |"
        )
    return out + [""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    args = parser.parse_args()

    from models import policy_data as data
    from models import policy_eval as ev
    from models import policy_tagger as pt
    from service.policy_tagging import shipped_specs

    started = time.perf_counter()
    beijing = data.corpus()
    silver = data.corpus(corrected=False)
    corrections = data.corrections()
    shenzhen_docs = data.shenzhen()
    shenzhen_measures = [e for e in data.measures(shipped_specs()) if e.group == "深圳"]
    shenzhen = shenzhen_docs + shenzhen_measures
    lines = ["## Data", ""]
    lines.append(
        f"- Beijing cards: {len(beijing)} from {len({e.group for e in beijing})} issuing bodies; "
        f"{len(corrections)} silver labels corrected on {len({c['id'] for c in corrections})} cards "
        f"({sum(c['present'] for c in corrections)} added, {sum(not c['present'] for c in corrections)} removed)"
    )
    lines.append(f"- Shenzhen: {len(shenzhen_docs)} documents and {len(shenzhen_measures)} measures, gold labels")
    lines.append(f"- model parameters: `{json.dumps(pt.PARAMS, ensure_ascii=False)}`")
    lines.append("")
    lines.append("Folds (issuing bodies held out together):")
    lines.append("")
    for k, groups in enumerate(ev.split_folds(beijing, args.folds), 1):
        n = sum(e.group in groups for e in beijing)
        lines.append(f"{k}. {n} cards: {'、'.join(groups)}")
    lines.append("")

    _say(f"留出发文单位：{args.folds} 折，每折训练模型并在其训练卡片上按发文单位分折校准阈值……")
    held = ev.held_out_issuers(
        beijing, args.folds, progress=lambda k, n, g: _say(f"  第 {k}/{n} 折完成（留出 {'、'.join(g)}）")
    )
    _say("跨地区：用全部北京卡片训练，在深圳文件和措施上评估……")
    cross = ev.cross_source(beijing, shenzhen)
    cross_docs = ev.cross_source(beijing, shenzhen_docs)
    cross_measures = ev.cross_source(beijing, shenzhen_measures)
    _say("对照：用未更正的银标签训练……")
    silver_cross = ev.cross_source(silver, shenzhen)
    silver_held = ev.held_out_issuers(silver, args.folds)  # trained and scored on the silver labels

    lines += ["## Held-out issuers (Beijing, GroupKFold by issuing body)", ""]
    lines += _table("Corrected labels", held, len(beijing))
    lines += _table(
        "For reference: silver labels, uncorrected (the keyword baseline imitates how they were made)",
        silver_held,
        len(silver),
    )
    lines += _per_topic("Per topic, held-out issuers, corrected labels", held)
    lines += ["## Cross-source: trained on Beijing, tested on Shenzhen", ""]
    lines += _table("Shenzhen documents and measures", cross, len(shenzhen))
    lines += _table("Shenzhen documents only", cross_docs, len(shenzhen_docs))
    lines += _table("Shenzhen measures only", cross_measures, len(shenzhen_measures))
    lines += _table("Trained on the uncorrected silver labels, same Shenzhen test", silver_cross, len(shenzhen))
    lines += _per_topic("Per topic, Shenzhen documents and measures", cross)
    from models.policy_metrics import paired_bootstrap

    lines += ["## Is the difference more than luck?", ""]
    lines += [
        "Micro-F1 of the tagger minus the keyword lexicon, with the 90% interval over the texts resampled (paired "
        "bootstrap, 2,000 rounds):",
        "",
        "| test | difference | 90% interval |",
        "| --- | ---: | --- |",
    ]
    for name, res in (("held-out issuers", held), ("Shenzhen", cross)):
        d, lo, hi = paired_bootstrap(res["model"], res["keywords"])
        lines.append(f"| {name} | {d:+.3f} | {lo:+.3f} to {hi:+.3f} |")
    lines.append("")
    print("\n".join(lines))

    if args.json:
        figures = {
            "params": pt.PARAMS,
            "held_out_issuers": {k: v.as_dict() for k, v in held.items()},
            "held_out_issuers_silver": {k: v.as_dict() for k, v in silver_held.items()},
            "shenzhen": {k: v.as_dict() for k, v in cross.items()},
            "shenzhen_documents": {k: v.as_dict() for k, v in cross_docs.items()},
            "shenzhen_measures": {k: v.as_dict() for k, v in cross_measures.items()},
            "shenzhen_trained_on_silver": {k: v.as_dict() for k, v in silver_cross.items()},
            "corrections": {"labels": len(corrections), "cards": len({c["id"] for c in corrections})},
        }
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8")
    m, k = held["model"], held["keywords"]
    s, sk = cross["model"], cross["keywords"]
    print(
        f"\n政策标注评估：留出发文单位 micro-F1 {m.micro['f1']:.3f}（关键词 {k.micro['f1']:.3f}），"
        f"macro-F1 {m.macro_f1:.3f}（{k.macro_f1:.3f}）；深圳 micro-F1 {s.micro['f1']:.3f}（{sk.micro['f1']:.3f}），"
        f"macro-F1 {s.macro_f1:.3f}（{sk.macro_f1:.3f}）；用时 {time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
