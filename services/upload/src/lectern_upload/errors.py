"""The upload service's errors: each a stable code, a kind, and (for the tus edge) an HTTP status.

The kinds follow lectern_common.errors, so the gateway maps them like any other service's. The
tus protocol fixes a few statuses the generic table does not know (460 for a checksum mismatch,
410 for a gone upload, 412 for a protocol version), so the tus edge asks :func:`http_status`.
"""

from __future__ import annotations

from typing import Any

from lectern_common.errors import HTTP_STATUS_BY_KIND, DomainError, ErrorKind

# Codes whose tus status differs from the kind's generic HTTP status.
_TUS_STATUS_BY_CODE = {
    "upload.checksum_mismatch": 460,
    "upload.gone": 410,
    "upload.expired": 410,
    "upload.tus_version_unsupported": 412,
    "upload.offset_mismatch": 409,
    "upload.locked": 423,
    "upload.bad_content_type": 415,
    "upload.checksum_algorithm_unsupported": 400,
}


def http_status(error: DomainError) -> int:
    return _TUS_STATUS_BY_CODE.get(error.code, HTTP_STATUS_BY_KIND[error.kind])


def not_found(upload_id: str) -> DomainError:
    return DomainError("upload.not_found", f"upload {upload_id} was not found", ErrorKind.NOT_FOUND)


def gone(upload_id: str, status: str) -> DomainError:
    return DomainError(
        "upload.gone", f"upload {upload_id} is {status}", ErrorKind.NOT_FOUND, details={"status": status}
    )


def expired(upload_id: str) -> DomainError:
    return DomainError("upload.expired", f"upload {upload_id} has expired", ErrorKind.NOT_FOUND)


def unauthenticated(message: str = "missing or invalid upload token") -> DomainError:
    return DomainError("upload.unauthenticated", message, ErrorKind.UNAUTHENTICATED)


def forbidden(message: str) -> DomainError:
    return DomainError("upload.forbidden", message, ErrorKind.FORBIDDEN)


def invalid(code: str, message: str, fields: dict[str, str] | None = None) -> DomainError:
    return DomainError(code, message, ErrorKind.VALIDATION_FAILED, fields=fields)


def too_large(size: int, limit: int) -> DomainError:
    return DomainError(
        "upload.too_large",
        f"{size} bytes is more than the {limit} bytes an upload may hold",
        ErrorKind.PAYLOAD_TOO_LARGE,
        fields={"sizeBytes": f"at most {limit} bytes"},
        details={"maxBytes": limit},
    )


def unsupported_type(mime_type: str, allowed: tuple[str, ...]) -> DomainError:
    return DomainError(
        "upload.unsupported_media_type",
        f"files of type {mime_type or '(none)'} cannot be uploaded",
        ErrorKind.UNSUPPORTED_MEDIA_TYPE,
        fields={"mimeType": "not an allowed type"},
        details={"allowed": list(allowed)},
    )


def quota_exceeded(code: str, message: str, details: dict[str, Any]) -> DomainError:
    return DomainError(code, message, ErrorKind.QUOTA_EXCEEDED, details=details)


def offset_mismatch(expected: int, given: int) -> DomainError:
    return DomainError(
        "upload.offset_mismatch",
        f"Upload-Offset {given} does not match the upload's offset {expected}; HEAD and resume from it",
        ErrorKind.CONFLICT,
        details={"currentOffset": expected},
    )


def locked(upload_id: str) -> DomainError:
    return DomainError(
        "upload.locked",
        f"upload {upload_id} is being written by another request; retry after it ends",
        ErrorKind.CONFLICT,
    )


def checksum_mismatch(algorithm: str) -> DomainError:
    return DomainError(
        "upload.checksum_mismatch",
        f"the chunk's {algorithm} checksum does not match Upload-Checksum; nothing was kept",
        ErrorKind.VALIDATION_FAILED,
    )


def storage_unavailable(message: str) -> DomainError:
    """The object store failed (writing/service.py maps its one error here); retryable."""
    return DomainError("upload.storage_unavailable", message, ErrorKind.UNAVAILABLE)


def storing_failed() -> DomainError:
    """Completing the stored file failed, and the upload is now failed (same code as above: the
    object store is what failed; a retry from HEAD answers the failed upload)."""
    return storage_unavailable("storing the file failed; the upload is marked failed")


def rate_limited(retry_after_seconds: float) -> DomainError:
    return DomainError(
        "upload.rate_limited",
        "too many uploads created; retry later",
        ErrorKind.RATE_LIMITED,
        details={"retryAfterSeconds": retry_after_seconds},
    )


def user_busy(limit: int) -> DomainError:
    """One user already has ``limit`` PATCHes writing in this process (what they hold is bounded
    per user, so one client cannot take every part buffer and write slot); retryable."""
    return DomainError(
        "upload.busy",
        f"at most {limit} of your uploads receive bytes at once here; retry shortly from HEAD's offset",
        ErrorKind.UNAVAILABLE,
        details={"reason": "per_user_writes", "limit": limit},
    )


def busy(current_offset: int | None) -> DomainError:
    """At the process's limit (part buffers, or PATCHes writing at once) for too long; what the
    PATCH sent up to ``current_offset`` is kept (None: nothing of it was read)."""
    return DomainError(
        "upload.busy",
        "the upload service is at its limit of uploads in progress; retry shortly from HEAD's offset",
        ErrorKind.UNAVAILABLE,
        details=None if current_offset is None else {"currentOffset": current_offset},
    )


def not_resumable(upload_id: str, status: str) -> DomainError:
    """Resuming needs an unfinished upload: a stored, failed, cancelled or expired one has nothing
    left to send (``details.status`` says which)."""
    return DomainError(
        "upload.not_resumable",
        f"upload {upload_id} is {status}; only a pending or uploading upload can be resumed",
        ErrorKind.CONFLICT,
        details={"status": status},
    )
