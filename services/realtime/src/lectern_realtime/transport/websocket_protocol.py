"""uvicorn's ``websockets-sansio`` protocol with less held a socket (the socket port's ``ws``),
and a synchronous write of an already encoded frame (``write_frame``, in the scope's extensions).

Same wire behaviour (it is uvicorn's class; only what it keeps changes). Measured with
bench/realtime/idle_sockets.py --tracemalloc, of ~20 KB an idle socket, uvicorn's connection held:

* an ``asyncio.Queue`` for the ASGI receive side (three deques and an ``Event``, each deque
  ~760 B) and an ``asyncio.Event`` for ``writable`` (another deque): one reader and one writer
  never need more than a deque while frames wait and one future while the app waits;
* the handshake's parsed request and its response (``websockets`` ``Headers``), never read again
  once the socket is accepted, and the scope's copy of the request headers, which the realtime app
  reads only before it accepts (the token is in the query string).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

WRITE_FRAME = "lectern.websocket.write_frame"
"""The scope extension holding the socket's synchronous writer (:meth:`LeanWebSocketProtocol.write_frame`)."""


def encode_text_frame(text: str) -> bytes:
    """A server's text frame for ``text`` as it goes on the wire (unmasked, no extension), the same
    bytes for every socket: a message is encoded once, not once per socket."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])


class _ReceiveQueue:
    """``asyncio.Queue``'s ``put_nowait``/``get``/``empty``/``qsize`` for its one reader."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[Any] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        item = self._items.popleft()
        if not self._items:
            self._items = None
        return item

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0


class _Writable:
    """``asyncio.Event``'s ``set``/``clear``/``is_set``/``wait``, with no deque until one waits."""

    __slots__ = ("_is_set", "_waiters")

    def __init__(self) -> None:
        self._is_set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._is_set

    def set(self) -> None:
        self._is_set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._is_set = False

    async def wait(self) -> bool:
        if self._is_set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        await waiter
        return True


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, minus what an open socket never uses again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _ReceiveQueue()  # type: ignore[assignment]
        self.writable = _Writable()  # type: ignore[assignment]
        self.writable.set()

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # none when the handshake was refused
        if scope is not None:
            scope["extensions"][WRITE_FRAME] = self.write_frame

    def write_frame(self, frame: bytes) -> bool:
        """Write an encoded text frame now, with no coroutine (the hot path of a delivery).

        False when it cannot go now (not accepted yet, closing, the transport paused over its
        high-water mark): the caller sends through ASGI ``send``, which waits, instead."""
        if (
            self.close_sent
            or self.disconnected
            or not self.handshake_complete
            or not self.writable.is_set()
            or self.conn.state is not State.OPEN
            or self.conn.extensions  # a negotiated extension (deflate) would change the bytes
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(frame)
        return True

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # the handshake is done: its request, response and header copy are never read again
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]
            self.scope["headers"] = []
