"""The facts other services' events carry, as plain values (transport maps protos to these)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True)
class MediaFileState:
    """media.file.registered / ready / failed / updated."""

    media_id: str
    owner_id: str
    title: str
    file_name: str
    mime_type: str
    size_bytes: int
    status: str
    duration_seconds: float | None
    version: int
    occurred_at: datetime


@dataclass(frozen=True)
class MediaLinkChange:
    """media.link.added / removed; ``usage_count`` is the file's count after the change."""

    media_id: str
    owner_id: str
    resource_type: str
    resource_id: str
    course_id: str
    usage_count: int
    added: bool
    occurred_at: datetime


class Lifecycle(StrEnum):
    SOFT_DELETED = "soft_deleted"
    RESTORED = "restored"
    HARD_DELETED = "hard_deleted"
    PURGED = "purged"


@dataclass(frozen=True)
class MediaLifecycleChange:
    media_id: str
    owner_id: str
    change: Lifecycle
    version: int
    occurred_at: datetime


@dataclass(frozen=True)
class CourseState:
    """course.created / course.updated."""

    course_id: str
    owner_id: str
    title: str
    version: int
    occurred_at: datetime


@dataclass(frozen=True)
class CourseLifecycleChange:
    """course.deleted / course.restored."""

    course_id: str
    owner_id: str
    deleted: bool
    version: int
    occurred_at: datetime


@dataclass(frozen=True)
class LessonState:
    """course.lesson.added (and renamed/moved, which carry the same facts)."""

    lesson_id: str
    course_id: str
    chapter_id: str
    title: str
    media_id: str | None
    owner_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class LessonMediaChange:
    """course.lesson.media_set / media_cleared."""

    lesson_id: str
    course_id: str
    media_id: str | None


@dataclass(frozen=True)
class LessonsRemoved:
    """course.lesson.removed (one lesson) / course.chapter.removed (the chapter's lessons)."""

    course_id: str
    lesson_ids: tuple[str, ...]


# Every fact change an event of the media or course topics carries.
FactChange = (
    MediaFileState
    | MediaLinkChange
    | MediaLifecycleChange
    | CourseState
    | CourseLifecycleChange
    | LessonState
    | LessonMediaChange
    | LessonsRemoved
)
