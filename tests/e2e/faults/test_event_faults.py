"""Durable facts under faults, on the fault stack: realtime and the Kafka broker stopped (SIGSTOP)
while users work, media restarted while its consumer is in the middle of a batch. Writes keep
succeeding, every event arrives once the process runs again, and nothing is applied twice."""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
from typing import Any

import asyncpg
import pytest
import websockets
from aiokafka import AIOKafkaConsumer, TopicPartition
from lectern_common.events import COURSE_TOPIC, decode_event

from ..gateway_client import ActionClient
from .conftest import FaultStack
from .steps import finished_upload, ready_media, source_bytes, tus_send, until

pytestmark = pytest.mark.timeout(300)

MIB = 1024 * 1024


async def course_with_chapters(client: ActionClient, chapters: int, media_id: str | None = None) -> dict[str, Any]:
    """A course with ``chapters`` chapters, each holding one lesson of ``media_id`` (a lesson link)."""
    course = await client.ok("createCourse", {"title": f"Faults {secrets.token_hex(2)}"})
    operations: list[dict[str, Any]] = []
    for n in range(chapters):
        operations.append({"op": "addChapter", "tempId": f"c{n}", "title": f"Chapter {n}"})
        if media_id is not None:
            operations.append({"op": "addLesson", "chapterId": f"c{n}", "title": f"Lesson {n}", "mediaId": media_id})
    saved = await client.ok(
        "saveCourseChanges", {"courseId": course["id"], "expectedVersion": course["version"], "operations": operations}
    )
    return {
        "id": course["id"],
        "version": saved["course"]["version"],
        "chapters": [saved["idMap"][f"c{n}"] for n in range(chapters)],
    }


async def usage_count(client: ActionClient, media_id: str) -> int:
    usage = await client.ok("getMediaUsage", {"mediaId": media_id})
    assert usage["count"] == len(usage["links"]), usage
    return int(usage["count"])


async def usage_becomes(client: ActionClient, media_id: str, count: int, timeout: float = 120) -> None:
    async def probe() -> bool | None:
        return True if await usage_count(client, media_id) == count else None

    await until(probe, f"media {media_id} to be used {count} times", timeout)


async def audit_counts(stack: FaultStack, media_id: str) -> dict[str, int]:
    rows = await stack.sql(
        "media", "SELECT action, count(*) FROM media_audit WHERE media_id = $1 GROUP BY action", media_id
    )
    return {row[0]: row[1] for row in rows}


async def course_events(stack: FaultStack, course_id: str) -> list[Any]:
    """Every record of the course's topic keyed by ``course_id``, read from the broker itself."""
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.state.infra["kafka_bootstrap"], enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # fetches the cluster's metadata
        partitions = [TopicPartition(COURSE_TOPIC, p) for p in consumer.partitions_for_topic(COURSE_TOPIC) or ()]
        assert partitions, "no partitions for the course topic"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        events = []

        async def behind() -> bool:
            return any([await consumer.position(tp) < end for tp, end in ends.items()])

        while await behind():
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    if record.key == course_id.encode():
                        events.append(decode_event(record.value, tuple(record.headers or ())))
        return events
    finally:
        await consumer.stop()


async def channel_replay(url: str, token: str, channel: str, since: int | None) -> tuple[dict[str, Any], list[Any]]:
    """Subscribe (with ``since``) on a new socket: answers ``subscribed`` and the messages replayed before it."""
    async with websockets.connect(f"{url}?token={token}", open_timeout=10) as socket:
        request: dict[str, Any] = {"type": "subscribe", "channel": channel}
        if since is not None:
            request["since"] = since
        await socket.send(json.dumps(request))
        replayed = []
        async with asyncio.timeout(20):
            async for frame in socket:
                message = json.loads(frame)
                if message.get("channel") != channel:
                    continue
                if message["type"] == "subscribed":
                    return message, replayed
                replayed.append(message)
    raise AssertionError(f"socket closed before {channel} was subscribed")


async def test_realtime_stopped_during_an_upload(stack: FaultStack) -> None:
    alice = await ActionClient.login(stack.gateway, f"rt-{secrets.token_hex(3)}")
    try:
        course = await alice.ok("createCourse", {"title": "Realtime away"})
        channel = f"course:{course['id']}"
        realtime = await alice.ok("getRealtimeToken", {"courseIds": [course["id"]]})
        before, _ = await channel_replay(realtime["url"], realtime["token"], channel, None)
        seen = int(before["seq"])

        payload = source_bytes(3 * MIB + 5, secrets.randbits(32))
        with stack.stopped("realtime"):
            started = await alice.ok(
                "startUpload",
                {"fileName": "talk.mp4", "sizeBytes": len(payload), "mimeType": "video/mp4", "courseId": course["id"]},
            )
            # Progress posts to the stopped realtime time out; the upload never waits for them.
            await asyncio.to_thread(tus_send, started["uploadUrl"], started["uploadToken"], payload, chunk=MIB)
            upload = await finished_upload(alice, started["operationId"])
            assert upload["status"] == "completed" and upload["mediaId"], upload

        # Back: realtime reads media.file.ready from Kafka and publishes upload-complete; a
        # reconnect with `since` replays what the channel's history holds after it.
        async def recovered() -> tuple[dict[str, Any], list[Any]] | None:
            subscribed, replayed = await channel_replay(realtime["url"], realtime["token"], channel, seen)
            done = [m for m in replayed if m["type"] == "upload-complete"]
            return (subscribed, replayed) if done else None

        subscribed, replayed = await until(recovered, "upload-complete in the channel's history", 120)
        assert subscribed["recovered"] is True and subscribed["replayed"] == len(replayed)
        assert [m["seq"] for m in replayed] == list(range(seen + 1, seen + 1 + len(replayed)))
        assert subscribed["seq"] == replayed[-1]["seq"]
        complete = [m for m in replayed if m["type"] == "upload-complete"]
        assert [(m["operationId"], m["data"]["mediaId"]) for m in complete] == [
            (started["operationId"], upload["mediaId"])
        ]
    finally:
        await alice.close()


async def test_broker_stopped_while_chapters_holding_media_are_deleted(stack: FaultStack) -> None:
    alice = await ActionClient.login(stack.gateway, f"kafka-{secrets.token_hex(3)}")
    try:
        media_id = await ready_media(alice, source_bytes(MIB + 3, secrets.randbits(32)))
        course = await course_with_chapters(alice, 3, media_id)
        # Each chapter holds the file twice: its lesson's link (from course.lesson.added) and a
        # link to the chapter itself.
        for chapter in course["chapters"]:
            await alice.ok("linkMedia", {"mediaId": media_id, "resourceType": "chapter", "resourceId": chapter})
        await usage_becomes(alice, media_id, 6)

        version = course["version"]
        with stack.stopped("kafka"):
            for chapter in course["chapters"]:
                saved = await alice.ok(
                    "saveCourseChanges",
                    {
                        "courseId": course["id"],
                        "expectedVersion": version,
                        "operations": [{"op": "deleteChapter", "chapterId": chapter}],
                    },
                )
                version = saved["course"]["version"]
            assert saved["course"]["chapters"] == []
            # Nothing can have reached media yet: the facts wait in course's outbox.
            assert await usage_count(alice, media_id) == 6
            pending = await stack.sql(
                "course",
                "SELECT count(*) FROM outbox_events WHERE key = $1 AND event_type = 'course.chapter.removed'",
                course["id"],
            )
            assert pending[0][0] == 3

        await usage_becomes(alice, media_id, 0)

        async def outbox_drained() -> bool | None:
            rows = await stack.sql("course", "SELECT count(*) FROM outbox_events WHERE key = $1", course["id"])
            return True if rows[0][0] == 0 else None

        await until(outbox_drained, "course's outbox to drain")
        removed = [e for e in await course_events(stack, course["id"]) if e.type == "course.chapter.removed"]
        # The relay delivers at least once; every fact is there, each with its own id.
        assert len({e.id for e in removed}) == 3 and len(removed) >= 3
        # Applied once each: six links made, six removed, the count never went below zero.
        assert await audit_counts(stack, media_id) == {"register": 1, "probe": 1, "link": 6, "unlink": 6}
        assert await parked(stack, "media") == []
    finally:
        await alice.close()


async def parked(stack: FaultStack, service: str) -> list[Any]:
    return await stack.sql(service, "SELECT topic, event_type, error FROM parked_events")


async def test_media_killed_mid_batch_loses_and_repeats_nothing(stack: FaultStack) -> None:
    """SIGKILL, not SIGTERM: the batch's offsets were never committed, so the restarted consumer
    is handed again the events the dead one had applied, and must skip them."""
    lessons = 150
    alice = await ActionClient.login(stack.gateway, f"batch-{secrets.token_hex(3)}")
    db = stack.state.services["media"].database_url
    assert db is not None
    watch = await asyncpg.connect(db.replace("postgresql+asyncpg://", "postgresql://"), timeout=10)
    try:
        media_id = await ready_media(alice, source_bytes(MIB + 11, secrets.randbits(32)))
        course = await course_with_chapters(alice, 1)
        # Media stopped while the save commits, so its consumer finds all of the events waiting.
        with stack.stopped("media"):
            await alice.ok(
                "saveCourseChanges",
                {
                    "courseId": course["id"],
                    "expectedVersion": course["version"],
                    "operations": [
                        {"op": "addLesson", "chapterId": course["chapters"][0], "title": f"L{n}", "mediaId": media_id}
                        for n in range(lessons)
                    ],
                },
            )
            await asyncio.sleep(1)  # the relay publishes them meanwhile (nothing asserts on it)

        # Strike while the consumer is part way through them.
        deadline = asyncio.get_running_loop().time() + 60
        linked = 0
        while not 0 < linked < lessons:
            linked = await watch.fetchval("SELECT count(*) FROM media_links WHERE media_id = $1", media_id)
            assert linked < lessons, "the consumer applied every event before the test could strike"
            assert asyncio.get_running_loop().time() < deadline, "the consumer never started"
            await asyncio.sleep(0.005)
        await stack.kill_and_wait_restarted("media", signal.SIGKILL)

        await usage_becomes(alice, media_id, lessons)
        assert await audit_counts(stack, media_id) == {"register": 1, "probe": 1, "link": lessons}
        distinct = await watch.fetchval(
            "SELECT count(DISTINCT resource_id) FROM media_links WHERE media_id = $1 AND resource_type = 'lesson'",
            media_id,
        )
        assert distinct == lessons
        assert await parked(stack, "media") == []
    finally:
        await watch.close()
        await alice.close()
