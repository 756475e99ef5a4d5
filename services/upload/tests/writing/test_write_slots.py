"""PATCHes writing at once are capped per process (each holds a database connection for its
upload's lock): one past the cap waits, then answers a retryable 503 without reading its body,
and goes through once a slot frees. Real service, S3 and PG."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from lectern_upload.settings import MIB
from upload_raw_tus import eventually, offset_of, open_patch, precreate, read_response, resume_with_tuspy
from upload_testing import PART, Running, random_file

SETTINGS_OVERRIDES = {"max_concurrent_writes": 1, "limit_wait_seconds": 1.0}
SIZE = PART + 2 * MIB


async def test_a_patch_past_the_write_cap_is_told_to_retry_and_loses_nothing(running: Running, tmp_path: Path) -> None:
    path, sha = random_file(tmp_path, SIZE)
    data = path.read_bytes()
    writing, refused = await precreate(running, "u-slots-a", SIZE), await precreate(running, "u-slots-b", SIZE)

    # One client sends 1 MiB and stalls: its PATCH holds the only write slot (and a part buffer).
    a = await open_patch(running, writing, data[:MIB], length=SIZE)

    async def first_writer_started() -> bool:
        return running.app.buffers.in_use == 1

    await eventually(first_writer_started)

    # A PATCH for another upload waits for a slot, then is refused with nothing of it read.
    b = await open_patch(running, refused, data[:MIB], length=MIB)
    status, headers, body = await read_response(b)
    assert status == 503 and headers["retry-after"].isdigit()
    assert "upload-offset" not in headers  # nothing was read, so there is no offset to report
    assert json.loads(body)["error"]["code"] == "upload.busy"
    b.writer.close()  # type: ignore[attr-defined]
    assert await offset_of(refused) == 0

    # The stalled client goes away; its 1 MiB is kept and the slot is free again.
    a.writer.transport.abort()  # type: ignore[attr-defined]

    async def first_writer_done() -> bool:
        return await offset_of(writing) == MIB and running.app.buffers.in_use == 0

    await eventually(first_writer_done)

    # Both complete, one after the other, intact.
    for created, owner in ((refused, "u-slots-b"), (writing, "u-slots-a")):
        assert await asyncio.to_thread(resume_with_tuspy, created, path, SIZE) == SIZE
        view = await running.app.service.get(owner, created.upload.id)
        assert view.status == "processing" and view.checksum == f"sha256:{sha}"
        assert await running.stored_sha256(view.storage_key) == sha
