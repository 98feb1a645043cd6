"""Import and export of a records field (新招用人员 ``new_hires``): one row per record, keyed by USCC.

A file (CSV with a header, or JSON Lines) holds the records of one field: ``uscc``, optionally
``as_of``, and the field's sub-field columns. All records of one enterprise in a file become that
enterprise's value of the field as of the date — one stored fact whose value is the list's canonical
JSON (:func:`matcher.catalog.format_value`) — replacing a value from the same source and date; the
enterprises the file does not name are left as they are. A row with the USCC and every sub-field
empty says the enterprise has no records (a known empty list). The whole file is validated first
(``FILE:LINE: column: reason``) and nothing is written when a row is bad. Format:
docs/import-formats.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from matcher import catalog
from matcher.errors import InvalidFieldValue
from service.io.importer import ImportReport, RowError, _Rows
from service.store import fast_upsert
from service.store.models import Enterprise, FieldValue, utcnow

KEYS = ("uscc", "as_of")


def records_field(name: str) -> catalog.Field:
    """The records field ``name`` (its label works too), or ValueError naming the choices."""
    for f in catalog.FIELDS.values():
        if f.type == "records" and name in (f.name, f.label):
            return f
    choices = "、".join(f"{f.name}（{f.label}）" for f in catalog.FIELDS.values() if f.type == "records")
    raise ValueError(f"{name!r} 不是记录列表字段；可用：{choices or '无'}")


@dataclass
class Firm:
    """The records of one enterprise read from a file."""

    uscc: str
    as_of: dt.date
    line: int  # its first row
    records: list[dict] = field(default_factory=list)
    empty: int | None = None  # the line saying it has no records
    over: bool = False  # more records than the field allows (reported once)


def read_records(path, name: str, known: set[str], as_of: dt.date | None = None, fmt=None, today=None):
    """The firms of a records file (``{uscc: Firm}``, in file order) and the row errors."""
    path = Path(path)
    f = records_field(name)
    today = today or dt.date.today()
    subs = [s.name for s in f.fields]
    allowed = set(KEYS) | set(subs)
    where = path.name
    firms: dict[str, Firm] = {}
    errors: list[RowError] = []

    def unknown_keys(line, keys):
        return [
            RowError(where, line, k, f"未知的列（{f.label}的记录字段：{'、'.join(subs)}；另可有 uscc、as_of）")
            for k in keys
            if k not in allowed
        ]

    rows = _Rows(path, fmt)
    for line, rec, problem in rows:
        if problem == "header":
            bad = unknown_keys(1, rec)
            if "uscc" not in rec:
                bad.append(RowError(where, 1, "uscc", "缺少必需的列"))
            if bad:
                return {}, bad
            continue
        if problem:
            errors.append(RowError(where, line, None, problem))
            continue
        row_errors = unknown_keys(line, rec) if rows.fmt != "csv" else []
        raw_code = rec.get("uscc")
        code = None
        try:
            code = catalog.parse_value("uscc", raw_code)
        except InvalidFieldValue as e:
            row_errors.append(RowError(where, line, "uscc", e.reason, raw_code))
        else:
            if code is None:
                row_errors.append(RowError(where, line, "uscc", "缺少企业统一社会信用代码"))
            elif code not in known:
                row_errors.append(RowError(where, line, "uscc", "企业不在库中（请先导入企业）", code))
        day = as_of or today
        raw_day = rec.get("as_of")
        if raw_day not in (None, ""):
            try:
                day = dt.date.fromisoformat(str(raw_day))
            except ValueError:
                row_errors.append(RowError(where, line, "as_of", "日期格式应为 YYYY-MM-DD", raw_day))
        if day > today:
            row_errors.append(RowError(where, line, "as_of", "数据日期不能晚于今天", day.isoformat()))
        record = {}
        for sub in subs:
            raw = rec.get(sub)
            try:
                value = catalog.parse_sub(f.name, sub, raw, today=day)
            except InvalidFieldValue as e:
                row_errors.append(RowError(where, line, sub, e.reason, raw))
                continue
            if value is not None:
                record[sub] = value
        if row_errors or code is None:
            errors.extend(row_errors)
            continue
        firm = firms.get(code)
        if firm is None:
            firm = firms[code] = Firm(code, day, line)
        elif firm.as_of != day:
            why = f"同一企业的记录应为同一数据日期（第 {firm.line} 行为 {firm.as_of}）"
            errors.append(RowError(where, line, "as_of", why, day.isoformat()))
            continue
        if not record:  # the enterprise has no records
            if firm.records:
                why = f"空记录行表示企业没有{f.label}，但第 {firm.line} 行起已有记录"
                errors.append(RowError(where, line, None, why))
            firm.empty = line
            continue
        if firm.empty is not None:
            errors.append(RowError(where, line, None, f"第 {firm.empty} 行已表示该企业没有{f.label}"))
            continue
        if len(firm.records) == f.max_items:
            if not firm.over:
                why = f"记录过多：同一企业最多 {f.max_items} 条（自第 {firm.line} 行起）"
                errors.append(RowError(where, line, None, why, code))
            firm.over = True
            continue
        firm.records.append(record)
    return firms, errors


def import_records(
    engine,
    name: str,
    path,
    as_of: dt.date | None = None,
    source: str | None = None,
    fmt: str | None = None,
    today: dt.date | None = None,
) -> ImportReport:
    """Validate a records file, then store each enterprise's list as one fact, in one transaction."""
    started = time.perf_counter()
    f = records_field(name)
    source = source or f.source
    if source not in catalog.SOURCES:
        raise ValueError(f"来源 {source!r} 无效：应为 {'、'.join(catalog.SOURCES)} 之一")
    today = today or dt.date.today()
    if as_of is not None and as_of > today:
        raise ValueError(f"数据日期 {as_of} 不能晚于今天")
    with engine.connect() as conn:
        ids = dict(conn.execute(select(Enterprise.uscc, Enterprise.id)).all())
    firms, errors = read_records(path, f.name, set(ids), as_of, fmt, today)
    report = ImportReport("records", errors=errors, bad=len({e.line for e in errors}))
    report.read = sum(len(x.records) + (x.empty is not None) for x in firms.values()) + report.bad
    if errors:
        report.seconds = time.perf_counter() - started
        return report
    now = utcnow()
    rows = [
        (ids[x.uscc], f.name, catalog.format_value(f.name, tuple(_full(f, r) for r in x.records)), source, x.as_of, now)
        for x in firms.values()
    ]
    with engine.begin() as conn:
        fast_upsert(
            conn,
            FieldValue.__table__,
            ["enterprise_id", "field", "value", "source", "as_of", "recorded_at"],
            rows,
            conflict=["enterprise_id", "field", "source", "as_of"],
            update=["value", "recorded_at"],
        )
    report.written = len(firms)
    report.facts = sum(len(x.records) for x in firms.values())
    report.committed = True
    report.seconds = time.perf_counter() - started
    return report


def _full(f: catalog.Field, record: dict) -> dict:
    return {s.name: record.get(s.name) for s in f.fields}


# -- export ---------------------------------------------------------------------------------------


def stored_lists(engine, name: str):
    """``(uscc, as_of, records)`` per enterprise: the newest value of the field from its own catalog source
    (as the enterprises export chooses), in enterprise order."""
    f = records_field(name)
    best: dict[int, tuple] = {}
    with engine.connect() as conn:
        query = select(FieldValue.enterprise_id, FieldValue.value, FieldValue.as_of, FieldValue.recorded_at).where(
            FieldValue.field == f.name, FieldValue.source == f.source
        )
        for eid, value, day, recorded in conn.execute(query):
            if eid not in best or (day, recorded) > best[eid][1:]:
                best[eid] = (value, day, recorded)
        codes = dict(conn.execute(select(Enterprise.id, Enterprise.uscc)).all())
    for eid in sorted(best):
        value, day, _ = best[eid]
        yield codes[eid], day, catalog.load_value(f.name, value)


def export_records(engine, name: str, path) -> tuple[int, int]:
    """Write a records field in the import format (CSV or .jsonl): ``(enterprises, records)`` written."""
    f = records_field(name)
    path = Path(path)
    columns = ["uscc", "as_of", *(s.name for s in f.fields)]
    firms = n = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
        writer = None if jsonl else csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        if writer is not None:
            writer.writeheader()
        for code, day, records in stored_lists(engine, f.name):
            firms += 1
            rows = [{s.name: catalog.format_sub(f.name, s.name, r.get(s.name)) for s in f.fields} for r in records] or [
                {}
            ]  # no records: one row with the USCC alone
            for row in rows:
                out = {"uscc": code, "as_of": day.isoformat(), **row}
                if jsonl:
                    typed = {k: v for k, v in out.items() if v != ""}
                    for s in f.fields:  # numbers and flags as JSON keeps them
                        if s.name in typed and s.type in ("count", "bool"):
                            typed[s.name] = catalog.parse_sub(f.name, s.name, typed[s.name])
                    fh.write(json.dumps(typed, ensure_ascii=False) + "\n")
                else:
                    writer.writerow(out)
            n += len(records)
    return firms, n


def export_all_records(engine, enterprises_path) -> list[tuple[str, Path, int, int]]:
    """Beside an enterprises export ``X.csv``, each records field with stored values as ``X.FIELD.csv``."""
    base = Path(enterprises_path)
    out = []
    for f in catalog.FIELDS.values():
        if f.type != "records":
            continue
        with engine.connect() as conn:
            any_value = conn.execute(select(FieldValue.id).where(FieldValue.field == f.name).limit(1)).first()
        if any_value is None:
            continue
        target = base.with_name(f"{base.stem}.{f.name}{base.suffix}")
        firms, n = export_records(engine, f.name, target)
        out.append((f.name, target, firms, n))
    return out
