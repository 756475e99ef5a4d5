"""Progress of one upload leaves in order across the PATCH requests that carry it (unit, no I/O:
the publisher here only records what it is given)."""

from __future__ import annotations

import asyncio
from typing import Any

from lectern_upload.progress.publisher import ProgressThrottle, ProgressThrottles


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[float] = []

    async def publish(self, channel: str, message: dict[str, Any]) -> bool:
        await asyncio.sleep(0.01)  # a network hop
        self.sent.append(message["data"]["progress"])
        return True

    async def aclose(self) -> None:
        return None


async def test_consecutive_requests_of_one_upload_never_send_progress_backwards() -> None:
    publisher = RecordingPublisher()
    throttles = ProgressThrottles()

    def make() -> ProgressThrottle:
        return ProgressThrottle(
            publisher, channel="user:u1", course_id=None, operation_id="op", total=100, interval=0.05
        )

    # Request 1 reports up to 50 and ends while its last message still waits out the interval.
    first = throttles.for_upload("op", make)
    for done in (10, 30, 50):
        first.report(done)
    # Request 2 starts at once and reports more.
    second = throttles.for_upload("op", make)
    for done in (56, 80, 100):
        second.report(done)
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)

    assert first is second
    assert publisher.sent == sorted(publisher.sent)
    assert publisher.sent[-1] == 100.0


async def test_forgotten_upload_gets_a_fresh_throttle() -> None:
    publisher = RecordingPublisher()
    throttles = ProgressThrottles()

    def make() -> ProgressThrottle:
        return ProgressThrottle(
            publisher, channel="user:u1", course_id=None, operation_id="op", total=10, interval=0.01
        )

    first = throttles.for_upload("op", make)
    throttles.forget("op")
    assert throttles.for_upload("op", make) is not first
