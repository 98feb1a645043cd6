"""One call that writes a whole synthetic city: enterprises, policies, events."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import yaml

from service.synth import enterprises, events, params, policies


def generate_world(
    n: int, seed: int, city: str, out_dir, progress=None, reference_date: dt.date = params.REFERENCE_DATE
) -> dict:
    """Write ``enterprises.csv``, ``policies/*.yaml`` and ``events.jsonl`` under ``out_dir``.

    ``progress(stage, done, total)`` is called as work advances. Same arguments,
    same bytes.
    """
    if n < 1:
        raise ValueError("企业数量应为正整数")
    out = Path(out_dir)
    (out / "policies").mkdir(parents=True, exist_ok=True)
    for old in (out / "policies").glob("*.yaml"):
        old.unlink()  # a rerun into the same folder leaves exactly this world
    say = progress or (lambda stage, done, total: None)
    rng = np.random.default_rng(seed)

    say("enterprises", 0, n)
    frame = enterprises.generate(n, rng, city, reference_date)
    frame.to_csv(out / "enterprises.csv", index=False, lineterminator="\n")
    say("enterprises", n, n)

    specs = policies.build(city, reference_date)
    for spec in specs:
        with open(out / "policies" / f"{spec['id']}.yaml", "w", encoding="utf-8") as fh:
            yaml.safe_dump(policies.to_yaml_data(spec), fh, allow_unicode=True, sort_keys=False, width=100)
    say("policies", len(specs), len(specs))

    evs = events.generate(frame, specs, rng, reference_date, progress=lambda done, total: say("events", done, total))
    with open(out / "events.jsonl", "w", encoding="utf-8") as fh:
        for e in evs:
            fh.write(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n")
    say("events", n, n)
    return {"enterprises": n, "policies": len(specs), "events": len(evs), "city": city, "seed": seed, "out": str(out)}
