"""``POST /actions/{name}`` as a bare ASGI app, in front of the FastAPI app for everything else.

Every action used to pass through FastAPI's whole stack: OpenTelemetry's ASGI middleware (three
spans per request: the request, its ``http receive`` and ``http send``), FastAPI's telemetry,
body-limit, exception and exit-stack middlewares, routing and dependency solving, Starlette's
Request and Response. The action route needs none of it: it reads the body, hands it with three
headers to the dispatcher and writes one JSON answer. Here that is done straight on the ASGI
messages, with one server span per action when tracing is on (the trace still reaches the
services through the gRPC calls made inside it). Any other request (other methods, other paths,
``/actions/`` without a name) goes to the FastAPI app unchanged; CORS wraps both.

The FastAPI app keeps its own ``/actions/{name}`` route, answered by the same :func:`answer`,
so the app alone (``GatewayApp.app``) still serves every action the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from lectern_common.errors import DomainError
from opentelemetry import propagate, trace

from lectern_gateway import errors
from lectern_gateway.actions.dispatch import ActionDispatcher, ActionOutcome, error_failure, server_timing

log = logging.getLogger("lectern_gateway.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ACTION_ROUTE = "/actions/{name}"
_PREFIX = "/actions/"
_JSON_TYPES = ("application/json",)


class ClientGone(Exception):
    """The client disconnected before its body arrived: nothing is answered."""


def check_content_type(content_type: str | None) -> None:
    if content_type is None:
        return  # a bare body is read as JSON
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in _JSON_TYPES or media_type.endswith("+json"):
        return
    raise errors.unsupported_media_type(media_type)


def bearer_token(authorization: str | None) -> str | None:
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def client_address(peer: str | None, forwarded_for: str | None, forwarded_for_hops: int) -> str:
    """The caller's address: the connection's peer, or with ``forwarded_for_hops`` trusted proxies
    in front, the address the outermost of them saw (counted from the right of X-Forwarded-For,
    so entries a client wrote itself are never used)."""
    peer = peer or "unknown"
    if forwarded_for_hops <= 0:
        return peer
    forwarded = [part.strip() for part in (forwarded_for or "").split(",") if part.strip()]
    return forwarded[-forwarded_for_hops] if len(forwarded) >= forwarded_for_hops else peer


async def read_body(chunks: AsyncIterator[bytes], declared_length: str | None, limit: int) -> bytes:
    """The whole body, refused (PAYLOAD_TOO_LARGE) as soon as it is known to pass ``limit``."""
    if declared_length is not None and declared_length.isdigit() and int(declared_length) > limit:
        raise errors.body_too_large(limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise errors.body_too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


class ActionRequest:
    """What an action needs from its HTTP request: the name, four headers, the peer, the body."""

    def __init__(self, name: str, headers: dict[str, str], peer: str | None, chunks: AsyncIterator[bytes]) -> None:
        self.name = name
        self.headers = headers
        self.peer = peer
        self.chunks = chunks


async def answer(
    dispatcher: ActionDispatcher, request: ActionRequest, *, max_body_bytes: int, forwarded_for_hops: int
) -> ActionOutcome:
    """Run the action the request names; a body refused before dispatch still says its timing."""
    started = time.perf_counter()
    headers = request.headers
    try:
        check_content_type(headers.get("content-type"))
        body = await read_body(request.chunks, headers.get("content-length"), max_body_bytes)
    except DomainError as exc:
        refused = error_failure(exc)
        refused.headers["Server-Timing"] = server_timing(time.perf_counter() - started, 0.0, 0)
        return refused
    outcome = await dispatcher.run(
        request.name,
        body,
        bearer=bearer_token(headers.get("authorization")),
        idempotency_key=headers.get("idempotency-key"),
        client=client_address(request.peer, headers.get("x-forwarded-for"), forwarded_for_hops),
    )
    log_outcome(outcome)
    return outcome


def log_outcome(outcome: ActionOutcome) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    log.info(
        "action",
        extra={
            "action": outcome.action,
            "user_id": outcome.user_id,
            "status": outcome.status,
            "error_code": None if outcome.succeeded else outcome.body["error"]["code"],
            "peer_ms": round(outcome.peer_seconds * 1000, 2),
        },
    )


def response_headers(outcome: ActionOutcome, content: bytes) -> list[tuple[bytes, bytes]]:
    """The outcome's headers, then the length and type (the order Starlette's Response used)."""
    raw = [(key.lower().encode("latin-1"), value.encode("latin-1")) for key, value in outcome.headers.items()]
    raw.append((b"content-length", str(len(content)).encode()))
    raw.append((b"content-type", b"application/json"))
    return raw


# The headers an action reads: the rest of a request's headers are never decoded.
_WANTED = frozenset({b"authorization", b"content-type", b"content-length", b"idempotency-key", b"x-forwarded-for"})
_TRACE_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})


class ActionsEndpoint:
    """ASGI: ``POST /actions/{name}`` answered here, anything else by ``fallback``."""

    def __init__(
        self,
        dispatcher: ActionDispatcher,
        fallback: ASGIApp,
        *,
        max_body_bytes: int,
        forwarded_for_hops: int,
        traced: bool,
    ) -> None:
        self._dispatcher = dispatcher
        self._fallback = fallback
        self._max_body_bytes = max_body_bytes
        self._hops = forwarded_for_hops
        self._wanted = _WANTED | _TRACE_HEADERS if traced else _WANTED
        self._tracer = trace.get_tracer("lectern_gateway.actions") if traced else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = _action_name(scope)
        if name is None:
            await self._fallback(scope, receive, send)
            return
        headers: dict[str, str] = {}
        for key, value in scope["headers"]:
            if key in self._wanted and key not in headers:  # the first of a repeated header, as Starlette
                headers[key.decode("latin-1")] = value.decode("latin-1")
        client = scope.get("client")
        request = ActionRequest(name, headers, client[0] if client else None, _body_chunks(receive))
        if self._tracer is None:
            await self._serve(request, send)
            return
        with self._tracer.start_as_current_span(
            "POST " + ACTION_ROUTE,
            context=propagate.extract(headers),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": "POST", "http.route": ACTION_ROUTE, "url.path": scope["path"]},
        ) as span:
            status = await self._serve(request, send)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(trace.StatusCode.ERROR)

    async def _serve(self, request: ActionRequest, send: Send) -> int:
        try:
            outcome = await answer(
                self._dispatcher, request, max_body_bytes=self._max_body_bytes, forwarded_for_hops=self._hops
            )
        except ClientGone:
            return 499  # nobody to answer (the status nginx logs for it)
        except Exception as exc:  # the dispatcher answers every expected failure itself
            log.exception("unexpected error", exc_info=exc)
            outcome = error_failure(errors.internal())
        content = outcome.encoded()
        await send(
            {"type": "http.response.start", "status": outcome.status, "headers": response_headers(outcome, content)}
        )
        await send({"type": "http.response.body", "body": content})
        return outcome.status


def _action_name(scope: Scope) -> str | None:
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    if not path.startswith(_PREFIX):
        return None
    name = path[len(_PREFIX) :]
    return name if name and "/" not in name else None


async def _body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
