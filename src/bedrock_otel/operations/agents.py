"""InvokeAgent and InvokeInlineAgent (bedrock-agent-runtime): one ``invoke_agent`` CLIENT span per call.

The span stays open while the application reads the ``completion`` event stream; the agent's trace
events become child spans (see :mod:`.agent_trace`). InvokeAgent targets an agent, so its span carries
``aws.bedrock.agent.id`` (Application Signals' ``AWS::Bedrock::Agent`` resource) besides the GenAI
``gen_ai.agent.id``; an inline agent has no id, so its resource is its foundation model.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from ..telemetry import attributes as A
from ..telemetry.invocation import Invocation, Telemetry
from .agent_trace import AgentTrace
from .base import Operation, Prepared, register
from .guardrails import configured

AGENT_RUNTIME = "bedrock-agent-runtime"


def _text(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


def _common(params: Mapping[str, Any]) -> Dict[str, Any]:
    attrs: Dict[str, Any] = {A.AGENT_TRACE_ENABLED: params.get("enableTrace") is True}
    if _text(params.get("sessionId")):
        attrs[A.GEN_AI_CONVERSATION_ID] = params["sessionId"]
    if _text(params.get("memoryId")):
        attrs[A.AGENT_MEMORY_ID] = params["memoryId"]
    streaming = params.get("streamingConfigurations")
    if isinstance(streaming, Mapping) and isinstance(streaming.get("streamFinalResponse"), bool):
        attrs[A.GEN_AI_REQUEST_STREAM] = streaming["streamFinalResponse"]
    return attrs


class InvokeAgent(Operation):
    service = AGENT_RUNTIME
    method = "InvokeAgent"

    def prepare(self, params: Mapping[str, Any], telemetry: Telemetry) -> Prepared:
        attrs = _common(params)
        agent_id = _text(params.get("agentId"))
        if agent_id:
            attrs[A.GEN_AI_AGENT_ID] = agent_id
            attrs[A.AWS_BEDROCK_AGENT_ID] = agent_id
        if _text(params.get("agentAliasId")):
            attrs[A.AGENT_ALIAS_ID] = params["agentAliasId"]
        return Prepared("invoke_agent", None, attrs, target=agent_id or "")

    def complete(self, inv: Invocation, result: Dict[str, Any], prepared: Prepared,
                 telemetry: Telemetry) -> bool:
        memory = _text(result.get("memoryId"))
        if memory and A.AGENT_MEMORY_ID not in prepared.attributes and inv.span.is_recording():
            inv.span.set_attribute(A.AGENT_MEMORY_ID, memory)
        stream = result.get("completion")
        if stream is None:
            return True
        guardrail = prepared.state if isinstance(prepared.state, str) else None
        return not AgentTrace(inv, telemetry, guardrail).observe(stream)


class InvokeInlineAgent(InvokeAgent):
    method = "InvokeInlineAgent"

    def prepare(self, params: Mapping[str, Any], telemetry: Telemetry) -> Prepared:
        attrs = _common(params)
        name = _text(params.get("agentName"))
        if name:
            attrs[A.GEN_AI_AGENT_NAME] = name
        guardrail = params.get("guardrailConfiguration")
        guardrail_id = None
        if isinstance(guardrail, Mapping):
            attrs.update(configured(guardrail.get("guardrailIdentifier"), guardrail.get("guardrailVersion")))
            guardrail_id = attrs.get(A.GUARDRAIL_CONFIGURED_ID)
        model = _text(params.get("foundationModel"))
        return Prepared("invoke_agent", model, attrs, state=guardrail_id, target=name or "")


register(InvokeAgent())
register(InvokeInlineAgent())
