"""The business-scope classifier on licences written by hand: the figures of docs/scope-classifier.md.

Trains the model as ``zhida scope train`` does (or loads ``--model FILE``), then measures on the
hand-written licence-style set (``models/data/business_scopes_heldout.jsonl``, 237 scopes; ``--set dev``
for the 61 of the development set):

- top-1 and top-3 accuracy, overall, per 门类 and per wording (一般项目/许可项目 vs older), beside two
  baselines: the nearest class name by character-bigram overlap (no learning) and the same classifier
  trained on the standard's names and descriptions only (no generated scopes);
- the doubtful-industry flag: the share of firms flagged when recorded under their gold 大类 (false
  flags), and when recorded under a random other 大类 (detection; also within the same 门类);
- the model's own held-out figures (out-of-fold, whole 中类 held out) and its thresholds.

    python bench/eval_scope_classifier.py [--set heldout|dev] [--model FILE] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def measure(which: str, model_file: Path | None) -> dict:
    from models import scope_classifier as sc
    from models import scope_eval
    from service import scopes

    started = time.perf_counter()
    if model_file is not None:
        model = sc.load(model_file)
    else:
        model = sc.train(scopes.generated_scopes(), n_jobs=-1)
    trained = time.perf_counter() - started
    rows = scope_eval.licence_set(which)
    texts = [r["business_scope"] for r in rows]
    result = {
        "set": which,
        "model": model.version_,
        "train_seconds": trained,
        "model_held_out": model.report_["held_out"],
        "thresholds": model.thresholds_,
        "classifier": scope_eval.evaluate(model, rows),
        "name_overlap": scope_eval.breakdown(scope_eval.NameOverlap().top(texts), rows),
        "descriptions_only": scope_eval.breakdown(scope_eval.description_only().top(texts), rows),
    }
    result["classes"] = len({r["industry"] for r in rows})
    return result


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def show(r: dict) -> None:
    from graph import industries
    from models.scope_classifier import describe_flag

    c, names, desc = r["classifier"], r["name_overlap"], r["descriptions_only"]
    print(f"licence-style set '{r['set']}': {c['n']} scopes, {r['classes']} 大类, {len(c['sections'])} 门类")
    print(f"model {r['model']} (trained in {r['train_seconds']:.1f} s)")
    print()
    print(f"{'':26s} {'top-1':>7s} {'top-3':>7s}")
    for label, x in (("classifier", c), ("baseline: name overlap", names), ("baseline: descriptions only", desc)):
        print(f"{label:26s} {_pct(x['top1']):>7s} {_pct(x['top3']):>7s}")
    print()
    print("per 门类 (n; classifier top-1 / top-3; name overlap top-1 / top-3; descriptions only top-1 / top-3)")
    for s, x in c["sections"].items():
        n, d = names["sections"][s], desc["sections"][s]
        name = industries().get(s).name
        print(
            f"  {s} {name[:12]:12s} {x['n']:4d}  {_pct(x['top1'])} {_pct(x['top3'])}  "
            f"{_pct(n['top1'])} {_pct(n['top3'])}  {_pct(d['top1'])} {_pct(d['top3'])}"
        )
    print("per wording (n; classifier top-1 / top-3)")
    for s, x in c["styles"].items():
        print(f"  {s:9s} {x['n']:4d}  {_pct(x['top1'])} {_pct(x['top3'])}")
    t = r["thresholds"]
    print()
    print(f"flag: {describe_flag(t)}")
    held = r["model_held_out"]
    print(
        f"  model held-out (whole 中类 out, {held['n']} noisy generated scopes): top-1 {_pct(held['top1'])}, "
        f"top-3 {_pct(held['top3'])}; false flags {_pct(t['false_flag'])}, detection {_pct(t['detection'])}, "
        f"same 门类 {_pct(t['detection_same_section'])}"
    )
    print(
        f"  licence-style set: false flags {_pct(c['false_flag'])}, detection {_pct(c['detection'])}, "
        f"same 门类 {_pct(c['detection_same_section'])}"
    )
    print(f"flagged although recorded under their gold 大类 ({len(c['false_flagged'])}):")
    for m in c["false_flagged"]:
        print(f"  {m['id']} {m['gold']} {m['kind']}: {' '.join(m['top'])}")
    print(f"not in the top three ({len(c['missed'])}):")
    for m in c["missed"]:
        print(f"  {m['id']} {m['gold']} {m['kind']}: {' '.join(m['top'])}")
    print()
    print(
        f"scope classifier on {c['n']} licence-style scopes: top-1 {_pct(c['top1']).strip()}, top-3 "
        f"{_pct(c['top3']).strip()} (name overlap {_pct(names['top1']).strip()} / {_pct(names['top3']).strip()}, "
        f"descriptions only {_pct(desc['top1']).strip()} / {_pct(desc['top3']).strip()}); flag false "
        f"{_pct(c['false_flag']).strip()}, detection {_pct(c['detection']).strip()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="which", choices=("heldout", "dev"), default="heldout")
    parser.add_argument("--model", type=Path, default=None, help="a saved scope-classifier-<version>.joblib")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    result = measure(args.which, args.model)
    if args.json:
        json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        show(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
