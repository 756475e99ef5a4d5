"""Course routes only known lectern.media.v1 types: a mistyped type would be skipped without a word."""

from __future__ import annotations

from typing import Any

from lectern.events.v1 import event_types
from lectern_course.media_summaries.service import GONE_BY_LIFECYCLE_EVENT
from lectern_course.transport.consumers import MediaEventHandler

UNUSED: Any = object()  # routing needs no service: the table is built in __init__


def test_course_routes_only_media_types_it_subscribes_to() -> None:
    routed = MediaEventHandler(UNUSED, UNUSED).event_types
    assert routed <= event_types.BY_TOPIC[event_types.MEDIA_TOPIC]
    assert routed == event_types.MEDIA_FILE_CHANGES | event_types.MEDIA_FILE_LIFECYCLE


def test_every_lifecycle_type_says_whether_the_file_is_gone() -> None:
    assert set(GONE_BY_LIFECYCLE_EVENT) == event_types.MEDIA_FILE_LIFECYCLE
    assert GONE_BY_LIFECYCLE_EVENT[event_types.MEDIA_FILE_RESTORED] is False
