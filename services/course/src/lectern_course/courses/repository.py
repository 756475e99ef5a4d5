"""Every query of the course database. Built from the request's session; never commits.

Reads of a course tree take a fixed number of statements whatever its size: the course (with the
caller's editor row), its chapters with their lessons joined with their media summaries. A save
writes its changes in one statement (editing.repository).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, and_, bindparam, exists, func, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from lectern_course.models import Chapter, Course, CourseEditor, Lesson, MediaReadStamp, MediaSummary

_COURSE_COLUMNS = tuple(Course.__table__.c)
# The reads every GetCourseEdit and save makes select table columns (Core), not mapped attributes:
# their rows then come back without passing through the ORM's loading layer (per row, for the
# 1,000 lessons of a 50x20 course).
_EDITORS = CourseEditor.__table__.c
_CHAPTERS = Chapter.__table__.c
_LESSONS = Lesson.__table__.c
_MEDIA = MediaSummary.__table__.c
# A lesson's media summary as both the lessons read and the outline select it (ms_ prefixed:
# editing/tree.py reads them by these names).
_LESSON_MEDIA_COLUMNS = (
    _MEDIA.media_id.label("ms_id"),
    _MEDIA.file_name.label("ms_file_name"),
    _MEDIA.status.label("ms_status"),
    _MEDIA.duration_seconds.label("ms_duration_seconds"),
    _MEDIA.size_bytes.label("ms_size_bytes"),
    _MEDIA.gone.label("ms_gone"),
)


# Those reads are built once, their values bound per call: a statement built per call paid its
# construction and its cache key every time (~0.25 ms of a GetCourseEdit's CPU).
def _with_editor() -> Select[Any]:
    courses = Course.__table__
    return (
        select(
            *_COURSE_COLUMNS,
            _EDITORS.user_id.label("editor_id"),
            # The media read model's stamp, read with the course: with its version, the key of the
            # course's cached editor tree (edit_cache).
            select(MediaReadStamp.stamp).scalar_subquery().label("media_stamp"),
        )
        .outerjoin(
            CourseEditor.__table__,
            and_(_EDITORS.course_id == courses.c.id, _EDITORS.user_id == bindparam("user_id")),
        )
        .where(courses.c.id == bindparam("course_id"))
    )


def _chapters(*, include_deleted: bool) -> Select[Any]:
    query = select(_CHAPTERS.id, _CHAPTERS.title, _CHAPTERS.position, _CHAPTERS.deleted_at).where(
        _CHAPTERS.course_id == bindparam("course_id")
    )
    if not include_deleted:
        query = query.where(_CHAPTERS.deleted_at.is_(None))
    return query.order_by(_CHAPTERS.position, _CHAPTERS.created_at)


def _lessons_with_media() -> Select[Any]:
    return (
        select(
            _LESSONS.id,
            _LESSONS.chapter_id,
            _LESSONS.title,
            _LESSONS.position,
            _LESSONS.media_id,
            *_LESSON_MEDIA_COLUMNS,
        )
        .outerjoin(MediaSummary.__table__, _MEDIA.media_id == _LESSONS.media_id)
        .where(_LESSONS.course_id == bindparam("course_id"), _LESSONS.deleted_at.is_(None))
        .order_by(_LESSONS.chapter_id, _LESSONS.position, _LESSONS.created_at)
    )


def _outline(*, include_deleted_chapters: bool) -> Select[Any]:
    """Chapters in order, each followed by its live lessons in order (one row with NULL lesson
    columns for a chapter without any, or a deleted one), lessons joined with media summaries."""
    lessons_of_live_chapter = and_(
        _LESSONS.chapter_id == _CHAPTERS.id, _LESSONS.deleted_at.is_(None), _CHAPTERS.deleted_at.is_(None)
    )
    query = (
        select(
            _CHAPTERS.id,
            _CHAPTERS.title,
            _CHAPTERS.position,
            _CHAPTERS.deleted_at,
            _LESSONS.id.label("lesson_id"),
            _LESSONS.title.label("lesson_title"),
            _LESSONS.position.label("lesson_position"),
            _LESSONS.media_id,
            *_LESSON_MEDIA_COLUMNS,
        )
        .select_from(Chapter.__table__)
        .outerjoin(Lesson.__table__, lessons_of_live_chapter)
        .outerjoin(MediaSummary.__table__, _MEDIA.media_id == _LESSONS.media_id)
        .where(_CHAPTERS.course_id == bindparam("course_id"))
    )
    if not include_deleted_chapters:
        query = query.where(_CHAPTERS.deleted_at.is_(None))
    # The chapter id breaks ties (chapters added in one save share created_at, and a deleted one
    # keeps its position), so each chapter's rows come together.
    return query.order_by(
        _CHAPTERS.position, _CHAPTERS.created_at, _CHAPTERS.id, _LESSONS.position, _LESSONS.created_at
    )


_WITH_EDITOR = _with_editor()
# Writes built once (a save writes its changes with editing.repository's one statement).
_COURSE_TABLE = cast(Table, Course.__table__)
_INSERT_LESSONS = insert(cast(Table, Lesson.__table__))
_BUMP_COURSE = (
    update(_COURSE_TABLE)
    .where(_COURSE_TABLE.c.id == bindparam("course_id"))
    .values(version=_COURSE_TABLE.c.version + 1, updated_at=func.now())
    .returning(*_COURSE_COLUMNS)
)
_WITH_EDITOR_LOCKED = _WITH_EDITOR.with_for_update(of=Course.__table__)
_LIVE_CHAPTERS = _chapters(include_deleted=False)
_ALL_CHAPTERS = _chapters(include_deleted=True)
_LESSONS_WITH_MEDIA = _lessons_with_media()
_LIVE_OUTLINE = _outline(include_deleted_chapters=False)
_WHOLE_OUTLINE = _outline(include_deleted_chapters=True)


# A result row with named columns (row.id, row.title, ...); typed loosely on purpose, as SQLAlchemy's
# per-column Row generics differ between versions.
ResultRow = Any


class CourseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- courses ------------------------------------------------------------------------------

    async def insert_course(self, *, course_id: str, owner_id: str, title: str, description: str) -> ResultRow:
        result = await self.session.execute(
            insert(Course)
            .values(id=course_id, owner_id=owner_id, title=title, description=description, version=1)
            .returning(*_COURSE_COLUMNS)
        )
        return result.one()

    async def find_with_editor(self, course_id: str, user_id: str, *, for_update: bool = False) -> ResultRow | None:
        """The course row plus ``editor_id`` (the caller's editor row, or None) and ``media_stamp``.

        ``for_update`` locks the course row: writers of one course queue here, so the version
        check that follows cannot be passed by two of them at once.
        """
        query = _WITH_EDITOR_LOCKED if for_update else _WITH_EDITOR
        return (await self.session.execute(query, {"course_id": course_id, "user_id": user_id})).one_or_none()

    async def update_course(self, course_id: str, **values: Any) -> ResultRow:
        """Bump the version (and ``updated_at``) with the given column values; answers the new row."""
        statement = _BUMP_COURSE.values(**values) if values else _BUMP_COURSE
        return (await self.session.execute(statement, {"course_id": course_id})).one()

    async def add_editor(self, course_id: str, user_id: str) -> bool:
        """Answers False when the user already was an editor."""
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        result = await self.session.execute(
            pg_insert(CourseEditor)
            .values(course_id=course_id, user_id=user_id)
            .on_conflict_do_nothing()
            .returning(CourseEditor.user_id)
        )
        return result.first() is not None

    async def list_for_user(
        self,
        user_id: str,
        *,
        include_deleted: bool,
        after: tuple[datetime, str] | None,
        limit: int,
        published: bool | None = None,
    ) -> Sequence[ResultRow]:
        """Courses the user owns or edits, newest first, with live chapter and lesson counts;
        ``published`` keeps only the published (True) or unpublished (False) ones."""
        is_editor = exists().where(CourseEditor.course_id == Course.id, CourseEditor.user_id == user_id)
        chapter_count = (
            select(func.count())
            .where(Chapter.course_id == Course.id, Chapter.deleted_at.is_(None))
            .correlate(Course)
            .scalar_subquery()
        )
        lesson_count = (
            select(func.count())
            .where(Lesson.course_id == Course.id, Lesson.deleted_at.is_(None))
            .correlate(Course)
            .scalar_subquery()
        )
        query = select(
            *_COURSE_COLUMNS,
            is_editor.label("is_editor"),
            chapter_count.label("chapter_count"),
            lesson_count.label("lesson_count"),
        ).where(or_(Course.owner_id == user_id, is_editor))
        if not include_deleted:
            query = query.where(Course.deleted_at.is_(None))
        if published is not None:
            query = query.where(Course.published.is_(published))
        if after is not None:
            query = query.where(tuple_(Course.created_at, Course.id) < tuple_(*after))
        query = query.order_by(Course.created_at.desc(), Course.id.desc()).limit(limit)
        return (await self.session.execute(query)).all()

    # -- the tree -----------------------------------------------------------------------------

    async def load_chapters(self, course_id: str, *, include_deleted: bool = False) -> Sequence[ResultRow]:
        """Chapters in order, as (id, title, position, deleted_at): courses.access unpacks them."""
        query = _ALL_CHAPTERS if include_deleted else _LIVE_CHAPTERS
        return (await self.session.execute(query, {"course_id": course_id})).all()

    async def load_lessons_with_media(self, course_id: str) -> Sequence[ResultRow]:
        """Live lessons of the course, each with its media summary columns (``ms_*``, None when unknown),
        as (id, chapter_id, title, position, media_id, ms_id, ...): courses.access unpacks them."""
        return (await self.session.execute(_LESSONS_WITH_MEDIA, {"course_id": course_id})).all()

    async def load_outline(self, course_id: str, *, include_deleted_chapters: bool = False) -> Sequence[ResultRow]:
        """Chapters and their live lessons in one statement, as (chapter id, title, position,
        deleted_at, lesson id, title, position, media_id, ms_id, ...) rows, a chapter's lessons
        right after it: courses.access and editing.outline unpack them."""
        query = _WHOLE_OUTLINE if include_deleted_chapters else _LIVE_OUTLINE
        return (await self.session.execute(query, {"course_id": course_id})).all()

    async def insert_lessons(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(_INSERT_LESSONS, rows)

    async def find_lesson_by_upload_operation(self, operation_id: str) -> str | None:
        return (
            await self.session.execute(select(Lesson.id).where(Lesson.upload_operation_id == operation_id))
        ).scalar_one_or_none()

    async def count_live_lessons(self, chapter_id: str) -> int:
        return (
            await self.session.execute(
                select(func.count()).where(Lesson.chapter_id == chapter_id, Lesson.deleted_at.is_(None))
            )
        ).scalar_one()

    async def find_live_chapter(self, course_id: str, chapter_id: str) -> ResultRow | None:
        return (
            await self.session.execute(
                select(Chapter.id, Chapter.title).where(
                    Chapter.id == chapter_id, Chapter.course_id == course_id, Chapter.deleted_at.is_(None)
                )
            )
        ).one_or_none()

    # -- resolving link targets -----------------------------------------------------------------

    async def resolve_courses(self, ids: Iterable[str], user_id: str) -> Sequence[ResultRow]:
        editor = exists().where(CourseEditor.course_id == Course.id, CourseEditor.user_id == user_id)
        query = select(
            Course.id.label("resource_id"),
            Course.id.label("course_id"),
            Course.owner_id,
            Course.title.label("course_title"),
            Course.published,
            Course.deleted_at.label("course_deleted_at"),
            Course.deleted_at.label("resource_deleted_at"),
            editor.label("is_editor"),
        ).where(Course.id.in_(list(ids)))
        return (await self.session.execute(query)).all()

    async def resolve_chapters(self, ids: Iterable[str], user_id: str) -> Sequence[ResultRow]:
        editor = exists().where(CourseEditor.course_id == Course.id, CourseEditor.user_id == user_id)
        query = (
            select(
                Chapter.id.label("resource_id"),
                Course.id.label("course_id"),
                Course.owner_id,
                Course.title.label("course_title"),
                Course.published,
                Course.deleted_at.label("course_deleted_at"),
                Chapter.deleted_at.label("resource_deleted_at"),
                editor.label("is_editor"),
            )
            .join(Course, Course.id == Chapter.course_id)
            .where(Chapter.id.in_(list(ids)))
        )
        return (await self.session.execute(query)).all()

    async def resolve_lessons(self, ids: Iterable[str], user_id: str) -> Sequence[ResultRow]:
        editor = exists().where(CourseEditor.course_id == Course.id, CourseEditor.user_id == user_id)
        query = (
            select(
                Lesson.id.label("resource_id"),
                Course.id.label("course_id"),
                Course.owner_id,
                Course.title.label("course_title"),
                Course.published,
                Course.deleted_at.label("course_deleted_at"),
                Lesson.deleted_at.label("resource_deleted_at"),
                editor.label("is_editor"),
            )
            .join(Course, Course.id == Lesson.course_id)
            .where(Lesson.id.in_(list(ids)))
        )
        return (await self.session.execute(query)).all()
