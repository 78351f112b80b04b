"""Amazon Titan Text (Lite, Express, Premier): single-prompt text completion."""

from __future__ import annotations

from typing import Any, Mapping

from ..telemetry import attributes as A
from .base import AttributeMap, ModelCodec, Outcome, StreamDecoder, numeric_params, string_list
from .registry import register

_PARAMS = {
    A.GEN_AI_REQUEST_MAX_TOKENS: ("maxTokenCount",),
    A.GEN_AI_REQUEST_TEMPERATURE: ("temperature",),
    A.GEN_AI_REQUEST_TOP_P: ("topP",),
}


class TitanTextCodec(ModelCodec):
    family = "amazon.titan-text"

    def claims(self, request: Mapping[str, Any]) -> bool:
        return "inputText" in request and "textGenerationConfig" in request

    def operation_name(self, request: Mapping[str, Any]) -> str:
        return "text_completion"

    def request_attributes(self, request: Mapping[str, Any]) -> AttributeMap:
        config = request.get("textGenerationConfig")
        if not isinstance(config, Mapping):
            return {}
        attrs = numeric_params(config, _PARAMS)
        stops = string_list(config.get("stopSequences"))
        if stops:
            attrs[A.GEN_AI_REQUEST_STOP_SEQUENCES] = stops
        return attrs

    def parse_response(self, body: Mapping[str, Any], outcome: Outcome) -> None:
        results = body.get("results")
        output_tokens = None
        if isinstance(results, list):
            counts = [r.get("tokenCount") for r in results if isinstance(r, Mapping)]
            if counts and all(isinstance(c, int) for c in counts):
                output_tokens = sum(counts)
            for result in results:
                if isinstance(result, Mapping):
                    outcome.add_finish_reason(result.get("completionReason"))
        outcome.set_usage(body.get("inputTextTokenCount"), output_tokens)

    def stream_decoder(self) -> StreamDecoder:
        return _TitanStream()


class _TitanStream(StreamDecoder):
    __slots__ = ()

    def feed(self, chunk: Mapping[str, Any], outcome: Outcome) -> bool:
        if "outputText" not in chunk:
            outcome.unknown_events += 1
            return False
        # Each chunk carries running totals; the last one wins.
        outcome.set_usage(chunk.get("inputTextTokenCount"), chunk.get("totalOutputTextTokenCount"))
        outcome.add_finish_reason(chunk.get("completionReason"))
        return bool(chunk.get("outputText"))


register(TitanTextCodec(), ["amazon.titan-text-", "amazon.titan-tg1"])
