"""Issue 12 item 6: a PATCH that trickles below the minimum rate is ended keeping what arrived
(the idle timeout alone let a byte now and then hold a buffer for hours), and tus creations are
rate limited per user. Real service, S3 and PG."""

from __future__ import annotations

from pathlib import Path

import httpx
from lectern_upload.settings import MIB
from upload_raw_tus import TUS, eventually, offset_of, open_patch, precreate, read_response
from upload_testing import PART, Running, random_file

SETTINGS_OVERRIDES = {
    "min_patch_bytes_per_second": 64 * 1024,
    "min_rate_window_seconds": 2.0,
    "creations_per_minute": 60,
    "creations_burst": 3,
}
SIZE = PART + 2 * MIB


async def test_a_patch_below_the_minimum_rate_is_ended_keeping_what_arrived(running: Running, tmp_path: Path) -> None:
    path, _ = random_file(tmp_path, SIZE)
    data = path.read_bytes()
    created = await precreate(running, "u-trickle", SIZE)
    # 100 KiB, then nothing more (well under 64 KiB/s over the 2 s window, far from the 60 s idle).
    reader = await open_patch(running, created, data[: 100 * 1024], length=SIZE)
    status, headers, _ = await read_response(reader)
    reader.writer.close()  # type: ignore[attr-defined]
    assert status == 204, status
    assert int(headers["upload-offset"]) == 100 * 1024

    async def slot_free() -> bool:
        return running.app.buffers.in_use == 0 and await offset_of(created) == 100 * 1024

    await eventually(slot_free)


async def test_tus_creation_is_rate_limited_per_user(running: Running) -> None:
    token = running.app.tokens.issue_creation_token(owner_id="u-creates")
    other = running.app.tokens.issue_creation_token(owner_id="u-creates-too")
    headers = {**TUS, "Upload-Length": "10", "Upload-Metadata": "filename YS5tcDQ=,filetype dmlkZW8vbXA0"}
    async with httpx.AsyncClient() as http:
        statuses = [
            (await http.post(running.tus_url, headers={**headers, "Authorization": f"Bearer {token}"})).status_code
            for _ in range(4)
        ]
        limited = await http.post(running.tus_url, headers={**headers, "Authorization": f"Bearer {token}"})
        elsewhere = await http.post(running.tus_url, headers={**headers, "Authorization": f"Bearer {other}"})
    assert statuses[:3] == [201, 201, 201] and statuses[3] == 429
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"]["code"] == "upload.rate_limited"
    assert elsewhere.status_code == 201
