"""Real resources on the launched stack, made through the public doors only (actions and tus)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from lectern_common.testing.videos import video_of_size

from ..gateway_client import ActionClient, tus_upload
from .waiting import until


async def login(gateway: str, name: str) -> ActionClient:
    """A new user (a fresh id, so no test sees another's data) with a dev token."""
    return await ActionClient.login(gateway, f"{name}-{secrets.token_hex(4)}")


@dataclass(frozen=True)
class CourseTree:
    course_id: str
    version: int
    chapter_id: str
    lesson_id: str


async def course_with_a_lesson(client: ActionClient, title: str = "Course") -> CourseTree:
    course = await client.ok("createCourse", {"title": title})
    saved = await client.ok(
        "saveCourseChanges",
        {
            "courseId": course["id"],
            "expectedVersion": course["version"],
            "operations": [
                {"op": "addChapter", "tempId": "ch", "title": "Chapter one"},
                {"op": "addLesson", "chapterId": "ch", "tempId": "le", "title": "Lesson one"},
            ],
        },
    )
    return CourseTree(course["id"], saved["course"]["version"], saved["idMap"]["ch"], saved["idMap"]["le"])


TUS = {"Tus-Resumable": "1.0.0"}


async def tus_patch(upload_url: str, token: str | None, offset: int, body: bytes) -> httpx.Response:
    """One tus PATCH, by hand (to see each answer)."""
    headers = {**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.patch(upload_url, content=body, headers=headers)


async def start_upload(client: ActionClient, size: int, **target: Any) -> dict[str, Any]:
    body = {"fileName": f"clip-{secrets.token_hex(4)}.mp4", "sizeBytes": size, "mimeType": "video/mp4", **target}
    started = await client.ok("startUpload", body)
    return {**started, "fileName": body["fileName"]}


async def find_media(client: ActionClient, file_name: str) -> dict[str, Any] | None:
    listed = await client.ok("listMedia", {"query": file_name, "includeDeleted": True})
    return next((m for m in listed["items"] if m["fileName"] == file_name), None)


@dataclass(frozen=True)
class UploadedMedia:
    media: dict[str, Any]
    operation_id: str
    payload_sha256: str

    @property
    def media_id(self) -> str:
        return str(self.media["id"])


async def uploaded_media(client: ActionClient, size: int = 96 * 1024, **target: Any) -> UploadedMedia:
    """Upload a video of ``size`` bytes with tus and wait until media has registered the file."""
    started = await start_upload(client, size, **target)
    payload = video_of_size(size)
    await asyncio.to_thread(tus_upload, started["uploadUrl"], started["uploadToken"], payload)

    async def registered() -> dict[str, Any] | None:
        return await find_media(client, started["fileName"])

    media = await until(registered, what=f"media to register {started['fileName']}")
    return UploadedMedia(media, started["operationId"], "sha256:" + hashlib.sha256(payload).hexdigest())
