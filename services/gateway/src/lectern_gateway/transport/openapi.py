"""The OpenAPI 3.1 document: every action's input, its ``data`` inside the envelope, its errors.

Built from the action registry (the same models that validate and serialize), so the document
cannot drift from what the gateway does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from lectern_gateway.actions.registry import Action, ActionRegistry
from lectern_gateway.actions.schemas import ErrorEnvelope

_REF = "#/components/schemas/{model}"
_ERROR_STATUSES = {
    "400": "Malformed JSON, or a body that is not a JSON object (VALIDATION_FAILED).",
    "401": "Missing, expired or invalid token (UNAUTHENTICATED).",
    "403": "FORBIDDEN or QUOTA_EXCEEDED.",
    "404": "Unknown action, or a resource that does not exist or is not yours (NOT_FOUND).",
    "409": "CONFLICT (version or Idempotency-Key) or HAS_DEPENDENCIES.",
    "413": "PAYLOAD_TOO_LARGE.",
    "415": "UNSUPPORTED_MEDIA_TYPE.",
    "422": "VALIDATION_FAILED, with `fields` keyed by input path.",
    "429": "RATE_LIMITED; `details.retryAfterSeconds` and the Retry-After header say when to retry.",
    "500": "INTERNAL.",
    "503": "UNAVAILABLE: a service is down or too slow; retry later.",
}


def _error_responses(ref: dict[str, str], statuses: list[str] | None = None) -> dict[str, Any]:
    chosen = statuses or list(_ERROR_STATUSES)
    return {
        status: {"description": _ERROR_STATUSES[status], "content": {"application/json": {"schema": ref}}}
        for status in chosen
    }


def _success(data_ref: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["success", "data"],
        "properties": {"success": {"const": True, "type": "boolean"}, "data": data_ref},
    }


_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A repeat with the same key and body answers the first result and changes nothing.",
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,200}$"},
}
_PROBE = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string"}, "checks": {"type": "object"}},
}
_DESCRIPTION = (
    "Server actions: `POST /actions/{name}` with a JSON object body; every answer is "
    '`{"success": true, "data": ...}` or `{"success": false, "error": {code, message, reason, '
    "fields?, details?}}`. The HTTP status mirrors the error; clients read the envelope."
)

DevTokenModels = tuple[type[BaseModel], type[BaseModel]]
Refs = Mapping[tuple[Any, Any], dict[str, Any]]


def build_openapi(
    registry: ActionRegistry,
    *,
    title: str = "Lectern gateway",
    version: str = "1",
    dev_token: DevTokenModels | None = None,
) -> dict[str, Any]:
    refs, schemas = _model_schemas(registry, dev_token)
    error_ref = refs[(ErrorEnvelope, "serialization")]
    paths: dict[str, Any] = {f"/actions/{action.name}": _action_path(action, refs, error_ref) for action in registry}
    paths.update(_probe_paths())
    if dev_token is not None:
        paths["/auth/dev/token"] = _dev_token_path(dev_token, refs, error_ref)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": _DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _model_schemas(registry: ActionRegistry, dev_token: DevTokenModels | None) -> tuple[Refs, dict[str, Any]]:
    """One JSON schema per model (inputs as validated, data as serialized) and each model's $ref."""
    inputs: list[tuple[type[BaseModel], Any]] = []
    for action in registry:
        inputs.append((action.input_model, "validation"))
        inputs.append((action.data_model, "serialization"))
    inputs.append((ErrorEnvelope, "serialization"))
    if dev_token is not None:
        inputs.extend([(dev_token[0], "validation"), (dev_token[1], "serialization")])
    refs, definitions = models_json_schema(inputs, ref_template=_REF)
    return refs, definitions.get("$defs", {})


def _action_path(action: Action, refs: Refs, error_ref: dict[str, str]) -> dict[str, Any]:
    return {
        "post": {
            "operationId": action.name,
            "summary": action.summary,
            "tags": [action.tag],
            "parameters": [_IDEMPOTENCY_KEY] if action.mutation else [],
            "security": [{"bearerAuth": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": refs[(action.input_model, "validation")]}},
            },
            "responses": {
                "200": {
                    "description": "The action's data in the success envelope.",
                    "content": {"application/json": {"schema": _success(refs[(action.data_model, "serialization")])}},
                },
                **_error_responses(error_ref),
            },
        }
    }


def _probe_paths() -> dict[str, Any]:
    return {
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "Liveness: the process answers.",
                "tags": ["probes"],
                "responses": {"200": {"description": "alive", "content": {"application/json": {"schema": _PROBE}}}},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "Readiness: Redis answers (services are reported, not required).",
                "tags": ["probes"],
                "responses": {
                    "200": {"description": "ready", "content": {"application/json": {"schema": _PROBE}}},
                    "503": {"description": "not ready", "content": {"application/json": {"schema": _PROBE}}},
                },
            }
        },
    }


def _dev_token_path(dev_token: DevTokenModels, refs: Refs, error_ref: dict[str, str]) -> dict[str, Any]:
    return {
        "post": {
            "operationId": "devToken",
            "summary": "Dev mode only (environment=dev): a user token for any user id.",
            "tags": ["auth"],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": refs[(dev_token[0], "validation")]}},
            },
            "responses": {
                "200": {
                    "description": "A token, verified like an OIDC token.",
                    "content": {"application/json": {"schema": _success(refs[(dev_token[1], "serialization")])}},
                },
                **_error_responses(error_ref, ["400", "415", "413", "422"]),
            },
        }
    }
