"""Events media applies: uploads make files; course deletions remove links (with audit rows) and a
course restore brings them back; lessons holding media keep lesson links. Records go through the
real consumer's ``process`` (dedup + transaction); one test runs the whole path over Kafka."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from lectern.events.v1 import course_events_pb2, media_events_pb2, upload_events_pb2
from lectern.media.v1 import media_pb2
from lectern_common.events import EVENT_ID_HEADER, EVENT_TYPE_HEADER, build_envelope, decode_event
from lectern_common.testing.videos import make_video
from lectern_media.models import AuditEntry, MediaFile, ProbeJob
from media_testing import BUCKET, course_with, new_user, register, store, token_for
from sqlalchemy import delete, select

LESSON = media_pb2.RESOURCE_TYPE_LESSON
CHAPTER = media_pb2.RESOURCE_TYPE_CHAPTER
COURSE = media_pb2.RESOURCE_TYPE_COURSE


@dataclass
class Record:
    value: bytes
    headers: list
    topic: str = "test"
    partition: int = 0
    offset: int = 0


def record(event_type: str, aggregate_id: str, payload, actor: str = "user-x", event_id: str | None = None) -> Record:
    envelope = build_envelope(
        event_type=event_type,
        aggregate_id=aggregate_id,
        aggregate_version=1,
        actor_id=actor,
        payload=payload,
        event_id=event_id,
    )
    return Record(
        envelope.SerializeToString(),
        [(EVENT_ID_HEADER, envelope.id.encode()), (EVENT_TYPE_HEADER, event_type.encode())],
    )


async def usage(stub, owner, media_id):
    return await stub.GetMediaUsage(media_pb2.GetMediaUsageRequest(media_id=media_id), metadata=token_for(owner))


async def link(stub, owner, media_id, rtype, rid):
    await stub.LinkMedia(
        media_pb2.LinkMediaRequest(media_id=media_id, resource_type=rtype, resource_id=rid), metadata=token_for(owner)
    )


async def test_upload_completed_registers_the_file_once_even_when_the_event_repeats(app, stub):
    owner = new_user()
    op = f"op-{uuid.uuid4().hex}"
    payload = upload_events_pb2.UploadChanged(
        operation_id=op,
        owner_id=owner.user_id,
        status="completed",
        file_name="talk.mp4",
        mime_type="video/mp4",
        size_bytes=42,
        bucket=BUCKET,
        storage_key=f"uploads/{op}",
        checksum="sha256:" + "0" * 64,
    )
    event = record("upload.completed", op, payload)
    assert await app.consumer.process(event) is True
    assert await app.consumer.process(event) is False  # the same event again: skipped
    # A re-delivery under a new event id is still one file (idempotent by upload id).
    assert await app.consumer.process(record("upload.completed", op, payload)) is True
    listed = await stub.ListMedia(media_pb2.ListMediaRequest(), metadata=token_for(owner))
    assert [(m.file_name, m.status) for m in listed.items] == [("talk.mp4", media_pb2.MEDIA_STATUS_PROCESSING)]


async def test_removed_chapter_and_lesson_take_their_links_with_audit_rows(app, stub, course):
    owner = new_user()
    c = course_with(course[0], owner, chapters=2, lessons=1)
    media = await register(app, owner)
    await link(stub, owner, media.id, CHAPTER, c["chapters"][0])
    await link(stub, owner, media.id, LESSON, c["lessons"][0])
    await link(stub, owner, media.id, LESSON, c["lessons"][1])
    await app.consumer.process(
        record(
            "course.chapter.removed",
            c["course"],
            course_events_pb2.ChapterRemoved(
                course_id=c["course"], chapter_id=c["chapters"][0], lesson_ids=[c["lessons"][0]]
            ),
        )
    )
    left = await usage(stub, owner, media.id)
    assert left.count == 1 and [lk.resource_id for lk in left.links] == [c["lessons"][1]]
    await app.consumer.process(
        record(
            "course.lesson.removed",
            c["course"],
            course_events_pb2.LessonRemoved(
                course_id=c["course"], chapter_id=c["chapters"][1], lesson_id=c["lessons"][1]
            ),
        )
    )
    assert (await usage(stub, owner, media.id)).count == 0
    async with app.uow.read_only() as session:
        rows = (
            await session.execute(
                select(AuditEntry.action, AuditEntry.details).where(
                    AuditEntry.media_id == media.id, AuditEntry.action == "unlink"
                )
            )
        ).all()
    assert len(rows) == 3 and all(d["reason"] == "target_deleted" for _, d in rows)


async def test_a_course_delete_removes_its_links_and_a_restore_brings_them_back(app, stub, course):
    owner = new_user()
    c = course_with(course[0], owner, chapters=1, lessons=2)
    other = course_with(course[0], owner)
    a, b = await register(app, owner), await register(app, owner)
    await link(stub, owner, a.id, COURSE, c["course"])
    await link(stub, owner, a.id, LESSON, c["lessons"][0])
    await link(stub, owner, b.id, LESSON, c["lessons"][1])
    await link(stub, owner, b.id, LESSON, other["lessons"][0])
    lifecycle = course_events_pb2.CourseLifecycleChanged(
        course_id=c["course"], owner_id=owner.user_id, chapter_ids=c["chapters"], lesson_ids=c["lessons"]
    )
    await app.consumer.process(record("course.deleted", c["course"], lifecycle))
    assert (await usage(stub, owner, a.id)).count == 0
    assert [lk.resource_id for lk in (await usage(stub, owner, b.id)).links] == [other["lessons"][0]]
    await app.consumer.process(record("course.restored", c["course"], lifecycle))
    assert {lk.resource_id for lk in (await usage(stub, owner, a.id)).links} == {c["course"], c["lessons"][0]}
    b_usage = await usage(stub, owner, b.id)
    assert b_usage.count == 2 and {lk.resource_id for lk in b_usage.links} == {c["lessons"][1], other["lessons"][0]}
    # A second restore finds nothing left to bring back.
    await app.consumer.process(record("course.restored", c["course"], lifecycle))
    assert (await usage(stub, owner, a.id)).count == 2


async def test_lessons_holding_media_keep_a_lesson_link(app, stub):
    owner = new_user()
    first, second = await register(app, owner), await register(app, owner)
    course_id, lesson_id = f"course-{uuid.uuid4().hex[:6]}", f"lesson-{uuid.uuid4().hex[:6]}"
    await app.consumer.process(
        record(
            "course.lesson.added",
            course_id,
            course_events_pb2.LessonChanged(
                course_id=course_id,
                chapter_id="ch",
                lesson_id=lesson_id,
                title="L",
                media_id=first.id,
                owner_id=owner.user_id,
            ),
        )
    )
    assert [(lk.resource_id, lk.course_id) for lk in (await usage(stub, owner, first.id)).links] == [
        (lesson_id, course_id)
    ]
    await app.consumer.process(
        record(
            "course.lesson.media_set",
            course_id,
            course_events_pb2.LessonMediaChanged(
                course_id=course_id, lesson_id=lesson_id, media_id=second.id, previous_media_id=first.id
            ),
        )
    )
    assert (await usage(stub, owner, first.id)).count == 0
    assert (await usage(stub, owner, second.id)).count == 1
    await app.consumer.process(
        record(
            "course.lesson.media_cleared",
            course_id,
            course_events_pb2.LessonMediaChanged(course_id=course_id, lesson_id=lesson_id, previous_media_id=second.id),
        )
    )
    assert (await usage(stub, owner, second.id)).count == 0


async def test_upload_to_ready_event_over_kafka(app, lectern_infra):
    """The whole path: upload.completed on Kafka -> consumer -> file + probe job + outbox -> probe
    worker reads the stored video -> media.file.ready with its duration -> relay -> Kafka."""
    settings = app.settings
    await lectern_infra.create_topics([settings.upload_topic, settings.course_topic, settings.media_topic])
    owner = new_user()
    op = f"op-{uuid.uuid4().hex}"
    video = make_video(seconds=2)
    await store(app).put_object(f"uploads/{op}", video, "video/mp4")
    async with app.uow() as session:
        # The files earlier tests registered are not probed here: the queue holds this one only.
        await session.execute(delete(ProbeJob))
    stop = asyncio.Event()
    parts = (app.consumer.run, app.relay.run, app.probe_worker.run)
    tasks = [asyncio.create_task(part(stop)) for part in parts]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    reader = AIOKafkaConsumer(
        settings.media_topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"reader-{op}",
        auto_offset_reset="earliest",
    )
    await producer.start()
    await reader.start()
    try:
        upload = record(
            "upload.completed",
            op,
            upload_events_pb2.UploadChanged(
                operation_id=op,
                owner_id=owner.user_id,
                status="completed",
                file_name="kafka.mp4",
                mime_type="video/mp4",
                size_bytes=len(video),
                bucket=BUCKET,
                storage_key=f"uploads/{op}",
                checksum="sha256:" + "1" * 64,
                course_id="course-k",
                chapter_id="chapter-k",
            ),
        )
        await producer.send_and_wait(settings.upload_topic, upload.value, key=op.encode(), headers=upload.headers)
        ready = None
        async with asyncio.timeout(30):
            while ready is None:
                batch = await reader.getmany(timeout_ms=500)
                for messages in batch.values():
                    for message in messages:
                        event = decode_event(message.value, tuple(message.headers))
                        if event.type == "media.file.ready":
                            payload = event.unpack(media_events_pb2.MediaFileChanged)
                            if payload.upload_operation_id == op:
                                ready = (message.key.decode(), payload)
        key, payload = ready
        assert key == payload.media_id and payload.chapter_id == "chapter-k" and payload.file_name == "kafka.mp4"
        assert (
            payload.status == "ready" and payload.duration_seconds == 2.0 and list(payload.course_ids) == ["course-k"]
        )
        assert payload.probe.video_codec == "h264" and (payload.probe.width, payload.probe.height) == (160, 120)
        async with app.uow.read_only() as session:
            owner_id = (await session.execute(select(MediaFile.owner_id).where(MediaFile.id == key))).scalar_one()
        assert owner_id == owner.user_id
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await producer.stop()
        await reader.stop()
