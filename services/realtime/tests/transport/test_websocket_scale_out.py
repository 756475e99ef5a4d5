"""Per-channel subscriptions seen from the socket: joins and leaves over real WebSockets on two
replicas lose nothing, the internal port counts what each replica received, and a lost pub/sub
connection still closes sockets with 1013 so they recover with ``since``."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest
import pytest_asyncio
import websockets
from redis.asyncio import Redis


@pytest_asyncio.fixture(loop_scope="session")
async def redis(lectern_infra: Any) -> Any:
    client = Redis.from_url(lectern_infra.urls.redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def _join_read_leave(client: Any, ws: Any, channel: str, since: int | None, hold: float) -> list[int]:
    """Subscribe (replay, then ``subscribed``), read live for ``hold`` seconds, unsubscribe and read
    up to ``unsubscribed``; answers the seqs received, checking each is one more than the last."""
    frame: dict[str, Any] = {"type": "subscribe", "channel": channel}
    if since is not None:
        frame["since"] = since
    await ws.send(json.dumps(frame))
    seqs: list[int] = []
    expect = None if since is None else since + 1

    def take(message: dict[str, Any]) -> None:
        nonlocal expect
        assert message["type"] == "upload-progress", message
        assert expect is not None and message["seq"] == expect, (channel, expect, message["seq"])
        expect += 1
        seqs.append(message["seq"])

    while (message := await client.recv_json(ws))["type"] != "subscribed":
        take(message)  # replayed
    if since is not None:
        assert message["recovered"] is True and message["seq"] == (expect or 0) - 1, (message, expect)
    expect = message["seq"] + 1
    deadline = asyncio.get_running_loop().time() + hold
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            take(await client.recv_json(ws, timeout=left))
        except TimeoutError:
            break
    await ws.send(json.dumps({"type": "unsubscribe", "channel": channel}))
    while (message := await client.recv_json(ws))["type"] != "unsubscribed":
        take(message)  # in flight before the unsubscribe
    return seqs


async def test_joins_and_leaves_over_websockets_on_two_replicas_lose_no_message(start_replica, client, unique):
    a, b = await start_replica(history_size=2000), await start_replica(history_size=2000)
    course = unique("c")
    channel = f"course:{course}"
    publishing_done = asyncio.Event()
    received: list[list[int]] = []

    async def tab(replica: Any) -> None:
        rng = random.Random()
        seen: list[int] = []
        async with client.socket(replica, client.token(unique("u"), (course,))) as ws:
            while not publishing_done.is_set():
                since = (seen[-1] if seen else 0) if rng.random() < 0.5 else None
                seen += await _join_read_leave(client, ws, channel, since, rng.uniform(0, 0.05))
            # The last join starts from what this tab saw and must reach the channel's last seq.
            seen += await _join_read_leave(client, ws, channel, seen[-1] if seen else 0, 0.3)
        received.append(seen)

    async def publish() -> int:
        last = 0
        for i in range(200):
            response = await client.publish(a if i % 2 else b, channel, client.progress("op", i % 100, course))
            last = response.json()["data"]["seq"]
            await asyncio.sleep(random.uniform(0, 0.005))
        publishing_done.set()
        return last

    tabs = [asyncio.create_task(tab(replica)) for replica in (a, b, a, b, a, b)]
    last = await publish()
    await asyncio.gather(*tabs)
    assert len(received) == 6
    for seen in received:
        assert seen and seen[-1] == last, (seen[-5:], last)
        assert seen == sorted(set(seen))  # in order, none twice (gaps across leaves are the tab's own)

    url = f"http://127.0.0.1:{a.realtime.settings.publish_port}/v1/connections"
    counts = (await client.http.get(url, headers={"Authorization": "Bearer test-publish-token"})).json()["data"]
    assert counts["brokerMessages"] > 0 and counts["deliveries"] > 0, counts
    assert set(counts) >= {"connections", "channels", "brokerMessages", "unroutedMessages", "deliveries"}


async def test_a_lost_pubsub_connection_closes_sockets_with_1013_and_they_recover_with_since(
    start_replica, client, unique, redis
):
    a, b = await start_replica(), await start_replica()
    user = unique("u")
    channel = f"user:{user}"
    async with client.socket(a, client.token(user)) as ws:
        await client.publish(b, channel, client.progress("op", 1))
        assert (await client.recv_json(ws))["seq"] == 1
        clients = await redis.client_list()
        killed = [c["id"] for c in clients if c["name"] == a.realtime.pubsub_client_name]
        assert len(killed) == 1, clients
        await redis.client_kill_filter(_id=killed[0])
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await client.recv_json(ws, timeout=10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1013, "broker connection lost; reconnect with since")
    await client.publish(b, channel, client.progress("op", 2))  # while the tab is away
    await asyncio.wait_for(a.realtime.subscriber.connected.wait(), timeout=10)
    async with client.socket(a, client.token(user)) as ws:
        await ws.send(json.dumps({"type": "subscribe", "channel": channel, "since": 1}))
        replayed = await client.recv_json(ws)
        subscribed = await client.recv_json(ws)
        await client.publish(b, channel, client.progress("op", 3))
        live = await client.recv_json(ws)
    assert replayed["seq"] == 2 and subscribed["recovered"] is True and live["seq"] == 3
