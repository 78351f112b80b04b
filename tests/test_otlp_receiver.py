"""The test OTLP receivers, checked with the SDK's own OTLP exporters (gRPC and HTTP/protobuf)."""

from __future__ import annotations

import logging
import time
from typing import Any, Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from bedrock_otel.testing.otlp_receiver import OtlpGrpcReceiver, OtlpHttpReceiver

http_exporters = pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter",
                                     reason="opentelemetry-exporter-otlp-proto-http not installed")

RESOURCE = Resource.create({"service.name": "receiver-test", "deployment.environment.name": "ci"})


@pytest.fixture(params=["grpc", "http/protobuf"])
def receiver(request: pytest.FixtureRequest) -> Iterator[Any]:
    server = OtlpGrpcReceiver() if request.param == "grpc" else OtlpHttpReceiver()
    with server:
        yield server


def _exporters(receiver: Any, **kwargs: Any) -> tuple:
    """Span, metric and log exporters of the receiver's protocol, aimed at it."""
    if receiver.transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return tuple(cls(endpoint=receiver.endpoint, insecure=True, **kwargs)
                     for cls in (OTLPSpanExporter, OTLPMetricExporter, OTLPLogExporter))
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLog
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetric
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpan

    return tuple(cls(endpoint=f"{receiver.endpoint}/v1/{path}", **kwargs)
                 for cls, path in ((HttpSpan, "traces"), (HttpMetric, "metrics"), (HttpLog, "logs")))


def _finished_spans(receiver: Any) -> tuple:
    """A parent SERVER span and an erroring CLIENT child, exported through a SimpleSpanProcessor."""
    if receiver.transport == "grpc":
        from grpc import Compression
    else:
        from opentelemetry.exporter.otlp.proto.http import Compression  # type: ignore[assignment]

    span_exporter = _exporters(receiver, headers={"x-tenant": "t-1"}, compression=Compression.Gzip)[0]
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    tracer = provider.get_tracer("receiver.test", "1.2.3")
    with tracer.start_as_current_span("parent", kind=SpanKind.SERVER) as parent, \
            tracer.start_as_current_span("chat model-x", kind=SpanKind.CLIENT) as child:
        child.set_attributes({"text": "hé", "int": 7, "float": 0.25, "flag": True,
                              "strings": ["a", "b"], "ints": [1, 2, 3]})
        child.add_event("gen_ai.choice", {"index": 0})
        child.set_status(Status(StatusCode.ERROR, "boom"))
    provider.shutdown()
    return parent.get_span_context(), child.get_span_context()


def test_spans_arrive_intact(receiver: Any):
    parent_ctx, child_ctx = _finished_spans(receiver)
    spans = {span.name: span for span in receiver.wait_for_spans(2, timeout=10)}
    parent, child = spans["parent"], spans["chat model-x"]
    assert child.trace_id == parent.trace_id == f"{child_ctx.trace_id:032x}"
    assert child.span_id == f"{child_ctx.span_id:016x}"
    assert child.parent_span_id == parent.span_id == f"{parent_ctx.span_id:016x}"
    assert parent.parent_span_id is None
    assert (parent.kind, child.kind) == ("SERVER", "CLIENT")
    assert child.attributes == {"text": "hé", "int": 7, "float": 0.25, "flag": True,
                                "strings": ("a", "b"), "ints": (1, 2, 3)}
    assert child.events == (("gen_ai.choice", {"index": 0}),)
    assert (child.status_code, child.status_message) == ("ERROR", "boom")
    assert child.resource["service.name"] == "receiver-test"
    assert child.resource["deployment.environment.name"] == "ci"
    assert (child.scope, child.scope_version) == ("receiver.test", "1.2.3")
    assert child.end_time_unix_nano >= child.start_time_unix_nano > 0
    assert all(h.get("x-tenant") == "t-1" for h in receiver.headers("traces"))


def test_metrics_arrive_intact(receiver: Any):
    metric_exporter = _exporters(receiver)[1]
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=60_000)
    provider = MeterProvider(metric_readers=[reader], resource=RESOURCE)
    meter = provider.get_meter("receiver.test")
    counter = meter.create_counter("calls", unit="{call}")
    histogram = meter.create_histogram("gen_ai.client.token.usage", unit="{token}",
                                       explicit_bucket_boundaries_advisory=[1, 4, 16, 64])
    counter.add(2, {"op": "chat"})
    counter.add(3, {"op": "chat"})
    for tokens in (3, 20, 100):
        histogram.record(tokens, {"gen_ai.token.type": "input"})
    provider.shutdown()  # exports once more, then stops

    metrics = receiver.wait_for_metric("gen_ai.client.token.usage")
    assert metrics
    found = receiver.metrics()
    calls = found["calls"][-1]
    assert (calls.kind, calls.value, calls.attributes, calls.unit) == ("sum", 5, {"op": "chat"}, "{call}")
    assert (calls.temporality, calls.is_monotonic) == ("CUMULATIVE", True)
    tokens = found["gen_ai.client.token.usage"][-1]
    assert tokens.kind == "histogram"
    assert tokens.attributes == {"gen_ai.token.type": "input"}
    assert (tokens.count, tokens.sum, tokens.min, tokens.max) == (3, 123, 3, 100)
    assert tokens.explicit_bounds == (1.0, 4.0, 16.0, 64.0)
    assert tokens.bucket_counts == (0, 1, 0, 1, 1)
    assert tokens.resource["service.name"] == "receiver-test"


@pytest.mark.filterwarnings("ignore:.*LoggingHandler.*:DeprecationWarning")  # newer SDKs move it; still works
def test_logs_arrive_intact(receiver: Any):
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    log_exporter = _exporters(receiver)[2]
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    handler = LoggingHandler(logger_provider=provider)
    logger = logging.getLogger("receiver.test.logs")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        tracer = TracerProvider().get_tracer("t")
        with tracer.start_as_current_span("with-log") as span:
            logger.warning("token budget %s", "exceeded", extra={"gen_ai.request.model": "m"})
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    (record,) = receiver.wait_for_logs(1)
    assert record.body == "token budget exceeded"
    assert record.severity_text in ("WARN", "WARNING")
    assert record.attributes["gen_ai.request.model"] == "m"
    assert record.trace_id == f"{span.get_span_context().trace_id:032x}"
    assert record.resource["service.name"] == "receiver-test"


def test_refused_once_then_accepted(receiver: Any):
    """A transient refusal (UNAVAILABLE / 503) is retried by the exporter and then accepted."""
    receiver.refuse(times=1)
    span_exporter = _exporters(receiver, timeout=5)[0]
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    provider.get_tracer("t").start_span("retried").end()  # exported synchronously, including the retry
    spans = receiver.wait_for_spans(1, timeout=5)
    provider.shutdown()
    assert [s.name for s in spans] == ["retried"]
    assert receiver.rejected == 1


def test_refusing_and_slow_receivers_fail_the_export(receiver: Any):
    span_exporter = _exporters(receiver, timeout=0.5)[0]
    provider = TracerProvider()
    span = provider.get_tracer("t").start_span("dropped")
    span.end()

    receiver.refuse()
    assert span_exporter.export([span]) is SpanExportResult.FAILURE
    assert receiver.rejected >= 1 and receiver.spans() == []

    receiver.accept()
    receiver.delay = 2.0
    started = time.monotonic()
    assert span_exporter.export([span]) is SpanExportResult.FAILURE
    assert time.monotonic() - started < 1.9  # the exporter gave up at its own timeout
    span_exporter.shutdown()


def test_clear_and_restart():
    with OtlpHttpReceiver() as receiver:
        span_exporter = _exporters(receiver)[0]
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        provider.get_tracer("t").start_span("one").end()
        assert len(receiver.wait_for_spans(1)) == 1
        receiver.clear()
        assert receiver.spans() == [] and receiver.received == []
        provider.shutdown()
    with OtlpGrpcReceiver() as idle, pytest.raises(AssertionError, match=r"timed out after 0.1s waiting for 1 span"):
        idle.wait_for_spans(1, timeout=0.1)
