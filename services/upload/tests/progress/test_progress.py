"""Progress reaches realtime (throttled, always the last value) and an outage of realtime
costs the upload nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from lectern_upload.settings import MIB
from lectern_upload.uploads.schemas import NewUpload
from upload_testing import TUS, Running, random_file, tus_upload


async def test_progress_is_throttled_and_upload_survives_realtime_going_down(running: Running, tmp_path: Path) -> None:
    size = 40 * MIB
    path, sha = random_file(tmp_path, size)
    created = await running.app.service.create(
        "u-progress", NewUpload(file_name="a.mp4", size_bytes=size, mime_type="video/mp4", course_id="course-9")
    )
    realtime = running.realtime
    realtime.received.clear()

    half = 20 * MIB
    await asyncio.to_thread(tus_upload, created.upload_url, created.upload_token, path, 5 * MIB, stop_at=half)
    await asyncio.sleep(0.3)  # the last message is sent in the background
    messages = [m for _, m in realtime.received if m["message"]["operationId"] == created.upload.id]
    assert messages, "no progress reached realtime"
    assert all(m["channel"] == "course:course-9" for m in messages)
    assert realtime.auth[-1] == "Bearer test-publish-token"
    last = messages[-1]["message"]
    assert last == {
        "type": "upload-progress",
        "courseId": "course-9",
        "operationId": created.upload.id,
        "data": {"progress": 50.0, "bytes": half, "total": size},
    }
    times = [t for t, m in realtime.received if m["message"]["operationId"] == created.upload.id]
    span = max(times[-1] - times[0], 0.001)
    assert (len(times) - 1) / span <= 15, "more than ~10 messages a second"

    await realtime.close()  # realtime goes down mid-upload
    offset = await asyncio.to_thread(tus_upload, created.upload_url, created.upload_token, path, 5 * MIB)
    assert offset == size
    view = await running.app.service.get("u-progress", created.upload.id)
    assert view.status == "processing" and view.checksum == f"sha256:{sha}"
    await realtime.start()  # for later tests of this module


async def test_progress_without_course_goes_to_the_owner_channel(running: Running) -> None:
    created = await running.app.service.create(
        "u-solo", NewUpload(file_name="a.pdf", size_bytes=100, mime_type="application/pdf")
    )
    async with httpx.AsyncClient() as http:
        await http.patch(
            created.upload_url,
            content=b"x" * 100,
            headers={
                **TUS,
                "Authorization": f"Bearer {created.upload_token}",
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": "0",
            },
        )
    await asyncio.sleep(0.3)
    mine = [m for _, m in running.realtime.received if m["message"]["operationId"] == created.upload.id]
    assert mine and mine[-1]["channel"] == "user:u-solo"
    assert mine[-1]["message"]["courseId"] is None and mine[-1]["message"]["data"]["progress"] == 100.0
