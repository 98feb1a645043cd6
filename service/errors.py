"""Errors raised by the service package; each maps to one HTTP status.

ServiceError
 ├── BadRequest        400
 ├── Unauthenticated   401
 ├── AccessDenied      403
 ├── NotFound          404
 ├── Conflict          409
 ├── Unprocessable     422
 └── SetupError        500  the installation or configuration cannot work (a missing driver, a missing secret)
"""

from __future__ import annotations


class ServiceError(Exception):
    """Root of the service's errors: a Chinese message, an HTTP status and extra members."""

    status = 500

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.extra = extra


class BadRequest(ServiceError):
    status = 400


class Unauthenticated(ServiceError):
    status = 401


class AccessDenied(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Unprocessable(ServiceError):
    status = 422


class SetupError(ServiceError):
    """What to install or set before zhida can run this way; said plainly, never as a traceback."""

    status = 500
