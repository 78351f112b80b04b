"""DeepSeek on Bedrock: R1 takes a ``prompt`` and answers ``choices[].text`` with ``stop_reason``; the
chat-capable models (V3) take ``messages`` and answer in chat-completions style."""

from __future__ import annotations

from .chat_completions import ChatCompletionsCodec
from .registry import register


class DeepSeekCodec(ChatCompletionsCodec):
    family = "deepseek"
    title = "DeepSeek (R1, V3)"
    operations = ("text_completion", "chat")


register(DeepSeekCodec(), ["deepseek."])
