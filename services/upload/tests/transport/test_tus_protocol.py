"""The tus 1.0.0 data plane driven by a stock client (tuspy) and raw HTTP, against real S3 and PG."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path

import httpx
from lectern_upload.settings import MIB
from upload_testing import PART, TUS, Running, events_for, head, precreate, random_file, tus_upload


async def test_options_advertises_version_extensions_and_checksums(running: Running) -> None:
    async with httpx.AsyncClient() as http:
        # An origin the service allows (the editor's, in dev): only those get the CORS headers.
        response = await http.options(running.tus_url, headers={"Origin": "http://127.0.0.1:5173"})
    assert response.status_code == 204
    assert response.headers["tus-version"] == "1.0.0"
    assert set(response.headers["tus-extension"].split(",")) >= {
        "creation",
        "creation-with-upload",
        "creation-defer-length",
        "checksum",
        "termination",
        "expiration",
    }
    assert response.headers["tus-checksum-algorithm"] == "sha1,sha256"
    assert "Upload-Offset" in response.headers["access-control-expose-headers"]
    assert "PATCH" in response.headers["access-control-allow-methods"]


async def test_precreated_upload_with_tuspy_completes_with_matching_sha256_and_event(
    running: Running, tmp_path: Path
) -> None:
    size = 3 * PART + 12345
    path, sha = random_file(tmp_path, size)
    created = await precreate(running, size)
    # A chunk size that is not a multiple of the part size: tails go through the .part object.
    offset = await asyncio.to_thread(tus_upload, created.upload_url, created.upload_token, path, 7 * MIB)
    assert offset == size
    view = await running.app.service.get("u-tus", created.upload.id)
    assert view.status == "processing" and view.offset == size
    assert view.checksum == f"sha256:{sha}"
    assert await running.stored_sha256(view.storage_key) == sha
    assert await running.app.store.head_object(view.storage_key + ".part") is None
    assert await events_for(running, created.upload.id) == ["upload.created", "upload.completed"]
    response = await head(running, created.upload_url, created.upload_token)
    assert response.status_code == 200 and response.headers["upload-offset"] == str(size)


async def test_cut_connection_resumes_from_head_offset_100mib(running: Running, tmp_path: Path) -> None:
    size = 100 * MIB
    path, sha = random_file(tmp_path, size)
    created = await precreate(running, size)
    sent = 37 * MIB + 4321

    # Send part of one PATCH's body on a raw socket, then drop the connection.
    host, port = "127.0.0.1", running.settings.http_port
    _reader, writer = await asyncio.open_connection(host, port)
    request = (
        f"PATCH /files/{created.upload.id} HTTP/1.1\r\nHost: {host}\r\nTus-Resumable: 1.0.0\r\n"
        f"Authorization: Bearer {created.upload_token}\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Upload-Offset: 0\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    writer.write(request)
    with path.open("rb") as f:
        remaining = sent
        while remaining:
            chunk = f.read(min(MIB, remaining))
            writer.write(chunk)
            await writer.drain()
            remaining -= len(chunk)
    writer.transport.abort()

    response = await head(running, created.upload_url, created.upload_token)
    assert response.status_code == 200
    # Everything the server received was kept: full parts in S3, the rest in the tail object.
    assert int(response.headers["upload-offset"]) == sent
    offset = await asyncio.to_thread(tus_upload, created.upload_url, created.upload_token, path, 20 * MIB)
    assert offset == size
    view = await running.app.service.get("u-tus", created.upload.id)
    assert view.status == "processing" and view.checksum == f"sha256:{sha}"
    assert await running.stored_sha256(view.storage_key) == sha


async def test_corrupted_chunk_is_refused_with_460_and_not_kept(running: Running, tmp_path: Path) -> None:
    size = PART + 1000
    path, sha = random_file(tmp_path, size)
    data = path.read_bytes()
    created = await precreate(running, size)
    headers = {
        **TUS,
        "Authorization": f"Bearer {created.upload_token}",
        "Content-Type": "application/offset+octet-stream",
    }
    first = data[: PART + 10]
    good_sum = base64.b64encode(hashlib.sha1(first).digest()).decode()
    corrupted = bytearray(first)
    corrupted[PART - 3] ^= 0xFF
    async with httpx.AsyncClient() as http:
        bad = await http.patch(
            created.upload_url,
            content=bytes(corrupted),
            headers={**headers, "Upload-Offset": "0", "Upload-Checksum": f"sha1 {good_sum}"},
        )
        assert bad.status_code == 460
        assert bad.json()["error"]["code"] == "upload.checksum_mismatch"
        assert (await head(running, created.upload_url, created.upload_token)).headers["upload-offset"] == "0"
        ok = await http.patch(
            created.upload_url,
            content=first,
            headers={**headers, "Upload-Offset": "0", "Upload-Checksum": f"sha1 {good_sum}"},
        )
        assert ok.status_code == 204 and ok.headers["upload-offset"] == str(len(first))
        rest = data[len(first) :]
        rest_sum = base64.b64encode(hashlib.sha256(rest).digest()).decode()
        done = await http.patch(
            created.upload_url,
            content=rest,
            headers={**headers, "Upload-Offset": str(len(first)), "Upload-Checksum": f"sha256 {rest_sum}"},
        )
        assert done.status_code == 204
    view = await running.app.service.get("u-tus", created.upload.id)
    assert view.checksum == f"sha256:{sha}"
    assert await running.stored_sha256(view.storage_key) == sha


async def test_tuspy_checksummed_upload_completes(running: Running, tmp_path: Path) -> None:
    size = 2 * PART + 77
    path, sha = random_file(tmp_path, size)
    created = await precreate(running, size)
    await asyncio.to_thread(tus_upload, created.upload_url, created.upload_token, path, 4 * MIB, upload_checksum=True)
    view = await running.app.service.get("u-tus", created.upload.id)
    assert view.checksum == f"sha256:{sha}"


async def test_two_clients_patching_one_upload_never_corrupt_it(running: Running, tmp_path: Path) -> None:
    size = 4 * PART
    path, sha = random_file(tmp_path, size)
    data = path.read_bytes()
    created = await precreate(running, size)
    headers = {
        **TUS,
        "Authorization": f"Bearer {created.upload_token}",
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": "0",
    }

    async def slow_body(tag: int):  # type: ignore[no-untyped-def]
        for start in range(0, size, MIB):
            yield data[start : start + MIB]
            await asyncio.sleep(0.02)

    async with httpx.AsyncClient(timeout=60) as a, httpx.AsyncClient(timeout=60) as b:
        first, second = await asyncio.gather(
            a.patch(created.upload_url, content=slow_body(1), headers=headers),
            b.patch(created.upload_url, content=slow_body(2), headers=headers),
        )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses[0] == 204 and statuses[1] in (409, 423), statuses
    loser = first if first.status_code != 204 else second
    assert loser.json()["error"]["code"] in ("upload.locked", "upload.offset_mismatch")
    view = await running.app.service.get("u-tus", created.upload.id)
    assert view.status == "processing"
    assert await running.stored_sha256(view.storage_key) == sha


async def test_only_allowed_origins_get_cors_headers(running: Running) -> None:
    """Upload once echoed any Origin back as allowed (issue 12 item 7)."""
    from lectern_common.settings import EDITOR_DEV_ORIGINS

    async with httpx.AsyncClient() as http:
        for origin, allowed in (("https://evil.example", False), (EDITOR_DEV_ORIGINS[0], True)):
            preflight = await http.options(
                running.tus_url,
                headers={"Origin": origin, "Access-Control-Request-Method": "POST", "Tus-Resumable": "1.0.0"},
            )
            head = await http.head(f"{running.tus_url}nope", headers={"Origin": origin, "Tus-Resumable": "1.0.0"})
            for response in (preflight, head):
                assert (response.headers.get("access-control-allow-origin") == origin) is allowed, response.headers
            assert ("access-control-allow-methods" in preflight.headers) is allowed
