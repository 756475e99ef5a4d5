"""What the course service answers: plain models, free of gRPC, with the API.md shapes on demand.

They serialize to JSON (for idempotent replays and for the ``current`` state in a conflict)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter


class Role(StrEnum):
    OWNER = "owner"
    EDITOR = "editor"


class ResourceType(StrEnum):
    COURSE = "course"
    CHAPTER = "chapter"
    LESSON = "lesson"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


def _rfc3339(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


class CourseView(_Model):
    id: str
    owner_id: str
    title: str
    description: str
    version: int
    published: bool
    published_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    role: Role | None = None

    def to_api(self) -> dict[str, Any]:
        """The API.md ``Course`` shape (camelCase keys, RFC 3339 times)."""
        return {
            "id": self.id,
            "ownerId": self.owner_id,
            "title": self.title,
            "description": self.description,
            "version": self.version,
            "published": self.published,
            "publishedAt": _rfc3339(self.published_at),
            "createdAt": _rfc3339(self.created_at),
            "updatedAt": _rfc3339(self.updated_at),
            "deletedAt": _rfc3339(self.deleted_at),
            "role": self.role.value if self.role else None,
        }


class UnreadyLesson(_Model):
    """A lesson whose media keeps its course from being published."""

    lesson_id: str
    title: str
    chapter_id: str
    media_id: str
    status: str  # processing | failed | deleted | unknown (course has not heard of the file yet)

    def to_api(self) -> dict[str, Any]:
        return {
            "lessonId": self.lesson_id,
            "title": self.title,
            "chapterId": self.chapter_id,
            "mediaId": self.media_id,
            "status": self.status,
        }


class MediaSummaryView(_Model):
    id: str
    file_name: str
    status: str
    duration_seconds: float | None
    size_bytes: int

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "fileName": self.file_name,
            "status": self.status,
            "sizeBytes": self.size_bytes,
        }
        if self.duration_seconds is not None:
            body["durationSeconds"] = self.duration_seconds
        return body


class LessonView(_Model):
    id: str
    title: str
    position: int
    media_id: str | None
    media: MediaSummaryView | None


class ChapterView(_Model):
    id: str
    title: str
    position: int
    lessons: list[LessonView]


# An outline's views are validated in one call: pydantic-core builds the 1,000 lesson views of a
# 50x20 course in Rust, where constructing them one by one cost a Python __init__ each.
_CHAPTER_LIST = TypeAdapter(list[ChapterView])


def chapter_views(chapters: list[dict[str, Any]]) -> list[ChapterView]:
    """Chapter views, lessons included, from their fields as plain dicts (``lessons`` a list of
    LessonView fields, ``media`` a MediaSummaryView or None)."""
    return _CHAPTER_LIST.validate_python(chapters)


class CourseEditView(_Model):
    """The whole editor tree of one course (API.md ``CourseEdit``)."""

    course: CourseView
    chapters: list[ChapterView]

    def to_api(self) -> dict[str, Any]:
        course = self.course
        return {
            "id": course.id,
            "title": course.title,
            "description": course.description,
            "version": course.version,
            "updatedAt": _rfc3339(course.updated_at),
            "deletedAt": _rfc3339(course.deleted_at),
            "chapters": [
                {
                    "id": chapter.id,
                    "title": chapter.title,
                    "position": chapter.position,
                    "lessons": [
                        {
                            "id": lesson.id,
                            "title": lesson.title,
                            "position": lesson.position,
                            "mediaId": lesson.media_id,
                            "media": lesson.media.to_api() if lesson.media else None,
                        }
                        for lesson in chapter.lessons
                    ],
                }
                for chapter in self.chapters
            ],
        }


class CourseSummaryView(_Model):
    course: CourseView
    chapter_count: int
    lesson_count: int


class CoursePage(_Model):
    items: list[CourseSummaryView]
    next_cursor: str


class CoursePatch(_Model):
    title: str | None = None
    description: str | None = None


class ResourceRef(_Model):
    type: ResourceType | None
    id: str


class ResolvedResource(_Model):
    ref: ResourceRef
    exists: bool
    course_id: str = ""
    can_edit: bool = False
    course_published: bool = False
    course_title: str = ""
