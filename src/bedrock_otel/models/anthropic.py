"""Anthropic Claude on Bedrock: the Messages API and the legacy Text Completions API."""

from __future__ import annotations

import re
from typing import Any, Mapping

from ..telemetry import attributes as A
from .base import JSON_STRING, Fields, ModelCodec, Outcome, StreamDecoder
from .content import ContentFields
from .registry import register

# Every delta is content (text, tool input, thinking, citations) but ``signature_delta``, which only
# seals a thinking block.
_NOT_CONTENT_DELTAS = frozenset({"signature_delta"})
_FRAMING = frozenset({"content_block_stop", "message_stop", "ping"})
_NOT_CONTENT = b"|".join(re.escape(kind.encode("ascii")) for kind in sorted(_NOT_CONTENT_DELTAS))
# Most chunks of a Claude stream, in Bedrock's compact form, key for key:
# {"type":"content_block_delta","index":N,"delta":{"type":T,"<key>":"<string>"}} with T a content delta
# and no other key (so no invocation metrics, no duplicate key); the string valid JSON.
_CONTENT_DELTA_CHUNK = re.compile(
    rb'\{"type":"content_block_delta","index":(?:0|[1-9][0-9]*),"delta":\{"type":"(?!(?:' + _NOT_CONTENT
    + rb')")[a-z_]+","(?!type")[a-z_]+":' + JSON_STRING + rb"\}\}"
)


class AnthropicCodec(ModelCodec):
    family = "anthropic.claude"
    title = "Anthropic Claude (Messages, legacy Text Completions)"
    operations = ("chat", "text_completion")
    params = {
        A.GEN_AI_REQUEST_MAX_TOKENS: ("max_tokens", "max_tokens_to_sample"),
        A.GEN_AI_REQUEST_TEMPERATURE: ("temperature",),
        A.GEN_AI_REQUEST_TOP_P: ("top_p",),
        A.GEN_AI_REQUEST_TOP_K: ("top_k",),
    }
    list_params = {A.GEN_AI_REQUEST_STOP_SEQUENCES: ("stop_sequences",)}
    # Cache tokens are reported apart from input_tokens, as Outcome keeps them.
    response_fields = Fields(
        response_id=("id",),
        response_model=("model",),
        finish_reasons=("stop_reason",),
        input_tokens=("usage.input_tokens",),
        output_tokens=("usage.output_tokens",),
        cache_read_tokens=("usage.cache_read_input_tokens",),
        cache_write_tokens=("usage.cache_creation_input_tokens",),
    )
    content = ContentFields(
        system=("system",), messages=("messages",), prompt=("prompt",), tools=("tools",),
        output=("content", "completion"), stream="anthropic",
    )
    stream_doc = ("events: `content_block_delta` (text, tool input, thinking) and `redacted_thinking` blocks "
                  "are content; `message_start` id/model/usage, `message_delta` stop_reason/output_tokens; "
                  "legacy `completion` chunks")

    def claims(self, request: Mapping[str, Any]) -> bool:
        return "anthropic_version" in request

    def operation_name(self, request: Mapping[str, Any]) -> str:
        return "text_completion" if "prompt" in request and "messages" not in request else "chat"

    def stream_decoder(self) -> StreamDecoder:
        return _AnthropicStream(self.response_fields)


class _AnthropicStream(StreamDecoder):
    __slots__ = ("_message_fields",)
    content_only = _CONTENT_DELTA_CHUNK.fullmatch

    def __init__(self, message_fields: Fields) -> None:
        self._message_fields = message_fields  # message_start carries a response body's id/model/usage

    def feed(self, chunk: Mapping[str, Any], outcome: Outcome) -> bool:
        kind = chunk.get("type")
        if kind == "content_block_delta":
            delta = chunk.get("delta")
            return not isinstance(delta, Mapping) or delta.get("type") not in _NOT_CONTENT_DELTAS
        if kind == "content_block_start":
            # Redacted thinking arrives whole here, with no deltas; it is generated content too.
            block = chunk.get("content_block")
            return isinstance(block, Mapping) and block.get("type") == "redacted_thinking"
        if kind == "message_start":
            message = chunk.get("message")
            if isinstance(message, Mapping):
                self._message_fields.apply(message, outcome)
        elif kind == "message_delta":
            delta = chunk.get("delta")
            if isinstance(delta, Mapping):
                outcome.add_finish_reason(delta.get("stop_reason"))
            usage = chunk.get("usage")
            if isinstance(usage, Mapping):
                outcome.set_usage(output_tokens=usage.get("output_tokens"))
        elif kind in _FRAMING:
            pass
        elif "completion" in chunk:  # legacy Text Completions stream
            outcome.add_finish_reason(chunk.get("stop_reason"))
            return bool(chunk.get("completion"))
        else:
            outcome.unknown_events += 1
        return False


register(AnthropicCodec(), ["anthropic."])
