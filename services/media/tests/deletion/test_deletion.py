"""Delete protection, soft delete with its snapshot, dry runs, restore, and the purge job."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from lectern.media.v1 import media_pb2
from lectern_common.errors import ERROR_METADATA_KEY
from lectern_common.plumbing_tables import outbox_events
from lectern_media.models import AuditEntry, DeletionSnapshot, MediaFile, MediaLink, ObjectDeletion
from media_testing import BUCKET, course_with, new_user, register, store, token_for
from sqlalchemy import func, select, text, update

LESSON = media_pb2.RESOURCE_TYPE_LESSON
CHAPTER = media_pb2.RESOURCE_TYPE_CHAPTER
SOFT = media_pb2.DELETE_MODE_SOFT
HARD = media_pb2.DELETE_MODE_HARD


def error_of(exc: grpc.aio.AioRpcError) -> dict:
    for key, value in exc.trailing_metadata() or ():
        if key == ERROR_METADATA_KEY:
            return json.loads(value)
    raise AssertionError("no structured error")


async def linked_file(app, stub, stand_in, owner, *, lessons: int = 2, published: bool = False):
    c = course_with(stand_in, owner, chapters=1, lessons=lessons, published=published)
    media = await register(app, owner)
    for lesson in c["lessons"]:
        await stub.LinkMedia(
            media_pb2.LinkMediaRequest(media_id=media.id, resource_type=LESSON, resource_id=lesson),
            metadata=token_for(owner),
        )
    return media, c


async def test_hard_delete_is_refused_while_links_exist_with_the_links_in_details(app, stub, course):
    owner = new_user()
    media, c = await linked_file(app, stub, course[0], owner)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DeleteMedia(media_pb2.DeleteMediaRequest(media_id=media.id, mode=HARD), metadata=token_for(owner))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    error = error_of(caught.value)
    assert error["kind"] == "HAS_DEPENDENCIES" and error["code"] == "media.has_dependencies"
    assert {link["resourceId"] for link in error["details"]["links"]} == set(c["lessons"])
    assert error["details"]["linkCount"] == 2
    got = await stub.GetMedia(media_pb2.GetMediaRequest(media_id=media.id), metadata=token_for(owner))
    assert got.media.usage_count == 2 and not got.media.HasField("deleted_at")


async def test_hard_delete_without_links_removes_the_row_and_the_object_and_keeps_the_history(app, stub):
    owner = new_user()
    media = await register(app, owner)
    async with app.uow.read_only() as session:
        key = (await session.execute(select(MediaFile.storage_key).where(MediaFile.id == media.id))).scalar_one()
    assert await store(app).head_object(key) is not None
    response = await stub.DeleteMedia(
        media_pb2.DeleteMediaRequest(media_id=media.id, mode=HARD), metadata=token_for(owner)
    )
    assert response.bytes_reclaimed == media.size_bytes and not response.dry_run
    # The object goes right after the answer (off the RPC's path).
    for _ in range(100):
        if await store(app).head_object(key) is None:
            break
        await asyncio.sleep(0.1)
    assert await store(app).head_object(key) is None
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetMedia(media_pb2.GetMediaRequest(media_id=media.id), metadata=token_for(owner))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    audit = await stub.ListMediaAudit(media_pb2.ListMediaAuditRequest(media_id=media.id), metadata=token_for(owner))
    assert [e.action for e in audit.items] == ["hard_delete", "register"]


class _StalledDeletes:
    """The real store, except that deleting waits until the test releases it (storage under load)."""

    def __init__(self, real: Any, release: asyncio.Event) -> None:
        self._real = real
        self._release = release

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def delete_object(self, key: str) -> None:
        await self._release.wait()
        await self._real.delete_object(key)


async def test_a_hard_delete_answers_without_waiting_for_the_object_store(app, stub):
    owner = new_user()
    media = await register(app, owner)
    async with app.uow.read_only() as session:
        key = (await session.execute(select(MediaFile.storage_key).where(MediaFile.id == media.id))).scalar_one()
    real = store(app)
    release = asyncio.Event()
    app.object_stores._stores[BUCKET] = _StalledDeletes(real, release)  # type: ignore[assignment]
    try:
        response = await asyncio.wait_for(
            stub.DeleteMedia(media_pb2.DeleteMediaRequest(media_id=media.id, mode=HARD), metadata=token_for(owner)),
            timeout=10,
        )
        assert response.bytes_reclaimed == media.size_bytes
        assert await real.head_object(key) is not None  # still queued: the answer did not wait for it
        release.set()
        for _ in range(100):
            if await real.head_object(key) is None:
                break
            await asyncio.sleep(0.1)
        assert await real.head_object(key) is None
    finally:
        release.set()
        app.object_stores._stores[BUCKET] = real


class _FailingDeletes(_StalledDeletes):
    """The real store, except that deleting fails (storage down after the delete committed)."""

    async def delete_object(self, key: str) -> None:
        raise ConnectionError("object store unreachable")


async def test_a_hard_delete_succeeds_when_the_object_store_fails_and_its_bytes_stay_queued(app, stub):
    owner = new_user()
    media = await register(app, owner)
    real = store(app)
    app.object_stores._stores[BUCKET] = _FailingDeletes(real, asyncio.Event())  # type: ignore[assignment]
    try:
        response = await stub.DeleteMedia(
            media_pb2.DeleteMediaRequest(media_id=media.id, mode=HARD), metadata=token_for(owner)
        )
        assert response.bytes_reclaimed == media.size_bytes
        await app.deletion.objects.drain()
        async with app.uow.read_only() as session:
            attempts = (
                await session.execute(select(ObjectDeletion.attempts).where(ObjectDeletion.media_id == media.id))
            ).scalar_one()
        assert attempts == 1  # the purge job tries again
    finally:
        app.object_stores._stores[BUCKET] = real
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetMedia(media_pb2.GetMediaRequest(media_id=media.id), metadata=token_for(owner))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_soft_delete_with_links_needs_force_then_snapshots_and_removes_them(app, stub, course):
    owner = new_user()
    media, c = await linked_file(app, stub, course[0], owner, lessons=3)
    meta = token_for(owner)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DeleteMedia(media_pb2.DeleteMediaRequest(media_id=media.id, mode=SOFT), metadata=meta)
    assert error_of(caught.value)["kind"] == "HAS_DEPENDENCIES"
    deleted = await stub.DeleteMedia(
        media_pb2.DeleteMediaRequest(media_id=media.id, mode=SOFT, force=True), metadata=meta
    )
    assert deleted.media.HasField("deleted_at") and deleted.media.usage_count == 0
    assert {lk.resource_id for lk in deleted.removed_links} == set(c["lessons"])
    assert [(a.course_id, a.link_count) for a in deleted.affected_courses] == [(c["course"], 3)]
    async with app.uow.read_only() as session:
        links = (await session.execute(select(func.count()).where(MediaLink.media_id == media.id))).scalar()
        snapshot = (
            await session.execute(select(DeletionSnapshot).where(DeletionSnapshot.media_id == media.id))
        ).scalar_one()
        assert links == 0 and {lk["resourceId"] for lk in snapshot.links} == set(c["lessons"])
        events = (
            await session.execute(
                select(outbox_events.c.event_type)
                .where(outbox_events.c.key == media.id)
                .order_by(outbox_events.c.id)  # without it the order is the heap's, not the writes'
            )
        ).scalars()
        assert list(events)[-1] == "media.file.soft_deleted"
    audit = await stub.ListMediaAudit(media_pb2.ListMediaAuditRequest(media_id=media.id, limit=1), metadata=meta)
    assert audit.items[0].action == "soft_delete" and audit.items[0].details["removedLinks"] == 3


async def test_a_dry_run_answers_links_courses_and_bytes_and_changes_nothing(app, stub, course):
    owner = new_user()
    media, c = await linked_file(app, stub, course[0], owner, published=True)
    meta = token_for(owner)

    async def state():
        async with app.uow.read_only() as session:
            row = (
                await session.execute(
                    select(MediaFile.version, MediaFile.usage_count, MediaFile.deleted_at).where(
                        MediaFile.id == media.id
                    )
                )
            ).one()
            audit = (await session.execute(select(func.count()).where(AuditEntry.media_id == media.id))).scalar()
            events = (await session.execute(select(func.count()).where(outbox_events.c.key == media.id))).scalar()
        return tuple(row), audit, events

    before = await state()
    for mode in (SOFT, HARD):
        preview = await stub.DeleteMedia(
            media_pb2.DeleteMediaRequest(media_id=media.id, mode=mode, dry_run=True), metadata=meta
        )
        assert preview.dry_run and len(preview.removed_links) == 2
        [affected] = preview.affected_courses
        assert (affected.course_id, affected.published, affected.link_count) == (c["course"], True, 2)
        assert affected.title == f"Course {c['course']}"
        assert preview.HasField("bytes_reclaimed") == (mode == HARD)
        if mode == HARD:
            assert preview.bytes_reclaimed == media.size_bytes
    assert await state() == before


async def test_restore_recreates_snapshot_links_and_skips_exactly_the_one_whose_target_went(app, stub, course):
    stand_in = course[0]
    owner = new_user()
    media, c = await linked_file(app, stub, stand_in, owner, lessons=3)
    meta = token_for(owner)
    await stub.DeleteMedia(media_pb2.DeleteMediaRequest(media_id=media.id, mode=SOFT, force=True), metadata=meta)
    gone = c["lessons"][1]
    stand_in.delete("lesson", gone)
    restored = await stub.RestoreMedia(
        media_pb2.RestoreMediaRequest(media_id=media.id, restore_links=True), metadata=meta
    )
    assert not restored.media.HasField("deleted_at")
    assert {lk.resource_id for lk in restored.restored_links} == set(c["lessons"]) - {gone}
    assert [(s.link.resource_id, s.reason) for s in restored.skipped_links] == [(gone, "target_deleted")]
    usage = await stub.GetMediaUsage(media_pb2.GetMediaUsageRequest(media_id=media.id), metadata=meta)
    assert usage.count == 2 and {lk.resource_id for lk in usage.links} == set(c["lessons"]) - {gone}
    audit = await stub.ListMediaAudit(media_pb2.ListMediaAuditRequest(media_id=media.id, limit=1), metadata=meta)
    assert audit.items[0].action == "restore" and audit.items[0].details["restoredLinks"] == 2
    # A second restore has nothing to do.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.RestoreMedia(media_pb2.RestoreMediaRequest(media_id=media.id), metadata=meta)
    assert error_of(caught.value)["code"] == "media.not_deleted"


async def test_restore_without_links_brings_back_only_the_file(app, stub, course):
    owner = new_user()
    media, _ = await linked_file(app, stub, course[0], owner)
    meta = token_for(owner)
    await stub.DeleteMedia(media_pb2.DeleteMediaRequest(media_id=media.id, mode=SOFT, force=True), metadata=meta)
    restored = await stub.RestoreMedia(media_pb2.RestoreMediaRequest(media_id=media.id), metadata=meta)
    assert not restored.media.HasField("deleted_at") and restored.media.usage_count == 0
    assert list(restored.restored_links) == [] and list(restored.skipped_links) == []


async def make_expired(app, media_ids, days: float) -> None:
    async with app.uow() as session:
        await session.execute(
            update(MediaFile)
            .where(MediaFile.id.in_(media_ids))
            .values(deleted_at=datetime.now(UTC) - timedelta(days=days))
        )


async def test_purge_hard_deletes_files_past_retention_with_their_objects(app, stub):
    owner = new_user()
    old = await register(app, owner)
    recent = await register(app, owner)
    meta = token_for(owner)
    for media in (old, recent):
        await stub.DeleteMedia(media_pb2.DeleteMediaRequest(media_id=media.id, mode=SOFT), metadata=meta)
    await make_expired(app, [old.id], days=31)
    await make_expired(app, [recent.id], days=29)
    async with app.uow.read_only() as session:
        keys = dict(
            (
                await session.execute(
                    select(MediaFile.id, MediaFile.storage_key).where(MediaFile.id.in_([old.id, recent.id]))
                )
            ).all()
        )
    report = await app.purge_job.run_once()
    assert old.id in report.purged and recent.id not in report.purged
    assert await store(app).head_object(keys[old.id]) is None
    assert await store(app).head_object(keys[recent.id]) is not None
    audit = await stub.ListMediaAudit(media_pb2.ListMediaAuditRequest(media_id=old.id), metadata=meta)
    assert audit.items[0].action == "purge" and audit.items[0].actor == "system:media"


async def test_two_purge_runs_at_once_delete_each_file_once(app, stub):
    owner = new_user()
    files = [await register(app, owner, body=f"bytes-{i}".encode()) for i in range(30)]
    ids = [m.id for m in files]
    async with app.uow() as session:
        await session.execute(
            update(MediaFile).where(MediaFile.id.in_(ids)).values(deleted_at=datetime.now(UTC) - timedelta(days=40))
        )
    # Small batches so the two runs interleave many transactions.
    from lectern_media.deletion.purge import PurgeJob

    jobs = [PurgeJob(app.uow, app.deletion, interval=60, batch_size=4) for _ in range(2)]
    first, second = await asyncio.gather(*(job.run_once() for job in jobs))
    mine = set(ids)
    assert not (set(first.purged) & set(second.purged))
    assert (set(first.purged) | set(second.purged)) >= mine
    async with app.uow.read_only() as session:
        per_file = (
            await session.execute(
                select(AuditEntry.media_id, func.count())
                .where(AuditEntry.media_id.in_(ids), AuditEntry.action == "purge")
                .group_by(AuditEntry.media_id)
            )
        ).all()
        purged_events = (
            await session.execute(
                select(func.count()).where(
                    outbox_events.c.key.in_(ids), outbox_events.c.event_type == "media.file.purged"
                )
            )
        ).scalar()
        left = (await session.execute(select(func.count()).where(MediaFile.id.in_(ids)))).scalar()
        queued = (await session.execute(select(func.count()).where(ObjectDeletion.media_id.in_(ids)))).scalar()
    assert sorted(n for _, n in per_file) == [1] * 30 and purged_events == 30 and left == 0 and queued == 0


async def test_the_audit_trail_refuses_to_be_rewritten(app):
    owner = new_user()
    media = await register(app, owner)
    with pytest.raises(Exception, match="append-only"):
        async with app.uow() as session:
            await session.execute(text("DELETE FROM media_audit WHERE media_id = :m"), {"m": media.id})


async def test_has_dependencies_details_carry_the_first_links_and_the_count(app, stub, course):
    owner = new_user()
    media, c = await linked_file(app, stub, course[0], owner, lessons=25)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DeleteMedia(media_pb2.DeleteMediaRequest(media_id=media.id, mode=SOFT), metadata=token_for(owner))
    details = error_of(caught.value)["details"]
    assert details["linkCount"] == 25 and details["truncated"] is True
    assert [link["resourceId"] for link in details["links"]] == c["lessons"][:20]


async def test_the_soft_delete_audit_names_the_courses_with_their_publish_state(app, stub, course):
    owner = new_user()
    published, live = await linked_file(app, stub, course[0], owner, lessons=1, published=True)
    meta = token_for(owner)
    draft = course_with(course[0], owner, chapters=1, lessons=1, published=False)
    await stub.LinkMedia(
        media_pb2.LinkMediaRequest(media_id=published.id, resource_type=LESSON, resource_id=draft["lessons"][0]),
        metadata=meta,
    )

    await stub.DeleteMedia(media_pb2.DeleteMediaRequest(media_id=published.id, mode=SOFT, force=True), metadata=meta)

    audit = await stub.ListMediaAudit(media_pb2.ListMediaAuditRequest(media_id=published.id, limit=1), metadata=meta)
    entry = audit.items[0]
    assert entry.action == "soft_delete"
    courses = {item["courseId"]: item for item in entry.details["courses"]}
    assert courses[live["course"]]["published"] is True
    assert courses[draft["course"]]["published"] is False
    assert courses[draft["course"]]["title"] == f"Course {draft['course']}"
    assert {item["linkCount"] for item in courses.values()} == {1}
