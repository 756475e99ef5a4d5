"""ResumeUpload: an unfinished upload's URL, a fresh token and its offset for its owner, so the
upload can be finished from another device; everything else is refused with a stable code."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from lectern.upload.v1 import upload_pb2, upload_pb2_grpc
from lectern_common.errors import DomainError, ErrorKind
from lectern_common.grpc_client import call, open_channel
from upload_testing import TUS, Running, precreate, random_file, token_for, tus_upload


async def resume(running: Running, user: str, operation_id: str) -> upload_pb2.ResumeUploadResponse:
    channel = open_channel(running.grpc_target, tracing=False)
    try:
        stub = upload_pb2_grpc.UploadServiceStub(channel)
        request = upload_pb2.ResumeUploadRequest(operation_id=operation_id)
        return await call(stub.ResumeUpload, request, token=token_for(running, user))
    finally:
        await channel.close()


async def refused(running: Running, user: str, operation_id: str) -> DomainError:
    with pytest.raises(DomainError) as error:
        await resume(running, user, operation_id)
    return error.value


async def test_the_owner_resumes_from_the_stored_offset_with_a_fresh_token(running: Running, tmp_path: Path) -> None:
    path, sha = random_file(tmp_path, 2 * 1024 * 1024 + 99)
    size = path.stat().st_size
    created = await precreate(running, size, owner="u-resume")
    # The first device sends half and goes away.
    sent = await asyncio.to_thread(
        tus_upload, created.upload_url, created.upload_token, path, 512 * 1024, stop_at=1024 * 1024
    )
    assert 0 < sent < size

    resumed = await resume(running, "u-resume", created.upload.id)
    assert resumed.operation_id == created.upload.id
    assert resumed.upload_url == created.upload_url
    assert resumed.offset == sent and resumed.size_bytes == size
    assert resumed.expires_at.ToDatetime().timestamp() == pytest.approx(created.upload.expires_at.timestamp(), abs=1)
    assert resumed.chunk_size_bytes == created.chunk_size_bytes

    # The second device only has what resume answered: HEAD agrees, and it finishes the upload.
    async with httpx.AsyncClient() as http:
        head = await http.head(resumed.upload_url, headers={**TUS, "Authorization": f"Bearer {resumed.upload_token}"})
    assert head.status_code == 200 and int(head.headers["upload-offset"]) == resumed.offset
    finished = await asyncio.to_thread(tus_upload, resumed.upload_url, resumed.upload_token, path, 512 * 1024)
    assert finished == size
    view = await running.app.service.get("u-resume", created.upload.id)
    assert view.status == "processing" and view.checksum == f"sha256:{sha}"

    # Stored: nothing left to resume.
    error = await refused(running, "u-resume", created.upload.id)
    assert (error.kind, error.code, error.details) == (
        ErrorKind.CONFLICT,
        "upload.not_resumable",
        {"status": "processing"},
    )


async def test_another_users_or_an_unknown_upload_is_not_found(running: Running) -> None:
    created = await precreate(running, 100, owner="u-resume-owner")
    for user, operation_id in (("u-resume-other", created.upload.id), ("u-resume-owner", "no-such-upload")):
        error = await refused(running, user, operation_id)
        assert (error.kind, error.code) == (ErrorKind.NOT_FOUND, "upload.not_found")


async def test_cancelled_and_expired_uploads_are_not_resumable(running: Running) -> None:
    cancelled = await precreate(running, 100, owner="u-resume-2")
    await running.app.service.cancel("u-resume-2", cancelled.upload.id)
    error = await refused(running, "u-resume-2", cancelled.upload.id)
    assert (error.kind, error.details) == (ErrorKind.CONFLICT, {"status": "cancelled"})

    overdue = await precreate(running, 100, owner="u-resume-2")
    await running.sql(
        "UPDATE uploads SET expires_at = now() - interval '1 minute' WHERE id = :id", id=overdue.upload.id
    )
    error = await refused(running, "u-resume-2", overdue.upload.id)
    assert (error.kind, error.details) == (ErrorKind.CONFLICT, {"status": "expired"})
