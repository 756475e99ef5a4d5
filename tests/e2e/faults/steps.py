"""What the fault tests do again and again, through the public doors only (gateway actions, tus)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from lectern_common.testing.videos import video_of_size
from tusclient import client as tus

from ..gateway_client import ActionClient

T = TypeVar("T")


def source_bytes(size: int, seed: int) -> bytes:
    """Reproducible file content (the seed is in the test, so a failure can be replayed): a real
    video padded to ``size`` (media probes what it stores and fails what is not a video)."""
    return video_of_size(size, seed=seed)


def tus_send(upload_url: str, token: str, payload: bytes, *, chunk: int, retries: int = 0) -> int:
    """tuspy, the stock Python tus client: HEAD for the offset, then PATCH chunks; with
    ``retries`` it HEADs again and resumes after a failed PATCH. Answers the final offset."""
    uploader = tus.TusClient(upload_url, headers={"Authorization": f"Bearer {token}"}).uploader(
        file_stream=io.BytesIO(payload), url=upload_url, chunk_size=chunk, retries=retries, retry_delay=0
    )
    uploader.upload()
    return int(uploader.offset)


async def until(probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = 90) -> T:
    """Poll ``probe`` until it answers something other than None; fail naming ``what``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value is not None:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def finished_upload(client: ActionClient, operation_id: str, timeout: float = 90) -> dict[str, Any]:
    """getUpload until the upload is completed or failed (what a client without a WebSocket does)."""

    async def probe() -> dict[str, Any] | None:
        upload = await client.ok("getUpload", {"operationId": operation_id})
        return dict(upload) if upload["status"] in ("completed", "failed") else None

    return await until(probe, f"upload {operation_id} to finish", timeout)


async def ready_media(client: ActionClient, payload: bytes, **target: str) -> str:
    """Upload ``payload`` as a video through startUpload + tus and answer its media id."""
    started = await client.ok(
        "startUpload", {"fileName": "clip.mp4", "sizeBytes": len(payload), "mimeType": "video/mp4", **target}
    )
    await asyncio.to_thread(tus_send, started["uploadUrl"], started["uploadToken"], payload, chunk=1024 * 1024)
    upload = await finished_upload(client, started["operationId"])
    assert upload["status"] == "completed" and upload["mediaId"], upload
    return str(upload["mediaId"])
