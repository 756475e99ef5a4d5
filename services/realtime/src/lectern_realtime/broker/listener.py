"""Each replica subscribes once to the fan-out pub/sub channel and hands messages to its hub."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from lectern_common.runtime import sleep_or_stop
from redis.asyncio import Redis

from lectern_realtime.broker.repository import split_fanout_frame

log = logging.getLogger(__name__)


class FanoutListener:
    """Reads the fan-out channel until ``stop``; reconnects after Redis trouble.

    A message published while this replica was cut off from Redis never reaches its sockets, and
    they cannot know. So after a lost subscription ``on_lost`` runs (the hub closes its sockets
    with 1013), and browsers reconnect with ``since`` and recover the gap from history.
    """

    def __init__(
        self,
        redis: Redis,
        channel: str,
        *,
        on_message: Callable[[str, int, str], None],
        on_lost: Callable[[], None],
    ) -> None:
        self._redis = redis
        self._channel = channel
        self._on_message = on_message
        self._on_lost = on_lost
        self.subscribed = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        while not stop.is_set():
            reader = asyncio.create_task(self._read())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not reader.done():
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
                return
            error = reader.exception()
            was_subscribed = self.subscribed.is_set()
            self.subscribed.clear()
            if was_subscribed:
                log.warning("fan-out subscription lost (%r); closing local sockets so they recover", error)
                self._on_lost()
                backoff = 0.2
            else:
                log.warning("fan-out subscription failed: %r", error)
            await sleep_or_stop(stop, backoff)
            backoff = min(backoff * 2, 5.0)

    async def _read(self) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await asyncio.wait_for(pubsub.subscribe(self._channel), timeout=5)
            self.subscribed.set()
            on_message = self._on_message
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                data = message["data"]
                try:
                    channel, seq, text = split_fanout_frame(data.decode() if isinstance(data, bytes) else data)
                    on_message(channel, seq, text)
                except Exception:
                    log.exception("bad fan-out frame")
            raise ConnectionError("pub/sub stream ended")
        finally:
            try:
                await asyncio.wait_for(pubsub.aclose(), timeout=2)
            except Exception:
                log.debug("pubsub close failed", exc_info=True)
