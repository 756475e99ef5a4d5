"""Bad input gets a clear structured error and loses nothing; creation through tus POST with a
creation token; defer-length; termination; oversized metadata."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from lectern_upload.settings import MIB
from lectern_upload.uploads.schemas import NewUpload
from tusclient import client as tus_client
from upload_testing import PART, STREAM, TUS, Running, meta, random_file

# Small limits so the limit tests stay cheap.
SETTINGS_OVERRIDES = {"user_quota_bytes": 100 * MIB, "max_upload_bytes": 60 * MIB, "max_concurrent_uploads_per_user": 4}


def bad_patches(auth: dict[str, str]) -> list[tuple[dict[str, str], int, str]]:
    """PATCH headers at offset 1000 that are each wrong in one way, with the status and code they get."""
    return [
        ({**TUS, **STREAM, "Upload-Offset": "1000"}, 401, "upload.unauthenticated"),
        (
            {**TUS, **STREAM, "Upload-Offset": "1000", "Authorization": "Bearer not-a-jwt"},
            401,
            "upload.unauthenticated",
        ),
        ({**STREAM, **auth, "Upload-Offset": "1000"}, 412, "upload.tus_version_unsupported"),
        ({**TUS, **auth, "Content-Type": "text/plain", "Upload-Offset": "1000"}, 415, "upload.bad_content_type"),
        ({**TUS, **auth, **STREAM}, 422, "upload.missing_offset"),
        ({**TUS, **auth, **STREAM, "Upload-Offset": "abc"}, 422, "upload.invalid_upload_offset"),
        ({**TUS, **auth, **STREAM, "Upload-Offset": "0"}, 409, "upload.offset_mismatch"),
        (
            {**TUS, **auth, **STREAM, "Upload-Offset": "1000", "Upload-Checksum": "md5 AAAA"},
            400,
            "upload.checksum_algorithm_unsupported",
        ),
        (
            {**TUS, **auth, **STREAM, "Upload-Offset": "1000", "Upload-Checksum": "sha1 !!"},
            422,
            "upload.invalid_checksum",
        ),
    ]


async def test_bad_requests_get_structured_errors_and_lose_nothing(running: Running, tmp_path: Path) -> None:
    size = PART + 500
    path, sha = random_file(tmp_path, size)
    data = path.read_bytes()
    created = await running.app.service.create(
        "u-bad", NewUpload(file_name="a.mp4", size_bytes=size, mime_type="video/mp4")
    )
    other = await running.app.service.create(
        "u-bad", NewUpload(file_name="b.mp4", size_bytes=size, mime_type="video/mp4")
    )
    auth = {"Authorization": f"Bearer {created.upload_token}"}
    url = created.upload_url
    async with httpx.AsyncClient() as http:
        # First, some good bytes.
        ok = await http.patch(url, content=data[:1000], headers={**TUS, **auth, **STREAM, "Upload-Offset": "0"})
        assert ok.status_code == 204 and ok.headers["upload-offset"] == "1000"

        for headers, status, code in bad_patches(auth):
            response = await http.patch(url, content=data[1000:5000], headers=headers)
            assert response.status_code == status, (code, response.text)
            body = response.json()["error"]
            assert body["code"] == code and body["message"] and body["kind"]
        mismatch = await http.patch(url, content=b"x", headers={**TUS, **auth, **STREAM, "Upload-Offset": "5"})
        assert mismatch.headers["upload-offset"] == "1000"
        assert mismatch.json()["error"]["details"] == {"currentOffset": 1000}

        # A token for one upload cannot touch another.
        for method in ("HEAD", "PATCH", "DELETE"):
            response = await http.request(
                method,
                other.upload_url,
                content=b"x" if method == "PATCH" else None,
                headers={**TUS, **auth, **STREAM, "Upload-Offset": "0"},
            )
            assert response.status_code == 403, method

        # Too many bytes for the upload's length.
        too_long = await http.patch(
            url, content=data[1000:] + b"extra", headers={**TUS, **auth, **STREAM, "Upload-Offset": "1000"}
        )
        assert too_long.status_code == 413
        assert too_long.json()["error"]["kind"] == "PAYLOAD_TOO_LARGE"

        head = await http.head(url, headers={**TUS, **auth})
        assert head.status_code == 200 and head.headers["upload-offset"] == "1000"
        assert head.headers["upload-length"] == str(size) and "upload-expires" in head.headers
        done = await http.patch(url, content=data[1000:], headers={**TUS, **auth, **STREAM, "Upload-Offset": "1000"})
        assert done.status_code == 204 and done.headers["upload-offset"] == str(size)
    view = await running.app.service.get("u-bad", created.upload.id)
    assert view.checksum == f"sha256:{sha}"


async def test_tus_post_with_creation_token_works_with_a_stock_client(running: Running, tmp_path: Path) -> None:
    size = PART + 3
    path, sha = random_file(tmp_path, size, name="talk.webm")
    token = running.app.tokens.issue_creation_token(owner_id="u-creator")

    def upload() -> str:
        client = tus_client.TusClient(running.tus_url, headers={"Authorization": f"Bearer {token}"})
        uploader = client.uploader(
            str(path), chunk_size=4 * MIB, metadata={"filename": "talk.webm", "filetype": "video/webm"}
        )
        uploader.upload()
        return str(uploader.url)

    url = await asyncio.to_thread(upload)
    upload_id = url.rsplit("/", 1)[-1]
    view = await running.app.service.get("u-creator", upload_id)
    assert view.status == "processing" and view.file_name == "talk.webm" and view.mime_type == "video/webm"
    assert view.checksum == f"sha256:{sha}"
    # The creation token reaches only the uploads it created.
    other = await running.app.service.create(
        "u-creator", NewUpload(file_name="x.mp4", size_bytes=10, mime_type="video/mp4")
    )
    async with httpx.AsyncClient() as http:
        response = await http.head(other.upload_url, headers={**TUS, "Authorization": f"Bearer {token}"})
        assert response.status_code == 403
        # An upload token cannot create.
        response = await http.post(
            running.tus_url,
            headers={
                **TUS,
                "Authorization": f"Bearer {other.upload_token}",
                "Upload-Length": "10",
                "Upload-Metadata": meta(filename="a.mp4", filetype="video/mp4"),
            },
        )
        assert response.status_code == 403
        response = await http.post(running.tus_url, headers={**TUS, "Upload-Length": "10"})
        assert response.status_code == 401


async def test_creation_with_upload_and_deferred_length(running: Running, tmp_path: Path) -> None:
    token = running.app.tokens.issue_creation_token(owner_id="u-defer")
    auth = {**TUS, "Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient() as http:
        created = await http.post(
            running.tus_url,
            content=b"hello ",
            headers={
                **auth,
                **STREAM,
                "Upload-Defer-Length": "1",
                "Upload-Metadata": meta(filename="n.pdf", filetype="application/pdf"),
            },
        )
        assert created.status_code == 201, created.text
        assert created.headers["upload-offset"] == "6"
        url = created.headers["location"]
        head = await http.head(url, headers=auth)
        assert head.headers["upload-defer-length"] == "1" and "upload-length" not in head.headers
        done = await http.patch(
            url, content=b"world", headers={**auth, **STREAM, "Upload-Offset": "6", "Upload-Length": "11"}
        )
        assert done.status_code == 204 and done.headers["upload-offset"] == "11"
    view = await running.app.service.get("u-defer", url.rsplit("/", 1)[-1])
    assert view.status == "processing" and view.size_bytes == 11
    assert await running.app.store.get_object(view.storage_key) == b"hello world"


async def test_termination_removes_stored_bytes_and_answers_gone(running: Running, tmp_path: Path) -> None:
    size = 2 * PART
    path, _ = random_file(tmp_path, size)
    created = await running.app.service.create(
        "u-term", NewUpload(file_name="a.mp4", size_bytes=size, mime_type="video/mp4")
    )
    auth = {**TUS, "Authorization": f"Bearer {created.upload_token}"}
    async with httpx.AsyncClient() as http:
        await http.patch(
            created.upload_url, content=path.read_bytes()[: PART + 10], headers={**auth, **STREAM, "Upload-Offset": "0"}
        )
        deleted = await http.delete(created.upload_url, headers=auth)
        assert deleted.status_code == 204
        head = await http.head(created.upload_url, headers=auth)
        assert head.status_code == 410
    key = created.upload.storage_key
    assert key not in [k for k, _ in await running.app.store.list_multipart_uploads(key)]
    assert await running.app.store.head_object(key + ".part") is None
    rows = await running.sql("SELECT event_type FROM outbox_events WHERE key = :k ORDER BY id", k=created.upload.id)
    assert [r[0] for r in rows] == ["upload.created", "upload.cancelled"]


async def test_oversized_metadata_is_a_clear_error_not_a_500(running: Running) -> None:
    token = running.app.tokens.issue_creation_token(owner_id="u-meta", course_id="c" * 150)
    auth = {**TUS, "Authorization": f"Bearer {token}", "Upload-Length": "10"}
    cases = [
        (meta(filename="a.mp4", filetype="video/mp4", lessonTitle="t" * 1025), "Upload-Metadata.lessonTitle"),
        (meta(filename="a.mp4", filetype="video/" + "x" * 300), "mimeType"),
        (meta(filename="a.mp4", filetype="video/mp4", lessonTitle="t" * 501), "lessonTitle"),
        (meta(filename="a.mp4", filetype="video/mp4", chapterId="h" * 201), "chapterId"),
        (meta(filename="a.mp4", filetype="video/mp4", **{f"k{i}": "v" * 200 for i in range(20)}), "Upload-Metadata"),
        ("k" * 65 + " dg==", "Upload-Metadata"),
    ]
    async with httpx.AsyncClient() as http:
        for metadata, field in cases:
            response = await http.post(running.tus_url, headers={**auth, "Upload-Metadata": metadata})
            assert response.status_code == 422, (field, response.status_code, response.text)
            error = response.json()["error"]
            assert error["kind"] == "VALIDATION_FAILED" and field in error["fields"], error
    assert await running.app.service.list("u-meta", course_id=None, status=None) == []
