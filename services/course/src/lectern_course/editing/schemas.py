"""The operations of a save (API.md ``Op``) and its result."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from lectern_course.courses.schemas import CourseEditView, CoursePatch


class _Op(BaseModel):
    model_config = ConfigDict(frozen=True)


class AddChapter(_Op):
    op: Literal["addChapter"] = "addChapter"
    temp_id: str = ""
    title: str
    position: int | None = None


class RenameChapter(_Op):
    op: Literal["renameChapter"] = "renameChapter"
    chapter_id: str
    title: str


class MoveChapter(_Op):
    op: Literal["moveChapter"] = "moveChapter"
    chapter_id: str
    position: int


class DeleteChapter(_Op):
    op: Literal["deleteChapter"] = "deleteChapter"
    chapter_id: str


class AddLesson(_Op):
    op: Literal["addLesson"] = "addLesson"
    chapter_id: str
    temp_id: str = ""
    title: str
    media_id: str | None = None
    position: int | None = None


class RenameLesson(_Op):
    op: Literal["renameLesson"] = "renameLesson"
    lesson_id: str
    title: str


class MoveLesson(_Op):
    op: Literal["moveLesson"] = "moveLesson"
    lesson_id: str
    chapter_id: str
    position: int


class DeleteLesson(_Op):
    op: Literal["deleteLesson"] = "deleteLesson"
    lesson_id: str


class SetLessonMedia(_Op):
    """Set (or, with no media id, clear) the media a lesson holds."""

    op: Literal["setLessonMedia"] = "setLessonMedia"
    lesson_id: str
    media_id: str | None = None


class UpdateCourse(_Op):
    op: Literal["updateCourse"] = "updateCourse"
    patch: CoursePatch


class Unknown(_Op):
    """An operation the transport could not read (an empty oneof); rejected with its index."""

    op: Literal["unknown"] = "unknown"


Operation = Annotated[
    AddChapter
    | RenameChapter
    | MoveChapter
    | DeleteChapter
    | AddLesson
    | RenameLesson
    | MoveLesson
    | DeleteLesson
    | SetLessonMedia
    | UpdateCourse
    | Unknown,
    Field(discriminator="op"),
]


class SaveRequest(BaseModel):
    """Also the idempotency fingerprint of a save: the same key must come with the same request."""

    model_config = ConfigDict(frozen=True)

    course_id: str
    expected_version: int
    operations: list[Operation]


class SaveResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    course: CourseEditView
    id_map: dict[str, str]
