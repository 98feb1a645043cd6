"""The in-app inbox (站内信): a channel that writes the bundle where the enterprise reads it, and what the
enterprise does there — opening a message (``open``) and one of its policies (``view``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import NotFound, Unprocessable
from service.push import outcomes
from service.push._sql import bulk_insert
from service.push.channels import QUIET, Message
from service.store import write_scope
from service.store.models import InboxEntry, Policy


class InboxChannel:
    """Writes one inbox entry per message; a second delivery of the same message writes nothing."""

    name = "inbox"
    quiet = QUIET["inbox"]

    def __init__(self, engine):
        self.engine = engine

    def send(self, message: Message) -> str | None:
        with write_scope(self.engine) as session:
            self.write(session, [message])
        return None

    def write(self, session: Session, messages: list[Message]) -> None:
        """Write the entries in the caller's transaction: the inbox is the platform's own store, so a batch
        of messages is delivered, and marked sent, in one transaction (``service.push.delivery``)."""
        if not messages:
            return
        rows = [
            {"message_id": m.message_id, "enterprise_id": m.enterprise_id, "period": m.period,
             "title": m.title()[:200], "items": list(m.items), "created_at": m.created_at}
            for m in messages
        ]  # fmt: skip
        bulk_insert(session, InboxEntry.__table__, rows, ["message_id"])


def shown(entry: InboxEntry, uscc: str) -> dict:
    return {
        "id": entry.id,
        "message_id": entry.message_id,
        "uscc": uscc,
        "period": entry.period,
        "title": entry.title,
        "items": entry.items,
        "created_at": _iso(entry.created_at),
        "read_at": _iso(entry.read_at),
        "read": entry.read_at is not None,
    }


def _iso(at: dt.datetime | None) -> str | None:
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).isoformat()


def entries(session: Session, enterprise_id: int, *, unread: bool = False, limit: int = 50) -> list[InboxEntry]:
    """The enterprise's inbox, newest first."""
    stmt = select(InboxEntry).where(InboxEntry.enterprise_id == enterprise_id)
    if unread:
        stmt = stmt.where(InboxEntry.read_at.is_(None))
    return list(session.scalars(stmt.order_by(InboxEntry.created_at.desc(), InboxEntry.id.desc()).limit(limit)))


def mark_read(session: Session, entry_id: int, enterprise_id: int, now: dt.datetime, policy: str | None = None):
    """The enterprise opened its message ``entry_id`` (and, with ``policy``, that policy of it): ``read_at`` is
    the first time, and ``open`` / ``view`` events are recorded once. Another enterprise's message is
    :class:`NotFound`, as one that does not exist (docs/api.md, "403 or 404")."""
    entry = session.scalar(
        select(InboxEntry).where(InboxEntry.id == entry_id, InboxEntry.enterprise_id == enterprise_id)
    )
    if entry is None:
        raise NotFound(f"消息 {entry_id} 不存在")
    rows = [outcomes.open_row(enterprise_id, entry.message_id, entry.period, now)]
    if policy is not None:
        if policy not in {item["policy_id"] for item in entry.items}:
            raise Unprocessable(f"policy_id：消息 {entry_id} 中没有政策 {policy}", field="policy_id")
        policy_row = session.scalar(select(Policy.id).where(Policy.slug == policy))
        if policy_row is not None:
            rows.append(outcomes.view_row(enterprise_id, policy_row, policy, entry.message_id, entry.period, now))
    if entry.read_at is None:
        entry.read_at = now
    outcomes.record(session, rows)
    session.flush()
    return entry
