"""One trace from the action through the service and back."""

from __future__ import annotations

from lectern.course.v1 import course_pb2
from lectern_common.telemetry import setup_telemetry
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ..conftest import RunningGateway, Scripted
from ..factories import course_edit


async def test_the_action_and_the_grpc_call_share_one_trace(gw: RunningGateway, scripted: Scripted) -> None:
    exporter = InMemorySpanExporter()
    setup_telemetry("gateway").add_span_processor(SimpleSpanProcessor(exporter))
    scripted.handlers["GetCourseEdit"] = lambda request, identity: course_pb2.GetCourseEditResponse(
        course=course_edit(request.course_id)
    )
    response = await gw.act("getCourseEdit", {"courseId": "c1"}, token=await gw.token())
    assert response.status_code == 200
    spans = exporter.get_finished_spans()
    http = [s for s in spans if s.attributes and s.attributes.get("http.route") == "/actions/{name}"]
    grpc_spans = [s for s in spans if s.name == "/lectern.course.v1.CourseService/GetCourseEdit"]
    assert http, [s.name for s in spans]
    assert len(grpc_spans) >= 2, [s.name for s in spans]  # the client's span and the service's
    trace_ids = {s.context.trace_id for s in [*http, *grpc_spans]}
    assert len(trace_ids) == 1
