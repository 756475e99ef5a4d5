"""uvicorn's ``websockets-sansio`` protocol with less held a socket (the socket port's ``ws``),
and a synchronous write of an already encoded frame (``write_frame``, in the scope's extensions).

Same wire behaviour (it is uvicorn's class; only what it keeps changes). Measured with
bench/realtime/idle_sockets.py --tracemalloc, of ~20 KB an idle socket, uvicorn's connection held:

* an ``asyncio.Queue`` for the ASGI receive side (three deques and an ``Event``, each deque
  ~760 B) and an ``asyncio.Event`` for ``writable`` (another deque): one reader and one writer
  never need more than a deque while frames wait and one future while the app waits;
* the handshake's parsed request and its response (``websockets`` ``Headers``), never read again
  once the socket is accepted, and the scope's copy of the request headers, which the realtime app
  reads only before it accepts (the token is in the query string), and the query string itself
  (the token, read before the socket is accepted);
* the handshake request a second time: websockets' ``ServerProtocol.parse`` keeps it (headers and
  all, ~2.6 KB) in its generator frame for the socket's life, so once it is parsed the frame parser
  is replaced by a fresh one of the same kind (``Protocol.parse``, what the old one runs from there);
* two ``TimerHandle`` objects for keepalive (the next ping, the pong deadline): every socket of the
  loop shares one :class:`~lectern_realtime.second_wheel.SecondWheel` instead, which also sends the
  pings of a second in one burst (fewer loop wake-ups than a timer a socket). Same pings, same
  ``ping_interval``/``ping_timeout``, same 1011 "keepalive ping timeout", to the second.
"""

from __future__ import annotations

import asyncio
import random
import struct
import weakref
from collections import deque
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, State

from lectern_realtime.second_wheel import SecondWheel

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


_KEEPALIVE: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SecondWheel[LeanWebSocketProtocol]] = (
    weakref.WeakKeyDictionary()
)


def keepalive_wheel(loop: asyncio.AbstractEventLoop) -> SecondWheel[LeanWebSocketProtocol]:
    """The loop's one keepalive wheel, shared by every socket on it."""
    wheel = _KEEPALIVE.get(loop)
    if wheel is None:
        wheel = _KEEPALIVE[loop] = SecondWheel(loop, LeanWebSocketProtocol.keepalive_due)
    return wheel


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, minus what an open socket never uses again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _ReceiveQueue()  # type: ignore[assignment]
        self.writable = _Writable()  # type: ignore[assignment]
        self.writable.set()
        self.keepalive_tick: int | None = None  # the keepalive wheel's slot this socket is in

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # none when the handshake was refused
        if scope is None:
            return
        scope["extensions"][WRITE_FRAME] = self.write_frame
        if not self.conn.reader.buffer:
            # Nothing after the request was read, so the old parser waits at the start of a frame,
            # where a fresh one starts: the same parser, without the request in its frame.
            self.conn.parser = Protocol.parse(self.conn)
            next(self.conn.parser)

    # --- keepalive on the loop's wheel (uvicorn's methods, with the wheel for its two timers) ---

    def schedule_ping(self) -> None:
        assert self.ping_interval is not None
        self._keepalive_in(max(0.0, self.ping_interval - self.last_ping_rtt))

    def _keepalive_in(self, delay: float) -> None:
        wheel = keepalive_wheel(self.loop)
        if self.keepalive_tick is not None:
            wheel.discard(self, self.keepalive_tick)
        self.keepalive_tick = wheel.add(self, delay)

    def stop_keepalive(self) -> None:
        if self.keepalive_tick is not None:
            keepalive_wheel(self.loop).discard(self, self.keepalive_tick)
            self.keepalive_tick = None
        self.pending_ping_payload = None

    def keepalive_due(self) -> None:
        """The wheel's call: the next ping is due, or the last one's pong is overdue."""
        self.keepalive_tick = None
        if self.pending_ping_payload is not None:
            self.keepalive_timeout()  # uvicorn's: 1011 "keepalive ping timeout", then close
        else:
            self.send_keepalive_ping()

    def send_keepalive_ping(self) -> None:
        if self.close_sent or self.transport.is_closing():
            return
        # as uvicorn: a random payload, so handle_pong ignores stale or unsolicited pongs
        self.pending_ping_payload = struct.pack("!I", random.getrandbits(32))
        self.ping_sent_at = self.loop.time()
        self.conn.send_ping(self.pending_ping_payload)
        self.transport.write(b"".join(self.conn.data_to_send()))
        if self.ping_timeout is not None:
            self._keepalive_in(self.ping_timeout)  # the pong's deadline; the pong chains the next ping
        else:
            self.schedule_ping()

    def handle_pong(self, event: Any) -> None:
        if self.pending_ping_payload is None or bytes(event.data) != self.pending_ping_payload:
            return
        self.last_ping_rtt = self.loop.time() - self.ping_sent_at
        self.pending_ping_payload = None
        if self.ping_timeout is not None:  # without a deadline, the ping already chained the next
            self.schedule_ping()

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
            # the handshake is done: its request, response, header copy and query string (the
            # token, read before accepting) are never read again
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]
            self.scope["headers"] = []
            self.scope["query_string"] = b""
