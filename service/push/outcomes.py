"""What happened to a push, as interaction events the ranker and the dashboard read (docs/push.md).

| kind | when | policy | one per |
| --- | --- | --- | --- |
| ``push`` | a bundle's message is queued | each item's | enterprise, period, policy |
| ``delivered`` | a channel acknowledged a message | none | message |
| ``open`` | the enterprise opened a message in its inbox | none | message |
| ``view`` | the enterprise opened one policy of a message | that one | message, policy |

Every event id is derived from what it records, so a rerun writes nothing new (``ON CONFLICT DO NOTHING``
on ``events.event_id``).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.orm import Session

from service.push._sql import insert
from service.store.models import Event

NAMESPACE = uuid.UUID("5b0f7c1e-2d1a-4a8e-9f4e-7a1c0d5e3b21")  # zhida's push events; never change it


def event_id(kind: str, *parts: str) -> str:
    """``kind:<uuid5 of the parts>``: stable, and within the column's 64 characters."""
    return f"{kind}:{uuid.uuid5(NAMESPACE, '|'.join(parts))}"


def record(session: Session, rows: list[dict]) -> int:
    """Insert events, skipping those already recorded; returns how many were new."""
    if not rows:
        return 0
    stmt = insert(session, Event.__table__).on_conflict_do_nothing(index_elements=["event_id"])
    return session.execute(stmt, rows).rowcount or 0


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
