"""The analytics service's errors: each a stable code and a kind (lectern_common.errors.ErrorKind)."""

from __future__ import annotations

from lectern_common.errors import DomainError, ErrorKind


def course_not_found(course_id: str) -> DomainError:
    # Another instructor's course answers exactly like a missing one: nothing leaks.
    return DomainError("analytics.course_not_found", f"course {course_id} was not found", ErrorKind.NOT_FOUND)


def invalid_dashboard_request(fields: dict[str, str]) -> DomainError:
    return DomainError(
        "analytics.invalid_dashboard_request",
        "the dashboard request is invalid",
        ErrorKind.VALIDATION_FAILED,
        fields=fields,
    )


def invalid_engagement(fields: dict[str, str]) -> DomainError:
    return DomainError(
        "analytics.invalid_engagement",
        "no engagement event in the request is valid",
        ErrorKind.VALIDATION_FAILED,
        fields=fields,
    )
