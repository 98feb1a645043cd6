"""Export in the import formats, so export → import gives the same store content.

Enterprises: for each field, the newest value from the field's own source in
the catalog — the source an import assigns — so a re-import stores the same
rows. Values declared through the API for fields normally verified are not
exported (re-imported they would pass for verified data). ``as_of`` is the
newest date among the exported values; a records field (新招用人员) is written as a file of its own,
one row per record (:mod:`service.io.records`). Events: JSON Lines. Policies: the current version of
each as a YAML spec.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import yaml
from sqlalchemy import select

from matcher import catalog
from service.io.importer import enterprise_columns
from service.store.models import Enterprise, Event, FieldValue, Policy, PolicyVersion

TZ = dt.timezone(dt.timedelta(hours=8))


def enterprise_rows(engine):
    """One dict per enterprise, catalog-formatted text, in id order."""
    with engine.connect() as conn:
        best: dict[tuple[int, str], tuple] = {}
        query = select(
            FieldValue.enterprise_id,
            FieldValue.field,
            FieldValue.value,
            FieldValue.as_of,
            FieldValue.recorded_at,
            FieldValue.source,
        )
        for eid, name, value, as_of, recorded, source in conn.execute(query):
            if name not in catalog.FIELDS or source != catalog.FIELDS[name].source:
                continue
            if catalog.FIELDS[name].type == "records":  # a file of its own: service.io.records.export_records
                continue
            key = (eid, name)
            if key not in best or (as_of, recorded) > best[key][1:]:
                best[key] = (value, as_of, recorded)
        per: dict[int, dict] = {}
        for (eid, name), (value, as_of, _) in best.items():
            row = per.setdefault(eid, {"_as_of": as_of})
            row[name] = value
            row["_as_of"] = max(row["_as_of"], as_of)
        for ent in conn.execute(select(Enterprise).order_by(Enterprise.id)):
            facts = per.get(ent.id, {})
            row = {c: "" for c in enterprise_columns()}
            row.update({k: v for k, v in facts.items() if not k.startswith("_")})
            row.update(
                uscc=ent.uscc,
                name=ent.name,
                region=ent.region,
                industry=ent.industry,
                established_on=ent.established_on.isoformat() if ent.established_on else "",
            )
            row["as_of"] = facts["_as_of"].isoformat() if "_as_of" in facts else ""
            yield row


def export_enterprises(engine, path) -> int:
    path = Path(path)
    n = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            for row in enterprise_rows(engine):
                fh.write(json.dumps({k: v for k, v in row.items() if v != ""}, ensure_ascii=False) + "\n")
                n += 1
        else:
            writer = csv.DictWriter(fh, fieldnames=enterprise_columns(), lineterminator="\n")
            writer.writeheader()
            for row in enterprise_rows(engine):
                writer.writerow(row)
                n += 1
    return n


def export_events(engine, path) -> int:
    n = 0
    with engine.connect() as conn, open(path, "w", encoding="utf-8") as fh:
        query = (
            select(Event, Enterprise.uscc, Policy.slug)
            .join(Enterprise, Enterprise.id == Event.enterprise_id)
            .outerjoin(Policy, Policy.id == Event.policy_id)
            .order_by(Event.occurred_at, Event.id)
        )
        for row in conn.execute(query):
            at = row.occurred_at if row.occurred_at.tzinfo else row.occurred_at.replace(tzinfo=dt.UTC)
            fh.write(
                json.dumps(
                    {
                        "event_id": row.event_id,
                        "uscc": row.uscc,
                        "policy_id": row.slug,
                        "kind": row.kind,
                        "occurred_at": at.astimezone(TZ).isoformat(),
                        "payload": row.payload,
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
            n += 1
    return n


def export_policies(engine, folder) -> int:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    with engine.connect() as conn:
        query = (
            select(Policy.slug, PolicyVersion.spec)
            .join(
                PolicyVersion,
                (PolicyVersion.policy_id == Policy.id) & (PolicyVersion.version == Policy.current_version),
            )
            .order_by(Policy.slug)
        )
        for slug, spec in conn.execute(query):
            with open(folder / f"{slug}.yaml", "w", encoding="utf-8") as fh:
                yaml.safe_dump(spec, fh, allow_unicode=True, sort_keys=False, width=100)
            n += 1
    return n
