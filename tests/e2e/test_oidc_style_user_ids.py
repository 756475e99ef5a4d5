"""Issue 12 item 4 on the launched stack: user ids as OIDC providers issue them (``auth0|…``,
e-mail addresses, ids with ``:``) work on every plane: gateway actions, course, upload (tus),
media's consumer, realtime's consumer and the WebSocket, with no 1013 close."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import pytest
import websockets
from lectern_common.testing.videos import video_of_size

from .gateway_client import ActionClient, tus_upload

pytestmark = pytest.mark.timeout(240)

PAYLOAD_BYTES = 300 * 1024


async def _until_message(ws: Any, predicate: Any, timeout: float) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if predicate(message):
                return message


@pytest.mark.parametrize(
    "user_id",
    [f"auth0|{secrets.token_hex(6)}", f"{secrets.token_hex(4)}.x+tag@example.com", f"urn:idp:{secrets.token_hex(4)}"],
    ids=["auth0-pipe", "email", "colons"],
)
async def test_an_oidc_style_user_id_works_on_every_plane(lectern_stack: Any, user_id: str) -> None:
    gateway = lectern_stack.urls["gateway"]
    user = await ActionClient.login(gateway, user_id)
    try:
        course = await user.ok("createCourse", {"title": "Ids of every shape"})
        listed = await user.ok("listMyCourses", {})
        assert course["id"] in {c["id"] for c in listed["items"]}
        saved = await user.ok(
            "saveCourseChanges",
            {
                "courseId": course["id"],
                "expectedVersion": course["version"],
                "operations": [{"op": "addChapter", "tempId": "ch", "title": "One"}],
            },
        )
        chapter = saved["idMap"]["ch"]

        realtime = await user.ok("getRealtimeToken", {"courseIds": [course["id"]]})
        async with websockets.connect(f"{realtime['url']}?token={realtime['token']}", open_timeout=10) as ws:
            subscribed = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert subscribed == {**subscribed, "type": "subscribed", "channel": f"user:{user_id}"}
            await ws.send(json.dumps({"type": "subscribe", "channel": f"course:{course['id']}"}))
            await _until_message(ws, lambda m: m.get("type") == "subscribed", 10)

            started = await user.ok(
                "startUpload",
                {
                    "fileName": "clip.mp4",
                    "sizeBytes": PAYLOAD_BYTES,
                    "mimeType": "video/mp4",
                    "courseId": course["id"],
                    "chapterId": chapter,
                },
            )
            await asyncio.to_thread(
                tus_upload, started["uploadUrl"], started["uploadToken"], video_of_size(PAYLOAD_BYTES), PAYLOAD_BYTES
            )
            complete = await _until_message(
                ws,
                lambda m: m.get("type") == "upload-complete" and m.get("operationId") == started["operationId"],
                90,
            )
            assert complete["channel"] == f"course:{course['id']}"

        # Media registered the file for this owner and course added the lesson (their consumers
        # took the events for this owner id; neither parked them).
        media = await user.ok("getMedia", {"mediaId": complete["data"]["mediaId"]})
        assert media["id"] == complete["data"]["mediaId"]
        for _ in range(100):
            edit = await user.ok("getCourseEdit", {"courseId": course["id"]})
            lessons = next(c for c in edit["chapters"] if c["id"] == chapter)["lessons"]
            if lessons:
                break
            await asyncio.sleep(0.3)
        assert [lesson["media"]["id"] for lesson in lessons] == [media["id"]]
    finally:
        await user.close()
