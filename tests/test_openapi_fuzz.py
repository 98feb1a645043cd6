"""schemathesis runs the whole OpenAPI document against the app: no answer is a 5xx, and every answer fits
the schema documented for its status and media type (errors: problem+json). As an admin, so that every
operation gets past its role check; the role matrix (test_role_matrix.py) covers the others."""

from __future__ import annotations

import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

EXAMPLES = 12  # per operation: the whole document in about a minute per database


@pytest.fixture
def fuzzed(tmp_path, small_world):
    """The imported small city on SQLite (the PostgreSQL store answers the same API: test_same_answers.py)."""
    from sqlalchemy import select

    from service.app import create_app
    from service.http import auth
    from service.io.importer import import_enterprises, import_events, import_policies
    from service.store import make_engine, session_scope, upgrade
    from service.store.models import Enterprise

    url = f"sqlite:///{tmp_path / 'fuzz.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    import_policies(engine, small_world / "policies")
    import_enterprises(engine, small_world / "enterprises.csv")
    import_events(engine, small_world / "events.jsonl")
    app = create_app({"DATABASE_URL": url, "TESTING": True, "RATE_LIMIT": "100000 per minute"})
    with session_scope(engine) as s:
        s.scalar(select(Enterprise.uscc).limit(1))
        key = auth.create_key(s, "admin")[1]
    return app, key


def test_no_operation_answers_5xx_or_breaks_its_schema(fuzzed):
    app, key = fuzzed
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    seen = 0
    for found in schema.get_all_operations():
        operation = found.ok()
        seen += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            case.headers = {
                **(case.headers or {}),
                "Authorization": f"Bearer {key}",
                "Idempotency-Key": uuid.uuid4().hex,
            }
            case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])

        run()
    assert seen >= 30  # every operation of the document was run
