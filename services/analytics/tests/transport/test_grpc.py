"""Through the real grpc.aio server (auth and error interceptor) and the real broker."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from analytics_testing import course_created, engagement, fold, link_added, media_file, new_id, new_user
from google.protobuf.json_format import ParseDict
from google.protobuf.timestamp_pb2 import Timestamp
from lectern.analytics.v1 import analytics_pb2 as pb
from lectern.events.v1 import engagement_events_pb2 as engagement_ev
from lectern_analytics.bootstrap import AnalyticsApp
from lectern_analytics.dashboards.schemas import DashboardRequest
from lectern_common.errors import ErrorKind, decode_grpc_error
from lectern_common.events import decode_event
from sqlalchemy import text


def stamp(value: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(value)
    return result


def dashboard_request(kind: int, course_id: str | None = None) -> pb.GetDashboardRequest:
    now = datetime.now(UTC)
    request = pb.GetDashboardRequest(dashboard=kind, to=stamp(now + timedelta(minutes=1)))
    getattr(request, "from").CopyFrom(stamp(now - timedelta(days=1)))
    if course_id is not None:
        request.course_id = course_id
    return request


async def error_of(call) -> tuple[grpc.StatusCode, object]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    rpc = caught.value
    return rpc.code(), decode_grpc_error(rpc.code(), rpc.details(), rpc.trailing_metadata())


async def test_get_dashboard_answers_each_domain_as_its_typed_message(app: AnalyticsApp, stub, auth) -> None:
    owner, course_id, media_id = new_user(), new_id("c"), new_id("m")
    await fold(
        app,
        course_created(owner, course_id, "Over gRPC"),
        media_file(owner, media_id, size=4096),
        link_added(owner, media_id, "course", course_id, course_id, 1),
    )
    response = await stub.GetDashboard(dashboard_request(pb.DASHBOARD_STORAGE), metadata=auth(owner), timeout=10)

    domains = response.domains
    assert [field.name for field, _ in domains.ListFields()] == ["storage", "usage"]
    assert domains.storage.total_bytes == 4096 and domains.storage.total_files == 1
    assert domains.usage.top_used[0].media_id == media_id and domains.usage.top_used[0].usage_count == 1
    assert domains.usage.top_used[0].created_at.seconds > 0 and domains.storage.computed_at.seconds > 0
    assert response.generated_at.seconds > 0


async def test_every_dashboard_answers_typed_domains_with_money_in_minor_units(app: AnalyticsApp, stub, auth) -> None:
    owner, course_id, media_id = new_user(), new_id("c"), new_id("m")
    now = datetime.now(UTC)
    await fold(
        app,
        course_created(owner, course_id, "Sold"),
        media_file(owner, media_id, size=2 * 10**9, duration=90.0),
        link_added(owner, media_id, "course", course_id, course_id, 1),
        engagement("sale", course_id, now - timedelta(hours=1), 19.99),
        engagement("sale", course_id, now - timedelta(hours=2), 0.015),  # rounds to 2 cents
        engagement("view", course_id, now - timedelta(hours=1)),
        engagement("rating", course_id, now - timedelta(hours=1), 4),
    )
    answers = {
        kind: (await stub.GetDashboard(dashboard_request(kind), metadata=auth(owner), timeout=10)).domains
        for kind in (pb.DASHBOARD_STORAGE, pb.DASHBOARD_CONTENT, pb.DASHBOARD_ROI, pb.DASHBOARD_CAPACITY)
    }
    present = {kind: [field.name for field, _ in domains.ListFields()] for kind, domains in answers.items()}
    assert present == {
        pb.DASHBOARD_STORAGE: ["storage", "usage"],
        pb.DASHBOARD_CONTENT: ["content", "engagement"],
        pb.DASHBOARD_ROI: ["engagement", "sales", "production", "combined"],
        pb.DASHBOARD_CAPACITY: ["storage_growth", "engagement_growth"],
    }
    roi = answers[pb.DASHBOARD_ROI]
    assert roi.sales.total_revenue == pb.Money(currency="USD", amount_minor=2001)
    assert roi.sales.total_sales == 2 and roi.sales.per_course[0].revenue.amount_minor == 2001
    assert roi.production.totals.media_bytes == 2 * 10**9 and roi.production.totals.media_minutes == 1.5
    assert roi.combined.revenue_per_gb == pb.Money(currency="USD", amount_minor=1001)  # 20.01 / 2 GB, half up
    assert roi.engagement.totals.views == 1 and roi.engagement.totals.average_rating == 4.0
    # A warm call (every domain from the cache, merged as bytes) answers the same messages; the
    # derived entry, built field by field, equals ParseDict of its figures.
    roi_request = dashboard_request(pb.DASHBOARD_ROI)
    cold = await stub.GetDashboard(roi_request, metadata=auth(owner), timeout=10)
    hits = app.dashboards.cache_hits
    warm = await stub.GetDashboard(roi_request, metadata=auth(owner), timeout=10)
    assert app.dashboards.cache_hits == hits + 3 and warm.domains == cold.domains
    roi_range = DashboardRequest("roi", now - timedelta(days=1), now + timedelta(minutes=1), None)
    in_process = await app.dashboards.get_dashboard(owner, roi_range)
    assert roi.combined == ParseDict(in_process.domains["combined"], pb.RoiCombined())
    content = answers[pb.DASHBOARD_CONTENT]
    assert content.content.courses == 1 and content.content.media_files == 1
    assert content.engagement.per_course[0].course_id == course_id
    capacity = answers[pb.DASHBOARD_CAPACITY]
    assert sum(day.bytes_added for day in capacity.storage_growth.per_day) == 2 * 10**9
    assert capacity.engagement_growth.total_events == 4 and capacity.engagement_growth.trend.direction
    assert all(len(day.day) == 10 for day in capacity.engagement_growth.per_day)  # YYYY-MM-DD


async def test_a_call_without_an_internal_token_is_unauthenticated(stub) -> None:
    code, _ = await error_of(stub.GetDashboard(dashboard_request(pb.DASHBOARD_STORAGE), timeout=10))
    assert code is grpc.StatusCode.UNAUTHENTICATED


async def test_another_users_course_is_not_found_over_grpc(app: AnalyticsApp, stub, auth) -> None:
    owner, course_id = new_user(), new_id("c")
    await fold(app, course_created(owner, course_id, "Mine"))
    code, error = await error_of(
        stub.GetDashboard(dashboard_request(pb.DASHBOARD_ROI, course_id), metadata=auth(new_user()), timeout=10)
    )
    assert code is grpc.StatusCode.NOT_FOUND and error.code == "analytics.course_not_found"


async def test_an_unspecified_dashboard_is_invalid_argument_with_fields(stub, auth) -> None:
    request = pb.GetDashboardRequest()
    code, error = await error_of(stub.GetDashboard(request, metadata=auth(new_user()), timeout=10))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert error.kind is ErrorKind.VALIDATION_FAILED and set(error.fields) == {"dashboard", "from", "to"}


async def test_record_engagement_answers_accepted_and_rejected(app: AnalyticsApp, stub, auth) -> None:
    course_id = new_id("c")
    await fold(app, course_created(new_user(), course_id, "Player"))
    at = stamp(datetime.now(UTC) - timedelta(minutes=1))
    request = pb.RecordEngagementRequest(
        events=[
            pb.EngagementEvent(type="watch_seconds", course_id=course_id, at=at, value=30, lesson_id="l-1"),
            pb.EngagementEvent(type="rating", course_id=course_id, at=at, value=9),
        ],
        idempotency_key=uuid.uuid4().hex,
    )
    response = await stub.RecordEngagement(request, metadata=auth(new_user("student")), timeout=10)
    assert (response.accepted, response.rejected) == (1, 1)
    assert dict(response.rejected_fields) == {"events.1.value": "must be a rating from 1 to 5"}

    bad = pb.RecordEngagementRequest(events=[pb.EngagementEvent(type="view", course_id=course_id)])
    code, error = await error_of(stub.RecordEngagement(bad, metadata=auth(new_user()), timeout=10))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and error.fields == {"events.0.at": "is required"}


async def test_through_kafka_engagement_is_emitted_and_a_media_event_refreshes_a_cached_dashboard(
    app: AnalyticsApp, stub, auth, lectern_infra
) -> None:
    """RecordEngagement -> outbox -> relay -> engagement topic (key = course id) -> our consumer;
    and a media event published to the broker invalidates the owner's cached storage domain."""
    settings = app.settings
    topics = [settings.engagement_topic, settings.media_topic, settings.course_topic]
    await lectern_infra.create_topics(topics, partitions=1)
    owner, course_id, media_id = new_user(), new_id("c"), new_id("m")
    await fold(app, course_created(owner, course_id, "Broker"), media_file(owner, media_id, size=100))
    cached = await stub.GetDashboard(dashboard_request(pb.DASHBOARD_STORAGE), metadata=auth(owner), timeout=10)
    async with app.uow() as session:  # behind the cache's back
        await session.execute(text("UPDATE media_files SET size_bytes = 1 WHERE media_id = :m"), {"m": media_id})

    stop = asyncio.Event()
    parts = [asyncio.create_task(app.consumer.run(stop)), asyncio.create_task(app.relay.run(stop))]
    reader = AIOKafkaConsumer(
        settings.engagement_topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"test-reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    await reader.start()
    try:
        at = stamp(datetime.now(UTC) - timedelta(minutes=1))
        request = pb.RecordEngagementRequest(events=[pb.EngagementEvent(type="view", course_id=course_id, at=at)])
        assert (await stub.RecordEngagement(request, metadata=auth(new_user("student")), timeout=10)).accepted == 1
        emitted = None
        async with asyncio.timeout(30):
            while emitted is None:
                batch = await reader.getmany(timeout_ms=500)
                for message in (m for messages in batch.values() for m in messages):
                    if message.key == course_id.encode():
                        emitted = message

        still_cached = await stub.GetDashboard(
            dashboard_request(pb.DASHBOARD_STORAGE), metadata=auth(owner), timeout=10
        )
        update = media_file(owner, media_id, size=300, version=3, event_type="media.file.updated")
        await producer.send_and_wait(settings.media_topic, update.value, key=media_id.encode(), headers=update.headers)
        fresh = None
        async with asyncio.timeout(30):
            while True:
                fresh = await stub.GetDashboard(
                    dashboard_request(pb.DASHBOARD_STORAGE), metadata=auth(owner), timeout=10
                )
                if fresh.domains.storage.total_bytes != 100:
                    break
                await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*parts), timeout=15)
        await reader.stop()
        await producer.stop()

    event = decode_event(emitted.value, tuple(emitted.headers))
    assert event.type == "engagement.recorded" and event.unpack(engagement_ev.EngagementRecorded).type == "view"
    assert cached.domains.storage.total_bytes == 100
    assert still_cached.domains.storage.total_bytes == 100
    assert fresh.domains.storage.total_bytes == 300
    async with app.uow.read_only() as session:
        views = await session.execute(
            text("SELECT count(*) FROM engagement_events WHERE course_id = :c"), {"c": course_id}
        )
        assert views.scalar_one() == 1  # one fact, however often its event is delivered
