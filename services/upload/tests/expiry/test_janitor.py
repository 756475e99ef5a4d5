"""The expiry janitor: an upload past its expiry is refused at once, and once the janitor ran its
parts and tail leave S3 and upload.expired is emitted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from lectern_upload.uploads.schemas import NewUpload
from upload_testing import PART, TUS, Running, random_file


async def test_expired_uploads_leave_nothing_in_s3(running: Running, tmp_path: Path) -> None:
    size = 3 * PART
    path, _ = random_file(tmp_path, size)
    created = await running.app.service.create(
        "u-expire", NewUpload(file_name="a.mp4", size_bytes=size, mime_type="video/mp4")
    )
    auth = {**TUS, "Authorization": f"Bearer {created.upload_token}"}
    async with httpx.AsyncClient() as http:
        r = await http.patch(
            created.upload_url,
            content=path.read_bytes()[: PART + 1234],
            headers={**auth, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"},
        )
        assert r.status_code == 204
    key = created.upload.storage_key
    store = running.app.store
    assert [k for k, _ in await store.list_multipart_uploads(key)] == [key]
    assert await store.head_object(key + ".part") is not None

    await running.sql(
        "UPDATE uploads SET expires_at = :t WHERE id = :i",
        t=datetime.now(UTC) - timedelta(seconds=1),
        i=created.upload.id,
    )
    async with httpx.AsyncClient() as http:  # already refused before the janitor runs
        assert (await http.head(created.upload_url, headers=auth)).status_code == 410
    assert await running.app.janitor.expire_due() >= 1

    assert await store.list_multipart_uploads(key) == []
    assert await store.list_keys(key) == []
    view = await running.app.service.get("u-expire", created.upload.id)
    assert view.status == "expired"
    rows = await running.sql("SELECT event_type FROM outbox_events WHERE key = :k ORDER BY id", k=created.upload.id)
    assert [r[0] for r in rows] == ["upload.created", "upload.expired"]
