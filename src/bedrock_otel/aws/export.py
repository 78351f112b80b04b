"""Exporters for each signal, wrapped so that a missing collector costs the application nothing.

The SDK's OTLP exporters already run on background threads (batch span/log processors, the periodic
metric reader) and retry with exponential backoff. What they do not do is stay quiet: with no collector,
every batch logs a warning per retry and an error, and shutdown waits for the retries of the final export.
:class:`ExportGuard` wraps one exporter and

* logs the first failure of an outage once (WARNING, with the exporter's own message), later failures at
  DEBUG, and recovery at INFO — the exporter's own messages are re-logged at DEBUG, only while the guard is
  exporting, and only on that thread;
* lets ``Configured.shutdown()`` stop an exporter that is retrying during the final flush, through the
  exporter's public ``shutdown()`` (which interrupts its backoff sleep), instead of waiting out its timeout.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, List, Optional, Sequence, Set, Tuple

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .settings import SignalSettings

_log = logging.getLogger("bedrock_otel.aws")

_current = threading.local()  # .guard: the ExportGuard exporting on this thread, if any
_quieted: Set[str] = set()
_quieted_lock = threading.Lock()
# Loggers outside the exporter classes' own modules that report export failures.
_EXTRA_LOGGERS = ("opentelemetry.exporter.otlp.common.http", "opentelemetry.exporter.http.transport._requests")
_KEEP_MESSAGES = 5


class _RouteToGuard(logging.Filter):
    """Hands records logged by an exporter during a guarded export to the guard instead of the handlers."""

    def filter(self, record: logging.LogRecord) -> bool:
        guard: Optional[ExportGuard] = getattr(_current, "guard", None)
        if guard is None:
            return True
        guard.note(record)
        return False


_FILTER = _RouteToGuard()


def _quiet_loggers_of(exporter: Any) -> None:
    names = {cls.__module__ for cls in type(exporter).__mro__ if cls.__module__.startswith("opentelemetry.exporter")}
    with _quieted_lock:
        for name in sorted(names.union(_EXTRA_LOGGERS) - _quieted):
            # First in line: the SDK puts a DuplicateFilter on some of these loggers, which would drop the
            # second exporter's identical message (shared across threads) before this filter saw it.
            logging.getLogger(name).filters.insert(0, _FILTER)
            _quieted.add(name)


class ExportGuard:
    """One exporter's health: outage logging, and early stop of retries once shutdown has begun."""

    def __init__(self, signal: str, endpoint: str, inner: Any) -> None:
        self.signal, self.endpoint, self.inner = signal, endpoint, inner
        self.failing = False
        self.closing = False  # shutdown has begun: give up retrying at the first sign of trouble
        self.troubled = False  # the exporter reported a failure or a retry during the export under way
        self._aborted = False
        self._inner_shut = False
        self._lock = threading.Lock()
        self._messages: List[str] = []
        _quiet_loggers_of(inner)

    @property
    def in_trouble(self) -> bool:
        """The export under way is failing or retrying, or the last one failed."""
        return self.troubled or self.failing

    def note(self, record: logging.LogRecord) -> None:
        """Called by the logging filter for each message the exporter logs while this guard exports."""
        if record.levelno >= logging.WARNING:
            self.troubled = True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record must not break the export thread
            message = str(record.msg)
        self._messages = [*self._messages[-(_KEEP_MESSAGES - 1):], f"{record.name}: {message}"]

    def run(self, call: Callable[[], Any], failure: Any) -> Any:
        if self._aborted:
            return failure
        previous = getattr(_current, "guard", None)
        _current.guard = self
        self._messages, self.troubled = [], False
        try:
            result = call()
        except Exception as exc:  # exporters should not raise; if one does, it is a failed export
            self._messages.append(f"{type(exc).__name__}: {exc}")
            result = failure
        finally:
            _current.guard = previous
        self._settle(getattr(result, "name", None) == "SUCCESS")
        # Only the export under way counts as trouble: shutdown must not abort the final export to a
        # collector that has come back just because the export before it failed.
        self.troubled = False
        return result

    def _settle(self, ok: bool) -> None:
        for message in self._messages:
            _log.debug("%s exporter: %s", self.signal, message)
        if ok:
            if self.failing:
                self.failing = False
                _log.info("Exporting %s to %s works again", self.signal, self.endpoint)
            return
        detail = self._messages[0] if self._messages else "export failed"  # the first is the cause
        if self.failing:
            _log.debug("Still cannot export %s to %s", self.signal, self.endpoint)
            return
        self.failing = True
        _log.warning("Cannot export %s to %s (%s). They are dropped until it is reachable; the application is "
                     "not affected. Further failures are logged at DEBUG level.", self.signal, self.endpoint, detail)

    def abort(self) -> None:
        """Stop now: the exporter's ``shutdown()`` interrupts its backoff sleep and later exports are skipped."""
        self._aborted = True
        self.shutdown_inner()

    def shutdown_inner(self, **kwargs: Any) -> None:
        with self._lock:
            if self._inner_shut:
                return
            self._inner_shut = True
        previous = getattr(_current, "guard", None)
        _current.guard = self  # keep its "shutdown in progress" chatter at DEBUG too
        try:
            self.inner.shutdown(**kwargs)
        except Exception as exc:
            _log.debug("Shutting down the %s exporter failed: %s", self.signal, exc)
        finally:
            _current.guard = previous


class GuardedSpanExporter(SpanExporter):
    def __init__(self, guard: ExportGuard) -> None:
        self.guard = guard

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return self.guard.run(lambda: self.guard.inner.export(spans), SpanExportResult.FAILURE)  # type: ignore[no-any-return]

    def shutdown(self) -> None:
        self.guard.shutdown_inner()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.guard.inner.force_flush(timeout_millis))


class GuardedMetricExporter(MetricExporter):
    def __init__(self, guard: ExportGuard) -> None:
        # The reader asks its exporter for the temporality/aggregation the OTLP exporter chose (from
        # OTEL_EXPORTER_OTLP_METRICS_* variables); MetricExporter keeps them in these attributes.
        super().__init__(preferred_temporality=getattr(guard.inner, "_preferred_temporality", None),
                         preferred_aggregation=getattr(guard.inner, "_preferred_aggregation", None))
        self.guard = guard

    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        return self.guard.run(  # type: ignore[no-any-return]
            lambda: self.guard.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs),
            MetricExportResult.FAILURE)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return bool(self.guard.inner.force_flush(timeout_millis=timeout_millis))

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.guard.shutdown_inner()


def _log_export_classes() -> Tuple[Any, Any]:
    """(exporter base class, result enum): renamed LogRecordExporter/LogRecordExportResult in newer SDKs."""
    from opentelemetry.sdk._logs import export as logs_export

    base = getattr(logs_export, "LogRecordExporter", None) or logs_export.LogExporter
    result = getattr(logs_export, "LogRecordExportResult", None) or logs_export.LogExportResult
    return base, result


def guarded_log_exporter(guard: ExportGuard) -> Any:
    base, result = _log_export_classes()

    class GuardedLogExporter(base):  # type: ignore[misc, valid-type]
        def export(self, batch: Sequence[Any]) -> Any:
            return guard.run(lambda: guard.inner.export(batch), result.FAILURE)

        def shutdown(self) -> None:
            guard.shutdown_inner()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return bool(guard.inner.force_flush(timeout_millis))

    exporter = GuardedLogExporter()
    exporter.guard = guard
    return exporter


def _otlp_classes(signal: str, protocol: str) -> Any:
    if protocol == "grpc":
        if signal == "traces":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
            return OTLPSpanExporter
        if signal == "metrics":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
            return OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        return OTLPLogExporter
    try:
        if signal == "traces":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
            return HttpSpans
        if signal == "metrics":
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics
            return HttpMetrics
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
        return HttpLogs
    except ImportError as exc:
        raise ImportError("protocol 'http/protobuf' needs the package opentelemetry-exporter-otlp-proto-http "
                          "(pip install opentelemetry-exporter-otlp-proto-http)") from exc


def otlp_exporter(settings: SignalSettings) -> Tuple[Any, ExportGuard]:
    """The OTLP exporter for one signal, wrapped in its guard."""
    cls = _otlp_classes(settings.signal, settings.protocol)
    headers = dict(settings.headers)
    if settings.protocol == "grpc":
        # The URL scheme decides TLS, as the OTLP spec says for endpoints with a scheme.
        inner = cls(endpoint=settings.endpoint, insecure=settings.endpoint.startswith("http://"),
                    headers=headers or None, timeout=settings.timeout)
    else:
        inner = cls(endpoint=settings.endpoint, headers=headers or None, timeout=settings.timeout)
    guard = ExportGuard(settings.signal, settings.endpoint, inner)
    if settings.signal == "traces":
        return GuardedSpanExporter(guard), guard
    if settings.signal == "metrics":
        return GuardedMetricExporter(guard), guard
    return guarded_log_exporter(guard), guard


def console_exporter(signal: str) -> Any:
    if signal == "traces":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter
        return ConsoleSpanExporter()
    if signal == "metrics":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
        return ConsoleMetricExporter()
    from opentelemetry.sdk._logs import export as logs_export

    return (getattr(logs_export, "ConsoleLogRecordExporter", None) or logs_export.ConsoleLogExporter)()
