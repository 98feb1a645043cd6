"""Settlement planning: from decisions and what the ledger holds to the effects to write. Pure.

The rules of money beyond a single policy's conditions live here, once:

- **listing refusals**: an enterprise on the 失信 list or in 经营异常 is refused;
- **one payout per (measure, enterprise, period)**: what is paid stays paid —
  a sweep leaves it untouched, an application is told it was paid;
- **budgets**: a payout needs its measure's remaining budget (no partial payouts);
- **就高不重复** (exclusive groups): per (enterprise, group, period) the total paid
  never exceeds the best entitlement in the group. Measures are weighed together
  where they are decided together (a sweep pays the best one); one that arrives
  later pays only the difference above what the group has paid;
- **配套** (supplements): a supplement is decided with its parent, its amount a
  formula of the parent's; it is paid only when the parent is (now or before),
  and a parent with its supplements competes as one unit inside a group;
- **revisions**: verified facts that change after a payout give the difference —
  a clawback of the overpaid amount or a top-up (:func:`plan_revision`);
- money is decided only as of today or the past: a later date is a simulation.

:func:`plan` turns a unit's decisions and a :class:`Ledger` snapshot into a
:class:`Plan`: per measure an :class:`Outcome` (the decision row, the audit
record, the answer), the :class:`Grant` records to reserve and pay, and the
:class:`GroupClaim` to move. ``service.ledger`` executes a plan and nothing
else; should the ledger have changed under it (a concurrent writer), the
executor reads again and asks for a new plan.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import Decimal

from matcher import explain
from matcher.catalog import REFUSALS
from matcher.decision import Decision, decide
from matcher.errors import MatcherError
from matcher.spec import PolicySpec

ZERO = Decimal("0.00")
# REFUSALS (field -> reason) come from the catalog: a field with `refuses` refuses every payout
EXHAUSTED = "资金预算已用完，暂无法兑现"
# settlement outcomes, as the decision row, the audit record and the answer name them
LABELS = {
    "paid": "符合条件，已确定兑现",
    "held": "符合条件，待审批后兑现",
    "already_paid": "本期已兑现，不重复支付",
    "refused": "不予支持",
    "budget_exhausted": "符合条件，但资金预算已用完",
    "not_eligible": "不符合条件",
    "undetermined": "信息不足，请补充申报",
    "outranked": "符合条件，但同组政策就高不重复，已按较高者兑现",
    "nothing_due": "符合条件，应得金额为零",
    "parent_unpaid": "配套政策随上级政策兑现，上级政策未兑现",
    "pending_review": "初审符合，已转人工审核",
    "topped_up": "复核：应得金额增加，补发差额",
    "clawed_back": "复核：应得金额减少，追回多付部分",
    "unchanged": "复核：应得金额未变",
}
AUDIT_ACTIONS = {
    "paid": "payout.decided",
    "held": "payout.held",
    "pending_review": "application.pending_review",
    "topped_up": "payout.top_up",
    "clawed_back": "payout.clawback",
    "unchanged": "revision.unchanged",
}


class FutureDecision(MatcherError):
    """Money decided as of a later date than today: only a simulation may look ahead."""

    def __init__(self, as_of: dt.date, today: dt.date):
        self.as_of, self.today = as_of, today
        super().__init__(f"兑现只能按今天（{today}）或以前的日期判定；{as_of} 是未来日期，只能模拟（不写入）")


def refusal(facts: dict) -> str | None:
    """Why an enterprise is refused whatever the rules say (失信, 经营异常), or None."""
    for flag, reason in REFUSALS.items():
        if facts.get(flag) is True:
            return reason
    return None


def period_of(spec_period: str, as_of: dt.date) -> str:
    """The ledger period: the calendar year for annual measures, ``once`` otherwise."""
    return str(as_of.year) if spec_period == "annual" else "once"


def unmet(decision: Decision) -> str:
    """The reason given for a decision that is not eligible or not yet decidable (labels, never field names)."""
    if decision.outcome == "not_eligible":
        return "不符合申报条件"
    return "需补充：" + "、".join(decision.missing_labels)


def repeat(period: str, status: str = "decided") -> str:
    """The reason given when this (measure, enterprise, period) has its payout already."""
    why = "兑现已撤销（批次被驳回或止付）" if status == "cancelled" else "已兑现"
    return f"本期（{period}）{why}，不重复支付"


# -- what the ledger holds -------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One payout row: the grant (seq 0) or a top-up (seq 1, 2, …), and how much of it was clawed back."""

    payout_id: int
    seq: int
    amount: Decimal
    clawed: Decimal
    status: str


@dataclass(frozen=True)
class Paid:
    """One measure's payouts for the enterprise and period: the grant, and every part (grant and top-ups)."""

    payout_id: int
    status: str
    amount: Decimal
    parts: tuple[Part, ...] = ()

    @property
    def net(self) -> Decimal:
        """Paid in all: grant and top-ups, less clawbacks; a cancelled part counts nothing."""
        return sum((p.amount - p.clawed for p in self.parts if p.status != "cancelled"), ZERO)


@dataclass(frozen=True)
class Claim:
    """An exclusive group's account for (enterprise, group, period): paid in all, and the best entitlement seen."""

    paid: Decimal
    best: Decimal
    best_policy: str | None


@dataclass(frozen=True)
class Ledger:
    """What a plan rests on, for one enterprise and period: payouts by measure, claims by group,
    and each measure's remaining budget (total − reserved − paid). ``remaining`` None: not read —
    the plan assumes enough, and the executor's conditional reservation has the last word (should
    it fail, the caller reads the budgets and plans again)."""

    paid: dict[str, Paid] = field(default_factory=dict)
    claims: dict[str, Claim] = field(default_factory=dict)
    remaining: dict[str, Decimal] | None = field(default_factory=dict)


# -- what to write ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One measure's settlement. ``record``: write its decision row and audit record (a sweep leaves
    an already-paid measure untouched and records nothing for firms that do not qualify)."""

    policy_id: str
    decision: Decision
    settlement: str
    amount: Decimal | None
    reason: str
    record: bool = True
    winner: str | None = None  # 就高不重复: the measure whose payout stands in this one's place
    payout_id: int | None = None  # an already-paid measure's payout

    @property
    def label(self) -> str:
        return LABELS[self.settlement]

    @property
    def rule_outcome(self) -> str:
        """What the decision row's ``outcome`` says: the rules' answer, or ``refused``."""
        return "refused" if self.settlement == "refused" else self.decision.outcome


@dataclass(frozen=True)
class Grant:
    """Money for one measure: reserve it from the measure's budget and record the payout."""

    policy_id: str
    amount: Decimal
    period: str
    status: str = "decided"  # decided | held (awaiting an officer's approval of its batch)
    seq: int = 0  # 0: the grant; 1, 2, …: top-ups after revisions


@dataclass(frozen=True)
class GroupClaim:
    """Move a group's account from ``expected`` paid (None: no account yet) to ``paid``."""

    group: str
    period: str
    expected: Decimal | None
    paid: Decimal
    best: Decimal
    best_policy: str


@dataclass(frozen=True)
class Clawback:
    """Take back ``amount`` of a payout that had ``expected`` clawed back so far (its budget is restored)."""

    policy_id: str
    payout_id: int
    amount: Decimal
    reason: str
    expected: Decimal = ZERO


@dataclass(frozen=True)
class Plan:
    outcomes: tuple[Outcome, ...] = ()
    grants: tuple[Grant, ...] = ()
    claim: GroupClaim | None = None
    clawbacks: tuple[Clawback, ...] = ()

    def outcome(self, policy_id: str) -> Outcome:
        return next(o for o in self.outcomes if o.policy_id == policy_id)


# -- units: a measure with its supplements ---------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """A measure and its supplements (配套), decided and paid together."""

    root: PolicySpec
    supplements: tuple[PolicySpec, ...] = ()

    @property
    def members(self) -> tuple[PolicySpec, ...]:
        return (self.root, *self.supplements)

    @property
    def group(self) -> str | None:
        return self.root.exclusive_group


def units(specs) -> list[Unit]:
    """Every measure that is not a supplement, with its supplements (in id order)."""
    specs = list(specs)
    by_parent: dict[str, list[PolicySpec]] = {}
    for s in specs:
        if s.supplement_of:
            by_parent.setdefault(s.supplement_of, []).append(s)
    return [
        Unit(s, tuple(sorted(by_parent.get(s.id, ()), key=lambda x: x.id)))
        for s in sorted(specs, key=lambda x: x.id)
        if not s.supplement_of
    ]


def decide_unit(
    unit: Unit, facts: dict, as_of: dt.date, sources: dict | None = None, root: Decision | None = None
) -> tuple[Decision, ...]:
    """The root's decision (or ``root``, already made), then each supplement's, decided with the root's amount."""
    root = root if root is not None else decide(unit.root, facts, as_of, sources)
    out = [root]
    for s in unit.supplements:
        if root.outcome == "eligible":
            out.append(decide(s, facts, as_of, sources, parent_amount=root.amount))
        else:
            state = "不符合条件" if root.outcome == "not_eligible" else "待定"
            note = f"配套政策随上级政策 {unit.root.id} 判定：上级政策{state}"
            out.append(Decision(s.id, root.outcome, missing=root.missing, as_of=as_of, note=note))
    return tuple(out)


def entitlement(decisions) -> Decimal:
    """What a unit is entitled to: the sum of its eligible measures' amounts."""
    return sum((d.amount for d in decisions if d.outcome == "eligible"), ZERO)


# -- planning --------------------------------------------------------------------------------


def plan(
    unit: Unit,
    decisions: tuple[Decision, ...],
    facts: dict,
    ledger: Ledger,
    as_of: dt.date,
    today: dt.date,
    *,
    sweep: bool = False,
    hold: bool = False,
    review: bool = False,
) -> Plan:
    """The settlement of one unit for one enterprise as of a date.

    ``sweep``: 免申即享 — already-paid measures are left untouched and measures the firm does
    not qualify for are not recorded; ``hold``: new payouts wait for an officer (a large
    sweep's batch); ``review``: an application to a 审核 measure — eligible measures go to the
    review queue instead of being paid.
    """
    if as_of > today:
        raise FutureDecision(as_of, today)
    members = unit.members
    period = period_of(unit.root.period, as_of)
    by_id = dict(zip((m.id for m in members), decisions))
    listed = refusal(facts)
    outcomes: dict[str, Outcome] = {}
    for m in members:
        d = by_id[m.id]
        paid = ledger.paid.get(m.id)
        if paid is not None:
            outcomes[m.id] = Outcome(
                m.id, d, "already_paid", paid.amount, repeat(period, paid.status), not sweep, payout_id=paid.payout_id
            )
        elif listed is not None and (d.outcome == "eligible" or not sweep):
            outcomes[m.id] = Outcome(m.id, d, "refused", None, listed)
        elif d.outcome != "eligible":
            outcomes[m.id] = Outcome(m.id, d, d.outcome, None, unmet(d), not sweep)
    root = unit.root
    open_members = [m for m in members if m.id not in outcomes]
    if review and open_members:
        for m in open_members:
            d = by_id[m.id]
            outcomes[m.id] = Outcome(m.id, d, "pending_review", d.amount, f"承诺 {m.time_limit_days} 个工作日内办结")
        return Plan(tuple(outcomes[m.id] for m in members))
    grants: list[Grant] = []
    claim = ledger.claims.get(unit.group) if unit.group else None
    room = None  # what the group still allows this unit (None: no group)
    if unit.group:
        seen = claim.paid if claim is not None else ZERO
        room = max(ZERO, entitlement(decisions) - seen)
    remaining = dict(ledger.remaining) if ledger.remaining is not None else None
    # a parent's payout counts once it is paid or on its way: not cancelled, and not still held for an officer's
    # approval (a supplement joins its parent's batch when they are planned together, below)
    parent_paid = root.id in ledger.paid and ledger.paid[root.id].status not in ("cancelled", "held")
    for m in open_members:
        d = by_id[m.id]
        if m is not root and not parent_paid:
            why = outcomes[root.id].reason if root.id in outcomes else "上级政策未兑现"
            outcomes[m.id] = Outcome(
                m.id, d, "parent_unpaid", None, f"上级政策 {root.id} 未兑现（{why}），配套随之不予兑现"
            )
            continue
        if d.amount == 0:  # the rules give nothing: nothing to pay, nothing for a group to weigh
            outcomes[m.id] = Outcome(m.id, d, "nothing_due", ZERO, "应得金额为零，无需兑现")
            continue
        give = d.amount if room is None else min(d.amount, room)
        if give <= 0:
            outcomes[m.id] = _outranked(m, d, claim, unit.group)
            continue
        if remaining is not None:
            if remaining.get(m.id, ZERO) < give:
                outcomes[m.id] = Outcome(m.id, d, "budget_exhausted", give, EXHAUSTED)
                continue
            remaining[m.id] = remaining.get(m.id, ZERO) - give
        if room is not None:
            room -= give
        grants.append(Grant(m.id, give, period, "held" if hold else "decided"))
        reason = ""
        if give < d.amount:
            reason = (
                f"就高不重复：同组（{unit.group}）已兑现 {explain.money(claim.paid)}（{claim.best_policy}），"
                f"本项应得 {explain.money(d.amount)}，补足差额 {explain.money(give)}"
            )
        elif hold:
            reason = "待审批"
        outcomes[m.id] = Outcome(m.id, d, "held" if hold else "paid", give, reason)
        if m is root:
            parent_paid = True
    group_claim = None
    if unit.group and grants:
        paid_before = claim.paid if claim is not None else ZERO
        best_before = claim.best if claim is not None else ZERO
        total = entitlement(decisions)
        group_claim = GroupClaim(
            unit.group,
            period,
            claim.paid if claim is not None else None,
            paid_before + sum((g.amount for g in grants), ZERO),
            max(best_before, total),
            root.id if total > best_before or claim is None else claim.best_policy,
        )
    return Plan(tuple(outcomes[m.id] for m in members), tuple(grants), group_claim)


def _outranked(m: PolicySpec, d: Decision, claim: Claim | None, group: str) -> Outcome:
    winner = claim.best_policy if claim is not None else None
    paid = explain.money(claim.paid) if claim is not None else "—"
    due = explain.money(d.amount)
    reason = f"就高不重复：同组（{group}）已按 {winner} 兑现 {paid}，不低于本项应得的 {due}，本项不再兑现"
    return Outcome(m.id, d, "outranked", None, reason, winner=winner)


def after(ledger: Ledger, p: Plan) -> Ledger:
    """The ledger as a plan leaves it (for the next plan in the same transaction)."""
    remaining = dict(ledger.remaining) if ledger.remaining is not None else None
    paid = dict(ledger.paid)
    for g in p.grants:
        if remaining is not None:
            remaining[g.policy_id] = remaining.get(g.policy_id, ZERO) - g.amount
        if g.seq == 0:
            paid[g.policy_id] = Paid(0, g.status, g.amount, (Part(0, 0, g.amount, ZERO, g.status),))
    claims = dict(ledger.claims)
    if p.claim is not None:
        claims[p.claim.group] = Claim(p.claim.paid, p.claim.best, p.claim.best_policy)
    return replace(ledger, paid=paid, claims=claims, remaining=remaining)


# -- revisions -------------------------------------------------------------------------------


class RevisionBlocked(MatcherError):
    """A clawback of money that has not reached the enterprise yet: wait for the bank's confirmation."""


def plan_revision(
    group_units: list[tuple[Unit, tuple[Decision, ...]]],
    facts: dict,
    ledger: Ledger,
    as_of: dt.date,
    today: dt.date,
    why: str,
) -> Plan:
    """Decide paid measures again on facts that changed: pay the difference or claw back the excess.

    ``group_units``: the unit revised, or for a measure in an exclusive group every unit of the
    group (the group's due is its best entitlement now). A top-up is new money: it needs the
    budget and is refused to a listed enterprise. A clawback restores the budget and never
    lists the enterprise (that is an officer's separate finding of a false declaration); it
    takes back only money the bank has confirmed, latest payouts first.
    """
    if as_of > today:
        raise FutureDecision(as_of, today)
    listed = refusal(facts)
    outcomes: list[Outcome] = []
    grants: list[Grant] = []
    clawbacks: list[Clawback] = []
    remaining = dict(ledger.remaining) if ledger.remaining is not None else None
    group = group_units[0][0].group
    period = period_of(group_units[0][0].root.period, as_of)
    if group is None:
        targets = {d.policy_id: (d.amount if d.outcome == "eligible" else ZERO) for _, ds in group_units for d in ds}
    else:  # the group is due its best unit's entitlement, owed to that unit's measures
        best_unit, best = max(group_units, key=lambda ud: (entitlement(ud[1]), [-ord(c) for c in ud[0].root.id]))
        targets = {d.policy_id: ZERO for _, ds in group_units for d in ds}
        room = entitlement(best)
        for d in best:
            if d.outcome == "eligible":
                targets[d.policy_id] = min(d.amount, room)
                room -= targets[d.policy_id]
    for _, decisions in group_units:
        for d in decisions:
            paid = ledger.paid.get(d.policy_id)
            if paid is None or paid.status == "cancelled":
                continue  # never paid, or its payout was cancelled (final): a revision changes what was paid
            diff = targets[d.policy_id] - paid.net
            if diff > 0:
                if listed is not None:
                    outcomes.append(Outcome(d.policy_id, d, "refused", None, listed))
                elif remaining is not None and remaining.get(d.policy_id, ZERO) < diff:
                    outcomes.append(Outcome(d.policy_id, d, "budget_exhausted", diff, EXHAUSTED))
                else:
                    if remaining is not None:
                        remaining[d.policy_id] = remaining.get(d.policy_id, ZERO) - diff
                    seq = max(p.seq for p in paid.parts) + 1
                    grants.append(Grant(d.policy_id, diff, period, "decided", seq))
                    reason = (
                        f"{why}：应得 {explain.money(targets[d.policy_id])}，已付 {explain.money(paid.net)}，补发差额"
                    )
                    outcomes.append(Outcome(d.policy_id, d, "topped_up", diff, reason, payout_id=paid.payout_id))
            elif diff < 0:
                owed = -diff
                for part in sorted(paid.parts, key=lambda p: -p.seq):
                    left = part.amount - part.clawed
                    if owed <= 0 or left <= 0 or part.status == "cancelled":
                        continue
                    if part.status != "confirmed":
                        raise RevisionBlocked(
                            f"{d.policy_id} 的兑现 {part.payout_id} 尚未到账（状态 {part.status}），"
                            "待银行确认后再复核追回"
                        )
                    take = min(owed, left)
                    clawbacks.append(Clawback(d.policy_id, part.payout_id, take, why, part.clawed))
                    owed -= take
                reason = f"{why}：应得 {explain.money(targets[d.policy_id])}，已付 {explain.money(paid.net)}，追回多付"
                outcomes.append(Outcome(d.policy_id, d, "clawed_back", -diff, reason, payout_id=paid.payout_id))
            else:
                outcomes.append(
                    Outcome(d.policy_id, d, "unchanged", paid.net, f"{why}：应得金额未变", payout_id=paid.payout_id)
                )
    claim = None
    if group is not None:
        before = ledger.claims.get(group)
        moved = sum((g.amount for g in grants), ZERO) - sum((c.amount for c in clawbacks), ZERO)
        if moved:
            paid_before = before.paid if before is not None else ZERO
            best_policy = max(group_units, key=lambda ud: (entitlement(ud[1]), [-ord(c) for c in ud[0].root.id]))
            claim = GroupClaim(
                group,
                period,
                before.paid if before is not None else None,
                paid_before + moved,
                max(paid_before + moved, entitlement(best_policy[1])),
                best_policy[0].root.id,
            )
    return Plan(tuple(outcomes), tuple(grants), claim, tuple(clawbacks))


def plan_finding(policy_id: str, part: Part, amount: Decimal, reason: str, group_claim: tuple | None = None) -> Plan:
    """An officer's finding that declared facts were false: take back ``amount`` of a confirmed payout ``part``
    (money not yet confirmed is stopped instead, by the caller). ``group_claim``: ``(group, period, Claim)``
    when the payout is an exclusive group's, whose account shrinks by what comes back."""
    outstanding = part.amount - part.clawed
    if part.status != "confirmed":
        raise RevisionBlocked(f"兑现 {part.payout_id} 尚未到账（状态 {part.status}），不能追回")
    if not ZERO < amount <= outstanding:
        raise MatcherError(f"追回金额应大于 0 且不超过未追回的 {outstanding} 元")
    claim = None
    if group_claim is not None:
        group, period, held = group_claim
        claim = GroupClaim(group, period, held.paid, held.paid - amount, held.best, held.best_policy)
    return Plan(clawbacks=(Clawback(policy_id, part.payout_id, amount, reason, part.clawed),), claim=claim)
