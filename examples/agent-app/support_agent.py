"""A customer-support assistant built on an Amazon Bedrock agent, instrumented with bedrock-otel.

The flow of one question, all in one trace:

1. the question is screened by a guardrail (ApplyGuardrail); a blocked question never reaches the agent;
2. the agent runs (InvokeAgent with ``enableTrace``), its answer streamed back chunk by chunk;
3. when the agent returns control for an action group the application implements itself (here
   ``check_order_status``), the app runs that tool locally and calls InvokeAgent again with the result,
   until the agent answers.

Nothing here is telemetry code except the two decorators: bedrock-otel turns each Bedrock call into a
span, and the agent's trace events into child spans (model invocations, tool calls, knowledge-base
lookups, guardrail checks) with the tokens each model invocation used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import bedrock_otel

BLOCKED_ANSWER = "Sorry, I can't help with that. A human colleague will get back to you."
MAX_ROUNDS = 5  # returnControl round trips before giving up

# The application's own order system, which the agent's RETURN_CONTROL action group delegates to.
ORDERS = {
    "A-1001": {"status": "shipped", "carrier": "UPS", "eta": "2026-11-27"},
    "A-1002": {"status": "processing", "carrier": None, "eta": None},
}


@bedrock_otel.tool("check_order_status")
def check_order_status(order_id: str) -> Dict[str, Any]:
    """Look an order up (runs in this process when the agent returns control)."""
    return {"order_id": order_id, **ORDERS.get(order_id, {"status": "unknown"})}


TOOLS: Dict[str, Callable[..., Dict[str, Any]]] = {"check_order_status": check_order_status}


@dataclass
class Answer:
    text: str
    session_id: str
    blocked: bool = False
    tool_calls: List[str] = field(default_factory=list)  # tools the app ran for the agent


class SupportAssistant:
    """Answers customer questions with a Bedrock agent; ``agents`` is a ``bedrock-agent-runtime`` client."""

    def __init__(self, agents: Any, runtime: Any, agent_id: str, alias_id: str,
                 guardrail_id: Optional[str] = None, guardrail_version: str = "DRAFT") -> None:
        self.agents = agents
        self.runtime = runtime  # bedrock-runtime, for ApplyGuardrail
        self.agent_id = agent_id
        self.alias_id = alias_id
        self.guardrail_id = guardrail_id
        self.guardrail_version = guardrail_version

    @bedrock_otel.workflow("support-question")
    def ask(self, question: str, session_id: str) -> Answer:
        if self.guardrail_id and self._blocked(question):
            return Answer(BLOCKED_ANSWER, session_id, blocked=True)
        answer = Answer("", session_id)
        response = self._invoke(session_id, inputText=question)
        for _ in range(MAX_ROUNDS):
            text, control = self._read(response["completion"])
            if control is None:
                answer.text = text
                return answer
            results = [self._run_tool(request, answer) for request in control.get("invocationInputs", [])]
            response = self._invoke(session_id, sessionState={
                "invocationId": control["invocationId"], "returnControlInvocationResults": results})
        raise RuntimeError(f"the agent kept returning control after {MAX_ROUNDS} rounds")

    def _blocked(self, question: str) -> bool:
        result = self.runtime.apply_guardrail(guardrailIdentifier=self.guardrail_id,
                                              guardrailVersion=self.guardrail_version, source="INPUT",
                                              content=[{"text": {"text": question}}])
        return result["action"] == "GUARDRAIL_INTERVENED"

    def _invoke(self, session_id: str, **request: Any) -> Dict[str, Any]:
        return self.agents.invoke_agent(agentId=self.agent_id, agentAliasId=self.alias_id, sessionId=session_id,
                                        enableTrace=True, **request)

    @staticmethod
    def _read(completion: Any) -> Tuple[str, Optional[Mapping[str, Any]]]:
        """The answer text, or the returnControl payload when the agent hands a tool to us."""
        parts: List[str] = []
        for event in completion:
            if "chunk" in event:
                parts.append(event["chunk"]["bytes"].decode("utf-8"))
            elif "returnControl" in event:
                return "".join(parts), event["returnControl"]
        return "".join(parts), None

    @staticmethod
    def _run_tool(request: Mapping[str, Any], answer: Answer) -> Dict[str, Any]:
        call = request["functionInvocationInput"]
        arguments = {p["name"]: p["value"] for p in call.get("parameters", [])}
        tool = TOOLS.get(call["function"])
        output = tool(**arguments) if tool is not None else {"error": f"unknown function {call['function']}"}
        answer.tool_calls.append(call["function"])
        return {"functionResult": {"actionGroup": call["actionGroup"], "function": call["function"],
                                   "responseBody": {"TEXT": {"body": json.dumps(output)}}}}
