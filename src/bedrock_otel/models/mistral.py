"""Mistral AI on Bedrock: the legacy prompt API and the chat API, plain and streamed.

Legacy models (7B, Mixtral, Large 2402) take ``prompt`` and answer ``outputs[].text/stop_reason``;
chat models (Large 2407, Small, Pixtral) take ``messages`` and answer ``choices[].message`` with
``stop_reason`` (``finish_reason`` is accepted too). Stream chunks have the same two shapes.
"""

from __future__ import annotations

import dataclasses

from .base import Fields
from .chat_completions import CAPTURE, ChatCompletionsCodec
from .registry import register


def _with_outputs(fields: Fields) -> Fields:
    """Chat-completions fields plus the legacy ``outputs[]`` shape."""
    return dataclasses.replace(
        fields,
        finish_reasons=(*fields.finish_reasons, "outputs[].stop_reason"),
        content=(*fields.content, "outputs[].text") if fields.content else (),
    )


class MistralCodec(ChatCompletionsCodec):
    family = "mistral"
    title = "Mistral AI (legacy prompt and chat)"
    operations = ("text_completion", "chat")
    response_fields = _with_outputs(ChatCompletionsCodec.response_fields)
    stream_fields = _with_outputs(ChatCompletionsCodec.stream_fields)
    content = dataclasses.replace(CAPTURE, output=(*CAPTURE.output, "outputs[].text"), stream_text=("outputs[].text",))


register(MistralCodec(), ["mistral."])
