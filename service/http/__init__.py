"""The JSON API under ``/api``: one module per concern, all registered on one blueprint."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from service.http import (  # noqa: E402,F401
    applications,
    enterprises,
    models,
    payouts,
    policies,
    reference,
    reviews,
    sweeps,
)
