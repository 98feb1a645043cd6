"""Background jobs over HTTP, for staff: the list (newest first, keyset pages) and one job — its state, progress,
result or the reason it failed. A request that queues a job answers 202 with it (:func:`accepted`)."""

from __future__ import annotations

import datetime as dt
import hashlib

from apiflask import Schema
from apiflask.fields import Integer, String
from apiflask.validators import Length, OneOf, Range
from flask import after_this_request, current_app, jsonify

from service import cursors
from service.errors import BadRequest
from service.http import answers, bp
from service.http.answers import success
from service.http.guard import require
from service.jobs import queue, registry
from service.store.models import JOB_STATES

READERS = ("admin", "officer", "analyst", "system")  # system: it polls the jobs its requests queued


class JobListQuery(Schema):
    kind = String(validate=Length(max=32), metadata={"description": "任务类型，如 sweep、training、graph_rebuild"})
    state = String(
        validate=OneOf(JOB_STATES, error="应为 queued、running、done 或 failed 之一"),
        metadata={"description": "queued | running | done | failed"},
    )
    limit = Integer(validate=Range(1, queue.PAGE_MAX), metadata={"description": "每页条数（1–100，默认 20）"})
    cursor = String(validate=Length(max=cursors.MAX_LENGTH), metadata={"description": "上一页的 next_cursor"})


def _iso(at: dt.datetime | None) -> str | None:
    at = queue.aware(at)
    return at.isoformat() if at is not None else None


def job_json(job) -> dict:
    """A job as the API shows it."""
    return {
        "id": job.id,
        "kind": job.kind,
        "kind_label": registry.label(job.kind),
        "state": job.state,
        "state_label": queue.STATE_LABELS[job.state],
        "params": job.params,
        "progress": job.progress,
        "fraction": job.fraction,
        "result": job.result,
        "error": job.error,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "requested_by": job.requested_by,
        "owner": job.owner,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "heartbeat_at": _iso(job.heartbeat_at),
        "finished_at": _iso(job.finished_at),
        "run_after": _iso(job.run_after),
        "url": f"/api/jobs/{job.id}",
    }


def accepted(job):
    """202 Accepted with the job and ``Location`` to poll; a runner the app names (tests) runs it after the
    commit, else a worker takes it from the queue."""
    answer = job_json(job)
    engine = current_app.extensions["zhida.engine"]
    runner = current_app.extensions.get("zhida.job_runner")

    @after_this_request
    def _run(resp):
        if resp.status_code == 202 and runner is not None:
            try:
                runner(engine, answer["id"])
            except Exception:  # queued and on record: a worker runs it
                current_app.logger.exception("job %s could not be run here", answer["id"])
        return resp

    resp = jsonify(answer)
    resp.status_code = 202
    resp.headers["Location"] = answer["url"]
    return resp


def _filters_digest(kind: str | None, state: str | None) -> str:
    return hashlib.sha256(f"{kind or ''}\0{state or ''}".encode()).hexdigest()[:16]


@bp.get("/jobs")
@bp.doc(responses=success(200, answers.JobList, "后台任务，新的在前"))
@require(*READERS)
@bp.input(JobListQuery, location="query", arg_name="query")
def list_jobs(query: dict):
    """Jobs newest first (``?kind=&state=``), ``limit`` a page; ``next_cursor`` resumes after the last one."""
    kind, state = query.get("kind") or None, query.get("state") or None
    limit = query.get("limit") or 20
    secret = current_app.config["SECRET_KEY"]
    before = None
    if query.get("cursor"):
        payload = cursors.decode(query["cursor"], secret)
        if payload.get("q") != _filters_digest(kind, state) or not isinstance(payload.get("b"), int):
            raise BadRequest("cursor 与本次查询的条件不符：请去掉 cursor 从第一页开始", field="cursor")
        before = payload["b"]
    rows = queue.page(current_app.extensions["zhida.engine"], kind=kind, state=state, before=before, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = cursors.encode({"b": rows[-1].id, "q": _filters_digest(kind, state)}, secret) if more else None
    return jsonify(
        filters={k: v for k, v in (("kind", kind), ("state", state)) if v},
        limit=limit,
        items=[job_json(j) for j in rows],
        next_cursor=nxt,
    )


@bp.get("/jobs/<int:job_id>")
@bp.doc(responses=success(200, answers.Job, "后台任务：状态、进度、结果或失败原因"))
@require(*READERS)
def get_job(job_id: int):
    """One job: its state, progress (text and fraction), result when done, the Chinese reason when failed."""
    return jsonify(job_json(queue.get(current_app.extensions["zhida.engine"], job_id)))
