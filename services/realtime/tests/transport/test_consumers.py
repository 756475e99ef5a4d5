"""Kafka → WebSocket, through a real broker, with Redis-based dedup of redelivered events."""

from __future__ import annotations

import contextlib
import uuid

from lectern.events.v1 import course_events_pb2, upload_events_pb2
from lectern_common.events import build_envelope
from lectern_common.outbox import KafkaEventProducer


async def consuming_replica(lectern_infra, start_replica):
    """A replica consuming its own fresh upload, media and course topics (and its own group)."""
    run = uuid.uuid4().hex[:8]
    topics = {name: f"test.rt.{run}.{name}" for name in ("upload", "media", "course")}
    await lectern_infra.create_topics(list(topics.values()), partitions=1)
    replica = await start_replica(
        consume_events=True,
        consumer_group=f"realtime-test-{run}",
        upload_topic=topics["upload"],
        media_topic=topics["media"],
        course_topic=topics["course"],
    )
    return replica, topics


async def test_durable_events_become_messages_on_the_right_channels(lectern_infra, start_replica, client, unique):
    a, topics = await consuming_replica(lectern_infra, start_replica)
    user, course = unique("u"), unique("c")
    producer = KafkaEventProducer(lectern_infra.urls.kafka_bootstrap, client_id="realtime-test")
    lesson_added = build_envelope(
        event_type="course.lesson.added",
        aggregate_id=course,
        aggregate_version=3,
        actor_id=user,
        payload=course_events_pb2.LessonChanged(
            course_id=course, chapter_id="ch1", lesson_id="l1", media_id="m1", upload_operation_id="op1"
        ),
    )
    upload_failed = build_envelope(
        event_type="upload.expired",
        aggregate_id="op2",
        aggregate_version=2,
        actor_id=user,
        payload=upload_events_pb2.UploadChanged(operation_id="op2", owner_id=user),
    )
    async with client.socket(a, client.token(user, (course,))) as ws:
        await ws.send(f'{{"type": "subscribe", "channel": "course:{course}"}}')
        assert (await client.recv_json(ws))["type"] == "subscribed"
        try:
            await producer.send_batch(
                [
                    (topics["course"], course, lesson_added.SerializeToString(), []),
                    (topics["upload"], "op2", upload_failed.SerializeToString(), []),
                    (topics["upload"], "op3", b"not an envelope", []),  # skipped, never blocks
                    (topics["course"], course, lesson_added.SerializeToString(), []),  # redelivered
                ]
            )
        finally:
            await producer.stop()
        frames = [await client.recv_json(ws, timeout=20) for _ in range(3)]
        await client.assert_silent(ws, wait=1.0)
    by_type = {f["type"]: f for f in frames}
    assert by_type["upload-complete"] == {
        "seq": 1,
        "type": "upload-complete",
        "channel": f"course:{course}",
        "courseId": course,
        "operationId": "op1",
        "data": {"mediaId": "m1", "lessonId": "l1"},
    }
    assert by_type["invalidate"]["data"] == {"resources": ["videos", "chapters"]}
    assert by_type["invalidate"]["seq"] == 2
    assert by_type["upload-failed"]["channel"] == f"user:{user}"
    assert by_type["upload-failed"]["data"] == {"error": "upload expired", "status": "expired"}
    assert a.realtime.consumer.duplicates == 2 and a.realtime.consumer.skipped == 1


async def test_a_redelivered_event_publishes_nothing_twice(start_replica, client, unique):
    a = await start_replica()
    user, course = unique("u"), unique("c")
    envelope = build_envelope(
        event_type="course.chapter.renamed",
        aggregate_id=course,
        aggregate_version=1,
        actor_id=user,
        payload=course_events_pb2.ChapterChanged(course_id=course, chapter_id="ch1", title="t"),
    )
    consumer, topic = a.realtime.consumer, a.realtime.settings.course_topic
    async with client.socket(a, client.token(user, (course,))) as ws:
        await ws.send(f'{{"type": "subscribe", "channel": "course:{course}"}}')
        await client.recv_json(ws)
        assert await consumer.process(topic, envelope.SerializeToString()) == 1
        assert await consumer.process(topic, envelope.SerializeToString()) == 0
        assert (await client.recv_json(ws))["seq"] == 1
        await client.assert_silent(ws)


async def test_oidc_style_ids_work_and_a_poison_event_is_parked_not_retried(
    lectern_infra, start_replica, client, unique
):
    """Issue 12 item 4: ``auth0|…`` and e-mail subjects reach their sockets (no 1013), and an event
    realtime can never publish is parked in the dead-letter stream while the next one goes on."""
    a, topics = await consuming_replica(lectern_infra, start_replica)
    users = [f"auth0|{uuid.uuid4().hex[:10]}", f"{uuid.uuid4().hex[:6]}@example.com", "google-oauth2|1:2@x"]

    def expired(owner: str, operation: str) -> bytes:
        return build_envelope(
            event_type="upload.expired",
            aggregate_id=operation,
            aggregate_version=2,
            actor_id=owner,
            payload=upload_events_pb2.UploadChanged(operation_id=operation, owner_id=owner),
        ).SerializeToString()

    poison = build_envelope(
        event_type="upload.expired",
        aggregate_id="op-poison",
        aggregate_version=2,
        actor_id="x",
        payload=upload_events_pb2.UploadChanged(operation_id="op-poison", owner_id="line\nbreak"),
    )
    producer = KafkaEventProducer(lectern_infra.urls.kafka_bootstrap, client_id="realtime-test")
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(client.socket(a, client.token(user))) for user in users]
        try:
            await producer.send_batch(
                [
                    (topics["upload"], "op-poison", poison.SerializeToString(), []),
                    *((topics["upload"], f"op-{i}", expired(user, f"op-{i}"), []) for i, user in enumerate(users)),
                ]
            )
        finally:
            await producer.stop()
        for i, (user, ws) in enumerate(zip(users, sockets, strict=True)):
            frame = await client.recv_json(ws, timeout=20)
            assert frame["type"] == "upload-failed" and frame["channel"] == f"user:{user}", frame
            assert frame["operationId"] == f"op-{i}"
    parked = await a.realtime.dead_letters.recent(10)
    assert [entry["event_id"] for entry in parked] == [poison.id]
    assert parked[0]["topic"] == topics["upload"] and parked[0]["error"]
    assert a.realtime.consumer.parked == 1
