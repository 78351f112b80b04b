"""One Bedrock call's telemetry, shared by the sync, async and streaming paths.

An :class:`Invocation` owns the span and the timings of one call. Whatever path the call takes
(plain response, body read later, event stream consumed, broken off, failed or garbage-collected),
the path reports here and :meth:`Invocation.end` runs exactly once: it applies what the response
said, records every metric point once, exports captured content (when content capture is on), and
ends the span.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from time import perf_counter
from typing import Any, Dict, List, Optional, Tuple

from opentelemetry.trace import Span, StatusCode, Tracer

from ..models.base import Outcome
from . import attributes as A
from .content import ContentRecord, ContentSettings, emit_event, event_attributes, span_and_event_values
from .errors import error_type
from .instruments import Instruments
from .redaction import scrub_credentials

_log = logging.getLogger(__name__)


class Telemetry:
    """The handles an instrumentor hands to every invocation it starts."""

    __slots__ = ("body_limit", "chunk_gaps", "content", "instruments", "metric_keys", "tracer")

    def __init__(self, tracer: Tracer, instruments: Instruments, body_limit: int,
                 metric_keys: frozenset = frozenset(), content: Optional[ContentSettings] = None,
                 chunk_gaps: bool = True) -> None:
        self.tracer = tracer
        self.instruments = instruments
        self.body_limit = body_limit  # bytes of a request or response body we are willing to parse
        self.metric_keys = metric_keys  # attribution keys (bedrock_otel.attributes) copied onto metrics
        self.content = content  # None unless content capture is on: every content path tests this first
        # gen_ai.client.operation.time_per_output_chunk: one histogram record per chunk is most of a
        # stream's per-event cost (docs/benchmarks.md), so it can be turned off.
        self.chunk_gaps = chunk_gaps


class Invocation:
    """Span, clock and parsed outcome of one Bedrock call; ends exactly once, from any thread."""

    __slots__ = (
        "_chunk_gaps",
        "_end_lock",
        "_ended",
        "_last_chunk",
        "_telemetry",
        "content",
        "first_chunk_at",
        "metric_attributes",
        "outcome",
        "span",
        "started",
    )

    def __init__(self, telemetry: Telemetry, span: Span, metric_attributes: Dict[str, Any],
                 content_source: Optional[Tuple[Any, Any]] = None) -> None:
        self._telemetry = telemetry
        self.span = span
        self.metric_attributes = metric_attributes
        self.outcome = Outcome()
        self.started = perf_counter()
        self.first_chunk_at: Optional[float] = None
        self._last_chunk = 0.0
        self._chunk_gaps: List[float] = []
        self._ended = False
        self._end_lock = threading.Lock()
        settings = telemetry.content
        # The request's content, read now (the application is blocked in the call); None when capture is
        # off or this span is neither recording nor sampled.
        self.content: Optional[ContentRecord] = (
            None if settings is None or content_source is None else settings.record_for(span, *content_source)
        )

    @property
    def ended(self) -> bool:
        return self._ended

    def content_chunk(self) -> None:
        """Note the arrival of a chunk that carried content (for time-to-first-chunk and chunk gaps)."""
        now = perf_counter()
        if self.first_chunk_at is None:
            self.first_chunk_at = now
        elif self._telemetry.chunk_gaps:
            self._chunk_gaps.append(now - self._last_chunk)
        self._last_chunk = now

    def fail(self, exc: BaseException) -> None:
        """End the call as failed by ``exc`` (which the caller re-raises untouched)."""
        if self._ended:
            return
        kind = error_type(exc)
        self.metric_attributes[A.ERROR_TYPE] = kind
        try:
            self.span.set_attribute(A.ERROR_TYPE, kind)
            self.span.set_status(StatusCode.ERROR, self._error_description(f"{kind}: {exc}"))
        except Exception:  # pragma: no cover - SDK misbehaving
            _log.debug("could not mark span failed", exc_info=True)
        self.end()

    def _error_description(self, text: str) -> str:
        """Credentials never, whatever the settings; the content redactor too when one is configured."""
        text = scrub_credentials(text[:4096])
        settings = self._telemetry.content
        if settings is not None and settings.redactor is not None:
            try:
                text = str(settings.redactor(text))
            except Exception:
                text = "(description withheld: the content redactor failed)"
        return text[:1024]

    def end(self, **attributes: Any) -> None:
        """Apply the outcome, record metrics once and end the span. Later calls do nothing."""
        if self._ended or not self._end_lock.acquire(blocking=False):
            return
        try:
            if self._ended:
                return
            self._ended = True
            self._finish(attributes)
        except Exception:  # never let telemetry break the application
            _log.debug("bedrock-otel failed to finish a span", exc_info=True)
            with contextlib.suppress(Exception):
                self.span.end()
        finally:
            self._end_lock.release()

    def _finish(self, extra: Dict[str, Any]) -> None:
        duration = perf_counter() - self.started
        span, outcome, metrics = self.span, self.outcome, self.metric_attributes
        attrs: Dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
        if outcome.response_model:
            attrs[A.GEN_AI_RESPONSE_MODEL] = outcome.response_model
            metrics[A.GEN_AI_RESPONSE_MODEL] = outcome.response_model
        if outcome.response_id:
            attrs[A.GEN_AI_RESPONSE_ID] = outcome.response_id
        if outcome.finish_reasons:
            attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] = outcome.finish_reasons
        for key, value in (
            (A.GEN_AI_USAGE_INPUT_TOKENS, outcome.total_input_tokens),
            (A.GEN_AI_USAGE_OUTPUT_TOKENS, outcome.output_tokens),
            (A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, outcome.cache_read_tokens),
            (A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, outcome.cache_write_tokens),
            (A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, outcome.reasoning_tokens),
            (A.USAGE_SOURCE, outcome.usage_source),
        ):
            if value is not None:
                attrs[key] = value
        if outcome.server_latency_ms is not None:
            attrs[A.SERVER_LATENCY] = outcome.server_latency_ms / 1000.0
        if outcome.first_byte_latency_ms is not None:
            attrs[A.SERVER_FIRST_BYTE_LATENCY] = outcome.first_byte_latency_ms / 1000.0
        count_attribute = A.OUTPUT_COUNT.get(outcome.output_kind or "")
        if count_attribute is not None and outcome.output_count is not None:
            attrs[count_attribute] = outcome.output_count
        if outcome.unknown_events:
            attrs[A.STREAM_UNKNOWN_EVENTS] = outcome.unknown_events
        if outcome.parse_errors:
            attrs[A.PARSE_ERROR] = outcome.parse_errors
        ttfc = None if self.first_chunk_at is None else self.first_chunk_at - self.started
        if ttfc is not None:
            attrs[A.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
        event = None if self.content is None else self._content(self.content, attrs, extra)
        if span.is_recording():
            span.set_attributes(attrs)
        self._record_metrics(duration, ttfc)
        if event is not None:
            self._emit(self.content, event)  # type: ignore[arg-type]
        span.end()

    def _content(self, record: ContentRecord, attrs: Dict[str, Any],
                 extra: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        """Put the content on ``attrs`` (the span's) and return the event's attributes (None: no event)."""
        try:
            state = extra.get(A.STREAM_END_STATE, extra.get(A.BODY_END_STATE))
            completed = A.ERROR_TYPE not in self.metric_attributes and state in (None, "completed", "read")
            values = record.export(self.outcome.finish_reasons, completed)
            if not values:
                return None
            on_span, on_event = span_and_event_values(values, record.on_span, record.on_event)
            attrs.update(on_span)
            if not record.on_event:
                return None
            known = getattr(self.span, "attributes", None)  # SDK spans: everything set at start
            return event_attributes({**self.metric_attributes, **(known or {}), **attrs}, on_event)
        except Exception:
            _log.debug("bedrock-otel could not export content", exc_info=True)
            return None

    def _emit(self, record: ContentRecord, attributes: Dict[str, Any]) -> None:
        """The content event; a failing logger costs the event, never the span or the application."""
        try:
            emit_event(record.settings.logger, self.span, attributes)
        except Exception:
            _log.debug("bedrock-otel could not emit the content event", exc_info=True)

    def _record_metrics(self, duration: float, ttfc: Optional[float]) -> None:
        instruments, outcome, metrics = self._telemetry.instruments, self.outcome, self.metric_attributes
        instruments.duration.record(duration, metrics)
        # Tokens are billed even when a stream fails part-way, so they are recorded whenever known.
        for token_type, count in (("input", outcome.total_input_tokens), ("output", outcome.output_tokens)):
            if count is not None:
                instruments.token_usage.record(count, {**metrics, A.GEN_AI_TOKEN_TYPE: token_type})
        if ttfc is not None:
            instruments.time_to_first_chunk.record(ttfc, metrics)
            record_gap = instruments.time_per_output_chunk.record
            for gap in self._chunk_gaps:
                record_gap(gap, metrics)
        if outcome.server_latency_ms is not None:
            instruments.server_duration.record(outcome.server_latency_ms / 1000.0, metrics)
