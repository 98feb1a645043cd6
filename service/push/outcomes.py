"""What happened to a push, as interaction events the ranker and the dashboard read (docs/push.md).

| kind | when | policy | one per |
| --- | --- | --- | --- |
| ``push`` | a bundle's message is queued | each item's | enterprise, period, policy |
| ``delivered`` | a channel acknowledged a message | none | message |
| ``open`` | the enterprise opened a message in its inbox | none | message |
| ``view`` | the enterprise opened one policy of a message | that one | message, policy |
| ``apply`` | an application was filed (即申即办) | its measure | application |
| ``approved`` | an application's decision pays (or holds for approval) | that measure | decision |
| ``rejected`` | an application decided 不符合 / 不予支持, or rejected in review | that measure | decision |
| ``paid`` | the bank confirmed a payout (免申即享 or applied for) | its measure | payout |

The first four are written where they happen; the ledger's (:func:`from_ledger`) are read off the ledger's
own rows — applications, decisions, payouts — before a bundle round, a training run and each delivery pass,
so no path that writes the ledger (the instant decision on PostgreSQL's driver included) has to remember them.
An officer's rejection leaves no dated row, so the review writes it (:func:`rejected_row`).

Every event id is derived from what it records, so a rerun writes nothing new (``ON CONFLICT DO NOTHING``
on ``events.event_id``).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import String, and_, cast, exists, literal, select
from sqlalchemy.orm import Session

from service.push._sql import bulk_insert
from service.store.models import Application, Decision, Event, Payout, PolicyVersion

APPROVED = ("paid", "held")  # settlements of an application that grant it
REJECTED = ("not_eligible", "refused")
LEDGER_BATCH = 20_000

NAMESPACE = uuid.UUID("5b0f7c1e-2d1a-4a8e-9f4e-7a1c0d5e3b21")  # zhida's push events; never change it


def event_id(kind: str, *parts: str) -> str:
    """``kind:<uuid5 of the parts>``: stable, and within the column's 64 characters."""
    return f"{kind}:{uuid.uuid5(NAMESPACE, '|'.join(parts))}"


def record(session: Session, rows: list[dict], count: bool = True) -> int | None:
    """Insert events, skipping those already recorded; returns how many were new (``count``: a round's
    thousands of pushes are not counted back, which costs PostgreSQL a RETURNING row each)."""
    if not rows:
        return 0
    written = bulk_insert(session, Event.__table__, rows, ["event_id"], returning="id" if count else None)
    return len(written) if count else None


def push_rows(
    enterprise_id: int, uscc: str, period: str, items: list[tuple[int, dict]], channels: list[str], at: dt.datetime
) -> list[dict]:
    """A ``push`` per item (``(policy row id, item dict)``), with what the ranker reads of it: the round (the
    period), the rank it is shown at, the deadline, and ``automatic`` for a 免申即享 payout notice."""
    return [
        {
            "event_id": event_id("push", uscc, period, item["policy_id"]),
            "enterprise_id": enterprise_id,
            "policy_id": policy_id,
            "kind": "push",
            "occurred_at": at,
            "payload": {
                "round": period,
                "rank": item["rank"],
                "group": item["group"],
                "channels": channels,
                **({"deadline": item["deadline"]} if item.get("deadline") else {}),
                **({"automatic": True} if item["group"] == "auto_paid" else {}),
            },
        }
        for policy_id, item in items
    ]


def delivered_row(enterprise_id: int, message_id: str, channel: str, period: str, attempts: int, at) -> dict:
    return {
        "event_id": f"delivered:{message_id}",
        "enterprise_id": enterprise_id,
        "policy_id": None,
        "kind": "delivered",
        "occurred_at": at,
        "payload": {"message_id": message_id, "channel": channel.partition(":")[0], "period": period,
                    "attempts": attempts},
    }  # fmt: skip


def open_row(enterprise_id: int, message_id: str, period: str, at) -> dict:
    return {
        "event_id": f"open:{message_id}",
        "enterprise_id": enterprise_id,
        "policy_id": None,
        "kind": "open",
        "occurred_at": at,
        "payload": {"message_id": message_id, "channel": "inbox", "period": period},
    }


def view_row(enterprise_id: int, policy_id: int, slug: str, message_id: str, period: str, at) -> dict:
    return {
        "event_id": event_id("view", message_id, slug),
        "enterprise_id": enterprise_id,
        "policy_id": policy_id,
        "kind": "view",
        "occurred_at": at,
        "payload": {"message_id": message_id, "channel": "inbox", "round": period},
    }


def rejected_row(enterprise_id: int, policy_id: int, application_id: int, at: dt.datetime) -> dict:
    """An officer's rejection of an application under review."""
    return {
        "event_id": f"rejected:a{application_id}",
        "enterprise_id": enterprise_id,
        "policy_id": policy_id,
        "kind": "rejected",
        "occurred_at": at,
        "payload": {"application": application_id, "settlement": "rejected_in_review"},
    }


def from_ledger(session: Session) -> dict[str, int]:
    """Record the ledger's outcomes not recorded yet (see the table above); returns the new events by kind.
    Each kind is read with an anti-join on its event id, so a pass over a ledger already recorded reads
    nothing back."""

    def missing(key):  # rows whose event id is not in events yet
        return ~exists().where(Event.event_id == key)

    app_key = literal("apply:a") + cast(Application.id, String)
    decision_key = literal("approved:d") + cast(Decision.id, String)
    rejected_key = literal("rejected:d") + cast(Decision.id, String)
    paid_key = literal("paid:p") + cast(Payout.id, String)
    decided = select(
        Decision.id, Decision.enterprise_id, PolicyVersion.policy_id, Decision.decided_at, Decision.application_id,
        Decision.settlement, Decision.amount,
    ).join(PolicyVersion, PolicyVersion.id == Decision.policy_version_id)  # fmt: skip
    queries = {
        "apply": select(
            Application.id, Application.enterprise_id, PolicyVersion.policy_id, Application.created_at, Application.id
        )
        .join(PolicyVersion, PolicyVersion.id == Application.policy_version_id)
        .where(missing(app_key)),
        "approved": decided.where(
            Decision.application_id.is_not(None), Decision.settlement.in_(APPROVED), missing(decision_key)
        ),
        "rejected": decided.where(
            Decision.application_id.is_not(None), Decision.settlement.in_(REJECTED), missing(rejected_key)
        ),
        "paid": select(Payout.id, Payout.enterprise_id, Payout.policy_id, Payout.updated_at, Payout.period,
                       Payout.amount).where(and_(Payout.status == "confirmed", missing(paid_key))),
    }  # fmt: skip
    made: dict[str, int] = {}
    for kind, stmt in queries.items():
        rows = [_ledger_row(kind, r) for r in session.execute(stmt)]
        made[kind] = sum(record(session, rows[k : k + LEDGER_BATCH]) for k in range(0, len(rows), LEDGER_BATCH))
    return made


def _ledger_row(kind: str, r) -> dict:
    if kind == "apply":
        key, payload = f"apply:a{r[0]}", {"application": r[4]}
    elif kind == "paid":
        key, payload = f"paid:p{r[0]}", {"payout": r[0], "period": r[4], "amount": f"{r[5]:.2f}"}
    else:
        key = f"{kind}:d{r[0]}"
        payload = {"application": r[4], "settlement": r[5], **({"amount": f"{r[6]:.2f}"} if r[6] is not None else {})}
    return {"event_id": key, "enterprise_id": r[1], "policy_id": r[2], "kind": kind, "occurred_at": r[3],
            "payload": payload}  # fmt: skip
