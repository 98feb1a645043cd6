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
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

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


def _is_datetime(column) -> bool:
    import pandas as pd

    return pd.api.types.is_datetime64_any_dtype(column)
