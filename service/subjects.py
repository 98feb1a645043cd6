"""Who is matched: a stored enterprise, with its facts as they count on the day, or a profile sent in and never
stored. Both become a :class:`Subject` that the match list and the self-test decide on alike.

A stored enterprise's facts are read as every decision reads them (:mod:`matcher.facts`): verified beats
declared, then the newest; the rosters on record settle their fields (a firm a published 名单 does not list is
known not to be on it). A 免申即享 measure is decided on the verified facts alone — the sweep that pays it
never reads a declaration — and every other measure on the facts that count for an application. A profile's
facts are taken as given, for every measure: it says what the firm would get if its facts were these.

Nothing here writes, and a profile is neither stored nor logged.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import bindparam, select

from matcher import catalog
from matcher import uscc as uscc_codes
from matcher.errors import InvalidFieldValue, InvalidUSCC
from matcher.facts import close, pick
from service.errors import BadRequest, NotFound, Unprocessable
from service.ledger.facts import typed_facts
from service.store import read_connection, rosters_on_record
from service.store.models import Enterprise, FieldValue

PLACED_BY = ("region", "industry")  # what the graph needs to place a firm (every register entry has them)


@dataclass(frozen=True)
class Subject:
    kind: str  # enterprise | profile
    key: str  # the uscc, or a digest of the profile's facts (a cursor belongs to one subject)
    facts: dict  # typed facts that count: verified beats declared, rosters settled
    sources: dict
    verified: dict  # the verified facts alone, rosters settled: what a 免申即享 measure is decided on
    verified_sources: dict
    uscc: str | None = None
    name: str | None = None
    in_store: bool = False

    def facts_for(self, spec) -> tuple[dict, dict]:
        """The facts ``spec`` is decided on: the verified ones for a 免申即享 measure, else those that count."""
        if spec.mode == "automatic":
            return self.verified, self.verified_sources
        return self.facts, self.sources

    def to_json(self) -> dict:
        if self.kind == "profile":
            return {"kind": "profile"}
        return {"kind": "enterprise", "uscc": self.uscc, "name": self.name}


_FIRM_AND_FACTS = (
    select(
        Enterprise.id,
        Enterprise.name,
        Enterprise.region,
        Enterprise.industry,
        Enterprise.established_on,
        FieldValue.field,
        FieldValue.value,
        FieldValue.source,
        FieldValue.as_of,
        FieldValue.recorded_at,
        FieldValue.id.label("row_id"),
    )  # fmt: skip
    .outerjoin(FieldValue, FieldValue.enterprise_id == Enterprise.id)
    .where(Enterprise.uscc == bindparam("code"))
)


def stored_subject(engine, uscc: str, as_of: dt.date) -> Subject:
    """A stored enterprise as of ``as_of``: its register entry and facts in one statement, then the rosters on
    record (two round trips on one connection, no ORM objects: every match request starts here).

    Raises ``BadRequest`` (field ``uscc``) for a code that is no 统一社会信用代码, ``NotFound`` for one the
    register does not hold."""
    try:
        code = uscc_codes.validate(uscc)
    except InvalidUSCC as e:
        raise BadRequest(str(e), field="uscc") from None
    with read_connection(engine) as conn:
        found = conn.execute(_FIRM_AND_FACTS, {"code": code}).all()
        if not found:
            raise NotFound(f"企业 {code} 不存在", field="uscc")
        rosters = rosters_on_record(conn)
    ent = found[0]
    rows = [r[5:] for r in found if r.field is not None]
    facts, sources = typed_facts(close(pick(rows, as_of), rosters, as_of), ent, as_of)
    verified, verified_sources = typed_facts(close(pick(rows, as_of, verified_only=True), rosters, as_of), ent, as_of)
    return Subject("enterprise", code, facts, sources, verified, verified_sources, code, ent.name, True)


def profile_subject(raw, as_of: dt.date) -> Subject:
    """A profile in the field catalog's names and values (``docs/fields.md``), checked as a declaration is.

    Raises ``BadRequest`` naming the field (``profile.NAME``) for a field the catalog does not know, a derived
    field (computed, never given) or a missing register field (``region``, ``industry``: the graph places a
    firm by them); ``Unprocessable`` for a value the catalog refuses or facts that contradict each other."""
    if not isinstance(raw, dict):
        raise BadRequest("企业画像应为 JSON 对象：字段名 → 值（字段见 GET /api/reference/fields）", field="profile")
    facts = {}
    for name, value in raw.items():
        f = catalog.FIELDS.get(name) if isinstance(name, str) else None
        if f is None:
            close_names = difflib.get_close_matches(str(name), list(catalog.FIELDS), n=1)
            hint = f"（是否为 {close_names[0]}？）" if close_names else ""
            raise BadRequest(f"profile.{name}：字段目录中没有这个字段{hint}", field=f"profile.{name}")
        if f.derived:
            raise BadRequest(f"profile.{name}：{f.label}由系统计算，不能直接提供", field=f"profile.{name}")
        try:
            typed = catalog.parse_value(name, value, today=as_of)
        except InvalidFieldValue as e:  # named by its JSON path; the value itself is not echoed
            raise Unprocessable(f"profile.{e.field}：{e.reason}", field=f"profile.{e.field}") from None
        if typed is not None:  # null or "": not known
            facts[name] = typed
    for name in PLACED_BY:
        if name not in facts:
            label = catalog.FIELDS[name].label
            raise BadRequest(f"profile.{name}：缺少{label}（匹配须知道企业的注册地与行业）", field=f"profile.{name}")
    for _, reason, fields in catalog.inconsistencies(facts, as_of):
        raise Unprocessable(f"profile.{fields[0]}：{reason}", field=f"profile.{fields[0]}")
    sources = {name: "declared" for name in facts}  # the caller's word, not a department's feed
    canonical = json.dumps({k: catalog.format_value(k, v) for k, v in sorted(facts.items())}, ensure_ascii=False)
    key = "profile:" + hashlib.sha256(canonical.encode()).hexdigest()[:20]
    return Subject("profile", key, facts, sources, facts, sources)


def graph_tags(subject: Subject, as_of: dt.date) -> tuple[list[str], frozenset[str]]:
    """The tags the graph would give the subject (from its verified facts, as ``zhida graph build`` derives a
    stored firm's; a profile's facts as given) and the tag kinds they settle."""
    from matcher.profiles import derived_tags, known_kinds

    return derived_tags(subject.verified, as_of), known_kinds(subject.verified)
