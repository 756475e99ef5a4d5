"""The seed's user flow, through the gateway only, on the real stack (every service, launcher-run).

create course -> edit -> add chapters -> upload two videos with tuspy into a chapter while a
WebSocket client watches -> upload-progress rises to 100 and upload-complete arrives with the
media id -> getCourseEdit shows the lessons with their media -> save a reorder -> conflict on a
stale version -> soft delete and restore.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import pytest
import websockets
from lectern_common.testing.videos import make_video

from .gateway_client import ActionClient, tus_upload

pytestmark = pytest.mark.timeout(240)

# Real videos (media probes what it stores), a few MiB each so progress rises over several chunks.
VIDEOS = [make_video(seconds=1, width=640, height=480, noise=True) for _ in range(2)]
CHUNK = 512 * 1024


async def _watch(url: str, token: str, course_id: str, inbox: list[dict[str, Any]], subscribed: asyncio.Event) -> None:
    async with websockets.connect(f"{url}?token={token}", open_timeout=10) as socket:
        await socket.send(json.dumps({"type": "subscribe", "channel": f"course:{course_id}"}))
        async for frame in socket:
            message = json.loads(frame)
            inbox.append(message)
            if message.get("type") == "subscribed" and message.get("channel") == f"course:{course_id}":
                subscribed.set()


async def _until(predicate: Any, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def test_course_editing_flow_through_the_gateway(lectern_stack: Any) -> None:
    gateway = lectern_stack.urls["gateway"]
    alice = await ActionClient.login(gateway, f"alice-{secrets.token_hex(3)}")
    watcher: asyncio.Task[None] | None = None
    try:
        # Create and edit.
        course = await alice.ok("createCourse", {"title": "Rust for the curious", "description": "draft"})
        assert course["version"] >= 1 and course["deletedAt"] is None
        course = await alice.ok(
            "updateCourse",
            {"courseId": course["id"], "expectedVersion": course["version"], "patch": {"description": "v1"}},
        )
        assert course["description"] == "v1"

        # Add chapters in one save; temp ids come back mapped.
        saved = await alice.ok(
            "saveCourseChanges",
            {
                "courseId": course["id"],
                "expectedVersion": course["version"],
                "operations": [
                    {"op": "addChapter", "tempId": "intro", "title": "Intro"},
                    {"op": "addChapter", "tempId": "basics", "title": "Basics"},
                ],
            },
        )
        intro, basics = saved["idMap"]["intro"], saved["idMap"]["basics"]
        assert [c["title"] for c in saved["course"]["chapters"]] == ["Intro", "Basics"]

        # A WebSocket client watches the course.
        realtime = await alice.ok("getRealtimeToken", {"courseIds": [course["id"]]})
        inbox: list[dict[str, Any]] = []
        subscribed = asyncio.Event()
        watcher = asyncio.create_task(_watch(realtime["url"], realtime["token"], course["id"], inbox, subscribed))
        await asyncio.wait_for(subscribed.wait(), 15)

        # Two uploads into the Intro chapter, sent with tuspy.
        started = [
            await alice.ok(
                "startUpload",
                {
                    "fileName": f"video-{n}.mp4",
                    "sizeBytes": len(VIDEOS[n - 1]),
                    "mimeType": "video/mp4",
                    "courseId": course["id"],
                    "chapterId": intro,
                    "lessonTitle": f"Lesson {n}",
                },
            )
            for n in (1, 2)
        ]
        tus_base = lectern_stack.urls["tus"]
        assert all(item["uploadUrl"].startswith(tus_base) for item in started)
        await asyncio.gather(
            *(
                asyncio.to_thread(tus_upload, item["uploadUrl"], item["uploadToken"], video, CHUNK)
                for item, video in zip(started, VIDEOS, strict=True)
            )
        )

        operations = {item["operationId"] for item in started}

        def completed() -> dict[str, str]:
            return {
                m["operationId"]: m["data"]["mediaId"]
                for m in inbox
                if m.get("type") == "upload-complete" and m.get("operationId") in operations
            }

        await _until(lambda: len(completed()) == 2, 90, "upload-complete for both uploads")
        for operation in operations:
            progress = [
                m["data"]["progress"]
                for m in inbox
                if m.get("type") == "upload-progress" and m.get("operationId") == operation
            ]
            assert progress, f"no upload-progress for {operation}"
            assert progress == sorted(progress), progress
            assert progress[-1] == 100
        media_ids = set(completed().values())
        assert all(media_ids)

        # The editor view shows both lessons with their media.
        async def intro_lessons() -> list[dict[str, Any]]:
            edit = await alice.ok("getCourseEdit", {"courseId": course["id"]})
            return next(c for c in edit["chapters"] if c["id"] == intro)["lessons"]

        lessons: list[dict[str, Any]] = []
        for _ in range(100):
            lessons = await intro_lessons()
            if len(lessons) == 2 and all(lesson["media"] for lesson in lessons):
                break
            await asyncio.sleep(0.3)
        assert {lesson["media"]["id"] for lesson in lessons} == media_ids
        assert {lesson["title"] for lesson in lessons} == {"Lesson 1", "Lesson 2"}

        # Save a reorder; a stale version is a conflict with the current state.
        edit = await alice.ok("getCourseEdit", {"courseId": course["id"]})
        stale = edit["version"]
        reordered = await alice.ok(
            "saveCourseChanges",
            {
                "courseId": course["id"],
                "expectedVersion": stale,
                "operations": [{"op": "moveChapter", "chapterId": basics, "position": 0}],
            },
        )
        assert [c["id"] for c in reordered["course"]["chapters"]] == [basics, intro]
        assert reordered["course"]["version"] > stale
        conflict = await alice.fails(
            "saveCourseChanges",
            {
                "courseId": course["id"],
                "expectedVersion": stale,
                "operations": [{"op": "renameChapter", "chapterId": intro, "title": "Late"}],
            },
        )
        assert conflict["code"] == "CONFLICT"
        assert conflict["details"]["currentVersion"] == reordered["course"]["version"]

        # Soft delete and restore.
        deleted = await alice.ok("deleteCourse", {"courseId": course["id"]})
        assert deleted["deletedAt"] is not None
        listed = await alice.ok("listMyCourses", {})
        assert course["id"] not in {item["id"] for item in listed["items"]}
        restored = await alice.ok("restoreCourse", {"courseId": course["id"]})
        assert restored["deletedAt"] is None
        edit = await alice.ok("getCourseEdit", {"courseId": course["id"]})
        assert [c["id"] for c in edit["chapters"]] == [basics, intro]
    finally:
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        await alice.close()
