"""gRPC server bootstrap shared by every service (grpc.aio).

- Health checking: every service name and "" report NOT_SERVING until all readiness checks pass,
  and go back to NOT_SERVING when one fails or the server drains.
- Reflection, for grpcurl and debugging.
- One interceptor for what every RPC needs: verify the internal identity token (UNAUTHENTICATED
  without a valid one), expose the caller as ``current_identity``, map a DomainError to its status
  with the structured detail in trailing metadata, and never leak an unexpected exception.
- Tracing: a server span per call, child of the caller's ``traceparent`` (the same interceptor).
- Graceful shutdown: NOT_SERVING first, then ``stop(grace)`` lets in-flight calls finish.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import unquote

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import propagate, trace

from lectern_common.errors import GRPC_STATUS_BY_KIND, DomainError, encode_error_metadata
from lectern_common.health import ReadinessCheck, run_checks
from lectern_common.identity import InternalTokenVerifier, current_identity
from lectern_common.settings import ServiceSettings

log = logging.getLogger(__name__)

_PUBLIC_METHOD_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


_TRACE_KEYS = frozenset({"traceparent", "tracestate", "baggage"})
# The codes a server's span counts as its own failure (OpenTelemetry's gRPC conventions); a
# client's mistake (NOT_FOUND, INVALID_ARGUMENT, ...) leaves the server's span unset.
_SERVER_FAILURES = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)

Behavior = Callable[[Any, Any], Awaitable[Any]]  # a unary-unary handler: (request, ServicerContext)


def _read_metadata(metadata: Any) -> tuple[str | None, dict[str, str]]:
    """The bearer token of the first bearer ``authorization`` entry, and the trace headers."""
    bearer: str | None = None
    carrier: dict[str, str] = {}
    for key, value in metadata or ():
        if key == "authorization" and bearer is None:
            text = value.decode() if isinstance(value, bytes) else str(value)
            if text.lower().startswith("bearer "):
                bearer = text[7:].strip()
        elif key in _TRACE_KEYS:
            carrier[key] = value.decode() if isinstance(value, bytes) else str(value)
    return bearer, carrier


async def _abort(context: Any, span: trace.Span | None, code: grpc.StatusCode, message: str, *metadata: Any) -> None:
    if span is not None:
        span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code in _SERVER_FAILURES:
            span.set_status(trace.StatusCode.ERROR, message)
    await context.abort(code, message, *metadata)


class IdentityAndErrorsInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates every non-public call and maps its errors; with a ``tracer``, each call is
    a server span named after its method, its parent the caller's ``traceparent``.

    That span replaces OpenTelemetry's aio server interceptor, which ran before this one on every
    call: its own layer of handler wrapping, a dict of the metadata, the peer address parsed and
    an object proxy around the context, whether or not the span recorded. Here the attributes are
    set only on a recording span, and each method's guarded handler is made once."""

    def __init__(self, verifier: InternalTokenVerifier, tracer: trace.Tracer | None = None) -> None:
        self._verifier = verifier
        self._tracer = tracer
        self._guarded: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        guarded = self._guarded.get(method)
        if guarded is not None:
            return guarded
        handler = await continuation(handler_call_details)
        if handler is None or method.startswith(_PUBLIC_METHOD_PREFIXES) or handler.unary_unary is None:
            return handler
        guarded = grpc.unary_unary_rpc_method_handler(
            self._guard(method, handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._guarded[method] = guarded
        return guarded

    def _guard(self, method: str, behavior: Behavior) -> Behavior:
        answer, tracer = self._answer, self._tracer
        if tracer is None:

            async def guarded(request: Any, context: Any) -> Any:  # a grpc.aio.ServicerContext
                bearer, _ = _read_metadata(context.invocation_metadata())
                return await answer(method, behavior, request, context, bearer, None)

            return guarded
        service, _, name = method.lstrip("/").partition("/")
        attributes: dict[str, str | int] = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}
        attributes["rpc.grpc.status_code"] = 0

        async def traced(request: Any, context: Any) -> Any:
            bearer, carrier = _read_metadata(context.invocation_metadata())
            with tracer.start_as_current_span(
                method,
                context=propagate.extract(carrier) if carrier else None,
                kind=trace.SpanKind.SERVER,
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                if not span.is_recording():
                    return await answer(method, behavior, request, context, bearer, None)
                span.set_attributes({**attributes, **_peer_attributes(context.peer())})
                return await answer(method, behavior, request, context, bearer, span)

        return traced

    async def _answer(
        self, method: str, behavior: Behavior, request: Any, context: Any, bearer: str | None, span: trace.Span | None
    ) -> Any:
        try:
            identity = self._verifier.verify(bearer or "")
        except DomainError as exc:
            await _abort(context, span, grpc.StatusCode.UNAUTHENTICATED, exc.message, encode_error_metadata(exc))
            raise AssertionError("unreachable") from exc
        token = current_identity.set(identity)
        try:
            return await behavior(request, context)
        except DomainError as exc:
            await _abort(context, span, GRPC_STATUS_BY_KIND[exc.kind], exc.message, encode_error_metadata(exc))
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("unexpected error in %s", method)
            await _abort(context, span, grpc.StatusCode.INTERNAL, "internal error")
        finally:
            current_identity.reset(token)


def _peer_attributes(peer: str) -> dict[str, str]:
    """``ipv4:127.0.0.1:57284`` (or ``ipv6:[::1]:57284``) as the span's peer address and port."""
    family, _, address = peer.partition(":")
    host, _, port = address.rpartition(":")
    if family not in ("ipv4", "ipv6") or not host:
        return {}
    return {"net.peer.ip": unquote(host), "net.peer.port": port}


class GrpcServer:
    """A configured grpc.aio server whose lifetime is ``run(stop)``."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        verifier: InternalTokenVerifier,
        register: Callable[[grpc.aio.Server], None],
        service_names: Sequence[str],
        readiness_checks: Sequence[ReadinessCheck] = (),
        grace_seconds: float = 10.0,
        check_interval: float = 2.0,
        tracing: bool = True,
        enable_reflection: bool = False,
    ) -> None:
        self._address = f"{host}:{port}"
        self._verifier = verifier
        self._register = register
        self._service_names = list(service_names)
        self._checks = list(readiness_checks)
        self._grace = grace_seconds
        self._interval = check_interval
        self._tracing = tracing
        self._reflection = enable_reflection
        self.health = health.aio.HealthServicer()
        self.bound_port: int | None = None
        self.started = asyncio.Event()
        self.serving = False

    @classmethod
    def for_service(
        cls,
        settings: ServiceSettings,
        *,
        register: Callable[[grpc.aio.Server], None],
        service_names: Sequence[str],
        readiness_checks: Sequence[ReadinessCheck] = (),
        tracing: bool = True,
    ) -> GrpcServer:
        """The server every service runs: its bind address, token keys and grace from settings.

        Reflection (listing every RPC and message to whoever asks) is on in dev only."""
        return cls(
            host=settings.bind_host,
            port=settings.grpc_port,
            verifier=InternalTokenVerifier(settings.internal_verifying_keys),
            enable_reflection=settings.is_dev,
            register=register,
            service_names=service_names,
            readiness_checks=readiness_checks,
            grace_seconds=settings.shutdown_grace_seconds,
            tracing=tracing,
        )

    def _interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        tracer = trace.get_tracer("lectern_common.grpc_server") if self._tracing else None
        return [IdentityAndErrorsInterceptor(self._verifier, tracer)]

    async def _set_status(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ["", *self._service_names]:
            await self.health.set(name, status)
        if serving != self.serving:
            log.info("grpc health: %s", "SERVING" if serving else "NOT_SERVING")
        self.serving = serving

    async def run(self, stop: asyncio.Event) -> None:
        server = grpc.aio.server(
            interceptors=self._interceptors(),
            options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 16 * 1024 * 1024)],
        )
        self._register(server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        if self._reflection:
            reflection.enable_server_reflection(
                [*self._service_names, reflection.SERVICE_NAME, "grpc.health.v1.Health"], server
            )
        self.bound_port = server.add_insecure_port(self._address)
        if not self.bound_port:
            raise RuntimeError(f"could not bind gRPC on {self._address}")
        await self._set_status(False)
        await server.start()
        log.info("grpc listening on port %s", self.bound_port)
        self.started.set()
        try:
            while not stop.is_set():
                failures = await run_checks(self._checks)
                if failures and self.serving:
                    log.warning("not ready: %s", "; ".join(failures))
                await self._set_status(not failures)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self._interval)
                except TimeoutError:
                    pass
        finally:
            await self._set_status(False)
            await server.stop(self._grace)
            log.info("grpc stopped")
