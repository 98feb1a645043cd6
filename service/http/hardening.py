"""What every request passes before its handler runs, and what every answer carries (docs/api.md, "Hardening").

- A body over :data:`MAX_BODY` bytes is 413 before anything reads it.
- JSON is parsed strictly (:class:`StrictJSON`): no ``NaN``/``Infinity``, at most :data:`MAX_DEPTH` levels (a
  body nested 100,000 deep is a 400, not a crash), no NUL character and no lone surrogate in any key or
  string (neither can be stored in PostgreSQL text nor written as UTF-8), each refusal naming where.
- The path and the query parameters are held to the same characters, query values to :data:`MAX_PARAM`
  characters; ``<int:…>`` ids to PostgreSQL's ``integer`` range (:class:`BoundedInt`: beyond it, 404).
- Rate limits per API key (per address without one), in Redis when ``ZHIDA_REDIS_URL`` is set, else in the
  memory of each process.
- Every answer: a request id (``X-Request-ID``, the caller's when well formed), security headers, no CORS
  unless ``ZHIDA_CORS_ORIGINS`` lists the caller's origin, one JSON log line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid

from flask import Flask, g, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

from service.errors import BadRequest

MAX_BODY = 1024 * 1024  # bytes of a request body
MAX_DEPTH = 32  # levels of JSON nesting: the deepest body the API takes has 3
MAX_PARAM = 500  # characters of one query parameter
MAX_ID = 2**31 - 1  # ids are PostgreSQL integers
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
CORS_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-ID"
log = logging.getLogger("zhida.requests")


class BoundedInt(IntegerConverter):
    """``<int:…>`` within PostgreSQL's ``integer``: a larger id cannot exist, so the route does not match."""

    def __init__(self, map, fixed_digits=0, min=0, max=MAX_ID, signed=False):  # noqa: A002 (werkzeug's names)
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def _reason(text: str) -> str:
    """Why ``text`` cannot be taken, in Chinese ("" when it can)."""
    if "\x00" in text:
        return "含有空字符（\\u0000）"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "含有孤立的代理字符（如 \\ud800），不是有效的 Unicode 文本"
    return ""


def check_text(where: str, text: str, limit: int | None = None) -> None:
    """Refuse a NUL, a lone surrogate or (with ``limit``) an over-long text, naming ``where``."""
    problem = _reason(text)
    if problem:
        raise BadRequest(f"{where}：{problem}", field=where)
    if limit is not None and len(text) > limit:
        raise BadRequest(f"{where}：长度不能超过 {limit} 个字符（收到 {len(text)} 个）", field=where)


def check_json(value) -> None:
    """Walk a parsed body (iteratively: a deep one must not exhaust the stack) for depth and characters."""
    stack = [(value, "请求体", 1)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadRequest(f"JSON 嵌套过深：{where} 处超过 {MAX_DEPTH} 层")
        if isinstance(item, str):
            check_text(where, item)
        elif isinstance(item, dict):
            for key, sub in item.items():
                check_text(f"{where} 的键", key)
                stack.append((sub, key if where == "请求体" else f"{where}.{key}", depth + 1))
        elif isinstance(item, list):
            stack.extend((sub, f"{where}[{i}]", depth + 1) for i, sub in enumerate(item))


def _no_constant(name: str):
    raise BadRequest(f"请求体不是有效的 JSON：{name} 不是 JSON 的数值")


class StrictJSON(DefaultJSONProvider):
    """Request bodies parsed as the API promises: a refusal names the line and column, or the key."""

    ensure_ascii = False  # Chinese stays readable in JSON
    sort_keys = False

    def loads(self, s, **kwargs):
        if isinstance(s, (bytes, bytearray)):
            try:
                s = bytes(s).decode("utf-8")
            except UnicodeDecodeError as e:
                raise BadRequest(f"请求体不是有效的 UTF-8 文本（第 {e.start + 1} 个字节）") from None
        if not s.strip():
            raise ValueError("empty body")  # no body: the handler says what it needs
        try:
            value = json.loads(s, parse_constant=_no_constant, **kwargs)
        except RecursionError:
            raise BadRequest(f"JSON 嵌套过深：最多 {MAX_DEPTH} 层") from None
        except json.JSONDecodeError as e:
            raise BadRequest(f"请求体不是有效的 JSON：第 {e.lineno} 行第 {e.colno} 列（{e.msg}）") from None
        except ValueError:  # an integer of more than 4,300 digits
            raise BadRequest("请求体中的数值过长") from None
        check_json(value)
        return value


def _guard() -> None:
    g.request_id = _request_id()
    g.started = time.perf_counter()
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise RequestEntityTooLarge()
    check_text("请求路径", request.path)
    for name, value in request.args.items(multi=True):
        check_text(f"查询参数 {name[:40]}", name, 100)
        check_text(f"查询参数 {name[:40]}", value, MAX_PARAM)
    if request.method in ("POST", "PUT", "PATCH") and request.is_json and request.content_length:
        request.get_json(silent=True)  # parsed here, strictly (StrictJSON): a hostile body reaches no handler


def shown(text: str, limit: int = 200) -> str:
    """``text`` safe to echo in an answer: NUL and lone surrogates made visible, cut to ``limit``."""
    text = text[:limit].replace("\x00", "\\u0000")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _request_id() -> str:
    given = request.headers.get("X-Request-ID", "")
    return given if REQUEST_ID.match(given) else uuid.uuid4().hex


def _headers(response, origins: tuple[str, ...] = ()):
    response.headers["X-Request-ID"] = g.get("request_id") or _request_id()
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.path == "/docs":  # the API docs page loads its viewer from a CDN
        policy = (
            "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; "
            "frame-ancestors 'none'"
        )
    else:
        policy = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
    response.headers.setdefault("Content-Security-Policy", policy)
    if request.path.startswith(("/api/", "/v1/")):
        response.headers.setdefault("Cache-Control", "no-store")  # an enterprise's data is not for caches
    origin = request.headers.get("Origin")
    if origin and origin.rstrip("/") in origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Expose-Headers"] = "X-Request-ID, Retry-After"
        response.headers["Access-Control-Max-Age"] = "600"
        response.vary.add("Origin")
    _log(response)
    return response


def _log(response) -> None:
    principal = g.get("principal")
    started = g.get("started")
    log.info(
        "request",
        extra={
            "request_id": g.get("request_id"),
            "method": request.method,
            "path": request.path[:200],
            "status": response.status_code,
            "ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
            "actor": f"{principal.role}:{principal.key_prefix}" if principal is not None else None,
        },
    )


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: what a log shipper reads without a parser of its own."""

    FIELDS = ("request_id", "method", "path", "status", "ms", "actor")

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update({k: getattr(record, k) for k in self.FIELDS if getattr(record, k, None) is not None})
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def _rate_key() -> str:
    from service.http.guard import presented_key

    key = presented_key()
    if not key:
        return "ip:" + (request.remote_addr or "unknown")
    parts = key.split("_", 2)  # zk_<prefix>_<secret>: counted by the prefix, the secret never stored
    if len(parts) == 3 and parts[0] == "zk":
        return "key:" + parts[1][:16]
    return "key?" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:16]


def init_app(app: Flask, config):
    """Install the guards on ``app`` (``config``: :func:`service.settings.settings`); returns the rate limiter,
    for the probes to be exempted from it."""
    from flask_limiter import Limiter

    app.config.setdefault("MAX_CONTENT_LENGTH", MAX_BODY)
    app.before_request(_guard)
    origins = tuple(config.cors_origins)
    app.after_request(lambda response: _headers(response, origins))
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonLogFormatter())
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    app.config.setdefault("RATELIMIT_STORAGE_URI", config.redis_url or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter = Limiter(_rate_key, app=app, default_limits=[app.config.get("RATE_LIMIT") or config.rate_limit])
    app.extensions["zhida.limiter"] = limiter
    return limiter
