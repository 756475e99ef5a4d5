"""The gateway's own errors, each a stable code and a kind (the kind is the API error code)."""

from __future__ import annotations

from typing import Any

from lectern_common.errors import DomainError, ErrorKind


def unknown_action(name: str) -> DomainError:
    return DomainError("action.unknown", f"there is no action named {name!r}", ErrorKind.NOT_FOUND)


def malformed_body(reason: str) -> DomainError:
    return DomainError("request.malformed", reason, ErrorKind.VALIDATION_FAILED)


def invalid_input(fields: dict[str, str]) -> DomainError:
    return DomainError("request.invalid", "some fields are invalid", ErrorKind.VALIDATION_FAILED, fields=fields)


def body_too_large(limit: int) -> DomainError:
    return DomainError(
        "request.too_large",
        f"the request body is larger than {limit} bytes",
        ErrorKind.PAYLOAD_TOO_LARGE,
        details={"limitBytes": limit},
    )


def unsupported_media_type(content_type: str) -> DomainError:
    return DomainError(
        "request.unsupported_media_type",
        f"send a JSON body (Content-Type: application/json), not {content_type!r}",
        ErrorKind.UNSUPPORTED_MEDIA_TYPE,
    )


def unauthenticated(reason: str = "a valid bearer token is required") -> DomainError:
    return DomainError("auth.unauthenticated", reason, ErrorKind.UNAUTHENTICATED)


def identity_provider_unavailable() -> DomainError:
    return DomainError("auth.jwks_unavailable", "the identity provider's keys cannot be fetched", ErrorKind.UNAVAILABLE)


def rate_limited(retry_after_seconds: float, scope: str) -> DomainError:
    return DomainError(
        "rate_limit.exceeded",
        "too many requests, slow down",
        ErrorKind.RATE_LIMITED,
        details={"retryAfterSeconds": retry_after_seconds, "scope": scope},
    )


def idempotency_key_reused() -> DomainError:
    return DomainError(
        "idempotency.key_reused",
        "this Idempotency-Key was already used with a different request",
        ErrorKind.CONFLICT,
    )


def idempotency_in_progress() -> DomainError:
    return DomainError(
        "idempotency.in_progress",
        "a request with this Idempotency-Key is still running; retry shortly",
        ErrorKind.CONFLICT,
    )


def invalid_idempotency_key() -> DomainError:
    return DomainError(
        "idempotency.invalid_key",
        "Idempotency-Key must be 1 to 200 visible ASCII characters",
        ErrorKind.VALIDATION_FAILED,
        fields={"Idempotency-Key": "must be 1 to 200 visible ASCII characters"},
    )


def dev_auth_disabled() -> DomainError:
    return DomainError("auth.dev_disabled", "dev login is disabled", ErrorKind.NOT_FOUND)


def internal() -> DomainError:
    return DomainError("internal", "internal error", ErrorKind.INTERNAL)


def with_details(error: DomainError, **details: Any) -> DomainError:
    return DomainError(
        error.code, error.message, error.kind, fields=error.fields, details={**(error.details or {}), **details}
    )
