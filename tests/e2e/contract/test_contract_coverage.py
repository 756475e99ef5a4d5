"""Coverage that cannot rot: every action the gateway documents has e2e tests, and every test
named for it exists (see coverage.py for how to add an action)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from .coverage import COVERED_ACTIONS, COVERED_MESSAGES, EVERY_ACTION
from .shapes import Shapes

E2E_ROOT = Path(__file__).resolve().parents[1]

# Server message types of API.md section 2 and docs/contract-additions.md, and the close codes a
# test can cause on the shared stack. 1001 (shutting down) and 1013 (slow consumer, lost fan-out)
# need a realtime replica stopped or starved: realtime's own tests cover them, not this stack.
WEBSOCKET_CONTRACT = {
    "subscribed",
    "upload-progress",
    "upload-complete",
    "upload-failed",
    "invalidate",
    "media-ready",
    "media-failed",
    "error",
    "unsubscribed",
    "pong",
    "close 4001",
}


@cache
def _tests_in(path: str) -> frozenset[str]:
    tree = ast.parse((E2E_ROOT / path).read_text())
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    )


def _missing_tests(covered: dict[str, list[str]]) -> dict[str, list[str]]:
    missing: dict[str, list[str]] = {}
    for name, references in covered.items():
        for reference in references:
            path, _, test = reference.partition("::")
            if not (E2E_ROOT / path).is_file() or test not in _tests_in(path):
                missing.setdefault(name, []).append(reference)
    return missing


def test_every_action_in_openapi_has_an_e2e_test(shapes: Shapes) -> None:
    documented = shapes.actions()

    uncovered = sorted(documented - {name for name, tests in COVERED_ACTIONS.items() if tests})
    assert not uncovered, f"actions without an e2e test (add them to tests/e2e/contract/coverage.py): {uncovered}"
    stale = sorted(set(COVERED_ACTIONS) - documented)
    assert not stale, f"coverage.py names actions /openapi.json does not have: {stale}"


def test_every_websocket_message_type_has_an_e2e_test() -> None:
    uncovered = sorted(WEBSOCKET_CONTRACT - {kind for kind, tests in COVERED_MESSAGES.items() if tests})

    assert not uncovered, f"WebSocket messages without an e2e test (see coverage.py): {uncovered}"


def test_every_test_named_in_the_coverage_list_exists() -> None:
    missing = (
        _missing_tests(COVERED_ACTIONS)
        | _missing_tests({f"message {k}": v for k, v in COVERED_MESSAGES.items()})
        | _missing_tests({"every action": EVERY_ACTION})
    )

    assert not missing, f"coverage.py names tests that do not exist: {missing}"
