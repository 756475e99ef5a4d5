"""Media probing through the gateway on the launched stack: a real video becomes ready with its
duration, size and codecs; random and truncated bytes uploaded as video/mp4 become failed with a
reason the author can read. Both reach getUpload and the course channel (media-ready,
media-failed)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from typing import Any

import pytest
import websockets
from lectern_common.testing.videos import make_video

from .gateway_client import ActionClient
from .media_files import until, upload_bytes

pytestmark = pytest.mark.timeout(240)


async def _watch(url: str, token: str, course_id: str, inbox: list[dict[str, Any]], subscribed: asyncio.Event) -> None:
    async with websockets.connect(f"{url}?token={token}", open_timeout=10) as socket:
        await socket.send(json.dumps({"type": "subscribe", "channel": f"course:{course_id}"}))
        async for frame in socket:
            message = json.loads(frame)
            inbox.append(message)
            if message.get("type") == "subscribed" and message.get("channel") == f"course:{course_id}":
                subscribed.set()


async def test_probing_verdicts_reach_get_upload_get_media_and_the_course_channel(lectern_stack: Any) -> None:
    gateway = lectern_stack.urls["gateway"]
    alice = await ActionClient.login(gateway, f"alice-{secrets.token_hex(3)}")
    watcher: asyncio.Task[None] | None = None
    try:
        course = await alice.ok("createCourse", {"title": "Probed"})
        saved = await alice.ok(
            "saveCourseChanges",
            {
                "courseId": course["id"],
                "expectedVersion": course["version"],
                "operations": [{"op": "addChapter", "tempId": "c", "title": "One"}],
            },
        )
        chapter = saved["idMap"]["c"]
        realtime = await alice.ok("getRealtimeToken", {"courseIds": [course["id"]]})
        inbox: list[dict[str, Any]] = []
        subscribed = asyncio.Event()
        watcher = asyncio.create_task(_watch(realtime["url"], realtime["token"], course["id"], inbox, subscribed))
        await asyncio.wait_for(subscribed.wait(), 15)

        video = make_video(seconds=3, width=320, height=240)
        files = {
            "good": video,
            "random": os.urandom(300_000),
            "truncated": video[: len(video) // 2],
        }
        started = {
            name: await upload_bytes(
                alice,
                body,
                file_name=f"{name}.mp4",
                courseId=course["id"],
                chapterId=chapter,
                lessonTitle=f"Lesson {name}",
            )
            for name, body in files.items()
        }

        async def settled() -> dict[str, dict[str, Any]] | None:
            uploads = {
                name: await alice.ok("getUpload", {"operationId": item["operationId"]})
                for name, item in started.items()
            }
            return uploads if all(u["status"] in ("completed", "failed") for u in uploads.values()) else None

        uploads = await until(settled, 90, "every upload to be completed or failed")

        good = uploads["good"]
        assert good["status"] == "completed" and good["mediaId"] and good["error"] is None
        media = await alice.ok("getMedia", {"mediaId": good["mediaId"]})
        assert media["status"] == "ready" and media["error"] is None
        assert media["durationSeconds"] == pytest.approx(3.0, abs=0.1)
        assert media["probe"]["container"] == "mov,mp4,m4a,3gp,3g2,mj2"
        assert (media["probe"]["width"], media["probe"]["height"]) == (320, 240)
        assert (media["probe"]["videoCodec"], media["probe"]["audioCodec"]) == ("h264", "aac")

        for name in ("random", "truncated"):
            failed = uploads[name]
            assert failed["status"] == "failed", failed
            assert "is not a video that can be read" in failed["error"], failed
            media = await alice.ok("getMedia", {"mediaId": failed["mediaId"]})
            assert media["status"] == "failed" and media["error"] == failed["error"] and media["probe"] is None
        assert (await alice.ok("listMedia", {"status": "failed"}))["items"]

        def of_type(kind: str) -> dict[str, dict[str, Any]]:
            return {m["data"]["mediaId"]: m for m in inbox if m.get("type") == kind}

        await until(
            lambda: asyncio.sleep(0, len(of_type("media-ready")) >= 1 and len(of_type("media-failed")) >= 2),
            30,
            "media-ready and media-failed on the course channel",
        )
        ready = of_type("media-ready")[good["mediaId"]]
        assert ready["channel"] == f"course:{course['id']}" and ready["courseId"] == course["id"]
        assert ready["data"]["durationSeconds"] == pytest.approx(3.0, abs=0.1)
        for name in ("random", "truncated"):
            message = of_type("media-failed")[uploads[name]["mediaId"]]
            assert message["channel"] == f"course:{course['id']}"
            assert message["data"]["error"] == uploads[name]["error"]

        # Only the file that is what it claims became a lesson of the chapter.
        async def lessons() -> list[dict[str, Any]] | None:
            edit = await alice.ok("getCourseEdit", {"courseId": course["id"]})
            found = next(c for c in edit["chapters"] if c["id"] == chapter)["lessons"]
            return found or None

        found = await until(lessons, 30, "the good upload's lesson")
        assert [(lesson["title"], lesson["media"]["id"]) for lesson in found] == [("Lesson good", good["mediaId"])]
        assert found[0]["media"]["durationSeconds"] == pytest.approx(3.0, abs=0.1)
    finally:
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        await alice.close()
