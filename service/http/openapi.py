"""The OpenAPI document as the server behaves: every error answer is ``application/problem+json`` (RFC 9457)
with the :data:`PROBLEM` schema, whatever apiflask's defaults say, and calls carry a bearer key."""

from __future__ import annotations

PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "稳定的错误类型，如 urn:zhida:problem:not-found"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "中文说明"},
        "instance": {"type": "string"},
        "request_id": {"type": ["string", "null"]},
        "field": {"type": "string", "description": "出错的字段"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "location": {"type": "string"},
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}
ERRORS = {
    "400": "请求有误（格式、类型、未知字段、长度）",
    "401": "缺少或无效的 API 密钥",
    "403": "角色或企业范围不允许",
    "404": "不存在",
    "405": "方法不允许",
    "409": "冲突",
    "413": "请求体过大",
    "422": "内容无法处理",
    "429": "请求过于频繁",
    "500": "服务器内部错误",
}


def finish(spec: dict) -> dict:
    """apiflask's document, with the error answers and the key as they really are."""
    components = spec.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM
    components.setdefault("securitySchemes", {})["bearerKey"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "API 密钥：Authorization: Bearer zk_…（zhida keys create）",
    }
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                responses[status] = {"description": description, "content": problem}
            if path == "/readyz":
                responses["503"] = {"description": "数据库不可用", "content": problem}
            if path.startswith(("/api/", "/v1/")):
                operation["security"] = [{"bearerKey": []}, {}]  # the public reference endpoints need none
    spec.get("components", {}).get("schemas", {}).pop("ValidationError", None)
    spec.get("components", {}).get("schemas", {}).pop("HTTPError", None)
    return spec
