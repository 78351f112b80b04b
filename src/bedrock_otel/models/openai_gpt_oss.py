"""OpenAI gpt-oss (20b, 120b) on Bedrock: OpenAI chat-completions bodies, with ``id`` and ``model``.

Reasoning tokens are read from ``usage.completion_tokens_details.reasoning_tokens`` when present.
"""

from __future__ import annotations

from .chat_completions import ChatCompletionsCodec
from .registry import register


class GptOssCodec(ChatCompletionsCodec):
    family = "openai.gpt-oss"
    title = "OpenAI gpt-oss"
    operations = ("chat",)


register(GptOssCodec(), ["openai."])
