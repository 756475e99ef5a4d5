"""The library: registration from uploads, listing and search, renaming, summaries, ownership."""

from __future__ import annotations

import json
import uuid

import grpc
import pytest
from lectern.events.v1 import media_events_pb2
from lectern.media.v1 import media_pb2
from lectern_common.errors import ERROR_METADATA_KEY
from lectern_common.events import decode_event
from lectern_common.identity import Identity
from lectern_common.plumbing_tables import outbox_events
from lectern_media.models import AuditEntry, MediaFile, ProbeJob
from media_testing import new_user, register, token_for
from sqlalchemy import func, select


def error_of(exc: grpc.aio.AioRpcError) -> dict:
    for key, value in exc.trailing_metadata() or ():
        if key == ERROR_METADATA_KEY:
            return json.loads(value)
    raise AssertionError("no structured error in trailing metadata")


async def events_for(app, media_id: str) -> list:
    async with app.uow.read_only() as session:
        rows = (
            await session.execute(
                select(outbox_events.c.value, outbox_events.c.key)
                .where(outbox_events.c.key == media_id)
                .order_by(outbox_events.c.id)
            )
        ).all()
    return [decode_event(r.value) for r in rows]


async def test_registering_an_upload_makes_a_processing_file_queued_for_probing(app):
    owner = new_user()
    media = await register(app, owner, file_name="lecture-1.mp4", course_id="c1", chapter_id="ch1", title="Lecture 1")
    assert media.status.value == "processing" and media.title == "Lecture 1" and media.version == 1
    events = await events_for(app, media.id)
    assert [e.type for e in events] == ["media.file.registered"]
    registered = events[0].unpack(media_events_pb2.MediaFileChanged)
    assert registered.status == "processing" and registered.course_id == "c1" and registered.chapter_id == "ch1"
    assert registered.lesson_title == "Lecture 1" and registered.upload_operation_id.startswith("op-")
    assert registered.checksum.startswith("sha256:") and registered.owner_id == owner.user_id
    async with app.uow.read_only() as session:
        job = (
            await session.execute(
                select(ProbeJob.attempts, ProbeJob.lease_until, ProbeJob.upload_target).where(
                    ProbeJob.media_id == media.id
                )
            )
        ).one()
    assert job.attempts == 0 and job.lease_until is None
    assert job.upload_target == {"course_id": "c1", "chapter_id": "ch1", "lesson_title": "Lecture 1"}


async def test_registering_the_same_upload_twice_makes_one_file(app):
    owner = new_user()
    op = f"op-{uuid.uuid4().hex}"
    first = await register(app, owner, operation_id=op)
    second = await register(app, owner, operation_id=op)
    assert first.id == second.id
    async with app.uow.read_only() as session:
        count = (await session.execute(select(func.count()).where(MediaFile.upload_operation_id == op))).scalar()
    assert count == 1
    assert len(await events_for(app, first.id)) == 1
    async with app.uow.read_only() as session:
        jobs = (await session.execute(select(func.count()).where(ProbeJob.media_id == first.id))).scalar()
    assert jobs == 1


async def test_list_searches_title_and_file_name_with_cursor_pages(app, stub):
    owner = new_user()
    for i in range(5):
        await register(app, owner, file_name=f"algebra-{i}.mp4", title=f"Algebra part {i}")
    await register(app, owner, file_name="geometry.mp4", title="Shapes")
    seen: list[str] = []
    cursor = ""
    while True:
        page = await stub.ListMedia(
            media_pb2.ListMediaRequest(query="ALGEBRA", limit=2, cursor=cursor), metadata=token_for(owner)
        )
        seen += [m.title for m in page.items]
        cursor = page.next_cursor
        if not cursor:
            break
    assert sorted(seen) == [f"Algebra part {i}" for i in range(5)]
    by_file = await stub.ListMedia(media_pb2.ListMediaRequest(query="geometry"), metadata=token_for(owner))
    assert [m.title for m in by_file.items] == ["Shapes"]
    # Wildcards are matched literally, never as patterns.
    none = await stub.ListMedia(media_pb2.ListMediaRequest(query="%"), metadata=token_for(owner))
    assert list(none.items) == []


async def test_list_filters_by_status_and_hides_deleted_unless_asked(app, stub):
    owner = new_user()
    kept = await register(app, owner)
    gone = await register(app, owner)
    await stub.DeleteMedia(
        media_pb2.DeleteMediaRequest(media_id=gone.id, mode=media_pb2.DELETE_MODE_SOFT), metadata=token_for(owner)
    )
    live = await stub.ListMedia(media_pb2.ListMediaRequest(), metadata=token_for(owner))
    assert [m.id for m in live.items] == [kept.id]
    everything = await stub.ListMedia(media_pb2.ListMediaRequest(include_deleted=True), metadata=token_for(owner))
    assert {m.id for m in everything.items} == {kept.id, gone.id}
    failed = await stub.ListMedia(
        media_pb2.ListMediaRequest(status=media_pb2.MEDIA_STATUS_FAILED), metadata=token_for(owner)
    )
    assert list(failed.items) == []


async def test_rename_with_a_stale_version_is_a_conflict_with_the_current_version(app, stub):
    owner = new_user()
    media = await register(app, owner)
    renamed = await stub.UpdateMedia(
        media_pb2.UpdateMediaRequest(media_id=media.id, expected_version=media.version, title="  New title "),
        metadata=token_for(owner),
    )
    assert renamed.media.title == "New title" and renamed.media.version == media.version + 1
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.UpdateMedia(
            media_pb2.UpdateMediaRequest(media_id=media.id, expected_version=media.version, title="Lost update"),
            metadata=token_for(owner),
        )
    assert caught.value.code() == grpc.StatusCode.ABORTED
    error = error_of(caught.value)
    assert error["kind"] == "CONFLICT" and error["details"]["currentVersion"] == media.version + 1
    assert error["details"]["current"]["title"] == "New title"


async def test_bad_input_is_a_structured_error_and_changes_nothing(app, stub):
    owner = new_user()
    media = await register(app, owner)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.UpdateMedia(
            media_pb2.UpdateMediaRequest(media_id=media.id, expected_version=media.version, title="   "),
            metadata=token_for(owner),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = error_of(caught.value)
    assert error["kind"] == "VALIDATION_FAILED" and error["fields"] == {"title": "must not be empty"}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListMedia(media_pb2.ListMediaRequest(limit=1000, cursor="nonsense!"), metadata=token_for(owner))
    assert error_of(caught.value)["kind"] == "VALIDATION_FAILED"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.LinkMedia(media_pb2.LinkMediaRequest(media_id=media.id, resource_id=""), metadata=token_for(owner))
    assert set(error_of(caught.value)["fields"]) == {"resourceType", "resourceId"}
    after = await stub.GetMedia(media_pb2.GetMediaRequest(media_id=media.id), metadata=token_for(owner))
    assert after.media.title == media.title and after.media.version == media.version and list(after.links) == []
    async with app.uow.read_only() as session:
        actions = (await session.execute(select(AuditEntry.action).where(AuditEntry.media_id == media.id))).scalars()
        assert list(actions) == ["register"]


async def test_another_users_media_is_not_found_everywhere(app, stub):
    owner, stranger = new_user(), new_user()
    media = await register(app, owner)
    calls = [
        (stub.GetMedia, media_pb2.GetMediaRequest(media_id=media.id)),
        (stub.UpdateMedia, media_pb2.UpdateMediaRequest(media_id=media.id, expected_version=2, title="mine")),
        (stub.GetMediaUsage, media_pb2.GetMediaUsageRequest(media_id=media.id)),
        (stub.LinkMedia, media_pb2.LinkMediaRequest(media_id=media.id, resource_type=1, resource_id="c")),
        (stub.UnlinkMedia, media_pb2.UnlinkMediaRequest(media_id=media.id, resource_type=1, resource_id="c")),
        (stub.DeleteMedia, media_pb2.DeleteMediaRequest(media_id=media.id, mode=media_pb2.DELETE_MODE_HARD)),
        (stub.DeleteMedia, media_pb2.DeleteMediaRequest(media_id=media.id, mode=2, dry_run=True)),
        (stub.RestoreMedia, media_pb2.RestoreMediaRequest(media_id=media.id)),
        (stub.ListMediaAudit, media_pb2.ListMediaAuditRequest(media_id=media.id)),
    ]
    for method, request in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await method(request, metadata=token_for(stranger))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND, method
        assert error_of(caught.value)["code"] == "media.not_found"
    listed = await stub.ListMedia(media_pb2.ListMediaRequest(), metadata=token_for(stranger))
    assert list(listed.items) == []
    summaries = await stub.BatchGetMediaSummaries(
        media_pb2.BatchGetMediaSummariesRequest(media_ids=[media.id]), metadata=token_for(stranger)
    )
    assert list(summaries.items) == []
    still = await stub.GetMedia(media_pb2.GetMediaRequest(media_id=media.id), metadata=token_for(owner))
    assert still.media.title == media.title


async def test_batch_summaries_answer_the_owners_files_and_any_file_to_a_service(app, stub):
    owner = new_user()
    a = await register(app, owner, file_name="a.mp4")
    b = await register(app, owner, file_name="b.mp4")
    ids = [a.id, b.id, str(uuid.uuid4()), "not-a-uuid"]
    mine = await stub.BatchGetMediaSummaries(
        media_pb2.BatchGetMediaSummariesRequest(media_ids=ids), metadata=token_for(owner)
    )
    assert {(s.id, s.file_name) for s in mine.items} == {(a.id, "a.mp4"), (b.id, "b.mp4")}
    assert all(s.status == media_pb2.MEDIA_STATUS_PROCESSING and s.size_bytes > 0 for s in mine.items)
    service = await stub.BatchGetMediaSummaries(
        media_pb2.BatchGetMediaSummariesRequest(media_ids=ids), metadata=token_for(Identity.service("course"))
    )
    assert len(service.items) == 2


async def test_a_call_without_a_token_is_unauthenticated(stub):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListMedia(media_pb2.ListMediaRequest())
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_an_idempotency_key_replays_the_first_answer(app, stub):
    owner = new_user()
    media = await register(app, owner)
    request = media_pb2.UpdateMediaRequest(
        media_id=media.id, expected_version=media.version, title="Once", idempotency_key=str(uuid.uuid4())
    )
    first = await stub.UpdateMedia(request, metadata=token_for(owner))
    again = await stub.UpdateMedia(request, metadata=token_for(owner))
    assert again == first and again.media.version == media.version + 1
    audit = await stub.ListMediaAudit(media_pb2.ListMediaAuditRequest(media_id=media.id), metadata=token_for(owner))
    assert [e.action for e in audit.items] == ["rename", "register"]
