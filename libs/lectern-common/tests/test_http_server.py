"""The shared HTTP-server part: real uvicorn on a real port, stopped by the Runtime's ``stop``."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from typing import Any

import httpx
import pytest
import websockets
from lectern_common.http_server import HttpServer
from lectern_common.runtime import PartFailed, Runtime

Scope = dict[str, Any]


async def _app(scope: Scope, receive: Any, send: Any) -> None:
    """``/slow`` answers after 0.3 s, ``/ws`` echoes, anything else answers who asked."""
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message.get("text") or ""})
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(0.3)
    body = json.dumps({"client": scope["client"][0], "path": scope["path"]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def _started(server: HttpServer, stop: asyncio.Event) -> asyncio.Task[None]:
    task = asyncio.create_task(server.run(stop))
    await asyncio.wait_for(server.started.wait(), timeout=5)
    return task


async def test_it_serves_on_the_bound_port_until_stop_and_lets_a_request_in_flight_finish() -> None:
    server = HttpServer(_app, host="127.0.0.1", port=0, grace_seconds=5, http="httptools", timeout_keep_alive=75)
    stop = asyncio.Event()
    task = await _started(server, stop)
    assert server.bound_port not in (None, 0)
    base = f"http://127.0.0.1:{server.bound_port}"
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        assert (await client.get("/hello")).json() == {"client": "127.0.0.1", "path": "/hello"}
        in_flight = asyncio.create_task(client.get("/slow"))
        await asyncio.sleep(0.1)
        stop.set()
        response = await in_flight
    assert response.status_code == 200
    await asyncio.wait_for(task, timeout=5)  # returns (no error) once stopped on purpose
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", int(server.bound_port or 0))) != 0  # no longer listening


async def test_uvicorn_leaves_the_signal_handlers_to_the_runtime() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    server = HttpServer(_app, host="127.0.0.1", port=0)
    stop = asyncio.Event()
    task = await _started(server, stop)
    try:
        assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)


async def test_a_taken_port_fails_the_part_instead_of_exiting_the_process() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = HttpServer(_app, host="127.0.0.1", port=taken.getsockname()[1], name="tus")
        with pytest.raises(RuntimeError, match="tus: the HTTP server could not start"):
            await asyncio.wait_for(server.run(asyncio.Event()), timeout=5)
    assert not server.started.is_set()


async def test_under_the_runtime_a_taken_port_fails_the_process() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        runtime = Runtime(grace_seconds=2)
        runtime.add("http", HttpServer(_app, host="127.0.0.1", port=taken.getsockname()[1]).run)
        with pytest.raises(PartFailed, match="http"):
            await asyncio.wait_for(runtime.run(install_signal_handlers=False), timeout=5)


async def test_websocket_options_reach_uvicorn() -> None:
    server = HttpServer(
        _app,
        host="127.0.0.1",
        port=0,
        http="httptools",
        ws="websockets-sansio",
        ws_max_size=1024,
        ws_ping_interval=5,
        ws_ping_timeout=5,
        backlog=4096,
    )
    stop = asyncio.Event()
    task = await _started(server, stop)
    try:
        async with websockets.connect(f"ws://127.0.0.1:{server.bound_port}/ws") as ws:
            await ws.send("ping")
            assert await ws.recv() == "ping"
            await ws.send("x" * 2048)  # over ws_max_size: the server closes with 1009 (message too big)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    assert server.config.backlog == 4096 and server.config.ws_ping_interval == 5


async def test_proxy_headers_are_uvicorns_trusted_forwarding() -> None:
    """With ``forwarded_allow_ips`` naming the peer, X-Forwarded-For becomes the client address."""
    server = HttpServer(_app, host="127.0.0.1", port=0, forwarded_allow_ips="127.0.0.1")
    stop = asyncio.Event()
    task = await _started(server, stop)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.bound_port}", timeout=5) as client:
            response = await client.get("/", headers={"X-Forwarded-For": "203.0.113.9"})
        assert response.json()["client"] == "203.0.113.9"
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)


class _RecordingTransport(asyncio.Transport):
    """A connection's transport that keeps every write apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _writes_of(*chunks: bytes, app: Any = _app) -> list[bytes]:
    """What one-write-per-answer uvicorn writes, write by write, given a request in ``chunks``
    (each once the previous one has been answered with a write)."""
    from uvicorn.server import ServerState

    server = HttpServer(app, host="127.0.0.1", port=0, http="httptools", one_write_per_answer=True)
    server.config.load()
    protocol = server.config.http_protocol_class(  # type: ignore[call-arg]
        config=server.config, server_state=ServerState(), app_state={}
    )
    transport = _RecordingTransport()
    protocol.connection_made(transport)
    for chunk in chunks:
        written = len(transport.writes)
        protocol.data_received(chunk)
        for _ in range(200):  # the answer's task runs on this loop
            if len(transport.writes) > written:
                break
            await asyncio.sleep(0.01)
    protocol.connection_lost(None)
    return transport.writes


async def test_one_write_per_answer_writes_the_head_and_the_body_together() -> None:
    (answer,) = await _writes_of(b"GET /one HTTP/1.1\r\nhost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-type: application/json" in head
    assert b"transfer-encoding: chunked" in head  # _app says no length: the body and its end, chunked
    size, _, rest = body.partition(b"\r\n")
    assert json.loads(rest[: int(size, 16)]) == {"client": "127.0.0.1", "path": "/one"}
    assert rest[int(size, 16) :] == b"\r\n0\r\n\r\n"


async def test_one_write_per_answer_sends_a_bodiless_head_and_a_100_continue_at_once() -> None:
    (head,) = await _writes_of(b"HEAD /h HTTP/1.1\r\nhost: x\r\n\r\n")  # no body write: the head at the end
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")

    async def body_reading_app(scope: Scope, receive: Any, send: Any) -> None:
        await receive()  # asks for the body: uvicorn says 100 Continue first
        await _app(scope, receive, send)

    expecting = b"POST /c HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nexpect: 100-continue\r\n\r\n"
    go_on, answer = await _writes_of(expecting, b"{}", app=body_reading_app)
    assert go_on == b"HTTP/1.1 100 Continue\r\n\r\n"  # never held back as if it were the head
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"0\r\n\r\n")
