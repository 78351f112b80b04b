"""Meta Llama 2, 3.x and 4 on Bedrock: a formatted ``prompt`` in, ``generation`` out.

Stream chunks use the same keys as the body: ``generation`` (the new text), ``prompt_token_count``
(first chunk only), ``generation_token_count`` (running total) and ``stop_reason`` (last chunk).
"""

from __future__ import annotations

from typing import Any, Mapping

from ..telemetry import attributes as A
from .base import Fields, ModelCodec
from .content import ContentFields
from .registry import register

_FIELDS = {
    "finish_reasons": ("stop_reason",),
    "input_tokens": ("prompt_token_count",),
    "output_tokens": ("generation_token_count",),
}


class LlamaCodec(ModelCodec):
    family = "meta.llama"
    title = "Meta Llama 2, 3, 4"
    operations = ("text_completion",)
    params = {
        A.GEN_AI_REQUEST_MAX_TOKENS: ("max_gen_len",),
        A.GEN_AI_REQUEST_TEMPERATURE: ("temperature",),
        A.GEN_AI_REQUEST_TOP_P: ("top_p",),
    }
    response_fields = Fields(**_FIELDS)
    stream_fields = Fields(content=("generation",), **_FIELDS)
    # The prompt carries Llama's chat template (system turn included); Llama 3.2 vision adds base64 images.
    content = ContentFields(prompt=("prompt",), media=("images[]",), output=("generation",),
                            stream_text=("generation",))

    def claims(self, request: Mapping[str, Any]) -> bool:
        return "max_gen_len" in request  # no other family spells max tokens this way


register(LlamaCodec(), ["meta.llama"])
