"""Import published rosters (名单): 高新技术企业, 专精特新, 失信被执行人 … as of their date.

A roster file lists the firms on the roster: a CSV with a ``uscc`` (or ``统一社会信用代码``)
column, or one USCC per line (docs/rosters.md). Importing it as of a date:

- records the publication (``roster_publications``: roster, as_of, source, member count,
  the file's SHA-256, who imported it and when), so that from that date a firm the roster
  does not list is known *not* to be on it (:func:`matcher.facts.close`);
- writes, for each listed firm, a verified fact from the roster's source as of the date:
  ``true`` for a bool field, for a set field the firm's value as of the date plus the member;
- writes, for each firm that was on it as of the date (an earlier roster, a feed) and is not
  listed now, the value without it (``false``, the set without the member): dropped from the
  list, no longer on it.

Everything is checked before anything is written; then one transaction writes every roster
given, with one audit record per roster that changed something. A USCC that is not a valid
code is an error (``FILE:LINE``); one that is valid but not in the register is an error too,
unless ``skip_unknown`` (a provincial list names firms of other cities), when it is reported
and left out. Importing the same file again writes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from matcher import catalog
from matcher.catalog import Roster
from matcher.errors import InvalidFieldValue
from matcher.facts import closed_value, closures, pick
from service import audit
from service.io.importer import RowError
from service.store import fast_upsert, rosters_on_record, write_scope
from service.store.models import Enterprise, FieldValue, RosterPublication, utcnow

USCC_HEADERS = ("uscc", "统一社会信用代码")
SUFFIXES = (".csv", ".txt")
_LOCK = (0x7A68, 0x0109)  # PostgreSQL advisory lock of roster imports: one at a time reads and writes the lists


@dataclass
class RosterFile:
    """A roster file read and checked: the codes it lists (first line of each) and its digest."""

    roster: Roster
    path: Path
    codes: dict[str, int] = field(default_factory=dict)  # uscc -> line
    digest: str = ""


@dataclass
class RosterResult:
    roster: Roster
    file: str
    listed: int = 0  # firms of the register it lists
    added: int = 0  # listed, and not on it before as of the date
    dropped: int = 0  # on it before as of the date, not listed now
    written: int = 0  # facts written
    skipped: int = 0  # listed firms not in the register (skip_unknown)
    changed: bool = False

    def line(self, as_of: dt.date) -> str:
        r = self.roster
        what = catalog.FIELDS[r.field].label
        if r.member:
            what += f"：{catalog.label_value(r.field, frozenset({r.member}))}"
        what = f"（{what}）"
        skipped = f"，库外企业 {self.skipped} 家未导入" if self.skipped else ""
        if not self.changed:
            return f"名单 {r.label}{what}截至 {as_of}：在列 {self.listed} 家，与已导入的相同，未写入{skipped}"
        return (
            f"名单 {r.label}{what}截至 {as_of}：在列 {self.listed} 家（新列入 {self.added}、移出 {self.dropped}），"
            f"写入字段值 {self.written} 条{skipped}"
        )


@dataclass
class RosterReport:
    as_of: dt.date
    results: list[RosterResult] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    seconds: float = 0.0
    committed: bool = False

    @property
    def rosters(self) -> list[str]:
        return [r.roster.id for r in self.results]

    def summary(self) -> str:
        if not self.committed:
            bad = len(self.errors)
            return f"未导入名单：{bad} 处错误，未写入任何数据，用时 {self.seconds:.1f} s"
        lines = [r.line(self.as_of) for r in self.results]
        tail = f"自 {self.as_of} 起，名单未列出的企业视为不在名单上；用时 {self.seconds:.1f} s"
        return "\n".join([*lines, tail])


def roster_of(name: str) -> Roster:
    """A roster by its id or label (:func:`matcher.catalog.roster`), as a ``ValueError`` naming the choices."""
    try:
        return catalog.roster(name)
    except InvalidFieldValue as e:
        raise ValueError(f"名单 {name!r}：{e.reason}") from None


def read_roster(roster: Roster, path) -> tuple[RosterFile, list[RowError]]:
    """The codes a roster file lists, and its errors (``FILE:LINE``); duplicates count once."""
    path = Path(path)
    name = path.name
    data = path.read_bytes()
    out = RosterFile(roster, path, digest=hashlib.sha256(data).hexdigest())
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return out, [RowError(name, 0, None, f"不是 UTF-8 文本（第 {e.start + 1} 字节）")]
    errors: list[RowError] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    column, plain = None, False
    for row in reader:
        line = reader.line_num
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if column is None:  # the first line: a CSV header naming the code column, or a code
            found = [i for i, c in enumerate(cells) if c.lower() in USCC_HEADERS]
            if found:
                column = found[0]
                continue
        if (column is None or plain) and cells[0].startswith("#"):
            continue  # a comment, in a file of one code per line
        if column is None:
            if len(cells) > 1:
                errors.append(RowError(name, line, None, "CSV 文件的第一行应为表头，含 uscc（统一社会信用代码）列"))
                return out, errors
            column, plain = 0, True
        raw = cells[column] if column < len(cells) else ""
        if not raw:
            errors.append(RowError(name, line, "uscc", "缺少统一社会信用代码"))
            continue
        try:
            code = catalog.parse_value("uscc", raw)
        except InvalidFieldValue as e:
            errors.append(RowError(name, line, "uscc", e.reason, raw))
            continue
        out.codes.setdefault(code, line)
    if column is None and not errors:  # an empty file is more often a failed download than an empty list
        errors.append(RowError(name, 0, None, "文件为空：名单上没有企业时，请只写表头 uscc 一行"))
    return out, errors


def import_roster(engine, name: str, path, as_of: dt.date, **options) -> RosterReport:
    """Import one roster file as of a date (see :func:`import_rosters`)."""
    return import_rosters(engine, [(roster_of(name), Path(path))], as_of, **options)


def roster_files(folder) -> list[tuple[Roster, Path]]:
    """The roster files of a folder, each named after its roster (``high_tech.csv``, ``高新技术企业.txt``), in the
    catalog's order of rosters; a file that names no roster is a ``ValueError``."""
    folder = Path(folder)
    found = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in SUFFIXES or not p.is_file():
            continue
        r = roster_of(p.stem)
        if r.id in found:
            raise ValueError(f"{p.name}：名单 {r.label} 已由 {found[r.id].name} 给出")
        found[r.id] = p
    if not found:
        raise ValueError(f"{folder} 中没有名单文件（名单 id 或名称 + .csv / .txt）")
    order = list(catalog.ROSTERS)
    return [(catalog.ROSTERS[rid], found[rid]) for rid in sorted(found, key=order.index)]


def import_rosters(
    engine,
    files,
    as_of: dt.date,
    skip_unknown: bool = False,
    actor: str = "system:import",
    today: dt.date | None = None,
) -> RosterReport:
    """Import roster files as of ``as_of``, all in one transaction (nothing is written if any file has an error):
    ``files`` is a list of ``(Roster, path)``, or a folder of files named after their rosters (:func:`roster_files`).
    """
    if isinstance(files, (str, Path)):
        files = roster_files(files)
    started = time.perf_counter()
    today = today or dt.date.today()
    report = RosterReport(as_of)
    if as_of > today:
        raise ValueError(f"名单日期 {as_of} 不能晚于今天")
    read = []
    for roster, path in files:
        rf, errors = read_roster(roster, path)
        read.append(rf)
        report.errors.extend(errors)
    if report.errors:
        report.seconds = time.perf_counter() - started
        return report
    try:
        with write_scope(engine) as session:
            _import(session, read, as_of, skip_unknown, actor, report)
    except _Unknown:  # nothing was written: the transaction rolls back
        report.seconds = time.perf_counter() - started
        return report
    report.committed = True
    report.seconds = time.perf_counter() - started
    return report


class _Unknown(Exception):
    pass


def _import(session, read: list[RosterFile], as_of: dt.date, skip_unknown: bool, actor: str, report) -> None:
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK[0]}, {_LOCK[1]})")
    ids = _register(session, {code for rf in read for code in rf.codes})
    unknown = [
        RowError(rf.path.name, line, "uscc", _SKIPPED if skip_unknown else _UNKNOWN, code)
        for rf in read
        for code, line in rf.codes.items()
        if code not in ids
    ]
    report.errors.extend(unknown)
    if unknown and not skip_unknown:
        raise _Unknown
    for rf in read:
        report.results.append(_write(session, rf, ids, as_of, actor))


_UNKNOWN = "企业不在库中（请先导入企业；名单含本地以外的企业时可加 --skip-unknown 跳过）"
_SKIPPED = "企业不在库中，已跳过"


def _register(session, codes: set[str]) -> dict[str, int]:
    """Enterprise ids of the codes that are in the register."""
    out, wanted = {}, sorted(codes)
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        out.update(session.execute(select(Enterprise.uscc, Enterprise.id).where(Enterprise.uscc.in_(chunk))).all())
    return out


def _write(session, rf: RosterFile, ids: dict[str, int], as_of: dt.date, actor: str) -> RosterResult:
    """One roster's facts and publication, in the caller's transaction."""
    roster = rf.roster
    f = catalog.FIELDS[roster.field]
    listed = {ids[code] for code in rf.codes if code in ids}
    result = RosterResult(roster, rf.path.name, listed=len(listed), skipped=len(rf.codes) - len(listed))
    fv = FieldValue
    rows: dict[int, list] = {}
    for eid, *row in session.execute(
        select(fv.enterprise_id, fv.field, fv.value, fv.source, fv.as_of, fv.recorded_at, fv.id).where(
            fv.field == roster.field, fv.as_of <= as_of
        )
    ):
        rows.setdefault(eid, []).append(row)
    others = [(rid, day) for rid, day in rosters_on_record(session) if (rid, day) != (roster.id, as_of)]
    exact = {  # what this roster's source already says on this date
        eid: value
        for eid, r in rows.items()
        for _, value, source, day, _, _ in r
        if source == roster.source and day == as_of
    }

    settle = closures(others, as_of).get(roster.field)

    def before(eid) -> object:
        """The firm's value as of the date, by the verified facts and the other rosters on record (or None)."""
        found = pick(rows.get(eid, ()), as_of, verified_only=True).get(roster.field)
        if settle is not None:
            found = closed_value(settle, found)
        return catalog.load_value(roster.field, found[0]) if found is not None else None

    def on(value) -> bool:
        return bool(value) if f.type == "bool" else value is not None and roster.member in value

    writes = []
    for eid in sorted(set(rows) | listed):
        value = before(eid)
        if eid in listed:
            new = True if f.type == "bool" else (value or frozenset()) | {roster.member}
            result.added += not on(value)
        elif on(value):
            new = False if f.type == "bool" else value - {roster.member}
            result.dropped += 1
        else:
            continue
        text = catalog.format_value(roster.field, new)
        if exact.get(eid) != text:
            writes.append((eid, roster.field, text, roster.source, as_of, utcnow()))
    if writes:
        result.written = fast_upsert(
            session.connection(),
            FieldValue.__table__,
            ["enterprise_id", "field", "value", "source", "as_of", "recorded_at"],
            writes,
            conflict=["enterprise_id", "field", "source", "as_of"],
            update=["value", "recorded_at"],
        )
    pub = session.scalar(
        select(RosterPublication).where(RosterPublication.roster == roster.id, RosterPublication.as_of == as_of)
    )
    same = pub is not None and pub.digest == rf.digest and pub.members == len(listed) and pub.source == roster.source
    result.changed = bool(writes) or not same
    if not result.changed:
        return result
    if pub is None:
        pub = RosterPublication(roster=roster.id, as_of=as_of)
        session.add(pub)
    pub.source, pub.members, pub.digest, pub.file = roster.source, len(listed), rf.digest, rf.path.name[:255]
    pub.imported_at, pub.imported_by = utcnow(), actor[:64]
    session.flush()
    audit.append(
        session,
        actor,
        "roster.import",
        f"{roster.id}:{as_of.isoformat()}",
        {
            "roster": roster.id,
            "label": roster.label,
            "field": roster.field,
            "member": roster.member,
            "as_of": as_of,
            "source": roster.source,
            "file": rf.path.name,
            "digest": rf.digest,
            "members": len(listed),
            "added": result.added,
            "dropped": result.dropped,
            "written": result.written,
            "skipped_unknown": result.skipped,
        },
    )
    return result


__all__ = ["import_roster", "import_rosters", "read_roster", "roster_files", "roster_of", "RosterReport"]
