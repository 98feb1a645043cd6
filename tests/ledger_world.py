"""A small, controlled city for ledger tests: measures from spec dicts, enterprises with verified facts, keys."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import yaml
from sqlalchemy import func, select

from matcher import catalog
from matcher import uscc as uscc_codes
from service.http import auth
from service.io.importer import import_policies
from service.store import session_scope
from service.store.models import AuditRecord, Budget, Enterprise, FieldValue, GroupClaim, Payout, Policy
from service.store.models import Decision as DecisionRow

TODAY = dt.date.today()
FACTS_AS_OF = TODAY - dt.timedelta(days=30)


def publish(engine, folder: Path, specs: list[dict]):
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.yaml"):
        old.unlink()
    for spec in specs:
        (folder / f"{spec['id']}.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    report = import_policies(engine, folder)
    assert report.committed, [str(e) for e in report.errors]
    return report


def add_enterprise(engine, serial: int, facts: dict, region: str = "320102", established=dt.date(2015, 1, 1)) -> str:
    """An enterprise with verified facts (each from its field's own source); returns its USCC."""
    code = uscc_codes.make(region, 8000 + serial)
    with session_scope(engine) as s:
        ent = Enterprise(
            uscc=code, name=f"测试企业{serial}", region=region, industry="C3911", established_on=established
        )
        s.add(ent)
        s.flush()
        for name, value in facts.items():
            s.add(
                FieldValue(
                    enterprise_id=ent.id,
                    field=name,
                    value=catalog.format_value(name, catalog.parse_value(name, value)),
                    source=catalog.FIELDS[name].source,
                    as_of=FACTS_AS_OF,
                )
            )
    return code


def set_fact(engine, code: str, name: str, value, as_of: dt.date = FACTS_AS_OF) -> None:
    """A department's corrected value: same source and date, recorded later (it wins)."""
    with session_scope(engine) as s:
        eid = s.scalar(select(Enterprise.id).where(Enterprise.uscc == code))
        row = s.scalar(
            select(FieldValue).where(
                FieldValue.enterprise_id == eid,
                FieldValue.field == name,
                FieldValue.source == catalog.FIELDS[name].source,
                FieldValue.as_of == as_of,
            )
        )
        text = catalog.format_value(name, catalog.parse_value(name, value))
        if row is None:
            source = catalog.FIELDS[name].source
            s.add(FieldValue(enterprise_id=eid, field=name, value=text, source=source, as_of=as_of))
        else:
            row.value, row.recorded_at = text, dt.datetime.now(dt.UTC)


def system_key(engine, role: str = "system") -> str:
    with session_scope(engine) as s:
        return auth.create_key(s, role)[1]


def apply(client, key: str, code: str, slug: str, idem: str, declared: dict | None = None):
    body = {"uscc": code, "policy_id": slug, "commitment": True, **({"declared": declared} if declared else {})}
    return client.post(
        "/api/applications", json=body, headers={"Authorization": f"Bearer {key}", "Idempotency-Key": idem}
    )


def paid_by_policy(engine, code: str) -> dict[str, Decimal]:
    """What each measure paid the enterprise, net of clawbacks, cancelled payouts excluded."""
    with session_scope(engine) as s:
        rows = s.execute(
            select(Policy.slug, func.sum(Payout.amount - Payout.clawed))
            .join(Payout, Payout.policy_id == Policy.id)
            .join(Enterprise, Enterprise.id == Payout.enterprise_id)
            .where(Enterprise.uscc == code, Payout.status != "cancelled")
            .group_by(Policy.slug)
        ).all()
    return {slug: Decimal(total).quantize(Decimal("0.01")) for slug, total in rows}


def group_claim(engine, code: str, group: str):
    with session_scope(engine) as s:
        return s.scalar(
            select(GroupClaim)
            .join(Enterprise, Enterprise.id == GroupClaim.enterprise_id)
            .where(Enterprise.uscc == code, GroupClaim.exclusive_group == group)
        )


def budgets_add_up(engine) -> None:
    """Per measure: reserved = open payouts, paid = confirmed payouts less clawbacks, nothing overspent."""
    from service.store.models import Clawback

    with session_scope(engine) as s:
        for b in s.scalars(select(Budget)):
            rows = dict(
                s.execute(
                    select(Payout.status, func.sum(Payout.amount))
                    .where(Payout.policy_id == b.policy_id)
                    .group_by(Payout.status)
                ).all()
            )
            clawed = s.scalar(
                select(func.coalesce(func.sum(Clawback.amount), 0))
                .join(Payout, Payout.id == Clawback.payout_id)
                .where(Payout.policy_id == b.policy_id, Payout.status == "confirmed")
            )
            open_ = sum((Decimal(rows.get(k) or 0) for k in ("held", "decided", "sent", "failed")), Decimal("0.00"))
            assert b.reserved == open_, (b.policy_id, b.reserved, open_)
            assert b.paid == Decimal(rows.get("confirmed") or 0) - Decimal(clawed), b.policy_id
            assert b.total - b.reserved - b.paid >= 0


def every_decision_row_is_audited(engine) -> None:
    with session_scope(engine) as s:
        rows = set(s.scalars(select(DecisionRow.id)))
        audited = {r.payload.get("decision") for r in s.scalars(select(AuditRecord))}
    assert rows <= audited, sorted(rows - audited)[:10]


def empty_postgres(url: str):
    """The PostgreSQL database at ``url`` migrated and emptied (a state machine's fresh start, fast: TRUNCATE,
    which is the owner's, never the application's — docs/store.md). Returns its engine."""
    from service.store import make_engine, upgrade
    from service.store.models import Base

    engine = make_engine(url)
    with engine.connect() as conn:
        migrated = conn.exec_driver_sql("SELECT to_regclass('public.audit_log')").scalar() is not None
    if not migrated:
        upgrade(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {', '.join(Base.metadata.tables)} RESTART IDENTITY CASCADE")
    return engine
