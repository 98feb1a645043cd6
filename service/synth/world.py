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


def generate_world(
    n: int, seed: int, city: str, out_dir, progress=None, reference_date: dt.date = params.REFERENCE_DATE
) -> dict:
    """Write ``enterprises.csv``, ``rosters/*.csv``, ``policies/*.yaml`` and ``events.jsonl`` under ``out_dir``.

    ``progress(stage, done, total)`` is called as work advances (stages
    ``enterprises``, ``policies``, ``events``, ``write``). Same arguments, same
    bytes: one ``numpy.random.Generator(seed)`` drives everything and nothing
    reads the clock.
    """
    if n < 1:
        raise ValueError("企业数量应为正整数")
    out = Path(out_dir)
    say = progress or (lambda stage, done, total: None)
    rng = np.random.default_rng(seed)

    say("enterprises", 0, n)
    frame = enterprises.generate(n, rng, city, reference_date)
    say("enterprises", n, n)

    specs = policies.build(city, reference_date)
    say("policies", len(specs), len(specs))

    rules = [policies.to_spec(s) for s in specs]
    evs = events.simulate(frame, rules, rng, reference_date, progress=lambda d, t: say("events", d, t))

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
    say("write", 3, 3)
    paid_rows = evs.kind == events.KIND_ORDER["paid"]
    for text in evs.payload[paid_rows].tolist():
        amount = text.split('"amount":"', 1)[1].split('"', 1)[0]
        paid += round(float(amount) * 100)
    return {
        "enterprises": n,
        "policies": len(specs),
        "automatic": sum(s["mode"] == "automatic" for s in specs),
        "rosters": listed,
        "as_of": reference_date.isoformat(),
        "events": len(evs),
        "events_by_kind": {k: int(c) for k, c in zip(events.KINDS, kinds)},
        "paid_yuan": f"{paid // 100}.{paid % 100:02d}",
        "city": city,
        "seed": seed,
        "out": str(out),
    }
