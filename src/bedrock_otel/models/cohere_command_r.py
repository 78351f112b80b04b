"""Cohere Command R and R+ (chat): ``message`` + ``chat_history`` in, ``text`` + ``finish_reason`` out.

Streams carry Cohere's ``event_type`` (``stream-start``, ``text-generation``, ``tool-calls-chunk``, …,
``stream-end`` with the ``finish_reason`` and the whole ``response``).
"""

from __future__ import annotations

from typing import Any, Mapping

from .base import Fields, ModelCodec
from .cohere_command import LIST_PARAMS, PARAMS, USAGE
from .content import ContentFields
from .registry import register


class CohereCommandRCodec(ModelCodec):
    family = "cohere.command-r"
    title = "Cohere Command R, R+"
    params = PARAMS
    list_params = LIST_PARAMS
    response_fields = Fields(response_id=("response_id",), finish_reasons=("finish_reason",), **USAGE)
    stream_fields = Fields(
        response_id=("response.response_id", "response_id"),
        finish_reasons=("finish_reason", "response.finish_reason"),
        content=("text", "tool_call_delta", "tool_calls"),
        known=("is_finished", "event_type", "generation_id"),
        input_tokens=(*USAGE["input_tokens"], "response.meta.billed_units.input_tokens"),
        output_tokens=(*USAGE["output_tokens"], "response.meta.billed_units.output_tokens"),
    )
    # ``message`` is the new user turn, after ``chat_history``; the stream's last event repeats the response.
    content = ContentFields(
        system=("preamble",), messages=("chat_history", "tool_results"), prompt=("message",), tools=("tools",),
        output=("text",), output_tool_calls=("tool_calls",), stream_text=("text",), stream_final=("response",),
    )

    def claims(self, request: Mapping[str, Any]) -> bool:
        return isinstance(request.get("message"), str) and "messages" not in request


register(CohereCommandRCodec(), ["cohere.command-r"])
