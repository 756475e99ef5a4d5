"""The per-user limits of a new upload (size, type, uploads in progress, bytes) answer the right
status and kind, through tus and the service alike; a deferred length counts as the most it may be."""

from __future__ import annotations

import httpx
from lectern_upload.settings import MIB
from lectern_upload.uploads.schemas import NewUpload
from upload_testing import STREAM, TUS, Running, meta

# Small limits so the limit tests stay cheap.
SETTINGS_OVERRIDES = {"user_quota_bytes": 100 * MIB, "max_upload_bytes": 60 * MIB, "max_concurrent_uploads_per_user": 4}


async def test_limits_answer_status_and_kind(running: Running) -> None:
    token = running.app.tokens.issue_creation_token(owner_id="u-limits")
    auth = {**TUS, "Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient() as http:
        too_big = await http.post(
            running.tus_url,
            headers={
                **auth,
                "Upload-Length": str(running.settings.max_upload_bytes + 1),
                "Upload-Metadata": meta(filename="a.mp4", filetype="video/mp4"),
            },
        )
        assert too_big.status_code == 413 and too_big.json()["error"]["kind"] == "PAYLOAD_TOO_LARGE"
        bad_type = await http.post(
            running.tus_url,
            headers={
                **auth,
                "Upload-Length": "10",
                "Upload-Metadata": meta(filename="a.exe", filetype="application/x-msdownload"),
            },
        )
        assert bad_type.status_code == 415 and bad_type.json()["error"]["kind"] == "UNSUPPORTED_MEDIA_TYPE"
        no_length = await http.post(running.tus_url, headers={**auth, "Upload-Metadata": meta(filename="a.mp4")})
        assert no_length.status_code == 422
        statuses = []
        for _ in range(running.settings.max_concurrent_uploads_per_user + 1):
            r = await http.post(
                running.tus_url,
                headers={
                    **auth,
                    "Upload-Length": "10",
                    "Upload-Metadata": meta(filename="a.mp4", filetype="video/mp4"),
                },
            )
            statuses.append(r.status_code)
        assert statuses[:-1] == [201] * running.settings.max_concurrent_uploads_per_user
        assert statuses[-1] == 403 and r.json()["error"]["kind"] == "QUOTA_EXCEEDED"
        assert r.json()["error"]["code"] == "upload.too_many_concurrent"
    quota = running.settings.user_quota_bytes
    try:
        await running.app.service.create(
            "u-quota", NewUpload(file_name="a.mp4", size_bytes=quota // 2 + 1, mime_type="video/mp4")
        )
        await running.app.service.create(
            "u-quota", NewUpload(file_name="b.mp4", size_bytes=quota // 2 + 1, mime_type="video/mp4")
        )
    except Exception as exc:
        assert getattr(exc, "code", None) == "upload.quota_exceeded"
        assert exc.kind == "QUOTA_EXCEEDED"  # type: ignore[attr-defined]
    else:
        raise AssertionError("quota not enforced")


async def test_deferred_length_uploads_count_against_the_quota(running: Running) -> None:
    """Upload-Defer-Length once skipped the quota check (size unknown = 0 bytes used)."""
    quota, largest = running.settings.user_quota_bytes, running.settings.max_upload_bytes
    token = running.app.tokens.issue_creation_token(owner_id="u-defer-quota")
    auth = {**TUS, "Authorization": f"Bearer {token}"}
    deferred = {**auth, "Upload-Defer-Length": "1", "Upload-Metadata": meta(filename="a.mp4", filetype="video/mp4")}
    async with httpx.AsyncClient() as http:
        first = await http.post(running.tus_url, headers=deferred)
        assert first.status_code == 201, first.text
        # The open deferred upload reserves max_upload_bytes: a second one would pass the quota.
        assert 2 * largest > quota
        second = await http.post(running.tus_url, headers=deferred)
        assert second.status_code == 403, second.text
        assert second.json()["error"]["code"] == "upload.quota_exceeded"
        # Declaring the length releases the reservation down to the real size.
        declared = await http.patch(
            first.headers["Location"],
            headers={**auth, **STREAM, "Upload-Offset": "0", "Upload-Length": "10"},
            content=b"0123456789",
        )
        assert declared.status_code == 204, declared.text
        third = await http.post(running.tus_url, headers=deferred)
        assert third.status_code == 201, third.text
