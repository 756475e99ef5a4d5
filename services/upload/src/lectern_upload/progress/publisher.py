"""Upload progress to realtime: ephemeral, throttled, never in the upload's way.

``ProgressPublisher`` is the small Protocol the service needs; ``HttpProgressPublisher`` POSTs to
realtime's ``/v1/publish`` with a short timeout and swallows every failure (a progress message
may be dropped; an upload may not). When lectern_common grows its shared realtime publisher this
module should switch to it and keep only :class:`ProgressThrottle`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

import httpx

log = logging.getLogger(__name__)


class ProgressPublisher(Protocol):
    async def publish(self, channel: str, message: dict[str, Any]) -> bool:
        """Send one message; answer whether it was accepted. Never raises."""
        ...

    async def aclose(self) -> None: ...


class HttpProgressPublisher:
    def __init__(self, url: str, token: str, *, timeout: float = 0.5) -> None:
        self._url = url
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            headers={"Authorization": f"Bearer {token}"},
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=8),
        )
        self.sent = 0
        self.failed = 0

    async def publish(self, channel: str, message: dict[str, Any]) -> bool:
        try:
            response = await self._client.post(self._url, json={"channel": channel, "message": message})
            ok = response.status_code < 300
        except Exception as exc:  # realtime down or slow: drop this message, the upload goes on
            log.debug("progress publish failed: %r", exc)
            ok = False
        if ok:
            self.sent += 1
        else:
            self.failed += 1
        return ok

    async def aclose(self) -> None:
        await self._client.aclose()


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
