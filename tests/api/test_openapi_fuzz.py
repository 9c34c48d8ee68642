"""Property-based fuzzing of the live sidecar from its own OpenAPI schema (schemathesis):
no 5xx, every answer documented and matching its schema. Runs after test_live_stack (same stack).

``wait`` is dropped from generated queries: a fuzzed ``?wait=true&timeout=1e9`` would only test
our patience (its bound is covered in test_live_stack).
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.api.conftest import Stack


@pytest.fixture(scope="package")
def api_schema(stack: Stack):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_url(f"{stack.api}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_answers_match_the_schema(case, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    if isinstance(case.query, dict):
        case.query.pop("wait", None)
    response = case.call_and_validate(base_url=stack.api, timeout=60)
    assert response.status_code < 500
