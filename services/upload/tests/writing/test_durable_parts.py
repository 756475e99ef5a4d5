"""A part S3 acknowledged is recorded while its PATCH is still open, even when the client pauses
right after it: HEAD (and so a resume after a crash) names it without waiting for the next part
or the end of the body. Before, parts were settled only when the next one needed room, so a
client that stalled after sending a part lost it on a crash."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator

import httpx
from upload_testing import PART, TUS, Running, precreate


async def test_a_stored_part_is_committed_while_the_client_pauses(running: Running) -> None:
    payload = os.urandom(2 * PART + 4321)
    created = await precreate(running, len(payload))
    resume = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        # One whole part and a little more, then nothing until the test has seen the part.
        first = PART + 1000
        for start in range(0, first, 256 * 1024):
            yield payload[start : min(first, start + 256 * 1024)]
        await resume.wait()
        for start in range(first, len(payload), 256 * 1024):
            yield payload[start : start + 256 * 1024]

    auth = {**TUS, "Authorization": f"Bearer {created.upload_token}"}
    async with httpx.AsyncClient(timeout=60) as http:
        patch = asyncio.create_task(
            http.patch(
                created.upload_url,
                content=body(),
                headers={
                    **auth,
                    "Upload-Offset": "0",
                    "Content-Type": "application/offset+octet-stream",
                    "Content-Length": str(len(payload)),
                },
            )
        )
        try:
            deadline = asyncio.get_running_loop().time() + 30
            while True:
                rows = await running.sql(
                    'SELECT "offset", jsonb_array_length(parts) FROM uploads WHERE id = :id', id=created.upload.id
                )
                if rows[0] == (PART, 1):
                    break
                assert asyncio.get_running_loop().time() < deadline, f"part never committed: {rows}"
                await asyncio.sleep(0.1)
            assert not patch.done()  # still the same PATCH, paused by its client
        finally:
            resume.set()
        answer = await patch
    assert answer.status_code == 204 and int(answer.headers["upload-offset"]) == len(payload)
    view = await running.app.service.get("u-tus", created.upload.id)
    assert view.checksum == "sha256:" + hashlib.sha256(payload).hexdigest()
    assert await running.stored_sha256(view.storage_key) == hashlib.sha256(payload).hexdigest()
