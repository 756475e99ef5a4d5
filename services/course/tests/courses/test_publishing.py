"""Publishing against real PostgreSQL: versions, roles, idempotency, events, the media-ready
rule, the published filter, and the delete protection of a published course."""

from __future__ import annotations

import uuid

import pytest
from lectern.events.v1 import course_events_pb2 as ev
from lectern_common.errors import DomainError, ErrorKind
from lectern_common.events import decode_event
from lectern_common.identity import Identity
from lectern_common.plumbing_tables import outbox_events
from lectern_course.bootstrap import CourseApp
from lectern_course.editing import schemas as ops
from lectern_course.media_summaries.service import MediaFileFacts
from sqlalchemy import func, select


async def course_with_lessons(
    app: CourseApp, owner: Identity, media: dict[str, str | None]
) -> tuple[str, dict[str, str]]:
    """A course with one chapter and a lesson per entry of ``media`` (title -> media id or None)."""
    async with app.uow() as session:
        course = await app.courses.create_course(session, owner, title="Course", description="")
    operations: list[ops.Operation] = [ops.AddChapter(temp_id="ch", title="Chapter")]
    operations += [
        ops.AddLesson(chapter_id="ch", temp_id=title, title=title, media_id=media_id)
        for title, media_id in media.items()
    ]
    async with app.uow() as session:
        saved = await app.editing.save_changes(
            session, owner, course_id=course.id, expected_version=course.version, operations=operations
        )
    return course.id, saved.id_map


async def media_file(app: CourseApp, owner: Identity, status: str) -> str:
    media_id = str(uuid.uuid4())
    async with app.uow() as session:
        await app.media_summaries.record_file(
            session,
            MediaFileFacts(
                media_id=media_id,
                owner_id=owner.user_id,
                file_name="talk.mp4",
                status=status,
                duration_seconds=None,
                size_bytes=10,
                version=1,
            ),
        )
    return media_id


async def version_of(app: CourseApp, owner: Identity, course_id: str) -> int:
    async with app.uow.read_only() as session:
        return (await app.courses.get_course_edit(session, owner, course_id)).course.version


async def publish(app: CourseApp, who: Identity, course_id: str, version: int, key: str = ""):
    async with app.uow() as session:
        return await app.courses.publish_course(
            session, who, course_id=course_id, expected_version=version, idempotency_key=key
        )


async def unpublish(app: CourseApp, who: Identity, course_id: str, version: int):
    async with app.uow() as session:
        return await app.courses.unpublish_course(session, who, course_id=course_id, expected_version=version)


async def events_of(app: CourseApp, course_id: str, event_type: str) -> list[ev.CoursePublicationChanged]:
    async with app.uow.read_only() as session:
        values = (
            await session.execute(
                select(outbox_events.c.value)
                .where(outbox_events.c.key == course_id, outbox_events.c.event_type == event_type)
                .order_by(outbox_events.c.id)
            )
        ).scalars()
        return [decode_event(value).unpack(ev.CoursePublicationChanged) for value in values]


async def test_publish_sets_published_and_published_at_bumps_the_version_and_emits(app: CourseApp, new_user) -> None:
    owner = new_user()
    ready = await media_file(app, owner, "ready")
    course_id, _ = await course_with_lessons(app, owner, {"one": ready, "two": None})
    version = await version_of(app, owner, course_id)

    course = await publish(app, owner, course_id, version)

    assert course.published is True and course.published_at is not None
    assert course.version == version + 1
    assert course.to_api()["published"] is True and course.to_api()["publishedAt"].endswith("Z")
    (published,) = await events_of(app, course_id, "course.published")
    assert published.published is True and published.version == course.version
    assert published.published_at.ToDatetime().year == course.published_at.year

    course = await unpublish(app, owner, course_id, course.version)
    assert course.published is False and course.published_at is None
    (unpublished,) = await events_of(app, course_id, "course.unpublished")
    assert unpublished.published is False and unpublished.version == course.version


async def test_publishing_twice_changes_nothing_and_emits_once(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, _ = await course_with_lessons(app, owner, {})
    first = await publish(app, owner, course_id, 2)

    # Even at the version the first publish started from (a retry without a key): no conflict.
    again = await publish(app, owner, course_id, 2)

    assert again.version == first.version and again.published_at == first.published_at
    assert len(await events_of(app, course_id, "course.published")) == 1
    still = await unpublish(app, owner, course_id, first.version)
    assert (await unpublish(app, owner, course_id, first.version)).version == still.version
    assert len(await events_of(app, course_id, "course.unpublished")) == 1


async def test_an_idempotency_key_replays_the_first_publish(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, _ = await course_with_lessons(app, owner, {})
    first = await publish(app, owner, course_id, 2, key="k-publish-1")
    await unpublish(app, owner, course_id, first.version)

    replayed = await publish(app, owner, course_id, 2, key="k-publish-1")

    assert replayed == first
    assert (await version_of(app, owner, course_id)) == first.version + 1  # the replay changed nothing


async def test_a_stale_version_is_a_conflict_with_the_current_course(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, _ = await course_with_lessons(app, owner, {})

    with pytest.raises(DomainError) as caught:
        await publish(app, owner, course_id, 1)

    assert caught.value.kind is ErrorKind.CONFLICT and caught.value.code == "course.version_conflict"
    assert caught.value.details["currentVersion"] == 2
    assert caught.value.details["current"]["published"] is False


async def test_an_editor_may_publish_and_a_stranger_gets_not_found(app: CourseApp, new_user) -> None:
    owner, editor, stranger = new_user("owner"), new_user("editor"), new_user("stranger")
    course_id, _ = await course_with_lessons(app, owner, {})
    async with app.uow() as session:
        await app.courses.add_editor(session, owner, course_id=course_id, user_id=editor.user_id)

    with pytest.raises(DomainError) as caught:
        await publish(app, stranger, course_id, 2)
    assert caught.value.kind is ErrorKind.NOT_FOUND

    course = await publish(app, editor, course_id, 2)
    assert course.published is True and course.role == "editor"
    assert (await unpublish(app, editor, course_id, course.version)).published is False


async def test_publishing_is_refused_while_a_lesson_holds_media_that_is_not_ready(app: CourseApp, new_user) -> None:
    owner = new_user()
    ready = await media_file(app, owner, "ready")
    processing = await media_file(app, owner, "processing")
    failed = await media_file(app, owner, "failed")
    unknown = str(uuid.uuid4())  # course has not heard of it yet
    course_id, ids = await course_with_lessons(
        app, owner, {"ok": ready, "wait": processing, "broken": failed, "new": unknown, "text": None}
    )
    version = await version_of(app, owner, course_id)

    with pytest.raises(DomainError) as caught:
        await publish(app, owner, course_id, version)

    error = caught.value
    assert error.kind is ErrorKind.CONFLICT and error.code == "course.media_not_ready"
    named = {lesson["lessonId"]: lesson for lesson in error.details["lessons"]}
    assert set(named) == {ids["wait"], ids["broken"], ids["new"]}
    assert named[ids["wait"]]["status"] == "processing" and named[ids["wait"]]["mediaId"] == processing
    assert named[ids["broken"]]["status"] == "failed" and named[ids["broken"]]["title"] == "broken"
    assert named[ids["new"]]["status"] == "unknown"
    assert error.details["lessonCount"] == 3 and error.details["truncated"] is False
    assert (await version_of(app, owner, course_id)) == version  # nothing changed
    assert await events_of(app, course_id, "course.published") == []


async def test_list_my_courses_filters_by_publish_state(app: CourseApp, new_user) -> None:
    owner = new_user()
    draft, _ = await course_with_lessons(app, owner, {})
    live, _ = await course_with_lessons(app, owner, {})
    await publish(app, owner, live, 2)

    async def listed(published: bool | None) -> list[str]:
        async with app.uow.read_only() as session:
            page = await app.courses.list_my_courses(
                session, owner, include_deleted=False, cursor="", limit=0, published=published
            )
        return [item.course.id for item in page.items]

    assert await listed(True) == [live]
    assert await listed(False) == [draft]
    assert set(await listed(None)) == {draft, live}


async def test_a_published_course_is_deleted_only_with_force_which_unpublishes_it(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, _ = await course_with_lessons(app, owner, {})
    published = await publish(app, owner, course_id, 2)

    with pytest.raises(DomainError) as caught:
        async with app.uow() as session:
            await app.courses.delete_course(session, owner, course_id=course_id)
    assert caught.value.kind is ErrorKind.CONFLICT and caught.value.code == "course.published"
    assert caught.value.details == {"currentVersion": published.version, "published": True}
    assert (await version_of(app, owner, course_id)) == published.version

    async with app.uow() as session:
        deleted = await app.courses.delete_course(session, owner, course_id=course_id, force=True)
    assert deleted.deleted_at is not None and deleted.published is False and deleted.published_at is None
    async with app.uow.read_only() as session:
        types = (
            (
                await session.execute(
                    select(outbox_events.c.event_type)
                    .where(
                        outbox_events.c.key == course_id,
                        outbox_events.c.event_type.in_(["course.unpublished", "course.deleted"]),
                    )
                    .order_by(outbox_events.c.id)
                )
            )
            .scalars()
            .all()
        )
        assert list(types) == ["course.unpublished", "course.deleted"]
        assert (await session.execute(select(func.count()).select_from(outbox_events))).scalar_one() > 0

    async with app.uow() as session:
        restored = await app.courses.restore_course(session, owner, course_id=course_id)
    assert restored.published is False  # a restore never republishes unasked
