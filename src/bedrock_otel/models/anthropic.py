"""Anthropic Claude on Bedrock: the Messages API and the legacy Text Completions API."""

from __future__ import annotations

from typing import Any, Mapping

from ..telemetry import attributes as A
from .base import AttributeMap, ModelCodec, Outcome, StreamDecoder, numeric_params, string_list
from .registry import register

_PARAMS = {
    A.GEN_AI_REQUEST_MAX_TOKENS: ("max_tokens", "max_tokens_to_sample"),
    A.GEN_AI_REQUEST_TEMPERATURE: ("temperature",),
    A.GEN_AI_REQUEST_TOP_P: ("top_p",),
    A.GEN_AI_REQUEST_TOP_K: ("top_k",),
}


def _apply_usage(usage: Any, outcome: Outcome) -> None:
    """Anthropic's usage block: cache tokens are reported apart from input_tokens."""
    if not isinstance(usage, Mapping):
        return
    read, write = usage.get("cache_read_input_tokens"), usage.get("cache_creation_input_tokens")
    outcome.set_cache(read, write)
    outcome.set_usage(usage.get("input_tokens"), usage.get("output_tokens"))


class AnthropicCodec(ModelCodec):
    family = "anthropic.claude"

    def claims(self, request: Mapping[str, Any]) -> bool:
        return "anthropic_version" in request

    def operation_name(self, request: Mapping[str, Any]) -> str:
        return "text_completion" if "prompt" in request and "messages" not in request else "chat"

    def request_attributes(self, request: Mapping[str, Any]) -> AttributeMap:
        attrs = numeric_params(request, _PARAMS)
        stops = string_list(request.get("stop_sequences"))
        if stops:
            attrs[A.GEN_AI_REQUEST_STOP_SEQUENCES] = stops
        return attrs

    def parse_response(self, body: Mapping[str, Any], outcome: Outcome) -> None:
        if isinstance(body.get("id"), str):
            outcome.response_id = body["id"]
        if isinstance(body.get("model"), str):
            outcome.response_model = body["model"]
        outcome.add_finish_reason(body.get("stop_reason"))
        _apply_usage(body.get("usage"), outcome)

    def stream_decoder(self) -> StreamDecoder:
        return _AnthropicStream()


class _AnthropicStream(StreamDecoder):
    __slots__ = ()

    def feed(self, chunk: Mapping[str, Any], outcome: Outcome) -> bool:
        kind = chunk.get("type")
        if kind == "content_block_delta":
            return True
        if kind == "message_start":
            message = chunk.get("message")
            if isinstance(message, Mapping):
                self._message_start(message, outcome)
        elif kind == "message_delta":
            delta = chunk.get("delta")
            if isinstance(delta, Mapping):
                outcome.add_finish_reason(delta.get("stop_reason"))
            usage = chunk.get("usage")
            if isinstance(usage, Mapping):
                outcome.set_usage(output_tokens=usage.get("output_tokens"))
        elif kind in ("content_block_start", "content_block_stop", "message_stop", "ping"):
            pass
        elif "completion" in chunk:  # legacy Text Completions stream
            outcome.add_finish_reason(chunk.get("stop_reason"))
            return bool(chunk.get("completion"))
        else:
            outcome.unknown_events += 1
        return False

    @staticmethod
    def _message_start(message: Mapping[str, Any], outcome: Outcome) -> None:
        if isinstance(message.get("id"), str):
            outcome.response_id = message["id"]
        if isinstance(message.get("model"), str):
            outcome.response_model = message["model"]
        _apply_usage(message.get("usage"), outcome)


register(AnthropicCodec(), ["anthropic."])
