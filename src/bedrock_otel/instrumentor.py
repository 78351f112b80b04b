"""``BedrockInstrumentor``: patches botocore (and aiobotocore, when present) for Bedrock calls."""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Collection, Mapping, Optional

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import is_instrumentation_enabled, unwrap
from opentelemetry.metrics import get_meter
from opentelemetry.trace import get_tracer
from wrapt import wrap_function_wrapper

from . import calls
from .attribution import metric_keys
from .coexist import take_over_botocore
from .operations.base import services
from .telemetry import content as _content
from .telemetry.instruments import Instruments
from .telemetry.invocation import Telemetry
from .version import __version__

_log = logging.getLogger(__name__)

SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"
DEFAULT_BODY_LIMIT = 4 * 1024 * 1024
ENV_CHUNK_GAPS = "BEDROCK_OTEL_CHUNK_GAP_METRICS"
_INSTRUMENTS = ("botocore >= 1.35",)


class BedrockInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """OpenTelemetry instrumentor for Amazon Bedrock calls made through boto3/botocore.

    ``instrument()`` accepts ``tracer_provider``, ``meter_provider``, ``logger_provider``,
    ``max_body_bytes`` (largest request or response body parsed for attributes; default 4 MiB),
    ``metric_attributes`` (attribution keys also put on metrics; default ``["tenant.id"]``) and the
    content-capture controls (docs/privacy.md; off unless asked for):

    * ``capture_content`` — ``"NO_CONTENT"``, ``"SPAN_ONLY"``, ``"EVENT_ONLY"`` or ``"SPAN_AND_EVENT"``;
      None (default) reads ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``. Events go to
      ``logger_provider`` (default: the global one).
    * ``content_redactor`` — a ``Callable[[str], str]`` applied to every captured text before export,
      ``"default"`` for :func:`bedrock_otel.telemetry.redaction.redact` (emails, phone numbers, AWS keys,
      card numbers), or None; default ``BEDROCK_OTEL_CONTENT_REDACTOR``.
    * ``content_max_length`` — characters kept per message part (then a truncation marker);
      default ``BEDROCK_OTEL_CONTENT_MAX_LENGTH``, else unlimited.

    ``chunk_gap_metrics=True`` adds ``gen_ai.client.operation.time_per_output_chunk`` (one histogram
    record per streamed chunk: ~7 µs each in the SDK, most of a stream's per-event cost, so it is off
    unless asked for); default ``BEDROCK_OTEL_CHUNK_GAP_METRICS``, else False. Time to first chunk is
    always recorded.
    """

    _telemetry: Optional[Telemetry] = None
    _kwargs: dict = {}
    _restore_botocore: Callable[[], None] = staticmethod(lambda: None)

    def instrumentation_dependencies(self) -> Collection[str]:
        """The packages this instruments (``botocore >= 1.35``), as OpenTelemetry's dependency check reads them."""
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        limit = kwargs.get("max_body_bytes", DEFAULT_BODY_LIMIT)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ValueError(f"max_body_bytes must be a non-negative int, got {limit!r}")
        tracer = get_tracer(__name__, __version__, kwargs.get("tracer_provider"), schema_url=SCHEMA_URL)
        meter = get_meter(__name__, __version__, kwargs.get("meter_provider"), schema_url=SCHEMA_URL)
        keys = metric_keys(kwargs.get("metric_attributes"))
        content = _content.settings_from(
            kwargs.get("capture_content"),
            kwargs.get("content_redactor", _content.UNSET),
            kwargs.get("content_max_length", _content.UNSET),
            kwargs.get("logger_provider"),
            logger_factory=_event_logger,
        )
        chunk_gaps = chunk_gap_metrics(kwargs.get("chunk_gap_metrics"))
        self._telemetry = Telemetry(tracer, Instruments(meter), limit, keys, content, chunk_gaps)
        self._kwargs = dict(kwargs)
        import botocore.client

        _ensure_wrapped(botocore.client.BaseClient, self._sync_call)
        if _aiobotocore_available():
            import aiobotocore.client

            _ensure_wrapped(aiobotocore.client.AioBaseClient, self._async_call)
        self._restore_botocore = take_over_botocore(services())
        _warn_about_genai_bedrock()

    def _uninstrument(self, **kwargs: Any) -> None:
        import botocore.client

        self._telemetry = None  # from here on our wrappers pass every call straight through
        _release(botocore.client.BaseClient, self._sync_call)
        if _aiobotocore_available():
            import aiobotocore.client

            _release(aiobotocore.client.AioBaseClient, self._async_call)
        self._restore_botocore()
        self._kwargs = {}

    @property
    def instrument_kwargs(self) -> dict:
        """The keyword arguments of the active ``instrument()`` call (to re-instrument the same way)."""
        return dict(self._kwargs)

    def _sync_call(self, wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        telemetry = self._telemetry
        method, params = _call_args(args, kwargs)
        operation = calls.operation_for(instance, method) if telemetry is not None else None
        if operation is None or not is_instrumentation_enabled():
            return wrapped(*args, **kwargs)
        call = calls.begin(telemetry, operation, instance, params)  # type: ignore[arg-type]
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            calls.failed(call, exc)
            raise
        calls.succeeded(telemetry, call, result)  # type: ignore[arg-type]
        return result

    async def _async_call(self, wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        """aiobotocore's twin of :meth:`_sync_call`: the same core, awaited."""
        telemetry = self._telemetry
        method, params = _call_args(args, kwargs)
        operation = calls.operation_for(instance, method) if telemetry is not None else None
        if operation is None or not is_instrumentation_enabled():
            return await wrapped(*args, **kwargs)
        call = calls.begin(telemetry, operation, instance, params)  # type: ignore[arg-type]
        if call is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            calls.failed(call, exc)
            raise
        calls.succeeded(telemetry, call, result)  # type: ignore[arg-type]
        return result


def _is_ours(attribute: Any, wrapper: Callable[..., Any]) -> bool:
    return getattr(attribute, "_self_wrapper", None) == wrapper


def _chain_has(cls: type, wrapper: Callable[..., Any]) -> bool:
    attribute = cls.__dict__.get("_make_api_call")
    while attribute is not None:
        if _is_ours(attribute, wrapper):
            return True
        attribute = getattr(attribute, "__wrapped__", None)
    return False


def _ensure_wrapped(cls: type, wrapper: Callable[..., Any]) -> None:
    """Wrap ``cls._make_api_call`` unless our (inert) wrapper is still somewhere in its chain."""
    if not _chain_has(cls, wrapper):
        wrap_function_wrapper(cls, "_make_api_call", wrapper)


def _release(cls: type, wrapper: Callable[..., Any]) -> None:
    """Remove our wrapper from ``cls._make_api_call``'s chain, leaving other instrumentations' in place.

    botocore's and genai-bedrock's instrumentations wrap the same method; a plain ``unwrap`` strips
    whichever wrapper is outermost, possibly theirs. When ours is buried we splice it out instead,
    and if even that fails it stays in place, inert (``_telemetry`` is None), reused by the next
    ``instrument()``.
    """
    outer = cls.__dict__.get("_make_api_call")
    if _is_ours(outer, wrapper):
        unwrap(cls, "_make_api_call")
        return
    parent = outer
    while parent is not None:
        child = getattr(parent, "__wrapped__", None)
        if _is_ours(child, wrapper):
            try:
                parent.__wrapped__ = child.__wrapped__
            except Exception:
                _log.debug("cannot splice bedrock-otel's wrapper out; leaving it inert", exc_info=True)
            return
        parent = child


def chunk_gap_metrics(argument: Optional[bool], environ: Optional[Mapping[str, str]] = None) -> bool:
    """Whether to record per-chunk gaps: the argument when given, else the variable, else off.

    A bad argument raises; a bad variable warns and means off, so a typo in a deployment never
    stops the application.
    """
    if argument is not None:
        if not isinstance(argument, bool):
            raise ValueError(f"chunk_gap_metrics must be True or False, got {argument!r}")
        return argument
    raw = (os.environ if environ is None else environ).get(ENV_CHUNK_GAPS, "").strip().lower()
    if raw in ("", "false"):
        return False
    if raw == "true":
        return True
    _log.warning("bedrock-otel: %s=%r is neither true nor false; chunk gap metrics stay off", ENV_CHUNK_GAPS, raw)
    return False


def _event_logger(logger_provider: Any) -> Any:
    """The logger content events are emitted with (only created when events are asked for)."""
    from opentelemetry._logs import get_logger

    return get_logger(__name__, __version__, logger_provider, schema_url=SCHEMA_URL)


def _warn_about_genai_bedrock() -> None:
    try:
        from opentelemetry.instrumentation.genai.bedrock import BedrockInstrumentor as GenAIBedrock
    except Exception:
        return
    if GenAIBedrock().is_instrumented_by_opentelemetry:
        _log.warning("bedrock-otel: opentelemetry-instrumentation-genai-bedrock is also active, so Bedrock calls "
                     "get two GenAI spans; disable it (OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=bedrock)")


def _aiobotocore_available() -> bool:
    try:
        import aiobotocore.client  # noqa: F401
    except ImportError:
        return False
    return True


def _call_args(args: tuple, kwargs: dict) -> tuple:
    """botocore calls ``_make_api_call(operation_name, api_params)``; accept keywords too."""
    method = args[0] if args else kwargs.get("operation_name")
    params = args[1] if len(args) > 1 else kwargs.get("api_params", {})
    return method, params if isinstance(params, dict) else {}
