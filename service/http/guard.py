"""Who is calling: API keys from the ``Authorization: Bearer`` header, and role checks."""

from __future__ import annotations

import functools

from flask import current_app, g, request

from service.errors import AccessDenied, Unauthenticated
from service.http import auth


def presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.headers.get("X-API-Key") or None


def current_principal() -> auth.Principal:
    if "principal" not in g:
        secret = presented_key()
        if not secret:
            raise Unauthenticated("缺少 API 密钥：请在 Authorization 头中使用 Bearer <密钥>")
        principal = auth.authenticate(current_app.extensions["zhida.engine"], secret)
        if principal is None:
            raise Unauthenticated("API 密钥无效或已吊销")
        g.principal = principal
    return g.principal


def require(*roles: str):
    """Let the view run only for a valid key whose role is one of ``roles``."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            principal = current_principal()
            if roles and principal.role not in roles:
                raise AccessDenied(f"角色 {principal.role} 无权执行此操作（需要：{'、'.join(roles)}）")
            return view(*args, **kwargs)

        return wrapper

    return decorate
