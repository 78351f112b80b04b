"""Amazon Nova understanding models (Micro, Lite, Pro, Premier): the messages-v1 schema."""

from __future__ import annotations

from typing import Any, Mapping

from ..telemetry import attributes as A
from .base import AttributeMap, ModelCodec, Outcome, StreamDecoder, numeric_params, string_list
from .registry import register

_PARAMS = {
    A.GEN_AI_REQUEST_MAX_TOKENS: ("maxTokens", "max_new_tokens"),
    A.GEN_AI_REQUEST_TEMPERATURE: ("temperature",),
    A.GEN_AI_REQUEST_TOP_P: ("topP", "top_p"),
    A.GEN_AI_REQUEST_TOP_K: ("topK", "top_k"),
}


def _apply_usage(usage: Any, outcome: Outcome) -> None:
    if not isinstance(usage, Mapping):
        return
    read, write = usage.get("cacheReadInputTokenCount"), usage.get("cacheWriteInputTokenCount")
    outcome.set_cache(read, write)
    outcome.set_usage(usage.get("inputTokens"), usage.get("outputTokens"))


class NovaCodec(ModelCodec):
    family = "amazon.nova"

    def claims(self, request: Mapping[str, Any]) -> bool:
        return request.get("schemaVersion") == "messages-v1"

    def request_attributes(self, request: Mapping[str, Any]) -> AttributeMap:
        config = request.get("inferenceConfig")
        if not isinstance(config, Mapping):
            return {}
        attrs = numeric_params(config, _PARAMS)
        stops = string_list(config.get("stopSequences"))
        if stops:
            attrs[A.GEN_AI_REQUEST_STOP_SEQUENCES] = stops
        return attrs

    def parse_response(self, body: Mapping[str, Any], outcome: Outcome) -> None:
        outcome.add_finish_reason(body.get("stopReason"))
        _apply_usage(body.get("usage"), outcome)

    def stream_decoder(self) -> StreamDecoder:
        return _NovaStream()


class _NovaStream(StreamDecoder):
    __slots__ = ()

    def feed(self, chunk: Mapping[str, Any], outcome: Outcome) -> bool:
        if "contentBlockDelta" in chunk:
            return True
        if "messageStop" in chunk:
            stop = chunk["messageStop"]
            if isinstance(stop, Mapping):
                outcome.add_finish_reason(stop.get("stopReason"))
        elif "metadata" in chunk:
            metadata = chunk["metadata"]
            if isinstance(metadata, Mapping):
                _apply_usage(metadata.get("usage"), outcome)
        elif not ("messageStart" in chunk or "contentBlockStart" in chunk or "contentBlockStop" in chunk):
            outcome.unknown_events += 1
        return False


register(NovaCodec(), ["amazon.nova-"])
