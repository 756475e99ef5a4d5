"""The batch path stores file states, link changes and lesson states a statement per kind
(facts.segment): with real PostgreSQL, out-of-order versions, repeated changes of one row and mixed
types inside one batch leave exactly what the same events one at a time leave; a poison event is
parked alone and the rest of its batch is applied."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from analytics_testing import course_created, engagement, media_file, media_lifecycle, new_id, new_user
from analytics_testing import record as event_record
from lectern.events.v1 import course_events_pb2 as course_ev
from lectern.events.v1 import media_events_pb2 as media_ev
from lectern_analytics.bootstrap import AnalyticsApp
from lectern_common.identity import Identity
from sqlalchemy import event, text

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# A file's columns but its title (the test helpers make it of the id, which differs per run).
FILE_COLUMNS = "media_id, owner_id, file_name, mime_type, size_bytes, status, duration_seconds, usage_count, version, "
FILE_COLUMNS += "created_at, deleted_at, purged_at"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def link(owner: Identity, media_id: str, lesson_id: str, course_id: str, usage: int, *, added: bool, when: datetime):
    payload = media_ev.MediaLinkChanged(
        media_id=media_id,
        owner_id=owner.user_id,
        resource_type="lesson",
        resource_id=lesson_id,
        course_id=course_id,
        usage_count=usage,
        reason="user",
    )
    kind = "media.link.added" if added else "media.link.removed"
    return event_record(kind, payload, aggregate_id=media_id, at=when)


def lesson(owner: Identity, course_id: str, lesson_id: str, kind: str, title: str, chapter: str, media_id: str | None):
    payload = course_ev.LessonChanged(
        course_id=course_id, chapter_id=chapter, lesson_id=lesson_id, title=title, owner_id=owner.user_id
    )
    if media_id:
        payload.media_id = media_id
    return event_record(f"course.lesson.{kind}", payload, aggregate_id=course_id, at=at(0))


async def rows(app: AnalyticsApp, sql: str, **params: object) -> list[dict[str, Any]]:
    async with app.uow.read_only() as session:
        return [dict(r._mapping) for r in (await session.execute(text(sql), params))]


async def facts_of(app: AnalyticsApp, ids: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Every fact row of a scenario, with its ids replaced by their names in ``ids``."""
    names = {value: name for name, value in ids.items()}

    def named(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(
            ({k: names.get(v, v) if isinstance(v, str) else v for k, v in row.items()} for row in found), key=repr
        )

    media = [v for k, v in ids.items() if k.startswith("m")]
    return {
        "files": named(await rows(app, f"SELECT {FILE_COLUMNS} FROM media_files WHERE media_id = ANY(:m)", m=media)),
        "links": named(await rows(app, "SELECT * FROM media_links WHERE media_id = ANY(:m)", m=media)),
        "lessons": named(await rows(app, "SELECT * FROM lessons WHERE course_id = :c", c=ids["course"])),
        "engagement": named(
            await rows(
                app, "SELECT type, course_id, value FROM engagement_events WHERE course_id = :c", c=ids["course"]
            )
        ),
    }


@contextmanager
def writes_to(app: AnalyticsApp, table: str) -> Iterator[list[str]]:
    """The statements that write ``table`` while the block runs (an executemany is one)."""
    seen: list[str] = []

    def hit(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) and f" {table}" in statement:
            seen.append(statement)

    event.listen(app.engine.sync_engine, "before_cursor_execute", hit)
    try:
        yield seen
    finally:
        event.remove(app.engine.sync_engine, "before_cursor_execute", hit)


Scenario = Callable[[Identity, dict[str, str]], list[SimpleNamespace]]


async def batched_against_one_at_a_time(app: AnalyticsApp, scenario: Scenario) -> dict[str, list[Any]]:
    """Fold the scenario's events as one batch (for one owner) and one at a time (for another);
    assert both leave the same facts, and answer the batched ones."""
    results = []
    for batched in (True, False):
        owner = new_user()
        ids = {"owner": owner.user_id, "course": new_id("c"), **{k: new_id(k) for k in ("m1", "m2", "l1", "l2")}}
        records = scenario(owner, ids)
        if batched:
            fallbacks = app.consumer.fallbacks
            with writes_to(app, "media_files") as file_writes:
                assert await app.consumer.process_batch(records) is True
            assert app.consumer.fallbacks == fallbacks, "the batch fell back to one event at a time"
        else:
            for one in records:
                await app.consumer.process(one)
        results.append(await facts_of(app, ids))
    assert results[0] == results[1]
    return {**results[0], "batched file writes": file_writes}


async def test_file_states_out_of_order_in_one_batch_keep_the_newest_and_the_first_time(app: AnalyticsApp) -> None:
    def scenario(owner: Identity, ids: dict[str, str]) -> list[SimpleNamespace]:
        m1, m2 = ids["m1"], ids["m2"]
        return [
            media_file(owner, m1, size=10, status="ready", version=2, at=at(2)),
            media_file(owner, m1, size=5, status="processing", version=1, at=at(1), event_type="media.file.registered"),
            media_file(owner, m2, size=1, status="processing", version=1, at=at(3), event_type="media.file.registered"),
            media_file(owner, m2, size=7, status="ready", version=3, at=at(4)),
            media_file(owner, m2, size=8, status="ready", version=3, at=at(5), event_type="media.file.updated"),
            media_file(owner, m2, size=2, status="failed", version=2, at=at(6), event_type="media.file.failed"),
        ]

    found = await batched_against_one_at_a_time(app, scenario)
    assert len(found["batched file writes"]) == 1  # six states of two files, one statement
    files = {row["media_id"]: row for row in found["files"]}
    assert (files["m1"]["status"], files["m1"]["size_bytes"], files["m1"]["version"]) == ("ready", 10, 2)
    assert files["m1"]["created_at"] == at(2)  # the first event's time: it inserted the row
    # Equal versions: the later state wins, as `version <=` lets it; the older v2 does not.
    assert (files["m2"]["status"], files["m2"]["size_bytes"], files["m2"]["version"]) == ("ready", 8, 3)
    assert files["m2"]["created_at"] == at(3)


async def test_a_batch_older_than_the_stored_file_changes_nothing(app: AnalyticsApp) -> None:
    owner, media_id = new_user(), new_id("m")
    assert await app.consumer.process(media_file(owner, media_id, size=50, version=5, at=at(0)))
    batch = [
        media_file(owner, media_id, size=1, version=3, at=at(1), event_type="media.file.updated"),
        media_file(owner, media_id, size=2, version=4, at=at(2), event_type="media.file.updated"),
    ]
    assert await app.consumer.process_batch(batch) is True
    (stored,) = await rows(
        app, "SELECT size_bytes, version, created_at FROM media_files WHERE media_id = :m", m=media_id
    )
    assert stored == {"size_bytes": 50, "version": 5, "created_at": at(0)}


async def test_repeated_link_changes_in_one_batch_end_as_one_at_a_time(app: AnalyticsApp) -> None:
    def scenario(owner: Identity, ids: dict[str, str]) -> list[SimpleNamespace]:
        m1, m2, l1, l2, course = ids["m1"], ids["m2"], ids["l1"], ids["l2"], ids["course"]
        return [
            media_file(owner, m1, size=10, at=at(0)),
            media_file(owner, m2, size=20, at=at(0)),
            link(owner, m1, l1, course, 1, added=True, when=at(1)),
            link(owner, m1, l1, course, 1, added=True, when=at(2)),  # the same link again: no change
            link(owner, m1, l1, course, 0, added=False, when=at(3)),
            link(owner, m1, l1, course, 1, added=True, when=at(4)),  # re-added: linked at 4
            link(owner, m1, l2, course, 2, added=True, when=at(5)),
            link(owner, m2, l1, course, 1, added=True, when=at(6)),
            link(owner, m2, l1, course, 0, added=False, when=at(7)),
        ]

    found = await batched_against_one_at_a_time(app, scenario)
    assert len(found["batched file writes"]) == 2  # the files' upsert, then every usage count
    links = {(row["media_id"], row["resource_id"]): row["linked_at"] for row in found["links"]}
    assert links == {("m1", "l1"): at(4), ("m1", "l2"): at(5)}
    usage = {row["media_id"]: row["usage_count"] for row in found["files"]}
    assert usage == {"m1": 2, "m2": 0}


async def test_a_link_counted_before_its_file_arrives_is_lost_as_one_at_a_time(app: AnalyticsApp) -> None:
    """A link change ahead of its file's first state: one at a time its count finds no row; the
    batch must not count it either (the segment ends before the file change)."""

    def scenario(owner: Identity, ids: dict[str, str]) -> list[SimpleNamespace]:
        m1, l1, course = ids["m1"], ids["l1"], ids["course"]
        return [
            link(owner, m1, l1, course, 3, added=True, when=at(1)),
            media_file(owner, m1, size=10, at=at(2)),
            link(owner, m1, ids["l2"], course, 4, added=True, when=at(3)),
            media_file(owner, ids["m2"], size=10, at=at(4)),
        ]

    found = await batched_against_one_at_a_time(app, scenario)
    assert {row["media_id"]: row["usage_count"] for row in found["files"]} == {"m1": 4, "m2": 0}


async def test_lesson_changes_in_one_batch_keep_the_first_media_and_the_last_title(app: AnalyticsApp) -> None:
    def scenario(owner: Identity, ids: dict[str, str]) -> list[SimpleNamespace]:
        course, l1, l2 = ids["course"], ids["l1"], ids["l2"]
        return [
            course_created(owner, course, "Lessons"),
            lesson(owner, course, l1, "added", "First", "ch-1", ids["m1"]),
            lesson(owner, course, l1, "renamed", "Second", "ch-1", ids["m2"]),
            lesson(owner, course, l1, "moved", "Second", "ch-2", None),
            lesson(owner, course, l2, "added", "Other", "ch-1", None),
        ]

    found = await batched_against_one_at_a_time(app, scenario)
    lessons = {row["lesson_id"]: row for row in found["lessons"]}
    assert (lessons["l1"]["title"], lessons["l1"]["chapter_id"], lessons["l1"]["media_id"]) == ("Second", "ch-2", "m1")
    assert lessons["l2"]["title"] == "Other"


async def test_mixed_types_in_one_batch_are_applied_in_order(app: AnalyticsApp) -> None:
    """Changes stored one at a time (lifecycle, lesson media, removals) between batched ones."""

    def scenario(owner: Identity, ids: dict[str, str]) -> list[SimpleNamespace]:
        m1, m2, l1, l2, course = ids["m1"], ids["m2"], ids["l1"], ids["l2"], ids["course"]
        media_set = course_ev.LessonMediaChanged(course_id=course, lesson_id=l2, media_id=m2)
        removed = course_ev.LessonRemoved(course_id=course, lesson_id=l1)
        return [
            course_created(owner, course, "Mixed"),
            media_file(owner, m1, size=10, version=2, at=at(0)),
            engagement("view", course, at(1), lesson_id=l1),
            media_lifecycle(owner, m1, "soft_deleted", 3),
            media_file(owner, m1, size=99, version=2, at=at(2), event_type="media.file.updated"),  # older than 3
            lesson(owner, course, l1, "added", "L1", "ch-1", m1),
            lesson(owner, course, l2, "added", "L2", "ch-1", None),
            event_record("course.lesson.media_set", media_set, aggregate_id=course),
            link(owner, m2, l2, course, 1, added=True, when=at(3)),
            media_file(owner, m2, size=20, at=at(4)),  # after its link: a new segment
            event_record("course.lesson.removed", removed, aggregate_id=course),
            engagement("completion", course, at(5), lesson_id=l2),
            lesson(owner, course, l1, "added", "L1", "ch-1", None),  # back, without media
            media_lifecycle(owner, m1, "restored", 4),
        ]

    found = await batched_against_one_at_a_time(app, scenario)
    files = {row["media_id"]: row for row in found["files"]}
    assert files["m1"]["deleted_at"] is None and files["m1"]["version"] == 4 and files["m1"]["size_bytes"] == 10
    assert files["m2"]["usage_count"] == 0  # its link came before the file's first state
    lessons = {row["lesson_id"]: row["media_id"] for row in found["lessons"]}
    assert lessons == {"l1": None, "l2": "m2"}
    assert sorted(row["type"] for row in found["engagement"]) == ["completion", "view"]


async def test_a_poison_event_is_parked_alone_and_its_batch_applied(app: AnalyticsApp) -> None:
    """A media.file.ready event holding a course's payload fails analytics' translation: the batch
    rolls back, and one event at a time (the consumer's fallback) parks that one alone."""
    owner, media_id, other = new_user(), new_id("m"), new_id("m")
    wrong_payload = course_ev.CourseChanged(course_id=new_id("c"), owner_id=owner.user_id, title="x", version=1)
    poison = event_record("media.file.ready", wrong_payload, aggregate_id=new_id("m"))
    batch = [media_file(owner, media_id, size=10, at=at(0)), poison, media_file(owner, other, size=20, at=at(1))]
    parked, fallbacks = app.consumer.parked, app.consumer.fallbacks
    assert await app.consumer.process_batch(batch) is False  # nothing applied: the loop goes one at a time
    assert app.consumer.fallbacks == fallbacks + 1
    assert await rows(app, "SELECT 1 FROM media_files WHERE media_id = ANY(:m)", m=[media_id, other]) == []
    for one in batch:
        await app.consumer._process_with_retry(one, asyncio.Event())
    assert app.consumer.parked == parked + 1
    stored = await rows(app, "SELECT media_id FROM media_files WHERE media_id = ANY(:m)", m=[media_id, other])
    assert sorted(r["media_id"] for r in stored) == sorted([media_id, other])
