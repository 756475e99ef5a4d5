"""The cached editor tree (courses.edit_cache) is never served once the course or a media summary
it shows has changed, whoever changed it: another replica (a second CourseApp on the same
database), a delete, a restore, a publish, a media event, or a save that was rolled back.

Every read goes through the real gRPC server of ``app``; every change is made by ``other``, whose
cache ``app`` knows nothing of. Each answer is compared with the tree loaded afresh (no cache)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import pytest
import pytest_asyncio
from lectern.course.v1 import course_pb2 as pb
from lectern_common.identity import Identity
from lectern_course.bootstrap import CourseApp
from lectern_course.courses.edit_cache import EditTreeCache
from lectern_course.editing import schemas as ops
from lectern_course.media_summaries.service import MediaFileFacts
from lectern_course.transport.messages import fill_edit
from sqlalchemy import event


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def other(app: CourseApp) -> AsyncIterator[CourseApp]:
    """A second replica on the same database, with its own cache."""
    async with CourseApp(app.settings) as replica:
        yield replica


async def read(stub: Any, auth: Any, who: Identity, course_id: str, include_deleted: bool = False) -> pb.CourseEdit:
    request = pb.GetCourseEditRequest(course_id=course_id, include_deleted=include_deleted)
    return (await stub.GetCourseEdit(request, metadata=auth(who), timeout=5)).course


async def fresh(app: CourseApp, who: Identity, course_id: str, include_deleted: bool = False) -> pb.CourseEdit:
    """The tree as loaded from the database, without the cache."""
    async with app.uow.read_only() as session:
        edit = await app.courses.get_course_edit(session, who, course_id, include_deleted=include_deleted)
    message = pb.CourseEdit()
    fill_edit(message, edit)
    return message


async def course_with_lessons(app: CourseApp, owner: Identity, media_id: str | None = None) -> tuple[str, int]:
    async with app.uow() as session:
        course = await app.courses.create_course(session, owner, title="Cached", description="")
    operations: list[ops.Operation] = [
        ops.AddChapter(temp_id="c", title="One"),
        ops.AddLesson(chapter_id="c", title="First", media_id=media_id),
        ops.AddLesson(chapter_id="c", title="Second"),
    ]
    async with app.uow() as session:
        saved = await app.editing.save_changes(
            session, owner, course_id=course.id, expected_version=1, operations=operations
        )
    return course.id, saved.course.course.version


async def rename_first_chapter(app: CourseApp, owner: Identity, course_id: str, version: int, title: str) -> int:
    async with app.uow.read_only() as session:
        chapter_id = (await app.courses.get_course_edit(session, owner, course_id)).chapters[0].id
    async with app.uow() as session:
        saved = await app.editing.save_changes(
            session,
            owner,
            course_id=course_id,
            expected_version=version,
            operations=[ops.RenameChapter(chapter_id=chapter_id, title=title)],
        )
    return saved.course.course.version


@contextmanager
def statements(app: CourseApp) -> Iterator[list[str]]:
    sent: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(app.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(app.engine.sync_engine, "before_cursor_execute", count)


async def test_an_unchanged_course_is_answered_from_the_cache_in_one_statement(app, stub, auth, new_user) -> None:
    owner = new_user()
    course_id, _ = await course_with_lessons(app, owner)
    first = await read(stub, auth, owner, course_id)
    hits = app.edit_trees.hits
    with statements(app) as sent:
        again = await read(stub, auth, owner, course_id)
    assert app.edit_trees.hits == hits + 1
    assert len(sent) == 1
    assert again == first == await fresh(app, owner, course_id)
    assert [lesson.title for lesson in again.chapters[0].lessons] == ["First", "Second"]


async def test_a_save_on_another_replica_is_never_answered_stale(app, other, stub, auth, new_user) -> None:
    owner = new_user()
    course_id, version = await course_with_lessons(app, owner)
    await read(stub, auth, owner, course_id)
    await read(stub, auth, owner, course_id)  # now cached on app

    version = await rename_first_chapter(other, owner, course_id, version, "Renamed elsewhere")

    after = await read(stub, auth, owner, course_id)
    assert after.course.version == version
    assert after.chapters[0].title == "Renamed elsewhere"
    assert after == await fresh(app, owner, course_id)


async def test_the_answer_of_a_save_is_its_tree_and_then_cached(app, stub, auth, new_user) -> None:
    owner = new_user()
    course_id, version = await course_with_lessons(app, owner)
    before = await read(stub, auth, owner, course_id)
    add = pb.AddLessonOp(chapter_id=before.chapters[0].id, temp_id="n", title="Third")
    saved = await stub.SaveCourseChanges(
        pb.SaveCourseChangesRequest(
            course_id=course_id, expected_version=version, operations=[pb.Operation(add_lesson=add)]
        ),
        metadata=auth(owner),
        timeout=5,
    )
    assert saved.course == await fresh(app, owner, course_id)
    assert saved.id_map["n"] == saved.course.chapters[0].lessons[2].id
    hits = app.edit_trees.hits
    assert await read(stub, auth, owner, course_id) == saved.course
    assert app.edit_trees.hits == hits + 1


async def test_delete_and_restore_on_another_replica_are_never_answered_stale(app, other, stub, auth, new_user) -> None:
    owner = new_user()
    course_id, _ = await course_with_lessons(app, owner)
    await read(stub, auth, owner, course_id)
    await read(stub, auth, owner, course_id, include_deleted=True)

    async with other.uow() as session:
        await other.courses.delete_course(session, owner, course_id=course_id)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await read(stub, auth, owner, course_id)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    deleted = await read(stub, auth, owner, course_id, include_deleted=True)
    assert deleted.course.HasField("deleted_at")
    assert deleted == await fresh(app, owner, course_id, include_deleted=True)

    async with other.uow() as session:
        await other.courses.restore_course(session, owner, course_id=course_id)
    restored = await read(stub, auth, owner, course_id)
    assert not restored.course.HasField("deleted_at")
    assert restored.course.version == deleted.course.version + 1
    assert restored == await fresh(app, owner, course_id)


async def test_a_publish_on_another_replica_is_never_answered_stale(app, other, stub, auth, new_user) -> None:
    owner = new_user()
    course_id, version = await course_with_lessons(app, owner)
    await read(stub, auth, owner, course_id)
    await read(stub, auth, owner, course_id)

    async with other.uow() as session:
        await other.courses.publish_course(session, owner, course_id=course_id, expected_version=version)

    published = await read(stub, auth, owner, course_id)
    assert published.course.published and published.course.version == version + 1
    assert published == await fresh(app, owner, course_id)


async def record_media(app: CourseApp, owner: Identity, media_id: str, status: str, version: int) -> None:
    facts = MediaFileFacts(
        media_id=media_id,
        owner_id=owner.user_id,
        file_name="talk.mp4",
        status=status,
        duration_seconds=None,
        size_bytes=10,
        version=version,
    )
    async with app.uow() as session:
        await app.media_summaries.record_file(session, facts)


async def test_a_media_change_is_never_answered_stale(app, other, stub, auth, new_user) -> None:
    """A media event changes a lesson's summary without touching the course's version."""
    owner = new_user()
    media_id = str(uuid.uuid4())
    await record_media(app, owner, media_id, "processing", 1)
    course_id, version = await course_with_lessons(app, owner, media_id=media_id)
    await read(stub, auth, owner, course_id)
    assert (await read(stub, auth, owner, course_id)).chapters[0].lessons[0].media.status == "processing"

    await record_media(other, owner, media_id, "ready", 2)
    ready = await read(stub, auth, owner, course_id)
    assert ready.course.version == version
    assert ready.chapters[0].lessons[0].media.status == "ready"
    assert ready == await fresh(app, owner, course_id)

    async with other.uow() as session:
        await other.media_summaries.record_lifecycle(session, "media.file.soft_deleted", media_id, 3)
    gone = await read(stub, auth, owner, course_id)
    assert not gone.chapters[0].lessons[0].HasField("media")
    assert gone == await fresh(app, owner, course_id)


async def test_a_save_that_was_rolled_back_is_never_cached(app, other, stub, auth, new_user) -> None:
    """Its version is given to the next save (on another replica), whose tree differs."""
    owner = new_user()
    course_id, version = await course_with_lessons(app, owner)
    chapter_id = (await read(stub, auth, owner, course_id)).chapters[0].id
    with pytest.raises(RuntimeError):
        async with app.uow() as session:
            await app.editing.save_changes(
                session,
                owner,
                course_id=course_id,
                expected_version=version,
                operations=[ops.RenameChapter(chapter_id=chapter_id, title="Rolled back")],
            )
            raise RuntimeError("the transaction fails after the save")
    assert app.edit_trees.at_version(course_id, version + 1) is None

    assert await rename_first_chapter(other, owner, course_id, version, "Committed") == version + 1
    after = await read(stub, auth, owner, course_id)
    assert after.course.version == version + 1
    assert after.chapters[0].title == "Committed"
    assert after == await fresh(app, owner, course_id)


def test_the_cache_is_bounded_by_bytes_least_recently_used_first() -> None:
    cache = EditTreeCache(lambda chapters: b"x" * len(chapters), max_bytes=10)
    tree = [object()] * 4
    cache.put("a", (1, 0), tree)  # type: ignore[arg-type]
    cache.put("b", (1, 0), tree)  # type: ignore[arg-type]
    assert cache.get("a", (1, 0)) == b"xxxx"  # a is now the most recently used
    cache.put("c", (1, 0), tree)  # type: ignore[arg-type]
    assert cache.get("b", (1, 0)) is None
    assert cache.get("a", (1, 0)) == b"xxxx" and cache.get("c", (1, 0)) == b"xxxx"
    assert cache.size_bytes == 8 and len(cache) == 2


def test_a_course_keeps_one_entry_and_an_older_tree_never_replaces_a_newer_one() -> None:
    cache = EditTreeCache(lambda chapters: bytes(len(chapters)), max_bytes=100)
    cache.put("a", (2, 0), [object()] * 3)  # type: ignore[arg-type]
    cache.put("a", (1, 5), [object()] * 7)  # type: ignore[arg-type]
    assert cache.get("a", (1, 5)) is None
    assert cache.get("a", (2, 0)) == bytes(3)
    cache.put("a", (2, 1), [object()] * 5)  # type: ignore[arg-type]
    assert cache.get("a", (2, 0)) is None and cache.get("a", (2, 1)) == bytes(5)
    assert cache.size_bytes == 5 and len(cache) == 1
    assert cache.at_version("a", 2) == bytes(5) and cache.at_version("a", 3) is None


def test_a_tree_larger_than_the_bound_is_answered_but_not_kept() -> None:
    cache = EditTreeCache(lambda chapters: bytes(len(chapters)), max_bytes=4)
    assert cache.put("a", (1, 0), [object()] * 5) == bytes(5)  # type: ignore[arg-type]
    assert cache.get("a", (1, 0)) is None and cache.size_bytes == 0
