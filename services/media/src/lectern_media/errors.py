"""The media service's errors: each a stable code and a kind (mapped to gRPC/HTTP in lectern_common)."""

from __future__ import annotations

from typing import Any

from lectern_common.errors import DomainError, ErrorKind

# How many links an error's details carry at most: details travel in gRPC trailing metadata, whose
# default size limit is 8 KiB, so a file used in 1,000 places answers a count and the first few.
MAX_LINKS_IN_DETAILS = 20


def media_not_found(media_id: str) -> DomainError:
    # Also the answer for another user's file: never confirm that it exists.
    return DomainError("media.not_found", f"media {media_id} was not found", ErrorKind.NOT_FOUND)


def media_deleted(media_id: str) -> DomainError:
    return DomainError(
        "media.deleted",
        f"media {media_id} is deleted; restore it first",
        ErrorKind.CONFLICT,
        details={"mediaId": media_id},
    )


def media_not_deleted(media_id: str) -> DomainError:
    return DomainError("media.not_deleted", f"media {media_id} is not deleted", ErrorKind.CONFLICT)


def version_conflict(current_version: int, current: dict[str, Any]) -> DomainError:
    return DomainError(
        "media.version_conflict",
        "the media changed since you read it",
        ErrorKind.CONFLICT,
        details={"currentVersion": current_version, "current": current},
    )


def has_dependencies(message: str, links: list[dict[str, Any]], total: int) -> DomainError:
    return DomainError(
        "media.has_dependencies",
        message,
        ErrorKind.HAS_DEPENDENCIES,
        details={
            "links": links[:MAX_LINKS_IN_DETAILS],
            "linkCount": total,
            "truncated": total > MAX_LINKS_IN_DETAILS,
        },
    )


def link_target_not_found(resource_type: str, resource_id: str) -> DomainError:
    return DomainError(
        "media.link_target_not_found",
        f"{resource_type} {resource_id} was not found",
        ErrorKind.NOT_FOUND,
        fields={"resourceId": "not found"},
    )


def link_target_forbidden(resource_type: str, resource_id: str) -> DomainError:
    return DomainError(
        "media.link_target_forbidden",
        f"you may not edit {resource_type} {resource_id}",
        ErrorKind.FORBIDDEN,
        fields={"resourceId": "you may not edit this"},
    )


def invalid(code: str, fields: dict[str, str]) -> DomainError:
    return DomainError(
        f"media.invalid_{code}",
        "the request is invalid: " + "; ".join(f"{k}: {v}" for k, v in fields.items()),
        ErrorKind.VALIDATION_FAILED,
        fields=fields,
    )
