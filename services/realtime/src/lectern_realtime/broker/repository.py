"""Everything realtime keeps in Redis: per-channel seq counters, short histories, dedup marks.

Keys per channel (the ``{channel}`` hash tag keeps one channel's keys in one Redis Cluster slot):

* ``<prefix>seq:{<channel>}``   INCR counter, the channel's last ``seq`` (long TTL);
* ``<prefix>hist:{<channel>}``  stream of the last ``history_size`` messages, entry id ``<seq>-0``,
  fields ``m`` (the wire text) and ``t`` (publish time, ms); expires ``history_ttl`` after the last
  publish, and older entries are ignored on recovery;
* ``<prefix>dedup:{<channel>}:<id>``  the seq an already-published event got (Kafka redelivery);
* ``<prefix>ch:{<channel>}``  the channel's pub/sub channel: only replicas holding a socket on the
  channel subscribe to it (``broker/subscriber.py``).

One Lua script publishes: dedup check, INCR, XADD, PUBLISH, all atomic, so ``seq`` and history
always agree, every subscribed replica sees messages of a channel in seq order, and a redelivered
event publishes nothing twice even if the process dies between Kafka and Redis.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from lectern_common.redis_keys import key_part
from redis.asyncio import Redis

_PUBLISH = """
if KEYS[3] ~= nil then
  local seen = redis.call('GET', KEYS[3])
  if seen then return {tonumber(seen), 1} end
end
local seq = redis.call('INCR', KEYS[1])
if seq == 1 then
  -- a new (or expired) counter starts a new history; old ids would refuse the XADD
  redis.call('DEL', KEYS[2])
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
local text = '{"seq":' .. seq .. ',' .. string.sub(ARGV[1], 2)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], seq .. '-0', 'm', text, 't', ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[4])
if KEYS[3] ~= nil then
  redis.call('SET', KEYS[3], seq, 'EX', ARGV[6])
end
redis.call('PUBLISH', ARGV[7], ARGV[8] .. '\\n' .. seq .. '\\n' .. text)
return {seq, 0}
"""

_RECOVER = """
local top = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[1] == '' then return {top} end
local since = tonumber(ARGV[1])
if since >= top then return {top} end
return {top, redis.call('XRANGE', KEYS[2], (since + 1) .. '-0', '+', 'COUNT', ARGV[2])}
"""


@dataclass(frozen=True)
class Published:
    seq: int
    duplicate: bool


@dataclass(frozen=True)
class Recovery:
    """What a (re)subscribing socket needs: the channel's last seq and the messages after ``since``."""

    top_seq: int
    messages: list[tuple[int, str]]
    recovered: bool
    """True when ``messages`` hold every message after ``since`` (or no ``since`` was asked)."""


def split_pubsub_frame(frame: str) -> tuple[str, int, str]:
    """``<channel>\\n<seq>\\n<text>`` (the pub/sub payload) → (channel, seq, text).

    The payload names its channel so a replica routes it without decoding the pub/sub name."""
    channel, seq, text = frame.split("\n", 2)
    return channel, int(seq), text


class ChannelStore:
    """The Redis side of channels: publish with seq and history, recover since a seq."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        history_size: int,
        history_ttl_seconds: int,
        seq_ttl_seconds: int,
        dedup_ttl_seconds: int,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._history_size = history_size
        self._history_ttl = history_ttl_seconds
        self._seq_ttl = max(seq_ttl_seconds, history_ttl_seconds + 1)
        self._dedup_ttl = dedup_ttl_seconds
        self._publish = redis.register_script(_PUBLISH)
        self._recover = redis.register_script(_RECOVER)

    def pubsub_channel(self, channel: str) -> str:
        """The pub/sub channel ``channel``'s messages are published on (one per channel, so a
        replica receives only the channels it holds). Same hash tag as the channel's keys: in a
        Redis Cluster the publish script and a sharded subscription (SSUBSCRIBE) meet in one slot."""
        return f"{self._prefix}ch:{{{key_part(channel)}}}"

    def channel_of(self, pubsub_channel: str) -> str:
        """The channel a :meth:`pubsub_channel` name is for (``key_part`` escapes every ``%``, so
        unquoting undoes exactly what it did)."""
        return unquote(pubsub_channel[len(self._prefix) + 4 : -1])

    def _keys(self, channel: str) -> tuple[str, str]:
        # The channel holds a user id (any OIDC subject): encoded, so braces in it never move the
        # hash tag and no two channels share a key.
        tag = key_part(channel)
        return f"{self._prefix}seq:{{{tag}}}", f"{self._prefix}hist:{{{tag}}}"

    async def publish(self, channel: str, body: str, *, dedup_id: str | None = None) -> Published:
        """Stamp ``body`` (a JSON object text without seq) with the next seq, keep it, fan it out."""
        seq_key, hist_key = self._keys(channel)
        keys = [seq_key, hist_key]
        if dedup_id is not None:
            keys.append(f"{self._prefix}dedup:{{{key_part(channel)}}}:{key_part(dedup_id)}")
        seq, duplicate = await self._publish(
            keys=keys,
            args=[
                body,
                int(time.time() * 1000),
                self._history_size,
                self._history_ttl,
                self._seq_ttl,
                self._dedup_ttl,
                self.pubsub_channel(channel),
                channel,
            ],
        )
        return Published(seq=int(seq), duplicate=bool(duplicate))

    async def recover(self, channel: str, since: int | None) -> Recovery:
        """The channel's last seq and, when ``since`` is given, what history holds after it."""
        seq_key, hist_key = self._keys(channel)
        since_arg = "" if since is None else since
        answer = await self._recover(keys=[seq_key, hist_key], args=[since_arg, self._history_size])
        top = int(answer[0])
        if since is None or since == top:
            return Recovery(top_seq=top, messages=[], recovered=True)
        if since > top:
            # the counter was reset (expired after a long silence): the client's position means nothing
            return Recovery(top_seq=top, messages=[], recovered=False)
        oldest_allowed = int(time.time() * 1000) - self._history_ttl * 1000
        messages: list[tuple[int, str]] = []
        for entry_id, fields in answer[1] if len(answer) > 1 else []:
            fields_map = dict(zip(fields[::2], fields[1::2], strict=True))
            if int(_text(fields_map.get(b"t", fields_map.get("t", 0)) or 0)) < oldest_allowed:
                continue
            seq = int(_text(entry_id).split("-", 1)[0])
            messages.append((seq, _text(fields_map.get(b"m", fields_map.get("m", "")) or "")))
        whole = bool(messages) and messages[0][0] == since + 1 and messages[-1][0] == top
        return Recovery(top_seq=top, messages=messages, recovered=whole)

    async def ping(self) -> None:
        await self._redis.ping()


class DeadLetterStore:
    """Events realtime can never publish, parked where an operator finds them.

    Realtime owns no database, so its dead-letter "table" is a capped Redis stream,
    ``<prefix>deadletter``: one entry per parked record (event id and type when it decoded, topic,
    partition, offset, the error), the newest ``max_entries`` kept.
    """

    def __init__(self, redis: Redis, *, prefix: str, max_entries: int = 10_000) -> None:
        self._redis = redis
        self.key = f"{prefix}deadletter"
        self._max_entries = max_entries

    async def park(
        self,
        *,
        topic: str,
        partition: int | None,
        offset: int | None,
        event_id: str | None,
        event_type: str | None,
        error: str,
    ) -> None:
        fields = {
            "topic": topic,
            "partition": "" if partition is None else str(partition),
            "offset": "" if offset is None else str(offset),
            "event_id": event_id or "",
            "event_type": event_type or "",
            "error": error[:2000],
            "parked_at": str(int(time.time() * 1000)),
        }
        await self._redis.xadd(self.key, fields, maxlen=self._max_entries, approximate=True)  # type: ignore[arg-type]

    async def recent(self, count: int = 100) -> list[dict[str, str]]:
        """The last ``count`` parked records, oldest first."""
        entries: list[Any] = list(await self._redis.xrevrange(self.key, count=count) or [])
        return [{_text(k): _text(v) for k, v in (fields or {}).items()} for _, fields in reversed(entries)]


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
