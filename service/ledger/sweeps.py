"""免申即享 sweeps: evaluate every enterprise against the automatic policies and pay the eligible.

Only verified facts count (税务, 社保, 市场监管, …): money never moves on a
declaration in a sweep. Conditions are evaluated column-wise
(:func:`matcher.columnar.sweep`); each eligible enterprise is then settled by
:func:`service.ledger.payouts.settle` in batches of write transactions. Because the
ledger allows one payout per (policy, enterprise, period), a sweep killed at
any point and run again pays every eligible enterprise exactly once.

Large sweeps wait for an officer: when a policy's new payouts in one sweep would
exceed the approval threshold (``ZHIDA_APPROVAL_THRESHOLD`` yuan, or the
``approval_threshold`` argument), they are created ``held`` in a
:class:`~service.store.models.PayoutBatch` — budget reserved, no money moving —
until :func:`service.ledger.payouts.decide_batch` approves or rejects the batch.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd
from sqlalchemy import select

from matcher import catalog
from matcher.columnar import TRUE, UNKNOWN, Table
from matcher.columnar import sweep as evaluate_policy
from matcher.spec import parse_spec
from service.errors import BadRequest
from service.ledger.payouts import open_batch, period_of, settle_many
from service.store import session_scope, write_scope
from service.store.models import Enterprise, FieldValue, Payout, PayoutBatch, Policy, PolicyVersion

BATCH = 1000
THRESHOLD_ENV = "ZHIDA_APPROVAL_THRESHOLD"


def resolve_threshold(value: str | Decimal | None = None) -> Decimal | None:
    """The amount above which a sweep's payouts for one policy wait for approval (None: never)."""
    raw = os.environ.get(THRESHOLD_ENV) if value is None else value
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        amount = Decimal(str(raw).strip())
    except ArithmeticError:
        raise BadRequest(f"审批阈值应为金额（元），收到 {raw!r}", field="approval_threshold") from None
    if not amount.is_finite() or amount < 0:
        raise BadRequest(f"审批阈值应为非负金额（元），收到 {raw!r}", field="approval_threshold")
    return amount.quantize(Decimal("0.01"))


@dataclass
class PolicyReport:
    policy_id: str
    name: str
    eligible: int = 0
    undetermined: int = 0
    outcomes: Counter = field(default_factory=Counter)
    money: Decimal = Decimal("0.00")
    held_money: Decimal = Decimal("0.00")
    batch_id: int | None = None
    missing: Counter = field(default_factory=Counter)

    def line(self) -> str:
        done = "，".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())) or "未兑现"
        top = "、".join(f"{catalog.FIELDS[m].label} {n}" for m, n in self.missing.most_common(3))
        missing = f"；待补充：{top}" if top else ""
        held = f"，待审批 {self.held_money} 元（批次 {self.batch_id}）" if self.batch_id else ""
        return (
            f"{self.name}（{self.policy_id}）：符合 {self.eligible} 家（{done}），金额 {self.money} 元{held}，"
            f"待定 {self.undetermined} 家{missing}"
        )


def automatic_policies(session, as_of: dt.date, slug: str | None = None) -> list[PolicyVersion]:
    query = (
        select(PolicyVersion)
        .join(Policy, (Policy.id == PolicyVersion.policy_id) & (Policy.current_version == PolicyVersion.version))
        .where(
            Policy.status == "published",
            PolicyVersion.mode == "automatic",
            PolicyVersion.valid_from <= as_of,
            PolicyVersion.valid_to >= as_of,
        )
        .order_by(Policy.slug)
    )
    if slug is not None:
        query = query.where(Policy.slug == slug)
    return list(session.scalars(query))


def verified_table(engine, as_of: dt.date) -> tuple[Table, list[int]]:
    """All enterprises' verified facts as of a date, as a column table (and their ids, row by row)."""
    with engine.connect() as conn:
        ents = conn.execute(
            select(
                Enterprise.id, Enterprise.uscc, Enterprise.region, Enterprise.industry, Enterprise.established_on
            ).order_by(Enterprise.id)
        ).all()
        best: dict[tuple[int, str], tuple] = {}
        query = select(
            FieldValue.enterprise_id, FieldValue.field, FieldValue.value, FieldValue.as_of, FieldValue.recorded_at
        ).where(FieldValue.source.in_(catalog.VERIFIED_SOURCES), FieldValue.as_of <= as_of)
        for eid, name, value, fact_as_of, recorded in conn.execute(query):
            key = (eid, name)
            if key not in best or (fact_as_of, recorded) > best[key][1:]:
                best[key] = (value, fact_as_of, recorded)
    index = {e.id: i for i, e in enumerate(ents)}
    columns = {f.name: [""] * len(ents) for f in catalog.FACT_FIELDS}
    for i, e in enumerate(ents):
        columns["uscc"][i], columns["region"][i], columns["industry"][i] = e.uscc, e.region, e.industry
        columns["established_on"][i] = e.established_on.isoformat() if e.established_on else ""
    for (eid, name), (value, _, _) in best.items():
        if name in columns:
            columns[name][index[eid]] = value
    return Table.from_frame(pd.DataFrame(columns, dtype=str), as_of), [e.id for e in ents]


def run_sweep(
    engine,
    slug: str | None = None,
    as_of: dt.date | None = None,
    dry_run: bool = False,
    actor: str = "system:sweep",
    progress=None,
    approval_threshold: Decimal | None = None,
) -> list[PolicyReport]:
    """Sweep one automatic policy (``slug``) or all; ``dry_run`` computes and writes nothing.

    ``approval_threshold`` (yuan) holds a policy's new payouts for an officer's
    approval when their total exceeds it; ``None`` pays without approval.
    """
    as_of = as_of or dt.date.today()
    say = progress or (lambda *a: None)
    with session_scope(engine) as session:
        versions = automatic_policies(session, as_of, slug)
        specs = [(pv.id, parse_spec(pv.spec)) for pv in versions]
    table, ids = verified_table(engine, as_of)
    dishonest = table.text("on_dishonesty_list")[0]
    abnormal = table.text("in_abnormal_operation")[0]
    reports = []
    for pv_id, spec in specs:
        result = evaluate_policy(spec, table)
        report = PolicyReport(spec.id, spec.name)
        rows = [int(i) for i in (result.outcome == TRUE).nonzero()[0]]
        report.eligible = len(rows)
        report.undetermined, report.missing = _undetermined(result)

        def flags(i):  # verified credit flags decide refusals; no per-row parsing needed
            return {"on_dishonesty_list": bool(dishonest[i]), "in_abnormal_operation": bool(abnormal[i])}

        if dry_run:
            refused = {i for i in rows if dishonest[i] or abnormal[i]}
            report.outcomes.update({"would_refuse": len(refused), "would_pay": len(rows) - len(refused)})
            report.money = sum((result.decision(i).amount for i in rows if i not in refused), Decimal("0.00"))
            reports.append(report)
            continue
        hold = _needs_approval(engine, pv_id, spec, as_of, rows, ids, result, dishonest, abnormal, approval_threshold)
        for start in range(0, len(rows), BATCH):
            with write_scope(engine) as s:
                pv = s.get(PolicyVersion, pv_id)
                batch = rows[start : start + BATCH]
                ents = {
                    e.id: e for e in s.scalars(select(Enterprise).where(Enterprise.id.in_([ids[i] for i in batch])))
                }
                items = [(ents[ids[i]], result.decision(i), flags(i)) for i in batch]
                held_in = open_batch(s, pv.policy_id, approval_threshold or Decimal("0.00"), actor) if hold else None
                for outcome in settle_many(s, pv, items, actor, batch=held_in):
                    report.outcomes[outcome.outcome] += 1
                    if outcome.outcome == "paid":
                        report.money += outcome.amount
                    elif outcome.outcome == "held":
                        report.held_money += outcome.amount
                        report.batch_id = held_in.id
            say(spec.id, min(start + BATCH, len(rows)), len(rows))
        reports.append(report)
    return reports


def _needs_approval(engine, pv_id, spec, as_of, rows, ids, result, dishonest, abnormal, threshold) -> bool:
    """Hold this policy's payouts? Yes if a batch already awaits approval (a resumed sweep adds to it),
    or if the new payouts this sweep would create exceed the threshold."""
    if threshold is None or not rows:
        return False
    with session_scope(engine) as s:
        policy_id = s.get(PolicyVersion, pv_id).policy_id
        waiting = s.scalar(
            select(PayoutBatch.id).where(PayoutBatch.policy_id == policy_id, PayoutBatch.status == "awaiting_approval")
        )
        if waiting is not None:
            return True
        period = period_of(spec.period, as_of)
        paid = set(
            s.scalars(select(Payout.enterprise_id).where(Payout.policy_id == policy_id, Payout.period == period))
        )
    new = (result.decision(i).amount for i in rows if not (dishonest[i] or abnormal[i]) and ids[i] not in paid)
    return sum(new, Decimal("0.00")) > threshold


def _undetermined(result) -> tuple[int, Counter]:
    """How many rows are undetermined, and which facts they miss most (counted column-wise)."""
    unknown = result.outcome == UNKNOWN
    missing: Counter = Counter()
    exact = {i: d for i, d in result.exact.items() if unknown[i]}
    vector_rows = unknown.copy()
    vector_rows[list(exact)] = False
    for name, mask in result.masks.items():
        n = int((mask & vector_rows).sum())
        if n:
            missing[name] += n
    for d in exact.values():
        missing.update(d.missing)
    return int(unknown.sum()), missing
