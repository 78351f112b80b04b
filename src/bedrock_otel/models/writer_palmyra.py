"""Writer Palmyra (X4, X5) on Bedrock: chat-completions bodies (``messages`` → ``choices[]``, ``usage``)."""

from __future__ import annotations

from .chat_completions import ChatCompletionsCodec
from .registry import register


class PalmyraCodec(ChatCompletionsCodec):
    family = "writer.palmyra"
    title = "Writer Palmyra"


register(PalmyraCodec(), ["writer."])
