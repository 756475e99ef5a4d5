"""Helpers for e2e tests that need media: polling for a state, and uploading a real video."""

from __future__ import annotations

import asyncio
import io
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from lectern_common.testing.videos import make_video
from tusclient import client as tus

from .gateway_client import ActionClient


async def until(probe: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    """Poll ``probe`` until it answers something truthy, or fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.3)


async def upload_bytes(
    client: ActionClient, payload: bytes, *, file_name: str, mime_type: str = "video/mp4", **target: str
) -> dict[str, Any]:
    """startUpload (with ``courseId``/``chapterId``/``lessonTitle`` when given) and send the bytes
    with tuspy; answers startUpload's data."""
    started = await client.ok(
        "startUpload", {"fileName": file_name, "sizeBytes": len(payload), "mimeType": mime_type, **target}
    )
    uploader = tus.TusClient(started["uploadUrl"], headers={"Authorization": f"Bearer {started['uploadToken']}"})
    await asyncio.to_thread(
        uploader.uploader(
            file_stream=io.BytesIO(payload), url=started["uploadUrl"], chunk_size=max(len(payload), 1)
        ).upload
    )
    return dict(started)


async def media_named(client: ActionClient, file_name: str, timeout: float = 60) -> dict[str, Any]:
    """The caller's media file called ``file_name``, once media has registered it."""

    async def find() -> dict[str, Any] | None:
        listed = await client.ok("listMedia", {"query": file_name})
        return next((item for item in listed["items"] if item["fileName"] == file_name), None)

    return dict(await until(find, timeout, f"media to register {file_name}"))


async def upload_video(client: ActionClient) -> str:
    """Upload a real small video (no course) and answer its media id once media registered it."""
    file_name = f"intro-{secrets.token_hex(4)}.mp4"
    await upload_bytes(client, make_video(seconds=1), file_name=file_name)
    return str((await media_named(client, file_name))["id"])
