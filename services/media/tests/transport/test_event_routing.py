"""Media routes only known types of the topics it subscribes to: a mistyped type would be skipped
without a word."""

from __future__ import annotations

from typing import Any

from lectern.events.v1 import event_types
from lectern_media.transport.consumers import MediaEventHandler

UNUSED: Any = object()  # routing needs no service: the table is built in __init__


def test_media_routes_only_known_types_of_upload_and_course() -> None:
    routed = MediaEventHandler(UNUSED, UNUSED).event_types
    subscribed = event_types.BY_TOPIC[event_types.UPLOAD_TOPIC] | event_types.BY_TOPIC[event_types.COURSE_TOPIC]
    assert routed <= subscribed
    assert event_types.UPLOAD_COMPLETED in routed
