"""Real OTLP receivers (gRPC and HTTP/protobuf) on 127.0.0.1, for end-to-end tests of exporters.

Why real servers rather than in-memory exporters: what ``bedrock_otel.configure()`` sets up is an
exporter pipeline (endpoint resolution, headers, protocol, batching, retries, shutdown). Only something
listening on a socket shows that the data really leaves the process and arrives intact.

>>> with OtlpGrpcReceiver() as receiver:          # or OtlpHttpReceiver()
...     ...  # point an OTLP exporter at receiver.endpoint
...     spans = receiver.wait_for_spans(1)

Both receivers store every accepted request (``received``) and flatten them on demand (``spans()``,
``metrics()``, ``logs()``). For fault tests, ``refuse()`` makes them answer UNAVAILABLE (gRPC) or 503
(HTTP), or the status code given; ``delay`` makes every answer slow; ``hold()`` stalls every answer until
``release()``. A gRPC request whose client gave up while it waited (its deadline, a shutdown) is not
stored but counted in ``abandoned``: the exporter never learnt that it arrived.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from concurrent import futures
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from ._connections import OpenConnections, TrackedHandler

__all__ = [
    "OtlpGrpcReceiver",
    "OtlpHttpReceiver",
    "Received",
    "ReceivedLog",
    "ReceivedPoint",
    "ReceivedSpan",
]

SIGNALS = ("traces", "metrics", "logs")
_REQUEST_TYPES: Dict[str, Any] = {
    "traces": trace_service_pb2.ExportTraceServiceRequest,
    "metrics": metrics_service_pb2.ExportMetricsServiceRequest,
    "logs": logs_service_pb2.ExportLogsServiceRequest,
}
_RESPONSE_TYPES: Dict[str, Any] = {
    "traces": trace_service_pb2.ExportTraceServiceResponse,
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
}

# -- flattened views of what arrived --------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One accepted export request: the signal, the decoded protobuf request and the request headers."""

    signal: str
    request: Any
    headers: Dict[str, str]


@dataclass(frozen=True)
class ReceivedSpan:
    """A span as the receiver decoded it; ids are lowercase hex, attributes plain Python values."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: Optional[str]
    kind: str  # "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER" or "UNSPECIFIED"
    attributes: Dict[str, Any]
    status_code: str  # "UNSET", "OK" or "ERROR"
    status_message: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    events: Tuple[Tuple[str, Dict[str, Any]], ...]
    resource: Dict[str, Any]
    scope: str
    scope_version: str

    @property
    def duration_s(self) -> float:
        return (self.end_time_unix_nano - self.start_time_unix_nano) / 1e9


@dataclass(frozen=True)
class ReceivedPoint:
    """One metric data point. ``value`` is set for sums and gauges; histogram fields for histograms."""

    name: str
    kind: str  # "sum", "gauge", "histogram", "exponential_histogram" or "summary"
    attributes: Dict[str, Any]
    unit: str
    time_unix_nano: int
    resource: Dict[str, Any]
    scope: str
    value: Optional[float] = None
    count: Optional[int] = None
    sum: Optional[float] = None
    min: Optional[float] = None
    max: Optional[float] = None
    bucket_counts: Tuple[int, ...] = ()
    explicit_bounds: Tuple[float, ...] = ()
    temporality: Optional[str] = None  # "CUMULATIVE" or "DELTA" for sums and histograms
    is_monotonic: Optional[bool] = None


@dataclass(frozen=True)
class ReceivedLog:
    body: Any
    severity_text: str
    severity_number: int
    attributes: Dict[str, Any]
    trace_id: Optional[str]
    span_id: Optional[str]
    event_name: str
    resource: Dict[str, Any]
    scope: str


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(_value(item) for item in value.array_value.values)
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind)


def _attributes(pairs: Sequence[KeyValue]) -> Dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _hex(raw: bytes) -> Optional[str]:
    return raw.hex() if raw else None


def _enum_name(enum: Any, number: int, prefix: str) -> str:
    try:
        name = enum.Name(number)
    except ValueError:
        return str(number)
    return name[len(prefix):] if name.startswith(prefix) else name


def _flatten_spans(request: Any) -> List[ReceivedSpan]:
    spans: List[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(ReceivedSpan(
                    name=span.name,
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_span_id=_hex(span.parent_span_id),
                    kind=_enum_name(trace_pb2.Span.SpanKind, span.kind, "SPAN_KIND_"),
                    attributes=_attributes(span.attributes),
                    status_code=_enum_name(trace_pb2.Status.StatusCode, span.status.code, "STATUS_CODE_"),
                    status_message=span.status.message,
                    start_time_unix_nano=span.start_time_unix_nano,
                    end_time_unix_nano=span.end_time_unix_nano,
                    events=tuple((event.name, _attributes(event.attributes)) for event in span.events),
                    resource=resource,
                    scope=scope_spans.scope.name,
                    scope_version=scope_spans.scope.version,
                ))
    return spans


def _temporality(number: int) -> str:
    return _enum_name(metrics_pb2.AggregationTemporality, number, "AGGREGATION_TEMPORALITY_")


def _flatten_metrics(request: Any) -> List[ReceivedPoint]:
    points: List[ReceivedPoint] = []
    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data") or ""
                common = {"name": metric.name, "kind": kind, "unit": metric.unit, "resource": resource,
                          "scope": scope_metrics.scope.name}
                data = getattr(metric, kind) if kind else None
                for point in getattr(data, "data_points", ()):
                    points.append(_point(kind, data, point, common))
    return points


def _point(kind: str, data: Any, point: Any, common: Dict[str, Any]) -> ReceivedPoint:
    extra: Dict[str, Any] = {"attributes": _attributes(point.attributes), "time_unix_nano": point.time_unix_nano}
    if kind in ("sum", "gauge"):
        which = point.WhichOneof("value")
        extra["value"] = getattr(point, which) if which else None
        if kind == "sum":
            extra["temporality"] = _temporality(data.aggregation_temporality)
            extra["is_monotonic"] = data.is_monotonic
    elif kind in ("histogram", "exponential_histogram"):
        extra.update(count=point.count, temporality=_temporality(data.aggregation_temporality),
                     sum=point.sum if point.HasField("sum") else None,
                     min=point.min if point.HasField("min") else None,
                     max=point.max if point.HasField("max") else None)
        if kind == "histogram":
            extra.update(bucket_counts=tuple(point.bucket_counts), explicit_bounds=tuple(point.explicit_bounds))
    elif kind == "summary":
        extra.update(count=point.count, sum=point.sum)
    return ReceivedPoint(**common, **extra)


def _flatten_logs(request: Any) -> List[ReceivedLog]:
    logs: List[ReceivedLog] = []
    for resource_logs in request.resource_logs:
        resource = _attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                logs.append(ReceivedLog(
                    body=_value(record.body),
                    severity_text=record.severity_text,
                    severity_number=record.severity_number,
                    attributes=_attributes(record.attributes),
                    trace_id=_hex(record.trace_id),
                    span_id=_hex(record.span_id),
                    event_name=getattr(record, "event_name", ""),
                    resource=resource,
                    scope=scope_logs.scope.name,
                ))
    return logs


# -- shared store, fault switches and helpers ----------------------------------------------------------


class _Receiver:
    """What both transports share: the store, the fault switches and the query helpers."""

    transport = ""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._received: List[Received] = []
        self._refusing: Optional[int] = 0  # None = refuse until accept(); n > 0 = refuse the next n requests
        self._refusal: Any = None
        self._stopping = threading.Event()
        self._released = threading.Event()
        self._released.set()
        self.delay: float = 0.0
        """Seconds to wait before answering any request (a slow collector)."""
        self.rejected: int = 0
        """How many requests were refused by :meth:`refuse`."""
        self.abandoned: int = 0
        """How many requests were dropped because their client had gone while they waited (gRPC only)."""
        self.waiting: int = 0
        """How many requests are waiting for :meth:`release` right now (so a test can tell one has arrived)."""

    # -- lifecycle (subclasses implement _start/_stop/endpoint) ---------------------------------------

    def start(self) -> _Receiver:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @property
    def endpoint(self) -> str:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # -- faults ------------------------------------------------------------------------------------------

    def refuse(self, times: Optional[int] = None, code: Any = None) -> None:
        """Refuse the next ``times`` requests (all, until :meth:`accept`, when None) with ``code``.

        ``code`` is a ``grpc.StatusCode`` for the gRPC receiver (default UNAVAILABLE, which exporters retry)
        and an HTTP status for the HTTP receiver (default 503, also retried).
        """
        with self._cond:
            self._refusing = times
            self._refusal = code

    def accept(self) -> None:
        """Stop refusing."""
        with self._cond:
            self._refusing = 0
            self._refusal = None

    def hold(self) -> None:
        """Answer no request until :meth:`release` (or :meth:`stop`): a collector that stalls, then recovers.

        Why not a long ``delay``: a test can release at the exact point it wants, so what the exporter had
        in flight, and what piled up behind it, does not depend on timing.
        """
        self._released.clear()

    def release(self) -> None:
        """Answer the held requests (after their ``delay``) and every later one."""
        self._released.set()

    def _admit(self, signal: str, request: Any, headers: Dict[str, str],
               client_waiting: Callable[[], bool] = lambda: True) -> Optional[Any]:
        """Store the request, or return the refusal code when refusing. Waits while held, then ``delay``.

        ``client_waiting`` says whether the client still waits for the answer; a request it gave up on is
        not stored (a collector that answers after the exporter's deadline has not received it for the
        exporter, which counts the export as failed).
        """
        if not self._released.is_set():
            with self._cond:
                self.waiting += 1
            try:
                # (a client that gives up while held is noted then, not only at release)
                while not self._released.wait(0.05) and not self._stopping.is_set() and client_waiting():
                    pass
            finally:
                with self._cond:
                    self.waiting -= 1
        if self.delay > 0:
            self._stopping.wait(self.delay)
        if not client_waiting():
            with self._cond:
                self.abandoned += 1
            return None
        with self._cond:
            if self._refusing is None or self._refusing > 0:
                if self._refusing is not None:
                    self._refusing -= 1
                self.rejected += 1
                return self._refusal if self._refusal is not None else self._default_refusal()
            self._received.append(Received(signal, request, headers))
            self._cond.notify_all()
        return None

    def _default_refusal(self) -> Any:
        raise NotImplementedError

    # -- queries -----------------------------------------------------------------------------------------

    @property
    def received(self) -> List[Received]:
        """Every accepted request, in arrival order."""
        with self._cond:
            return list(self._received)

    def requests(self, signal: str) -> List[Any]:
        """The decoded protobuf requests of one signal ("traces", "metrics" or "logs")."""
        return [item.request for item in self.received if item.signal == signal]

    def headers(self, signal: str = "traces") -> List[Dict[str, str]]:
        """The headers (gRPC metadata) of each accepted request of ``signal``; keys lowercase."""
        return [item.headers for item in self.received if item.signal == signal]

    def spans(self) -> List[ReceivedSpan]:
        return [span for request in self.requests("traces") for span in _flatten_spans(request)]

    def metric_points(self, name: Optional[str] = None) -> List[ReceivedPoint]:
        points = [point for request in self.requests("metrics") for point in _flatten_metrics(request)]
        return [point for point in points if name is None or point.name == name]

    def metrics(self) -> Dict[str, List[ReceivedPoint]]:
        """Metric name → its data points, in arrival order (cumulative exports repeat points)."""
        found: Dict[str, List[ReceivedPoint]] = {}
        for point in self.metric_points():
            found.setdefault(point.name, []).append(point)
        return found

    def logs(self) -> List[ReceivedLog]:
        return [log for request in self.requests("logs") for log in _flatten_logs(request)]

    def _wait(self, ready: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = ready()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
        raise AssertionError(f"{type(self).__name__}: timed out after {timeout}s waiting for {what}; "
                             f"received {self._summary()}")

    def wait_for_spans(self, n: int = 1, timeout: float = 10.0) -> List[ReceivedSpan]:
        """All spans once at least ``n`` have arrived; AssertionError after ``timeout`` seconds."""
        return self._wait(lambda: (lambda spans: spans if len(spans) >= n else None)(self._spans_locked()),
                          timeout, f"{n} span(s)")

    def wait_for_metric(self, name: str, timeout: float = 10.0) -> List[ReceivedPoint]:
        """The points of metric ``name`` once any has arrived."""
        return self._wait(lambda: [p for p in self._points_locked() if p.name == name], timeout, f"metric {name}")

    def wait_for_logs(self, n: int = 1, timeout: float = 10.0) -> List[ReceivedLog]:
        return self._wait(lambda: (lambda logs: logs if len(logs) >= n else None)(self._logs_locked()),
                          timeout, f"{n} log record(s)")

    # The *_locked helpers read self._received directly: they run with self._cond held.
    def _spans_locked(self) -> List[ReceivedSpan]:
        return [s for item in self._received if item.signal == "traces" for s in _flatten_spans(item.request)]

    def _points_locked(self) -> List[ReceivedPoint]:
        return [p for item in self._received if item.signal == "metrics" for p in _flatten_metrics(item.request)]

    def _logs_locked(self) -> List[ReceivedLog]:
        return [r for item in self._received if item.signal == "logs" for r in _flatten_logs(item.request)]

    def _summary(self) -> str:
        counts = {signal: sum(1 for item in self._received if item.signal == signal) for signal in SIGNALS}
        names = sorted({s.name for s in self._spans_locked()})
        return f"requests {counts}, span names {names}, rejected {self.rejected}"

    def clear(self) -> None:
        """Forget everything received and the rejection and abandon counts (fault switches stay as they are)."""
        with self._cond:
            self._received.clear()
            self.rejected = 0
            self.abandoned = 0


# -- gRPC ---------------------------------------------------------------------------------------------


class _Servicer:
    """One servicer object serves all three OTLP services: each ``Export`` stores and answers."""

    def __init__(self, receiver: OtlpGrpcReceiver, signal: str) -> None:
        self._receiver = receiver
        self._signal = signal

    def Export(self, request: Any, context: Any) -> Any:  # gRPC method name
        headers = {key.lower(): value for key, value in context.invocation_metadata()
                   if isinstance(value, str)}
        refusal = self._receiver._admit(self._signal, request, headers, client_waiting=lambda: _waiting(context))
        if refusal is not None:
            context.abort(refusal, f"refused by {type(self._receiver).__name__} (test fault)")
        return _RESPONSE_TYPES[self._signal]()


def _waiting(context: Any) -> bool:
    """Whether the gRPC client still waits: not cancelled, and its deadline not passed (``is_active()`` alone
    can lag the deadline, and a request answered after it was not received as far as the exporter knows)."""
    remaining = context.time_remaining()
    return bool(context.is_active()) and (remaining is None or remaining > 0)


class OtlpGrpcReceiver(_Receiver):
    """An OTLP/gRPC collector stand-in on 127.0.0.1 (ephemeral port unless ``port`` is given)."""

    transport = "grpc"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, max_workers: int = 4) -> None:
        super().__init__()
        self._host, self._port, self._max_workers = host, port, max_workers
        self._server: Any = None
        self._executor: Optional[futures.ThreadPoolExecutor] = None
        self._bound: Optional[int] = None

    def start(self) -> OtlpGrpcReceiver:
        import grpc

        if self._server is not None:
            return self
        self._stopping.clear()
        self._executor = futures.ThreadPoolExecutor(max_workers=self._max_workers,
                                                    thread_name_prefix="OtlpGrpcReceiver")
        server = grpc.server(self._executor)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Servicer(self, "traces"), server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Servicer(self, "metrics"), server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_Servicer(self, "logs"), server)
        self._bound = server.add_insecure_port(f"{self._host}:{self._port}")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping in ``delay``
        server.stop(grace=0.5).wait(5)
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    @property
    def port(self) -> int:
        if self._bound is None or self._server is None:
            raise RuntimeError("OtlpGrpcReceiver is not started")
        return self._bound

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT`` (plaintext gRPC, as exporters expect for an http:// endpoint)."""
        return f"http://{self._host}:{self.port}"

    def _default_refusal(self) -> Any:
        import grpc

        return grpc.StatusCode.UNAVAILABLE


# -- HTTP/protobuf ------------------------------------------------------------------------------------------


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: Tuple[str, int], receiver: OtlpHttpReceiver) -> None:
        self.receiver = receiver
        self.connections = receiver._connections
        super().__init__(address, _HttpHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (its timeout, a fault test) is expected; anything else is printed."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _HttpHandler(TrackedHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the exporters' requests session expects
    server: _HttpServer


    def do_POST(self) -> None:  # http.server naming
        signal = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}.get(self.path.split("?")[0])
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if signal is None:
            self._reply(404, b"unknown OTLP path", "text/plain")
            return
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-protobuf":
            self._reply(415, b"only application/x-protobuf is supported", "text/plain")
            return
        try:
            request = _REQUEST_TYPES[signal].FromString(_decompress(body, self.headers.get("Content-Encoding")))
        except Exception as exc:  # any decoding problem is the client's fault here
            self._reply(400, f"cannot decode body: {exc}".encode(), "text/plain")
            return
        headers = {key.lower(): value for key, value in self.headers.items()}
        refusal = self.server.receiver._admit(signal, request, headers)
        if refusal is not None:
            self._reply(int(refusal), b"refused (test fault)", "text/plain")
            return
        self._reply(200, _RESPONSE_TYPES[signal]().SerializeToString(), "application/x-protobuf")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _decompress(body: bytes, encoding: Optional[str]) -> bytes:
    encoding = (encoding or "").strip().lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


class OtlpHttpReceiver(_Receiver):
    """An OTLP/HTTP collector stand-in (``POST /v1/traces|metrics|logs``, ``application/x-protobuf``)."""

    transport = "http/protobuf"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__()
        self._host, self._port = host, port
        self._server: Optional[_HttpServer] = None
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self._connections = OpenConnections()

    def start(self) -> OtlpHttpReceiver:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _HttpServer((self._host, self._port), self)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name=f"OtlpHttpReceiver:{server.server_address[1]}", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        self._connections.hang_up()  # keep-alive connections, so handler threads end
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("OtlpHttpReceiver is not started")
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``: the base URL; signals are POSTed to ``/v1/<signal>`` under it."""
        return f"http://{self._host}:{self.port}"

    def _default_refusal(self) -> Any:
        return 503
