"""The hub: which local sockets watch which channels, subscription rules, and local fan-out.

Each replica has one hub. When a channel gets its first local socket the hub asks the
subscriber for the channel's Redis subscription, and releases it when the last one leaves, so the
replica receives only the channels it holds; the hub gives each message's shared text to every
local socket on its channel. Subscribing with ``since`` waits until the Redis subscription is live,
then replays history, says ``subscribed`` and goes live, with no gap and no repeat: live messages
that arrive while history is read wait in the subscription and are sent after it, minus the ones
history already covered.
"""

from __future__ import annotations

import asyncio
import logging

from lectern_common.realtime_tokens import RealtimeClaims

from lectern_realtime import errors
from lectern_realtime.broker.repository import ChannelStore
from lectern_realtime.broker.subscriber import ChannelSubscriber
from lectern_realtime.channels.schemas import Channel, subscribed_message
from lectern_realtime.connections.connection import Connection, FrameEncoder, Subscription

log = logging.getLogger(__name__)


def may_watch(claims: RealtimeClaims, channel: Channel) -> bool:
    """A socket watches its own user channel and the courses its token names; nothing else."""
    if channel.kind == "user":
        return channel.id == claims.user_id
    return channel.id in claims.course_ids


class Hub:
    """Local sockets by channel; a replica's whole in-memory state."""

    def __init__(
        self,
        store: ChannelStore,
        subscriber: ChannelSubscriber,
        *,
        max_subscriptions: int,
        encode: FrameEncoder | None = None,
    ) -> None:
        self._store = store
        self.encode = encode  # a message's wire frame, made once for all its sockets
        self._subscriber = subscriber
        self._max_subscriptions = max_subscriptions
        self._channels: dict[str, dict[Connection, None]] = {}
        self.connections: set[Connection] = set()
        self.delivered = 0
        self.unrouted = 0
        """Messages Redis sent this replica for a channel none of its sockets holds (the last one
        left while its unsubscribe was in flight; with per-channel subscriptions, nothing else)."""

    @property
    def channel_count(self) -> int:
        return len(self._channels)

    def counts(self) -> dict[str, int]:
        """What this replica holds and has handled (operators' ``/v1/connections``, the bench)."""
        return {
            "channels": len(self._channels),
            "brokerMessages": self._subscriber.received,
            "unroutedMessages": self.unrouted,
            "deliveries": self.delivered,
        }

    def add(self, conn: Connection) -> None:
        self.connections.add(conn)

    def remove(self, conn: Connection) -> None:
        """Forget a socket and all its subscriptions."""
        self.connections.discard(conn)
        for name in list(conn.subscriptions):
            self._detach(conn, name)

    async def subscribe(self, conn: Connection, channel_name: object, since: int | None) -> None:
        """Subscribe ``conn`` to a channel its token allows, replaying history after ``since``.

        Raises a DomainError (invalid channel, forbidden, too many, unavailable); the socket
        answers it with an ``error`` message and stays open.
        """
        channel = Channel.parse(channel_name)
        if not may_watch(conn.claims, channel):
            raise errors.channel_forbidden(channel.name)
        if since is not None and (isinstance(since, bool) or not isinstance(since, int) or since < 0):
            raise errors.invalid_message("since must be a whole number ≥ 0", "since")
        name = channel.name
        if name not in conn.subscriptions and len(conn.subscriptions) >= self._max_subscriptions:
            raise errors.too_many_subscriptions(self._max_subscriptions)
        sub = Subscription()
        conn.subscriptions[name] = sub
        self._channels.setdefault(name, {})[conn] = None
        try:
            await self._until_live(name)
            recovery = await self._store.recover(name, since)
        except Exception as exc:
            if conn.subscriptions.get(name) is sub:
                self._detach(conn, name)
            log.warning("recovery of %s failed: %r", name, exc)
            raise errors.unavailable("channel history") from exc
        if conn.subscriptions.get(name) is not sub:
            return  # unsubscribed or re-subscribed while history was read
        # From here to the end nothing awaits, so no live message can slip in between.
        for _, text in recovery.messages:
            conn.send(text)
        conn.send(
            subscribed_message(
                name, recovery.top_seq, recovered=recovery.recovered, replayed=len(recovery.messages), since=since
            )
        )
        last = recovery.top_seq
        for seq, text in sub.pending:
            if seq > last:
                conn.send(text)
                last = seq
        sub.pending.clear()
        sub.last_seq = last
        sub.ready = True

    async def _until_live(self, name: str) -> None:
        """Until this replica's Redis subscription to ``name`` is live (at once when it is).

        Asked on every join, not only the first: after a lost connection the subscriber starts
        empty while closing sockets may still sit on the channel."""
        ready = self._subscriber.want(name)
        # shielded: one joiner's cancelled task must not cancel the future others wait on
        if ready is not None and not await asyncio.shield(ready):
            raise ConnectionError("Redis pub/sub connection lost")

    def unsubscribe(self, conn: Connection, channel_name: object) -> None:
        """Drop one of ``conn``'s subscriptions; a validation error when it holds no such channel."""
        if not isinstance(channel_name, str) or channel_name not in conn.subscriptions:
            raise errors.invalid_message("not subscribed to that channel", "channel")
        self._detach(conn, channel_name)

    def _detach(self, conn: Connection, name: str) -> None:
        conn.subscriptions.pop(name, None)
        watchers = self._channels.get(name)
        if watchers is not None:
            watchers.pop(conn, None)
            if not watchers:
                del self._channels[name]
                self._subscriber.release(name)

    def deliver(self, channel: str, seq: int, text: str) -> None:
        """A published message reached this replica: offer it to every local socket on the channel."""
        watchers = self._channels.get(channel)
        if not watchers:
            self.unrouted += 1
            return
        frame = self.encode(text) if self.encode is not None else None
        for conn in list(watchers):
            conn.offer(channel, seq, text, frame)
        self.delivered += len(watchers)

    def close_all(self, code: int, reason: str) -> None:
        """Close every local socket (shutdown: 1001 going away; lost broker: 1013 try again)."""
        for conn in list(self.connections):
            conn.close(code, reason)
