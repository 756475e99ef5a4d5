"""Upload actions on the launched stack: start, follow, list and cancel real tus uploads."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import uuid
from typing import Any

import httpx
import pytest
from lectern_common.testing.videos import video_of_size

from ..gateway_client import ActionClient
from .shapes import STARTED_UPLOAD_KEYS, UPLOAD_KEYS, Shapes, has_keys
from .waiting import until
from .world import TUS, course_with_a_lesson, find_media, start_upload, tus_patch, tus_upload

pytestmark = pytest.mark.timeout(180)


async def _patch(upload: dict[str, Any], offset: int, body: bytes) -> httpx.Response:
    return await tus_patch(upload["uploadUrl"], upload["uploadToken"], offset, body)


async def test_start_upload_answers_a_tus_url_and_a_scoped_token(
    alice: ActionClient, shapes: Shapes, lectern_stack: Any
) -> None:
    tree = await course_with_a_lesson(alice)

    started = await alice.ok(
        "startUpload",
        {
            "fileName": "talk.mp4",
            "sizeBytes": 4096,
            "mimeType": "video/mp4",
            "courseId": tree.course_id,
            "chapterId": tree.chapter_id,
            "lessonTitle": "The talk",
        },
    )

    shapes.check("startUpload", started)
    has_keys(started, STARTED_UPLOAD_KEYS, "startUpload data")
    assert started["uploadUrl"].startswith(lectern_stack.urls["tus"])
    assert started["chunkSizeBytes"] > 0
    async with httpx.AsyncClient(timeout=30) as http:
        head = await http.head(
            started["uploadUrl"], headers={**TUS, "Authorization": f"Bearer {started['uploadToken']}"}
        )
    assert head.status_code == 200 and head.headers["Upload-Offset"] == "0" and head.headers["Upload-Length"] == "4096"


async def test_start_upload_refuses_what_it_documents(alice: ActionClient, mallory: ActionClient) -> None:
    base = {"fileName": "a.mp4", "sizeBytes": 1000, "mimeType": "video/mp4"}
    tree = await course_with_a_lesson(alice)

    chapter_alone = await alice.raw("startUpload", {**base, "chapterId": tree.chapter_id})
    assert chapter_alone.status_code == 422 and chapter_alone.json()["error"]["code"] == "VALIDATION_FAILED"
    too_large = await alice.raw("startUpload", {**base, "sizeBytes": 2**50})
    assert too_large.status_code == 413 and too_large.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    wrong_type = await alice.raw("startUpload", {**base, "mimeType": "text/x-shellscript"})
    assert wrong_type.status_code == 415 and wrong_type.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    unknown_course = await alice.fails("startUpload", {**base, "courseId": str(uuid.uuid4())})
    assert unknown_course["code"] == "NOT_FOUND"
    others_chapter = await mallory.fails(
        "startUpload", {**base, "courseId": tree.course_id, "chapterId": tree.chapter_id}
    )
    assert others_chapter["code"] in {"NOT_FOUND", "FORBIDDEN"}


async def test_start_upload_past_the_concurrent_upload_limit_is_quota_exceeded(alice: ActionClient) -> None:
    started = []
    refused: dict[str, Any] | None = None
    for _ in range(40):  # the default limit is 10 uploads in progress per user
        response = await alice.raw("startUpload", {"fileName": "q.mp4", "sizeBytes": 1000, "mimeType": "video/mp4"})
        envelope = response.json()
        if not envelope["success"]:
            refused = envelope["error"]
            assert response.status_code == 403
            break
        started.append(envelope["data"]["operationId"])
    assert refused is not None and refused["code"] == "QUOTA_EXCEEDED", refused
    await alice.ok("cancelUpload", {"operationId": started[0]})
    await alice.ok("startUpload", {"fileName": "q.mp4", "sizeBytes": 1000, "mimeType": "video/mp4"})


async def test_get_upload_follows_the_upload_to_completed(alice: ActionClient, shapes: Shapes) -> None:
    upload = await start_upload(alice, 3000)

    pending = await alice.ok("getUpload", {"operationId": upload["operationId"]})
    shapes.check("getUpload", pending)
    has_keys(pending, UPLOAD_KEYS, "Upload")
    assert (pending["status"], pending["offset"], pending["sizeBytes"]) == ("pending", 0, 3000)

    video = video_of_size(3000)  # media probes the stored file: it must be a real video
    assert (await _patch(upload, 0, video[:1000])).status_code == 204
    partial = await alice.ok("getUpload", {"operationId": upload["operationId"]})
    assert (partial["status"], partial["offset"]) == ("uploading", 1000)

    assert (await _patch(upload, 1000, video[1000:])).status_code == 204

    async def finished() -> dict[str, Any] | None:
        current = await alice.ok("getUpload", {"operationId": upload["operationId"]})
        return current if current["status"] == "completed" else None

    done = await until(finished, what="getUpload to say completed")
    assert done["offset"] == 3000 and done["error"] is None
    media = await find_media(alice, upload["fileName"])
    assert media is not None and done["mediaId"] == media["id"]
    listed = await alice.ok("listUploads", {"status": "completed"})
    assert [(u["operationId"], u["mediaId"]) for u in listed["items"]] == [(upload["operationId"], media["id"])]


async def test_get_upload_of_an_unknown_operation_is_not_found(alice: ActionClient) -> None:
    assert (await alice.fails("getUpload", {"operationId": str(uuid.uuid4())}))["code"] == "NOT_FOUND"


async def test_list_uploads_filters_by_course_and_status(alice: ActionClient, shapes: Shapes) -> None:
    tree = await course_with_a_lesson(alice)
    in_course = await start_upload(alice, 1000, courseId=tree.course_id)
    loose = await start_upload(alice, 1000)
    await alice.ok("cancelUpload", {"operationId": loose["operationId"]})

    everything = await alice.ok("listUploads", {})
    shapes.check("listUploads", everything)
    for item in everything["items"]:
        has_keys(item, UPLOAD_KEYS, "Upload")
    assert {u["operationId"] for u in everything["items"]} == {in_course["operationId"], loose["operationId"]}
    by_course = await alice.ok("listUploads", {"courseId": tree.course_id})
    assert [u["operationId"] for u in by_course["items"]] == [in_course["operationId"]]
    cancelled = await alice.ok("listUploads", {"status": "cancelled"})
    assert [u["operationId"] for u in cancelled["items"]] == [loose["operationId"]]
    assert (await alice.fails("listUploads", {"status": "lost"}))["code"] == "VALIDATION_FAILED"


async def test_cancel_upload_ends_it_on_the_tus_plane_too(alice: ActionClient, shapes: Shapes) -> None:
    upload = await start_upload(alice, 4000)
    assert (await _patch(upload, 0, os.urandom(1000))).status_code == 204

    cancelled = await alice.ok("cancelUpload", {"operationId": upload["operationId"]})

    shapes.check("cancelUpload", cancelled)
    assert cancelled == {"operationId": upload["operationId"], "status": "cancelled"}
    assert (await alice.ok("cancelUpload", {"operationId": upload["operationId"]}))["status"] == "cancelled"
    assert (await _patch(upload, 1000, b"more")).status_code == 410
    assert (await alice.ok("getUpload", {"operationId": upload["operationId"]}))["status"] == "cancelled"


async def test_cancel_of_a_completed_upload_is_a_conflict(alice: ActionClient) -> None:
    upload = await start_upload(alice, 2048)
    await asyncio.to_thread(tus_upload, upload["uploadUrl"], upload["uploadToken"], video_of_size(2048))

    error = await alice.fails("cancelUpload", {"operationId": upload["operationId"]})

    assert error["code"] == "CONFLICT"
    assert (await alice.fails("cancelUpload", {"operationId": str(uuid.uuid4())}))["code"] == "NOT_FOUND"


async def test_tus_errors_answer_json_with_their_tus_status(alice: ActionClient) -> None:
    upload = await start_upload(alice, 100)
    url, token = upload["uploadUrl"], upload["uploadToken"]
    wrong_digest = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()
    octets = "application/offset+octet-stream"

    async with httpx.AsyncClient(timeout=30) as http:

        async def patch(offset: int, body: bytes, **headers: str) -> httpx.Response:
            sent = {**TUS, "Authorization": f"Bearer {token}", "Content-Type": octets, "Upload-Offset": str(offset)}
            return await http.patch(url, content=body, headers={**sent, **headers})

        answers = {
            "offset mismatch": (await patch(7, b"x"), 409, "upload.offset_mismatch"),
            "no Tus-Resumable": (await patch(0, b"x", **{"Tus-Resumable": ""}), 412, "upload.tus_version_unsupported"),
            "content type": (await patch(0, b"x", **{"Content-Type": "text/plain"}), 415, "upload.bad_content_type"),
            "checksum": (await patch(0, b"x", **{"Upload-Checksum": f"sha256 {wrong_digest}"}), 460, None),
            "past the length": (await patch(0, b"x" * 101), 413, "upload.exceeds_length"),
        }
        for label, (response, status, code) in answers.items():
            assert response.status_code == status, (label, response.status_code, response.text)
            error = response.json()["error"]
            assert set(error) >= {"code", "kind", "message"}, (label, error)
            assert code is None or error["code"] == code, (label, error)
        assert answers["offset mismatch"][0].json()["error"]["details"]["currentOffset"] == 0
        assert answers["checksum"][0].json()["error"]["code"] == "upload.checksum_mismatch"
        head = await http.head(url, headers={**TUS, "Authorization": f"Bearer {token}"})
        assert head.headers["Upload-Offset"] == "0", "a refused PATCH kept bytes"
        await alice.ok("cancelUpload", {"operationId": upload["operationId"]})
        gone = await patch(0, b"x")
        assert gone.status_code == 410 and gone.json()["error"]["code"] in {"upload.gone", "upload.expired"}
