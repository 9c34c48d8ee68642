"""Property-based fuzzing of the live sidecar from its own OpenAPI schema (schemathesis):
no 5xx (but /health's documented 503), every answer documented and matching its schema. Runs after test_live_stack (same stack).

Driven through plain hypothesis (schemathesis' lazy pytest fixture loader does not run on
pytest 9). ``wait`` is dropped from positive queries: a fuzzed ``?wait=true&timeout=1e9``
would only test our patience (its bound is covered in test_live_stack). Negative queries keep
a ``wait`` that is not a boolean: it may be the very part that breaks the schema, and dropping
it made a negative case valid (``wait`` a string, ``timeout`` a one-element array sent as a
number) that then "accepted negative data"; a boolean ``wait`` there is valid and becomes false,
a string that pydantic reads as true (``"true"``, ``"1"``, ``"yes"``...) becomes ``"false"`` (one
history sync waited on took 56 s).
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import TypeAdapter, ValidationError
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.support.api import Stack

pytestmark = pytest.mark.slow  # make quick leaves it to make test

EXAMPLES_PER_OPERATION = 40
_WIRE_BOOL = TypeAdapter(bool)  # how the sidecar (FastAPI, pydantic) reads ?wait=


def _reads_as_true(value: object) -> bool:
    try:
        return _WIRE_BOOL.validate_python(str(value))
    except ValidationError:
        return False


def _no_waiting(query: dict[str, object], mode: GenerationMode) -> None:
    """Keep fuzzed sync requests from blocking, without making a negative case valid."""
    if mode is GenerationMode.POSITIVE:
        query.pop("wait", None)
    elif "wait" in query and _reads_as_true(query["wait"]):
        query["wait"] = False if isinstance(query["wait"], bool) else "false"


def _fuzz(operation, api: str, mode: GenerationMode) -> list[int]:  # type: ignore[no-untyped-def]
    """Run one operation's examples; the status codes seen (Unsatisfiable: nothing to break)."""
    seen: list[int] = []

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case) -> None:  # type: ignore[no-untyped-def]
        if isinstance(case.query, dict):
            _no_waiting(case.query, mode)
        if operation.path == "/health":  # 503 "unhealthy" is its documented answer, not a fault
            response = case.call_and_validate(base_url=api, timeout=60,
                                              excluded_checks=[not_a_server_error])
            assert response.status_code in (200, 503)
        else:
            # Schema-valid but semantically wrong dates (reversed, in the future, before
            # ASTERISK_HISTORY_START) answer 422 by SPEC §5: not "valid data rejected".
            response = case.call_and_validate(base_url=api, timeout=60,
                                              excluded_checks=[positive_data_acceptance])
            assert response.status_code < 500, (case.method, case.formatted_path, response.text)
        seen.append(response.status_code)

    check()
    return seen


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_5xx_and_answers_match_the_schema(stack: Stack, mode: GenerationMode) -> None:
    """Positive: schema-valid requests; negative: requests that break the schema (wrong types,
    bad patterns, malformed bodies), which must all get a documented 4xx."""
    schema = schemathesis.openapi.from_url(f"{stack.api}/openapi.json")
    checked: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        try:
            seen = _fuzz(operation, stack.api, mode)
        except Unsatisfiable:
            if mode is GenerationMode.POSITIVE:
                raise
            checked.append(f"{operation.label}: takes no input to break")
            continue
        assert seen, operation.label
        checked.append(f"{operation.label}: {sorted(set(seen))}")
    print("\n".join(checked))
    assert len(checked) == 17, checked  # 13 GET (/missed, /fleet/health x2, /calls x2, /stats) + 4 POST operations
