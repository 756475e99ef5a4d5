"""Analytics routes only known types of the topics it subscribes to: a mistyped type would be
skipped without a word."""

from __future__ import annotations

from typing import Any

from lectern.events.v1 import event_types
from lectern_analytics.transport.consumers import MEDIA_LIFECYCLE_EVENTS, AnalyticsEventHandler

UNUSED: Any = object()  # routing needs no service: the table is built in __init__


def test_analytics_routes_only_known_types_of_media_course_and_engagement() -> None:
    routed = AnalyticsEventHandler(UNUSED).event_types
    subscribed = (
        event_types.BY_TOPIC[event_types.MEDIA_TOPIC]
        | event_types.BY_TOPIC[event_types.COURSE_TOPIC]
        | event_types.BY_TOPIC[event_types.ENGAGEMENT_TOPIC]
    )
    assert routed <= subscribed
    assert event_types.BY_TOPIC[event_types.MEDIA_TOPIC] <= routed, "analytics folds every media fact"
    assert event_types.ENGAGEMENT_RECORDED in routed


def test_every_media_lifecycle_type_has_its_fact() -> None:
    assert set(MEDIA_LIFECYCLE_EVENTS) == event_types.MEDIA_FILE_LIFECYCLE
