"""Course actions: inputs and ``data`` (API.md §1 "Courses")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, model_validator

from lectern_gateway.actions.schemas import (
    Cursor,
    DataModel,
    Description,
    Identifier,
    InputModel,
    PageLimit,
    Position,
    Title,
    Version,
)

# ---- inputs -------------------------------------------------------------------------------------


class CoursePatchInput(InputModel):
    title: Title | None = None
    description: Description | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> CoursePatchInput:
        if self.title is None and self.description is None:
            raise ValueError("name at least one of title, description")
        return self


class CreateCourseInput(InputModel):
    title: Title
    description: Description = ""


class ListMyCoursesInput(InputModel):
    include_deleted: bool = False
    published: bool | None = Field(
        default=None, description="Only published (true) or unpublished (false) courses; absent: both."
    )
    cursor: Cursor | None = None
    limit: PageLimit | None = None


class GetCourseEditInput(InputModel):
    course_id: Identifier
    include_deleted: bool = Field(default=False, description="Also answer a soft-deleted course.")


class UpdateCourseInput(InputModel):
    course_id: Identifier
    expected_version: Version
    patch: CoursePatchInput


class CourseIdInput(InputModel):
    course_id: Identifier


class DeleteCourseInput(InputModel):
    course_id: Identifier
    force: bool = Field(default=False, description="Needed to delete a published course (which also unpublishes it).")


class PublishCourseInput(InputModel):
    course_id: Identifier
    expected_version: Version


class AddChapterOp(InputModel):
    op: Literal["addChapter"]
    temp_id: Identifier | None = None
    title: Title
    position: Position | None = None


class RenameChapterOp(InputModel):
    op: Literal["renameChapter"]
    chapter_id: Identifier
    title: Title


class MoveChapterOp(InputModel):
    op: Literal["moveChapter"]
    chapter_id: Identifier
    position: Position


class DeleteChapterOp(InputModel):
    op: Literal["deleteChapter"]
    chapter_id: Identifier


class AddLessonOp(InputModel):
    op: Literal["addLesson"]
    chapter_id: Identifier = Field(description="An id, or the tempId of a chapter added earlier in this save.")
    temp_id: Identifier | None = None
    title: Title
    media_id: Identifier | None = None
    position: Position | None = None


class RenameLessonOp(InputModel):
    op: Literal["renameLesson"]
    lesson_id: Identifier
    title: Title


class MoveLessonOp(InputModel):
    op: Literal["moveLesson"]
    lesson_id: Identifier
    chapter_id: Identifier
    position: Position


class DeleteLessonOp(InputModel):
    op: Literal["deleteLesson"]
    lesson_id: Identifier


class SetLessonMediaOp(InputModel):
    op: Literal["setLessonMedia"]
    lesson_id: Identifier
    media_id: Identifier | None = Field(description="The media to show in the lesson; null clears it.")


class UpdateCourseOp(InputModel):
    op: Literal["updateCourse"]
    patch: CoursePatchInput


Operation = Annotated[
    AddChapterOp
    | RenameChapterOp
    | MoveChapterOp
    | DeleteChapterOp
    | AddLessonOp
    | RenameLessonOp
    | MoveLessonOp
    | DeleteLessonOp
    | UpdateCourseOp
    | SetLessonMediaOp,
    Field(discriminator="op"),
]
OPERATION_TAGS = frozenset(
    {
        "addChapter",
        "renameChapter",
        "moveChapter",
        "deleteChapter",
        "addLesson",
        "renameLesson",
        "moveLesson",
        "deleteLesson",
        "updateCourse",
        "setLessonMedia",
    }
)


class SaveCourseChangesInput(InputModel):
    course_id: Identifier
    expected_version: Version
    operations: list[Operation] = Field(min_length=1, max_length=500)


# ---- data ---------------------------------------------------------------------------------------

CourseRole = Literal["owner", "editor"]


class Course(DataModel):
    id: str
    owner_id: str
    title: str
    description: str
    version: int
    published: bool
    published_at: datetime | None = Field(description="When the course was published; null while unpublished.")
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    role: CourseRole | None = Field(description="The caller's role on this course.")


class CourseSummary(Course):
    chapter_count: int
    lesson_count: int


class CourseList(DataModel):
    items: list[CourseSummary]
    next_cursor: str | None


class LessonMedia(DataModel):
    id: str
    file_name: str
    status: str = Field(description="processing | ready | failed")
    duration_seconds: float | None
    size_bytes: int


class LessonEdit(DataModel):
    id: str
    title: str
    position: int
    media_id: str | None
    media: LessonMedia | None


class ChapterEdit(DataModel):
    id: str
    title: str
    position: int
    lessons: list[LessonEdit]


class CourseEdit(Course):
    chapters: list[ChapterEdit]


class SaveCourseChangesData(DataModel):
    course: CourseEdit
    id_map: dict[str, str] = Field(description="tempId -> the id the new item got.")
