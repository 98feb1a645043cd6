"""The JSON API under ``/api``: one module per concern, all registered on one blueprint."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from service.http import applications, enterprises, payouts, policies, reference, reviews, sweeps  # noqa: E402,F401
