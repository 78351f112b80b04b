"""InvokeFlow (bedrock-agent-runtime): an ``invoke_workflow {flowIdentifier}`` CLIENT span per call.

The span stays open while the application reads ``responseStream``: it ends with the flow's completion
reason (``SUCCESS``, or ``INPUT_REQUIRED`` with the node asking for more in a multi-turn flow). Node
traces (``enableTrace``) are counted; mapping them to child spans is left for later.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from ..telemetry import attributes as A
from ..telemetry.invocation import Invocation, Telemetry
from ..wrappers.event_stream import observe_event_stream
from .base import Operation, Prepared, register


def _text(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


def _set(inv: Invocation, attrs: Mapping[str, Any]) -> None:
    if attrs and not inv.ended and inv.span.is_recording():
        inv.span.set_attributes(attrs)


class InvokeFlow(Operation):
    service = "bedrock-agent-runtime"
    method = "InvokeFlow"

    def prepare(self, params: Mapping[str, Any], telemetry: Telemetry) -> Prepared:
        flow = _text(params.get("flowIdentifier"))
        attrs: Dict[str, Any] = {}
        for key, param in ((A.FLOW_ID, "flowIdentifier"), (A.FLOW_ALIAS_ID, "flowAliasIdentifier"),
                           (A.FLOW_EXECUTION_ID, "executionId")):
            if _text(params.get(param)):
                attrs[key] = params[param]
        return Prepared("invoke_workflow", None, attrs, target=flow or "")

    def complete(self, inv: Invocation, result: Dict[str, Any], prepared: Prepared,
                 telemetry: Telemetry) -> bool:
        execution = _text(result.get("executionId"))
        if execution and A.FLOW_EXECUTION_ID not in prepared.attributes:
            _set(inv, {A.FLOW_EXECUTION_ID: execution})
        stream = result.get("responseStream")
        if stream is None:
            return True
        traces = [0]

        def handle(event: Mapping[str, Any]) -> bool:
            if "flowOutputEvent" in event:
                return True
            if "flowTraceEvent" in event:
                traces[0] += 1
                _set(inv, {A.FLOW_TRACE_EVENTS: traces[0]})
            elif "flowCompletionEvent" in event:
                reason = event["flowCompletionEvent"].get("completionReason")
                if _text(reason):
                    _set(inv, {A.FLOW_COMPLETION_REASON: reason})
            elif "flowMultiTurnInputRequestEvent" in event:
                node = event["flowMultiTurnInputRequestEvent"].get("nodeName")
                if _text(node):
                    _set(inv, {A.FLOW_INPUT_REQUEST_NODE: node})
            else:
                inv.outcome.unknown_events += 1
            return False

        return not observe_event_stream(stream, inv, handle)


register(InvokeFlow())
