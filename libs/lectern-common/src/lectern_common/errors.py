"""One list of error kinds, and the tables that map them to gRPC and to action errors.

Domain code raises :class:`DomainError` with a stable ``code`` (``media.has_dependencies``) and a
:class:`ErrorKind`. The edges translate: the gRPC interceptor turns it into a status plus a JSON
detail in the ``lectern-error-bin`` trailing metadata; a gRPC client turns that back into the same
:class:`DomainError`; the gateway renders it as ``{"success": false, "error": {...}}``. Expected
outcomes are never a 500 (STYLE rule 6).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import grpc

ERROR_METADATA_KEY = "lectern-error-bin"


class ErrorKind(StrEnum):
    """The kinds are the public action error codes of API.md §1."""

    VALIDATION_FAILED = "VALIDATION_FAILED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    HAS_DEPENDENCIES = "HAS_DEPENDENCIES"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    RATE_LIMITED = "RATE_LIMITED"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"


GRPC_STATUS_BY_KIND: dict[ErrorKind, grpc.StatusCode] = {
    ErrorKind.VALIDATION_FAILED: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorKind.FORBIDDEN: grpc.StatusCode.PERMISSION_DENIED,
    ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.CONFLICT: grpc.StatusCode.ABORTED,
    ErrorKind.HAS_DEPENDENCIES: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorKind.PAYLOAD_TOO_LARGE: grpc.StatusCode.OUT_OF_RANGE,
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.QUOTA_EXCEEDED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorKind.RATE_LIMITED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorKind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorKind.INTERNAL: grpc.StatusCode.INTERNAL,
}

# When a status arrives without our detail (a proxy, a deadline, a crashed peer).
KIND_BY_BARE_GRPC_STATUS: dict[grpc.StatusCode, ErrorKind] = {
    grpc.StatusCode.INVALID_ARGUMENT: ErrorKind.VALIDATION_FAILED,
    grpc.StatusCode.UNAUTHENTICATED: ErrorKind.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED: ErrorKind.FORBIDDEN,
    grpc.StatusCode.NOT_FOUND: ErrorKind.NOT_FOUND,
    grpc.StatusCode.ABORTED: ErrorKind.CONFLICT,
    grpc.StatusCode.ALREADY_EXISTS: ErrorKind.CONFLICT,
    grpc.StatusCode.FAILED_PRECONDITION: ErrorKind.CONFLICT,
    grpc.StatusCode.OUT_OF_RANGE: ErrorKind.VALIDATION_FAILED,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ErrorKind.RATE_LIMITED,
    grpc.StatusCode.UNAVAILABLE: ErrorKind.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: ErrorKind.UNAVAILABLE,
    grpc.StatusCode.CANCELLED: ErrorKind.UNAVAILABLE,
}

HTTP_STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.VALIDATION_FAILED: 422,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.HAS_DEPENDENCIES: 409,
    ErrorKind.PAYLOAD_TOO_LARGE: 413,
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorKind.QUOTA_EXCEEDED: 403,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.INTERNAL: 500,
}


class DomainError(Exception):
    """An expected failure with a stable code, a kind, and optional field errors and details."""

    def __init__(
        self,
        code: str,
        message: str,
        kind: ErrorKind,
        *,
        fields: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.kind = kind
        self.fields = fields
        self.details = details

    def __repr__(self) -> str:
        return f"DomainError({self.code!r}, {self.message!r}, {self.kind.value})"

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "kind": self.kind.value, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        if self.details:
            body["details"] = self.details
        return body

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> DomainError:
        return cls(
            str(body.get("code", "unknown")),
            str(body.get("message", "")),
            ErrorKind(body.get("kind", ErrorKind.INTERNAL.value)),
            fields=body.get("fields"),
            details=body.get("details"),
        )

    # Convenience constructors for the kinds every service raises.
    @classmethod
    def not_found(cls, what: str, ident: str) -> DomainError:
        return cls(f"{what}.not_found", f"{what} {ident} was not found", ErrorKind.NOT_FOUND)

    @classmethod
    def validation(cls, code: str, message: str, fields: dict[str, str] | None = None) -> DomainError:
        return cls(code, message, ErrorKind.VALIDATION_FAILED, fields=fields)

    @classmethod
    def conflict(cls, code: str, message: str, details: dict[str, Any] | None = None) -> DomainError:
        return cls(code, message, ErrorKind.CONFLICT, details=details)


def encode_error_metadata(error: DomainError) -> tuple[tuple[str, bytes], ...]:
    """The trailing metadata that carries a DomainError across gRPC."""
    return ((ERROR_METADATA_KEY, json.dumps(error.to_dict(), default=str).encode()),)


def decode_grpc_error(code: grpc.StatusCode, details: str | None, trailing: Any) -> DomainError:
    """Rebuild the DomainError a peer raised, or classify a bare status."""
    for key, value in trailing or ():
        if key == ERROR_METADATA_KEY:
            try:
                return DomainError.from_dict(json.loads(value))
            except (ValueError, TypeError):
                break
    kind = KIND_BY_BARE_GRPC_STATUS.get(code, ErrorKind.INTERNAL)
    message = details or code.name.lower()
    if kind is ErrorKind.INTERNAL:
        message = "internal error"  # never leak a peer's internals
    return DomainError(f"grpc.{code.name.lower()}", message, kind)
