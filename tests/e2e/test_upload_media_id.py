"""getUpload and listUploads name the media file an upload became, on the launched stack: the
upload service learns it from media's events (lectern.media.v1), so a client whose WebSocket is
down still finds its file by polling getUpload."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from typing import Any

import pytest
from lectern_common.testing.videos import make_video

from .gateway_client import ActionClient, tus_upload

pytestmark = pytest.mark.timeout(180)

# What media probes must accept: a real video, and a file that starts like a PDF.
VIDEO = make_video(seconds=1, width=640, height=480, noise=True)
PDF = b"%PDF-1.4\n" + os.urandom(1024 * 1024 + 333)


async def _poll_upload(client: ActionClient, operation_id: str, want: set[str], timeout: float = 60) -> dict[str, Any]:
    """getUpload until its status is one of ``want``; fails with the last answer at the deadline."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        upload = await client.ok("getUpload", {"operationId": operation_id})
        if upload["status"] in want:
            return dict(upload)
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"upload {operation_id} never became {want}: {upload}")
        await asyncio.sleep(0.2)


async def test_get_and_list_uploads_name_the_media_id_once_media_made_the_file(lectern_stack: Any) -> None:
    gateway = lectern_stack.urls["gateway"]
    alice = await ActionClient.login(gateway, f"alice-{secrets.token_hex(3)}")
    try:
        course = await alice.ok("createCourse", {"title": "Media ids"})
        saved = await alice.ok(
            "saveCourseChanges",
            {
                "courseId": course["id"],
                "expectedVersion": course["version"],
                "operations": [{"op": "addChapter", "tempId": "c", "title": "One"}],
            },
        )
        chapter = saved["idMap"]["c"]
        into_chapter = await alice.ok(
            "startUpload",
            {
                "fileName": "lecture.mp4",
                "sizeBytes": len(VIDEO),
                "mimeType": "video/mp4",
                "courseId": course["id"],
                "chapterId": chapter,
            },
        )
        no_course = await alice.ok(
            "startUpload", {"fileName": "notes.pdf", "sizeBytes": len(PDF), "mimeType": "application/pdf"}
        )
        before = await alice.ok("getUpload", {"operationId": into_chapter["operationId"]})
        assert before["status"] == "pending" and before["mediaId"] is None and before["offset"] == 0

        for started, payload in ((into_chapter, VIDEO), (no_course, PDF)):
            await asyncio.to_thread(tus_upload, started["uploadUrl"], started["uploadToken"], payload, 512 * 1024)

        done = [await _poll_upload(alice, s["operationId"], {"completed", "failed"}) for s in (into_chapter, no_course)]
        for upload, payload in zip(done, (VIDEO, PDF), strict=True):
            assert upload["status"] == "completed", upload
            assert upload["mediaId"] and upload["error"] is None
            assert upload["offset"] == upload["sizeBytes"] == len(payload)
            media = await alice.ok("getMedia", {"mediaId": upload["mediaId"]})
            assert media["checksum"] == "sha256:" + hashlib.sha256(payload).hexdigest()
            assert media["status"] == "ready"
        assert done[0]["mediaId"] != done[1]["mediaId"]

        # The lesson completion added holds the same media.
        edit = await alice.ok("getCourseEdit", {"courseId": course["id"]})
        lessons = next(c for c in edit["chapters"] if c["id"] == chapter)["lessons"]
        assert [lesson["media"]["id"] for lesson in lessons] == [done[0]["mediaId"]]

        listed = await alice.ok("listUploads", {})
        by_id = {item["operationId"]: item for item in listed["items"]}
        assert by_id[into_chapter["operationId"]]["mediaId"] == done[0]["mediaId"]
        assert by_id[no_course["operationId"]]["mediaId"] == done[1]["mediaId"]
        of_course = await alice.ok("listUploads", {"courseId": course["id"], "status": "completed"})
        assert [(u["operationId"], u["mediaId"]) for u in of_course["items"]] == [
            (into_chapter["operationId"], done[0]["mediaId"])
        ]

        # Another user learns nothing about it.
        bob = await ActionClient.login(gateway, f"bob-{secrets.token_hex(3)}")
        try:
            error = await bob.fails("getUpload", {"operationId": into_chapter["operationId"]})
            assert error["code"] == "NOT_FOUND"
            assert into_chapter["operationId"] not in {
                u["operationId"] for u in (await bob.ok("listUploads", {}))["items"]
            }
        finally:
            await bob.close()
    finally:
        await alice.close()
