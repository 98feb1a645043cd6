"""One bundle round: plan every enterprise's 政策包 (:mod:`service.push.planning`), hand each to the outbox
(:func:`service.push.outbox.enqueue`, which applies the respect rules and writes the messages), then send what
is due (:func:`service.push.outbox.deliver_due`). ``zhida push``, the scheduler's daily run and the job kind
``bundles`` all call :func:`run_round`.

A round can be killed anywhere and run again: bundles are enqueued in batches, each batch one transaction,
and a repeated enqueue of the same enterprise, period and channel writes nothing (the outbox's UNIQUE key), so
a rerun queues what the killed one had not and sends nothing twice.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass, field

from service.push import outcomes
from service.push.delivery import deliver_due
from service.push.outbox import OUTCOMES, enqueue_many
from service.push.planning import plan_bundles
from service.store import session_scope

BATCH = 500  # bundles enqueued per transaction


@dataclass
class RoundReport:
    period: str
    dry_run: bool
    planned: int = 0  # bundles with at least one item
    outcomes: Counter = field(default_factory=Counter)  # enqueue outcome -> bundles
    sent: int = 0
    failed: int = 0
    dead: int = 0
    seconds: float = 0.0
    plan_seconds: dict = field(default_factory=dict)  # planning, by stage
    queue_seconds: float = 0.0
    deliver_seconds: float = 0.0

    def summary(self) -> str:
        told = "，".join(f"{OUTCOMES.get(k, k)} {v:,}" for k, v in sorted(self.outcomes.items())) or "无"
        verb = (
            "演练（未写入、未发送）"
            if self.dry_run
            else f"发送 {self.sent:,} 条，失败待重试 {self.failed:,}，死信 {self.dead:,}"
        )
        return f"{self.period} 政策包：{self.planned:,} 家企业有内容；{told}；{verb}；用时 {self.seconds:.1f} s"

    def as_dict(self) -> dict:
        return {
            "period": self.period,
            "dry_run": self.dry_run,
            "planned": self.planned,
            "outcomes": dict(self.outcomes),
            "sent": self.sent,
            "failed": self.failed,
            "dead": self.dead,
            "seconds": round(self.seconds, 1),
            "plan_seconds": {k: round(v, 1) for k, v in self.plan_seconds.items()},
            "queue_seconds": round(self.queue_seconds, 1),
            "deliver_seconds": round(self.deliver_seconds, 1),
        }


def run_round(
    engine,
    kg,
    day: dt.date,
    now: dt.datetime,
    *,
    dry_run: bool = False,
    usccs: list[str] | None = None,
    policies: set[str] | None = None,
    period: str | None = None,
    channels=None,
    deliver: bool = True,
    progress=None,
) -> RoundReport:
    """Plan, enqueue and (with ``deliver``) send one round as of ``day`` / ``now``; ``dry_run`` writes and
    sends nothing and says what would have been queued."""
    from service.push.channels import default_channels

    say = progress or (lambda text: None)
    started = time.perf_counter()
    if not dry_run:
        with session_scope(engine) as session:  # what firms did since: in hand (left out), and for the ranker
            outcomes.from_ledger(session)
    plan = plan_bundles(engine, kg, day, period, usccs=usccs, policies=policies, progress=say)
    report = RoundReport(plan.period, dry_run, planned=len(plan.bundles), plan_seconds=plan.seconds)
    bundles = plan.bundles
    queueing = time.perf_counter()
    for start in range(0, len(bundles), BATCH):
        with session_scope(engine) as session:
            for result in enqueue_many(session, bundles[start : start + BATCH], now, dry_run=dry_run):
                report.outcomes[result.outcome] += 1  # dry: writes nothing
        say(f"入队：{min(start + BATCH, len(bundles)):,}/{len(bundles):,}")
    report.queue_seconds = time.perf_counter() - queueing
    if deliver and not dry_run:
        delivering = time.perf_counter()
        sent = deliver_due(engine, now, channels if channels is not None else default_channels(engine))
        report.sent, report.failed, report.dead = sent.sent, sent.failed, sent.dead
        report.deliver_seconds = time.perf_counter() - delivering
    report.seconds = time.perf_counter() - started
    return report
