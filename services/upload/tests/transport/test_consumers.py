"""An upload learns which media file it became from media's events (lectern.media.v1): processing
once its bytes are stored, completed with the media id once media made the file ready, failed
with media's reason when it could not. Records go through the service's real consumer
(``process``: dedup by event id + one transaction) on the real database; the whole path over Kafka
runs on the launched stack (tests/e2e/test_upload_media_id.py)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lectern.events.v1 import media_events_pb2
from lectern.upload.v1 import upload_pb2, upload_pb2_grpc
from lectern_common.events import EVENT_ID_HEADER, EVENT_TYPE_HEADER, build_envelope
from lectern_common.grpc_client import call, open_channel
from upload_testing import Running, precreate, random_file, token_for, tus_upload


@dataclass
class Record:
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    topic: str = "lectern.media.v1"
    partition: int = 0
    offset: int = 0


def media_record(event_type: str, operation_id: str, media_id: str, *, error: str | None = None) -> Record:
    payload = media_events_pb2.MediaFileChanged(
        media_id=media_id, owner_id="u-tus", file_name="lecture.mp4", status=event_type.rsplit(".", 1)[-1]
    )
    payload.upload_operation_id = operation_id
    if error is not None:
        payload.error = error
    envelope = build_envelope(
        event_type=event_type, aggregate_id=media_id, aggregate_version=1, actor_id="u-tus", payload=payload
    )
    return Record(
        envelope.SerializeToString(),
        [(EVENT_ID_HEADER, envelope.id.encode()), (EVENT_TYPE_HEADER, event_type.encode())],
    )


async def stored_upload(running: Running, tmp_path: Path) -> Any:
    path, _ = random_file(tmp_path, 1024 * 1024 + 7)
    created = await precreate(running, path.stat().st_size)
    await asyncio.to_thread(tus_upload, created.upload_url, created.upload_token, path, 1024 * 1024)
    return created


async def test_ready_completes_the_upload_with_its_media_id_once(running: Running, tmp_path: Path) -> None:
    created = await stored_upload(running, tmp_path)
    upload_id = created.upload.id
    view = await running.app.service.get("u-tus", upload_id)
    assert view.status == "processing" and view.media_id is None

    media_id = str(uuid.uuid4())
    consumer = running.app.consumer
    assert await consumer.process(media_record("media.file.registered", upload_id, media_id)) is True
    view = await running.app.service.get("u-tus", upload_id)
    assert view.status == "processing" and view.media_id == media_id

    ready = media_record("media.file.ready", upload_id, media_id)
    assert await consumer.process(ready) is True
    assert await consumer.process(ready) is False  # the same event again: skipped
    # A late or re-sent registered (new event id) does not move a completed upload back.
    assert await consumer.process(media_record("media.file.registered", upload_id, media_id)) is True
    view = await running.app.service.get("u-tus", upload_id)
    assert view.status == "completed" and view.media_id == media_id and view.error is None

    channel = open_channel(running.grpc_target, tracing=False)
    try:
        stub = upload_pb2_grpc.UploadServiceStub(channel)
        token = token_for(running, "u-tus")
        got = await call(stub.GetUpload, upload_pb2.GetUploadRequest(operation_id=upload_id), token=token)
        assert got.upload.status == upload_pb2.UPLOAD_STATUS_COMPLETED and got.upload.media_id == media_id
        listed = await call(stub.ListUploads, upload_pb2.ListUploadsRequest(course_id="c1"), token=token)
        assert {u.operation_id: u.media_id for u in listed.items}[upload_id] == media_id
    finally:
        await channel.close()


async def test_failed_fails_the_upload_with_medias_reason(running: Running, tmp_path: Path) -> None:
    created = await stored_upload(running, tmp_path)
    upload_id = created.upload.id
    media_id = str(uuid.uuid4())
    reason = "the file is not a video we can read"
    await running.app.consumer.process(media_record("media.file.registered", upload_id, media_id))
    await running.app.consumer.process(media_record("media.file.failed", upload_id, media_id, error=reason))
    view = await running.app.service.get("u-tus", upload_id)
    assert view.status == "failed" and view.media_id == media_id and view.error == reason


async def test_events_for_unknown_or_unfinished_uploads_change_nothing(running: Running) -> None:
    # Another stack's upload (the topic is shared): no row, nothing happens, nothing is parked.
    assert await running.app.consumer.process(media_record("media.file.ready", "not-ours", str(uuid.uuid4())))
    # An upload whose bytes are not all stored yet is not completed by a stray event.
    created = await precreate(running, 100)
    await running.app.consumer.process(media_record("media.file.ready", created.upload.id, str(uuid.uuid4())))
    view = await running.app.service.get("u-tus", created.upload.id)
    assert view.status == "pending" and view.media_id is None
    rows = await running.sql("SELECT count(*) FROM parked_events")
    assert rows[0][0] == 0
