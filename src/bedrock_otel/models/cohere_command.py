"""Cohere Command and Command Light (text generation): ``prompt`` in, ``generations[]`` out.

Streams send ``{"text", "is_finished"}`` chunks and a last ``{"is_finished": true, "finish_reason",
"response"}``; a ``generations[]`` chunk shape is read as well. Cohere spells top_p/top_k ``p``/``k``.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..telemetry import attributes as A
from .base import Fields, ModelCodec
from .content import ContentFields
from .registry import register

#: request parameters shared by Command and Command R
PARAMS = {
    A.GEN_AI_REQUEST_MAX_TOKENS: ("max_tokens",),
    A.GEN_AI_REQUEST_TEMPERATURE: ("temperature",),
    A.GEN_AI_REQUEST_TOP_P: ("p",),
    A.GEN_AI_REQUEST_TOP_K: ("k",),
    A.GEN_AI_REQUEST_SEED: ("seed",),
    A.GEN_AI_REQUEST_FREQUENCY_PENALTY: ("frequency_penalty",),
    A.GEN_AI_REQUEST_PRESENCE_PENALTY: ("presence_penalty",),
}
LIST_PARAMS = {A.GEN_AI_REQUEST_STOP_SEQUENCES: ("stop_sequences",)}
#: Cohere's own billing block, when Bedrock passes it through (Bedrock's headers outrank it)
USAGE = {
    "input_tokens": ("meta.billed_units.input_tokens",),
    "output_tokens": ("meta.billed_units.output_tokens",),
}


class CohereCommandCodec(ModelCodec):
    family = "cohere.command"
    title = "Cohere Command, Command Light"
    operations = ("text_completion",)
    params = {**PARAMS, A.GEN_AI_REQUEST_CHOICE_COUNT: ("num_generations",)}
    list_params = LIST_PARAMS
    response_fields = Fields(response_id=("id",), finish_reasons=("generations[].finish_reason",), **USAGE)
    stream_fields = Fields(
        response_id=("response.id", "id"),
        # the final chunk states the reason once at the top and again inside its response
        finish_reasons=("finish_reason", "generations[].finish_reason", "response.generations[].finish_reason"),
        content=("text", "generations[].text"),
        known=("is_finished",),
        **USAGE,
    )
    content = ContentFields(prompt=("prompt",), output=("generations[].text",),
                            stream_text=("text", "generations[].text"), stream_final=("response",))

    def claims(self, request: Mapping[str, Any]) -> bool:
        return "prompt" in request and ("num_generations" in request or "return_likelihoods" in request)


register(CohereCommandCodec(), ["cohere.command"])
