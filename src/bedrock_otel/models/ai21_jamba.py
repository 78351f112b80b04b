"""AI21 Jamba (Instruct, 1.5 Mini/Large): chat-completions bodies with ``usage.prompt_tokens/completion_tokens``.

The retired Jurassic-2 models (``ai21.j2-*``) had a different body and are not registered.
"""

from __future__ import annotations

from .chat_completions import ChatCompletionsCodec
from .registry import register


class JambaCodec(ChatCompletionsCodec):
    family = "ai21.jamba"
    title = "AI21 Jamba"
    operations = ("chat",)


register(JambaCodec(), ["ai21.jamba"])
