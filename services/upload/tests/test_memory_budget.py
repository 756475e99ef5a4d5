"""Bytes in transit stay within the service's part buffer budget however many uploads run at once:
a PATCH that finds the budget spent waits, then ends with a retryable 503 keeping what it sent;
a client that stalls gives its buffer back after the idle timeout. Real service, S3 and PG."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from lectern_upload.settings import MIB
from lectern_upload.uploads.schemas import NewUpload
from tusclient import client as tus_client

from .conftest import PART, Running, random_file

# Two part buffers for the whole service: two stalled clients spend it.
SETTINGS_OVERRIDES = {
    "part_buffer_budget_bytes": 2 * PART,
    "part_buffer_wait_seconds": 1.0,
    "body_idle_timeout_seconds": 6.0,
}
SIZE = 2 * PART + 3 * MIB
TUS = {"Tus-Resumable": "1.0.0"}


async def precreate(running: Running, owner: str) -> Any:
    return await running.app.service.create(
        owner, NewUpload(file_name="lecture.mp4", size_bytes=SIZE, mime_type="video/mp4", course_id="c-budget")
    )


async def open_patch(running: Running, created: Any, body: bytes, *, length: int) -> asyncio.StreamReader:
    """A PATCH on a raw socket that announces ``length`` bytes and sends ``body``, then stalls
    (the caller keeps the connection open or closes it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", running.settings.http_port)
    writer.write(
        (
            f"PATCH /files/{created.upload.id} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
            f"Authorization: Bearer {created.upload_token}\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Upload-Offset: 0\r\nContent-Length: {length}\r\n\r\n"
        ).encode()
        + body
    )
    reader.writer = writer  # type: ignore[attr-defined]
    return reader


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)).decode()
    status_line, *lines = head.strip().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


async def offset_of(created: Any) -> int:
    async with httpx.AsyncClient() as http:
        response = await http.head(
            created.upload_url, headers={**TUS, "Authorization": f"Bearer {created.upload_token}"}
        )
    assert response.status_code == 200, response.status_code
    return int(response.headers["upload-offset"])


async def eventually(condition: Callable[[], Awaitable[bool]], seconds: float = 30) -> None:
    """Wait for a condition the service reaches on its own (a deadline, not a timing assertion)."""
    async with asyncio.timeout(seconds):
        while not await condition():
            await asyncio.sleep(0.1)


def resume_with_tuspy(created: Any, path: Path) -> int:
    client = tus_client.TusClient(
        created.upload_url.rsplit("/", 1)[0] + "/", headers={"Authorization": f"Bearer {created.upload_token}"}
    )
    uploader = client.uploader(str(path), url=created.upload_url, chunk_size=SIZE)
    uploader.upload()
    return uploader.offset


async def test_uploads_share_one_buffer_budget_wait_for_it_and_lose_nothing(running: Running, tmp_path: Path) -> None:
    pool = running.app.buffers
    assert pool.capacity == 2
    path, sha = random_file(tmp_path, SIZE)
    data = path.read_bytes()
    stalled_a, refused_b, stalled_c = [await precreate(running, f"u-budget-{n}") for n in "abc"]

    # Two clients send 1 MiB each and stall: each PATCH holds a part buffer, the budget is spent.
    a = await open_patch(running, stalled_a, data[:MIB], length=SIZE)
    c = await open_patch(running, stalled_c, data[:MIB], length=SIZE)

    async def budget_spent() -> bool:
        return pool.in_use == 2

    await eventually(budget_spent)

    # A third upload waits for a buffer, then is told to retry; its bytes were never accepted.
    b = await open_patch(running, refused_b, data[:MIB], length=MIB)
    status, headers, body = await read_response(b)
    assert status == 503
    assert headers["retry-after"].isdigit() and headers["upload-offset"] == "0"
    error = json.loads(body)["error"]
    assert error["code"] == "upload.busy" and error["details"]["currentOffset"] == 0
    b.writer.close()  # type: ignore[attr-defined]
    assert await offset_of(refused_b) == 0

    # The first stalled client goes away: its 1 MiB is kept (tail object), its buffer freed.
    a.writer.transport.abort()  # type: ignore[attr-defined]

    async def a_kept_its_bytes() -> bool:
        return await offset_of(stalled_a) == MIB

    await eventually(a_kept_its_bytes)

    # With one buffer free, the refused upload now goes through whole, reusing it part by part.
    assert await asyncio.to_thread(resume_with_tuspy, refused_b, path) == SIZE

    # The second stalled client sends nothing more: the idle timeout ends its PATCH, keeping 1 MiB.
    async def c_timed_out() -> bool:
        return await offset_of(stalled_c) == MIB and pool.in_use == 0

    await eventually(c_timed_out)
    c.writer.close()  # type: ignore[attr-defined]

    # Both stalled uploads resume from what was kept and complete intact.
    for created in (stalled_a, stalled_c):
        assert await asyncio.to_thread(resume_with_tuspy, created, path) == SIZE
    for created, owner in ((stalled_a, "u-budget-a"), (refused_b, "u-budget-b"), (stalled_c, "u-budget-c")):
        view = await running.app.service.get(owner, created.upload.id)
        assert view.status == "completed" and view.checksum == f"sha256:{sha}"
        assert await running.stored_sha256(view.storage_key) == sha
    assert pool.peak_in_use == 2 and pool.in_use == 0 and pool.waiting == 0
