"""The lean stand-ins for uvicorn's receive queue and ``writable`` event keep their semantics:
order, a waiting reader woken by a put, a paused writer (transport over its high-water mark)
waiting until the transport resumes, every waiter woken at once; and a message's one shared frame
is the bytes the protocol would have written to each socket. Keepalive runs on the loop's one
wheel with uvicorn's rules, and an open socket keeps no handshake request."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from lectern_realtime.second_wheel import SecondWheel
from lectern_realtime.transport.websocket_protocol import (
    _ReceiveQueue,
    _Writable,
    encode_text_frame,
    keepalive_wheel,
)
from websockets.http11 import Request


async def test_the_receive_queue_hands_items_in_order_and_wakes_a_waiting_reader() -> None:
    queue = _ReceiveQueue()
    assert queue.empty() and queue.qsize() == 0
    queue.put_nowait({"type": "websocket.connect"})
    queue.put_nowait({"type": "websocket.receive", "text": "a"})
    assert queue.qsize() == 2
    assert await queue.get() == {"type": "websocket.connect"}
    assert await queue.get() == {"type": "websocket.receive", "text": "a"}
    assert queue.empty()
    reader = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not reader.done()
    queue.put_nowait({"type": "websocket.disconnect", "code": 1000})
    assert await asyncio.wait_for(reader, 1) == {"type": "websocket.disconnect", "code": 1000}


async def test_a_cancelled_reader_leaves_the_queue_usable() -> None:
    queue = _ReceiveQueue()
    reader = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    queue.put_nowait("next")
    assert await asyncio.wait_for(queue.get(), 1) == "next"


async def test_paused_writers_wait_until_the_transport_resumes() -> None:
    writable = _Writable()
    writable.set()
    assert writable.is_set() and await writable.wait()
    writable.clear()  # pause_writing
    writers = [asyncio.create_task(writable.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in writers)
    writable.set()  # resume_writing
    assert await asyncio.wait_for(asyncio.gather(*writers), 1) == [True, True, True]


async def test_a_member_discarded_by_an_earlier_call_of_its_second_is_not_called() -> None:
    calls: list[str] = []
    ticks: dict[str, int] = {}

    def due(member: str) -> None:
        calls.append(member)
        if member == "first":  # e.g. one socket's close that takes another down with it
            wheel.discard("second", ticks["second"])

    wheel: SecondWheel[str] = SecondWheel(asyncio.get_running_loop(), due)
    ticks["first"] = wheel.add("first", 0)
    ticks["second"] = wheel.add("second", 0)
    assert ticks["first"] == ticks["second"]
    for _ in range(60):
        if calls:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.05)
    assert calls == ["first"] and len(wheel) == 0


def test_a_message_is_encoded_once_as_the_bytes_the_protocol_would_send_each_socket() -> None:
    from websockets.protocol import State
    from websockets.server import ServerProtocol

    protocol = ServerProtocol(state=State.OPEN)
    for text in ['{"type":"pong"}', "é" * 200, "x" * 70_000]:  # 7-bit, 16-bit and 64-bit lengths
        protocol.send_text(text.encode())
        assert encode_text_frame(text) == b"".join(protocol.data_to_send())


async def test_the_second_wheel_calls_each_member_once_its_second_comes_and_forgets_discarded_ones() -> None:
    calls: list[str] = []

    def due(member: str) -> None:
        calls.append(member)
        if member == "faulty":
            raise RuntimeError("one member's failure")

    wheel: SecondWheel[str] = SecondWheel(asyncio.get_running_loop(), due)
    first = wheel.add("faulty", 0)
    wheel.add("a", 0)
    later = wheel.add("b", 1)
    gone = wheel.add("discarded", 1)
    wheel.discard("discarded", gone)
    assert later >= first and sorted(wheel.members()) == ["a", "b", "faulty"]
    for _ in range(60):
        if len(calls) == 3:
            break
        await asyncio.sleep(0.05)
    assert calls == ["faulty", "a", "b"]  # in their seconds' order, past the one that raised
    assert len(wheel) == 0 and wheel.members() == []


async def test_a_socket_keeps_no_handshake_request_and_leaves_the_keepalive_wheel_when_it_closes(
    start_replica, client, unique
):
    a = await start_replica(ws_ping_interval_seconds=30.0, ws_ping_timeout_seconds=30.0)
    before = set(keepalive_wheel(asyncio.get_running_loop()).members())
    async with client.socket(a, client.token(unique("u"))) as ws:
        mine = [p for p in keepalive_wheel(asyncio.get_running_loop()).members() if p not in before]
        assert len(mine) == 1
        parser_locals = mine[0].conn.parser.gi_frame.f_locals.values()  # type: ignore[union-attr]
        assert not any(isinstance(value, Request) for value in parser_locals)
        await ws.send('{"type": "ping"}')  # the fresh parser reads frames as the old one did
        assert await client.recv_json(ws) == {"type": "pong"}
    for _ in range(100):
        if mine[0] not in keepalive_wheel(asyncio.get_running_loop()).members():
            break
        await asyncio.sleep(0.02)
    assert mine[0] not in keepalive_wheel(asyncio.get_running_loop()).members()


async def test_keepalive_pings_keep_an_answering_socket_and_close_a_silent_one_with_1011(start_replica, client, unique):
    a = await start_replica(ws_ping_interval_seconds=1.0, ws_ping_timeout_seconds=1.0)
    async with (
        client.socket(a, client.token(unique("u"))) as answering,
        client.socket(a, client.token(unique("u"))) as silent,
    ):
        silent.transport.pause_reading()  # it never reads the server's pings, so never answers them
        await asyncio.sleep(4.5)  # several intervals: pings sent, pongs (or none) back
        await answering.send('{"type": "ping"}')
        assert await client.recv_json(answering) == {"type": "pong"}
        silent.transport.resume_reading()
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(silent.recv(), timeout=5)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1011, "keepalive ping timeout")
