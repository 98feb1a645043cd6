"""Import enterprises (CSV / JSON Lines), events (JSON Lines) and policies (YAML specs).

Everything is validated before anything is written; then one transaction
writes it all. A bad row is reported with file, line, field and reason, and by
default nothing is written; ``skip_bad=True`` writes the good rows and reports
the rest. Formats: docs/import-formats.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select, update

from matcher import catalog
from matcher.errors import InvalidFieldValue
from matcher.policytest import run_cases
from matcher.spec import load_specs
from service import audit
from service.store import fast_upsert, write_scope
from service.store.models import (
    EVENT_KINDS,
    Budget,
    Enterprise,
    Event,
    FieldValue,
    Policy,
    PolicyVersion,
    utcnow,
)

IDENTITY = ("uscc", "name", "region", "industry", "established_on")


def enterprise_columns() -> list[str]:
    """The columns of an enterprise file: every fact of the effective catalog but lists of records
    (a file of their own each), then ``as_of``."""
    return [f.name for f in catalog.FACT_FIELDS if f.type != "records"] + ["as_of"]


EVENT_KEYS = ("event_id", "uscc", "policy_id", "kind", "occurred_at", "payload")
CHUNK = 5000


@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    field: str | None
    reason: str
    value: object = None
    fatal: bool = False  # the file cannot be read on: nothing of it is written, --skip-bad or not

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        what = f" {self.field}:" if self.field else ""
        value = self.value
        if isinstance(value, str) and len(value) > 60:  # a 10,000-character cell is named, not printed
            value = value[:60] + f"…（共 {len(value)} 个字符）"
        shown = f"（值 {value!r}）" if value not in (None, "") else ""
        return f"{where}:{what} {self.reason}{shown}"


@dataclass
class ImportReport:
    kind: str
    read: int = 0
    written: int = 0
    unchanged: int = 0
    bad: int = 0
    facts: int = 0
    errors: list[RowError] = field(default_factory=list)
    seconds: float = 0.0
    committed: bool = False

    @property
    def enterprises(self) -> int:
        return self.written

    def summary(self) -> str:
        label = {"enterprises": "企业", "events": "事件", "policies": "政策", "records": "记录"}[self.kind]
        if not self.committed:
            skip = "" if self.kind == "records" else "（可加 --skip-bad 跳过错误行）"
            return f"未导入：{self.bad} 行有误，未写入任何数据{skip}，用时 {self.seconds:.1f} s"
        if self.kind == "records":
            return f"导入 {self.written} 家企业的记录 {self.facts} 条，用时 {self.seconds:.1f} s"
        extra = f"，字段值 {self.facts} 条" if self.kind == "enterprises" else ""
        same = f"，未变化 {self.unchanged}" if self.unchanged else ""
        return f"导入{label} {self.written} 条{extra}{same}，跳过错误 {self.bad} 行，用时 {self.seconds:.1f} s"


class _Rows:
    """Numbered records from CSV or JSON Lines, with per-line parse errors."""

    def __init__(self, path: Path, fmt: str | None):
        self.path = path
        self.fmt = fmt or ("jsonl" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv")
        if self.fmt not in ("csv", "jsonl"):
            raise ValueError(f"不支持的格式 {fmt!r}：应为 csv 或 jsonl")

    def __iter__(self):
        """Yields ``(line, record_or_None, error_or_None)``; the header is line 1 for CSV. A file that is
        not UTF-8 text ends with ``(line, None, "fatal: …")``: nothing after it can be read."""
        lines = _Lines(self.path)
        try:
            if self.fmt == "csv":
                reader = csv.reader(lines)
                header = next(reader, None)
                if header is None:
                    return
                yield 1, header, "header"
                for row in reader:
                    if not row:
                        continue
                    if len(row) != len(header):
                        yield reader.line_num, None, f"应有 {len(header)} 列，实际 {len(row)} 列"
                        continue
                    yield reader.line_num, dict(zip(header, row)), None
            else:
                for i, line in enumerate(lines, start=1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as e:
                        yield i, None, f"不是合法的 JSON：{e.msg}（第 {e.colno} 列）"
                        continue
                    except RecursionError:
                        yield i, None, "JSON 嵌套过深"
                        continue
                    if not isinstance(obj, dict):
                        yield i, None, "每行应为一个 JSON 对象"
                        continue
                    yield i, obj, None
        except _Undecodable as e:
            yield e.line, None, FATAL + e.reason
        except csv.Error as e:
            yield lines.number, None, FATAL + f"CSV 格式有误：{e}"


FATAL = "fatal: "


class _Undecodable(Exception):
    def __init__(self, line: int, reason: str):
        self.line, self.reason = line, reason


class _Lines:
    """The file's lines as text, decoded one by one, so a byte that is not UTF-8 is named by its line."""

    def __init__(self, path: Path):
        self.path = path
        self.number = 0

    def __iter__(self):
        with open(self.path, "rb") as fh:
            head = fh.read(4096)
            controls = sum(1 for b in head if b < 9 or 13 < b < 32)
            if controls > max(2, len(head) // 100):  # text has next to none; .xlsx, .zip and images are full of them
                raise _Undecodable(
                    1, "看来是二进制文件（如 Excel 的 .xlsx），不是 CSV 或 JSON Lines 文本：请另存为 UTF-8 编码的 CSV"
                )
            fh.seek(0)
            for self.number, raw in enumerate(fh, start=1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    try:
                        raw.decode("gb18030")
                        hint = "，看来是 GBK/GB18030 编码：请另存为 UTF-8（如 iconv -f GB18030 -t UTF-8）"
                    except UnicodeDecodeError:
                        hint = ""
                    raise _Undecodable(self.number, f"不是 UTF-8 编码的文本（第 {e.start + 1} 字节）{hint}") from None
                yield text.removeprefix("\ufeff") if self.number == 1 else text


@lru_cache(maxsize=65536)
def _cached_parse(name: str, raw: str):
    """Parsing of low-cardinality columns (codes, enums, flags) is memoised."""
    return catalog.parse_value(name, raw)


CACHED_TYPES = ("region", "industry", "enum", "bool", "set")


def _parse_cell(name: str, raw, today: dt.date):
    f = catalog.FIELDS[name]
    if isinstance(raw, str) and f.type in CACHED_TYPES:
        return _cached_parse(name, raw)
    if isinstance(raw, list) and f.type == "set":
        return catalog.parse_value(name, raw)
    return catalog.parse_value(name, raw, today=today)


def read_enterprises(path, fmt: str | None = None, today: dt.date | None = None):
    """Validated enterprise records ``(line, typed_dict, as_of)`` and row errors."""
    path = Path(path)
    today = today or dt.date.today()
    records, errors, seen = [], [], {}
    name = path.name
    columns = enterprise_columns()
    for line, rec, problem in _Rows(path, fmt):
        if problem == "header":
            unknown = [c for c in rec if c not in columns]
            for col in unknown:
                errors.append(RowError(name, 1, col, "未知的列（不在字段目录中，派生字段不能导入）"))
            missing = [f.name for f in catalog.FACT_FIELDS if f.required and f.name not in rec]
            for col in missing:
                errors.append(RowError(name, 1, col, "缺少必需的列"))
            if unknown or missing:
                return [], errors
            continue
        if problem and problem.startswith(FATAL):
            errors.append(RowError(name, line, None, problem.removeprefix(FATAL), fatal=True))
            return [], errors
        if problem:
            errors.append(RowError(name, line, None, problem))
            continue
        row_errors, typed = [], {}
        if fmt != "csv":
            for key in rec:
                if key not in columns:
                    row_errors.append(RowError(name, line, key, "未知的字段（不在字段目录中）"))
        as_of = today
        raw_as_of = rec.get("as_of")
        if raw_as_of not in (None, ""):
            try:
                as_of = dt.date.fromisoformat(str(raw_as_of))
                if as_of > today:
                    row_errors.append(RowError(name, line, "as_of", "数据日期不能晚于今天", raw_as_of))
            except ValueError:
                row_errors.append(RowError(name, line, "as_of", "日期格式应为 YYYY-MM-DD", raw_as_of))
        for f in catalog.FACT_FIELDS:
            if f.type == "records":
                continue
            raw = rec.get(f.name)
            try:
                value = _parse_cell(f.name, raw, as_of)
            except InvalidFieldValue as e:
                row_errors.append(RowError(name, line, f.name, e.reason, raw))
                continue
            if value is None:
                if f.required:
                    row_errors.append(RowError(name, line, f.name, "必填字段为空"))
                continue
            typed[f.name] = value
        if not row_errors:
            for name_, reason, _ in catalog.inconsistencies(typed, as_of):
                row_errors.append(RowError(name, line, name_, reason))
        code = typed.get("uscc")
        if code is not None:
            if code in seen:
                row_errors.append(RowError(name, line, "uscc", f"与第 {seen[code]} 行的统一社会信用代码重复", code))
            else:
                seen[code] = line
        if row_errors:
            errors.extend(row_errors)
        else:
            records.append((line, typed, as_of))
    return records, errors


def import_enterprises(
    engine, path, skip_bad: bool = False, fmt: str | None = None, source: str | None = None, progress=None
) -> ImportReport:
    """Validate the whole file, then write enterprises and their field values in one transaction."""
    started = time.perf_counter()
    say = progress or (lambda stage, done, total: None)
    if source is not None and source not in catalog.SOURCES:
        raise ValueError(f"来源 {source!r} 无效：应为 {'、'.join(catalog.SOURCES)} 之一")
    records, errors = read_enterprises(path, fmt)
    report = ImportReport(
        "enterprises",
        read=len(records) + len({e.line for e in errors}),
        bad=len({e.line for e in errors}),
        errors=errors,
    )
    say("validated", len(records), len(records))
    if errors and (not skip_bad or any(e.fatal for e in errors)):
        report.seconds = time.perf_counter() - started
        return report
    now = utcnow()
    with engine.begin() as conn:
        existing = dict(conn.execute(select(Enterprise.uscc, Enterprise.id)).all())
        new_rows, changed = [], []
        for _, typed, _ in records:
            ident = {k: typed.get(k) for k in IDENTITY}
            if typed["uscc"] in existing:
                changed.append({"id": existing[typed["uscc"]], **ident, "updated_at": now})
            else:
                new_rows.append({**ident, "created_at": now, "updated_at": now})
        for i in range(0, len(new_rows), CHUNK):
            conn.execute(Enterprise.__table__.insert(), new_rows[i : i + CHUNK])
            say("enterprises", min(i + CHUNK, len(new_rows)), len(new_rows))
        if changed:
            t = Enterprise.__table__
            conn.execute(
                update(t).where(t.c.id == _bind("id")).values({k: _bind(k) for k in (*IDENTITY, "updated_at")}),
                [{("b_" + k): v for k, v in row.items()} for row in changed],
            )
        if new_rows:
            existing = dict(conn.execute(select(Enterprise.uscc, Enterprise.id)).all())
        columns = ["enterprise_id", "field", "value", "source", "as_of", "recorded_at"]

        def fact_rows():
            for _, typed, as_of in records:
                eid = existing[typed["uscc"]]
                for name, value in typed.items():
                    if name not in IDENTITY:
                        yield (
                            eid,
                            name,
                            catalog.format_value(name, value),
                            source or catalog.FIELDS[name].source,
                            as_of,
                            now,
                        )

        say("facts", 0, len(records))
        n_facts = fast_upsert(
            conn,
            FieldValue.__table__,
            columns,
            fact_rows(),
            conflict=["enterprise_id", "field", "source", "as_of"],
            update=["value", "recorded_at"],
        )
        say("facts", n_facts, n_facts)
    report.written, report.facts, report.committed = len(records), n_facts, True
    report.seconds = time.perf_counter() - started
    return report


def _bind(name):
    from sqlalchemy import bindparam

    return bindparam("b_" + name)


def read_events(
    path,
    known_usccs: dict[str, int],
    known_policies: dict[str, int],
    now: dt.datetime | None = None,
    fmt: str | None = None,
):
    """Validated event rows ready to insert, and row errors."""
    path = Path(path)
    now = now or dt.datetime.now(dt.UTC)
    rows, errors, seen = [], [], set()
    for line, rec, problem in _Rows(path, fmt):
        if problem == "header":
            unknown = [c for c in rec if c not in EVENT_KEYS]
            if unknown or not {"uscc", "kind", "occurred_at"} <= set(rec):
                bad = unknown or sorted({"uscc", "kind", "occurred_at"} - set(rec))
                errors.extend(RowError(path.name, 1, c, "未知的列" if unknown else "缺少必需的列") for c in bad)
                return [], errors
            continue
        if isinstance(rec, dict) and problem is None and isinstance(rec.get("payload"), str):
            try:  # CSV carries the payload as JSON text
                rec["payload"] = json.loads(rec["payload"]) if rec["payload"] else {}
            except json.JSONDecodeError:
                errors.append(RowError(path.name, line, "payload", "不是合法的 JSON", rec["payload"]))
                continue
        if isinstance(rec, dict) and problem is None:
            rec = {k: (None if v == "" and k in ("event_id", "policy_id") else v) for k, v in rec.items()}
        if problem and problem.startswith(FATAL):
            errors.append(RowError(path.name, line, None, problem.removeprefix(FATAL), fatal=True))
            return [], errors
        if problem:
            errors.append(RowError(path.name, line, None, problem))
            continue
        errs = []
        for key in rec:
            if key not in EVENT_KEYS:
                errs.append(RowError(path.name, line, key, "未知的键"))
        event_id = rec.get("event_id")
        if event_id is not None and (not isinstance(event_id, str) or not 0 < len(event_id) <= 64):
            errs.append(RowError(path.name, line, "event_id", "应为 1–64 个字符的文本", event_id))
        uscc = rec.get("uscc")
        try:
            code = catalog.parse_value("uscc", uscc)
        except InvalidFieldValue as e:
            errs.append(RowError(path.name, line, "uscc", e.reason, uscc))
            code = None
        if code is None and not any(e.field == "uscc" for e in errs):
            errs.append(RowError(path.name, line, "uscc", "缺少企业统一社会信用代码"))
        elif code is not None and code not in known_usccs:
            errs.append(RowError(path.name, line, "uscc", "企业不在库中（请先导入企业）", code))
        policy = rec.get("policy_id")
        if policy is not None and policy not in known_policies:
            errs.append(RowError(path.name, line, "policy_id", "政策不在库中（请先导入政策）", policy))
        kind = rec.get("kind")
        if kind not in EVENT_KINDS:
            errs.append(RowError(path.name, line, "kind", f"应为 {'、'.join(EVENT_KINDS)} 之一", kind))
        raw_at = rec.get("occurred_at")
        at = None
        try:
            at = dt.datetime.fromisoformat(str(raw_at))
            if at.tzinfo is None:
                errs.append(RowError(path.name, line, "occurred_at", "时间须带时区，如 +08:00", raw_at))
            elif at > now:
                errs.append(RowError(path.name, line, "occurred_at", "时间不能晚于现在", raw_at))
        except ValueError:
            errs.append(RowError(path.name, line, "occurred_at", "应为 ISO 8601 时间", raw_at))
        payload = rec.get("payload", {})
        if not isinstance(payload, dict):
            errs.append(RowError(path.name, line, "payload", "应为 JSON 对象"))
        if event_id is not None and event_id in seen:
            errs.append(RowError(path.name, line, "event_id", "与文件中前面的事件重复", event_id))
        if errs:
            errors.extend(errs)
            continue
        if event_id is not None:
            seen.add(event_id)
        rows.append(
            {
                "event_id": event_id,
                "enterprise_id": known_usccs[code],
                "policy_id": known_policies.get(policy) if policy else None,
                "kind": kind,
                "occurred_at": at.astimezone(dt.UTC),
                "payload": payload,
            }
        )
    return rows, errors


def import_events(engine, path, skip_bad: bool = False, fmt: str | None = None, progress=None) -> ImportReport:
    """Events by enterprise USCC and policy id; an ``event_id`` already stored is skipped."""
    started = time.perf_counter()
    with engine.connect() as conn:
        usccs = dict(conn.execute(select(Enterprise.uscc, Enterprise.id)).all())
        policies = dict(conn.execute(select(Policy.slug, Policy.id)).all())
    rows, errors = read_events(path, usccs, policies, fmt=fmt)
    report = ImportReport(
        "events", read=len(rows) + len({e.line for e in errors}), bad=len({e.line for e in errors}), errors=errors
    )
    if errors and (not skip_bad or any(e.fatal for e in errors)):
        report.seconds = time.perf_counter() - started
        return report
    with engine.begin() as conn:
        ids = [r["event_id"] for r in rows if r["event_id"] is not None]
        stored = set()
        for i in range(0, len(ids), 500):
            stored.update(conn.scalars(select(Event.event_id).where(Event.event_id.in_(ids[i : i + 500]))))
        fresh = [r for r in rows if r["event_id"] is None or r["event_id"] not in stored]
        for i in range(0, len(fresh), CHUNK):
            conn.execute(Event.__table__.insert(), fresh[i : i + CHUNK])
            if progress:
                progress("events", min(i + CHUNK, len(fresh)), len(fresh))
    report.written, report.unchanged, report.committed = len(fresh), len(rows) - len(fresh), True
    report.seconds = time.perf_counter() - started
    return report


class _NothingWritten(Exception):
    pass


def _check_with_published(session, specs, report: ImportReport, skip_bad: bool):
    """The new specs checked together with those already published (a supplement's parent, a group's
    period): every problem is reported; with ``skip_bad`` the specs at fault are left out."""
    from matcher.spec import check_catalogue
    from service.ledger.facts import spec_of

    current = session.scalars(
        select(PolicyVersion).join(
            Policy, (Policy.id == PolicyVersion.policy_id) & (Policy.current_version == PolicyVersion.version)
        )
    ).all()
    combined = {pv.spec["id"]: spec_of(pv) for pv in current}
    combined.update((s.id, s) for s in specs)
    new = {s.id for s in specs}
    bad = set()
    for e in check_catalogue(list(combined.values())):
        culprit = next((s.id for s in specs if s.source == e.source and e.source), None)
        report.errors.append(RowError(e.source or "(已发布)", 0, e.path, e.reason))
        bad.add(culprit)
    if not bad:
        return specs
    report.bad += len(bad)
    if not skip_bad or None in bad or not bad <= new:
        raise _NothingWritten
    return [s for s in specs if s.id not in bad]


def import_policies(engine, path, skip_bad: bool = False, progress=None, actor: str = "system:import") -> ImportReport:
    """Publish specs: a new id is version 1; a changed spec becomes the next version."""
    started = time.perf_counter()
    specs, spec_errors = load_specs(path)
    errors = [RowError(e.source or Path(path).name, 0, e.path, e.reason) for e in spec_errors]
    failing = set()
    for spec in specs:  # a policy is published only if its own test cases pass
        for r in run_cases(spec, dt.date.today()):
            if not r.passed:
                errors.append(
                    RowError(r.source or spec.id, 0, "tests", f"测试用例未通过，不予发布：{r.name}：{r.detail}")
                )
                failing.add(spec.id)
    specs = [s for s in specs if s.id not in failing]
    report = ImportReport(
        "policies", read=len(specs) + len({e.file for e in errors}), bad=len({e.file for e in errors}), errors=errors
    )
    if errors and not skip_bad:
        report.seconds = time.perf_counter() - started
        return report
    now = utcnow()
    try:
        with write_scope(engine) as session:  # budgets are locked: a concurrent decider cannot slip under a cut
            specs = _check_with_published(session, specs, report, skip_bad)
            for spec in specs:
                policy = session.scalar(select(Policy).where(Policy.slug == spec.id))
                digest = spec.spec_hash
                if policy is None:
                    policy = Policy(slug=spec.id, status="published", current_version=None)
                    session.add(policy)
                    session.flush()
                    session.add(
                        Budget(policy_id=policy.id, total=spec.budget, reserved=Decimal("0.00"), paid=Decimal("0.00"))
                    )
                    version = 1
                else:
                    current = session.scalar(
                        select(PolicyVersion).where(
                            PolicyVersion.policy_id == policy.id, PolicyVersion.version == policy.current_version
                        )
                    )
                    if current is not None and current.spec_hash == digest:
                        report.unchanged += 1
                        continue
                    budget = session.get(Budget, policy.id, with_for_update=True)
                    if budget.reserved + budget.paid > spec.budget:
                        report.errors.append(
                            RowError(
                                spec.source or spec.id,
                                0,
                                "budget",
                                f"新预算 {spec.budget} 低于已预留和已支付的 {budget.reserved + budget.paid}",
                            )
                        )
                        report.bad += 1
                        continue
                    budget.total = spec.budget
                    version = (policy.current_version or 0) + 1
                session.add(
                    PolicyVersion(
                        policy_id=policy.id,
                        version=version,
                        spec=spec.to_json(),
                        spec_hash=digest,
                        name=spec.name,
                        mode=spec.mode,
                        region=spec.region,
                        valid_from=spec.valid_from,
                        valid_to=spec.valid_to,
                        budget=spec.budget,
                        published_at=now,
                        exclusive_group=spec.exclusive_group,
                        supplement_of=spec.supplement_of,
                    )
                )
                policy.current_version = version
                policy.status = "published"
                audit.append(
                    session,
                    actor,
                    "policy.publish",
                    spec.id,
                    {"version": version, "spec_hash": digest, "budget": spec.budget, "name": spec.name},
                )
                report.written += 1
            if report.errors and not skip_bad:
                raise _NothingWritten
    except _NothingWritten:  # one bad spec: the whole import is rolled back
        report.written = 0
        report.seconds = time.perf_counter() - started
        return report
    report.committed = True
    report.seconds = time.perf_counter() - started
    return report
