"""Converse and ConverseStream: Bedrock's model-agnostic chat API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict

from ..models.base import Outcome, numeric_params, string_list
from ..models.content import ContentFields
from ..models.ids import base_model_id
from ..telemetry import attributes as A
from ..telemetry.invocation import Invocation, Telemetry
from ..wrappers.event_stream import observe_event_stream
from .base import Operation, Prepared, model_param, register

_INFERENCE = {
    A.GEN_AI_REQUEST_MAX_TOKENS: ("maxTokens",),
    A.GEN_AI_REQUEST_TEMPERATURE: ("temperature",),
    A.GEN_AI_REQUEST_TOP_P: ("topP",),
}
_EXTRA = {A.GEN_AI_REQUEST_TOP_K: ("top_k", "topK")}
_FRAMING_EVENTS = frozenset({"messageStart", "contentBlockStart", "contentBlockStop"})
#: where Converse keeps content (read only when content capture is on)
CONTENT = ContentFields(system=("system",), messages=("messages",), tools=("toolConfig.tools",),
                        output=("output.message",), stream="converse")


def apply_usage(usage: Any, outcome: Outcome) -> None:
    """Converse usage: Bedrock's own accounting, cache tokens reported apart from inputTokens."""
    if not isinstance(usage, Mapping):
        return
    read, write = usage.get("cacheReadInputTokens"), usage.get("cacheWriteInputTokens")
    outcome.set_cache(read, write)
    outcome.set_usage(usage.get("inputTokens"), usage.get("outputTokens"), source="converse")


def apply_metrics(metrics: Any, outcome: Outcome) -> None:
    if isinstance(metrics, Mapping) and isinstance(metrics.get("latencyMs"), (int, float)):
        outcome.server_latency_ms = float(metrics["latencyMs"])


class Converse(Operation):
    method = "Converse"
    fallback_operation = "chat"

    def prepare(self, params: Mapping[str, Any], telemetry: Telemetry) -> Prepared:
        attrs: Dict[str, Any] = {}
        config = params.get("inferenceConfig")
        if isinstance(config, Mapping):
            attrs.update(numeric_params(config, _INFERENCE))
            stops = string_list(config.get("stopSequences"))
            if stops:
                attrs[A.GEN_AI_REQUEST_STOP_SEQUENCES] = stops
        attrs.update(numeric_params(params.get("additionalModelRequestFields"), _EXTRA))
        model = model_param(params)
        base = base_model_id(model)
        if base:
            attrs[A.MODEL_FAMILY] = base.partition(".")[0]
        prepared = Prepared("chat", model, attrs)
        if telemetry.content is not None:
            prepared.content_source = (CONTENT, params)
        return prepared

    def complete(self, inv: Invocation, result: Dict[str, Any], prepared: Prepared,
                 telemetry: Telemetry) -> bool:
        outcome = inv.outcome
        outcome.add_finish_reason(result.get("stopReason"))
        apply_usage(result.get("usage"), outcome)
        apply_metrics(result.get("metrics"), outcome)
        if inv.content is not None:
            inv.content.outputs = CONTENT.read_response(result)
        return True


class ConverseStream(Converse):
    method = "ConverseStream"
    streaming = True

    def complete(self, inv: Invocation, result: Dict[str, Any], prepared: Prepared,
                 telemetry: Telemetry) -> bool:
        stream = result.get("stream")
        outcome = inv.outcome

        def handle(event: Mapping[str, Any]) -> bool:
            if "contentBlockDelta" in event:
                return True
            if "metadata" in event:
                metadata = event["metadata"]
                apply_usage(metadata.get("usage"), outcome)
                apply_metrics(metadata.get("metrics"), outcome)
            elif "messageStop" in event:
                outcome.add_finish_reason(event["messageStop"].get("stopReason"))
            elif not _FRAMING_EVENTS.intersection(event):
                outcome.unknown_events += 1
            return False

        content = inv.content
        if content is not None:  # a second handler, so streams without capture pay nothing for it
            reader = content.stream = CONTENT.stream_reader()

            def handle_with_content(event: Mapping[str, Any]) -> bool:
                reader.feed(event)
                return handle(event)

            return stream is None or not observe_event_stream(stream, inv, handle_with_content)
        return stream is None or not observe_event_stream(stream, inv, handle)


register(Converse())
register(ConverseStream())
