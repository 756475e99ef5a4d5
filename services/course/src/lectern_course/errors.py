"""The course service's errors: each a stable code and a kind (lectern_common.errors.ErrorKind)."""

from __future__ import annotations

from typing import Any

from lectern_common.errors import DomainError, ErrorKind


def course_not_found(course_id: str) -> DomainError:
    # Another instructor's course answers exactly like a missing one: nothing leaks.
    return DomainError("course.not_found", f"course {course_id} was not found", ErrorKind.NOT_FOUND)


def chapter_not_found(chapter_id: str) -> DomainError:
    return DomainError("course.chapter_not_found", f"chapter {chapter_id} was not found", ErrorKind.NOT_FOUND)


def owner_only(action: str) -> DomainError:
    return DomainError("course.owner_only", f"only the course owner may {action}", ErrorKind.FORBIDDEN)


def version_conflict(current_version: int, current: dict[str, Any]) -> DomainError:
    return DomainError(
        "course.version_conflict",
        "the course changed since you loaded it",
        ErrorKind.CONFLICT,
        details={"currentVersion": current_version, "current": current},
    )


def invalid_input(fields: dict[str, str], message: str = "the request is not valid") -> DomainError:
    return DomainError("course.invalid_input", message, ErrorKind.VALIDATION_FAILED, fields=fields)


def invalid_operation(index: int, field: str, problem: str) -> DomainError:
    """A save's failing operation: ``fields`` keyed by input path, its index in ``details``."""
    path = f"operations.{index}.{field}" if field else f"operations.{index}"
    return DomainError(
        "course.invalid_operation",
        f"operation {index} is not valid: {problem}",
        ErrorKind.VALIDATION_FAILED,
        fields={path: problem},
        details={"operationIndex": index},
    )


def course_published(course_id: str, current_version: int) -> DomainError:
    return DomainError(
        "course.published",
        f"course {course_id} is published: unpublish it first, or delete with force",
        ErrorKind.CONFLICT,
        details={"currentVersion": current_version, "published": True},
    )


MAX_LESSONS_IN_DETAILS = 50


def media_not_ready(current_version: int, lessons: list[dict[str, Any]]) -> DomainError:
    """Publishing refused: ``details.lessons`` names (up to 50 of) the lessons whose media is not ready."""
    return DomainError(
        "course.media_not_ready",
        f"{len(lessons)} lesson(s) hold media that is not ready; publish once every lesson's media is ready",
        ErrorKind.CONFLICT,
        details={
            "currentVersion": current_version,
            "lessons": lessons[:MAX_LESSONS_IN_DETAILS],
            "lessonCount": len(lessons),
            "truncated": len(lessons) > MAX_LESSONS_IN_DETAILS,
        },
    )
