"""Officers' approval of large sweep batches: listing them and deciding, for the API and the CLI alike."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from service.ledger.payouts import batch_totals, decide_batch
from service.store import session_scope, write_scope
from service.store.models import PayoutBatch, Policy


def _json(batch: PayoutBatch, slug: str, totals: dict) -> dict:
    t = totals.get(batch.id) or {"count": 0, "amount": Decimal("0.00"), "by_status": {}}
    return {
        "id": batch.id,
        "policy_id": slug,
        "status": batch.status,
        "threshold": f"{batch.threshold:.2f}",
        "count": t["count"],
        "amount": f"{t['amount']:.2f}",
        "by_status": t["by_status"],
        "created_by": batch.created_by,
        "created_at": batch.created_at.isoformat(),
        "decided_by": batch.decided_by,
        "decided_at": batch.decided_at.isoformat() if batch.decided_at else None,
        "comment": batch.comment,
    }


def list_batches(engine, waiting_only: bool = True, limit: int = 500) -> list[dict]:
    """Batches, oldest waiting first (or newest first with ``waiting_only=False``), with their totals."""
    query = select(PayoutBatch, Policy.slug).join(Policy, Policy.id == PayoutBatch.policy_id)
    if waiting_only:
        query = query.where(PayoutBatch.status == "awaiting_approval").order_by(PayoutBatch.id)
    else:
        query = query.order_by(PayoutBatch.id.desc())
    with session_scope(engine) as s:
        rows = s.execute(query.limit(limit)).all()
        totals = batch_totals(s, [b.id for b, _ in rows])
        return [_json(b, slug, totals) for b, slug in rows]


def decide(engine, batch_id: int, approve: bool, comment: str | None, actor: str) -> dict:
    """Approve or reject one batch in a single write transaction (with its audit record)."""
    with write_scope(engine) as s:
        batch = decide_batch(s, batch_id, approve, comment, actor)
        slug = s.get(Policy, batch.policy_id).slug
        return _json(batch, slug, batch_totals(s, [batch.id]))
