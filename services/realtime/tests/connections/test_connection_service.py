"""The rules of a socket's life that moved out of the ASGI handler (issue 15 item 4), seen from a
real WebSocket: a draining replica refuses new sockets with 1001 and says so on /readyz."""

from __future__ import annotations

import asyncio

import pytest
import websockets


async def test_a_draining_replica_closes_open_sockets_and_refuses_new_ones_with_1001(start_replica, client, unique):
    a = await start_replica()
    user = unique("u")
    async with client.socket(a, client.token(user)) as open_socket:
        draining = asyncio.create_task(a.realtime.connections.drain(2.0))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await client.recv_json(open_socket, timeout=5)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1001, "server shutting down")
    await draining
    assert not a.realtime.hub.connections
    async with websockets.connect(f"{a.ws_url}?token={client.token(user)}", open_timeout=5) as refused:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(refused.recv(), timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    ready = await client.http.get(f"http://127.0.0.1:{a.port}/readyz")
    assert ready.status_code == 503 and ready.json()["failures"] == ["draining"]
