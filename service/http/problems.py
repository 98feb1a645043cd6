"""Every error leaves as ``application/problem+json`` (RFC 9457) from one place, with a stable ``type``, a
Chinese ``detail`` and the request id; never a stack trace. A page (any path outside ``/api``, ``/v1`` and
the probes) gets the same in an HTML page. The types are listed in docs/api.md."""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from graph.errors import GraphError
from matcher.errors import InvalidFieldValue, MatcherError
from service.errors import ServiceError
from service.http.hardening import shown

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
    429: "请求过于频繁",
    500: "服务器内部错误",
    503: "服务暂不可用",
}
TYPES = {  # status -> the stable part of ``type``; a client branches on it, not on the wording of ``detail``
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "body-too-large",
    415: "unsupported-media-type",
    422: "unprocessable",
    429: "rate-limited",
    500: "internal-error",
    503: "unavailable",
}
TYPE_PREFIX = "urn:zhida:problem:"
API_PREFIXES = ("/api/", "/v1/", "/openapi.json", "/healthz", "/readyz", "/metrics")
log = logging.getLogger("zhida.requests")


def problem_type(status: int) -> str:
    return TYPE_PREFIX + TYPES.get(status, "error")


def problem(status: int, detail: str, **extra):
    body = {
        "type": problem_type(status),
        "title": TITLES.get(status, "错误"),
        "status": status,
        "detail": detail,
        "instance": shown(request.path),
        "request_id": g.get("request_id"),
        **extra,
    }
    if _wants_page():
        resp = _page(status, body)
    else:
        resp = jsonify(body)
        resp.mimetype = "application/problem+json"
    resp.status_code = status
    return resp


def _wants_page() -> bool:
    """A page was asked for: a GET outside the API's paths, from a client that does not prefer JSON."""
    if request.method not in ("GET", "HEAD") or request.path.startswith(API_PREFIXES) or request.path == "/api":
        return False
    accept = request.accept_mimetypes
    return accept.quality("text/html") >= accept.quality("application/json")


def _page(status: int, body: dict):
    from flask import make_response

    return make_response(render_template("error.html", problem=body), status)


def http_detail(e: HTTPException) -> str:
    """Werkzeug's English descriptions, said in Chinese."""
    code = e.code or 500
    if code == 404:
        return f"没有这个地址：{shown(request.path)}"
    if code == 405:
        methods = getattr(e, "valid_methods", None) or []
        allowed = "、".join(sorted(m for m in methods if m not in ("HEAD", "OPTIONS")))
        return f"{shown(request.path)} 不接受 {request.method} 请求" + (f"（可用：{allowed}）" if allowed else "")
    if code == 413:
        from service.http.hardening import MAX_BODY

        return f"请求体过大：最多 {MAX_BODY // 1024} KB"
    if code == 415:
        return "不支持的媒体类型：请求体应为 application/json"
    if code == 429:
        limit = getattr(e, "limit", None)
        per = f"（每个密钥 {limit.limit}）" if limit is not None else ""
        return f"请求过于频繁{per}，请稍后再试"
    return TITLES.get(code, "请求有误" if code < 500 else "服务器错误")


VALIDATION = {  # marshmallow's messages (the API schemas'), in Chinese
    "Unknown field.": "未知字段",
    "Missing data for required field.": "缺少必填字段",
    "Field may not be null.": "不能为 null",
    "Not a valid string.": "应为字符串",
    "Not a valid integer.": "应为整数",
    "Not a valid number.": "应为数值",
    "Not a valid boolean.": "应为 true 或 false",
    "Not a valid date.": "日期格式应为 YYYY-MM-DD",
    "Not a valid datetime.": "时间格式应为 ISO 8601",
    "Not a valid mapping type.": "应为对象",
    "Not a valid list.": "应为数组",
    "Invalid input type.": "类型有误",
    "Invalid value.": "取值无效",
    "Shorter than minimum length 1.": "不能为空",
}


def _say(message: str) -> str:
    import re

    if message in VALIDATION:
        return VALIDATION[message]
    m = re.match(r"Must be one of: (.*)\.$", message)
    if m:
        return f"应为以下之一：{m.group(1)}"
    m = re.match(r"Length must be between (\d+) and (\d+)\.$", message)
    if m:
        return f"长度应在 {m.group(1)} 至 {m.group(2)} 个字符之间"
    m = re.match(r"(?:Longer than maximum length|Length must be at most) (\d+)\.$", message)
    if m:
        return f"长度不能超过 {m.group(1)}"
    m = re.match(r"Must be greater than or equal to (\S+) and less than or equal to (\S+)\.$", message)
    if m:
        return f"应在 {m.group(1)} 至 {m.group(2)} 之间"
    m = re.match(r"Must be (greater|less) than or equal to (\S+)\.$", message)
    if m:
        return f"应{'不小于' if m.group(1) == 'greater' else '不大于'} {m.group(2)}"
    return message


def validation_errors(detail) -> list[dict]:
    """apiflask's ``{location: {field: [messages]}}`` (nested for objects) as a flat list, in Chinese."""
    out = []

    def walk(location: str, path: str, node) -> None:
        if path == "_schema":  # the body as a whole: not an object, or a rule across members
            path = ""
            node = ["请求体应为 JSON 对象" if m == "Invalid input type." else m for m in node]
        if isinstance(node, dict):
            for key, sub in node.items():
                walk(location, f"{path}.{key}" if path else str(key), sub)
        elif isinstance(node, list) and node and all(isinstance(x, str) for x in node):
            for message in node:
                out.append({"location": location, "field": path, "message": _say(message)})
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(location, f"{path}[{i}]", sub)
        else:
            out.append({"location": location, "field": path, "message": _say(str(node))})

    for location, fields in (detail or {}).items():
        walk({"json": "请求体", "query": "查询参数", "view_args": "路径", "headers": "请求头"}.get(location, location),
             "", fields)  # fmt: skip
    return out


def init_app(app: Flask) -> None:
    if hasattr(app, "error_processor"):  # apiflask: schema validation and abort() (first: it also claims
        # werkzeug's errors, which the handler below takes back)

        @app.error_processor
        def _api_error(e):
            status = e.status_code
            if status in (400, 422) and isinstance(e.detail, dict) and e.detail:
                errors = validation_errors(e.detail)
                said = "；".join(f"{x['location']} {x['field']}：{x['message']}".strip() for x in errors[:5])
                first = errors[0]["field"] if errors else None
                return problem(400, said or "请求内容不符合要求", errors=errors, **({"field": first} if first else {}))
            return problem(status, e.message if e.message and _has_han(e.message) else TITLES.get(status, "错误"))

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
        resp = problem(e.code or 500, http_detail(e))
        headers = dict(e.get_headers())
        for name in ("Allow", "Retry-After"):
            if name in headers:
                resp.headers[name] = headers[name]
        return resp

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.exception("unhandled error", extra={"request_id": g.get("request_id"), "path": request.path[:200]})
        return problem(500, "服务器内部错误，已记录日志；请提供请求编号 request_id 以便查询")


def _has_han(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)
