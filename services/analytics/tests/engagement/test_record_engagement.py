"""RecordEngagement: validation per event, skip-and-count policy, outbox, idempotency keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from analytics_testing import course_created, fold, new_id, new_user
from lectern_analytics.bootstrap import AnalyticsApp
from lectern_analytics.engagement.schemas import EngagementInput
from lectern_common.errors import DomainError, ErrorKind
from lectern_common.identity import Identity
from lectern_common.plumbing_tables import outbox_events
from sqlalchemy import func, select, text


def event(kind: str, course_id: str, value: float | None = None, at: datetime | None = None, **ids: str):
    return EngagementInput(
        type=kind,
        course_id=course_id,
        lesson_id=ids.get("lesson_id"),
        media_id=ids.get("media_id"),
        at=at or datetime.now(UTC) - timedelta(minutes=5),
        value=value,
    )


async def known_course(app: AnalyticsApp) -> str:
    course_id = new_id("c")
    await fold(app, course_created(new_user(), course_id, "Known"))
    return course_id


async def stored_facts(app: AnalyticsApp, course_id: str) -> list[tuple[str, float]]:
    async with app.uow.read_only() as session:
        rows = await session.execute(
            text("SELECT type, value FROM engagement_events WHERE course_id = :c ORDER BY type"), {"c": course_id}
        )
        return [(r.type, r.value) for r in rows]


async def test_valid_events_are_stored_and_emitted_and_invalid_ones_skipped_and_counted(app: AnalyticsApp) -> None:
    course_id = await known_course(app)
    student = new_user("student")
    events = [
        event("watch_seconds", course_id, 90, lesson_id="l-1"),
        event("download", course_id),
        event("view", course_id, at=datetime.now(UTC) + timedelta(hours=1)),
        event("view", course_id),
    ]
    async with app.uow() as session:
        result = await app.engagement.record(session, student, events, "")

    assert (result.accepted, result.rejected) == (2, 2)
    assert result.rejected_fields == {
        "events.1.type": "must be one of view, watch_seconds, completion, sale, rating",
        "events.2.at": "must not be in the future",
    }
    assert await stored_facts(app, course_id) == [("view", 1.0), ("watch_seconds", 90.0)]
    async with app.uow.read_only() as session:
        outbox = (
            await session.execute(
                select(outbox_events.c.topic, outbox_events.c.event_type).where(outbox_events.c.key == course_id)
            )
        ).all()
    assert outbox == [(app.settings.engagement_topic, "engagement.recorded")] * 2


async def test_a_batch_with_no_valid_event_is_a_validation_error_keyed_by_event_and_field(app: AnalyticsApp) -> None:
    course_id = await known_course(app)
    events = [
        event("view", "c-nobody-knows"),
        event("rating", course_id, 7),
        event("sale", course_id, None),
        event("watch_seconds", course_id, 0),
        event("completion", course_id, at=datetime.now(UTC) - timedelta(days=400)),
    ]
    with pytest.raises(DomainError) as caught:
        async with app.uow() as session:
            await app.engagement.record(session, new_user(), events, "")

    error = caught.value
    assert error.kind is ErrorKind.VALIDATION_FAILED and error.code == "analytics.invalid_engagement"
    assert error.fields == {
        "events.0.courseId": "course not found",
        "events.1.value": "must be a rating from 1 to 5",
        "events.2.type": "sale events are recorded by a service (billing), not by users",
        "events.2.value": "must be an amount from 0 to 1e+06",
        "events.3.value": "must be more than 0 and at most 86400 seconds",
        "events.4.at": "must be within the last 366 days",
    }
    assert await stored_facts(app, course_id) == []


async def test_an_empty_batch_is_refused(app: AnalyticsApp) -> None:
    with pytest.raises(DomainError) as caught:
        async with app.uow() as session:
            await app.engagement.record(session, new_user(), [], "")
    assert caught.value.fields == {"events": "at least one event is required"}


async def test_a_deleted_course_takes_no_more_engagement(app: AnalyticsApp) -> None:
    from analytics_testing import record
    from lectern.events.v1 import course_events_pb2 as course_ev

    owner, course_id = new_user(), new_id("c")
    deleted = course_ev.CourseLifecycleChanged(course_id=course_id, owner_id=owner.user_id, version=2)
    await fold(app, course_created(owner, course_id, "Gone"), record("course.deleted", deleted, aggregate_id=course_id))
    with pytest.raises(DomainError) as caught:
        async with app.uow() as session:
            await app.engagement.record(session, new_user(), [event("view", course_id)], "")
    assert caught.value.fields == {"events.0.courseId": "course not found"}


async def test_a_repeat_with_the_same_idempotency_key_stores_nothing_more(app: AnalyticsApp) -> None:
    course_id = await known_course(app)
    student = Identity.service("billing")
    events = [event("sale", course_id, 25), event("rating", course_id, 0)]
    async with app.uow() as session:
        first = await app.engagement.record(session, student, events, "key-1")
    async with app.uow() as session:
        again = await app.engagement.record(session, student, events, "key-1")

    assert again == first and (first.accepted, first.rejected) == (1, 1)
    assert await stored_facts(app, course_id) == [("sale", 25.0)]
    with pytest.raises(DomainError) as caught:
        async with app.uow() as session:
            await app.engagement.record(session, student, [event("sale", course_id, 26)], "key-1")
    assert caught.value.kind is ErrorKind.CONFLICT


async def test_recording_invalidates_the_engagement_domains_of_the_course_owner(app: AnalyticsApp) -> None:
    owner, course_id = new_user(), new_id("c")
    await fold(app, course_created(owner, course_id, "Fresh"))
    now = datetime.now(UTC)
    from lectern_analytics.dashboards.schemas import DashboardRequest

    request = DashboardRequest("content", now - timedelta(days=1), now + timedelta(minutes=1), None)
    before = await app.dashboards.get_dashboard(owner, request)
    async with app.uow() as session:
        await app.engagement.record(session, new_user("student"), [event("view", course_id)], "")
    after = await app.dashboards.get_dashboard(owner, request)

    assert before.domains["engagement"]["totals"]["views"] == 0
    assert after.domains["engagement"]["totals"]["views"] == 1
    async with app.uow.read_only() as session:
        assert (await session.execute(select(func.count()).select_from(outbox_events))).scalar_one() >= 1


async def test_only_a_service_identity_records_sales(app: AnalyticsApp) -> None:
    """Issue 12 item 6: any signed-in user could once record sales for any course (forged ROI)."""
    course_id = await known_course(app)
    with pytest.raises(DomainError) as caught:
        async with app.uow() as session:
            await app.engagement.record(session, new_user("student"), [event("sale", course_id, 500)], "")
    assert caught.value.fields == {"events.0.type": "sale events are recorded by a service (billing), not by users"}
    async with app.uow() as session:
        mixed = await app.engagement.record(
            session, new_user("student"), [event("sale", course_id, 500), event("view", course_id)], ""
        )
    assert (mixed.accepted, mixed.rejected) == (1, 1)
    async with app.uow() as session:
        billed = await app.engagement.record(session, Identity.service("billing"), [event("sale", course_id, 25)], "")
    assert billed.accepted == 1
    assert await stored_facts(app, course_id) == [("sale", 25.0), ("view", 1.0)]
