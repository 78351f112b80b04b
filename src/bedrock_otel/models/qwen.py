"""Qwen (Qwen3, Qwen3 Coder) on Bedrock: chat-completions bodies (``messages`` → ``choices[]``).

Bedrock also accepts a bare ``prompt`` for these models; the shared base reads ``choices[].text``
for that shape.
"""

from __future__ import annotations

from .chat_completions import ChatCompletionsCodec
from .registry import register


class QwenCodec(ChatCompletionsCodec):
    family = "qwen"
    title = "Qwen (Qwen3, Qwen3 Coder)"


register(QwenCodec(), ["qwen."])
