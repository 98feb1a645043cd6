"""Trained models over HTTP, for analysts: start a training run (in the background), follow it, read the
registry, promote a version, roll back."""

from __future__ import annotations

import datetime as dt
import re

from flask import after_this_request, current_app, jsonify, request

from service import knowledge
from service import model_registry as registry
from service.errors import BadRequest, Conflict, Unprocessable
from service.http import answers, bp, schemas
from service.http.answers import success
from service.http.guard import current_principal, require
from service.http.idempotency import idempotent
from service.jobs import training
from service.store import write_scope

READERS = ("analyst", "admin", "officer")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
SEED_MAX = 2**31 - 1  # LightGBM's seed is a 32-bit integer


def _actor() -> str:
    p = current_principal()
    return f"{p.role}:{p.key_prefix}"


def _engine():
    return current_app.extensions["zhida.engine"]


def _shown(value, limit: int = 40) -> str:
    """A value as an error names it: cut, so that a huge one is not sent back whole."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…（共 {len(text)} 个字符）"


def _integer(body: dict, name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} 应为整数（收到 {_shown(value)}）", field=name)
    if not low <= value <= high:
        raise Unprocessable(f"{name} 应在 {low} 到 {high} 之间（收到 {_shown(value)}）", field=name)
    return value


def training_params(body: dict, today: dt.date) -> dict:
    """``until`` (default today; not after today), ``period_days`` and ``seed``, checked, as the job keeps them."""
    from service.ranking import PERIOD_DAYS

    until = body.get("until")
    if until is None:
        day = today
    elif not isinstance(until, str) or not DAY.fullmatch(until):
        raise BadRequest(f"until 应为 YYYY-MM-DD 格式的日期（收到 {_shown(until)}）", field="until")
    else:
        try:
            day = dt.date.fromisoformat(until)
        except ValueError:
            raise BadRequest(f"until 不是有效日期（收到 {_shown(until)}）", field="until") from None
    if day > today:
        raise Unprocessable(f"until 不能晚于今天 {today}（收到 {day}）：测试期须是已经过去的日子", field="until")
    return {
        "until": day.isoformat(),
        "period_days": _integer(body, "period_days", 60, *PERIOD_DAYS),
        "seed": _integer(body, "seed", 1, 0, SEED_MAX),
    }


def _reason(body: dict) -> str:
    reason = body["reason"]
    if not reason.strip():
        raise BadRequest('须说明理由：{"reason": "…"}（写入审计记录）', field="reason")
    return reason.strip()


def _iso(at: dt.datetime | dt.date | None) -> str | None:
    if at is None:
        return None
    if isinstance(at, dt.datetime) and at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)  # SQLite gives naive UTC
    return at.isoformat()


def model_json(row) -> dict:
    """A registered model: status, training window, feature schema (and whether this code serves it), figures."""
    expected = registry.serving_schema(row.kind)
    metrics = registry.json_safe(row.metrics or {})
    return {
        "kind": row.kind,
        "version": row.version,
        "status": row.status,
        "status_label": registry.STATUS_LABELS[row.status],
        "registered_at": _iso(row.created_at),
        "trained_from": _iso(row.trained_from),
        "trained_until": _iso(row.trained_until),
        "window": metrics.get("window"),
        "schema_hash": row.schema_hash,
        "schema_current": None if expected is None else row.schema_hash == expected,
        "params": row.params,
        "metrics": metrics,
        "promoted_at": _iso(row.promoted_at),
        "promoted_by": row.promoted_by,
        "url": f"/api/models/{row.kind}/{row.version}",
    }


def job_json(job, model) -> dict:
    """A training job: parameters, who asked, times, progress, and the model it registered or why it failed."""
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "status_label": training.STATUS_LABELS[job.status],
        "requested_by": job.requested_by,
        "params": job.params,
        "graph": job.graph_path,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "progress": job.progress,
        "model": None
        if model is None
        else {
            "kind": model.kind,
            "version": model.version,
            "status": model.status,
            "status_label": registry.STATUS_LABELS[model.status],
            "url": f"/api/models/{model.kind}/{model.version}",
        },
        "result": job.result,
        "error": job.error,
        "url": f"/api/models/training/{job.id}",
    }


@bp.post("/models/<kind>/training")
@bp.doc(responses=success(202, answers.TrainingJob, "训练任务已排队（Location：任务的地址）"))
@require("analyst", "admin")
@bp.input(schemas.TrainingIn, arg_name="body")
@idempotent
def start_training(kind: str, body: dict):
    """Queue a training run (202 with the job); a worker runs it in the background, one at a time per kind."""
    training.trainable(kind)
    params = training_params(body, dt.date.today())
    graph = knowledge.default_path().resolve()
    if not graph.is_file():
        raise Conflict(f"没有知识图谱文件 {graph}：训练按图谱计算特征，请先运行 zhida graph build")
    engine = _engine()
    with write_scope(engine) as s:  # joins the request's transaction: the job and the answer commit together
        job = training.submit(s, kind, params, _actor(), graph)
        answer = job_json(job, None)
    runner = current_app.extensions["zhida.training_runner"]  # None: the worker takes the job from the queue

    @after_this_request
    def _start(resp):  # after the commit: the runner must see the job
        if resp.status_code == 202 and runner is not None:
            try:
                runner(engine, answer["id"])
            except Exception:  # the job is on record and queued: a worker runs it
                current_app.logger.exception("training job %s could not be started", answer["id"])
        return resp

    resp = jsonify(answer)
    resp.status_code = 202
    resp.headers["Location"] = answer["url"]
    return resp


@bp.get("/models/training")
@bp.doc(responses=success(200, answers.TrainingJobList, "最近的训练任务"))
@require(*READERS)
@bp.input(schemas.KindQuery, location="query", arg_name="query")
def list_training_jobs(query: dict):
    """The latest training jobs, newest first (``?kind=``)."""
    rows = training.jobs(_engine(), request.args.get("kind") or None)
    return jsonify(total=len(rows), items=[job_json(job, model) for job, model in rows])


@bp.get("/models/training/<int:job_id>")
@bp.doc(responses=success(200, answers.TrainingJob, "训练任务"))
@require(*READERS)
def get_training_job(job_id: int):
    """One training job: its status, and its model and figures when done, or why it failed."""
    return jsonify(job_json(*training.get(_engine(), job_id)))


@bp.get("/models")
@bp.doc(responses=success(200, answers.ModelList, "模型登记簿"))
@require(*READERS)
@bp.input(schemas.KindQuery, location="query", arg_name="query")
def list_models(query: dict):
    """The registry: every version of every kind (``?kind=``), with the one in production per kind."""
    rows = registry.versions(_engine(), request.args.get("kind") or None)
    production = {r.kind: r.version for r in rows if r.status == "production"}
    return jsonify(total=len(rows), production=production, items=[model_json(r) for r in rows])


@bp.get("/models/<kind>/<version>")
@bp.doc(responses=success(200, answers.Model, "登记的模型"))
@require(*READERS)
def get_model(kind: str, version: str):
    """One registered model."""
    return jsonify(model_json(registry.get(_engine(), kind, version)))


@bp.post("/models/<kind>/<version>/promotion")
@bp.doc(responses=success(200, answers.Model, "已上线的模型"))
@require("analyst", "admin")
@bp.input(schemas.ReasonIn, arg_name="body")
@idempotent
def promote_model(kind: str, version: str, body: dict):
    """Serve this version (the one serving before is retired); refused for a model of another feature schema."""
    reason = _reason(body)
    row = registry.promote(_engine(), kind, version, _actor(), reason, registry.serving_schema(kind))
    return jsonify(model_json(row)), 200


@bp.post("/models/<kind>/rollback")
@bp.doc(responses=success(200, answers.Model, "重新上线的模型"))
@require("analyst", "admin")
@bp.input(schemas.ReasonIn, arg_name="body")
@idempotent
def rollback_model(kind: str, body: dict):
    """Serve again the version that served before the current one."""
    reason = _reason(body)
    row = registry.rollback(_engine(), kind, _actor(), reason, registry.serving_schema(kind))
    return jsonify(model_json(row)), 200
