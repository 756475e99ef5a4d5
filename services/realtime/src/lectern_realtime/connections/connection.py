"""One WebSocket as the hub sees it: a bounded send queue, a writer while it has frames, channels.

The hub never awaits a socket. It puts the (shared, already serialized) text into the socket's
queue; the socket's own writer task sends it. A queue that fills up means the browser does not
read fast enough: the socket is cut off (1013 "slow consumer") instead of growing memory, and the
client reconnects with ``since`` to recover from history.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from lectern_common.realtime_tokens import RealtimeClaims

from lectern_realtime.errors import CLOSE_TRY_AGAIN

log = logging.getLogger(__name__)

SendText = Callable[[str], Awaitable[None]]
CloseSocket = Callable[[int, str], Awaitable[None]]
WriteFrame = Callable[[bytes], bool]
"""Writes an encoded frame now, or answers False when it cannot (the socket's ASGI send waits)."""
FrameEncoder = Callable[[str], bytes]

_CLOSE = object()


@dataclass(slots=True)
class Subscription:
    """A channel on one socket. Until ``ready``, live messages wait in ``pending`` (recovery runs)."""

    ready: bool = False
    last_seq: int = 0
    pending: list[tuple[int, str]] = field(default_factory=list)


class Connection:
    """A socket's outgoing side. ``offer`` is called by the hub; it never blocks.

    An idle socket holds no task, queue or event (measured with bench/realtime/idle_sockets.py: an
    ``asyncio.Queue``, an ``Event`` and a parked writer task cost ~5 KB a socket): frames wait in a
    deque and a writer task lives, both only while there is something to write.
    """

    __slots__ = (
        "_close_socket",
        "_encode",
        "_pending",
        "_queue_size",
        "_send_text",
        "_stopped",
        "_write_frame",
        "_writer",
        "claims",
        "close_code",
        "expiry_tick",
        "subscriptions",
    )

    def __init__(
        self,
        *,
        claims: RealtimeClaims,
        send_text: SendText,
        close_socket: CloseSocket,
        queue_size: int,
        write_frame: WriteFrame | None = None,
        encode: FrameEncoder | None = None,
    ) -> None:
        self.claims = claims
        self._send_text = send_text
        # with both, a frame goes out at once when nothing waits before it (no task, no coroutine)
        self._write_frame = write_frame if encode is not None else None
        self._encode = encode
        self._close_socket = close_socket
        self._queue_size = queue_size
        self._pending: deque[object] | None = None  # frames not written yet, then maybe the close
        self._writer: asyncio.Task[None] | None = None
        self._stopped = False  # the socket is closed or its peer went: nothing more is written
        self.subscriptions: dict[str, Subscription] = {}
        self.close_code: int | None = None
        self.expiry_tick: int | None = None  # the expiry wheel's slot that closes it when its token expires

    @property
    def user_id(self) -> str:
        return self.claims.user_id

    def offer(self, channel: str, seq: int, text: str, frame: bytes | None = None) -> None:
        """A live message for ``channel``: queue it, hold it while recovering, or drop a repeat."""
        sub = self.subscriptions.get(channel)
        if sub is None or self.close_code is not None:
            return
        if not sub.ready:
            if len(sub.pending) >= self._queue_size:
                self.close(CLOSE_TRY_AGAIN, "slow consumer")
                return
            sub.pending.append((seq, text))
            return
        if seq <= sub.last_seq:
            return  # already sent from history
        sub.last_seq = seq
        self.send(text, frame)

    def send(self, text: str, frame: bytes | None = None) -> None:
        """Write ``text`` now if nothing waits before it and the socket can take it, else queue it;
        a full queue cuts the socket off. ``frame``: ``text`` already encoded (shared by sockets)."""
        if self.close_code is not None:
            return
        pending = self._pending
        if pending is None and self._writer is None and self._write_frame is not None and not self._stopped:
            assert self._encode is not None
            if self._write_frame(frame if frame is not None else self._encode(text)):
                return
        if pending is None:
            pending = self._pending = deque()
        elif len(pending) >= self._queue_size:
            log.info("cutting off slow consumer user=%s", self.user_id)
            self.close(CLOSE_TRY_AGAIN, "slow consumer")
            return
        pending.append(text)
        self._wake_writer()

    def close(self, code: int, reason: str) -> None:
        """Ask the writer to send a close frame after what is queued (or now, for a slow consumer)."""
        if self.close_code is not None:
            return
        self.close_code = code
        if self._pending is None:
            self._pending = deque()
        elif code == CLOSE_TRY_AGAIN:
            self._pending.clear()  # a slow consumer's queue is not worth waiting for
        self._pending.append((_CLOSE, code, reason))
        self._wake_writer()

    def _wake_writer(self) -> None:
        if self._writer is None and not self._stopped:
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    async def _write_loop(self) -> None:
        """Write what is pending, then end (the next send starts a new writer)."""
        pending = self._pending
        assert pending is not None
        send_text = self._send_text
        try:
            while pending:
                item = pending.popleft()
                if isinstance(item, str):
                    await send_text(item)
                    continue
                assert isinstance(item, tuple)
                self._stopped = True
                _, code, reason = item
                try:
                    await asyncio.wait_for(self._close_socket(code, reason), timeout=5)
                except Exception:
                    log.debug("close failed", exc_info=True)
                return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away mid-send
            self._stopped = True
            log.debug("socket write failed: %r", exc)
        finally:
            self._writer = None
            if not pending:
                self._pending = None  # an empty deque is ~760 B: an idle socket holds none

    async def wait_writer(self, timeout: float) -> None:
        """Until what is queued is written (at most ``timeout``)."""
        if self._writer is not None:
            await asyncio.wait({self._writer}, timeout=timeout)

    def stop_writer(self) -> None:
        self._stopped = True
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
