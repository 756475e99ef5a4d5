"""The doors: ``/ws`` (browsers), ``POST /v1/publish`` (services), ``/healthz``, ``/readyz``.

``/ws`` is plain ASGI, not a framework route: it is the hot path (one task per socket, every frame
through it), and all it does is translate frames to hub calls. HTTP routes use Starlette.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from lectern_common.errors import HTTP_STATUS_BY_KIND, DomainError, ErrorKind
from lectern_common.rate_limits import Bucket, RateLimiter
from lectern_common.realtime_tokens import RealtimeTokenError, RealtimeTokenVerifier
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lectern_realtime import errors
from lectern_realtime.channels.schemas import Channel, error_message, pong_message
from lectern_realtime.connections.connection import Connection
from lectern_realtime.connections.service import Hub
from lectern_realtime.publishing.service import PublishService

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ReadinessProbe = Callable[[], Awaitable[list[str]]]

MAX_PUBLISH_BODY = 16 * 1024


def _error_response(error: DomainError) -> JSONResponse:
    return JSONResponse({"success": False, "error": error.to_dict()}, status_code=HTTP_STATUS_BY_KIND[error.kind])


class RealtimeApp:
    """The ASGI application of one replica."""

    def __init__(
        self,
        *,
        hub: Hub,
        publisher: PublishService,
        verifier: RealtimeTokenVerifier,
        publish_token: str,
        readiness: ReadinessProbe,
        queue_size: int,
        max_incoming_bytes: int,
        close_on_token_expiry: bool = True,
        connect_limiter: RateLimiter | None = None,
        connect_bucket: Bucket | None = None,
    ) -> None:
        self._hub = hub
        self._publisher = publisher
        self._verifier = verifier
        self._publish_token = publish_token.encode()
        self._readiness = readiness
        self._queue_size = queue_size
        self._max_incoming = max_incoming_bytes
        self._close_on_expiry = close_on_token_expiry
        self._connect_limiter = connect_limiter
        self._connect_bucket = connect_bucket
        self.draining = False
        probes = [Route("/healthz", self._healthz, methods=["GET"]), Route("/readyz", self._readyz, methods=["GET"])]
        self._http = Starlette(routes=probes)
        # The internal routes (services' POST /v1/publish, operators' GET /v1/connections) listen
        # only on the internal port (settings.publish_port), never beside the public WebSocket.
        self.publish_app = Starlette(
            routes=[
                Route("/v1/publish", self._publish, methods=["POST"]),
                Route("/v1/connections", self._connections, methods=["GET"]),
                *probes,
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if scope["path"] == "/ws":
                await self._websocket(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008, "reason": "not found"})
            return
        await self._http(scope, receive, send)

    # --- HTTP -------------------------------------------------------------------------------

    async def _healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _readyz(self, request: Request) -> Response:
        failures = ["draining"] if self.draining else await self._readiness()
        if failures:
            return JSONResponse({"status": "unready", "failures": failures}, status_code=503)
        return JSONResponse({"status": "ready", "connections": len(self._hub.connections)})

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(credential.strip().encode(), self._publish_token)

    async def _connections(self, request: Request) -> Response:
        """Internal (the publish credential): this replica's open sockets, all and per user.

        For operators and for the browser tests, which check that a browser's tabs share one
        socket; with ``?userId=`` it counts that user's sockets only. Also the channels this
        replica holds and the messages Redis sent it, of which ``unroutedMessages`` found no local
        socket (the bench shows per-channel subscriptions keep that near zero).
        """
        if not self._authorized(request):
            return _error_response(errors.unauthenticated_publisher())
        connections = list(self._hub.connections)
        data: dict[str, Any] = {"connections": len(connections), **self._hub.counts()}
        user_id = request.query_params.get("userId")
        if user_id is not None:
            data["userId"] = user_id
            data["userConnections"] = sum(1 for conn in connections if conn.claims.user_id == user_id)
        return JSONResponse({"success": True, "data": data})

    async def _publish(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error_response(errors.unauthenticated_publisher())
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_PUBLISH_BODY:
            return _error_response(errors.message_too_large(int(declared), MAX_PUBLISH_BODY))
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_PUBLISH_BODY:
                    return _error_response(errors.message_too_large(len(body), MAX_PUBLISH_BODY))
        except ClientDisconnect:
            return Response(status_code=400)
        try:
            payload = json.loads(body)
        except ValueError:
            return _error_response(errors.invalid_message("body must be JSON", "body"))
        if not isinstance(payload, dict) or set(payload) - {"channel", "message"} or "message" not in payload:
            return _error_response(errors.invalid_message('body must be {"channel": …, "message": {…}}', "body"))
        try:
            published = await self._publisher.publish(payload.get("channel"), payload["message"])
        except DomainError as error:
            return _error_response(error)
        return JSONResponse({"success": True, "data": {"channel": payload["channel"], "seq": published.seq}})

    # --- WebSocket --------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        # Accept first, then close with a code: a browser never sees a refused handshake's status,
        # but it does see a close code and reason.
        await send({"type": "websocket.accept"})
        if self.draining:
            await send({"type": "websocket.close", "code": errors.CLOSE_GOING_AWAY, "reason": "server shutting down"})
            return
        token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
        try:
            claims = self._verifier.verify(token)
        except RealtimeTokenError as exc:
            await send(
                {
                    "type": "websocket.close",
                    "code": errors.CLOSE_UNAUTHENTICATED,
                    "reason": f"unauthenticated: {exc.message}",
                }
            )
            return

        retry_after = await self._connects_left(claims.user_id)
        if retry_after is not None:
            await send(
                {
                    "type": "websocket.close",
                    "code": errors.CLOSE_TOO_MANY_CONNECTS,
                    "reason": f"too many connects: retry after {retry_after} s",
                }
            )
            return

        async def send_text(text: str) -> None:
            await send({"type": "websocket.send", "text": text})

        async def close_socket(code: int, reason: str) -> None:
            await send({"type": "websocket.close", "code": code, "reason": reason})

        conn = Connection(claims=claims, send_text=send_text, close_socket=close_socket, queue_size=self._queue_size)
        hub = self._hub
        hub.add(conn)
        conn.start()
        expiry: asyncio.TimerHandle | None = None
        if self._close_on_expiry:
            delay = (claims.expires_at - datetime.now(UTC)).total_seconds()
            expiry = asyncio.get_running_loop().call_later(
                max(delay, 0), conn.close, errors.CLOSE_UNAUTHENTICATED, "unauthenticated: token expired"
            )
        try:
            try:
                await hub.subscribe(conn, Channel.user(claims.user_id).name, None)
            except DomainError as exc:
                # Only a lost Redis is worth a reconnect (1013). Anything else would fail the same
                # way on every reconnect: the socket stays open and says why instead.
                if exc.kind is ErrorKind.UNAVAILABLE:
                    conn.close(errors.CLOSE_TRY_AGAIN, exc.message)
                else:
                    log.error("user channel of %r refused: %s", claims.user_id, exc.message)
                    conn.send(error_message(exc.code, exc.message))
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.disconnect":
                    break
                if kind == "websocket.receive":
                    await self._on_frame(conn, message.get("text"), message.get("bytes"))
        finally:
            if expiry is not None:
                expiry.cancel()
            hub.remove(conn)
            await conn.wait_writer(timeout=0.5)
            conn.stop_writer()

    async def _connects_left(self, user_id: str) -> int | None:
        """None when ``user_id`` may open one more socket now, else the seconds to wait."""
        if self._connect_limiter is None or self._connect_bucket is None:
            return None
        try:
            decision = await self._connect_limiter.check(f"user:{user_id}", [self._connect_bucket])
        except Exception as exc:  # Redis trouble must not lock every user out; the fan-out says so
            log.warning("connect rate limiter unavailable, letting the socket in: %r", exc)
            return None
        return None if decision.allowed else max(1, math.ceil(decision.retry_after_seconds))

    async def _on_frame(self, conn: Connection, text: str | None, data: bytes | None) -> None:
        if text is None:
            if data is None:
                return
            try:
                text = data.decode()
            except UnicodeDecodeError:
                conn.send(error_message("realtime.invalid_message", "frames must be UTF-8 JSON"))
                return
        if len(text) > self._max_incoming:
            conn.send(error_message("realtime.invalid_message", "frame too large"))
            return
        try:
            frame = json.loads(text)
        except ValueError:
            conn.send(error_message("realtime.invalid_message", "frames must be JSON objects"))
            return
        if not isinstance(frame, dict):
            conn.send(error_message("realtime.invalid_message", "frames must be JSON objects"))
            return
        kind = frame.get("type")
        channel = frame.get("channel")
        try:
            if kind == "subscribe":
                await self._hub.subscribe(conn, channel, frame.get("since"))
            elif kind == "unsubscribe":
                if isinstance(channel, str) and channel in conn.subscriptions:
                    self._hub.unsubscribe(conn, channel)
                    conn.send(json.dumps({"type": "unsubscribed", "channel": channel}, separators=(",", ":")))
                else:
                    raise errors.invalid_message("not subscribed to that channel", "channel")
            elif kind == "ping":
                conn.send(pong_message())
            else:
                raise errors.invalid_message("type must be subscribe, unsubscribe or ping", "type")
        except DomainError as exc:
            extra: dict[str, Any] = {"kind": exc.kind.value}
            if isinstance(channel, str):
                extra["channel"] = channel[:200]
            if exc.kind is ErrorKind.VALIDATION_FAILED and exc.fields:
                extra["fields"] = exc.fields
            conn.send(error_message(exc.code, exc.message, **extra))
