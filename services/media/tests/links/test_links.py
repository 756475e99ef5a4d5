"""Links: validation through course, usage counts, audit rows and events in the same transaction,
and the race between linking and hard-deleting one file."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from lectern.media.v1 import media_pb2
from lectern_common.errors import ERROR_METADATA_KEY, DomainError
from lectern_common.plumbing_tables import outbox_events
from lectern_media.deletion.schemas import DeleteMode
from lectern_media.links.schemas import ResourceRef, ResourceType
from lectern_media.models import MediaFile, MediaLink
from media_testing import course_with, new_user, register, token_for
from sqlalchemy import func, select

LESSON = media_pb2.RESOURCE_TYPE_LESSON
CHAPTER = media_pb2.RESOURCE_TYPE_CHAPTER
COURSE = media_pb2.RESOURCE_TYPE_COURSE


def error_of(exc: grpc.aio.AioRpcError) -> dict:
    for key, value in exc.trailing_metadata() or ():
        if key == ERROR_METADATA_KEY:
            return json.loads(value)
    raise AssertionError("no structured error")


async def test_link_and_unlink_keep_usage_audit_and_events_in_step(app, stub, course):
    stand_in, _ = course
    owner = new_user()
    c = course_with(stand_in, owner, chapters=1, lessons=2)
    media = await register(app, owner)
    meta = token_for(owner)
    first = await stub.LinkMedia(
        media_pb2.LinkMediaRequest(media_id=media.id, resource_type=LESSON, resource_id=c["lessons"][0]), metadata=meta
    )
    assert first.link.course_id == c["course"] and first.link.linked_by == owner.user_id
    await stub.LinkMedia(
        media_pb2.LinkMediaRequest(media_id=media.id, resource_type=CHAPTER, resource_id=c["chapters"][0]),
        metadata=meta,
    )
    await stub.LinkMedia(
        media_pb2.LinkMediaRequest(media_id=media.id, resource_type=COURSE, resource_id=c["course"]), metadata=meta
    )
    # Linking the same target again changes nothing.
    again = await stub.LinkMedia(
        media_pb2.LinkMediaRequest(media_id=media.id, resource_type=LESSON, resource_id=c["lessons"][0]), metadata=meta
    )
    assert again.link.linked_at == first.link.linked_at
    usage = await stub.GetMediaUsage(media_pb2.GetMediaUsageRequest(media_id=media.id), metadata=meta)
    assert usage.count == 3
    assert {(lk.resource_type, lk.resource_id) for lk in usage.links} == {
        (LESSON, c["lessons"][0]),
        (CHAPTER, c["chapters"][0]),
        (COURSE, c["course"]),
    }
    removed = await stub.UnlinkMedia(
        media_pb2.UnlinkMediaRequest(media_id=media.id, resource_type=CHAPTER, resource_id=c["chapters"][0]),
        metadata=meta,
    )
    assert removed.removed
    not_there = await stub.UnlinkMedia(
        media_pb2.UnlinkMediaRequest(media_id=media.id, resource_type=CHAPTER, resource_id=c["chapters"][0]),
        metadata=meta,
    )
    assert not not_there.removed
    got = await stub.GetMedia(media_pb2.GetMediaRequest(media_id=media.id), metadata=meta)
    assert got.media.usage_count == 2 and len(got.links) == 2
    audit = await stub.ListMediaAudit(media_pb2.ListMediaAuditRequest(media_id=media.id, limit=2), metadata=meta)
    assert [e.action for e in audit.items] == ["unlink", "link"]
    assert audit.items[0].details["resourceId"] == c["chapters"][0] and audit.items[0].actor == owner.user_id
    rest = await stub.ListMediaAudit(
        media_pb2.ListMediaAuditRequest(media_id=media.id, cursor=audit.next_cursor), metadata=meta
    )
    assert [e.action for e in rest.items] == ["link", "link", "register"] and rest.next_cursor == ""
    async with app.uow.read_only() as session:
        types = (
            await session.execute(
                select(outbox_events.c.event_type).where(outbox_events.c.key == media.id).order_by(outbox_events.c.id)
            )
        ).scalars()
        assert list(types)[1:] == ["media.link.added"] * 3 + ["media.link.removed"]


async def test_link_to_a_target_course_does_not_know_or_the_caller_cannot_edit_is_refused(app, stub, course):
    stand_in, _ = course
    owner, other = new_user(), new_user()
    media = await register(app, owner)
    foreign = course_with(stand_in, other)
    for resource_id in ["lesson-that-never-was", foreign["lessons"][0]]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.LinkMedia(
                media_pb2.LinkMediaRequest(media_id=media.id, resource_type=LESSON, resource_id=resource_id),
                metadata=token_for(owner),
            )
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert error_of(caught.value)["code"] == "media.link_target_not_found"
    # Course was asked as the caller (the token was re-issued for the user, not for media).
    assert stand_in.callers[-1] == owner.user_id
    usage = await stub.GetMediaUsage(media_pb2.GetMediaUsageRequest(media_id=media.id), metadata=token_for(owner))
    assert usage.count == 0


async def test_linking_a_soft_deleted_file_is_a_conflict(app, stub, course):
    stand_in, _ = course
    owner = new_user()
    c = course_with(stand_in, owner)
    media = await register(app, owner)
    meta = token_for(owner)
    await stub.DeleteMedia(
        media_pb2.DeleteMediaRequest(media_id=media.id, mode=media_pb2.DELETE_MODE_SOFT), metadata=meta
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.LinkMedia(
            media_pb2.LinkMediaRequest(media_id=media.id, resource_type=LESSON, resource_id=c["lessons"][0]),
            metadata=meta,
        )
    assert error_of(caught.value)["code"] == "media.deleted"


async def test_concurrent_link_and_hard_delete_never_leave_a_link_to_a_deleted_file(app, course):
    stand_in, _ = course
    outcomes = set()
    # The delete starts after a growing head start for the links, so every interleaving happens:
    # delete first, links first, and links racing the delete while it holds the row lock.
    for delay in [0, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.3]:
        owner = new_user()
        c = course_with(stand_in, owner, chapters=1, lessons=4)
        media = await register(app, owner)

        async def link(lesson: str, owner=owner, media=media) -> str:
            try:
                async with app.uow() as session:
                    await app.links.link(session, owner, media.id, ResourceRef(ResourceType.LESSON, lesson))
                return "linked"
            except DomainError as exc:
                return exc.code

        async def hard_delete(owner=owner, media=media, delay=delay) -> str:
            await asyncio.sleep(delay)
            try:
                async with app.uow() as session:
                    await app.deletion.delete(session, owner, media.id, mode=DeleteMode.HARD)
                return "deleted"
            except DomainError as exc:
                return exc.code

        results = await asyncio.gather(hard_delete(), *(link(lesson) for lesson in c["lessons"]))
        async with app.uow.read_only() as session:
            file_left = (
                await session.execute(select(MediaFile.usage_count).where(MediaFile.id == media.id))
            ).scalar_one_or_none()
            links_left = (
                await session.execute(select(func.count()).select_from(MediaLink).where(MediaLink.media_id == media.id))
            ).scalar()
        if results[0] == "deleted":
            assert file_left is None and links_left == 0
            assert set(results[1:]) <= {"media.not_found", "linked"}
            assert "linked" not in results[1:], results  # a committed link would have blocked the delete
        else:
            assert results[0] == "media.has_dependencies"
            assert file_left is not None and links_left == file_left == results.count("linked") > 0
        outcomes.add(results[0])
    assert outcomes == {"deleted", "media.has_dependencies"}
