"""The WebSocket contract (API.md §2) against two real replicas sharing Redis."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest
import websockets
from lectern_common.realtime_tokens import AUDIENCE, ISSUER, RealtimeTokenIssuer
from lectern_common.token_keys import SigningKey


async def test_publish_to_replica_a_reaches_sockets_on_replica_b(start_replica, client, unique):
    a, b = await start_replica(), await start_replica()
    user = unique("u")
    async with client.socket(b, client.token(user)) as ws:
        response = await client.publish(a, f"user:{user}", client.progress("op1", 12.5))
        assert response.status_code == 200, response.text
        assert response.json() == {"success": True, "data": {"channel": f"user:{user}", "seq": 1}}
        message = await client.recv_json(ws)
    assert message == {
        "seq": 1,
        "type": "upload-progress",
        "channel": f"user:{user}",
        "operationId": "op1",
        "data": {"progress": 12.5},
    }


async def test_every_tab_of_a_user_gets_every_message_in_order(start_replica, client, unique):
    a, b = await start_replica(), await start_replica()
    user, course = unique("u"), unique("c")
    token = client.token(user, (course,))
    async with client.socket(a, token) as tab1, client.socket(b, token) as tab2, client.socket(b, token) as tab3:
        for tab in (tab1, tab2, tab3):
            await tab.send(f'{{"type": "subscribe", "channel": "course:{course}"}}')
            assert (await client.recv_json(tab))["type"] == "subscribed"
        for i in range(30):
            replica = a if i % 2 else b
            assert (
                await client.publish(replica, f"course:{course}", client.progress("op", i, course))
            ).status_code == 200
        for tab in (tab1, tab2, tab3):
            got = [await client.recv_json(tab) for _ in range(30)]
            assert [m["seq"] for m in got] == list(range(1, 31))
            assert [m["data"]["progress"] for m in got] == list(range(30))
            assert all(m["channel"] == f"course:{course}" and m["courseId"] == course for m in got)


async def test_another_users_course_cannot_be_subscribed(start_replica, client, unique):
    a = await start_replica()
    me, other, my_course, their_course = unique("u"), unique("u"), unique("c"), unique("c")
    async with client.socket(a, client.token(me, (my_course,))) as ws:
        await ws.send(f'{{"type": "subscribe", "channel": "course:{their_course}"}}')
        error = await client.recv_json(ws)
        assert error["type"] == "error"
        assert error["code"] == "realtime.channel_forbidden"
        assert error["channel"] == f"course:{their_course}"
        await ws.send(f'{{"type": "subscribe", "channel": "user:{other}"}}')
        assert (await client.recv_json(ws))["code"] == "realtime.channel_forbidden"
        # their messages never reach me; the socket stays usable
        await client.publish(a, f"course:{their_course}", client.progress("op", 1, their_course))
        await client.publish(a, f"user:{other}", client.progress("op", 1))
        await client.assert_silent(ws)
        await ws.send('{"type": "ping"}')
        assert await client.recv_json(ws) == {"type": "pong"}


async def test_reconnect_with_since_recovers_the_gap(start_replica, client, unique):
    a, b = await start_replica(), await start_replica()
    user, course = unique("u"), unique("c")
    token = client.token(user, (course,))
    channel = f"course:{course}"
    async with client.socket(a, token) as ws:
        await ws.send(f'{{"type": "subscribe", "channel": "{channel}"}}')
        assert (await client.recv_json(ws))["seq"] == 0
        for i in range(3):
            await client.publish(a, channel, client.progress("op", i, course))
        seen = [(await client.recv_json(ws))["seq"] for _ in range(3)]
    assert seen == [1, 2, 3]
    for i in range(3, 7):  # the tab is away
        await client.publish(b, channel, client.progress("op", i, course))
    async with client.socket(b, token) as ws:
        await ws.send(f'{{"type": "subscribe", "channel": "{channel}", "since": 3}}')
        replayed = [await client.recv_json(ws) for _ in range(4)]
        subscribed = await client.recv_json(ws)
        await client.publish(a, channel, client.progress("op", 7, course))
        live = await client.recv_json(ws)
    assert [m["seq"] for m in replayed] == [4, 5, 6, 7]
    assert [m["data"]["progress"] for m in replayed] == [3, 4, 5, 6]
    assert subscribed == {
        "type": "subscribed",
        "channel": channel,
        "seq": 7,
        "recovered": True,
        "since": 3,
        "replayed": 4,
    }
    assert live["seq"] == 8


async def test_a_gap_older_than_the_history_is_reported_as_not_recovered(start_replica, client, unique):
    a = await start_replica(history_size=5)
    user = unique("u")
    for i in range(12):
        await client.publish(a, f"user:{user}", client.progress("op", i))
    async with client.socket(a, client.token(user)) as ws:
        await ws.send(f'{{"type": "subscribe", "channel": "user:{user}", "since": 2}}')
        replayed = [await client.recv_json(ws) for _ in range(5)]
        subscribed = await client.recv_json(ws)
    assert [m["seq"] for m in replayed] == [8, 9, 10, 11, 12]
    assert subscribed["recovered"] is False and subscribed["seq"] == 12 and subscribed["replayed"] == 5


async def test_live_messages_during_recovery_are_neither_lost_nor_repeated(start_replica, client, unique):
    a, b = await start_replica(), await start_replica()
    user = unique("u")
    channel = f"user:{user}"
    for i in range(5):
        await client.publish(a, channel, client.progress("op", i))
    async with client.socket(b, client.token(user)) as ws:
        await ws.send(f'{{"type": "subscribe", "channel": "{channel}", "since": 0}}')
        publishing = asyncio.gather(*(client.publish(a, channel, client.progress("op", 5 + i)) for i in range(20)))
        frames = []
        while len([f for f in frames if f["type"] == "upload-progress"]) < 25:
            frames.append(await client.recv_json(ws))
        await publishing
        await client.assert_silent(ws)
    seqs = [f["seq"] for f in frames if f["type"] == "upload-progress"]
    assert seqs == list(range(1, 26))
    assert sum(f["type"] == "subscribed" for f in frames) == 1


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (
            lambda user, key: RealtimeTokenIssuer(SigningKey.generate()).issue(user).token,
            "invalid token",
        ),
        (
            lambda user, key: jwt.encode(
                {"iss": ISSUER, "aud": AUDIENCE, "sub": user, "courses": [], "exp": int(time.time()) - 60},
                key.private_key,
                algorithm="EdDSA",
                headers={"kid": key.kid},
            ),
            "token expired",
        ),
        (
            lambda user, key: jwt.encode(
                {"iss": ISSUER, "aud": "lectern-internal", "sub": user, "exp": int(time.time()) + 60},
                key.private_key,
                algorithm="EdDSA",
                headers={"kid": key.kid},
            ),
            "invalid token",
        ),
        (lambda user, key: "", "missing token"),
    ],
    ids=["forged", "expired", "internal-token", "missing"],
)
async def test_a_bad_token_is_refused_with_4001_and_a_reason(start_replica, unique, token_key, make_token, reason):
    a = await start_replica()
    async with websockets.connect(f"{a.ws_url}?token={make_token(unique('u'), token_key)}", open_timeout=5) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=3)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4001
    assert closed.value.rcvd.reason == f"unauthenticated: {reason}"


async def test_bad_frames_answer_structured_errors_and_keep_the_socket(start_replica, client, unique):
    a = await start_replica()
    user = unique("u")
    async with client.socket(a, client.token(user)) as ws:
        for frame, code in [
            ("not json", "realtime.invalid_message"),
            ("[1, 2]", "realtime.invalid_message"),
            ('{"type": "dance"}', "realtime.invalid_message"),
            ('{"type": "subscribe", "channel": "lobby"}', "realtime.invalid_channel"),
            (f'{{"type": "subscribe", "channel": "user:{user}", "since": -4}}', "realtime.invalid_message"),
            ('{"type": "unsubscribe", "channel": "course:nope"}', "realtime.invalid_message"),
        ]:
            await ws.send(frame)
            answer = await client.recv_json(ws)
            assert answer["type"] == "error" and answer["code"] == code, (frame, answer)
        await client.publish(a, f"user:{user}", client.progress("op", 50))
        assert (await client.recv_json(ws))["seq"] == 1


async def test_a_slow_consumer_is_cut_off_instead_of_growing_memory(start_replica, client, unique):
    a = await start_replica(send_queue_size=4)
    user = unique("u")
    async with client.socket(a, client.token(user)) as ws:
        # The client reads nothing meanwhile (its library stops reading once its own queue is full),
        # so the kernel's buffers, then the transport's, fill, the transport pauses writing and
        # frames queue on the socket until its queue of 4 is full. (A burst a reading socket takes
        # is written at once: frames wait in the queue only while the transport is paused.)
        (conn,) = a.realtime.hub.connections
        pad = "x" * 3000
        for seq in range(1, 20_000):
            a.realtime.hub.deliver(f"user:{user}", seq, f'{{"seq":{seq},"pad":"{pad}"}}')
            if conn.close_code is not None:
                break
        assert conn.close_code == 1013
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), timeout=3)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1013, "slow consumer")
    assert not a.realtime.hub.connections


async def test_shutdown_closes_sockets_with_going_away(start_replica, client, unique):
    a = await start_replica()
    user = unique("u")
    async with client.socket(a, client.token(user)) as ws:
        await a.shutdown()
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=5)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1001, "server shutting down")


async def test_a_socket_is_closed_when_its_token_expires(start_replica, unique, token_key):
    a = await start_replica()
    token = RealtimeTokenIssuer(token_key, ttl_seconds=1).issue(unique("u")).token
    async with websockets.connect(f"{a.ws_url}?token={token}", open_timeout=5) as ws:
        assert '"subscribed"' in await asyncio.wait_for(ws.recv(), timeout=3)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=5)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "unauthenticated: token expired")


async def test_websocket_connects_are_rate_limited_per_user(start_replica, client, unique):
    """Issue 12 item 6: one user's reconnect loop (or script) is refused with 4029 and the wait;
    other users connect as usual. The bucket lives in Redis, so it holds across replicas."""
    a, b = (
        await start_replica(ws_connects_per_minute=60, ws_connects_burst=2),
        await start_replica(ws_connects_per_minute=60, ws_connects_burst=2),
    )
    user = unique("u")
    for replica in (a, b):
        async with client.socket(replica, client.token(user)):
            pass
    async with websockets.connect(f"{a.ws_url}?token={client.token(user)}", open_timeout=5) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4029
    assert closed.value.rcvd.reason.startswith("too many connects: retry after ")
    async with client.socket(a, client.token(unique("other"))):
        pass
