"""Every error leaves the API as ``application/problem+json`` (RFC 9457), from one place."""

from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from graph.errors import GraphError
from matcher.errors import InvalidFieldValue, MatcherError
from service.errors import ServiceError

TITLES = {
    400: "请求有误",
    401: "未认证",
    403: "无权访问",
    404: "未找到",
    405: "方法不允许",
    409: "冲突",
    413: "请求过大",
    415: "不支持的媒体类型",
    422: "无法处理的内容",
    500: "服务器内部错误",
}


def problem(status: int, detail: str, **extra):
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "错误"),
        "status": status,
        "detail": detail,
        "instance": request.path,
        **extra,
    }
    resp = jsonify(body)
    resp.status_code = status
    resp.mimetype = "application/problem+json"
    return resp


def init_app(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def _service_error(e: ServiceError):
        return problem(e.status, str(e), **getattr(e, "extra", {}))

    @app.errorhandler(InvalidFieldValue)
    def _field_error(e: InvalidFieldValue):
        return problem(422, str(e), field=e.field)

    @app.errorhandler(MatcherError)
    def _matcher_error(e: MatcherError):
        return problem(422, str(e))

    @app.errorhandler(GraphError)
    def _graph_error(e: GraphError):
        return problem(422, str(e))

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        return problem(e.code or 500, e.description or TITLES.get(e.code or 500, "错误"))

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        app.logger.exception("unhandled error")
        return problem(500, "服务器内部错误，已记录日志")
