"""In-memory telemetry for tests: providers whose spans and metrics tests can query by GenAI name."""

from __future__ import annotations

import threading
from typing import Any, Dict, Iterator, List, Optional, Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

# Short filter names for the attributes tests ask about most.
ALIASES = {
    "operation": "gen_ai.operation.name",
    "model": "gen_ai.request.model",
    "response_model": "gen_ai.response.model",
    "token_type": "gen_ai.token.type",
    "error_type": "error.type",
    "method": "rpc.method",
    "region": "aws.region",
}


def _wanted(filters: Dict[str, Any]) -> Dict[str, Any]:
    return {ALIASES.get(key, key): value for key, value in filters.items()}


def _matches(attributes: Any, wanted: Dict[str, Any]) -> bool:
    attributes = attributes or {}
    return all(attributes.get(key) == value for key, value in wanted.items())


class _OpenSpans(SpanProcessor):
    """Remembers spans that started and have not ended, so tests can prove every span ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: Dict[int, Span] = {}

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:
        with self._lock:
            self._open[span.context.span_id] = span

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self._open.pop(span.context.span_id, None)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # nothing to flush; older SDKs (1.41, the newest on Python 3.9) return None, failing the flush

    def snapshot(self) -> List[Span]:
        with self._lock:
            return list(self._open.values())


class CapturedSpans:
    """Finished spans, with helpers that fail with a readable list of what was captured."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self._open = _OpenSpans()
        self.provider = TracerProvider()
        self.provider.add_span_processor(self._open)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    @property
    def spans(self) -> List[ReadableSpan]:
        """Every finished span so far, in the order they ended."""
        return list(self.exporter.get_finished_spans())

    @property
    def unfinished(self) -> List[Span]:
        """Spans started but not yet ended: should be empty once the code under test is done."""
        return self._open.snapshot()

    def all(self, **filters: Any) -> List[ReadableSpan]:
        """Finished spans whose attributes equal ``filters`` (short names: operation, model, …; or ``name``)."""
        name = filters.pop("name", None)
        wanted = _wanted(filters)
        return [s for s in self.spans if (name is None or s.name == name) and _matches(s.attributes, wanted)]

    def one(self, **filters: Any) -> ReadableSpan:
        """The single finished span matching ``filters``; AssertionError listing all spans otherwise."""
        found = self.all(**filters)
        if len(found) != 1:
            listing = "\n".join(f"  {s.name} {dict(s.attributes or {})}" for s in self.spans) or "  (none)"
            raise AssertionError(f"expected exactly one span matching {filters}, found {len(found)}; "
                                 f"captured:\n{listing}")
        return found[0]

    def clear(self) -> None:
        """Forget the finished spans captured so far."""
        self.exporter.clear()

    def __len__(self) -> int:
        return len(self.spans)

    def __iter__(self) -> Iterator[ReadableSpan]:
        return iter(self.spans)

    def __getitem__(self, index: int) -> ReadableSpan:
        return self.spans[index]


class MetricPoint:
    """One data point: the metric's name, its attributes, and ``count``/``sum`` (histograms) or ``value``."""

    __slots__ = ("attributes", "count", "name", "sum", "value")

    def __init__(self, name: str, attributes: Dict[str, Any], point: Any) -> None:
        self.name = name
        self.attributes = attributes
        if isinstance(point, HistogramDataPoint):
            self.count, self.sum, self.value = point.count, point.sum, point.sum
        elif isinstance(point, NumberDataPoint):
            self.count, self.sum, self.value = 1, point.value, point.value
        else:  # pragma: no cover - exponential histograms are not configured here
            self.count, self.sum, self.value = getattr(point, "count", 0), getattr(point, "sum", 0), None

    def __repr__(self) -> str:
        return f"MetricPoint({self.name}, count={self.count}, sum={self.sum}, {self.attributes})"


class CapturedMetrics:
    """Cumulative metric points collected on demand from an in-memory reader."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])

    def points(self, name: Optional[str] = None, **filters: Any) -> List[MetricPoint]:
        """Data points of metric ``name`` (every metric when None) whose attributes equal ``filters``."""
        wanted = _wanted(filters)
        data = self.reader.get_metrics_data()
        found: List[MetricPoint] = []
        for resource_metrics in (data.resource_metrics if data else ()):
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if name is not None and metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        attributes = dict(point.attributes or {})
                        if _matches(attributes, wanted):
                            found.append(MetricPoint(metric.name, attributes, point))
        return found

    def names(self) -> Sequence[str]:
        """The names of the metrics recorded so far, sorted."""
        return sorted({p.name for p in self.points()})

    def token_usage(self, token_type: Optional[str] = None, **filters: Any) -> int:
        """Total tokens recorded in ``gen_ai.client.token.usage`` (optionally of one type)."""
        if token_type is not None:
            filters["token_type"] = token_type
        return int(sum(p.sum for p in self.points("gen_ai.client.token.usage", **filters)))

    def count(self, name: str = "gen_ai.client.operation.duration", **filters: Any) -> int:
        """How many measurements a histogram holds (e.g. calls, for the duration histogram)."""
        return sum(p.count for p in self.points(name, **filters))


class Capture:
    """Both providers together, as the pytest plugin and the demo use them."""

    def __init__(self) -> None:
        self.spans = CapturedSpans()
        self.metrics = CapturedMetrics()

    def shutdown(self) -> None:
        """Shut both providers down (the fixtures do it after each test)."""
        self.spans.provider.shutdown()
        self.metrics.provider.shutdown()
