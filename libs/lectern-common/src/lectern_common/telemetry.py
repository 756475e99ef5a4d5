"""OpenTelemetry set-up and trace-context propagation through headers.

Tracing is always on in-process (so logs carry trace ids and context crosses gRPC, HTTP and
Kafka); spans are exported over OTLP/HTTP only when an endpoint is configured
(``LECTERN_<SVC>_OTLP_ENDPOINT`` or the standard ``OTEL_EXPORTER_OTLP_ENDPOINT``).

A span is recorded only while the provider has a span processor (an exporter, or a test's
in-memory one). Without one, every span is a non-recording span: it still has its trace and
span ids, becomes the current span and crosses to the next service in ``traceparent`` (not
sampled), but it keeps no attributes, events or timings and reaches no processor, which is what
recording every span of every call cost a process that exported none of them. A service that
exports records as before (the sampler it would have had: ``OTEL_TRACES_SAMPLER``, by default
the parent's decision, every root recorded); like any parent-based sampler it records nothing
of a call whose caller recorded nothing, so the stack exports from every service or none.

The libraries' instrumentations (httpx, Redis, each engine's SQL statements) are leaf spans
that carry no context to a Lectern service, so they are installed only once spans are recorded
(the installed provider's first span processor, at start-up when exporting): until then a Redis
command or a statement runs without their wrappers.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

if TYPE_CHECKING:  # the SDK is imported by setup_telemetry only: a process without tracing never loads it
    from opentelemetry.sdk.trace import TracerProvider

_provider: TracerProvider | None = None
_recording = False  # the installed provider has a span processor: the libraries are instrumented
_engines_to_instrument: list[weakref.ref[Any]] = []  # made before that (sync engines)


def setup_telemetry(service_name: str, otlp_endpoint: str | None = None) -> TracerProvider:
    """Install the tracer provider once per process; export only when an endpoint is known."""
    global _provider
    if _provider is not None:
        return _provider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = tracer_provider(service_name, on_recording=_instrument_libraries)
    trace.set_tracer_provider(provider)  # first: the instrumentations take their tracers from it
    _provider = provider
    endpoint = otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        traces_url = endpoint.rstrip("/") + "/v1/traces" if not endpoint.endswith("/v1/traces") else endpoint
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url)))
    return provider


def tracer_provider(service_name: str, on_recording: Callable[[], None] | None = None) -> TracerProvider:
    """The provider :func:`setup_telemetry` installs, not installed: its spans record only once a
    span processor is added (see the module docstring); ``on_recording`` is called then, once.

    The classes are made here so that importing this module never loads the SDK."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Sampler, SamplingResult

    class WhileProcessed(Sampler):
        """``recording`` once a processor is added, ``ALWAYS_OFF`` (its ids, no record) before."""

        def __init__(self, recording: Sampler) -> None:
            self.recording = recording
            self.current: Sampler = ALWAYS_OFF

        def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
            return self.current.should_sample(*args, **kwargs)

        def get_description(self) -> str:
            return f"WhileProcessed{{{self.recording.get_description()}}}"

    class Provider(TracerProvider):
        def add_span_processor(self, span_processor: SpanProcessor) -> None:
            super().add_span_processor(span_processor)
            first = sampler.current is not sampler.recording
            sampler.current = sampler.recording
            if first and on_recording is not None:
                on_recording()

    # Made with the sampler OTEL_TRACES_SAMPLER names (by default the parent's decision), which
    # becomes the recording one. Every tracer takes the provider's sampler when it is made: this
    # one, set before any is.
    provider = Provider(resource=Resource.create({"service.name": f"lectern-{service_name}"}))
    provider.sampler = sampler = WhileProcessed(provider.sampler)
    return provider


def _instrument_libraries() -> None:
    """Spans for every outgoing HTTP call (httpx) and Redis command, process-wide, and for the
    SQL statements of the engines made so far: once spans are recorded."""
    global _recording
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    _recording = True
    HTTPXClientInstrumentor().instrument()
    RedisInstrumentor().instrument()
    engines = [engine for ref in _engines_to_instrument if (engine := ref()) is not None]
    _engines_to_instrument.clear()
    for engine in engines:
        _instrument_sync_engine(engine)


def instrument_engine(engine: Any) -> None:
    """Spans for every SQL statement of ``engine`` (an AsyncEngine) once telemetry is set up and
    spans are recorded (until then it is remembered, not kept alive)."""
    if _provider is None:
        return
    if _recording:
        _instrument_sync_engine(engine.sync_engine)
    else:
        _engines_to_instrument.append(weakref.ref(engine.sync_engine))


def _instrument_sync_engine(engine: Any) -> None:
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # The instrumentation declares support up to SQLAlchemy 2.0 only; the engine events it hooks
    # (before/after_cursor_execute) are unchanged in 2.1, and a test checks the spans appear.
    SQLAlchemyInstrumentor().instrument(engine=engine, tracer_provider=_provider, skip_dep_check=True)


def shutdown_telemetry() -> None:
    """Flush spans on the way out."""
    if _provider is not None:
        _provider.shutdown()


def inject_headers() -> list[tuple[str, bytes]]:
    """The current trace context as Kafka-style headers (``traceparent``, ``tracestate``)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [(key, value.encode()) for key, value in carrier.items()]


def extract_context(headers: Iterable[tuple[str, bytes]] | Mapping[str, str] | None) -> otel_context.Context:
    """A context whose parent is the span that wrote these headers."""
    carrier: dict[str, str] = {}
    if isinstance(headers, Mapping):
        carrier = {k: str(v) for k, v in headers.items()}
    elif headers:
        carrier = {k: v.decode(errors="replace") if isinstance(v, bytes) else str(v) for k, v in headers}
    return propagate.extract(carrier)


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)
