"""Bytes in transit stay within the service's part buffer budget however many uploads run at once:
a PATCH that finds the budget spent waits, then ends with a retryable 503 keeping what it sent;
a client that stalls gives its buffer back after the idle timeout. Real service, S3 and PG."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from lectern_upload.settings import MIB
from upload_raw_tus import eventually, offset_of, open_patch, precreate, read_response, resume_with_tuspy
from upload_testing import PART, Running, random_file

# Two part buffers for the whole service: two stalled clients spend it.
SETTINGS_OVERRIDES = {
    "part_buffer_budget_bytes": 2 * PART,
    "limit_wait_seconds": 1.0,
    "body_idle_timeout_seconds": 6.0,
}
SIZE = 2 * PART + 3 * MIB


async def test_uploads_share_one_buffer_budget_wait_for_it_and_lose_nothing(running: Running, tmp_path: Path) -> None:
    pool = running.app.buffers
    assert pool.capacity == 2
    path, sha = random_file(tmp_path, SIZE)
    data = path.read_bytes()
    stalled_a, refused_b, stalled_c = [await precreate(running, f"u-budget-{n}", SIZE) for n in "abc"]

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
    assert await asyncio.to_thread(resume_with_tuspy, refused_b, path, SIZE) == SIZE

    # The second stalled client sends nothing more: the idle timeout ends its PATCH, keeping 1 MiB.
    async def c_timed_out() -> bool:
        return await offset_of(stalled_c) == MIB and pool.in_use == 0

    await eventually(c_timed_out)
    c.writer.close()  # type: ignore[attr-defined]

    # Both stalled uploads resume from what was kept and complete intact.
    for created in (stalled_a, stalled_c):
        assert await asyncio.to_thread(resume_with_tuspy, created, path, SIZE) == SIZE
    for created, owner in ((stalled_a, "u-budget-a"), (refused_b, "u-budget-b"), (stalled_c, "u-budget-c")):
        view = await running.app.service.get(owner, created.upload.id)
        assert view.status == "processing" and view.checksum == f"sha256:{sha}"
        assert await running.stored_sha256(view.storage_key) == sha
    assert pool.peak_in_use == 2 and pool.in_use == 0 and pool.waiting == 0
