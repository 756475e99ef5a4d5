"""lectern_common.realtime_publisher: never blocks or fails because realtime is down."""

from __future__ import annotations

import asyncio
import time

from lectern_common.devstack.ports import free_port
from lectern_common.realtime_publisher import CircuitBreaker, RealtimePublisher

PUBLISH_TOKEN = "test-publish-token"


async def test_a_publisher_delivers_when_realtime_is_up(start_replica, client, unique):
    a = await start_replica()
    user = unique("u")
    async with client.socket(a, client.token(user)) as ws, RealtimePublisher(a.publish_url, PUBLISH_TOKEN) as pub:
        assert await pub.publish(f"user:{user}", client.progress("op", 10)) is True
        pub.publish_nowait(f"user:{user}", client.progress("op", 20))
        assert (await client.recv_json(ws))["data"]["progress"] == 10
        assert (await client.recv_json(ws))["data"]["progress"] == 20


async def test_a_refused_message_is_dropped_without_raising(start_replica):
    a = await start_replica()
    async with RealtimePublisher(a.publish_url, PUBLISH_TOKEN) as pub:
        assert await pub.publish("lobby", {"type": "invalidate"}) is False
        assert pub.breaker_state == "closed"  # realtime is up; our message was wrong


async def test_a_publisher_with_realtime_down_returns_within_its_timeout():
    url = f"http://127.0.0.1:{free_port()}/v1/publish"  # nothing listens here
    async with RealtimePublisher(url, PUBLISH_TOKEN, timeout=0.3, failure_threshold=3) as pub:
        started = time.monotonic()
        results = [await pub.publish("user:u", {"type": "invalidate"}) for _ in range(3)]
        assert results == [False] * 3
        assert time.monotonic() - started < 3 * 0.3 + 0.5
        assert pub.breaker_state == "open"
        started = time.monotonic()
        for _ in range(100):  # open breaker: dropped without touching the network
            assert await pub.publish("user:u", {"type": "invalidate"}) is False
        assert time.monotonic() - started < 0.05


async def test_a_publisher_facing_a_hung_realtime_returns_within_its_timeout():
    hung: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hung.append(writer)

    server = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with RealtimePublisher(f"http://127.0.0.1:{port}/v1/publish", PUBLISH_TOKEN, timeout=0.3) as pub:
            started = time.monotonic()
            assert await pub.publish("user:u", {"type": "invalidate"}) is False
            assert 0.25 < time.monotonic() - started < 0.6
    finally:
        for writer in hung:
            writer.close()
        server.close()
        await server.wait_closed()


def test_the_breaker_lets_one_trial_through_after_its_pause_and_closes_on_success():
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, open_seconds=5, clock=lambda: now[0])
    breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 5.0
    assert breaker.state == "half-open"
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.record_failure()
    assert breaker.state == "open"
    now[0] = 10.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()
