"""Folding events into the fact tables: redelivery, versions, lifecycle, lessons, foreign types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from analytics_testing import (
    course_created,
    engagement,
    fold,
    lesson_added,
    media_file,
    media_lifecycle,
    new_id,
    new_user,
    record,
)
from lectern.events.v1 import course_events_pb2 as course_ev
from lectern.events.v1 import upload_events_pb2 as upload_ev
from lectern_analytics.bootstrap import AnalyticsApp
from lectern_analytics.dashboards.schemas import DashboardRequest
from lectern_analytics.engagement.schemas import EngagementInput
from lectern_common.plumbing_tables import outbox_events
from sqlalchemy import select, text


async def row(app: AnalyticsApp, sql: str, **params: object):
    async with app.uow.read_only() as session:
        return (await session.execute(text(sql), params)).first()


async def test_a_redelivered_media_event_is_applied_once(app: AnalyticsApp) -> None:
    owner, media_id = new_user(), new_id("m")
    ready = media_file(owner, media_id, size=10)
    assert await app.consumer.process(ready) is True
    assert await app.consumer.process(ready) is False
    assert (await row(app, "SELECT count(*) AS n FROM media_files WHERE media_id = :m", m=media_id)).n == 1


async def test_an_older_media_state_does_not_overwrite_a_newer_one(app: AnalyticsApp) -> None:
    owner, media_id = new_user(), new_id("m")
    await fold(
        app,
        media_file(owner, media_id, size=10, status="ready", version=2),
        media_file(owner, media_id, size=10, status="processing", version=1, event_type="media.file.registered"),
    )
    assert (await row(app, "SELECT status FROM media_files WHERE media_id = :m", m=media_id)).status == "ready"


async def test_soft_delete_restore_and_purge_move_a_file_through_its_lifecycle(app: AnalyticsApp) -> None:
    owner, media_id = new_user(), new_id("m")
    await fold(
        app, media_file(owner, media_id, size=10, version=2), media_lifecycle(owner, media_id, "soft_deleted", 3)
    )
    deleted = await row(app, "SELECT deleted_at, purged_at FROM media_files WHERE media_id = :m", m=media_id)
    await fold(app, media_lifecycle(owner, media_id, "restored", 4))
    restored = await row(app, "SELECT deleted_at FROM media_files WHERE media_id = :m", m=media_id)
    await fold(app, media_lifecycle(owner, media_id, "hard_deleted", 5))
    gone = await row(app, "SELECT purged_at FROM media_files WHERE media_id = :m", m=media_id)

    assert deleted.deleted_at is not None and deleted.purged_at is None
    assert restored.deleted_at is None
    assert gone.purged_at is not None


async def test_removed_lessons_and_chapters_leave_the_lesson_facts(app: AnalyticsApp) -> None:
    owner, course_id = new_user(), new_id("c")
    l1, l2, l3 = new_id("l"), new_id("l"), new_id("l")
    await fold(
        app,
        course_created(owner, course_id, "Lessons"),
        lesson_added(owner, course_id, l1),
        lesson_added(owner, course_id, l2),
        lesson_added(owner, course_id, l3),
        record(
            "course.lesson.removed", course_ev.LessonRemoved(course_id=course_id, lesson_id=l1), aggregate_id=course_id
        ),
        record(
            "course.chapter.removed",
            course_ev.ChapterRemoved(course_id=course_id, chapter_id="ch-1", lesson_ids=[l2]),
            aggregate_id=course_id,
        ),
    )
    left = await row(app, "SELECT array_agg(lesson_id) AS ids FROM lessons WHERE course_id = :c", c=course_id)
    assert left.ids == [l3]


async def test_our_own_engagement_event_consumed_back_is_not_stored_twice(app: AnalyticsApp) -> None:
    owner, course_id = new_user(), new_id("c")
    await fold(app, course_created(owner, course_id, "Own"))
    view = EngagementInput("view", course_id, None, None, datetime.now(UTC), None)
    async with app.uow() as session:
        await app.engagement.record(session, new_user("student"), [view], "")
    async with app.uow.read_only() as session:
        emitted = (
            await session.execute(
                select(outbox_events.c.value, outbox_events.c.headers).where(outbox_events.c.key == course_id)
            )
        ).one()
    # The relay would deliver exactly this record back to our consumer.
    back = SimpleNamespace(
        value=emitted.value, headers=[(k, v.encode()) for k, v in emitted.headers], topic="t", partition=0, offset=0
    )
    assert await app.consumer.process(back) is True
    assert (await row(app, "SELECT count(*) AS n FROM engagement_events WHERE course_id = :c", c=course_id)).n == 1


async def test_event_types_analytics_does_not_fold_are_acknowledged(app: AnalyticsApp) -> None:
    upload = upload_ev.UploadChanged(operation_id="op-1", owner_id="u", status="completed")
    assert await app.consumer.process(record("upload.completed", upload, aggregate_id="op-1")) is True
    assert app.consumer.parked == 0


async def test_a_fetched_batch_folds_in_one_transaction_as_one_event_at_a_time_does(app: AnalyticsApp) -> None:
    """The consumer's batch path (AnalyticsEventHandler.fold_batch): in order, so an engagement
    event after its course's creation in the same batch finds the owner; a duplicate inside the
    batch is stored once; the owner's cached engagement domains are invalidated after the commit."""
    now = datetime.now(UTC)

    def events(owner, course_id: str, media_id: str) -> list[SimpleNamespace]:
        view = engagement("view", course_id, now - timedelta(minutes=5), lesson_id="l1")
        return [
            view,
            course_created(owner, course_id, "Batched"),
            engagement("view", course_id, now - timedelta(minutes=4)),
            view,  # a duplicate inside the batch
            media_file(owner, media_id, size=10),
            engagement("completion", course_id, now - timedelta(minutes=3)),
            engagement("watch_seconds", course_id, now - timedelta(minutes=2), 30.0),
        ]

    request = DashboardRequest("content", now - timedelta(days=1), now + timedelta(minutes=1), None)
    batched, one_by_one = new_user(), new_user()
    before = await app.dashboards.get_dashboard(batched, request)  # cached now, empty
    assert before.domains["engagement"]["totals"]["views"] == 0

    duplicates = app.consumer.duplicates
    assert await app.consumer.process_batch(events(batched, new_id("c"), new_id("m"))) is True
    assert app.consumer.duplicates == duplicates + 1
    for one in events(one_by_one, new_id("c"), new_id("m")):
        await app.consumer.process(one)

    after = await app.dashboards.get_dashboard(batched, request)
    reference = await app.dashboards.get_dashboard(one_by_one, request)
    assert after.domains["engagement"]["totals"]["views"] == 2
    assert after.domains["engagement"]["totals"]["completions"] == 1
    assert {d: without_ids(f) for d, f in after.domains.items()} == {
        d: without_ids(f) for d, f in reference.domains.items()
    }


def without_ids(figures: object) -> object:
    """Figures with ids and times left out, so two owners' equal dashboards compare equal."""
    if isinstance(figures, dict):
        return {k: without_ids(v) for k, v in figures.items() if not k.endswith(("Id", "At"))}
    if isinstance(figures, list):
        return [without_ids(v) for v in figures]
    return figures
