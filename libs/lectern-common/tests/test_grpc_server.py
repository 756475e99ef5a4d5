"""The shared gRPC bootstrap: readiness-gated health, the internal token, error mapping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from lectern.course.v1 import course_pb2, course_pb2_grpc
from lectern_common.errors import DomainError, ErrorKind
from lectern_common.grpc_client import call, open_channel
from lectern_common.grpc_server import GrpcServer
from lectern_common.identity import Identity, InternalTokenIssuer, InternalTokenVerifier, current_identity
from lectern_common.token_keys import SigningKey

KEY = SigningKey.generate()


class _Courses(course_pb2_grpc.CourseServiceServicer):
    """A servicer that exercises the interceptor: who is calling, a domain error, a crash."""

    async def CreateCourse(self, request, context):  # type: ignore[no-untyped-def]
        identity = current_identity.get()
        assert identity is not None
        return course_pb2.CreateCourseResponse(course=course_pb2.Course(id="c1", owner_id=identity.user_id))

    async def GetCourseEdit(self, request, context):  # type: ignore[no-untyped-def]
        if request.course_id == "crash":
            raise RuntimeError("SELECT secret FROM internals")  # must never reach the client
        raise DomainError(
            "course.version_conflict", "course changed", ErrorKind.CONFLICT, details={"currentVersion": 7}
        )


@dataclass
class Running:
    server: GrpcServer
    channel: grpc.aio.Channel
    dependency_up: asyncio.Event


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    dependency_up = asyncio.Event()

    async def dependency_check() -> None:
        if not dependency_up.is_set():
            raise ConnectionError("database not reachable yet")

    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        verifier=InternalTokenVerifier(KEY.verifying_keys()),
        register=lambda s: course_pb2_grpc.add_CourseServiceServicer_to_server(_Courses(), s),
        service_names=["lectern.course.v1.CourseService"],
        readiness_checks=[dependency_check],
        check_interval=0.1,
        grace_seconds=1,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(server.run(stop))
    await asyncio.wait_for(server.started.wait(), timeout=10)
    channel = open_channel(f"127.0.0.1:{server.bound_port}")
    yield Running(server, channel, dependency_up)
    await channel.close()
    stop.set()
    await asyncio.wait_for(task, timeout=10)


async def _health(channel: grpc.aio.Channel, service: str) -> int:
    response = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=2
    )
    return int(response.status)


async def test_health_is_not_serving_until_dependencies_are_ready(running: Running) -> None:
    await asyncio.sleep(0.3)
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    assert await _health(running.channel, "lectern.course.v1.CourseService") == not_serving
    running.dependency_up.set()
    async with asyncio.timeout(5):
        while await _health(running.channel, "") != health_pb2.HealthCheckResponse.SERVING:
            await asyncio.sleep(0.05)
    assert await _health(running.channel, "lectern.course.v1.CourseService") == health_pb2.HealthCheckResponse.SERVING


async def test_call_without_a_token_is_unauthenticated(running: Running) -> None:
    stub = course_pb2_grpc.CourseServiceStub(running.channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateCourse(course_pb2.CreateCourseRequest(title="x"), timeout=2)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_call_with_a_forged_token_is_unauthenticated(running: Running) -> None:
    forged = InternalTokenIssuer(SigningKey.generate()).issue(Identity("u1"))
    stub = course_pb2_grpc.CourseServiceStub(running.channel)
    with pytest.raises(DomainError) as caught:
        await call(stub.CreateCourse, course_pb2.CreateCourseRequest(title="x"), token=forged)
    assert caught.value.kind is ErrorKind.UNAUTHENTICATED


async def test_expired_token_is_unauthenticated(running: Running) -> None:
    expired = InternalTokenIssuer(KEY, ttl_seconds=-60).issue(Identity("u1"))
    stub = course_pb2_grpc.CourseServiceStub(running.channel)
    with pytest.raises(DomainError) as caught:
        await call(stub.CreateCourse, course_pb2.CreateCourseRequest(title="x"), token=expired)
    assert caught.value.kind is ErrorKind.UNAUTHENTICATED


async def test_valid_token_reaches_the_servicer_as_the_callers_identity(running: Running) -> None:
    token = InternalTokenIssuer(KEY).issue(Identity("user-42"))
    stub = course_pb2_grpc.CourseServiceStub(running.channel)
    response = await call(stub.CreateCourse, course_pb2.CreateCourseRequest(title="x"), token=token)
    assert response.course.owner_id == "user-42"


async def test_domain_error_maps_to_its_status_with_details(running: Running) -> None:
    token = InternalTokenIssuer(KEY).issue(Identity("u1"))
    stub = course_pb2_grpc.CourseServiceStub(running.channel)
    with pytest.raises(grpc.aio.AioRpcError) as raw:
        await stub.GetCourseEdit(
            course_pb2.GetCourseEditRequest(course_id="c1"), metadata=(("authorization", f"Bearer {token}"),)
        )
    assert raw.value.code() == grpc.StatusCode.ABORTED
    with pytest.raises(DomainError) as caught:
        await call(stub.GetCourseEdit, course_pb2.GetCourseEditRequest(course_id="c1"), token=token)
    assert caught.value.kind is ErrorKind.CONFLICT
    assert caught.value.code == "course.version_conflict"
    assert caught.value.details == {"currentVersion": 7}


async def test_unexpected_exception_is_internal_without_leaking(running: Running) -> None:
    token = InternalTokenIssuer(KEY).issue(Identity("u1"))
    stub = course_pb2_grpc.CourseServiceStub(running.channel)
    with pytest.raises(DomainError) as caught:
        await call(stub.GetCourseEdit, course_pb2.GetCourseEditRequest(course_id="crash"), token=token)
    assert caught.value.kind is ErrorKind.INTERNAL
    assert "SELECT" not in caught.value.message


async def test_client_reports_a_down_peer_as_unavailable_quickly() -> None:
    channel = open_channel("127.0.0.1:1")  # nothing listens on port 1
    stub = course_pb2_grpc.CourseServiceStub(channel)
    token = InternalTokenIssuer(KEY).issue(Identity("u1"))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(DomainError) as caught:
        await call(stub.CreateCourse, course_pb2.CreateCourseRequest(), token=token, timeout=1.0)
    await channel.close()
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert loop.time() - started < 5  # a bound on hanging, not a performance assertion


async def _reflection_answers(settings_overrides: dict[str, str]) -> grpc.StatusCode:
    """List services over gRPC reflection on a server built like every service's."""
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
    from lectern_common.settings import ServiceSettings

    class Settings(ServiceSettings):
        pass

    settings = Settings(grpc_port=0, **settings_overrides)  # type: ignore[arg-type]
    server = GrpcServer.for_service(
        settings,
        register=lambda s: course_pb2_grpc.add_CourseServiceServicer_to_server(_Courses(), s),
        service_names=["lectern.course.v1.CourseService"],
        tracing=False,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(server.run(stop))
    await asyncio.wait_for(server.started.wait(), timeout=10)
    channel = open_channel(f"127.0.0.1:{server.bound_port}", tracing=False)
    try:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        try:
            async for _ in stub.ServerReflectionInfo(iter([request]), timeout=5):
                return grpc.StatusCode.OK
        except grpc.aio.AioRpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK
    finally:
        await channel.close()
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def test_reflection_lists_services_in_dev() -> None:
    assert await _reflection_answers({}) == grpc.StatusCode.OK


async def test_reflection_is_off_outside_dev() -> None:
    # Settings that pass the production check: this base class checks nothing of its own.
    assert await _reflection_answers({"environment": "production"}) == grpc.StatusCode.UNIMPLEMENTED


async def test_each_call_is_a_server_span_under_the_callers_trace_when_spans_are_recorded() -> None:
    from lectern_common.grpc_server import IdentityAndErrorsInterceptor
    from lectern_common.telemetry import tracer_provider
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = tracer_provider("test")  # not the process's: the spans of this server only
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    interceptor = IdentityAndErrorsInterceptor(InternalTokenVerifier(KEY.verifying_keys()), provider.get_tracer("t"))
    server = grpc.aio.server(interceptors=[interceptor])
    course_pb2_grpc.add_CourseServiceServicer_to_server(_Courses(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = open_channel(f"127.0.0.1:{port}", tracing=False)  # the traceparent is the test's own
    token = InternalTokenIssuer(KEY).issue(Identity("u1"))
    metadata = (("authorization", f"Bearer {token}"), ("traceparent", f"00-{'ab' * 16}-{'cd' * 8}-01"))
    stub = course_pb2_grpc.CourseServiceStub(channel)
    await stub.CreateCourse(course_pb2.CreateCourseRequest(title="x"), metadata=metadata, timeout=5)
    for course_id in ("c1", "crash"):  # a client's mistake (ABORTED) and the server's own failure
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.GetCourseEdit(course_pb2.GetCourseEditRequest(course_id=course_id), metadata=metadata, timeout=5)
    await channel.close()
    await server.stop(None)

    spans = [s for s in exporter.get_finished_spans() if s.kind is trace.SpanKind.SERVER]
    assert [s.name.rsplit("/", 1)[1] for s in spans] == ["CreateCourse", "GetCourseEdit", "GetCourseEdit"]
    assert {s.context.trace_id for s in spans} == {int("ab" * 16, 16)}
    assert all(s.parent is not None and s.parent.span_id == int("cd" * 8, 16) for s in spans)
    created, refused, crashed = spans
    assert created.attributes is not None and dict(created.attributes) == {
        "rpc.system": "grpc",
        "rpc.service": "lectern.course.v1.CourseService",
        "rpc.method": "CreateCourse",
        "rpc.grpc.status_code": 0,
        "net.peer.ip": "127.0.0.1",
        "net.peer.port": created.attributes["net.peer.port"],
    }
    assert (
        refused.attributes is not None
        and refused.attributes["rpc.grpc.status_code"] == grpc.StatusCode.ABORTED.value[0]
    )
    assert refused.status.status_code is trace.StatusCode.UNSET
    assert (
        crashed.attributes is not None
        and crashed.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INTERNAL.value[0]
    )
    assert crashed.status.status_code is trace.StatusCode.ERROR
    provider.shutdown()
