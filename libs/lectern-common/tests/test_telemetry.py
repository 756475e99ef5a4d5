"""Trace context crosses Kafka headers, and log lines carry the trace id."""

from __future__ import annotations

import io
import json
import logging

from lectern_common.structured_logging import JsonFormatter
from lectern_common.telemetry import extract_context, inject_headers, setup_telemetry, tracer, tracer_provider
from opentelemetry import context as otel_context
from opentelemetry import trace


def test_headers_carry_the_trace_to_the_consumer_side() -> None:
    setup_telemetry("test")
    with tracer("producer").start_as_current_span("publish") as span:
        headers = inject_headers()
        produced_trace = span.get_span_context().trace_id
    assert any(key == "traceparent" for key, _ in headers)
    token = otel_context.attach(extract_context(headers))
    try:
        with tracer("consumer").start_as_current_span("consume") as child:
            assert child.get_span_context().trace_id == produced_trace
    finally:
        otel_context.detach(token)


def test_json_log_lines_carry_trace_and_span_ids() -> None:
    setup_telemetry("test")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    logger = logging.getLogger("lectern.test.telemetry")
    logger.addHandler(handler)
    logger.propagate = False
    with tracer("t").start_as_current_span("work") as span:
        logger.warning("saved course", extra={"course_id": "c1"})
        expected = format(span.get_span_context().trace_id, "032x")
    line = json.loads(stream.getvalue().strip())
    assert line["trace_id"] == expected
    assert line["msg"] == "saved course"
    assert line["course_id"] == "c1"
    assert line["service"] == "test"
    assert trace.get_current_span().get_span_context().is_valid is False


async def test_sql_statements_become_spans(fresh_database_url: str) -> None:
    from lectern_common.db import create_engine
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from sqlalchemy import text

    provider = setup_telemetry("test")
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    engine = create_engine(fresh_database_url, pool_size=1)
    try:
        with tracer("t").start_as_current_span("request") as parent:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 42"))
            trace_id = parent.get_span_context().trace_id
    finally:
        await engine.dispose()
    sql_spans = [s for s in exporter.get_finished_spans() if "SELECT" in s.name or s.attributes.get("db.statement")]
    assert sql_spans, [s.name for s in exporter.get_finished_spans()]
    assert all(s.context.trace_id == trace_id for s in sql_spans)


def test_spans_record_nothing_until_a_span_processor_is_added() -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = tracer_provider("test")
    made_before = provider.get_tracer("t")  # a tracer taken before the processor records after it too
    with made_before.start_as_current_span("nothing exports this") as quiet:
        headers = dict(inject_headers())
    assert not quiet.is_recording()
    assert quiet.get_span_context().is_valid  # ids for the logs and the next service all the same
    _, trace_id, span_id, flags = headers["traceparent"].decode().split("-")
    quiet_ids = quiet.get_span_context()
    assert (int(trace_id, 16), int(span_id, 16)) == (quiet_ids.trace_id, quiet_ids.span_id)
    assert int(flags, 16) & 1 == 0  # not sampled: the caller recorded nothing

    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    token = otel_context.attach(extract_context({"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"}))
    try:
        with made_before.start_as_current_span("exported", attributes={"course.id": "c1"}) as loud:
            assert loud.is_recording()
    finally:
        otel_context.detach(token)
    (finished,) = exporter.get_finished_spans()
    assert finished.name == "exported"
    assert finished.attributes == {"course.id": "c1"}
    assert finished.context.trace_id == int("ab" * 16, 16)
    assert finished.parent is not None and finished.parent.span_id == int("cd" * 8, 16)
    provider.shutdown()


def test_the_libraries_are_instrumented_only_once_spans_are_recorded() -> None:
    import os
    import subprocess
    import sys

    # A process of its own: instrumenting is process-wide and once.
    script = """
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from lectern_common.telemetry import setup_telemetry

provider = setup_telemetry("test")
print(RedisInstrumentor().is_instrumented_by_opentelemetry)
provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
print(RedisInstrumentor().is_instrumented_by_opentelemetry)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
