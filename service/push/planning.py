"""政策包 planning: for every enterprise of the register, what to tell it this period.

A bundle has three groups — 已为您自动兑现 (a 免申即享 measure it qualifies for: paid this period, or to be
paid by the next sweep), 可立即申报 (it meets every condition of a measure it must apply for), 可能符合，请补充
信息 (the facts on record leave the decision open: what to declare, by Chinese label) — each item with its
amount, deadline, reason and link.

Rules first, the ranker second. The register is decided column-wise, one published policy in force at a time
(:func:`matcher.columnar.sweep`: the sweep's own path, exactly the engine's answers), on the facts a decision
reads — the verified facts for a 免申即享 measure, the facts that count for the others. Only what a firm
qualifies for, or may, is then featured (:func:`service.ranking.feature_matrix`, the one feature definition)
and scored by the promoted ranker, which orders the items inside each group and never puts one in. Left out:
a measure the firm has applied for or been paid by this period (but a 免申即享 payout, which is news), one
whose application period has closed, and a supplement (配套: paid with its parent). What the firm was told
before is the outbox's business (:mod:`service.push.outbox`): an item pushed recently with no change is not
sent again.

Nothing here writes.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd
from sqlalchemy import select

from matcher import catalog, explain
from matcher.columnar import TRUE, UNKNOWN, _missing_of, sweep
from matcher.registry import facts_to_declare
from matcher.settlement import period_of
from service.push.bundle import GROUPS, Bundle, BundleItem
from service.store.models import Application, Payout, Policy, PolicyVersion

GROUP_ORDER = {"auto_paid": 0, "apply_now": 1, "maybe": 2}
LEFT_OUT_APPLICATIONS = ("rejected", "refused", "withdrawn")  # an application in any other state: in hand
LEFT_OUT_PAYOUTS = ("failed", "cancelled")


def bundle_period(day: dt.date) -> str:
    """The bundle period of a day: its ISO week (one bundle per enterprise and week at most)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass
class Plan:
    """One bundle round planned: the bundles (firms with at least one item), and what it took."""

    day: dt.date
    period: str
    scorer: str
    bundles: list[Bundle] = field(default_factory=list, repr=False)
    firms: int = 0  # enterprises of the register
    items: dict = field(default_factory=dict)  # group -> items
    seconds: dict = field(default_factory=dict)  # stage -> seconds

    def summary(self) -> str:
        counts = "，".join(f"{GROUPS[g]} {self.items.get(g, 0):,} 项" for g in GROUP_ORDER)
        return (
            f"{self.period} 政策包：{len(self.bundles):,} 家企业（共 {self.firms:,} 家）；{counts}；"
            f"排序：{self.scorer}；用时 {sum(self.seconds.values()):.1f} s"
        )


def plan_bundles(
    engine,
    kg,
    day: dt.date,
    period: str | None = None,
    usccs: list[str] | None = None,
    policies: set[str] | None = None,
    progress=None,
) -> Plan:
    """The bundles of ``period`` (default: the ISO week of ``day``) for the register, or for ``usccs``; with
    ``policies``, of those policies only (a newly published one, pushed to the enterprises it fits)."""
    from service.ledger.sweeps import read_register, verified_table
    from service.ranking import (
        NO_MODEL,
        Scorer,
        current_specs,
        feature_matrix,
        load_events,
        serving_scorer,
        serving_time,
    )
    from service.serving import application_deadlines

    say = progress or (lambda text: None)
    clock = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = seconds.get(stage, 0.0) + now - clock
        clock = now

    period = period or bundle_period(day)
    specs = {
        slug: spec
        for slug, spec in current_specs(engine).items()
        if spec.valid_from <= day <= spec.valid_to and not spec.supplement_of and (policies is None or slug in policies)
    }
    stored = read_register(engine)
    ents = stored[1]
    ids = None
    if usccs is not None:
        wanted = set(usccs)
        ids = {e.id for e in ents if e.uscc in wanted}
        ents = [e for e in ents if e.id in ids]
    counting, _ = verified_table(engine, day, stored, ids, verified_only=False)
    verified, _ = verified_table(engine, day, stored, ids)
    events = load_events(engine, until=serving_time(day).to_pydatetime())
    deadlines = application_deadlines(events, day)
    in_hand, paid = _received(engine, specs, day)
    say(f"读取：{len(ents):,} 家企业，{len(specs)} 项在有效期内的政策")
    lap("read")

    # rules: which firm qualifies, or may, for what
    row_items: dict[int, list] = defaultdict(list)  # row -> [(slug, group, cents | None, missing)]
    for k, (slug, spec) in enumerate(sorted(specs.items()), 1):
        deadline = min(deadlines.get(slug, spec.valid_to), spec.valid_to)
        if deadline < day:
            continue
        table = verified if spec.mode == "automatic" else counting
        sw = sweep(spec, table)
        for i in np.flatnonzero(sw.outcome == TRUE):
            i = int(i)
            eid = ents[i].id
            if spec.mode != "automatic" and (eid, slug) in in_hand:
                continue
            group = "auto_paid" if spec.mode == "automatic" else "apply_now"
            row_items[i].append((slug, group, int(sw.cents[i]), ()))
        for i in np.flatnonzero(sw.outcome == UNKNOWN):
            i = int(i)
            if (ents[i].id, slug) in in_hand:
                continue
            missing = sw.exact[i].missing if i in sw.exact else _missing_of(sw.masks, i)
            row_items[i].append((slug, "maybe", None, missing))
        if k % 25 == 0 or k == len(specs):
            say(f"规则判定：{k}/{len(specs)} 项政策，{sum(map(len, row_items.values())):,} 项入包")
    counting.clear_caches()
    verified.clear_caches()
    lap("rules")

    # the ranker orders what the rules let in
    try:
        scorer = serving_scorer(engine)
    except Exception as e:  # a model this code cannot serve: the baseline, said so
        scorer = Scorer("eligible_by_amount", None, f"在用排序模型无法使用（{e}）：{NO_MODEL.split('：', 1)[1]}")
    in_graph = [i for i in row_items if f"enterprise:{ents[i].uscc}" in kg.g]
    pairs = [(ents[i].uscc, slug) for i in in_graph for slug, *_ in row_items[i]]
    score: dict[tuple[str, str], float] = {}
    if pairs and scorer.artifact is not None:
        queries = pd.DataFrame(pairs, columns=["enterprise", "policy"]).assign(at=serving_time(day))
        say(f"排序：{len(queries):,} 项（{scorer.label}）")
        x = feature_matrix(engine, kg, queries, events, {}, progress=say, stored=stored)
        score = dict(zip(pairs, scorer.score(x, queries["policy"].to_numpy()), strict=True))
    lap("ranking")

    plan = Plan(day, period, scorer.label)
    plan.firms = len(ents)
    counts: dict[str, int] = defaultdict(int)
    for i in sorted(row_items):
        ent = ents[i]
        found = row_items[i]
        facts = counting.facts(i) if any(m for *_, m in found) else {}

        def order(entry, uscc=ent.uscc):
            slug, group, cents, _ = entry
            return (GROUP_ORDER[group], -score.get((uscc, slug), 0.0), -(cents or 0), slug)

        items = []
        for slug, group, cents, missing in sorted(found, key=order):
            spec = specs[slug]
            amount = (Decimal(cents) / 100).quantize(Decimal("0.01")) if cents is not None else None
            deadline = min(deadlines.get(slug, spec.valid_to), spec.valid_to)
            declare = facts_to_declare(missing, facts) if missing else ()
            labels = tuple(catalog.FIELDS[name].label for name in declare)  # as Decision.missing_labels
            when = paid.get((ent.id, slug))
            items.append(
                BundleItem(
                    policy_id=slug,
                    group=group,
                    name=spec.name,
                    amount=f"{amount:.2f}" if amount is not None else None,
                    deadline=deadline.isoformat(),
                    reason=_reason(group, amount, labels, when),
                    to_declare=labels,
                    link=f"/policies/{slug}",
                )
            )
            counts[group] += 1
        plan.bundles.append(Bundle(enterprise_id=ent.id, uscc=ent.uscc, period=period, items=tuple(items)))
    plan.items = dict(counts)
    lap("assembly")
    plan.seconds = seconds
    say(plan.summary())
    return plan


def _received(engine, specs: dict, day: dt.date) -> tuple[set, dict]:
    """``(enterprise id, policy id)`` pairs already in hand this period — applied for (in any state but
    refused) or paid — and, of the paid ones, when (the news a 免申即享 item gives)."""
    slugs = {}
    in_hand: set = set()
    paid: dict = {}
    with engine.connect() as conn:
        for pid, slug in conn.execute(select(Policy.id, Policy.slug)):
            if slug in specs:
                slugs[pid] = slug
        rows = conn.execute(
            select(Payout.enterprise_id, Payout.policy_id, Payout.period, Payout.created_at).where(
                Payout.status.not_in(LEFT_OUT_PAYOUTS)
            )
        )
        for eid, pid, period, created in rows:
            slug = slugs.get(pid)
            if slug is not None and period == period_of(specs[slug].period, day):
                in_hand.add((eid, slug))
                paid[(eid, slug)] = created
        rows = conn.execute(
            select(Application.enterprise_id, PolicyVersion.policy_id, Application.created_at)
            .join(PolicyVersion, PolicyVersion.id == Application.policy_version_id)
            .where(Application.status.not_in(LEFT_OUT_APPLICATIONS))
        )
        for eid, pid, created in rows:
            slug = slugs.get(pid)
            if slug is not None and period_of(specs[slug].period, created.date()) == period_of(specs[slug].period, day):
                in_hand.add((eid, slug))
    return in_hand, paid


def _reason(group: str, amount: Decimal | None, labels: tuple[str, ...], paid_at) -> str:
    money = explain.money(amount) if amount is not None else None
    if group == "auto_paid":
        if paid_at is not None:
            return f"已于 {paid_at:%Y-%m-%d} 为您自动兑现 {money}，无需申请"
        return f"您符合全部条件，将自动兑现 {money}，无需申请" if money else "您符合全部条件，将自动兑现，无需申请"
    if group == "apply_now":
        return f"您符合全部申报条件，可立即申报，预计可得 {money}" if money else "您符合全部申报条件，可立即申报"
    return "已满足的条件之外，还需补充：" + "、".join(labels) if labels else "还需补充信息后才能判定"


__all__ = ["Plan", "plan_bundles", "bundle_period"]
