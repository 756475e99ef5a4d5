"""Publish messages to the realtime service without ever depending on it.

The seed's "HTTP bridge": a service POSTs ``{"channel", "message"}`` to realtime's
``/v1/publish`` with the service credential. Progress messages are ephemeral and many a second, so
a publisher must never slow down or fail the work it reports on (ARCHITECTURE §3):

* every call has one overall deadline (``timeout``, default 0.5 s), connect included;
* a circuit breaker opens after ``failure_threshold`` consecutive failures, and while open each
  publish is dropped at once, without touching the network; after ``open_seconds`` one trial call
  is let through (half-open) and its outcome closes or re-opens the breaker;
* :meth:`RealtimePublisher.publish` answers ``True``/``False`` and never raises;
  :meth:`RealtimePublisher.publish_nowait` does not even wait, with a cap on calls in flight.

A refusal by realtime (4xx: bad channel, message too large) is the caller's bug, not an outage: it
is logged and does not count against the breaker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

import httpx

log = logging.getLogger(__name__)

BreakerState = Literal["closed", "open", "half-open"]


class Publisher(Protocol):
    """What a service needs to tell browsers something; the fake for unit tests implements this."""

    async def publish(self, channel: str, message: Mapping[str, Any]) -> bool: ...

    def publish_nowait(self, channel: str, message: Mapping[str, Any]) -> None: ...


class CircuitBreaker:
    """Consecutive-failure breaker: closed → open after N failures → half-open after a pause."""

    def __init__(
        self, *, failure_threshold: int = 5, open_seconds: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold = failure_threshold
        self._open_seconds = open_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self._open_seconds:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        """May a call go out now? In half-open, exactly one trial call at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self._failures += 1
        was_trial = self._trial_in_flight
        self._trial_in_flight = False
        if was_trial or self._failures >= self._threshold:
            if self._opened_at is None or was_trial:
                log.warning("realtime publisher: circuit open after %d failure(s)", self._failures)
            self._opened_at = self._clock()


class RealtimePublisher:
    """POSTs messages to realtime's ``/v1/publish``; never blocks past ``timeout``, never raises."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 0.5,
        failure_threshold: int = 5,
        open_seconds: float = 5.0,
        max_in_flight: int = 100,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout
        self._breaker = CircuitBreaker(failure_threshold=failure_threshold, open_seconds=open_seconds)
        self._max_in_flight = max_in_flight
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )
        self._owns_client = client is None
        self._in_flight: set[asyncio.Task[bool]] = set()
        self.published = 0
        self.dropped = 0

    @property
    def breaker_state(self) -> BreakerState:
        return self._breaker.state

    async def publish(self, channel: str, message: Mapping[str, Any]) -> bool:
        """Send one message; ``True`` when realtime accepted it, ``False`` when it was dropped."""
        if not self._breaker.allow():
            self.dropped += 1
            return False
        try:
            response = await asyncio.wait_for(
                self._client.post(
                    self._url, json={"channel": channel, "message": dict(message)}, headers=self._headers
                ),
                timeout=self._timeout,
            )
        except asyncio.CancelledError:
            self._breaker.record_failure()  # frees a half-open trial slot
            raise
        except Exception as exc:  # timeouts, refused connections, resets: realtime is not there
            self._breaker.record_failure()
            self.dropped += 1
            log.debug("realtime publisher: dropped a message for %s: %r", channel, exc)
            return False
        if response.status_code < 300:
            self._breaker.record_success()
            self.published += 1
            return True
        if response.status_code >= 500 or response.status_code == 429:
            self._breaker.record_failure()
        else:
            # realtime is up and said no: our message is wrong; the breaker stays as it is
            self._breaker.record_success()
            log.warning(
                "realtime publisher: %s refused a message for %s: %s",
                response.status_code,
                channel,
                response.text[:500],
            )
        self.dropped += 1
        return False

    def publish_nowait(self, channel: str, message: Mapping[str, Any]) -> None:
        """Publish in the background; dropped at once if too many calls are already in flight."""
        if len(self._in_flight) >= self._max_in_flight or self._breaker.state == "open":
            self.dropped += 1
            return
        task = asyncio.get_running_loop().create_task(self.publish(channel, message))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def aclose(self) -> None:
        """Wait briefly for background publishes, then close the HTTP client."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=self._timeout)
        for task in list(self._in_flight):
            task.cancel()
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> RealtimePublisher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
