"""One call that writes a whole synthetic city: enterprises, rosters, policies, events."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import yaml

from service.synth import enterprises, events, params, policies, rosters


class _SpecDumper(yaml.SafeDumper):
    """safe_dump without YAML anchors/aliases (repeated dates or facts stay written out)."""

    def ignore_aliases(self, data):
        return True


def write_spec(spec: dict, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        yaml.dump(policies.to_yaml_data(spec), fh, Dumper=_SpecDumper, allow_unicode=True, sort_keys=False, width=100)


TRUTH_README = """# truth/: for scoring only

What the generator knows and no platform logs: each firm's latent community,
engagement and tastes, and the take-up probabilities of every (firm, policy)
pair in the scored period (from `scored_from` in meta.json). Never import
these files and never give them to a model: they exist so that an evaluation
can compute the ceiling a perfect ranker would reach. See
docs/synthetic-data.md, "Behaviour".

- firms.csv: uscc, cluster, engagement, push_rate (rows in enterprises.csv order)
- tastes.npy: float16, firm × (topics + departments) in meta.json's order
- takeup.npy: float16, firm × policy × 3: P(view | round opened, shown first),
  P(apply | view), P(approved | apply), at a typical push without deadline rush
- scored.npy: bool, firm × policy: pushable in the scored period
"""


def write_truth(truth, usccs, policy_ids: list[str], folder: Path) -> None:
    """The latent behaviour, apart from the events (for scoring only; the importer never reads it)."""
    import json

    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(TRUTH_README, encoding="utf-8")
    firms = pd.DataFrame(
        {
            "uscc": np.asarray(usccs),
            "cluster": truth.cluster,
            "engagement": np.round(truth.engagement, 4),
            "push_rate": np.round(truth.push_rate, 4),
        }
    )
    firms.to_csv(folder / "firms.csv", index=False, lineterminator="\n")
    np.save(folder / "tastes.npy", np.hstack([truth.topic_taste, truth.department_taste]).astype(np.float16))
    np.save(folder / "takeup.npy", truth.takeup.astype(np.float16))
    np.save(folder / "scored.npy", truth.scored)
    meta = {
        "warning": "仅用于评估：不得导入，不得作为模型输入",
        "scored_from": truth.scored_from.isoformat(),
        "policies": policy_ids,
        "topics": truth.topics,
        "departments": truth.departments,
        "takeup": ["p_view_opened_first", "p_apply_given_view", "p_approved_given_apply"],
    }
    (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def generate_world(
    n: int,
    seed: int,
    city: str,
    out_dir,
    progress=None,
    reference_date: dt.date = params.REFERENCE_DATE,
    n_policies: int | None = None,
) -> dict:
    """Write ``enterprises.csv``, ``rosters/*.csv``, ``policies/*.yaml``, ``events.jsonl`` and ``truth/`` under
    ``out_dir`` (``truth/``: the latent behaviour, for scoring only).

    ``n_policies``: that many policies, the catalogue and then districts' own
    versions of its city-wide measures (:func:`.policies.build`;
    :class:`.policies.PolicyCountError` outside :func:`.policies.capacity`);
    None: the catalogue.

    ``progress(stage, done, total)`` is called as work advances (stages
    ``enterprises``, ``policies``, ``events``, ``write``). Same arguments, same
    bytes: one ``numpy.random.Generator(seed)`` drives everything and nothing
    reads the clock.
    """
    if n < 1:
        raise ValueError("企业数量应为正整数")
    if n_policies is not None:
        policies.check_count(city, n_policies)  # before any work
    out = Path(out_dir)
    say = progress or (lambda stage, done, total: None)
    rng = np.random.default_rng(seed)

    say("enterprises", 0, n)
    frame = enterprises.generate(n, rng, city, reference_date)
    say("enterprises", n, n)

    specs = policies.build(city, reference_date, n_policies)
    say("policies", len(specs), len(specs))

    rules = [policies.to_spec(s) for s in specs]
    index = {s["id"]: j for j, s in enumerate(specs)}
    of = [index[s["_of"]] if "_of" in s else -1 for s in specs]  # district versions → their city measure
    evs = events.simulate(
        frame,
        rules,
        rng,
        reference_date,
        progress=lambda d, t: say("events", d, t),
        versions_of=of if max(of) >= 0 else None,
    )

    say("write", 0, 3)
    (out / "policies").mkdir(parents=True, exist_ok=True)
    for old in (out / "policies").glob("*.yaml"):
        old.unlink()  # a rerun into the same folder leaves exactly this world
    rosters.register(frame).to_csv(out / "enterprises.csv", index=False, lineterminator="\n")
    listed = rosters.write(frame, out / "rosters")  # who is on each roster, as of the reference date
    say("write", 1, 3)
    for spec in specs:
        write_spec(spec, out / "policies" / f"{spec['id']}.yaml")
    say("write", 2, 3)
    paid = 0
    with open(out / "events.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(evs.lines())
    kinds = np.bincount(evs.kind, minlength=len(events.KINDS))
    if evs.truth is not None:
        write_truth(evs.truth, frame["uscc"], [s["id"] for s in specs], out / "truth")
    say("write", 3, 3)
    paid_rows = evs.kind == events.KIND_ORDER["paid"]
    for text in evs.payload[paid_rows].tolist():
        amount = text.split('"amount":"', 1)[1].split('"', 1)[0]
        paid += round(float(amount) * 100)
    return {
        "enterprises": n,
        "policies": len(specs),
        "automatic": sum(s["mode"] == "automatic" for s in specs),
        "district_versions": sum("_of" in s for s in specs),
        "rosters": listed,
        "as_of": reference_date.isoformat(),
        "events": len(evs),
        "events_by_kind": {k: int(c) for k, c in zip(events.KINDS, kinds)},
        "paid_yuan": f"{paid // 100}.{paid % 100:02d}",
        "city": city,
        "seed": seed,
        "out": str(out),
    }
