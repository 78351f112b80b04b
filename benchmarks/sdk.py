"""One identical OpenTelemetry SDK set-up per contender: spans counted and dropped, metrics kept in memory.

Every contender gets its own providers (so its spans and metric points can be counted apart), all
built the same way, so the benchmarks compare instrumentation cost and never export cost.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, Optional, Sequence

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

GEN_AI_OPERATION = "gen_ai.operation.name"
_RESOURCE = Resource.create({"service.name": "bedrock-otel-benchmarks"})


class CountingExporter(SpanExporter):
    """Counts ended spans (all, and GenAI ones) and keeps the latest GenAI span; exports nothing."""

    def __init__(self) -> None:
        self.total = 0
        self.genai = 0
        self.last_genai: Optional[ReadableSpan] = None
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            for span in spans:
                self.total += 1
                attributes = span.attributes
                if attributes and GEN_AI_OPERATION in attributes:
                    self.genai += 1
                    self.last_genai = span
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


class Sdk:
    """Tracer, meter and logger providers for one contender."""

    def __init__(self) -> None:
        self.exporter = CountingExporter()
        self.reader = InMemoryMetricReader()
        self.tracer_provider = TracerProvider(resource=_RESOURCE)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.meter_provider = MeterProvider(metric_readers=[self.reader], resource=_RESOURCE)
        self.logger_provider = LoggerProvider(resource=_RESOURCE)  # no processor: content capture is off anyway

    def kwargs(self) -> Dict[str, Any]:
        """The keyword arguments every instrumentor's ``instrument()`` receives."""
        return {
            "tracer_provider": self.tracer_provider,
            "meter_provider": self.meter_provider,
            "logger_provider": self.logger_provider,
        }

    def histogram_counts(self) -> Dict[str, int]:
        """Total recorded measurements per histogram name (cumulative since the start)."""
        counts: Dict[str, int] = {}
        data = self.reader.get_metrics_data()
        if data is None:
            return counts
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    for point in metric.data.data_points:
                        if isinstance(point, HistogramDataPoint):
                            counts[metric.name] = counts.get(metric.name, 0) + point.count
        return counts

    def metric_attributes(self, name: str) -> Dict[str, Any]:
        """Attributes of one data point of histogram ``name`` (to give the floor the same dimensions)."""
        data = self.reader.get_metrics_data()
        if data is None:
            return {}
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            return dict(point.attributes or {})
        return {}

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        self.logger_provider.shutdown()
