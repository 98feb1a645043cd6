"""免申即享 sweeps: decide every enterprise against the automatic measures and pay those that qualify.

Only verified facts count (税务, 社保, 市场监管, …): money never moves on a declaration in
a sweep. Each measure's conditions are evaluated over the whole register at once
(:func:`matcher.columnar.sweep`, whose answers are the scalar engine's); every enterprise
that qualifies for some measure is settled by the same planner as an application
(:func:`matcher.settlement.plan`), in write transactions of :data:`BATCH` enterprises.
Its decision rows keep the verified facts they were decided on; their explanation is
rendered from them when read (:func:`service.ledger.facts.explanation`). Measures of one
exclusive group are weighed together, so the best is paid and the others say which
measure won; a measure's supplements (配套) are decided and paid with it.

Because the ledger holds one grant per (measure, enterprise, period), a sweep killed at
any point and run again pays every eligible enterprise exactly once, and a re-sweep
leaves what is paid untouched: no new rows, no audit records.

Large sweeps wait for an officer: when a unit's new payouts in one sweep would exceed
the approval threshold, they are created ``held`` in a batch until
:func:`service.ledger.batches.decide_batch` approves or rejects it. Money is decided
only as of today or earlier; a later date is a dry run (a simulation that writes nothing).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd
from sqlalchemy import select

from matcher import catalog
from matcher.catalog import REFUSALS
from matcher.columnar import TRUE, UNKNOWN, Table
from matcher.columnar import sweep as evaluate_policy
from matcher.facts import pick_frame, settle_frame
from matcher.settlement import FutureDecision, Unit, after, decide_unit, entitlement, period_of, plan, refusal, units
from service.errors import BadRequest
from service.ledger.batches import open_batch
from service.ledger.executor import Target, read_ledgers, settle
from service.ledger.facts import VersionRef, spec_of
from service.settings import settings
from service.store import rosters_on_record, session_scope, write_scope
from service.store.models import Enterprise, Payout, PayoutBatch, Policy, PolicyVersion

BATCH = 1000
THRESHOLD_ENV = "ZHIDA_APPROVAL_THRESHOLD"
ZERO = Decimal("0.00")


def resolve_threshold(value: str | Decimal | None = None) -> Decimal | None:
    """The amount above which a sweep's payouts for one measure wait for approval (None: never)."""
    raw = settings().approval_threshold if value is None else value
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
    money: Decimal = ZERO
    held_money: Decimal = ZERO
    batch_id: int | None = None
    missing: Counter = field(default_factory=Counter)
    winners: Counter = field(default_factory=Counter)  # 就高不重复: the measures paid in this one's place
    group: str | None = None

    def line(self) -> str:
        names = {
            "paid": "兑现",
            "held": "待审批",
            "already_paid": "此前已兑现",
            "refused": "不予支持",
            "budget_exhausted": "预算不足",
            "outranked": "同组就高",
            "parent_unpaid": "上级未兑现",
            "would_pay": "可兑现",
            "would_refuse": "将不予支持",
            "would_outrank": "同组就高",
        }
        done = "，".join(f"{names.get(k, k)} {v}" for k, v in sorted(self.outcomes.items())) or "未兑现"
        top = "、".join(f"{catalog.FIELDS[m].label} {n}" for m, n in self.missing.most_common(3))
        missing = f"；待补充：{top}" if top else ""
        held = f"，待审批 {self.held_money} 元（批次 {self.batch_id}）" if self.batch_id else ""
        won = "、".join(f"{w} {n} 家" for w, n in self.winners.most_common(3))
        group = f"；就高不重复（{self.group}）按较高者兑现：{won}" if won else ""
        return (
            f"{self.name}（{self.policy_id}）：符合 {self.eligible} 家（{done}），金额 {self.money} 元{held}，"
            f"待定 {self.undetermined} 家{missing}{group}"
        )


@dataclass
class _Version:
    ref: VersionRef
    spec: object


def automatic_versions(session, as_of: dt.date) -> dict[str, _Version]:
    """The current version of every published automatic measure valid on ``as_of``, by id."""
    rows = session.execute(
        select(Policy.slug, PolicyVersion.id, PolicyVersion.policy_id, PolicyVersion.version, PolicyVersion.spec_hash)
        .join(Policy, (Policy.id == PolicyVersion.policy_id) & (Policy.current_version == PolicyVersion.version))
        .where(
            Policy.status == "published",
            PolicyVersion.mode == "automatic",
            PolicyVersion.valid_from <= as_of,
            PolicyVersion.valid_to >= as_of,
        )
        .order_by(Policy.slug)
    ).all()
    out = {}
    for slug, *ref in rows:
        v = VersionRef(*ref)
        out[slug] = _Version(v, spec_of(v, session))
    return out


def verified_table(
    engine, as_of: dt.date, stored: tuple | None = None, ids: set[int] | None = None, verified_only: bool = True
) -> tuple[Table, list[int]]:
    """Every enterprise's verified facts as of a date, roster fields settled by the rosters on record
    (:func:`matcher.facts.settle_frame`), as a column table (and their ids, row by row). ``stored``: what
    :func:`read_register` returned, for tables of several dates from one read of the store; ``ids``: only
    these enterprises (the same rows as in the whole table, fewer of them); ``verified_only=False``: the facts
    that count for an application instead (verified beats declared, then the newest)."""
    rosters, ents, facts = stored if stored is not None else read_register(engine)
    if ids is not None:
        ents = [e for e in ents if e.id in ids]
        facts = facts[facts["enterprise_id"].isin(ids)]
    day = as_of.isoformat()
    current, settled = settle_frame(pick_frame(facts, day, verified_only=verified_only), rosters, day)
    wide = current.pivot(index="enterprise_id", columns="field", values="value")
    frame = pd.DataFrame(index=[e.id for e in ents])
    for f in catalog.FACT_FIELDS:
        frame[f.name] = wide[f.name].reindex(frame.index) if f.name in wide else ""
    for name, (text, _, _) in settled.items():  # no value of a settled roster field: not on it
        column = frame[name]
        frame[name] = column.where(column.notna() & (column != ""), text)
    frame["uscc"] = [e.uscc for e in ents]
    frame["region"] = [e.region for e in ents]
    frame["industry"] = [e.industry for e in ents]
    frame["established_on"] = [e.established_on.isoformat() if e.established_on else "" for e in ents]
    frame = frame.fillna("").astype(str).reset_index(drop=True)
    return Table.from_frame(frame, as_of), [e.id for e in ents]


def read_register(engine) -> tuple[list, list, pd.DataFrame]:
    """The rosters on record, the register and every field value, as :func:`verified_table` reads them."""
    with engine.connect() as conn:
        rosters = rosters_on_record(conn)
        ents = conn.execute(
            select(
                Enterprise.id, Enterprise.uscc, Enterprise.region, Enterprise.industry, Enterprise.established_on
            ).order_by(Enterprise.id)
        ).all()
        # plain driver rows, dates and times as ISO text (they order alike): SQLite keeps them so; PostgreSQL
        # writes them so (in UTC, whatever the session's zone) — no date object is made, parsed or formatted
        # for a million rows
        dates = (
            "to_char(as_of, 'YYYY-MM-DD'), to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
            if conn.dialect.name == "postgresql"
            else "as_of, recorded_at"
        )
        sql = f"SELECT enterprise_id, field, value, source, {dates}, id FROM field_values"
        facts = pd.DataFrame(
            conn.exec_driver_sql(sql).fetchall(),
            columns=["enterprise_id", "field", "value", "source", "as_of", "recorded_at", "row_id"],
        )
    return rosters, ents, facts


def run_sweep(
    engine,
    slug: str | None = None,
    as_of: dt.date | None = None,
    dry_run: bool = False,
    actor: str = "system:sweep",
    progress=None,
    approval_threshold: Decimal | None = None,
    today: dt.date | None = None,
) -> list[PolicyReport]:
    """Sweep one automatic measure (``slug``, with its supplements) or all; ``dry_run`` writes nothing.

    ``approval_threshold`` (yuan) holds a unit's new payouts for an officer's approval when
    their total exceeds it; ``None`` pays without approval. A date after ``today`` can only be
    a dry run.
    """
    today = today or dt.date.today()
    as_of = as_of or today
    check_date(as_of, today, dry_run)
    if dry_run:  # a simulation may look ahead: the planner is told the date it simulates is today
        today = max(today, as_of)
    say = progress or (lambda *a: None)
    with session_scope(engine) as session:
        versions = automatic_versions(session, as_of)
    lots = _lots(units(v.spec for v in versions.values()), slug)
    if not lots:
        return []
    table, ids = verified_table(engine, as_of)
    flags = {name: table.text(name)[0] for name in REFUSALS}
    reports = {}
    for lot in lots:
        sweeps = {u.root.id: evaluate_policy(u.root, table) for u in lot}
        for u in lot:
            result = sweeps[u.root.id]
            for m in u.members:
                reports[m.id] = PolicyReport(m.id, m.name, group=u.group)
            r = reports[u.root.id]
            r.eligible = int((result.outcome == TRUE).sum())
            r.undetermined, r.missing = _undetermined(result)
        rows = np.flatnonzero(np.logical_or.reduce([s.outcome == TRUE for s in sweeps.values()]))
        _settle_lot(engine, lot, versions, sweeps, table, ids, rows, flags, reports, as_of, today, actor, dry_run,
                    approval_threshold, say)  # fmt: skip
    return [reports[m.id] for lot in lots for u in lot for m in u.members]


def check_date(as_of: dt.date, today: dt.date, dry_run: bool) -> None:
    """Money is decided as of today or earlier: a later date only as a dry run (400 otherwise)."""
    if as_of > today and not dry_run:
        raise BadRequest(str(FutureDecision(as_of, today)) + "：请以 dry_run 模拟（命令行 --dry-run）", field="as_of")


def sweep_lots(engine, slug: str | None, as_of: dt.date) -> list[str]:
    """What :func:`run_sweep` would sweep as of ``as_of``, lot by lot, each named as its progress names it (the
    root measures' ids joined by 、); empty when ``slug`` is not an automatic measure in force that day."""
    with session_scope(engine) as session:
        versions = automatic_versions(session, as_of)
    return ["、".join(u.root.id for u in lot) for lot in _lots(units(v.spec for v in versions.values()), slug)]


def _lots(all_units: list[Unit], slug: str | None) -> list[list[Unit]]:
    """Units weighed together: those of one exclusive group form a lot, any other unit is a lot alone."""
    by_group: dict[str, list[Unit]] = {}
    lots: list[list[Unit]] = []
    for u in all_units:
        if u.group:
            if u.group not in by_group:
                by_group[u.group] = []
                lots.append(by_group[u.group])
            by_group[u.group].append(u)
        else:
            lots.append([u])
    if slug is not None:  # that measure's unit alone; its group's others are weighed when they are swept
        lots = [[u] for lot in lots for u in lot if slug in {m.id for m in u.members}]
    return lots


def _settle_lot(
    engine, lot, versions, sweeps, table, ids, rows, flags, reports, as_of, today, actor, dry_run, threshold, say
):
    period = period_of(lot[0].root.period, as_of)
    members = {m.id: versions[m.id].ref for u in lot for m in u.members}
    policy_ids = {s: ref.policy_id for s, ref in members.items()}
    group = lot[0].group
    hold = {}
    if not dry_run:
        hold = _needs_approval(engine, lot, members, sweeps, rows, ids, flags, period, threshold)
    for start in range(0, len(rows), BATCH):
        chunk = [int(i) for i in rows[start : start + BATCH]]
        decided = {
            i: (_listing(flags, i), [(u, _decide(u, sweeps[u.root.id], table, i, as_of)) for u in lot]) for i in chunk
        }
        with (session_scope if dry_run else write_scope)(engine) as s:
            batches = {}
            for u in lot:
                if hold.get(u.root.id):
                    b = open_batch(s, members[u.root.id].policy_id, threshold or ZERO, actor)
                    batches.update(dict.fromkeys((m.id for m in u.members), b.id))
            usccs = dict(
                s.execute(
                    select(Enterprise.id, Enterprise.uscc).where(Enterprise.id.in_([ids[i] for i in chunk]))
                ).all()
            )

            def attempt(chunk=chunk, decided=decided, usccs=usccs, s=s, batches=batches):
                ledgers, remaining = read_ledgers(s, [ids[i] for i in chunk], policy_ids, [group] if group else [],
                                                  period, lock_budgets=not dry_run)  # fmt: skip
                out = []
                for i in chunk:
                    facts, group_units = decided[i]
                    ledger = ledgers[ids[i]]
                    ledger = type(ledger)(ledger.paid, ledger.claims, remaining)
                    how = {"sweep": True}
                    target = Target(ids[i], usccs[ids[i]], members, facts=table.cells(i))
                    if len(group_units) > 1:
                        plans = []
                        for u, ds in sorted(group_units, key=_best_first):
                            p = plan(u, ds, facts, ledger, as_of, today, hold=bool(hold.get(u.root.id)), **how)
                            plans.append(p)
                            ledger = after(ledger, p)
                    else:
                        ((u, ds),) = group_units
                        plans = [plan(u, ds, facts, ledger, as_of, today, hold=bool(hold.get(u.root.id)), **how)]
                        ledger = after(ledger, plans[0])
                    remaining = ledger.remaining
                    out.extend((target, p) for p in plans)
                return out

            if dry_run:
                plans = attempt()
                written = [{} for _ in plans]
            else:
                plans, written = settle(s, attempt, actor, batch_ids=batches)
            for _, p in plans:
                for o in p.outcomes:
                    _count(reports[o.policy_id], o, batches, dry_run)
        say("、".join(u.root.id for u in lot), min(start + BATCH, len(rows)), len(rows))


def _listing(flags, i: int) -> dict:
    """What a refusal reads: the verified credit flags of row ``i``."""
    return {name: bool(values[i]) for name, values in flags.items()}


def _sources(facts: dict) -> dict:
    return {name: catalog.FIELDS[name].source for name in facts}  # verified: each field's own source


def _decide(unit: Unit, result, table, i: int, as_of: dt.date):
    """A unit's decisions for row ``i``, to plan on: the root's column-wise decision (the scalar one, without
    its explanation); a qualifying root's supplements are decided exactly with its amount."""
    root = result.decision(i)
    if unit.supplements and root.outcome == "eligible":
        facts = table.facts(i)
        return decide_unit(unit, facts, as_of, _sources(facts), root=root)
    return decide_unit(unit, {}, as_of, None, root=root)


def _best_first(unit_decisions):
    unit, decisions = unit_decisions
    return (-entitlement(decisions), unit.root.id)


def _count(report: PolicyReport, o, batches, dry_run: bool) -> None:
    if o.settlement in ("not_eligible", "undetermined"):
        return  # counted column-wise (the root), or not in question
    key = o.settlement
    if dry_run:
        key = {"paid": "would_pay", "refused": "would_refuse", "outranked": "would_outrank"}.get(key, key)
    report.outcomes[key] += 1
    if o.policy_id != report.policy_id:
        return
    if o.settlement == "paid":
        report.money += o.amount
    elif o.settlement == "held":
        report.held_money += o.amount
        report.batch_id = batches.get(o.policy_id)
    if o.settlement == "outranked" and o.winner:
        report.winners[o.winner] += 1


def _needs_approval(engine, lot, members, sweeps, rows, ids, flags, period, threshold) -> dict:
    """Per unit: hold its payouts? Yes if a batch already awaits approval (a resumed sweep adds to it), or if
    the entitlements of enterprises it has not paid yet, not listed, exceed the threshold (an upper bound:
    就高不重复 may pay less)."""
    if threshold is None or not len(rows):
        return {}
    out = {}
    with session_scope(engine) as s:
        for u in lot:
            root_policy = members[u.root.id].policy_id
            waiting = s.scalar(
                select(PayoutBatch.id).where(
                    PayoutBatch.policy_id == root_policy, PayoutBatch.status == "awaiting_approval"
                )
            )
            paid = set(
                s.scalars(select(Payout.enterprise_id).where(Payout.policy_id == root_policy, Payout.period == period))
            )
            result = sweeps[u.root.id]
            new = ZERO
            for i in rows:
                if result.outcome[i] != TRUE or ids[i] in paid:
                    continue
                if refusal({k: bool(v[i]) for k, v in flags.items()}) is not None:
                    continue
                new += result.decision(int(i)).amount
            out[u.root.id] = waiting is not None or new > threshold
    return out


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


__all__ = [
    "run_sweep",
    "sweep_lots",
    "check_date",
    "resolve_threshold",
    "PolicyReport",
    "verified_table",
    "automatic_versions",
]
