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
                 chunk_gaps: bool = False) -> None:
        self.tracer = tracer
        self.instruments = instruments
        self.body_limit = body_limit  # bytes of a request or response body we are willing to parse
        self.metric_keys = metric_keys  # attribution keys (bedrock_otel.attributes) copied onto metrics
        self.content = content  # None unless content capture is on: every content path tests this first
        # gen_ai.client.operation.time_per_output_chunk: one histogram record per chunk is most of a
        # stream's per-event cost (docs/benchmarks.md), so it is recorded only when asked for.
        self.chunk_gaps = chunk_gaps


class Invocation:
    """Span, clock and parsed outcome of one Bedrock call; ends exactly once, from any thread."""

    __slots__ = (
        "_chunk_gaps",
        "_duration_recorded",
        "_end_lock",
        "_ended",
        "_last_chunk",
        "_telemetry",
        "closing_attributes",
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
        # None unless chunk gaps are recorded (instrument(chunk_gap_metrics=True))
        self._chunk_gaps: Optional[List[float]] = [] if telemetry.chunk_gaps else None
        # Span attributes known before the end (response metadata): set with the outcome, in one SDK call.
        self.closing_attributes: Dict[str, Any] = {}
        self._ended = False
        self._duration_recorded = False
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
        if self.first_chunk_at is None:
            self.first_chunk_at = self._last_chunk = perf_counter()
            return
        gaps = self._chunk_gaps
        if gaps is not None:  # the clock is read only when the gap is recorded
            now = perf_counter()
            gaps.append(now - self._last_chunk)
            self._last_chunk = now

    def fail(self, exc: BaseException) -> None:
        """End the call as failed by ``exc`` (which the caller re-raises untouched)."""
        if self._ended:
            return
        try:
            kind = error_type(exc)
        except Exception:  # an exception whose attributes misbehave must still reach the app untouched
            kind = type(exc).__name__
        self.metric_attributes[A.ERROR_TYPE] = kind
        try:
            self.span.set_attribute(A.ERROR_TYPE, kind)
            self.span.set_status(StatusCode.ERROR, self.error_description(f"{kind}: {exc}"))
        except Exception:  # pragma: no cover - SDK misbehaving
            _log.debug("could not mark span failed", exc_info=True)
        self.end()

    def error_description(self, text: str) -> str:
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
        except Exception as exc:  # never let telemetry break the application
            _log.debug("bedrock-otel failed to finish a span", exc_info=True)
            self._salvage(exc)
        finally:
            self._end_lock.release()

    def _salvage(self, exc: Exception) -> None:
        """After a failure of our own while finishing: say so on the span, keep the call's duration point."""
        with contextlib.suppress(Exception):  # what was known before (the response metadata at least)
            if self.closing_attributes and self.span.is_recording():
                self.span.set_attributes(self.closing_attributes)
        with contextlib.suppress(Exception):
            self.span.set_attribute(A.PARSE_ERROR, [f"telemetry: {type(exc).__name__}: {exc}"[:200]])
        if not self._duration_recorded:
            with contextlib.suppress(Exception):
                self._telemetry.instruments.duration.record(perf_counter() - self.started, self.metric_attributes)
        with contextlib.suppress(Exception):
            self.span.end()

    def _finish(self, extra: Dict[str, Any]) -> None:
        duration = perf_counter() - self.started
        span, outcome, metrics = self.span, self.outcome, self.metric_attributes
        attrs = self.closing_attributes
        for key, value in extra.items():
            if value is not None:
                attrs[key] = value
        if outcome.response_model:
            attrs[A.GEN_AI_RESPONSE_MODEL] = outcome.response_model
            metrics[A.GEN_AI_RESPONSE_MODEL] = outcome.response_model
        if outcome.response_id:
            attrs[A.GEN_AI_RESPONSE_ID] = outcome.response_id
        if outcome.finish_reasons:
            attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] = outcome.finish_reasons
        input_tokens, output_tokens = outcome.total_input_tokens, outcome.output_tokens
        if input_tokens is not None:
            attrs[A.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
        if output_tokens is not None:
            attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
        if outcome.cache_read_tokens is not None:
            attrs[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = outcome.cache_read_tokens
        if outcome.cache_write_tokens is not None:
            attrs[A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = outcome.cache_write_tokens
        if outcome.reasoning_tokens is not None:
            attrs[A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = outcome.reasoning_tokens
        if outcome.usage_source is not None:
            attrs[A.USAGE_SOURCE] = outcome.usage_source
        server_latency = outcome.server_latency_ms
        if server_latency is not None:
            server_latency /= 1000.0
            attrs[A.SERVER_LATENCY] = server_latency
        if outcome.first_byte_latency_ms is not None:
            attrs[A.SERVER_FIRST_BYTE_LATENCY] = outcome.first_byte_latency_ms / 1000.0
        if outcome.output_count is not None and outcome.output_kind:
            count_attribute = A.OUTPUT_COUNT.get(outcome.output_kind)
            if count_attribute is not None:
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
        self._record_metrics(duration, ttfc, input_tokens, output_tokens, server_latency)
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

    def _record_metrics(self, duration: float, ttfc: Optional[float], input_tokens: Optional[int],
                        output_tokens: Optional[int], server_latency: Optional[float]) -> None:
        instruments, metrics = self._telemetry.instruments, self.metric_attributes
        self._duration_recorded = True
        instruments.duration.record(duration, metrics)
        # Tokens are billed even when a stream fails part-way, so they are recorded whenever known.
        if input_tokens is not None:
            instruments.token_usage.record(input_tokens, {**metrics, A.GEN_AI_TOKEN_TYPE: "input"})
        if output_tokens is not None:
            instruments.token_usage.record(output_tokens, {**metrics, A.GEN_AI_TOKEN_TYPE: "output"})
        if ttfc is not None:
            instruments.time_to_first_chunk.record(ttfc, metrics)
            if self._chunk_gaps:
                record_gap = instruments.time_per_output_chunk.record
                for gap in self._chunk_gaps:
                    record_gap(gap, metrics)
        if server_latency is not None:
            instruments.server_duration.record(server_latency, metrics)
