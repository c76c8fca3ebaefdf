"""Schemathesis generates input for every documented API operation (often hostile): never a 5xx.

Driven by hand with Hypothesis (schemathesis' pytest plugin does not support this pytest yet), inside the
usual rolled-back test transaction, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

EXAMPLES = int(os.environ.get("CITYHUB_FUZZ_EXAMPLES", "6"))


def test_no_operation_answers_5xx(app: Any, world: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = world.headers("platform_admin")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid schema (Err) fails the test here
        operations += 1

        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            try:
                response = case.call(headers=headers)
            except Exception as exc:  # the ASGI transport re-raises what a server would answer 500 to
                failures.append(f"{case.method} {case.formatted_path} {case.query or ''} -> {exc!r}"[:300])
                return
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query or ''} -> "
                                f"{response.status_code}: {response.text[:200]}")

        check()
    assert operations > 20
    assert not failures, "\n".join(sorted(set(failures))[:30])
