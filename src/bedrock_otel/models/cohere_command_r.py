"""Cohere Command R and R+ (chat): ``message`` + ``chat_history`` in, ``text`` + ``finish_reason`` out.

Streams carry Cohere's ``event_type`` (``stream-start``, ``text-generation``, ``tool-calls-chunk``, …,
``stream-end`` with the ``finish_reason`` and the whole ``response``).
"""

from __future__ import annotations

from typing import Any, Mapping

from .base import Fields, ModelCodec
from .cohere_command import LIST_PARAMS, PARAMS, USAGE
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

    def claims(self, request: Mapping[str, Any]) -> bool:
        return isinstance(request.get("message"), str) and "messages" not in request


register(CohereCommandRCodec(), ["cohere.command-r"])
