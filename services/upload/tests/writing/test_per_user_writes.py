"""Issue 12 item 6: a user's PATCHes writing at once are capped per process (each holds part
buffers and a write slot), so a dozen trickling PATCHes of one client cannot take every buffer and
slot from the others. Real service, S3 and PG."""

from __future__ import annotations

import json
from pathlib import Path

from lectern_upload.settings import MIB
from upload_raw_tus import eventually, open_patch, precreate, read_response
from upload_testing import PART, Running, random_file

# No rate floor here: the stalled PATCHes must stay open while the test looks at them.
SETTINGS_OVERRIDES = {"max_concurrent_writes_per_user": 2, "min_patch_bytes_per_second": 0}
SIZE = PART + 2 * MIB


async def test_one_user_holds_at_most_its_share_of_concurrent_patches(running: Running, tmp_path: Path) -> None:
    path, _ = random_file(tmp_path, SIZE)
    data = path.read_bytes()
    uploads = [await precreate(running, "u-greedy", SIZE) for _ in range(3)]
    other = await precreate(running, "u-neighbour", SIZE)
    # Two stalled PATCHes of one user (each sends a little, faster than the floor at first).
    stalled = [await open_patch(running, created, data[: 256 * 1024], length=SIZE) for created in uploads[:2]]

    async def both_writing() -> bool:
        return running.app.buffers.in_use == 2

    await eventually(both_writing)
    third = await open_patch(running, uploads[2], data[:MIB], length=MIB)
    status, headers, body = await read_response(third)
    assert status == 503 and headers["retry-after"].isdigit()
    assert json.loads(body)["error"]["details"]["reason"] == "per_user_writes"
    third.writer.close()  # type: ignore[attr-defined]
    # Another user is not affected by the first one's share.
    neighbour = await open_patch(running, other, data[:MIB], length=MIB)
    status, _, _ = await read_response(neighbour)
    assert status == 204
    for reader in stalled:
        reader.writer.transport.abort()  # type: ignore[attr-defined]
