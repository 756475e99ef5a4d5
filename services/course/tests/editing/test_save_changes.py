"""SaveCourseChanges against real PostgreSQL: all or nothing, versions, idempotency, dense order."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from lectern_common.errors import DomainError, ErrorKind
from lectern_common.identity import Identity
from lectern_common.plumbing_tables import outbox_events
from lectern_course.bootstrap import CourseApp
from lectern_course.courses.schemas import CourseEditView
from lectern_course.editing import schemas as ops
from lectern_course.editing.schemas import SaveResult
from sqlalchemy import select, text


async def create_course(app: CourseApp, owner: Identity, title: str = "Course") -> str:
    async with app.uow() as session:
        course = await app.courses.create_course(session, owner, title=title, description="")
    return course.id


async def save(
    app: CourseApp, who: Identity, course_id: str, version: int, operations: list[ops.Operation], key: str = ""
) -> SaveResult:
    async with app.uow() as session:
        return await app.editing.save_changes(
            session, who, course_id=course_id, expected_version=version, operations=operations, idempotency_key=key
        )


async def tree(app: CourseApp, who: Identity, course_id: str) -> CourseEditView:
    async with app.uow.read_only() as session:
        return await app.courses.get_course_edit(session, who, course_id)


def shape(edit: CourseEditView) -> list[tuple[str, list[str]]]:
    return [(c.title, [lesson.title for lesson in c.lessons]) for c in edit.chapters]


def assert_dense(edit: CourseEditView) -> None:
    assert [c.position for c in edit.chapters] == list(range(len(edit.chapters)))
    for chapter in edit.chapters:
        assert [lesson.position for lesson in chapter.lessons] == list(range(len(chapter.lessons)))


async def outbox_count(app: CourseApp, course_id: str) -> int:
    async with app.uow.read_only() as session:
        rows = await session.execute(select(outbox_events.c.id).where(outbox_events.c.key == course_id))
        return len(rows.all())


async def seeded(app: CourseApp, owner: Identity, chapters: int = 3, lessons: int = 3) -> tuple[str, SaveResult]:
    course_id = await create_course(app, owner)
    operations: list[ops.Operation] = []
    for c in range(chapters):
        operations.append(ops.AddChapter(temp_id=f"c{c}", title=f"Chapter {c}"))
        operations += [
            ops.AddLesson(chapter_id=f"c{c}", temp_id=f"c{c}l{n}", title=f"L{c}.{n}") for n in range(lessons)
        ]
    return course_id, await save(app, owner, course_id, 1, operations)


async def test_a_save_applies_every_operation_and_maps_temp_ids(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, result = await seeded(app, owner, chapters=2, lessons=2)

    assert result.course.course.version == 2
    assert shape(result.course) == [("Chapter 0", ["L0.0", "L0.1"]), ("Chapter 1", ["L1.0", "L1.1"])]
    assert result.id_map["c0"] == result.course.chapters[0].id
    assert result.id_map["c1l1"] == result.course.chapters[1].lessons[1].id
    assert (await tree(app, owner, course_id)) == result.course


async def test_a_failing_37th_of_50_operations_leaves_nothing_changed(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, seeded_result = await seeded(app, owner, chapters=3, lessons=3)
    before = await tree(app, owner, course_id)
    events_before = await outbox_count(app, course_id)
    chapter_ids = [c.id for c in before.chapters]
    lesson_ids = [lesson.id for c in before.chapters for lesson in c.lessons]

    operations: list[ops.Operation] = []
    for n in range(36):
        match n % 6:
            case 0:
                operations.append(ops.AddChapter(temp_id=f"new{n}", title=f"New {n}", position=0))
            case 1:
                operations.append(ops.AddLesson(chapter_id=f"new{n - 1}", title=f"Lesson {n}"))
            case 2:
                operations.append(ops.RenameLesson(lesson_id=lesson_ids[n % len(lesson_ids)], title=f"Renamed {n}"))
            case 3:
                operations.append(ops.MoveChapter(chapter_id=chapter_ids[n % 3], position=1))
            case 4:
                operations.append(ops.MoveLesson(lesson_id=lesson_ids[0], chapter_id=chapter_ids[2], position=0))
            case 5:
                operations.append(ops.RenameChapter(chapter_id=chapter_ids[1], title=f"Chapter renamed {n}"))
    operations.append(ops.RenameChapter(chapter_id=chapter_ids[0], title=""))  # index 36: the 37th
    operations += [ops.AddChapter(title=f"Tail {n}") for n in range(13)]
    assert len(operations) == 50

    with pytest.raises(DomainError) as caught:
        await save(app, owner, course_id, seeded_result.course.course.version, operations)

    error = caught.value
    assert error.kind is ErrorKind.VALIDATION_FAILED
    assert error.fields == {"operations.36.title": "must not be empty"}
    assert error.details == {"operationIndex": 36}
    assert await tree(app, owner, course_id) == before
    assert await outbox_count(app, course_id) == events_before


@pytest.mark.parametrize(
    ("bad", "field", "problem"),
    [
        (ops.RenameChapter(chapter_id="c-unknown", title="x"), "chapterId", "unknown chapter"),
        (ops.RenameLesson(lesson_id="l-unknown", title="x"), "lessonId", "unknown lesson"),
        (ops.AddChapter(title="x" * 201), "title", "must be at most 200 characters"),
        (ops.AddChapter(title="   "), "title", "must not be empty"),
        (ops.AddChapter(title="x", position=5), "position", "must be between 0 and 2"),
        (ops.MoveChapter(chapter_id="FIRST", position=2), "position", "must be between 0 and 1"),
        (ops.MoveChapter(chapter_id="FIRST", position=-1), "position", "must be between 0 and 1"),
        (ops.Unknown(), "op", "unknown operation"),
    ],
)
async def test_an_invalid_operation_names_its_index_and_field(
    app: CourseApp, new_user, bad: ops.Operation, field: str, problem: str
) -> None:
    owner = new_user()
    course_id, _seeded_result = await seeded(app, owner, chapters=2, lessons=1)
    before = await tree(app, owner, course_id)
    if isinstance(bad, ops.MoveChapter):
        bad = bad.model_copy(update={"chapter_id": before.chapters[0].id})
    operations = [ops.RenameChapter(chapter_id=before.chapters[0].id, title="fine"), bad]

    with pytest.raises(DomainError) as caught:
        await save(app, owner, course_id, 2, operations)

    assert caught.value.fields == {f"operations.1.{field}": problem}
    assert caught.value.details == {"operationIndex": 1}
    assert await tree(app, owner, course_id) == before


async def test_a_lesson_cannot_move_into_a_chapter_deleted_earlier_in_the_save(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, seeded_result = await seeded(app, owner, chapters=2, lessons=1)
    first, second = seeded_result.course.chapters

    with pytest.raises(DomainError) as caught:
        await save(
            app,
            owner,
            course_id,
            2,
            [
                ops.DeleteChapter(chapter_id=second.id),
                ops.MoveLesson(lesson_id=first.lessons[0].id, chapter_id=second.id, position=0),
            ],
        )

    assert caught.value.fields == {"operations.1.chapterId": "chapter was deleted"}


async def test_a_lesson_cannot_move_into_a_chapter_deleted_in_an_earlier_save(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, seeded_result = await seeded(app, owner, chapters=2, lessons=1)
    first, second = seeded_result.course.chapters
    await save(app, owner, course_id, 2, [ops.DeleteChapter(chapter_id=second.id)])

    with pytest.raises(DomainError) as caught:
        await save(
            app, owner, course_id, 3, [ops.MoveLesson(lesson_id=first.lessons[0].id, chapter_id=second.id, position=0)]
        )

    assert caught.value.fields == {"operations.0.chapterId": "chapter was deleted"}


async def test_order_stays_dense_and_stable_after_moves_and_deletes(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, seeded_result = await seeded(app, owner, chapters=4, lessons=4)
    c = seeded_result.course.chapters
    result = await save(
        app,
        owner,
        course_id,
        2,
        [
            ops.DeleteChapter(chapter_id=c[1].id),
            ops.MoveChapter(chapter_id=c[3].id, position=0),  # order now: 3, 0, 2
            ops.DeleteLesson(lesson_id=c[0].lessons[1].id),
            ops.MoveLesson(lesson_id=c[2].lessons[3].id, chapter_id=c[0].id, position=0),
            ops.MoveLesson(lesson_id=c[0].lessons[3].id, chapter_id=c[0].id, position=1),
            ops.AddLesson(chapter_id=c[2].id, title="Inserted", position=1),
            ops.DeleteLesson(lesson_id=c[2].lessons[0].id),
        ],
    )

    expected = [
        ("Chapter 3", ["L3.0", "L3.1", "L3.2", "L3.3"]),
        ("Chapter 0", ["L2.3", "L0.3", "L0.0", "L0.2"]),
        ("Chapter 2", ["Inserted", "L2.1", "L2.2"]),
    ]
    assert shape(result.course) == expected
    reread = await tree(app, owner, course_id)
    assert shape(reread) == expected
    assert_dense(reread)
    assert reread == result.course

    # A second save sees the stored order as it was left.
    again = await save(app, owner, course_id, 3, [ops.MoveChapter(chapter_id=c[2].id, position=0)])
    assert [ch.title for ch in again.course.chapters] == ["Chapter 2", "Chapter 3", "Chapter 0"]
    assert_dense(await tree(app, owner, course_id))


async def test_two_concurrent_saves_from_one_version_exactly_one_wins(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, seeded_result = await seeded(app, owner, chapters=2, lessons=2)
    chapter = seeded_result.course.chapters[0]

    outcomes = await asyncio.gather(
        save(app, owner, course_id, 2, [ops.RenameChapter(chapter_id=chapter.id, title="From tab A")]),
        save(app, owner, course_id, 2, [ops.RenameChapter(chapter_id=chapter.id, title="From tab B")]),
        return_exceptions=True,
    )

    wins = [o for o in outcomes if isinstance(o, SaveResult)]
    conflicts = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(wins) == 1 and len(conflicts) == 1
    conflict = conflicts[0]
    assert conflict.kind is ErrorKind.CONFLICT
    assert conflict.details is not None
    assert conflict.details["currentVersion"] == 3
    current = conflict.details["current"]
    assert current["version"] == 3
    assert current["chapters"][0]["title"] == wins[0].course.chapters[0].title
    assert (await tree(app, owner, course_id)).chapters[0].title == wins[0].course.chapters[0].title


async def test_a_stale_version_is_a_conflict_carrying_the_current_tree(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, seeded_result = await seeded(app, owner, chapters=1, lessons=1)

    with pytest.raises(DomainError) as caught:
        await save(app, owner, course_id, 1, [ops.AddChapter(title="late")])

    assert caught.value.kind is ErrorKind.CONFLICT
    assert caught.value.details == {"currentVersion": 2, "current": seeded_result.course.to_api()}


async def test_a_repeated_idempotency_key_applies_once(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, _ = await seeded(app, owner, chapters=1, lessons=0)
    key = str(uuid.uuid4())
    operations: list[ops.Operation] = [ops.AddChapter(temp_id="t", title="Once")]

    first = await save(app, owner, course_id, 2, operations, key=key)
    events_after_first = await outbox_count(app, course_id)
    second = await save(app, owner, course_id, 2, operations, key=key)

    assert second == first
    edit = await tree(app, owner, course_id)
    assert [c.title for c in edit.chapters] == ["Chapter 0", "Once"]
    assert edit.course.version == 3
    assert await outbox_count(app, course_id) == events_after_first

    with pytest.raises(DomainError) as caught:
        await save(app, owner, course_id, 3, [ops.AddChapter(title="Different")], key=key)
    assert caught.value.code == "idempotency.key_reused"


async def test_a_failed_save_leaves_its_idempotency_key_free(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, _ = await seeded(app, owner, chapters=1, lessons=0)
    key = str(uuid.uuid4())
    with pytest.raises(DomainError):
        await save(app, owner, course_id, 1, [ops.AddChapter(title="stale")], key=key)

    result = await save(app, owner, course_id, 2, [ops.AddChapter(title="stale")], key=key)
    assert result.course.course.version == 3


async def test_a_save_writes_one_event_per_operation_through_the_outbox(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, seeded_result = await seeded(app, owner, chapters=1, lessons=1)
    chapter = seeded_result.course.chapters[0]
    async with app.uow.read_only() as session:
        before = {r.id for r in (await session.execute(select(outbox_events.c.id))).all()}

    await save(
        app,
        owner,
        course_id,
        2,
        [
            ops.RenameChapter(chapter_id=chapter.id, title="Renamed"),
            ops.AddLesson(chapter_id=chapter.id, title="With media", media_id="m-1"),
            ops.SetLessonMedia(lesson_id=chapter.lessons[0].id, media_id="m-2"),
            ops.DeleteChapter(chapter_id=chapter.id),
            ops.UpdateCourse(patch={"title": "New title"}),
        ],
    )

    async with app.uow.read_only() as session:
        rows = (
            await session.execute(
                select(outbox_events.c.id, outbox_events.c.event_type, outbox_events.c.key, outbox_events.c.topic)
                .where(outbox_events.c.key == course_id)
                .order_by(outbox_events.c.id)
            )
        ).all()
    new = [r for r in rows if r.id not in before]
    assert [r.event_type for r in new] == [
        "course.chapter.renamed",
        "course.lesson.added",
        "course.lesson.media_set",
        "course.chapter.removed",
        "course.updated",
    ]
    assert {r.topic for r in new} == {app.settings.course_topic}


async def test_the_editor_role_may_save_but_a_stranger_may_not(app: CourseApp, new_user) -> None:
    owner, editor, stranger = new_user("owner"), new_user("editor"), new_user("stranger")
    course_id, _ = await seeded(app, owner, chapters=1, lessons=0)
    async with app.uow() as session:
        await app.courses.add_editor(session, owner, course_id=course_id, user_id=editor.user_id)

    result = await save(app, editor, course_id, 2, [ops.AddChapter(title="By the editor")])
    assert result.course.course.version == 3

    with pytest.raises(DomainError) as caught:
        await save(app, stranger, course_id, 3, [ops.AddChapter(title="By a stranger")])
    assert caught.value.kind is ErrorKind.NOT_FOUND
    async with app.uow.read_only() as session:
        count = (
            await session.execute(text("SELECT count(*) FROM chapters WHERE course_id = :c"), {"c": course_id})
        ).scalar()
    assert count == 2
