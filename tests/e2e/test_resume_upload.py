"""resumeUpload on the launched stack: an upload started on one device is finished from another
with only the operation id (listUploads names it): the URL, a fresh token and the offset come from
the gateway, a stock tus client finishes, and the stored file is the source byte for byte."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from typing import Any

import httpx
import pytest
from lectern_common.testing.videos import make_video
from tusclient import client as tus

from .gateway_client import ActionClient
from .test_upload_media_id import _poll_upload

pytestmark = pytest.mark.timeout(180)

# A real video (media probes what it stores), large enough to stop part-way through.
VIDEO = make_video(seconds=1, width=640, height=480, noise=True)
SIZE = len(VIDEO)
CHUNK = 512 * 1024


def _send(upload_url: str, token: str, payload: bytes, stop_at: int | None = None) -> int:
    import io

    uploader = tus.TusClient(upload_url, headers={"Authorization": f"Bearer {token}"}).uploader(
        file_stream=io.BytesIO(payload), url=upload_url, chunk_size=CHUNK, retries=2, retry_delay=1
    )
    uploader.upload(stop_at=stop_at)
    return int(uploader.offset)


async def test_an_upload_started_on_one_device_is_finished_from_another(lectern_stack: Any) -> None:
    gateway = lectern_stack.urls["gateway"]
    user = f"carol-{secrets.token_hex(3)}"
    laptop = await ActionClient.login(gateway, user)
    office = await ActionClient.login(gateway, user)  # a second login: another device, another token
    try:
        payload = VIDEO
        started = await laptop.ok("startUpload", {"fileName": "talk.mp4", "sizeBytes": SIZE, "mimeType": "video/mp4"})
        sent = await asyncio.to_thread(_send, started["uploadUrl"], started["uploadToken"], payload, 1024 * 1024)
        assert 0 < sent < SIZE

        # The office PC knows only what listUploads tells it.
        listed = await office.ok("listUploads", {"status": "uploading"})
        mine = [u for u in listed["items"] if u["operationId"] == started["operationId"]]
        assert mine and mine[0]["offset"] == sent
        resumed = await office.ok("resumeUpload", {"operationId": started["operationId"]})
        assert set(resumed) == {
            "operationId",
            "uploadUrl",
            "uploadToken",
            "offset",
            "sizeBytes",
            "expiresAt",
            "chunkSizeBytes",
        }
        assert resumed["operationId"] == started["operationId"]
        assert resumed["uploadUrl"] == started["uploadUrl"]
        assert resumed["offset"] == sent and resumed["sizeBytes"] == SIZE
        assert resumed["expiresAt"] == started["expiresAt"]

        async with httpx.AsyncClient() as http:
            head = await http.head(
                resumed["uploadUrl"],
                headers={"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {resumed['uploadToken']}"},
            )
        assert head.status_code == 200 and int(head.headers["upload-offset"]) == sent

        finished = await asyncio.to_thread(_send, resumed["uploadUrl"], resumed["uploadToken"], payload)
        assert finished == SIZE
        upload = await _poll_upload(office, started["operationId"], {"completed", "failed"})
        assert upload["status"] == "completed" and upload["mediaId"]
        media = await office.ok("getMedia", {"mediaId": upload["mediaId"]})
        assert media["checksum"] == "sha256:" + hashlib.sha256(payload).hexdigest()

        # Nothing is left to resume once it is stored.
        error = await office.fails("resumeUpload", {"operationId": started["operationId"]})
        assert error["code"] == "CONFLICT" and error["details"]["status"] == "completed", error
    finally:
        await laptop.close()
        await office.close()


async def test_resume_upload_refuses_others_unknown_cancelled_and_anonymous(lectern_stack: Any) -> None:
    gateway = lectern_stack.urls["gateway"]
    owner = await ActionClient.login(gateway, f"dan-{secrets.token_hex(3)}")
    other = await ActionClient.login(gateway, f"eve-{secrets.token_hex(3)}")
    anonymous = ActionClient(gateway)
    try:
        started = await owner.ok("startUpload", {"fileName": "a.mp4", "sizeBytes": 10, "mimeType": "video/mp4"})
        operation_id = started["operationId"]
        assert (await other.fails("resumeUpload", {"operationId": operation_id}))["code"] == "NOT_FOUND"
        assert (await owner.fails("resumeUpload", {"operationId": secrets.token_hex(16)}))["code"] == "NOT_FOUND"
        assert (await anonymous.fails("resumeUpload", {"operationId": operation_id}))["code"] == "UNAUTHENTICATED"
        bad = await owner.fails("resumeUpload", {})
        assert bad["code"] == "VALIDATION_FAILED" and "operationId" in bad["fields"]

        await owner.ok("cancelUpload", {"operationId": operation_id})
        error = await owner.fails("resumeUpload", {"operationId": operation_id})
        assert error["code"] == "CONFLICT" and error["details"]["status"] == "cancelled", error
    finally:
        await owner.close()
        await other.close()
        await anonymous.close()
