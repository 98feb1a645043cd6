"""``zhida jobs``: the background jobs on record (what ``GET /api/jobs`` shows), for whoever runs the service."""

from __future__ import annotations

import json

import click

from service.cli import store_engine


def _line(job) -> str:
    from service.jobs import queue, registry

    at = queue.aware(job.created_at)
    done = f" {job.fraction:.0%}" if job.fraction is not None and job.state == "running" else ""
    tail = job.error if job.state == "failed" else job.progress
    return (
        f"{job.id:>6}  {at:%Y-%m-%d %H:%M}  {registry.label(job.kind)}（{job.kind}）  "
        f"{queue.STATE_LABELS[job.state]}{done}  第 {job.attempts}/{job.max_attempts} 次  {job.requested_by}  "
        f"{tail or ''}"
    )


@click.group("jobs")
def cli() -> None:
    """后台任务：列表与详情（由 zhida worker 运行，见 docs/jobs.md）。"""


@cli.command("list")
@click.option("--kind", default=None, help="只列这一类型")
@click.option("--state", type=click.Choice(["queued", "running", "done", "failed"]), default=None)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
def list_cmd(kind: str | None, state: str | None, limit: int) -> None:
    """最近的任务，新的在前。"""
    from service.jobs import queue

    engine = store_engine()
    rows = queue.page(engine, kind=kind, state=state, limit=limit)
    for job in rows:
        click.echo(_line(job))
    counts = queue.counts(engine)
    click.echo("共 " + "，".join(f"{queue.STATE_LABELS[s]} {counts.get(s, 0)}" for s in queue.STATE_LABELS))


@cli.command("show")
@click.argument("job_id", type=int)
def show_cmd(job_id: int) -> None:
    """一个任务的全部记录（JSON）。"""
    from service.errors import NotFound
    from service.http.jobs import job_json
    from service.jobs import queue

    try:
        job = queue.get(store_engine(), job_id)
    except NotFound as e:
        raise click.ClickException(str(e)) from None
    click.echo(json.dumps(job_json(job), ensure_ascii=False, indent=2))
