"""lectern.media.v1 -> course: the media read model and lessons added by finished uploads."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from lectern.events.v1 import course_events_pb2 as ev
from lectern.events.v1 import media_events_pb2 as media_ev
from lectern_common.events import EVENT_ID_HEADER, EVENT_TYPE_HEADER, build_envelope, decode_event
from lectern_common.identity import Identity
from lectern_course.bootstrap import CourseApp
from lectern_course.courses.schemas import CourseEditView
from lectern_course.editing import schemas as ops


def media_record(event_type: str, payload, *, media_id: str, offset: int = 0) -> SimpleNamespace:
    envelope = build_envelope(
        event_type=event_type, aggregate_id=media_id, aggregate_version=1, actor_id="system:media", payload=payload
    )
    headers = [(EVENT_ID_HEADER, envelope.id.encode()), (EVENT_TYPE_HEADER, event_type.encode())]
    return SimpleNamespace(
        value=envelope.SerializeToString(), headers=headers, topic="lectern.media.v1", partition=0, offset=offset
    )


async def course_with_chapter(app: CourseApp, owner: Identity) -> tuple[str, str]:
    async with app.uow() as session:
        course = await app.courses.create_course(session, owner, title="Uploads", description="")
        result = await app.editing.save_changes(
            session,
            owner,
            course_id=course.id,
            expected_version=1,
            operations=[ops.AddChapter(temp_id="c", title="Videos")],
        )
    return course.id, result.id_map["c"]


async def tree(app: CourseApp, owner: Identity, course_id: str) -> CourseEditView:
    async with app.uow.read_only() as session:
        return await app.courses.get_course_edit(session, owner, course_id)


def ready_event(owner: Identity, course_id: str, chapter_id: str, operation_id: str, media_id: str):
    return media_ev.MediaFileChanged(
        media_id=media_id,
        owner_id=owner.user_id,
        file_name="talk.mp4",
        status="ready",
        size_bytes=2048,
        duration_seconds=12.0,
        upload_operation_id=operation_id,
        course_id=course_id,
        chapter_id=chapter_id,
        lesson_title="My talk",
        version=2,
    )


async def test_media_file_ready_adds_the_lesson_once_per_upload(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, chapter_id = await course_with_chapter(app, owner)
    operation_id, media_id = f"op-{uuid.uuid4()}", f"m-{uuid.uuid4()}"
    payload = ready_event(owner, course_id, chapter_id, operation_id, media_id)
    record = media_record("media.file.ready", payload, media_id=media_id)

    assert await app.consumer.process(record) is True
    assert await app.consumer.process(record) is False  # the same event again: skipped by event id
    # A replay under a new event id (say, media re-emitting) still adds nothing: the operation id.
    assert await app.consumer.process(media_record("media.file.ready", payload, media_id=media_id)) is True

    edit = await tree(app, owner, course_id)
    lessons = edit.chapters[0].lessons
    assert [(lesson.title, lesson.media_id) for lesson in lessons] == [("My talk", media_id)]
    assert lessons[0].media is not None and lessons[0].media.file_name == "talk.mp4"
    assert edit.course.version == 3


async def test_a_ready_file_for_a_deleted_chapter_adds_nothing(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, chapter_id = await course_with_chapter(app, owner)
    async with app.uow() as session:
        await app.editing.save_changes(
            session,
            owner,
            course_id=course_id,
            expected_version=2,
            operations=[ops.DeleteChapter(chapter_id=chapter_id)],
        )
    media_id = f"m-{uuid.uuid4()}"
    payload = ready_event(owner, course_id, chapter_id, f"op-{uuid.uuid4()}", media_id)
    assert await app.consumer.process(media_record("media.file.ready", payload, media_id=media_id)) is True
    edit = await tree(app, owner, course_id)
    assert edit.chapters == [] and edit.course.version == 3


async def test_completion_checks_again_that_the_uploader_may_edit_the_course(app: CourseApp, new_user) -> None:
    """The second ownership check of issue 12 item 5: a finished upload naming someone else's
    course, or a chapter of another course, adds no lesson there."""
    owner, intruder = new_user(), new_user()
    course_id, chapter_id = await course_with_chapter(app, owner)
    other_course, other_chapter = await course_with_chapter(app, intruder)
    for uploader, target_course, target_chapter in (
        (intruder, course_id, chapter_id),  # someone else's course
        (owner, course_id, other_chapter),  # a chapter that is not in this course
    ):
        media_id = f"m-{uuid.uuid4()}"
        payload = ready_event(uploader, target_course, target_chapter, f"op-{uuid.uuid4()}", media_id)
        assert await app.consumer.process(media_record("media.file.ready", payload, media_id=media_id)) is True
    edit = await tree(app, owner, course_id)
    assert edit.chapters[0].lessons == [] and edit.course.version == 2
    assert (await tree(app, intruder, other_course)).chapters[0].lessons == []


async def test_a_deleted_media_file_leaves_the_tree_with_media_null(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, chapter_id = await course_with_chapter(app, owner)
    media_id = f"m-{uuid.uuid4()}"
    payload = ready_event(owner, course_id, chapter_id, f"op-{uuid.uuid4()}", media_id)
    await app.consumer.process(media_record("media.file.ready", payload, media_id=media_id))
    lifecycle = media_ev.MediaFileLifecycleChanged(media_id=media_id, owner_id=owner.user_id, version=3)

    await app.consumer.process(media_record("media.file.soft_deleted", lifecycle, media_id=media_id))
    hidden = (await tree(app, owner, course_id)).chapters[0].lessons[0]
    await app.consumer.process(
        media_record(
            "media.file.restored", media_ev.MediaFileLifecycleChanged(media_id=media_id, version=4), media_id=media_id
        )
    )
    shown = (await tree(app, owner, course_id)).chapters[0].lessons[0]

    assert hidden.media_id == media_id and hidden.media is None
    assert shown.media is not None and shown.media.id == media_id


async def test_an_older_media_event_does_not_overwrite_a_newer_summary(app: CourseApp, new_user) -> None:
    owner = new_user()
    course_id, chapter_id = await course_with_chapter(app, owner)
    media_id = f"m-{uuid.uuid4()}"
    ready = ready_event(owner, course_id, chapter_id, f"op-{uuid.uuid4()}", media_id)
    registered = media_ev.MediaFileChanged(
        media_id=media_id, owner_id=owner.user_id, file_name="talk.mp4", status="processing", version=1
    )
    await app.consumer.process(media_record("media.file.ready", ready, media_id=media_id))
    await app.consumer.process(media_record("media.file.registered", registered, media_id=media_id))

    lesson = (await tree(app, owner, course_id)).chapters[0].lessons[0]
    assert lesson.media is not None and lesson.media.status == "ready"


async def test_through_kafka_an_upload_becomes_a_lesson_and_its_event_is_relayed(
    app: CourseApp, lectern_infra, new_user
) -> None:
    """The whole path on the real broker: media topic -> consumer -> lesson + outbox -> relay -> course topic."""
    settings = app.settings
    await lectern_infra.create_topics([settings.media_topic, settings.course_topic], partitions=1)
    owner = new_user()
    course_id, chapter_id = await course_with_chapter(app, owner)
    operation_id, media_id = f"op-{uuid.uuid4()}", f"m-{uuid.uuid4()}"
    record = media_record(
        "media.file.ready", ready_event(owner, course_id, chapter_id, operation_id, media_id), media_id=media_id
    )

    stop = asyncio.Event()
    parts = [asyncio.create_task(app.consumer.run(stop)), asyncio.create_task(app.relay.run(stop))]
    reader = AIOKafkaConsumer(
        settings.course_topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"test-reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    await reader.start()
    try:
        await producer.send_and_wait(settings.media_topic, record.value, key=media_id.encode(), headers=record.headers)
        added: ev.LessonChanged | None = None
        async with asyncio.timeout(30):
            while added is None:
                batch = await reader.getmany(timeout_ms=500)
                for message in (m for messages in batch.values() for m in messages):
                    event = decode_event(message.value, tuple(message.headers))
                    if event.type == "course.lesson.added" and event.aggregate_id == course_id:
                        candidate = event.unpack(ev.LessonChanged)
                        if candidate.upload_operation_id == operation_id:
                            added = candidate
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*parts), timeout=15)
        await reader.stop()
        await producer.stop()

    assert added.media_id == media_id and added.chapter_id == chapter_id and added.title == "My talk"
    edit = await tree(app, owner, course_id)
    assert [lesson.id for lesson in edit.chapters[0].lessons] == [added.lesson_id]
