"""Property-based fuzzing of the whole API from openapi/openapi.json, on SQLite and PostgreSQL (issue 10 D).

Every operation is called with generated input (NUL bytes included), and stateful sequences chain
operations through the links schemathesis infers from the typed responses (create a project, then read,
update and delete it; create a rotation, then rotate it...). Any 5xx, or any response that does not
match its declared schema, fails the test. Lone surrogates cannot travel in UTF-8 JSON as schemathesis
sends it; tests/api/test_input_guard.py sends them escaped.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from app import db
from app.store import worker_heartbeats
from tests.factories import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CHECKS = [not_a_server_error, response_schema_conformance]
FUZZ = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture
def api_schema(app, client, settings):
    """The app's own OpenAPI document, served in-process (the `client` fixture has entered the lifespan), with a
    worker alive for the whole run: without one, /readyz answers 503 by design."""
    settings.worker_poll_seconds = 3600
    with db.unit_of_work() as session:
        worker_heartbeats.beat(session, "fuzz-worker")
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_operation_answers_5xx_or_breaks_its_schema(api_schema):
    # One test over every operation (schemathesis's own pytest plugin does not run on pytest 9).
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @FUZZ
        @given(case=operation.as_strategy())
        def call(case):
            case.call_and_validate(headers=AUTH, checks=CHECKS)

        try:
            call()
        except Exception as exc:  # noqa: BLE001 - collected, so one run reports every failing operation
            failures.append(f"{operation.label}: {exc}")
    assert failures == []


def test_no_sequence_of_operations_answers_5xx_or_breaks_a_schema(api_schema):
    class Workflow(api_schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case):
            return {"headers": AUTH}

        def validate_response(self, response, case, **kwargs):
            case.validate_response(response, checks=CHECKS)

    Workflow.run(settings=settings(FUZZ, max_examples=20, stateful_step_count=6))
