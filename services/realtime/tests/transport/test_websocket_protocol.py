"""The lean stand-ins for uvicorn's receive queue and ``writable`` event keep their semantics:
order, a waiting reader woken by a put, a paused writer (transport over its high-water mark)
waiting until the transport resumes, every waiter woken at once; and a message's one shared frame
is the bytes the protocol would have written to each socket."""

from __future__ import annotations

import asyncio

from lectern_realtime.transport.websocket_protocol import _ReceiveQueue, _Writable, encode_text_frame


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


def test_a_message_is_encoded_once_as_the_bytes_the_protocol_would_send_each_socket() -> None:
    from websockets.protocol import State
    from websockets.server import ServerProtocol

    protocol = ServerProtocol(state=State.OPEN)
    for text in ['{"type":"pong"}', "é" * 200, "x" * 70_000]:  # 7-bit, 16-bit and 64-bit lengths
        protocol.send_text(text.encode())
        assert encode_text_frame(text) == b"".join(protocol.data_to_send())
