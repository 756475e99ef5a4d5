"""Courses against real PostgreSQL: ownership, versions, soft delete and restore, access answers."""

from __future__ import annotations

import uuid

import pytest
from lectern.events.v1 import course_events_pb2 as ev
from lectern_common.errors import DomainError, ErrorKind
from lectern_common.events import decode_event
from lectern_common.identity import Identity
from lectern_common.plumbing_tables import outbox_events
from lectern_course.bootstrap import CourseApp
from lectern_course.courses.schemas import CoursePatch, ResourceRef, ResourceType
from lectern_course.editing import schemas as ops
from sqlalchemy import select


async def create(app: CourseApp, owner: Identity, title: str = "Course", key: str = "") -> str:
    async with app.uow() as session:
        return (await app.courses.create_course(session, owner, title=title, description="", idempotency_key=key)).id


async def with_tree(app: CourseApp, owner: Identity) -> tuple[str, list[str], list[str]]:
    course_id = await create(app, owner)
    async with app.uow() as session:
        result = await app.editing.save_changes(
            session,
            owner,
            course_id=course_id,
            expected_version=1,
            operations=[
                ops.AddChapter(temp_id="a", title="A"),
                ops.AddLesson(chapter_id="a", temp_id="a1", title="A1"),
                ops.AddChapter(temp_id="b", title="B"),
                ops.AddLesson(chapter_id="b", temp_id="b1", title="B1"),
            ],
        )
    return course_id, [result.id_map["a"], result.id_map["b"]], [result.id_map["a1"], result.id_map["b1"]]


async def last_event(app: CourseApp, course_id: str, event_type: str) -> ev.CourseLifecycleChanged:
    async with app.uow.read_only() as session:
        value = (
            await session.execute(
                select(outbox_events.c.value)
                .where(outbox_events.c.key == course_id, outbox_events.c.event_type == event_type)
                .order_by(outbox_events.c.id.desc())
                .limit(1)
            )
        ).scalar_one()
    return decode_event(value).unpack(ev.CourseLifecycleChanged)


async def test_another_instructor_can_neither_read_nor_write_a_course(app: CourseApp, new_user) -> None:
    owner, stranger = new_user("owner"), new_user("stranger")
    course_id, chapter_ids, _ = await with_tree(app, owner)

    attempts = [
        lambda s: app.courses.get_course_edit(s, stranger, course_id),
        lambda s: app.courses.update_course(
            s, stranger, course_id=course_id, expected_version=2, patch=CoursePatch(title="mine")
        ),
        lambda s: app.editing.save_changes(
            s, stranger, course_id=course_id, expected_version=2, operations=[ops.AddChapter(title="x")]
        ),
        lambda s: app.courses.delete_course(s, stranger, course_id=course_id),
        lambda s: app.courses.restore_course(s, stranger, course_id=course_id),
        lambda s: app.courses.add_editor(s, stranger, course_id=course_id, user_id=stranger.user_id),
        lambda s: app.courses.check_access(s, stranger, course_id=course_id, chapter_id=None),
    ]
    for attempt in attempts:
        with pytest.raises(DomainError) as caught:
            async with app.uow() as session:
                await attempt(session)
        assert caught.value.kind is ErrorKind.NOT_FOUND
        assert caught.value.code == "course.not_found"

    async with app.uow.read_only() as session:
        page = await app.courses.list_my_courses(session, stranger, include_deleted=True, cursor="", limit=0)
        resolved = await app.courses.resolve_resources(
            session, stranger, [ResourceRef(type=ResourceType.CHAPTER, id=chapter_ids[0])]
        )
        edit = await app.courses.get_course_edit(session, owner, course_id)
    assert page.items == []
    assert resolved[0].exists is False and resolved[0].course_id == ""
    assert edit.course.version == 2 and [c.title for c in edit.chapters] == ["A", "B"]


async def test_an_update_from_a_stale_version_is_a_conflict_with_the_current_course(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id = await create(app, owner)
    async with app.uow() as session:
        updated = await app.courses.update_course(
            session, owner, course_id=course_id, expected_version=1, patch=CoursePatch(title="Second")
        )
    assert updated.version == 2 and updated.title == "Second"

    with pytest.raises(DomainError) as caught:
        async with app.uow() as session:
            await app.courses.update_course(
                session, owner, course_id=course_id, expected_version=1, patch=CoursePatch(title="Lost")
            )
    assert caught.value.kind is ErrorKind.CONFLICT
    assert caught.value.details is not None
    assert caught.value.details["currentVersion"] == 2
    assert caught.value.details["current"]["title"] == "Second"


async def test_bad_input_is_a_field_error_and_changes_nothing(app: CourseApp, new_user) -> None:
    owner = new_user()
    for title, problem in [("", "must not be empty"), ("x" * 201, "must be at most 200 characters")]:
        with pytest.raises(DomainError) as caught:
            await create(app, owner, title=title)
        assert caught.value.kind is ErrorKind.VALIDATION_FAILED
        assert caught.value.fields == {"title": problem}
    async with app.uow.read_only() as session:
        page = await app.courses.list_my_courses(session, owner, include_deleted=True, cursor="", limit=0)
    assert page.items == []


async def test_create_with_a_repeated_idempotency_key_creates_one_course(app: CourseApp, new_user) -> None:
    owner = new_user()
    key = str(uuid.uuid4())
    first = await create(app, owner, key=key)
    second = await create(app, owner, key=key)
    assert first == second
    async with app.uow.read_only() as session:
        page = await app.courses.list_my_courses(session, owner, include_deleted=False, cursor="", limit=0)
    assert [item.course.id for item in page.items] == [first]


async def test_deleted_courses_are_hidden_unless_asked_for_and_restore_brings_them_back(
    app: CourseApp, new_user
) -> None:
    owner = new_user()
    course_id, chapter_ids, lesson_ids = await with_tree(app, owner)

    async with app.uow() as session:
        deleted = await app.courses.delete_course(session, owner, course_id=course_id)
    assert deleted.deleted_at is not None
    gone = await last_event(app, course_id, "course.deleted")
    assert sorted(gone.chapter_ids) == sorted(chapter_ids) and sorted(gone.lesson_ids) == sorted(lesson_ids)

    with pytest.raises(DomainError) as caught:
        async with app.uow.read_only() as session:
            await app.courses.get_course_edit(session, owner, course_id)
    assert caught.value.kind is ErrorKind.NOT_FOUND
    async with app.uow.read_only() as session:
        hidden = await app.courses.list_my_courses(session, owner, include_deleted=False, cursor="", limit=0)
        shown = await app.courses.list_my_courses(session, owner, include_deleted=True, cursor="", limit=0)
        as_deleted = await app.courses.get_course_edit(session, owner, course_id, include_deleted=True)
    assert hidden.items == [] and [i.course.id for i in shown.items] == [course_id]
    assert [c.title for c in as_deleted.chapters] == ["A", "B"]

    async with app.uow() as session:
        restored = await app.courses.restore_course(session, owner, course_id=course_id)
        edit = await app.courses.get_course_edit(session, owner, course_id)
    assert restored.deleted_at is None
    assert [c.title for c in edit.chapters] == ["A", "B"]
    back = await last_event(app, course_id, "course.restored")
    assert sorted(back.lesson_ids) == sorted(lesson_ids)


async def test_a_restore_does_not_revive_a_chapter_deleted_before_the_course(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, chapter_ids, lesson_ids = await with_tree(app, owner)
    async with app.uow() as session:
        await app.editing.save_changes(
            session,
            owner,
            course_id=course_id,
            expected_version=2,
            operations=[ops.DeleteChapter(chapter_id=chapter_ids[0])],
        )
        await app.courses.delete_course(session, owner, course_id=course_id)
    async with app.uow() as session:
        await app.courses.restore_course(session, owner, course_id=course_id)
        edit = await app.courses.get_course_edit(session, owner, course_id)

    assert [(c.title, c.position) for c in edit.chapters] == [("B", 0)]
    back = await last_event(app, course_id, "course.restored")
    assert list(back.chapter_ids) == [chapter_ids[1]] and list(back.lesson_ids) == [lesson_ids[1]]


async def test_only_the_owner_deletes_but_an_editor_may_edit(app: CourseApp, new_user) -> None:
    owner, editor = new_user("owner"), new_user("editor")
    course_id = await create(app, owner)
    async with app.uow() as session:
        await app.courses.add_editor(session, owner, course_id=course_id, user_id=editor.user_id)
    async with app.uow() as session:
        updated = await app.courses.update_course(
            session, editor, course_id=course_id, expected_version=1, patch=CoursePatch(description="by editor")
        )
    assert updated.role == "editor" and updated.description == "by editor"
    with pytest.raises(DomainError) as caught:
        async with app.uow() as session:
            await app.courses.delete_course(session, editor, course_id=course_id)
    assert caught.value.kind is ErrorKind.FORBIDDEN
    async with app.uow.read_only() as session:
        page = await app.courses.list_my_courses(session, editor, include_deleted=False, cursor="", limit=0)
    assert [(i.course.id, i.course.role) for i in page.items] == [(course_id, "editor")]


async def test_listing_pages_through_every_course_once(app: CourseApp, new_user) -> None:
    owner = new_user()
    created = [await create(app, owner, title=f"C{n}") for n in range(5)]
    seen: list[str] = []
    cursor = ""
    while True:
        async with app.uow.read_only() as session:
            page = await app.courses.list_my_courses(session, owner, include_deleted=False, cursor=cursor, limit=2)
        seen += [item.course.id for item in page.items]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert seen == list(reversed(created))


async def test_check_access_answers_for_a_live_chapter_only(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, chapter_ids, _ = await with_tree(app, owner)
    async with app.uow() as session:
        course = await app.courses.check_access(session, owner, course_id=course_id, chapter_id=chapter_ids[0])
        assert course.id == course_id
        await app.editing.save_changes(
            session,
            owner,
            course_id=course_id,
            expected_version=2,
            operations=[ops.DeleteChapter(chapter_id=chapter_ids[0])],
        )
    with pytest.raises(DomainError) as caught:
        async with app.uow.read_only() as session:
            await app.courses.check_access(session, owner, course_id=course_id, chapter_id=chapter_ids[0])
    assert caught.value.kind is ErrorKind.NOT_FOUND


async def test_resolve_resources_answers_each_ref(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, chapter_ids, lesson_ids = await with_tree(app, owner)
    async with app.uow() as session:
        await app.editing.save_changes(
            session,
            owner,
            course_id=course_id,
            expected_version=2,
            operations=[ops.DeleteLesson(lesson_id=lesson_ids[1])],
        )
    refs = [
        ResourceRef(type=ResourceType.COURSE, id=course_id),
        ResourceRef(type=ResourceType.CHAPTER, id=chapter_ids[1]),
        ResourceRef(type=ResourceType.LESSON, id=lesson_ids[0]),
        ResourceRef(type=ResourceType.LESSON, id=lesson_ids[1]),
        ResourceRef(type=ResourceType.LESSON, id="no-such-lesson"),
    ]
    async with app.uow.read_only() as session:
        mine = await app.courses.resolve_resources(session, owner, refs)
        as_service = await app.courses.resolve_resources(session, Identity.service("media"), refs)
    assert [r.exists for r in mine] == [True, True, True, False, False]
    assert {r.course_id for r in mine if r.exists} == {course_id}
    assert all(r.can_edit and r.course_title == "Course" for r in mine if r.exists)
    assert [r.exists for r in as_service] == [True, True, True, False, False]
