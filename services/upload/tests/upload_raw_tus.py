"""Raw-socket tus requests for the tests of the service's limits: a PATCH that sends part of its
body and stalls, its answer read even while the body is unfinished, HEAD's offset, a resume."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from lectern_upload.uploads.schemas import NewUpload
from tusclient import client as tus_client
from upload_testing import Running

TUS = {"Tus-Resumable": "1.0.0"}


async def precreate(running: Running, owner: str, size: int) -> Any:
    return await running.app.service.create(
        owner, NewUpload(file_name="lecture.mp4", size_bytes=size, mime_type="video/mp4", course_id="c-limits")
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


def resume_with_tuspy(created: Any, path: Path, size: int) -> int:
    """A stock tus client resuming from HEAD's offset, one PATCH for the rest. It retries what the
    contract says to retry (503 upload.busy: on a loaded machine the one free part buffer can
    outlast the test's 1 s limit wait while S3 stores the part before), resuming from HEAD."""
    client = tus_client.TusClient(
        created.upload_url.rsplit("/", 1)[0] + "/", headers={"Authorization": f"Bearer {created.upload_token}"}
    )
    uploader = client.uploader(str(path), url=created.upload_url, chunk_size=size, retries=5, retry_delay=1)
    uploader.upload()
    return uploader.offset
