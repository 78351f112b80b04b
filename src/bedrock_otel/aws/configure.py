"""``configure()``: one call that sets up OpenTelemetry for a Bedrock app on EKS, ECS, Lambda or EC2.

X-Ray-compatible trace ids, ``tracecontext,baggage,xray`` propagation, AWS resource attributes, OTLP export
(gRPC to an ADOT collector, or HTTP/protobuf to the CloudWatch agent), the GenAI metric views, and Bedrock
instrumentation. Every setting can come from the standard ``OTEL_*`` variables; arguments win. See
docs/configure.md for the full table.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import warnings
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union, cast

from opentelemetry import metrics, propagate, trace
from opentelemetry.metrics import Meter
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from ..telemetry.instruments import Instruments
from . import appsignals as _appsignals
from . import settings as _settings
from .export import ExportGuard, GuardedMetricExporter, console_exporter, otlp_exporter
from .resource import build_resource

__all__ = ["Configured", "configure", "genai_views"]

_log = logging.getLogger("bedrock_otel.aws")

_lock = threading.Lock()
_first: Optional[Tuple[Configured, Dict[str, Any], str]] = None  # (result, arguments, who called)
_NOT_COMPARED = ("instrument",)  # a later call may add instrumentation; that is not a conflict
_DEFAULTS = {"set_global": True}


class Configured:
    """What :func:`configure` set up. Keep it to flush (Lambda: after each invocation) or shut down early.

    ``shutdown()`` also runs at interpreter exit, bounded the same way, so an app never hangs on exit
    because its collector is unreachable.
    """

    def __init__(self, tracer_provider: Any, meter_provider: Any, logger_provider: Any,
                 propagator: Optional[TextMapPropagator], resource: Optional[Resource],
                 settings: Optional[_settings.Settings], guards: Sequence[ExportGuard] = (),
                 owns_providers: bool = True, application_signals_meter_provider: Any = None) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.logger_provider = logger_provider
        self.propagator = propagator
        self.resource = resource
        self.settings = settings
        self.owns_providers = owns_providers
        """False when the global providers were set by someone else and configure() left them alone."""
        self.instrumented = False
        self.application_signals_meter_provider = application_signals_meter_provider
        """The separate MeterProvider for Application Signals' Latency/Error/Fault (``application_signals=True``)."""
        self._guards = list(guards)
        self._shutdown_lock = threading.Lock()
        self._shut_down = False

    def __repr__(self) -> str:
        name = self.resource.attributes.get("service.name") if self.resource is not None else None
        return f"<Configured service.name={name!r} owns_providers={self.owns_providers}>"

    def _providers(self) -> List[Any]:
        return [p for p in (self.tracer_provider, self.logger_provider, self.meter_provider,
                            self.application_signals_meter_provider) if p is not None]

    def force_flush(self, timeout: float = 10.0) -> bool:
        """Export everything buffered; True if it was exported within ``timeout`` seconds.

        False when an export failed, and early, at the first failed attempt, when the collector is
        unreachable: the exporters keep retrying in the background, but the caller (a Lambda handler,
        say) does not wait for them.
        """
        millis = int(timeout * 1000)

        def flush() -> None:
            for provider in self._providers():
                flusher = getattr(provider, "force_flush", None)
                if flusher is not None:
                    flusher(timeout_millis=millis)

        return _bounded(flush, timeout, "force_flush", self._guards, closing=False)

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Flush and stop exporting; True if finished within ``timeout`` seconds. Idempotent.

        With the collector down, exporters stop at once (or at their first failed attempt) instead of
        retrying until their export timeout, so shutdown takes milliseconds; what is still buffered is
        dropped. A collector that accepts connections but never answers holds it up to ``timeout``.
        """
        with self._shutdown_lock:
            if self._shut_down or not self.owns_providers:
                return True
            self._shut_down = True
        for guard in self._guards:
            guard.closing = True

        def stop() -> None:
            for provider in self._providers():
                provider.shutdown()

        return _bounded(stop, timeout, "shutdown", self._guards, closing=True)

    def _at_exit(self) -> None:
        self.shutdown()


def _bounded(work: Callable[[], None], timeout: float, what: str, guards: Sequence[ExportGuard],
             closing: bool) -> bool:
    """Run ``work`` on a daemon thread for at most ``timeout`` s, and less when an exporter is in trouble:
    while closing, that exporter is stopped; otherwise (a flush) the caller just stops waiting for it."""
    done = threading.Event()

    def target() -> None:
        try:
            work()
        except Exception:
            _log.exception("bedrock_otel: %s failed", what)
        finally:
            done.set()

    try:
        threading.Thread(target=target, name=f"bedrock-otel-{what}", daemon=True).start()
    except RuntimeError:  # no new threads (interpreter finalizing): do it inline
        target()
    deadline = time.monotonic() + timeout
    while not done.wait(0.02):
        if closing:  # stop an exporter whose final export is failing; one that failed before gets its chance
            for guard in guards:
                if guard.troubled:
                    guard.abort()
        else:
            troubled = [guard for guard in guards if guard.in_trouble]
            if troubled:
                _log.debug("bedrock_otel: %s not waiting for %s: the collector is not answering", what,
                           ", ".join(guard.signal for guard in troubled))
                return False
        if time.monotonic() >= deadline:
            _log.warning("bedrock_otel: %s did not finish within %.1f s; continuing without waiting", what, timeout)
            if closing:
                for guard in guards:
                    guard.abort()
            return False
    # A flush that finished: done, unless what it exported failed (the collector is unreachable).
    return closing or not any(guard.failing for guard in guards)


class _BucketRecorder:
    """Stands in for a Meter to learn which histograms :class:`Instruments` creates, with which buckets.

    Why: the bucket boundaries live in ``telemetry.instruments``; reading them from the code that creates
    the instruments keeps the views and the instruments from ever disagreeing.
    """

    def __init__(self) -> None:
        self.buckets: Dict[str, List[float]] = {}

    def create_histogram(self, name: str, unit: str = "", description: str = "",
                         explicit_bucket_boundaries_advisory: Optional[Sequence[float]] = None) -> None:
        if explicit_bucket_boundaries_advisory is not None:
            self.buckets[name] = [float(b) for b in explicit_bucket_boundaries_advisory]

    def __getattr__(self, name: str) -> Callable[..., None]:  # any other instrument kind: ignored
        return lambda *args, **kwargs: None


def genai_views() -> List[View]:
    """One View per bedrock-otel histogram, with its GenAI bucket boundaries.

    The instruments pass the same boundaries as advice, but a View also wins over an exporter's preferred
    aggregation (e.g. ``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION``) and over SDKs that
    ignore advice. Not restricted to bedrock-otel's meter: other GenAI instrumentations recording the
    same semantic-convention histograms get the same buckets.
    """
    recorder = _BucketRecorder()
    Instruments(cast(Meter, recorder))
    return [View(instrument_name=name, aggregation=ExplicitBucketHistogramAggregation(boundaries=buckets))
            for name, buckets in recorder.buckets.items()]


def build_propagator(names: Sequence[str]) -> TextMapPropagator:
    """A composite of the named ``opentelemetry_propagator`` entry points (``xray`` → X-Amzn-Trace-Id)."""
    return CompositePropagator([_settings.load_entry_point(_settings.PROPAGATOR_GROUP, name)() for name in names])


def configure(
    service_name: Optional[str] = None,
    *,
    protocol: Optional[str] = None,
    endpoint: Optional[str] = None,
    traces_endpoint: Optional[str] = None,
    metrics_endpoint: Optional[str] = None,
    logs_endpoint: Optional[str] = None,
    headers: Union[Mapping[str, str], str, None] = None,
    export_timeout: Optional[float] = None,
    traces_exporter: Optional[str] = None,
    metrics_exporter: Optional[str] = None,
    logs: Union[bool, str, None] = None,
    propagators: Union[str, Sequence[str], None] = None,
    resource_attributes: Optional[Mapping[str, Any]] = None,
    resource_detectors: Union[str, Sequence[str], None] = None,
    detector_timeout: Optional[float] = None,
    metric_export_interval: Optional[float] = None,
    instrument: bool = True,
    set_global: bool = True,
    application_signals: Optional[bool] = None,
    application_signals_endpoint: Optional[str] = None,
    capture_content: Optional[str] = None,
) -> Configured:
    """Set up tracing, metrics (and optionally logs) for a Bedrock app and instrument Bedrock.

    Arguments win over the ``OTEL_*`` variables, which win over the defaults (docs/configure.md).
    Safe to call more than once: later calls return the first result (with a RuntimeWarning if their
    arguments differ). Raises ValueError for a bad value, naming the setting and the accepted values.
    """
    arguments = {
        "service_name": service_name, "protocol": protocol, "endpoint": endpoint,
        "traces_endpoint": traces_endpoint, "metrics_endpoint": metrics_endpoint, "logs_endpoint": logs_endpoint,
        "headers": headers, "export_timeout": export_timeout, "traces_exporter": traces_exporter,
        "metrics_exporter": metrics_exporter, "logs": logs, "propagators": propagators,
        "resource_attributes": resource_attributes, "resource_detectors": resource_detectors,
        "detector_timeout": detector_timeout, "metric_export_interval": metric_export_interval,
        "instrument": instrument, "set_global": set_global,
        "application_signals": application_signals, "application_signals_endpoint": application_signals_endpoint,
        "capture_content": capture_content,
    }
    return configure_with(arguments, origin="bedrock_otel.configure()")


def configure_with(arguments: Dict[str, Any], origin: str) -> Configured:
    """:func:`configure` with its arguments as a dict; ``origin`` names the caller in messages."""
    global _first
    settings = _settings.resolve(arguments, os.environ)  # raises before anything is touched
    if arguments.get("capture_content") is not None:
        from ..telemetry.content import mode_from_argument

        mode_from_argument(arguments["capture_content"])  # a bad mode raises here, before anything is built
    given = {key: value for key, value in arguments.items()
             if value is not None and key not in _NOT_COMPARED and _DEFAULTS.get(key) != value}
    with _lock:
        if _first is not None:
            configured, first_given, first_origin = _first
            _again(given, first_given, first_origin)
        else:
            configured = _build(settings, bool(arguments.get("set_global", True)))
            _first = (configured, given, origin)
        if arguments.get("instrument", True) and not configured.instrumented and not settings.sdk_disabled:
            _instrument(configured, arguments.get("capture_content"))
    return configured


def configured() -> Optional[Configured]:
    """What the first :func:`configure` call in this process set up, or None if it was never called."""
    first = _first
    return first[0] if first is not None else None


def _again(given: Dict[str, Any], first: Dict[str, Any], first_origin: str) -> None:
    differing = sorted(key for key in set(given) | set(first) if given.get(key) != first.get(key))
    if differing:
        warnings.warn(f"bedrock_otel.configure: already configured by {first_origin}; returning that "
                      f"configuration and ignoring this call's differing arguments: {', '.join(differing)}",
                      RuntimeWarning, stacklevel=4)


def _build(settings: _settings.Settings, set_global: bool) -> Configured:
    if settings.sdk_disabled:
        _log.info("OTEL_SDK_DISABLED=true: bedrock_otel.configure() sets nothing up")
        return Configured(trace.get_tracer_provider(), metrics.get_meter_provider(), None, None, None, settings,
                          owns_providers=False)
    current = trace.get_tracer_provider()
    if set_global and not isinstance(current, trace.ProxyTracerProvider):
        _log.warning("bedrock_otel.configure: a global TracerProvider (%s) is already set, probably by "
                     "opentelemetry-instrument or the application; it is kept as it is (its exporters, id "
                     "generator and propagators are unchanged) and only Bedrock instrumentation is added. Set "
                     "OTEL_PYTHON_CONFIGURATOR=bedrock_otel to let bedrock-otel configure auto-instrumentation.",
                     type(current).__name__)
        if settings.application_signals:
            _log.info("bedrock_otel.configure: application_signals is left to whoever set the TracerProvider "
                      "(the ADOT distro does it when OTEL_AWS_APPLICATION_SIGNALS_ENABLED=true)")
        return Configured(current, metrics.get_meter_provider(), None, propagate.get_global_textmap(), None,
                          settings, owns_providers=False)

    from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator

    resource = build_resource(settings.service_name, dict(settings.resource_attributes), settings.resource_detectors,
                              settings.detector_timeout, os.environ)
    if settings.application_signals:
        resource = resource.merge(Resource({_appsignals.AWS_LOCAL_SERVICE: _appsignals.local_service(resource)}))
    guards: List[ExportGuard] = []

    def exporters(signal: str) -> List[Any]:
        found = []
        for name in settings.signal(signal).exporters:
            if name == "otlp":
                exporter, guard = otlp_exporter(settings.signal(signal))
                guards.append(guard)
                found.append(exporter)
            else:
                found.append(console_exporter(signal))
        return found

    tracer_provider = TracerProvider(resource=resource, id_generator=AwsXRayIdGenerator(), shutdown_on_exit=False)
    app_signals_meter_provider = None
    if settings.application_signals:
        app_signals_meter_provider = _application_signals(tracer_provider, resource, settings, guards)
    for exporter in exporters("traces"):
        if settings.application_signals:
            exporter = _appsignals.AppSignalsSpanExporter(exporter, resource)
        tracer_provider.add_span_processor(BatchSpanProcessor(exporter))

    interval_ms = settings.metric_export_interval * 1000
    readers = [PeriodicExportingMetricReader(exporter, export_interval_millis=interval_ms)
               for exporter in exporters("metrics")]
    meter_provider = MeterProvider(metric_readers=readers, resource=resource, views=genai_views(),
                                   shutdown_on_exit=False)

    logger_provider = None
    log_exporters = exporters("logs")
    if log_exporters:
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

        logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        for exporter in log_exporters:
            logger_provider.add_log_record_processor(BatchLogRecordProcessor(exporter))

    propagator = build_propagator(settings.propagators)
    if set_global:
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
        if logger_provider is not None:
            from opentelemetry._logs import set_logger_provider

            set_logger_provider(logger_provider)
        propagate.set_global_textmap(propagator)

    configured = Configured(tracer_provider, meter_provider, logger_provider, propagator, resource, settings, guards,
                            application_signals_meter_provider=app_signals_meter_provider)
    atexit.register(configured._at_exit)
    return configured


def _application_signals(tracer_provider: TracerProvider, resource: Resource, settings: _settings.Settings,
                         guards: List[ExportGuard]) -> Optional[MeterProvider]:
    """What the ADOT distro adds when Application Signals is on (bedrock_otel.aws.appsignals): every span
    recorded, ``aws.local.operation`` propagated, and (except on Lambda) a MeterProvider exporting the
    Latency/Error/Fault histograms with DELTA temporality. Returns that MeterProvider."""
    # Set before any tracer exists: tracers take the provider's sampler when they are created.
    tracer_provider.sampler = _appsignals.AlwaysRecordSampler(tracer_provider.sampler)
    meter_provider = None
    if _appsignals.is_lambda(os.environ):
        _log.info("Application Signals on Lambda: spans carry the attributes; no metrics are exported (as the "
                  "ADOT distro, Lambda's Application Signals derives them from the spans)")
    else:
        endpoint = settings.application_signals_endpoint
        inner = _appsignals.metric_exporter(settings.application_signals_protocol, endpoint,
                                            settings.metrics.timeout, dict(settings.metrics.headers))
        guard = ExportGuard("Application Signals metrics", endpoint, inner)
        guards.append(guard)
        interval = min(settings.metric_export_interval, _appsignals.MAX_EXPORT_INTERVAL) * 1000
        reader = PeriodicExportingMetricReader(GuardedMetricExporter(guard), export_interval_millis=interval)
        meter_provider = MeterProvider(metric_readers=[reader], resource=resource, shutdown_on_exit=False)
    tracer_provider.add_span_processor(_appsignals.AppSignalsSpanProcessor(resource, meter_provider))
    return meter_provider


def _instrument(configured: Configured, capture_content: Optional[str] = None) -> None:
    # Imported here: bedrock_otel.calls imports bedrock_otel.aws.appsignals, so a module-level import would be
    # circular.
    from ..instrumentor import BedrockInstrumentor

    instrumentor = BedrockInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        if instrumentor.instrument_kwargs.get("tracer_provider") not in (None, configured.tracer_provider):
            _log.warning("bedrock_otel.configure: Bedrock was already instrumented with other providers; they are "
                         "kept. Call bedrock_otel.uninstrument() before configure() to use these.")
        configured.instrumented = True
        return
    kwargs: Dict[str, Any] = {}
    if configured.owns_providers:
        kwargs = {"tracer_provider": configured.tracer_provider, "meter_provider": configured.meter_provider}
        if configured.logger_provider is not None:
            kwargs["logger_provider"] = configured.logger_provider
    if capture_content is not None:  # else instrument() reads OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
        kwargs["capture_content"] = capture_content
    instrumentor.instrument(**kwargs)
    configured.instrumented = True
