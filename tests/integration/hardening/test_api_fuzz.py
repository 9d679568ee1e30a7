"""Property-based fuzzing of every operation in the live OpenAPI document but the unload (schemathesis + hypothesis).

Reads /openapi.json from the running server, so routes added by any router are fuzzed without changes
here. Every answer must be a documented status with a body matching its documented schema, never a 5xx
(but a documented 503: full queue, model not ready). Valid and invalid (negative) data are both sent.
(schemathesis' own pytest plugin does not run under pytest 9, so the operations are looped here.)
"""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.server import RunningServer

# Left out: an unload takes a model away from every test that shares the server (test_workers.py and
# test_v2_repository.py in tests/integration/service check it on servers of their own).
UNLOAD = "POST /v2/repository/models/{name}/unload"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 30


def fuzz(url: str, headers: dict[str, str] | None = None, examples: int = EXAMPLES_PER_OPERATION) -> list[str]:
    """Fuzz every operation; the failures, one message per operation that failed."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures = []
    every_operation = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in every_operation if op.label != UNLOAD]
    assert len(operations) == len(every_operation) - 1 >= 28, [op.label for op in every_operation]
    for operation in operations:
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
        )

        @given(case=cases)
        @settings(
            max_examples=examples,
            derandomize=True,  # the same examples on every run
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=url, headers=headers, checks=CHECKS, timeout=10)

        try:
            run()
        except Exception as exc:  # hypothesis re-raises the smallest failing example: report it and go on
            failures.append(f"{operation.label}: {exc}")
        assert httpx.get(f"{url}/health/live", timeout=5).status_code == 200
    return failures


def test_every_operation_answers_as_documented(server: RunningServer) -> None:
    failures = fuzz(server.url)
    assert not failures, "\n\n".join(failures)


def test_with_api_keys_every_refusal_is_documented(guarded: RunningServer) -> None:
    """No key sent: protected operations answer the documented 401, open ones their usual answers."""
    failures = fuzz(guarded.url, examples=10)
    assert not failures, "\n\n".join(failures)
