"""The plug-in interface every model family implements, and the outcome record parsers fill.

A codec is pure parsing: it turns InvokeModel request bodies, response bodies and stream chunks
into plain facts (an :class:`Outcome`). It never touches spans or meters, so families are easy to
add and to test on dictionaries alone.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

AttributeMap = Dict[str, Any]


class Outcome:
    """What a response said, gathered from a body or from stream chunks as they pass by."""

    __slots__ = (
        "_input_rank",
        "_output_rank",
        "cache_read_tokens",
        "cache_write_tokens",
        "content_chunks",
        "finish_reasons",
        "first_byte_latency_ms",
        "input_tokens",
        "output_count",
        "output_tokens",
        "parse_errors",
        "reasoning_tokens",
        "response_id",
        "response_model",
        "server_latency_ms",
        "unknown_events",
        "usage_source",
    )

    def __init__(self) -> None:
        # input_tokens excludes cache reads/writes here, as Bedrock and the models report it;
        # the span's gen_ai.usage.input_tokens adds them (see Invocation).
        self.input_tokens: Optional[int] = None
        self.output_tokens: Optional[int] = None
        self._input_rank = 0
        self._output_rank = 0
        self.cache_read_tokens: Optional[int] = None
        self.cache_write_tokens: Optional[int] = None
        self.reasoning_tokens: Optional[int] = None
        self.usage_source: Optional[str] = None
        self.finish_reasons: List[str] = []
        self.response_id: Optional[str] = None
        self.response_model: Optional[str] = None
        self.server_latency_ms: Optional[float] = None
        self.first_byte_latency_ms: Optional[float] = None
        self.content_chunks = 0
        self.output_count: Optional[int] = None  # e.g. images generated, embeddings returned
        self.unknown_events = 0
        self.parse_errors: List[str] = []

    def set_usage(self, input_tokens: Any = None, output_tokens: Any = None, source: str = "body") -> None:
        """Record token counts (ignoring absent or non-integer values), cache tokens excluded.

        Bedrock's own accounting (``headers``, ``invocation_metrics``, ``converse`` usage) is what is
        billed, so it outranks the model's self-reported ``body`` usage, which only fills gaps
        (real Claude streams report different output counts in the two places).
        """
        rank = 1 if source == "body" else 2
        if _is_count(input_tokens) and rank >= self._input_rank:
            self.input_tokens = int(input_tokens)
            self._input_rank = rank
            self.usage_source = source
        if _is_count(output_tokens) and rank >= self._output_rank:
            self.output_tokens = int(output_tokens)
            self._output_rank = rank
            self.usage_source = source

    @property
    def total_input_tokens(self) -> Optional[int]:
        """Input tokens including cache reads and writes, as GenAI ``gen_ai.usage.input_tokens`` counts them."""
        if self.input_tokens is None:
            return None
        return self.input_tokens + (self.cache_read_tokens or 0) + (self.cache_write_tokens or 0)

    def set_cache(self, read: Any = None, write: Any = None) -> None:
        if _is_count(read):
            self.cache_read_tokens = int(read)
        if _is_count(write):
            self.cache_write_tokens = int(write)

    def add_finish_reason(self, reason: Any) -> None:
        if isinstance(reason, str) and reason:
            self.finish_reasons.append(reason)

    def apply_invocation_metrics(self, metrics: Any) -> None:
        """Bedrock's ``amazon-bedrock-invocationMetrics`` (last stream chunk): tokens and latency."""
        if not isinstance(metrics, Mapping):
            return
        self.set_usage(metrics.get("inputTokenCount"), metrics.get("outputTokenCount"), source="invocation_metrics")
        self.set_cache(metrics.get("cacheReadInputTokenCount"), metrics.get("cacheWriteInputTokenCount"))
        latency = metrics.get("invocationLatency")
        if _is_number(latency):
            self.server_latency_ms = float(latency)
        first = metrics.get("firstByteLatency")
        if _is_number(first):
            self.first_byte_latency_ms = float(first)


class StreamDecoder:
    """Per-stream state for one family: fed each decoded chunk, says whether it carried content."""

    def feed(self, chunk: Mapping[str, Any], outcome: Outcome) -> bool:  # pragma: no cover - interface
        raise NotImplementedError


class ModelCodec:
    """One model family's InvokeModel body formats. Subclass and register in :mod:`.registry`."""

    #: stable family name, e.g. ``"anthropic.claude"``; recorded as ``bedrock_otel.model.family``
    family: str = "unknown"

    def claims(self, request: Mapping[str, Any]) -> bool:
        """Whether a request body is unmistakably this family's (for ids that name no model)."""
        return False

    def operation_name(self, request: Mapping[str, Any]) -> str:
        """GenAI operation for this request (chat, text_completion, embeddings, generate_content)."""
        return "chat"

    def request_attributes(self, request: Mapping[str, Any]) -> AttributeMap:
        """Request parameters as GenAI attributes (max_tokens, temperature, …)."""
        return {}

    def parse_response(self, body: Mapping[str, Any], outcome: Outcome) -> None:
        """Fill ``outcome`` from a complete InvokeModel response body."""

    def stream_decoder(self) -> StreamDecoder:
        """A fresh decoder for one InvokeModelWithResponseStream call."""
        return _ContentOnlyDecoder()


class _ContentOnlyDecoder(StreamDecoder):
    """Fallback: every chunk counts as content; usage comes from Bedrock's invocation metrics."""

    def feed(self, chunk: Mapping[str, Any], outcome: Outcome) -> bool:
        return True


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def pick(mapping: Mapping[str, Any], *keys: str) -> Any:
    """First present value among ``keys`` (families spell the same parameter differently)."""
    for key in keys:
        value = mapping.get(key)
        if value is not None:
            return value
    return None


def numeric_params(source: Any, names: Mapping[str, tuple]) -> AttributeMap:
    """Map numeric request parameters to attributes: ``names`` is attribute → candidate keys."""
    if not isinstance(source, Mapping):
        return {}
    out: AttributeMap = {}
    for attribute, keys in names.items():
        value = pick(source, *keys)
        if _is_number(value):
            out[attribute] = value
    return out


def string_list(value: Any) -> Optional[List[str]]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None
