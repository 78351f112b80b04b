"""Amazon Nova understanding models (Micro, Lite, Pro, Premier): the messages-v1 schema."""

from __future__ import annotations

from typing import Any, Mapping

from ..telemetry import attributes as A
from .base import Fields, ModelCodec
from .content import ContentFields
from .registry import register


def _usage(prefix: str) -> dict:
    """Nova's usage block, the same in a body (``usage``) and a stream's ``metadata.usage``."""
    return {
        "input_tokens": (f"{prefix}usage.inputTokens",),
        "output_tokens": (f"{prefix}usage.outputTokens",),
        "cache_read_tokens": (f"{prefix}usage.cacheReadInputTokenCount",),
        "cache_write_tokens": (f"{prefix}usage.cacheWriteInputTokenCount",),
    }


class NovaCodec(ModelCodec):
    family = "amazon.nova"
    title = "Amazon Nova (Micro, Lite, Pro, Premier)"
    params = {
        A.GEN_AI_REQUEST_MAX_TOKENS: ("inferenceConfig.maxTokens", "inferenceConfig.max_new_tokens"),
        A.GEN_AI_REQUEST_TEMPERATURE: ("inferenceConfig.temperature",),
        A.GEN_AI_REQUEST_TOP_P: ("inferenceConfig.topP", "inferenceConfig.top_p"),
        A.GEN_AI_REQUEST_TOP_K: ("inferenceConfig.topK", "inferenceConfig.top_k"),
    }
    list_params = {A.GEN_AI_REQUEST_STOP_SEQUENCES: ("inferenceConfig.stopSequences",)}
    response_fields = Fields(finish_reasons=("stopReason",), **_usage(""))
    stream_fields = Fields(
        finish_reasons=("messageStop.stopReason",),
        content=("contentBlockDelta",),
        known=("messageStart", "contentBlockStart", "contentBlockStop"),
        **_usage("metadata."),
    )
    # messages-v1 is Converse's block format (image bytes as base64 text), and so are its stream events.
    content = ContentFields(system=("system",), messages=("messages",), tools=("toolConfig.tools",),
                            output=("output.message",), stream="converse")

    def claims(self, request: Mapping[str, Any]) -> bool:
        return request.get("schemaVersion") == "messages-v1"


register(NovaCodec(), ["amazon.nova-"])
