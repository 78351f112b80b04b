"""Amazon Titan Text (Lite, Express, Premier): single-prompt text completion."""

from __future__ import annotations

from typing import Any, Mapping

from ..telemetry import attributes as A
from .base import Fields, ModelCodec
from .content import ContentFields
from .registry import register


class TitanTextCodec(ModelCodec):
    family = "amazon.titan-text"
    title = "Amazon Titan Text (Lite, Express, Premier)"
    operations = ("text_completion",)
    params = {
        A.GEN_AI_REQUEST_MAX_TOKENS: ("textGenerationConfig.maxTokenCount",),
        A.GEN_AI_REQUEST_TEMPERATURE: ("textGenerationConfig.temperature",),
        A.GEN_AI_REQUEST_TOP_P: ("textGenerationConfig.topP",),
    }
    list_params = {A.GEN_AI_REQUEST_STOP_SEQUENCES: ("textGenerationConfig.stopSequences",)}
    response_fields = Fields(
        finish_reasons=("results[].completionReason",),
        input_tokens=("inputTextTokenCount",),
        output_tokens=("results[].tokenCount",),  # one count per result, summed
    )
    # Each chunk carries running totals; the last one wins.
    stream_fields = Fields(
        finish_reasons=("completionReason",),
        input_tokens=("inputTextTokenCount",),
        output_tokens=("totalOutputTextTokenCount",),
        content=("outputText",),
    )
    content = ContentFields(prompt=("inputText",), output=("results[].outputText",), stream_text=("outputText",))

    def claims(self, request: Mapping[str, Any]) -> bool:
        return "inputText" in request and "textGenerationConfig" in request


register(TitanTextCodec(), ["amazon.titan-text-", "amazon.titan-tg1"])
