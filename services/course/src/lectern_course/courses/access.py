"""Who may see a course and how a course row reads: the caller's role, the NOT_FOUND rule, the view
of a row, and the editor tree. Shared by courses and editing.

Access is decided from the caller's identity: the owner and editors may read and edit; anyone else
gets NOT_FOUND, exactly as if the course did not exist.
"""

from __future__ import annotations

from typing import Any

from lectern_common.identity import Identity

from lectern_course.courses.repository import CourseRepository
from lectern_course.courses.schemas import CourseEditView, CourseView, Role, chapter_views
from lectern_course.editing.tree import media_view
from lectern_course.errors import course_not_found


def course_view(row: Any, role: Role | None) -> CourseView:
    return CourseView(
        id=row.id,
        owner_id=row.owner_id,
        title=row.title,
        description=row.description,
        version=row.version,
        published=row.published,
        published_at=row.published_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
        role=role,
    )


def role_of(row: Any, identity: Identity) -> Role | None:
    if row.owner_id == identity.user_id:
        return Role.OWNER
    if getattr(row, "editor_id", None) is not None:
        return Role.EDITOR
    return None


async def find_course(
    repo: CourseRepository,
    identity: Identity,
    course_id: str,
    *,
    for_update: bool = False,
    include_deleted: bool = False,
) -> tuple[Any, Role]:
    """The course row and the caller's role; NOT_FOUND when missing, foreign or (unless asked) deleted."""
    row = await repo.find_with_editor(course_id, identity.user_id, for_update=for_update) if course_id else None
    role = role_of(row, identity) if row is not None else None
    if row is None or role is None or (row.deleted_at is not None and not include_deleted):
        raise course_not_found(course_id)
    return row, role


async def load_tree(repo: CourseRepository, course: CourseView) -> CourseEditView:
    """The editor tree in one more statement (chapters, each with its lessons joined with media)."""
    chapters: list[dict[str, Any]] = []
    lessons: list[dict[str, Any]] = []
    current = None
    # Rows are unpacked by position (the repository's column order), not read by name: a Row's
    # attribute lookup costs ~0.5 us, and the ten of them a lesson took were most of the time
    # building a 50x20 tree (bench/course's profile).
    for row in await repo.load_outline(course.id):
        chapter_id, chapter_title, _, _, lesson_id, title, _, media_id, summary_id, *_ = row
        if chapter_id != current:
            current, lessons = chapter_id, []
            chapters.append({"id": chapter_id, "title": chapter_title, "position": len(chapters), "lessons": lessons})
        if lesson_id is not None:
            lessons.append(
                {
                    "id": lesson_id,
                    "title": title,
                    "position": len(lessons),
                    "media_id": media_id,
                    "media": None if summary_id is None else media_view(row),
                }
            )
    return CourseEditView(course=course, chapters=chapter_views(chapters))
