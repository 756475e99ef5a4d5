"""Schemathesis against the gateway's /openapi.json on the real stack: no 5xx, and every response
(success or error envelope, status code, content type) matches the document.

Driven through schemathesis' operation strategies with Hypothesis directly (its pytest
``from_fixture`` loader does not work with this pytest), one property per documented operation.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.timeout(300)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_the_gateway_keeps_its_documented_contract(lectern_stack: Any) -> None:
    base = lectern_stack.urls["gateway"]
    token = httpx.post(f"{base}/auth/dev/token", json={"userId": f"fuzz-{secrets.token_hex(3)}"}).json()["data"][
        "token"
    ]
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def holds(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=base, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

        try:
            holds()
        except Exception as exc:  # collect every operation's failure, then report them together
            failures[operation.label] = f"{type(exc).__name__}: {str(exc)[:1500]}"
    assert operations >= 25
    assert not failures, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())
