"""gRPC server bootstrap shared by every service (grpc.aio).

- Health checking: every service name and "" report NOT_SERVING until all readiness checks pass,
  and go back to NOT_SERVING when one fails or the server drains.
- Reflection, for grpcurl and debugging.
- One interceptor for what every RPC needs: verify the internal identity token (UNAUTHENTICATED
  without a valid one), expose the caller as ``current_identity``, map a DomainError to its status
  with the structured detail in trailing metadata, and never leak an unexpected exception.
- Tracing through OpenTelemetry's aio interceptor.
- Graceful shutdown: NOT_SERVING first, then ``stop(grace)`` lets in-flight calls finish.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from lectern_common.errors import GRPC_STATUS_BY_KIND, DomainError, encode_error_metadata
from lectern_common.health import ReadinessCheck, run_checks
from lectern_common.identity import InternalTokenVerifier, current_identity
from lectern_common.settings import ServiceSettings

log = logging.getLogger(__name__)

_PUBLIC_METHOD_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


def _bearer(metadata: Any) -> str | None:
    """The bearer token of the ``authorization`` metadata entry, if any."""
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else str(value)
            if text.lower().startswith("bearer "):
                return text[7:].strip()
    return None


class IdentityAndErrorsInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates every non-public call and maps its errors."""

    def __init__(self, verifier: InternalTokenVerifier) -> None:
        self._verifier = verifier

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(_PUBLIC_METHOD_PREFIXES) or handler.unary_unary is None:
            return handler
        behavior = handler.unary_unary
        verifier = self._verifier

        async def guarded(request: Any, context: Any) -> Any:  # a grpc.aio.ServicerContext
            try:
                identity = verifier.verify(_bearer(context.invocation_metadata()) or "")
            except DomainError as exc:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, exc.message, encode_error_metadata(exc))
                raise AssertionError("unreachable") from exc
            token = current_identity.set(identity)
            try:
                return await behavior(request, context)
            except DomainError as exc:
                await context.abort(GRPC_STATUS_BY_KIND[exc.kind], exc.message, encode_error_metadata(exc))
            except (grpc.aio.AbortError, asyncio.CancelledError):
                raise
            except Exception:
                log.exception("unexpected error in %s", method)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            finally:
                current_identity.reset(token)

        return grpc.unary_unary_rpc_method_handler(
            guarded,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


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
        interceptors: list[grpc.aio.ServerInterceptor] = []
        if self._tracing:
            from opentelemetry.instrumentation.grpc import aio_server_interceptor

            interceptors.append(aio_server_interceptor())
        interceptors.append(IdentityAndErrorsInterceptor(self._verifier))
        return interceptors

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
