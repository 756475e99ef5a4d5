"""Helpers for analytics' tests: Kafka-shaped records of other services' events, fed to the real
consumer (``app.consumer.process``), and one small known data set whose figures are worked out by
hand in the tests."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from google.protobuf.message import Message
from lectern.events.v1 import course_events_pb2 as course_ev
from lectern.events.v1 import engagement_events_pb2 as engagement_ev
from lectern.events.v1 import media_events_pb2 as media_ev
from lectern_analytics.bootstrap import AnalyticsApp
from lectern_analytics.dashboards.schemas import DashboardRequest
from lectern_analytics.settings import AnalyticsSettings
from lectern_common.events import EVENT_ID_HEADER, EVENT_TYPE_HEADER, build_envelope
from lectern_common.identity import Identity
from lectern_common.token_keys import SigningKey

KEY = SigningKey.generate()
MB = 1_000_000


def analytics_settings(database_url: str, lectern_infra: Any, **overrides: Any) -> AnalyticsSettings:
    suffix = secrets.token_hex(4)
    values: dict[str, Any] = {
        "database_url": database_url,
        "database_pool_size": 5,
        "grpc_port": 0,
        "kafka_bootstrap": lectern_infra.urls.kafka_bootstrap,
        "redis_url": lectern_infra.urls.redis_url,
        "internal_token_public_keys": KEY.public_pem(),
        "engagement_topic": f"test.engagement.{suffix}",
        "media_topic": f"test.media.{suffix}",
        "course_topic": f"test.course.{suffix}",
        "consumer_group": f"test-analytics-{suffix}",
        "cache_key_prefix": f"test:analytics:{suffix}",
        "shutdown_grace_seconds": 1,
    }
    values.update(overrides)
    return AnalyticsSettings(**values)


def new_user(name: str = "instructor") -> Identity:
    return Identity(user_id=f"{name}-{uuid.uuid4().hex[:12]}", roles=frozenset({"instructor"}))


def new_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4()}"


def record(
    event_type: str, payload: Message, *, aggregate_id: str, at: datetime | None = None, topic: str = "t"
) -> SimpleNamespace:
    """A consumer record as aiokafka hands it over, holding a real envelope."""
    envelope = build_envelope(
        event_type=event_type,
        aggregate_id=aggregate_id,
        aggregate_version=1,
        actor_id="system:test",
        payload=payload,
        occurred_at=at,
    )
    headers = [(EVENT_ID_HEADER, envelope.id.encode()), (EVENT_TYPE_HEADER, event_type.encode())]
    return SimpleNamespace(value=envelope.SerializeToString(), headers=headers, topic=topic, partition=0, offset=0)


def course_created(owner: Identity, course_id: str, title: str, at: datetime | None = None) -> SimpleNamespace:
    payload = course_ev.CourseChanged(course_id=course_id, owner_id=owner.user_id, title=title, version=1)
    return record("course.created", payload, aggregate_id=course_id, at=at)


def lesson_added(owner: Identity, course_id: str, lesson_id: str, media_id: str | None = None) -> SimpleNamespace:
    payload = course_ev.LessonChanged(
        course_id=course_id,
        chapter_id="ch-1",
        lesson_id=lesson_id,
        title=f"Lesson {lesson_id[-4:]}",
        owner_id=owner.user_id,
    )
    if media_id:
        payload.media_id = media_id
    return record("course.lesson.added", payload, aggregate_id=course_id)


def media_file(
    owner: Identity,
    media_id: str,
    *,
    size: int,
    mime: str = "video/mp4",
    status: str = "ready",
    duration: float | None = None,
    version: int = 2,
    at: datetime | None = None,
    event_type: str = "media.file.ready",
) -> SimpleNamespace:
    payload = media_ev.MediaFileChanged(
        media_id=media_id,
        owner_id=owner.user_id,
        title=f"file {media_id[-4:]}",
        file_name="f.bin",
        mime_type=mime,
        size_bytes=size,
        status=status,
        version=version,
    )
    if duration is not None:
        payload.duration_seconds = duration
    return record(event_type, payload, aggregate_id=media_id, at=at)


def link_added(
    owner: Identity, media_id: str, resource_type: str, resource_id: str, course_id: str, usage: int
) -> SimpleNamespace:
    payload = media_ev.MediaLinkChanged(
        media_id=media_id,
        owner_id=owner.user_id,
        resource_type=resource_type,
        resource_id=resource_id,
        course_id=course_id,
        usage_count=usage,
        reason="user",
    )
    return record("media.link.added", payload, aggregate_id=media_id)


def media_lifecycle(owner: Identity, media_id: str, change: str, version: int, size: int = 0) -> SimpleNamespace:
    payload = media_ev.MediaFileLifecycleChanged(
        media_id=media_id, owner_id=owner.user_id, size_bytes=size, version=version
    )
    return record(f"media.file.{change}", payload, aggregate_id=media_id)


def engagement(
    kind: str,
    course_id: str,
    at: datetime,
    value: float | None = None,
    *,
    lesson_id: str | None = None,
    media_id: str | None = None,
    user_id: str = "student-1",
) -> SimpleNamespace:
    payload = engagement_ev.EngagementRecorded(user_id=user_id, type=kind, course_id=course_id)
    payload.at.FromDatetime(at)
    if value is not None:
        payload.value = value
    if lesson_id:
        payload.lesson_id = lesson_id
    if media_id:
        payload.media_id = media_id
    return record("engagement.recorded", payload, aggregate_id=course_id)


async def fold(app: AnalyticsApp, *records: SimpleNamespace) -> None:
    for one in records:
        assert await app.consumer.process(one) is True


@dataclass
class KnownData:
    """The data set of the dashboard tests (see ``seed``): ids, and the day the range starts."""

    owner: Identity
    other: Identity
    day0: datetime
    c1: str
    c2: str
    c3_other: str
    l1: str
    l2: str
    l3: str
    m1: str
    m2: str
    m3: str
    m4: str
    m5: str

    def request(self, dashboard: str, course_id: str | None = None, days: int = 3) -> DashboardRequest:
        return DashboardRequest(
            dashboard=dashboard, start=self.day0, end=self.day0 + timedelta(days=days), course_id=course_id
        )


async def seed(app: AnalyticsApp) -> KnownData:
    """Two courses of one owner (C1 with lessons L1->M1, L2->M2; C2 with L3 and a course link to M2),
    five media files (M3 and M4 unused, M5 soft deleted), engagement over three days, and another
    owner's course, media and engagement that must never show up."""
    day0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=10)
    d = KnownData(
        owner=new_user(),
        other=new_user("other"),
        day0=day0,
        c1=new_id("c"),
        c2=new_id("c"),
        c3_other=new_id("c"),
        l1=new_id("l"),
        l2=new_id("l"),
        l3=new_id("l"),
        m1=new_id("m"),
        m2=new_id("m"),
        m3=new_id("m"),
        m4=new_id("m"),
        m5=new_id("m"),
    )
    o = d.owner

    def day(n: int, hours: int = 12) -> datetime:
        return day0 + timedelta(days=n, hours=hours)

    await fold(
        app,
        course_created(o, d.c1, "Python 101"),
        course_created(o, d.c2, "Rust 201"),
        course_created(d.other, d.c3_other, "Not yours"),
        media_file(o, d.m1, size=1000 * MB, duration=600, at=day(0)),
        media_file(o, d.m2, size=500 * MB, duration=300, at=day(1)),
        media_file(o, d.m3, size=2 * MB, mime="application/pdf", at=day(1)),
        media_file(
            o, d.m4, size=300 * MB, status="processing", version=1, at=day(2), event_type="media.file.registered"
        ),
        media_file(o, d.m5, size=1 * MB, mime="image/png", at=day(2)),
        media_file(d.other, new_id("m"), size=777 * MB, at=day(1)),
        lesson_added(o, d.c1, d.l1, d.m1),
        lesson_added(o, d.c1, d.l2, d.m2),
        lesson_added(o, d.c2, d.l3),
        link_added(o, d.m1, "lesson", d.l1, d.c1, 1),
        link_added(o, d.m2, "lesson", d.l2, d.c1, 1),
        link_added(o, d.m2, "course", d.c2, d.c2, 2),
        media_lifecycle(o, d.m5, "soft_deleted", version=3),
        # Engagement: 3 events on day 0, 4 on day 1, 5 on day 2, one just before the range.
        engagement("view", d.c1, day(0, 1), lesson_id=d.l1, media_id=d.m1),
        engagement("view", d.c1, day(0, 2), lesson_id=d.l1, media_id=d.m1),
        engagement("watch_seconds", d.c1, day(0, 3), 120, lesson_id=d.l1, media_id=d.m1),
        engagement("view", d.c1, day(1), lesson_id=d.l2, media_id=d.m2),
        engagement("watch_seconds", d.c1, day(1), 60, lesson_id=d.l1, media_id=d.m1),
        engagement("completion", d.c1, day(1), 1, lesson_id=d.l1, media_id=d.m1),
        engagement("rating", d.c1, day(1), 4),
        engagement("rating", d.c1, day(2), 5),
        engagement("sale", d.c1, day(2), 40),
        engagement("sale", d.c1, day(2), 60),
        engagement("view", d.c2, day(2), lesson_id=d.l3),
        engagement("sale", d.c2, day(2), 20),
        engagement("view", d.c1, day0 - timedelta(hours=1), lesson_id=d.l1),
        engagement("sale", d.c3_other, day(1), 999),
    )
    return d


def without_times(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in figures.items() if k != "computedAt"}
