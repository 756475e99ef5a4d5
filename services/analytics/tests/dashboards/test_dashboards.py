"""Each dashboard's figures equal what the facts say; domains are cached, invalidated by their
events, computed concurrently; another user's course is NOT_FOUND; Redis down still answers."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from analytics_testing import (
    MB,
    KnownData,
    analytics_settings,
    course_created,
    engagement,
    fold,
    link_added,
    media_file,
    new_id,
    new_user,
    seed,
    without_times,
)
from lectern_analytics.bootstrap import AnalyticsApp
from lectern_analytics.dashboards.schemas import DashboardRequest
from lectern_common.errors import DomainError, ErrorKind
from sqlalchemy import text


def usd(amount_minor: int) -> dict[str, object]:
    return {"currency": "USD", "amountMinor": amount_minor}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def known(app: AnalyticsApp) -> KnownData:
    return await seed(app)


def last_day(name: str, course_id: str | None = None) -> DashboardRequest:
    now = datetime.now(UTC)
    return DashboardRequest(name, now - timedelta(days=1), now + timedelta(minutes=1), course_id)


async def dashboard(app: AnalyticsApp, data: KnownData, name: str, course_id: str | None = None, days: int = 3):
    result = await app.dashboards.get_dashboard(data.owner, data.request(name, course_id, days))
    return {domain: without_times(figures) for domain, figures in result.domains.items()}


async def test_storage_dashboard_counts_live_bytes_reclaimable_and_unused_files(app, known: KnownData) -> None:
    d = known
    domains = await dashboard(app, d, "storage")

    assert set(domains) == {"storage", "usage"}
    assert domains["storage"] == {
        "totalFiles": 4,
        "totalBytes": 1802 * MB,
        "byMimeType": [
            {"mimeType": "video/mp4", "files": 3, "bytes": 1800 * MB},
            {"mimeType": "application/pdf", "files": 1, "bytes": 2 * MB},
        ],
        "byStatus": [
            {"status": "processing", "files": 1, "bytes": 300 * MB},
            {"status": "ready", "files": 3, "bytes": 1502 * MB},
        ],
        "reclaimable": {"files": 1, "bytes": 1 * MB},
    }
    usage = domains["usage"]
    assert usage["unused"]["files"] == 2 and usage["unused"]["bytes"] == 302 * MB
    assert [m["mediaId"] for m in usage["unused"]["largest"]] == [d.m4, d.m3]
    assert usage["used"] == {"files": 2, "bytes": 1500 * MB}
    assert [(m["mediaId"], m["usageCount"]) for m in usage["topUsed"]] == [(d.m2, 2), (d.m1, 1)]


async def test_storage_for_one_course_counts_only_the_media_it_holds(app, known: KnownData) -> None:
    domains = await dashboard(app, known, "storage", course_id=known.c2)
    # C2 holds M2 through a course link only.
    assert domains["storage"]["totalFiles"] == 1 and domains["storage"]["totalBytes"] == 500 * MB


async def test_content_dashboard_counts_courses_lessons_media_and_engagement_in_range(app, known) -> None:
    d = known
    domains = await dashboard(app, d, "content")

    assert domains["content"] == {
        "courses": 2,
        "lessons": 3,
        "lessonsWithMedia": 2,
        "mediaFiles": 4,
        "mediaReady": 3,
    }
    engagement = domains["engagement"]
    # The view an hour before the range and the other owner's sale are not counted.
    assert engagement["totals"] == {
        "views": 4,
        "watchSeconds": 180.0,
        "completions": 1,
        "ratings": 2,
        "averageRating": 4.5,
    }
    per_lesson = {row["lessonId"]: row for row in engagement["perLesson"]}
    assert (per_lesson[d.l1]["views"], per_lesson[d.l1]["watchSeconds"], per_lesson[d.l1]["completions"]) == (
        2,
        180.0,
        1,
    )
    assert per_lesson[d.l2]["views"] == 1 and per_lesson[d.l3]["views"] == 1
    per_media = {row["mediaId"]: row for row in engagement["perMedia"]}
    assert set(per_media) == {d.m1, d.m2}
    assert per_media[d.m1]["views"] == 2 and per_media[d.m1]["watchSeconds"] == 180.0
    per_course = {row["courseId"]: row for row in engagement["perCourse"]}
    assert per_course[d.c2]["views"] == 1 and per_course[d.c2]["averageRating"] is None


async def test_roi_dashboard_relates_revenue_ratings_and_production(app, known: KnownData) -> None:
    d = known
    domains = await dashboard(app, d, "roi")

    assert set(domains) == {"sales", "engagement", "production", "combined"}
    assert domains["sales"] == {
        "totalRevenue": usd(12000),
        "totalSales": 3,
        "perCourse": [
            {"courseId": d.c1, "title": "Python 101", "sales": 2, "revenue": usd(10000)},
            {"courseId": d.c2, "title": "Rust 201", "sales": 1, "revenue": usd(2000)},
        ],
    }
    production = domains["production"]
    # M2 is in both courses; the totals count it once.
    assert production["totals"] == {"mediaFiles": 2, "mediaBytes": 1500 * MB, "mediaMinutes": 15.0}
    per_course = {row["courseId"]: row for row in production["perCourse"]}
    assert (per_course[d.c1]["mediaFiles"], per_course[d.c1]["mediaBytes"], per_course[d.c1]["mediaMinutes"]) == (
        2,
        1500 * MB,
        15.0,
    )
    assert (per_course[d.c2]["mediaFiles"], per_course[d.c2]["mediaBytes"], per_course[d.c2]["mediaMinutes"]) == (
        1,
        500 * MB,
        5.0,
    )
    combined = domains["combined"]
    assert combined["revenuePerGb"] == usd(8000)
    # 100.00 over 1.5 GB is 66.666... a GB: rounded to the cent.
    assert {row["courseId"]: row["revenuePerGb"] for row in combined["perCourse"]} == {d.c1: usd(6667), d.c2: usd(4000)}


async def test_capacity_dashboard_has_daily_growth_and_a_linear_trend(app, known: KnownData) -> None:
    domains = await dashboard(app, known, "capacity")

    storage = domains["storageGrowth"]
    assert [(day["files"], day["bytesAdded"]) for day in storage["perDay"]] == [
        (1, 1000 * MB),
        (2, 502 * MB),
        (2, 301 * MB),  # the soft-deleted file was still added that day
    ]
    assert storage["perDay"][0]["day"] == known.day0.date().isoformat()
    assert storage["totalBytesAdded"] == 1803 * MB
    assert storage["trend"]["slopePerDay"] == -349.5 * MB and storage["trend"]["direction"] == "down"
    growth = domains["engagementGrowth"]
    assert [day["events"] for day in growth["perDay"]] == [3, 4, 5]
    assert growth["totalEvents"] == 12
    assert growth["trend"] == {"slopePerDay": 1.0, "intercept": 3.0, "direction": "up"}


async def test_a_redelivered_event_counts_once(app) -> None:
    owner, course_id = new_user(), new_id("c")
    await fold(app, course_created(owner, course_id, "Once"))
    view = engagement("view", course_id, datetime.now(UTC) - timedelta(hours=1))
    assert await app.consumer.process(view) is True
    assert await app.consumer.process(view) is False  # the same event id again: skipped
    result = await app.dashboards.get_dashboard(owner, last_day("content"))
    assert result.domains["engagement"]["totals"]["views"] == 1


async def test_a_second_call_is_served_from_the_cache_until_the_domains_event_arrives(app) -> None:
    owner, course_id, media_id = new_user(), new_id("c"), new_id("m")
    await fold(
        app,
        course_created(owner, course_id, "Cached"),
        media_file(owner, media_id, size=1000, version=2),
        link_added(owner, media_id, "course", course_id, course_id, 1),
    )
    request = last_day("storage", course_id)
    first = await app.dashboards.get_dashboard(owner, request)
    assert first.domains["storage"]["totalBytes"] == 1000

    # Change the facts behind the cache's back: the cached answer still comes back.
    async with app.uow() as session:
        await session.execute(text("UPDATE media_files SET size_bytes = 5 WHERE media_id = :id"), {"id": media_id})
    hits = app.dashboards.cache_hits
    second = await app.dashboards.get_dashboard(owner, request)
    assert second.domains["storage"]["totalBytes"] == 1000
    assert second.domains["storage"]["computedAt"] == first.domains["storage"]["computedAt"]
    assert app.dashboards.cache_hits == hits + 2  # storage and usage

    # media's event for that file invalidates the owner's media domains: a fresh answer.
    await fold(app, media_file(owner, media_id, size=2000, version=3, event_type="media.file.updated"))
    third = await app.dashboards.get_dashboard(owner, request)
    assert third.domains["storage"]["totalBytes"] == 2000


async def test_a_cached_value_in_another_format_is_a_miss_and_is_replaced(app) -> None:
    """A deploy meets entries older code wrote (JSON alone) or a value cut short: each is a miss."""
    owner, media_id = new_user(), new_id("m")
    await fold(app, media_file(owner, media_id, size=1000))
    request = last_day("storage")
    first = await app.dashboards.get_dashboard(owner, request)
    keys = await app.redis.keys(f"{app.settings.cache_key_prefix}:d*:{owner.user_id}:*")
    assert len(keys) == 2  # storage and usage, under this code's figures version
    for old_value in (json.dumps(first.domains["storage"]).encode(), b"\x00\x00"):
        for key in keys:
            await app.redis.set(key, old_value)
        misses = app.dashboards.cache_misses
        again = await app.dashboards.get_dashboard(owner, request)
        assert app.dashboards.cache_misses == misses + 2
        assert {d: without_times(f) for d, f in again.domains.items()} == {
            d: without_times(f) for d, f in first.domains.items()
        }
    hits = app.dashboards.cache_hits
    assert (await app.dashboards.get_dashboard(owner, request)).domains["storage"]["totalBytes"] == 1000
    assert app.dashboards.cache_hits == hits + 2  # the recomputed answers were stored in this format


async def test_the_domains_of_a_dashboard_are_computed_concurrently(app) -> None:
    owner, course_id = new_user(), new_id("c")
    await fold(
        app,
        course_created(owner, course_id, "Concurrent"),
        engagement("sale", course_id, datetime.now(UTC) - timedelta(hours=1), 30),
    )
    # Each domain query waits at a barrier of three: the call completes only if all three
    # domain queries of the ROI dashboard are in flight together (sequential would time out).
    barrier = asyncio.Barrier(3)

    async def meet(domain: str) -> None:
        await asyncio.wait_for(barrier.wait(), timeout=10)

    app.dashboards.before_query = meet
    try:
        # A new owner: nothing of theirs is cached, so all three domains are queried.
        domains = (await app.dashboards.get_dashboard(owner, last_day("roi"))).domains
    finally:
        app.dashboards.before_query = None
    assert domains["sales"]["totalRevenue"] == usd(3000)
    assert app.dashboards.peak_in_flight >= 3


async def test_another_users_course_is_not_found(app, known: KnownData) -> None:
    request = known.request("storage", course_id=known.c3_other)
    with pytest.raises(DomainError) as caught:
        await app.dashboards.get_dashboard(known.owner, request)
    assert caught.value.kind is ErrorKind.NOT_FOUND and caught.value.code == "analytics.course_not_found"


async def test_another_user_sees_none_of_the_owners_figures(app, known: KnownData) -> None:
    result = await app.dashboards.get_dashboard(new_user(), known.request("storage"))
    assert result.domains["storage"]["totalFiles"] == 0 and result.domains["usage"]["topUsed"] == []


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (DashboardRequest("weekly", None, None, None), {"dashboard", "from", "to"}),
        (DashboardRequest("storage", None, None, ""), {"from", "to", "courseId"}),
    ],
)
async def test_bad_dashboard_requests_are_a_validation_error_with_fields(app, request_, fields) -> None:
    with pytest.raises(DomainError) as caught:
        await app.dashboards.get_dashboard(new_user(), request_)
    assert caught.value.kind is ErrorKind.VALIDATION_FAILED and set(caught.value.fields or {}) == fields


async def test_a_range_that_ends_before_it_starts_or_is_too_long_is_refused(app, known: KnownData) -> None:
    for start, end in [(known.day0, known.day0), (known.day0, known.day0 + timedelta(days=400))]:
        with pytest.raises(DomainError) as caught:
            await app.dashboards.get_dashboard(known.owner, DashboardRequest("capacity", start, end, None))
        assert caught.value.fields == {"to": caught.value.fields["to"]}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_with_redis_down_dashboards_are_computed_without_the_cache(
    app, known: KnownData, lectern_infra: Any
) -> None:
    settings = analytics_settings(
        app.settings.database_url, lectern_infra, redis_url=f"redis://127.0.0.1:{closed_port()}/0"
    )
    async with AnalyticsApp(settings) as no_cache:
        expected = await dashboard(app, known, "roi")
        assert await dashboard(no_cache, known, "roi") == expected
        assert await dashboard(no_cache, known, "roi") == expected
        assert no_cache.dashboards.cache_hits == 0 and no_cache.dashboards.cache_misses == 6
        # A write still commits when the cache can't be invalidated.
        await fold(no_cache, media_file(new_user(), new_id("m"), size=1))
