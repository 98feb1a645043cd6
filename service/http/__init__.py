"""The JSON API under ``/api``: one module per concern, all registered on one blueprint."""

from apiflask import APIBlueprint

bp = APIBlueprint("api", __name__, url_prefix="/api", tag="API")

from service.http import (  # noqa: E402,F401
    applications,
    enterprises,
    jobs,
    models,
    payouts,
    policies,
    push,
    reference,
    reviews,
    sweeps,
)
