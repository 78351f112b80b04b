"""The OpenAI chat-completions body shape, shared by every family that adopted it on Bedrock.

OpenAI gpt-oss, Qwen, AI21 Jamba, Writer Palmyra, DeepSeek and Mistral's chat models all answer with
``choices[]`` (``message`` or stream ``delta``, or ``text`` for prompt-style requests) and most with
``usage.prompt_tokens/completion_tokens``. They differ in small spellings (``finish_reason`` vs
``stop_reason``, ``max_tokens`` vs ``max_completion_tokens``), so the base accepts all of them and a
family module only names itself and its model ids.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..telemetry import attributes as A
from .base import Fields, ModelCodec
from .content import ContentFields

#: request parameters in OpenAI spelling, with the variants Bedrock's partner models use
PARAMS = {
    A.GEN_AI_REQUEST_MAX_TOKENS: ("max_tokens", "max_completion_tokens", "max_new_tokens"),
    A.GEN_AI_REQUEST_TEMPERATURE: ("temperature",),
    A.GEN_AI_REQUEST_TOP_P: ("top_p",),
    A.GEN_AI_REQUEST_TOP_K: ("top_k",),
    A.GEN_AI_REQUEST_SEED: ("seed", "random_seed"),
    A.GEN_AI_REQUEST_CHOICE_COUNT: ("n",),
    A.GEN_AI_REQUEST_FREQUENCY_PENALTY: ("frequency_penalty",),
    A.GEN_AI_REQUEST_PRESENCE_PENALTY: ("presence_penalty",),
}
LIST_PARAMS = {A.GEN_AI_REQUEST_STOP_SEQUENCES: ("stop", "stop_sequences")}

_RESPONSE = {
    "response_id": ("id",),
    "response_model": ("model",),
    "finish_reasons": ("choices[].finish_reason", "choices[].stop_reason"),
    "input_tokens": ("usage.prompt_tokens",),
    "output_tokens": ("usage.completion_tokens",),
    "reasoning_tokens": ("usage.completion_tokens_details.reasoning_tokens",),
}
#: where a stream chunk carries generated content: chat deltas (text, reasoning, tool calls), prompt-style
#: ``text``, and the whole-``message`` chunks some partner models stream instead of deltas
CONTENT = (
    "choices[].delta.content",
    "choices[].delta.reasoning_content",
    "choices[].delta.reasoning",
    "choices[].delta.tool_calls",
    "choices[].text",
    "choices[].message.content",
    "choices[].message.tool_calls",
)
#: system prompts are ``role: "system"`` turns of ``messages``, so they are input messages here
CAPTURE = ContentFields(
    messages=("messages",), prompt=("prompt",), tools=("tools",),
    output=("choices[].message", "choices[].text"), stream="choices",
)


class ChatCompletionsCodec(ModelCodec):
    """Base for chat-completions-style families; subclasses set ``family``, ``title`` and maybe extra paths."""

    operations = ("chat", "text_completion")
    params = PARAMS
    list_params = LIST_PARAMS
    response_fields = Fields(**_RESPONSE)
    stream_fields = Fields(content=CONTENT, **_RESPONSE)
    content = CAPTURE

    def operation_name(self, request: Mapping[str, Any]) -> str:
        """``messages`` is a chat; a bare ``prompt`` (DeepSeek-R1, Mistral legacy) a text completion."""
        return "text_completion" if "prompt" in request and "messages" not in request else "chat"
