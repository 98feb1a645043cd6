"""The job kinds of 政策包 push (service.jobs.registry): the daily round, the retries of due deliveries, and the
push of a newly published policy to the enterprises it fits. Each takes ids and plain values, never data, and
is safe to run again (service.push.rounds)."""

from __future__ import annotations

import datetime as dt


def _graph():
    from graph.knowledge import KnowledgeGraph
    from service import knowledge

    return KnowledgeGraph.load(knowledge.default_path())


def run_bundles(engine, params: dict, progress) -> dict:
    """One bundle round for the whole register (params: ``day`` ISO date, default today; ``dry_run``)."""
    from service.push.rounds import run_round

    day = dt.date.fromisoformat(params["day"]) if params.get("day") else dt.date.today()
    report = run_round(engine, _graph(), day, dt.datetime.now(dt.UTC), dry_run=bool(params.get("dry_run")),
                       progress=progress)  # fmt: skip
    progress(report.summary(), 1.0)
    return report.as_dict()


def run_deliveries(engine, params: dict, progress) -> dict:
    """Send what is due: first attempts waiting out quiet hours, retries after their backoff; and bring back
    what the ledger says firms did since the last pass (applied, approved, paid: events the ranker reads)."""
    from service.push import outcomes
    from service.push.channels import default_channels
    from service.push.outbox import deliver_due
    from service.store import session_scope

    report = deliver_due(engine, dt.datetime.now(dt.UTC), default_channels(engine))
    with session_scope(engine) as session:
        made = outcomes.from_ledger(session)
    told = "，".join(f"{k} {v}" for k, v in made.items() if v) or "无"
    progress(f"投递：发送 {report.sent}，失败待重试 {report.failed}，死信 {report.dead}；新记录的办理结果：{told}", 1.0)
    return {**report.as_dict(), "outcomes": made}


def run_policy_published(engine, params: dict, progress) -> dict:
    """A newly published policy (params: ``policy_id``) in a bundle of its own, to every enterprise it fits:
    its period is the policy's (``new:<id>``), so it does not take the week's bundle's place; the frequency
    cap and the other respect rules still apply (service.push.outbox)."""
    from service.push.rounds import run_round

    slug = str(params["policy_id"])
    report = run_round(engine, _graph(), dt.date.today(), dt.datetime.now(dt.UTC), policies={slug},
                       period=f"new:{slug}"[:32], progress=progress)  # fmt: skip
    progress(report.summary(), 1.0)
    return report.as_dict()
