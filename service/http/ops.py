"""Probes and metrics for whoever runs zhida: ``/healthz`` (the process answers), ``/readyz`` (and its
database does), ``/metrics`` (Prometheus text). Public, never rate-limited, never cached."""

from __future__ import annotations

import os
import time

from apiflask import APIBlueprint
from flask import Flask, current_app, g, request
from sqlalchemy import text

from service.http import answers
from service.http.answers import success

ops = APIBlueprint("ops", __name__, tag="运维")


@ops.get("/healthz")
@ops.doc(
    summary="存活探针",
    description="进程能应答即为 200；不访问数据库。",
    responses=success(200, answers.Health, "进程能应答"),
)
def healthz():
    return {"status": "ok"}


@ops.get("/readyz")
@ops.doc(
    summary="就绪探针",
    description="数据库可用时 200，否则 503（负载均衡据此摘除实例）。",
    responses=success(200, answers.Ready, "数据库可用"),
)
def readyz():
    try:
        with current_app.extensions["zhida.engine"].connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 (any failure of the database means not ready)
        from service.http.problems import problem

        return problem(503, "数据库不可用：实例暂不接收请求")
    return {"status": "ready"}


@ops.get("/metrics")
@ops.doc(
    summary="Prometheus 指标",
    description="请求数与耗时，按方法、端点与状态码（Prometheus 文本格式）。",
    responses={200: {"description": "指标", "content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics():
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(current_app.extensions["zhida.metrics"].registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}


class Metrics:
    """Counters of this process (with ``PROMETHEUS_MULTIPROC_DIR`` set, of every gunicorn worker: see
    docs/api.md)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(self.registry)
            registry = None  # the workers' files are what is collected
        else:
            registry = self.registry
        self.requests = Counter(
            "zhida_http_requests_total", "HTTP requests answered", ("method", "endpoint", "status"), registry=registry
        )
        self.seconds = Histogram(
            "zhida_http_request_seconds", "Time to answer", ("method", "endpoint"), registry=registry
        )

    def observe(self, response):
        endpoint = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        started = g.get("started")
        self.requests.labels(request.method, endpoint, str(response.status_code)).inc()
        if started is not None:
            self.seconds.labels(request.method, endpoint).observe(time.perf_counter() - started)
        return response


def init_app(app: Flask, limiter) -> None:
    app.extensions["zhida.metrics"] = metrics_ = Metrics()
    app.after_request(metrics_.observe)
    limiter.exempt(ops)
    app.register_blueprint(ops)
