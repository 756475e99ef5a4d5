"""The gRPC control API (what the gateway calls): create, get, list, cancel; errors keep their kind."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lectern.upload.v1 import upload_pb2, upload_pb2_grpc
from lectern_common.errors import DomainError, ErrorKind
from lectern_common.grpc_client import call, open_channel
from upload_testing import Running, random_file, token_for, tus_upload


async def assert_created_then_completed_events(running: Running, operation_id: str, sha: str) -> None:
    """The upload's outbox: upload.created, then upload.completed naming the stored object."""
    rows = await running.sql("SELECT event_type, value FROM outbox_events WHERE key = :k ORDER BY id", k=operation_id)
    assert [r[0] for r in rows] == ["upload.created", "upload.completed"]
    from lectern.events.v1.envelope_pb2 import EventEnvelope
    from lectern.events.v1.upload_events_pb2 import UploadChanged

    envelope = EventEnvelope.FromString(rows[-1][1])
    event = UploadChanged()
    assert envelope.payload.Unpack(event)
    assert event.status == "processing" and event.checksum == f"sha256:{sha}"
    assert event.storage_key and event.bucket == running.settings.s3_bucket
    assert event.chapter_id == "ch-1" and event.lesson_title == "Intro"


async def test_create_then_tus_then_get_and_list(running: Running, tmp_path: Path) -> None:
    path, sha = random_file(tmp_path, 3 * 1024 * 1024 + 5)
    channel = open_channel(running.grpc_target, tracing=False)
    stub = upload_pb2_grpc.UploadServiceStub(channel)
    token = token_for(running, "u-grpc")
    try:
        request = upload_pb2.CreateUploadRequest(
            file_name="intro.mp4",
            size_bytes=path.stat().st_size,
            mime_type="video/mp4",
            course_id="c-grpc",
            chapter_id="ch-1",
            lesson_title="Intro",
            idempotency_key="k-1",
        )
        created = await call(stub.CreateUpload, request, token=token)
        again = await call(stub.CreateUpload, request, token=token)
        assert again.operation_id == created.operation_id  # idempotent by key
        assert created.upload_url == running.tus_url + created.operation_id
        assert created.chunk_size_bytes % running.settings.part_size_bytes == 0

        await asyncio.to_thread(tus_upload, created.upload_url, created.upload_token, path, 2 * 1024 * 1024)

        got = await call(stub.GetUpload, upload_pb2.GetUploadRequest(operation_id=created.operation_id), token=token)
        assert got.upload.status == upload_pb2.UPLOAD_STATUS_PROCESSING  # until media made the file
        assert got.upload.offset == got.upload.size_bytes == path.stat().st_size
        assert got.upload.course_id == "c-grpc" and got.upload.chapter_id == "ch-1"
        listed = await call(stub.ListUploads, upload_pb2.ListUploadsRequest(course_id="c-grpc"), token=token)
        assert [u.operation_id for u in listed.items] == [created.operation_id]
        none = await call(
            stub.ListUploads, upload_pb2.ListUploadsRequest(status=upload_pb2.UPLOAD_STATUS_PENDING), token=token
        )
        assert created.operation_id not in [u.operation_id for u in none.items]

        # Another user cannot see it; a service identity can.
        with pytest.raises(DomainError) as missing:
            await call(
                stub.GetUpload,
                upload_pb2.GetUploadRequest(operation_id=created.operation_id),
                token=token_for(running, "u-other"),
            )
        assert missing.value.kind is ErrorKind.NOT_FOUND
        await call(
            stub.GetUpload,
            upload_pb2.GetUploadRequest(operation_id=created.operation_id),
            token=token_for(running, "", service=True),
        )

        await assert_created_then_completed_events(running, created.operation_id, sha)
    finally:
        await channel.close()


async def test_cancel_and_limit_errors_keep_their_kind(running: Running) -> None:
    channel = open_channel(running.grpc_target, tracing=False)
    stub = upload_pb2_grpc.UploadServiceStub(channel)
    token = token_for(running, "u-grpc-2")
    try:
        created = await call(
            stub.CreateUpload,
            upload_pb2.CreateUploadRequest(file_name="a.mp3", size_bytes=10, mime_type="audio/mpeg"),
            token=token,
        )
        cancelled = await call(
            stub.CancelUpload, upload_pb2.CancelUploadRequest(operation_id=created.operation_id), token=token
        )
        assert cancelled.upload.status == upload_pb2.UPLOAD_STATUS_CANCELLED

        with pytest.raises(DomainError) as bad_type:
            await call(
                stub.CreateUpload,
                upload_pb2.CreateUploadRequest(file_name="a.exe", size_bytes=10, mime_type="application/x-msdownload"),
                token=token,
            )
        assert bad_type.value.kind is ErrorKind.UNSUPPORTED_MEDIA_TYPE
        with pytest.raises(DomainError) as too_big:
            await call(
                stub.CreateUpload,
                upload_pb2.CreateUploadRequest(
                    file_name="a.mp4", size_bytes=running.settings.max_upload_bytes + 1, mime_type="video/mp4"
                ),
                token=token,
            )
        assert too_big.value.kind is ErrorKind.PAYLOAD_TOO_LARGE
        assert too_big.value.fields == {"sizeBytes": f"at most {running.settings.max_upload_bytes} bytes"}
        with pytest.raises(DomainError) as unauthenticated:
            await call(stub.GetUpload, upload_pb2.GetUploadRequest(operation_id="x"), token="nope")
        assert unauthenticated.value.kind is ErrorKind.UNAUTHENTICATED
    finally:
        await channel.close()
