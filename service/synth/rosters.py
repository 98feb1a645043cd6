"""The city's rosters (名单): who is on each published list, as of the reference date.

The generator knows every firm's qualifications and credit listings (the frame of
:mod:`.enterprises` holds them explicitly: ``none`` and ``false`` where a firm has none).
As the city's departments do, it publishes them as rosters, one file per roster of the
catalog whose field it models (``rosters/<roster id>.csv``: ``uscc,name``, the listed firms
in register order, a header alone when nobody is on it), and leaves the roster fields of
``enterprises.csv`` empty: importing the rosters as of the reference date (``zhida import rosters``) makes a
firm they do not list known not to be on them (:func:`matcher.facts.closed_value`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from matcher import catalog
from matcher.facts import closed_value, closures

HEADER = "uscc,name\n"


def roster_fields() -> list[str]:
    """The fields the rosters set (``absence: roster``), in catalog order."""
    return [f.name for f in catalog.FACT_FIELDS if f.roster]


def listed(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per roster id, which firms (rows of the explicit frame) it lists: the rosters of the fields the generator
    models (known for every firm). A roster field it does not model (a deployment's, or one added to the
    catalog as data) gets no roster: publishing an empty one would claim that nobody is on it."""
    out = {}
    for r in catalog.ROSTERS.values():
        if r.field not in frame or (frame[r.field] == "").any():
            continue
        values = frame[r.field].to_numpy().astype(str)
        if catalog.FIELDS[r.field].type == "bool":
            out[r.id] = values == "true"
        else:
            out[r.id] = np.char.find(np.char.add(np.char.add(";", values), ";"), f";{r.member};") >= 0
    return out


def write(frame: pd.DataFrame, folder) -> dict[str, int]:
    """One file per roster under ``folder`` (old roster files there are removed); returns the member counts."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.csv"):
        old.unlink()  # a rerun into the same folder leaves exactly this city's rosters
    counts = {}
    for rid, mask in listed(frame).items():
        rows = frame.loc[mask, ["uscc", "name"]]
        with open(folder / f"{rid}.csv", "w", encoding="utf-8", newline="") as fh:
            fh.write(HEADER)
            rows.to_csv(fh, index=False, header=False, lineterminator="\n")
        counts[rid] = int(mask.sum())
    return counts


def register(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as ``enterprises.csv`` publishes it: roster fields empty (the rosters say who is on them)."""
    out = frame.copy()
    for name in roster_fields():
        if name in out:
            out[name] = ""
    return out


def read(world, as_of: dt.date | None = None) -> pd.DataFrame:
    """A generated city as the platform reads it once its rosters are imported as of ``as_of`` (default the
    ``as_of`` of ``enterprises.csv``): ``enterprises.csv`` with each roster field filled from the rosters, and
    the firms they do not list settled by :func:`matcher.facts.closed_value` (``false``, ``none``)."""
    world = Path(world)
    frame = pd.read_csv(world / "enterprises.csv", dtype=str, keep_default_na=False)
    as_of = as_of or dt.date.fromisoformat(frame["as_of"].iloc[0])
    position = {code: i for i, code in enumerate(frame["uscc"])}
    published = []
    members: dict[str, list[set]] = {name: [set() for _ in range(len(frame))] for name in roster_fields()}
    for r in catalog.ROSTERS.values():
        path = world / "rosters" / f"{r.id}.csv"
        if not path.exists():
            continue
        published.append((r.id, as_of))
        for code in pd.read_csv(path, dtype=str, keep_default_na=False)["uscc"]:
            members[r.field][position[code]].add(r.member or True)
    shut = closures(published, as_of)
    for name, held in members.items():
        f = catalog.FIELDS[name]
        column = []
        for own, cell in zip(held, frame[name]):
            if own:
                value = True if f.type == "bool" else frozenset(own) | (catalog.load_value(name, cell) or frozenset())
                column.append(catalog.format_value(name, value))
            elif cell or name not in shut:
                column.append(cell)
            else:
                settled = closed_value(shut[name], None)
                column.append(settled[0] if settled else "")
        frame[name] = column
    return frame
