"""Tags in the store: the taxonomy's rows and each enterprise's or policy's tags with their source.

``sync`` writes the effective taxonomy (``matcher.catalog.tag_taxonomy``) into ``tags`` (new tags added,
labels and parents kept current; a tag is never deleted, since assignments may point at it) and returns
``{tag id string: row id}``. ``assign`` replaces what one source says about some owners' tags in one
statement per table, so a tagger's rerun never leaves a mix of two model versions. ``effective`` reads
what counts: an officer's row wins over the model's and the rule's for the same tag (docs/tags.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from service.store.models import TAG_SOURCES, EnterpriseTag, PolicyTag, Tag, utcnow

TABLES = {"enterprise": (EnterpriseTag, "enterprise_id"), "policy": (PolicyTag, "policy_id")}
PRECEDENCE = {"officer": 0, "model": 1, "rule": 2}  # the first that speaks about a tag decides


def sync(conn: Connection, taxonomy: dict | None = None) -> dict[str, int]:
    """Make ``tags`` hold the taxonomy; ``{"kind:code": id}`` for every tag in the table."""
    if taxonomy is None:
        from matcher.catalog import tag_taxonomy

        taxonomy = tag_taxonomy()
    rows = {(r.kind, r.code): r for r in conn.execute(select(Tag.id, Tag.kind, Tag.code, Tag.label, Tag.parent_id))}
    new = [
        {"kind": t.kind, "code": t.code, "label": t.label} for t in taxonomy.values() if (t.kind, t.code) not in rows
    ]
    for start in range(0, len(new), 5000):
        conn.execute(insert(Tag), new[start : start + 5000])
    ids = {f"{k}:{c}": i for i, k, c in conn.execute(select(Tag.id, Tag.kind, Tag.code))}
    changed = []
    for t in taxonomy.values():
        parent = ids[t.parent] if t.parent else None
        old = rows.get((t.kind, t.code))
        if old is None or old.label != t.label or old.parent_id != parent:
            changed.append({"tid": ids[t.id], "label": t.label, "parent_id": parent})
    if changed:
        from sqlalchemy import bindparam

        stmt = update(Tag).where(Tag.id == bindparam("tid")).values(label=bindparam("label"))
        conn.execute(stmt.values(parent_id=bindparam("parent_id")), changed)
    return ids


def assign(
    conn: Connection,
    owner: str,
    source: str,
    tags: dict[int, Iterable],
    *,
    model_version: str | None = None,
    recorded_by: str | None = None,
    ids: dict[str, int] | None = None,
) -> int:
    """Replace ``source``'s tags of the owners in ``tags`` (``{owner id: [tag | (tag, score)]}``).

    A tag is a ``kind:code`` string; a model's come with a score in [0, 1]. Returns the rows written."""
    if source not in TAG_SOURCES or source == "officer":
        raise ValueError(f"标签来源 {source!r} 无效：批量写入只接受 rule 或 model（更正请用 correct）")
    if source == "model" and not model_version:
        raise ValueError("模型给出的标签须记录模型版本（model_version）")
    table, key = TABLES[owner]
    ids = ids if ids is not None else sync(conn)
    now = utcnow()
    rows = []
    for owner_id, items in tags.items():
        for item in items:
            tag, score = item if isinstance(item, tuple) else (item, None)
            if tag not in ids:
                raise ValueError(f"标签 {tag!r} 不在标签体系中")
            rows.append(
                {
                    key: owner_id,
                    "tag_id": ids[tag],
                    "source": source,
                    "present": True,
                    "score": None if score is None else Decimal(f"{score:.4f}"),
                    "model_version": model_version,
                    "recorded_at": now,
                    "recorded_by": recorded_by,
                }
            )
    owners = list(tags)
    for start in range(0, len(owners), 5000):
        part = owners[start : start + 5000]
        conn.execute(delete(table).where(getattr(table, key).in_(part), table.source == source))
    for start in range(0, len(rows), 5000):
        conn.execute(insert(table), rows[start : start + 5000])
    return len(rows)


def correct(conn: Connection, owner: str, owner_id: int, tag: str, present: bool, *, by: str, reason: str) -> None:
    """An officer's word on one tag of one enterprise or policy: it applies (or not), whatever a model says."""
    if not reason or not reason.strip():
        raise ValueError("更正标签须说明理由")
    table, key = TABLES[owner]
    ids = sync(conn)
    if tag not in ids:
        raise ValueError(f"标签 {tag!r} 不在标签体系中")
    conn.execute(
        delete(table).where(getattr(table, key) == owner_id, table.tag_id == ids[tag], table.source == "officer")
    )
    conn.execute(
        insert(table).values(
            {key: owner_id, "tag_id": ids[tag], "source": "officer", "present": present, "recorded_by": by}
            | {"reason": reason.strip(), "recorded_at": utcnow()}
        )
    )


def effective(conn: Connection, owner: str, owner_ids: Iterable[int] | None = None) -> dict[int, dict[str, dict]]:
    """``{owner id: {tag: {"source", "score", "model_version"}}}`` of the tags that count.

    For each tag the officer's row decides if there is one (a ``present`` false removes it), else the
    model's, else the rule's."""
    table, key = TABLES[owner]
    stmt = select(
        getattr(table, key), Tag.kind, Tag.code, table.source, table.present, table.score, table.model_version
    ).join(Tag, Tag.id == table.tag_id)
    if owner_ids is not None:
        stmt = stmt.where(getattr(table, key).in_(list(owner_ids)))
    best: dict[tuple[int, str], tuple] = {}
    for oid, kind, code, source, present, score, version in conn.execute(stmt):
        k = (oid, f"{kind}:{code}")
        if k not in best or PRECEDENCE[source] < PRECEDENCE[best[k][0]]:
            best[k] = (source, present, score, version)
    out: dict[int, dict[str, dict]] = {}
    for (oid, tag), (source, present, score, version) in best.items():
        if present:
            out.setdefault(oid, {})[tag] = {
                "source": source,
                "score": None if score is None else float(score),
                "model_version": version,
            }
    return out


def recorded_since(conn: Connection, owner: str, since: dt.datetime) -> set[int]:
    """Owners whose tags were written after ``since`` (the graph's incremental update reads them)."""
    table, key = TABLES[owner]
    return set(conn.scalars(select(getattr(table, key)).where(table.recorded_at > since).distinct()))
