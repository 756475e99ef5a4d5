"""A socket's life, as rules: who may open one, what it holds from the start, when it must go.

The transport (``transport/asgi.py``) only turns ASGI messages into these calls:

* ``admit(token)``: a replica that is draining refuses with 1001; a missing, forged, expired or
  wrong-audience token with 4001 and the reason; a user opening sockets too fast with 4029 and the
  seconds to wait (a bucket in Redis, shared by the replicas);
* ``open(claims, ...)``: the socket joins the hub, its token's expiry closes it with 4001 (the
  client fetches a new token and reconnects with ``since``), and it is subscribed to its own
  ``user:`` channel at once; only a lost Redis is worth a reconnect (1013): any other refusal would
  repeat on every reconnect, so the socket stays open and says why;
* ``close(conn)``: everything ``open`` set up is undone;
* ``drain(grace)``: shutdown: every socket gets 1001 and the replica waits (bounded) until they went.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime

from lectern_common.errors import DomainError, ErrorKind
from lectern_common.rate_limits import Bucket, RateLimiter
from lectern_common.realtime_tokens import RealtimeClaims, RealtimeTokenError, RealtimeTokenVerifier

from lectern_realtime import errors
from lectern_realtime.channels.schemas import Channel, error_message
from lectern_realtime.connections.connection import CloseSocket, Connection, SendText, WriteFrame
from lectern_realtime.connections.hub import Hub
from lectern_realtime.second_wheel import SecondWheel

log = logging.getLogger(__name__)


class Refused(Exception):
    """A socket turned away before it opens: the close code and reason its browser reads."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ConnectionService:
    """Opens, closes and drains this replica's sockets (see the module docstring)."""

    def __init__(
        self,
        hub: Hub,
        *,
        verifier: RealtimeTokenVerifier,
        queue_size: int,
        close_on_token_expiry: bool = True,
        connect_limiter: RateLimiter | None = None,
        connect_bucket: Bucket | None = None,
    ) -> None:
        self._hub = hub
        self._verifier = verifier
        self._queue_size = queue_size
        self._close_on_expiry = close_on_token_expiry
        self._connect_limiter = connect_limiter
        self._connect_bucket = connect_bucket
        self.draining = False
        self._expiries: SecondWheel[Connection] | None = None  # made in the loop, by the first socket

    def _expiry_wheel(self) -> SecondWheel[Connection]:
        """Every socket's token expiry on one timer (a ``TimerHandle`` a socket was ~0.5 KB)."""
        if self._expiries is None:
            self._expiries = SecondWheel(asyncio.get_running_loop(), _token_expired)
        return self._expiries

    async def admit(self, token: str | None) -> RealtimeClaims:
        """The claims of a socket that may open now; raises :class:`Refused` otherwise."""
        if self.draining:
            raise Refused(errors.CLOSE_GOING_AWAY, "server shutting down")
        try:
            claims = self._verifier.verify(token)
        except RealtimeTokenError as exc:
            raise Refused(errors.CLOSE_UNAUTHENTICATED, f"unauthenticated: {exc.message}") from exc
        retry_after = await self._connects_left(claims.user_id)
        if retry_after is not None:
            raise Refused(errors.CLOSE_TOO_MANY_CONNECTS, f"too many connects: retry after {retry_after} s")
        return claims

    async def _connects_left(self, user_id: str) -> int | None:
        """None when ``user_id`` may open one more socket now, else the seconds to wait."""
        if self._connect_limiter is None or self._connect_bucket is None:
            return None
        try:
            decision = await self._connect_limiter.check(f"user:{user_id}", [self._connect_bucket])
        except Exception as exc:  # Redis trouble must not lock every user out; the pub/sub says so
            log.warning("connect rate limiter unavailable, letting the socket in: %r", exc)
            return None
        return None if decision.allowed else max(1, math.ceil(decision.retry_after_seconds))

    async def open(
        self,
        claims: RealtimeClaims,
        send_text: SendText,
        close_socket: CloseSocket,
        write_frame: WriteFrame | None = None,
    ) -> Connection:
        """An admitted socket, in the hub, its expiry armed, subscribed to its own user channel."""
        conn = Connection(
            claims=claims,
            send_text=send_text,
            close_socket=close_socket,
            queue_size=self._queue_size,
            write_frame=write_frame,
            encode=self._hub.encode,
        )
        self._hub.add(conn)
        if self._close_on_expiry:
            delay = (claims.expires_at - datetime.now(UTC)).total_seconds()
            conn.expiry_tick = self._expiry_wheel().add(conn, max(delay, 0))
        try:
            await self._hub.subscribe(conn, Channel.user(claims.user_id).name, None)
        except DomainError as exc:
            if exc.kind is ErrorKind.UNAVAILABLE:
                conn.close(errors.CLOSE_TRY_AGAIN, exc.message)
            else:
                log.error("user channel of %r refused: %s", claims.user_id, exc.message)
                conn.send(error_message(exc.code, exc.message))
        return conn

    async def close(self, conn: Connection) -> None:
        """The socket went (or was closed): forget it, let its writer finish what is queued."""
        if conn.expiry_tick is not None and self._expiries is not None:
            self._expiries.discard(conn, conn.expiry_tick)
            conn.expiry_tick = None
        self._hub.remove(conn)
        await conn.wait_writer(timeout=0.5)
        conn.stop_writer()

    async def drain(self, grace_seconds: float) -> None:
        """Refuse new sockets, close the open ones with 1001 (reconnect elsewhere, with ``since``)
        and wait until they are gone, at most ``grace_seconds``."""
        self.draining = True
        self._hub.close_all(errors.CLOSE_GOING_AWAY, "server shutting down")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds
        while self._hub.connections and loop.time() < deadline:  # noqa: ASYNC110 (the hub has no event)
            await asyncio.sleep(0.05)


def _token_expired(conn: Connection) -> None:
    conn.expiry_tick = None
    conn.close(errors.CLOSE_UNAUTHENTICATED, "unauthenticated: token expired")
