"""Scale out (issue 17 item 3): a replica subscribes in Redis only to the channels its sockets hold,
and a message still reaches every replica that holds its channel through subscribe/unsubscribe races.

These drive two real replicas' hubs (real Redis, real subscriber, real publish script) with
in-memory sockets, so thousands of joins and leaves interleave with publishes in a few seconds;
``tests/transport/test_websocket_scale_out.py`` does the same over real WebSockets.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from lectern_common.realtime_tokens import RealtimeClaims
from lectern_realtime.connections.connection import Connection
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection

Replica = Any  # conftest's Replica: a running replica and its wiring


class MemorySocket:
    """A hub connection whose frames land in a list, in the order the socket would send them."""

    def __init__(self, replica: Replica, user_id: str, courses: frozenset[str]) -> None:
        self.hub = replica.realtime.hub
        self.frames: list[dict[str, Any]] = []
        claims = RealtimeClaims(user_id, courses, datetime.now(UTC) + timedelta(hours=1))
        self.conn = Connection(claims=claims, send_text=self._send, close_socket=self._close, queue_size=100_000)
        self.hub.add(self.conn)

    async def _send(self, text: str) -> None:
        self.frames.append(json.loads(text))

    async def _close(self, code: int, reason: str) -> None:
        self.frames.append({"type": "closed", "code": code, "reason": reason})

    def mark(self, kind: str, **fields: Any) -> None:
        """A frame of the test's own, queued behind whatever the hub has queued for this socket."""
        self.conn.send(json.dumps({"type": kind, **fields}))

    async def join(self, channel: str, since: int | None = None) -> None:
        self.mark("begin", channel=channel, since=since)
        await self.hub.subscribe(self.conn, channel, since)

    def leave(self, channel: str) -> None:
        self.hub.unsubscribe(self.conn, channel)
        self.mark("end", channel=channel)

    def seqs(self, channel: str | None = None) -> list[int]:
        return [
            f["seq"]
            for f in self.frames
            if f["type"] == "upload-progress" and (channel is None or f["channel"] == channel)
        ]

    def close(self) -> None:
        self.hub.remove(self.conn)
        self.conn.stop_writer()


def assert_no_gap_or_repeat(frames: list[dict[str, Any]]) -> int:
    """Per channel, each join's frames: replay from ``since + 1`` up to ``subscribed.seq``, then
    live messages from ``subscribed.seq + 1`` on, each one more than the last. Answers the live count."""
    expect: dict[str, int | None] = {}
    since: dict[str, int | None] = {}
    live = 0
    for frame in frames:
        kind, channel = frame["type"], frame["channel"]
        if kind == "begin":
            since[channel] = frame["since"]
            expect[channel] = None if frame["since"] is None else frame["since"] + 1
        elif kind == "subscribed":
            if since[channel] is not None:
                assert frame["recovered"] is True, frame
                assert frame["seq"] == (expect[channel] or 0) - 1, (frame, expect[channel])
            expect[channel] = frame["seq"] + 1
        elif kind == "upload-progress":
            wanted = expect.get(channel)
            assert wanted is not None, f"a message outside a join, or before subscribed without since: {frame}"
            assert frame["seq"] == wanted, f"{channel}: expected seq {wanted}, got {frame['seq']}"
            expect[channel] = wanted + 1
            live += 1
        elif kind == "end":
            expect[channel] = None
        else:
            pytest.fail(f"unexpected frame {frame}")
    return live


@pytest_asyncio.fixture(loop_scope="session")
async def redis(lectern_infra: Any) -> AsyncIterator[Redis]:
    client = Redis.from_url(lectern_infra.urls.redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def slow_subscribe(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """``slow_subscribe(seconds)``: every SUBSCRIBE reaches Redis that late (a busy network or
    Redis), widening the window in which a join that did not wait for its own subscription's
    confirmation would miss messages."""
    send_command = AbstractConnection.send_command
    delay = {"seconds": 0.0}

    async def late(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
        if args and args[0] == "SUBSCRIBE":
            await asyncio.sleep(delay["seconds"])
        await send_command(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_command", late)
    return lambda seconds: delay.update(seconds=seconds)


async def numsub(redis: Redis, replica: Replica, channel: str) -> int:
    """Redis's own count of connections subscribed to ``channel``'s pub/sub channel."""
    name = replica.realtime.store.pubsub_channel(channel)
    return dict(await redis.pubsub_numsub(name))[name]


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def settled(*replicas: Replica) -> None:
    """Until every queued (un)subscribe of these replicas is written and confirmed."""
    await until(lambda: all(r.realtime.subscriber.settled for r in replicas))


def progress(course: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "upload-progress", "operationId": "op", "data": {"progress": 1}}
    if course is not None:
        message["courseId"] = course
    return message


async def test_a_replica_receives_no_message_for_a_channel_it_holds_no_socket_of(start_replica, unique, redis):
    a, b = await start_replica(), await start_replica()
    only_a, only_b, both = unique("ua"), unique("ub"), unique("c")
    on_a = MemorySocket(a, only_a, frozenset({both}))
    on_b = MemorySocket(b, only_b, frozenset({both}))
    await on_a.join(f"user:{only_a}")
    await on_b.join(f"user:{only_b}")
    await on_a.join(f"course:{both}")
    await on_b.join(f"course:{both}")
    assert await numsub(redis, a, f"user:{only_a}") == 1
    assert await numsub(redis, a, f"course:{both}") == 2

    for i in range(20):
        publisher = (a if i % 2 else b).realtime.publisher
        await publisher.publish(f"user:{only_a}", progress())
        await publisher.publish(f"user:{only_b}", progress())
    for _ in range(10):
        await a.realtime.publisher.publish(f"course:{both}", progress(both))
    await until(lambda: len(on_a.seqs()) >= 30 and len(on_b.seqs()) >= 30)
    for replica in (a, b):
        counts = replica.realtime.hub.counts()
        assert counts["brokerMessages"] == 30, counts  # its user's 20 and the course's 10, not the other's 20
        assert counts["unroutedMessages"] == 0, counts

    # Its last socket gone, a replica unsubscribes: later messages of that channel never reach it.
    on_a.leave(f"user:{only_a}")
    await settled(a)
    assert await numsub(redis, a, f"user:{only_a}") == 0
    for _ in range(10):
        await b.realtime.publisher.publish(f"user:{only_a}", progress())
    # One connection receives in publish order: once this marker is in, the 10 would have been too.
    await b.realtime.publisher.publish(f"course:{both}", progress(both))
    await until(lambda: len(on_a.seqs()) >= 31)
    assert a.realtime.hub.counts()["brokerMessages"] == 31
    assert a.realtime.hub.counts()["unroutedMessages"] == 0
    assert_no_gap_or_repeat(on_a.frames)
    assert_no_gap_or_repeat(on_b.frames)
    on_a.close()
    on_b.close()
    await settled(a, b)
    assert a.realtime.subscriber.channel_count == b.realtime.subscriber.channel_count == 0


async def test_a_join_while_the_unsubscribe_is_in_flight_waits_for_its_own_subscribe(
    start_replica, unique, redis, slow_subscribe
):
    """The last socket leaves (UNSUBSCRIBE sent), another joins at once (its SUBSCRIBE slow to
    arrive), and messages are published while Redis holds no subscription for this replica: the
    join waits for its own SUBSCRIBE's confirmation before reading history, so history has them."""
    a, b = await start_replica(), await start_replica()
    user = unique("u")
    channel = f"user:{user}"
    first, second = MemorySocket(a, user, frozenset()), MemorySocket(a, user, frozenset())
    await first.join(channel)
    slow_subscribe(0.3)
    first.leave(channel)
    joining = asyncio.create_task(second.join(channel, since=0))
    async with asyncio.timeout(5):
        while await numsub(redis, a, channel) != 0:  # the UNSUBSCRIBE is in, the SUBSCRIBE not yet
            await asyncio.sleep(0.005)
    assert not joining.done()
    for _ in range(5):
        await b.realtime.publisher.publish(channel, progress())
    await joining
    await b.realtime.publisher.publish(channel, progress())
    await until(lambda: len(second.seqs()) >= 6)
    assert second.seqs() == [1, 2, 3, 4, 5, 6]
    subscribed = next(f for f in second.frames if f["type"] == "subscribed")
    assert (subscribed["seq"], subscribed["replayed"]) == (5, 5)
    assert_no_gap_or_repeat(second.frames)
    assert await numsub(redis, a, channel) == 1
    first.close()
    second.close()
    await settled(a)
    assert await numsub(redis, a, channel) == 0


async def test_every_replica_holding_a_channel_gets_every_message_through_join_and_leave_races(
    start_replica, unique, redis, monkeypatch, slow_subscribe
):
    """Sockets on two replicas join and leave three channels over and over (with and without
    ``since``) while both replicas publish to them; every join sees every message after its
    ``subscribed`` (or its ``since``) with no gap and no repeat, and at the end every socket has
    every message. Joins that found their channel's unsubscribe still in flight are counted, so the
    test shows it exercised the race it is about."""
    a, b = await start_replica(history_size=5000), await start_replica(history_size=5000)
    slow_subscribe(0.003)
    courses = [unique("c") for _ in range(3)]
    channels = [f"course:{c}" for c in courses]
    raced = {id(a): 0, id(b): 0}
    for replica in (a, b):
        subscriber = replica.realtime.subscriber
        monkeypatch.setattr(subscriber, "want", _counting_rejoins(subscriber, raced, id(replica)))
    replicas = (a, b)
    sockets = {(r, i): MemorySocket(replicas[r], unique("u"), frozenset(courses)) for r in (0, 1) for i in range(8)}
    churning = asyncio.Event()

    async def churn(socket: MemorySocket, channel: str) -> None:
        rng = random.Random()
        while not churning.is_set():
            seen = socket.seqs()
            await socket.join(channel, since=(seen[-1] if seen else 0) if rng.random() < 0.5 else None)
            await asyncio.sleep(rng.uniform(0, 0.015))  # long enough to see live messages after a gap
            socket.leave(channel)
            await asyncio.sleep(rng.uniform(0, 0.004))

    tops: dict[str, int] = {}

    async def publish(count: int) -> None:
        for i in range(count):
            channel = channels[i % 3]
            published = await (a if i % 2 else b).realtime.publisher.publish(channel, progress(courses[i % 3]))
            tops[channel] = published.seq
            await asyncio.sleep(random.uniform(0, 0.001))

    assignment = {key: channels[key[1] % 3] for key in sockets}
    churners = [asyncio.create_task(churn(sockets[key], assignment[key])) for key in sockets]
    await publish(600)
    churning.set()
    await asyncio.gather(*churners)

    # Everyone rejoins from what it saw; the last messages reach every socket on both replicas.
    for key, socket in sockets.items():
        seen = socket.seqs()
        await socket.join(assignment[key], since=seen[-1] if seen else 0)
    await publish(30)
    await until(lambda: all(s.seqs() and s.seqs()[-1] == tops[assignment[k]] for k, s in sockets.items()), 10)
    live = sum(assert_no_gap_or_repeat(socket.frames) for socket in sockets.values())
    assert live > 600, live  # the joins were live often, not only replaying
    assert raced[id(a)] > 0 and raced[id(b)] > 0, raced
    for socket in sockets.values():
        socket.close()
    await settled(a, b)
    for channel in channels:
        assert await numsub(redis, a, channel) == 0


def _counting_rejoins(subscriber: Any, raced: dict[int, int], key: int) -> Callable[[str], Any]:
    want = subscriber.want

    def counting(name: str) -> Any:
        if name not in subscriber._wanted and name in subscriber._owed:
            raced[key] += 1  # the channel's UNSUBSCRIBE is queued or unconfirmed: the race
        return want(name)

    return counting


async def test_a_channel_with_any_oidc_subject_is_subscribed_and_released_by_its_own_name(start_replica, unique, redis):
    """Pub/sub names escape the channel (``key_part``) and confirmations name the pub/sub channel:
    the replica maps them back exactly, or a subject with ``:``, ``%`` or braces would never go live."""
    a = await start_replica()
    user = f"urn:idp:{unique('u')}|%3A{{x}}%"
    channel = f"user:{user}"
    assert a.realtime.store.channel_of(a.realtime.store.pubsub_channel(channel)) == channel
    socket = MemorySocket(a, user, frozenset())
    await socket.join(channel)
    await a.realtime.publisher.publish(channel, progress())
    await until(lambda: socket.seqs() == [1])
    assert await numsub(redis, a, channel) == 1
    socket.close()
    await settled(a)
    assert await numsub(redis, a, channel) == 0
    assert a.realtime.subscriber.channel_count == 0
