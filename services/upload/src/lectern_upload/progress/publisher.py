"""Upload progress to realtime: ephemeral, throttled, never in the upload's way.

``ProgressPublisher`` is the small Protocol the service needs; in production it is
``lectern_common.realtime_publisher.RealtimePublisher``, which POSTs to realtime's ``/v1/publish``
with a short deadline and a circuit breaker and never raises (a progress message may be dropped;
an upload may not).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)


class ProgressPublisher(Protocol):
    async def publish(self, channel: str, message: dict[str, Any]) -> bool:
        """Send one message; answer whether it was accepted. Never raises."""
        ...

    async def aclose(self) -> None: ...


class ProgressThrottle:
    """At most one message per ``interval`` for one upload, and always the last value.

    ``report`` only records the value and makes sure one background sender runs; the sender sends
    the newest value, waits out the interval, and stops when nothing newer came. So a slow or dead
    realtime costs the upload nothing: values in between are simply skipped.
    """

    _background: set[asyncio.Task[None]] = set()  # keeps senders alive after a request ends

    def __init__(
        self,
        publisher: ProgressPublisher,
        *,
        channel: str,
        course_id: str | None,
        operation_id: str,
        total: int | None,
        interval: float,
    ) -> None:
        self._publisher = publisher
        self._channel = channel
        self._course_id = course_id
        self._operation_id = operation_id
        self.total = total
        self._interval = interval
        self._latest: int | None = None
        self._sent: int | None = None
        self._last_at = 0.0
        self._task: asyncio.Task[None] | None = None

    def report(self, bytes_done: int) -> None:
        self._latest = bytes_done
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())
            self._background.add(self._task)
            self._task.add_done_callback(self._background.discard)

    @property
    def busy(self) -> bool:
        """Whether a message is still waiting to go out."""
        return self._task is not None and not self._task.done()

    def message(self, bytes_done: int) -> dict[str, Any]:
        total = self.total
        progress = round(100.0 * bytes_done / total, 2) if total else 0.0
        return {
            "type": "upload-progress",
            "courseId": self._course_id,
            "operationId": self._operation_id,
            "data": {"progress": progress, "bytes": bytes_done, "total": total},
        }

    async def _drain(self) -> None:
        while self._latest is not None and self._latest != self._sent:
            wait = self._last_at + self._interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            value = self._latest
            self._sent = value
            self._last_at = time.monotonic()
            await self._publisher.publish(self._channel, self.message(value))


class ProgressThrottles:
    """One :class:`ProgressThrottle` per upload in this process.

    A tus client sends an upload as several PATCH requests in a row; with a throttle per request,
    the first request's last message (still waiting out its interval) could go out after the next
    request's first one, and a tab would see progress go backwards. One throttle per upload keeps
    one sender, so messages leave in the order the bytes arrived. Idle throttles are dropped once
    there are more than ``max_idle`` of them.
    """

    def __init__(self, max_idle: int = 1000) -> None:
        self._by_upload: dict[str, ProgressThrottle] = {}
        self._max_idle = max_idle

    def for_upload(self, upload_id: str, make: Callable[[], ProgressThrottle]) -> ProgressThrottle:
        throttle = self._by_upload.get(upload_id)
        if throttle is None:
            if len(self._by_upload) >= self._max_idle:
                self._by_upload = {k: t for k, t in self._by_upload.items() if t.busy}
            throttle = self._by_upload[upload_id] = make()
        return throttle

    def forget(self, upload_id: str) -> None:
        """The upload ended: its throttle goes once its last message is out."""
        self._by_upload.pop(upload_id, None)
