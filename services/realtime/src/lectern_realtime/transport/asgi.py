"""The doors: ``/ws`` (browsers), ``POST /v1/publish`` (services), ``/healthz``, ``/readyz``.

``/ws`` is plain ASGI, not a framework route: it is the hot path (one task per socket, every frame
through it), and all it does is translate frames to hub calls. HTTP routes use Starlette.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from lectern_common.errors import HTTP_STATUS_BY_KIND, DomainError, ErrorKind
from lectern_common.realtime_tokens import RealtimeClaims
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lectern_realtime import errors
from lectern_realtime.channels.schemas import error_message, pong_message, unsubscribed_message
from lectern_realtime.connections.connection import Connection
from lectern_realtime.connections.hub import Hub
from lectern_realtime.connections.service import ConnectionService, Refused
from lectern_realtime.publishing.service import PublishService
from lectern_realtime.transport.websocket_protocol import WRITE_FRAME

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ReadinessProbe = Callable[[], Awaitable[list[str]]]

MAX_PUBLISH_BODY = 16 * 1024


def _error_response(error: DomainError) -> JSONResponse:
    return JSONResponse({"success": False, "error": error.to_dict()}, status_code=HTTP_STATUS_BY_KIND[error.kind])


class RealtimeAsgi:
    """The ASGI applications of one replica: ``self`` on the public port, ``publish_app`` on the
    internal one."""

    def __init__(
        self,
        *,
        connections: ConnectionService,
        hub: Hub,
        publisher: PublishService,
        publish_token: str,
        readiness: ReadinessProbe,
        max_incoming_bytes: int,
    ) -> None:
        self._connections = connections
        self._hub = hub
        self._publisher = publisher
        self._publish_token = publish_token.encode()
        self._readiness = readiness
        self._max_incoming = max_incoming_bytes
        probes = [Route("/healthz", self._healthz, methods=["GET"]), Route("/readyz", self._readyz, methods=["GET"])]
        self._http = Starlette(routes=probes)
        # The internal routes (services' POST /v1/publish, operators' GET /v1/connections) listen
        # only on the internal port (settings.publish_port), never beside the public WebSocket.
        self.publish_app = Starlette(
            routes=[
                Route("/v1/publish", self._publish, methods=["POST"]),
                Route("/v1/connections", self._connections_count, methods=["GET"]),
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
        failures = ["draining"] if self._connections.draining else await self._readiness()
        if failures:
            return JSONResponse({"status": "unready", "failures": failures}, status_code=503)
        return JSONResponse({"status": "ready", "connections": len(self._hub.connections)})

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(credential.strip().encode(), self._publish_token)

    async def _connections_count(self, request: Request) -> Response:
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
        if (await receive())["type"] != "websocket.connect":
            return
        claims = await self._admit(scope, send)
        if claims is None:
            return

        async def send_text(text: str) -> None:
            await send({"type": "websocket.send", "text": text})

        async def close_socket(code: int, reason: str) -> None:
            await send({"type": "websocket.close", "code": code, "reason": reason})

        # uvicorn's protocol here (LeanWebSocketProtocol) also writes encoded frames synchronously
        write_frame = scope.get("extensions", {}).get(WRITE_FRAME)
        conn = await self._connections.open(claims, send_text, close_socket, write_frame)
        try:
            while (message := await receive())["type"] != "websocket.disconnect":
                if message["type"] == "websocket.receive":
                    await self._on_frame(conn, message.get("text"), message.get("bytes"))
        finally:
            await self._connections.close(conn)

    async def _admit(self, scope: Scope, send: Send) -> RealtimeClaims | None:
        """Accept the handshake, then the claims of a socket that may stay, or None once it was
        closed with the refusal's code (a browser never sees a refused handshake's status, but it
        does see a close code and reason). The token is read before accepting: the protocol drops
        the query string then; and it is a local of this call, not of the socket's long-lived one."""
        token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
        await send({"type": "websocket.accept"})
        try:
            return await self._connections.admit(token)
        except Refused as refused:
            await send({"type": "websocket.close", "code": refused.code, "reason": refused.reason})
            return None

    async def _on_frame(self, conn: Connection, text: str | None, data: bytes | None) -> None:
        frame = _frame_of(text, data, self._max_incoming)
        if frame is None:
            return
        if isinstance(frame, str):
            conn.send(error_message("realtime.invalid_message", frame))
            return
        channel = frame.get("channel")
        try:
            await self._dispatch(conn, frame.get("type"), channel, frame)
        except DomainError as exc:
            conn.send(_error_frame(exc, channel))

    async def _dispatch(self, conn: Connection, kind: object, channel: object, frame: dict[str, Any]) -> None:
        if kind == "subscribe":
            await self._hub.subscribe(conn, channel, frame.get("since"))
        elif kind == "unsubscribe":
            self._hub.unsubscribe(conn, channel)
            conn.send(unsubscribed_message(str(channel)))
        elif kind == "ping":
            conn.send(pong_message())
        else:
            raise errors.invalid_message("type must be subscribe, unsubscribe or ping", "type")


def _frame_of(text: str | None, data: bytes | None, max_bytes: int) -> dict[str, Any] | str | None:
    """A client frame as a JSON object, or why it is not one (None: an empty message, ignored)."""
    if text is None:
        if data is None:
            return None
        try:
            text = data.decode()
        except UnicodeDecodeError:
            return "frames must be UTF-8 JSON"
    if len(text) > max_bytes:
        return "frame too large"
    try:
        frame = json.loads(text)
    except ValueError:
        return "frames must be JSON objects"
    return frame if isinstance(frame, dict) else "frames must be JSON objects"


def _error_frame(exc: DomainError, channel: object) -> str:
    extra: dict[str, Any] = {"kind": exc.kind.value}
    if isinstance(channel, str):
        extra["channel"] = channel[:200]
    if exc.kind is ErrorKind.VALIDATION_FAILED and exc.fields:
        extra["fields"] = exc.fields
    return error_message(exc.code, exc.message, **extra)
