"""Which value of a fact counts: verified beats declared, then the newest.

An enterprise's facts arrive from several sources (税务, 社保, 市场监管 … and its own
declarations under 信用承诺), each with an as-of date. For each field the value
that counts is, in order of precedence:

1. a verified value over a declared one;
2. among those, the newest ``as_of``; a value dated after the decision's date
   is not yet known and does not count;
3. on the same date, the latest recorded, then the latest row.

Money moves in a 免申即享 sweep on verified values only (``verified_only``).
:func:`pick` applies this to rows one enterprise at a time; :func:`pick_frame`
applies the same precedence, from the same :func:`precedence` key, to a whole
register at once (a sweep); a test keeps the two equal.

Then the rosters (名单): a field with ``absence: roster`` is set by published
lists, and a list is authoritative as of its date. :func:`close` reads one
enterprise's picked values, and :func:`settle_frame` / :func:`close_frame` a whole
register's, with the
rosters on record (``(roster id, as_of)`` pairs), through the same
:func:`closed_value`: once every roster of a field (of each member, for a set) is on
record as of the decision's date, a firm with no verified value is *not on it*
(``false``, the empty set), and a verified value older than a roster that did not
list the firm is superseded by it. A declared value never beats a roster.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from matcher import catalog
from matcher.catalog import VERIFIED_SOURCES

PRECEDENCE = ("verified", "as_of", "recorded_at", "row_id")  # highest wins, compared in this order


def precedence(source: str, as_of: dt.date, recorded_at, row_id) -> tuple:
    """The key that orders one field's values: the highest counts."""
    return (source in VERIFIED_SOURCES, as_of, recorded_at, row_id)


def pick(
    rows: Iterable[tuple], as_of: dt.date | None = None, verified_only: bool = False
) -> dict[str, tuple[str, str, dt.date]]:
    """Per field the value that counts: ``{field: (value_text, source, as_of)}``, from
    ``(field, value, source, as_of, recorded_at, row_id)`` rows of one enterprise."""
    best: dict[str, tuple[tuple, tuple]] = {}
    for name, value, source, day, recorded, row_id in rows:
        if (as_of is not None and day > as_of) or (verified_only and source not in VERIFIED_SOURCES):
            continue
        key = precedence(source, day, recorded, row_id)
        if name not in best or key > best[name][0]:
            best[name] = (key, (value, source, day))
    return {name: found for name, (_, found) in best.items()}


def pick_frame(frame, as_of: dt.date | str | None = None, verified_only: bool = False):
    """:func:`pick` for many enterprises at once: ``frame`` has columns enterprise_id, field, value,
    source, as_of, recorded_at, row_id; returns the rows that count, one per (enterprise, field).
    Dates and times may be values or ISO text (then ``as_of`` is ISO text too): they order alike."""
    import pandas as pd

    rows = frame
    if as_of is not None:
        limit = pd.Timestamp(as_of) if _is_datetime(rows["as_of"]) else as_of
        rows = rows[rows["as_of"] <= limit]
    verified = rows["source"].isin(sorted(VERIFIED_SOURCES))
    if verified_only:
        rows, verified = rows[verified], verified[verified]
    rows = rows.assign(verified=verified)
    ordered = rows.sort_values(["enterprise_id", "field", *PRECEDENCE], kind="stable")
    return ordered.drop_duplicates(["enterprise_id", "field"], keep="last").drop(columns="verified")


@dataclass(frozen=True, slots=True)
class Closure:
    """How a roster field reads as of a date, given the rosters on record.

    ``since`` holds, per member of a set field (``None`` for a bool field), the date its
    rosters speak as of: every roster of that member is on record, and this is the oldest of
    their newest publications up to the date. ``complete``: every member has one, so a firm
    no roster lists is known to be on none."""

    field: str
    since: Mapping
    complete: bool
    source: str  # whose lists they are: a value they settle is verified from this source
    as_of: dt.date  # the newest of ``since``: the date a "not on it" is known as of


def closures(published: Iterable[tuple], as_of: dt.date | str) -> Mapping[str, Closure]:
    """Per roster field, how it reads as of ``as_of`` with the rosters on record: ``published`` is
    ``(roster id, as_of)`` pairs (any order; later dates and rosters the catalog does not know are
    ignored). A field none of whose rosters is on record is not in the answer: absence is unknown."""
    as_of = _day(as_of)
    newest: dict[str, dt.date] = {}
    for rid, day in published:
        day = _day(day)
        if day <= as_of and (rid not in newest or day > newest[rid]):
            newest[rid] = day
    if not newest:
        return {}
    return _closures(tuple(sorted(newest.items())), catalog.digest())  # one per decision: worth keeping


@functools.lru_cache(maxsize=256)
def _closures(newest: tuple, _catalog: str) -> Mapping[str, Closure]:
    newest = {rid: day for rid, day in newest if rid in catalog.ROSTERS}
    if not newest:
        return {}
    rosters: dict[tuple, list] = {}
    for r in catalog.ROSTERS.values():
        f = catalog.FIELDS[r.field]
        rosters.setdefault((r.field, r.member if f.type == "set" else None), []).append(r)
    out = {}
    for f in catalog.FIELDS.values():
        if not f.roster:
            continue
        keys = tuple(f.choices or ()) if f.type == "set" else (None,)
        since = {}
        for key in keys:
            lists = rosters.get((f.name, key), [])
            if lists and all(r.id in newest for r in lists):
                since[key] = min(newest[r.id] for r in lists)
        if not since:
            continue
        sources = {r.source for (name, _), lists in rosters.items() if name == f.name for r in lists}
        source = sources.pop() if len(sources) == 1 else f.source
        out[f.name] = Closure(f.name, MappingProxyType(since), len(since) == len(keys), source, max(since.values()))
    return MappingProxyType(out)


def closed_value(c: Closure, found: tuple | None) -> tuple | None:
    """The value of a roster field that counts, from the one :func:`pick` found (``(text, source, as_of)``
    or None) and the field's :class:`Closure`: the one place that says what a roster's silence means."""
    f = catalog.FIELDS[c.field]
    verified = found is not None and found[1] in VERIFIED_SOURCES
    if f.type == "bool":
        if verified and (found[0] == "false" or _day(found[2]) >= c.since[None]):
            return found  # newer than the roster, or already what it says
        return ("false", c.source, c.since[None])  # not on the list as of its date (or only declared)
    held = (catalog.load_value(c.field, found[0]) or frozenset()) if found is not None else frozenset()
    if verified:
        day = _day(found[2])
        gone = {m for m in held if m in c.since and c.since[m] > day}  # a later roster did not list it
        if not gone:
            return found
        return (catalog.format_value(c.field, held - gone), c.source, max(c.since[m] for m in gone))
    if c.complete:  # every member's roster is on record, and none lists the firm
        return (catalog.format_value(c.field, frozenset()), c.source, c.as_of)
    if found is None:
        return None  # some member has no roster on record: still unknown
    kept = held - set(c.since)  # a declared member whose roster is on record (and did not list it) goes
    return found if kept == held else (catalog.format_value(c.field, kept), found[1], found[2])


def close(current: dict, published: Iterable[tuple], as_of: dt.date | str) -> dict:
    """:func:`pick`'s answer for one enterprise with the rosters on record applied (see :func:`closed_value`)."""
    shut = closures(published, as_of)
    if not shut:
        return current
    out = dict(current)
    for name, c in shut.items():
        value = closed_value(c, current.get(name))
        if value is not None:
            out[name] = value
    return out


def settle_frame(current, published: Iterable[tuple], as_of: dt.date | str):
    """:func:`close` for a whole register, as it is cheapest to apply: ``current`` is :func:`pick_frame`'s
    answer. Returns the rows with each roster field's value settled (each distinct value through
    :func:`closed_value`; the frame itself when none changes), and per settled field the value
    ``(text, source, as_of)`` of an enterprise without a row. Dates are ISO text when ``as_of`` is,
    as in :func:`pick_frame`."""
    shut = closures(published, as_of)
    if not shut:
        return current, {}
    as_text = isinstance(as_of, str)

    def day(value):
        text, source, when = value
        return (text, source, when.isoformat() if as_text and isinstance(when, dt.date) else when)

    fills = {name: day(v) for name, c in shut.items() if (v := closed_value(c, None)) is not None}
    mask = current["field"].isin(list(shut)).to_numpy()
    if not mask.any():
        return current, fills
    rows = current[mask]
    keys = list(zip(rows["field"], rows["value"], rows["source"], rows["as_of"]))
    settled = {k: closed_value(shut[k[0]], k[1:]) for k in set(keys)}
    changed = [(i, day(settled[k])) for i, k in zip(rows.index, keys) if settled[k] != k[1:]]
    if not changed:
        return current, fills
    out = current.copy()
    at = [i for i, _ in changed]
    for n, column in enumerate(("value", "source", "as_of")):
        out.loc[at, column] = [v[n] for _, v in changed]
    return out, fills


def close_frame(current, enterprise_ids, published: Iterable[tuple], as_of: dt.date | str):
    """:func:`close` for a whole register, row by row: :func:`settle_frame`, and a row for every enterprise of
    ``enterprise_ids`` without one of a settled field (without ``recorded_at`` and ``row_id``)."""
    import pandas as pd

    out, fills = settle_frame(current, published, as_of)
    parts = [out]
    ids = pd.Index(enterprise_ids)
    for name, (text, source, day) in fills.items():
        absent = ids.difference(out.loc[out["field"] == name, "enterprise_id"])
        if len(absent):
            parts.append(
                pd.DataFrame({"enterprise_id": absent, "field": name, "value": text, "source": source, "as_of": day})
            )
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else out


def _day(x) -> dt.date:
    return dt.date.fromisoformat(x[:10]) if isinstance(x, str) else x.date() if isinstance(x, dt.datetime) else x


def _is_datetime(column) -> bool:
    import pandas as pd

    return pd.api.types.is_datetime64_any_dtype(column)
