"""This replica's Redis pub/sub subscriptions: exactly the channels its sockets hold.

Each channel is published on its own pub/sub channel (``ChannelStore.pubsub_channel``). A replica
subscribes to it when its first socket joins the channel and unsubscribes when its last one leaves,
so it receives only messages it delivers and a second replica adds capacity instead of a second
copy of all the traffic. This is what Centrifuge's Redis broker does (centrifugal/centrifuge
``node.go`` ``addSubscription``/``removeSubscription``: the broker subscription is made when the
hub gets a channel's first subscriber and dropped when it loses its last; ``broker_redis.go``
``Subscribe``/``subscribeBatch``: per-channel SUBSCRIBE on a dedicated pub/sub connection, many
channels a command). Centrifuge serialises the two with a lock per channel; here one event loop and
Redis's reply order do the same job:

* Redis answers each channel named in a SUBSCRIBE or UNSUBSCRIBE with one confirmation, in command
  order, on one connection. So the subscriber counts, per channel, the confirmations it is still
  owed; when the last one arrives, Redis's state for that channel is the last one asked for.
* A socket that joins while an UNSUBSCRIBE is in flight queues a SUBSCRIBE behind it and waits for
  *that* confirmation. Only then does the hub read the channel's seq and history, and the publish
  script assigns the seq and publishes atomically, so every message after what history gave is
  published after this replica's subscription is live: no gap. What arrives twice (live and from
  history) is dropped by seq, as before.

A lost connection loses messages nobody can name, so (as before) the hub closes its sockets with
1013 and browsers reconnect with ``since``; the subscription state starts empty on the next
connection. A quiet line is checked with PING so a dead peer is found within two intervals.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from lectern_common.runtime import sleep_or_stop

from lectern_realtime.broker.repository import split_pubsub_frame

log = logging.getLogger(__name__)

SUBSCRIBE = "SUBSCRIBE"
UNSUBSCRIBE = "UNSUBSCRIBE"
BATCH = 500  # channels a command: a reconnect storm becomes a few commands, none of them huge

Connect = Callable[[], Awaitable[Any]]
"""Opens the dedicated connection (a ``redis.asyncio.Connection``, responses decoded)."""


class ChannelSubscriber:
    """Subscribes this replica to the pub/sub channels its hub needs; hands their messages over.

    ``want``/``release`` never await (the hub calls them from its synchronous bookkeeping);
    a writer task sends what they queue, a reader task reads messages and confirmations.
    """

    def __init__(
        self,
        connect: Connect,
        *,
        pubsub_name: Callable[[str], str],
        channel_of: Callable[[str], str],
        on_message: Callable[[str, int, str], None],
        on_lost: Callable[[], None],
        ping_interval: float = 10.0,
    ) -> None:
        self._connect = connect
        # Channels are kept by their own names (the strings the hub already holds: no second
        # string a channel); the pub/sub names are made when a command is written and read back
        # from confirmations.
        self._pubsub_name = pubsub_name
        self._channel_of = channel_of
        self._on_message = on_message
        self._on_lost = on_lost
        self._ping_interval = ping_interval
        self.connected = asyncio.Event()
        self.received = 0
        """Messages Redis sent this replica (the bench and the tests count them)."""
        self._wanted: set[str] = set()  # channels the hub needs
        self._owed: dict[str, int] = {}  # confirmations still to come, per channel
        self._ready: dict[str, asyncio.Future[bool]] = {}  # joiners waiting for a SUBSCRIBE's confirmation
        self._queue: list[tuple[str, str]] = []  # commands not written yet, in order
        self._wake = asyncio.Event()
        self._replies = 0  # every reply read, for the liveness check

    @property
    def channel_count(self) -> int:
        return len(self._wanted)

    @property
    def settled(self) -> bool:
        """Every queued command written and confirmed: Redis holds exactly the wanted channels."""
        return not self._queue and not self._owed

    def want(self, name: str) -> asyncio.Future[bool] | None:
        """The hub has a socket on channel ``name``: None when its subscription is live, else a future that
        answers True once it is (False: the connection was lost first). Raises ConnectionError
        while there is no connection."""
        if name in self._wanted:
            return self._ready.get(name)
        if not self.connected.is_set():
            raise ConnectionError("Redis pub/sub connection is down")
        self._wanted.add(name)
        ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._ready[name] = ready
        self._send(SUBSCRIBE, name)
        return ready

    def release(self, name: str) -> None:
        """The hub's last socket on ``name`` left."""
        if name not in self._wanted:
            return
        self._wanted.discard(name)
        _resolve(self._ready.pop(name, None), False)
        self._send(UNSUBSCRIBE, name)

    def _send(self, command: str, name: str) -> None:
        self._owed[name] = self._owed.get(name, 0) + 1
        self._queue.append((command, name))
        self._wake.set()

    def _confirmed(self, kind: str, name: str) -> None:
        owed = self._owed.get(name, 0) - 1
        if owed > 0:
            self._owed[name] = owed
            return
        self._owed.pop(name, None)
        if kind == "subscribe":  # the last command for the channel was a SUBSCRIBE: it is live
            _resolve(self._ready.pop(name, None), True)

    def _reset(self) -> None:
        for ready in self._ready.values():
            _resolve(ready, False)
        self._ready.clear()
        self._wanted.clear()
        self._owed.clear()
        self._queue.clear()

    async def run(self, stop: asyncio.Event) -> None:
        """Hold a connection until ``stop``; after losing one, tell the hub and reconnect."""
        backoff = 0.2
        while not stop.is_set():
            try:
                conn = await asyncio.wait_for(self._connect(), timeout=5)
            except Exception as exc:
                log.warning("pub/sub connection failed: %r", exc)
            else:
                lost = await self._hold(conn, stop)
                if lost is None:
                    return
                log.warning("pub/sub connection lost (%r); closing local sockets so they recover", lost)
                self._on_lost()
                backoff = 0.2
            await sleep_or_stop(stop, backoff)
            backoff = min(backoff * 2, 5.0)

    async def _hold(self, conn: Any, stop: asyncio.Event) -> BaseException | None:
        """Read and write on ``conn`` until ``stop`` (answers None) or until it fails (answers why)."""
        self._replies = 0
        self.connected.set()
        tasks = [asyncio.create_task(self._read(conn)), asyncio.create_task(self._write(conn))]
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in (*tasks, stopper):
            task.cancel()
        await asyncio.gather(*tasks, stopper, return_exceptions=True)
        self.connected.clear()
        self._reset()
        try:
            await asyncio.wait_for(conn.disconnect(), timeout=2)
        except Exception:
            log.debug("pub/sub disconnect failed", exc_info=True)
        if stopper in done:
            return None
        failed = [task.exception() for task in tasks if task in done and not task.cancelled()]
        return next((error for error in failed if error is not None), ConnectionError("pub/sub stream ended"))

    async def _read(self, conn: Any) -> None:
        on_message = self._on_message
        while True:
            reply = await conn.read_response(timeout=math.inf, push_request=True)
            self._replies += 1
            if type(reply) is not list or len(reply) < 3:
                continue  # PONG
            kind = reply[0]
            if kind == "message":
                self.received += 1
                try:
                    on_message(*split_pubsub_frame(reply[2]))
                except Exception:
                    log.exception("bad pub/sub frame")
            elif kind == "subscribe" or kind == "unsubscribe":
                self._confirmed(kind, self._channel_of(reply[1]))

    async def _write(self, conn: Any) -> None:
        """Send queued commands in batches; PING when the line has been quiet for an interval, and
        give up when a whole interval after a PING brought no reply at all."""
        loop = asyncio.get_running_loop()
        next_ping = loop.time() + self._ping_interval
        replies_at_ping: int | None = None
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, next_ping - loop.time()))
            except TimeoutError:
                pass
            if loop.time() >= next_ping:
                if replies_at_ping == self._replies:
                    raise ConnectionError(f"no reply from Redis in {self._ping_interval:.0f} s")
                replies_at_ping = self._replies
                next_ping = loop.time() + self._ping_interval
                await conn.send_command("PING", check_health=False)
            self._wake.clear()
            batch, self._queue = self._queue, []
            for command, names in _batches(batch):
                await conn.send_command(command, *map(self._pubsub_name, names), check_health=False)


def _batches(commands: list[tuple[str, str]]) -> Iterator[tuple[str, list[str]]]:
    """Consecutive commands of one kind as one command (order kept), ``BATCH`` channels at most."""
    current: str | None = None
    names: list[str] = []
    for command, name in commands:
        if command != current or len(names) >= BATCH:
            if names:
                yield current or command, names
            current, names = command, []
        names.append(name)
    if names and current is not None:
        yield current, names


def _resolve(ready: asyncio.Future[bool] | None, live: bool) -> None:
    if ready is not None and not ready.done():
        ready.set_result(live)
