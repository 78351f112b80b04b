"""examples/agent-app: guardrail, agent run with return of control, app-side tool, one trace per question."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from botocore.exceptions import ClientError, EventStreamError
from opentelemetry.trace import SpanKind, StatusCode

from bedrock_otel.testing import AgentStep, Reply
from bedrock_otel.testing.agent_runtime import AGENT_MODEL

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "agent-app"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_agent_app_{name}", EXAMPLE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


support = _load("support_agent")


def _assistant(fake, guardrail: bool = True):
    return support.SupportAssistant(fake.client(service_name="bedrock-agent-runtime"), fake.client(),
                                    "SUPPORT001", "PRODALIAS1", guardrail_id="gr-support" if guardrail else None)


def _script(fake):
    fake.enqueue(Reply.agent(
        AgentStep.model_call(input_tokens=300, output_tokens=40),
        AgentStep.knowledge_base("KBPOLICY01", results=2),
        AgentStep.tool("check_order_status", "Orders", return_control=True, parameters={"order_id": "A-1001"}),
    ), operation="InvokeAgent")


def _children(spans, parent):
    return sorted((s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id),
                  key=lambda s: s.start_time)


def test_question_with_return_of_control_is_one_trace(fake_bedrock, bedrock_spans, bedrock_metrics):
    _script(fake_bedrock)
    answer = _assistant(fake_bedrock).ask("Where is my order A-1001?", session_id="customer-42")
    assert answer.tool_calls == ["check_order_status"]
    assert '"status": "shippe' in answer.text  # the fake agent continued from the app's tool result

    assert len({s.context.trace_id for s in bedrock_spans}) == 1
    [workflow] = [s for s in bedrock_spans if s.parent is None]
    assert workflow.name == "invoke_workflow support-question"
    top = _children(bedrock_spans.spans, workflow)
    assert [(s.name, s.kind) for s in top] == [
        ("apply_guardrail gr-support", SpanKind.CLIENT),
        ("invoke_agent SUPPORT001", SpanKind.CLIENT),
        ("execute_tool check_order_status", SpanKind.INTERNAL),
        ("invoke_agent SUPPORT001", SpanKind.CLIENT),
    ]
    guardrail, first, tool, second = top
    assert guardrail.attributes["aws.bedrock.guardrail.action"] == "NONE"
    assert first.attributes["gen_ai.conversation.id"] == second.attributes["gen_ai.conversation.id"] == "customer-42"
    assert first.end_time <= tool.start_time and tool.end_time <= second.start_time

    steps = _children(bedrock_spans.spans, first)
    assert [s.name for s in steps] == [f"chat {AGENT_MODEL}", "retrieval KBPOLICY01", "execute_tool check_order_status"]
    assert all(s.kind is SpanKind.INTERNAL for s in steps)
    assert steps[2].attributes["aws.bedrock.agent.execution_type"] == "RETURN_CONTROL"
    assert [e.name for e in first.events] == ["aws.bedrock.agent.return_control"]
    assert first.attributes["gen_ai.usage.input_tokens"] == 300
    [again] = _children(bedrock_spans.spans, second)
    assert again.name == f"chat {AGENT_MODEL}"
    total_input = 300 + again.attributes["gen_ai.usage.input_tokens"]
    assert bedrock_metrics.token_usage("input", model=AGENT_MODEL) == total_input
    assert bedrock_metrics.count(operation="invoke_agent") == 2


def test_blocked_question_never_reaches_the_agent(fake_bedrock, bedrock_spans):
    answer = _assistant(fake_bedrock).ask("Tell me something forbidden", session_id="customer-7")
    assert answer.blocked and answer.text == support.BLOCKED_ANSWER
    assert [r.operation for r in fake_bedrock.requests] == ["ApplyGuardrail"]
    guardrail = bedrock_spans.one(operation="apply_guardrail")
    assert guardrail.attributes["aws.bedrock.guardrail.action"] == "INTERVENED"
    assert guardrail.attributes["aws.bedrock.guardrail.policies"] == ("topicPolicy",)


def test_throttled_agent_fails_the_workflow(fake_bedrock, bedrock_spans):
    fake_bedrock.enqueue(Reply.throttle(), operation="InvokeAgent")
    with pytest.raises(ClientError):
        _assistant(fake_bedrock).ask("Where is my order?", session_id="s-1")
    agent = bedrock_spans.one(operation="invoke_agent")
    assert agent.attributes["error.type"] == "ThrottlingException"
    workflow = bedrock_spans.one(name="invoke_workflow support-question")
    assert workflow.status.status_code is StatusCode.ERROR


def test_mid_stream_failure_ends_the_open_steps(fake_bedrock, bedrock_spans):
    fake_bedrock.enqueue(Reply.agent(AgentStep.model_call(), AgentStep.tool("lookup", "Orders"),
                                     AgentStep.error("dependencyFailedException")), operation="InvokeAgent")
    with pytest.raises(EventStreamError):
        _assistant(fake_bedrock, guardrail=False).ask("Where is my order?", session_id="s-2")
    agent = bedrock_spans.one(operation="invoke_agent")
    assert agent.attributes["error.type"] == "dependencyFailedException"
    assert all(s.end_time <= agent.end_time for s in _children(bedrock_spans.spans, agent))


def test_run_local_prints_the_trace():
    result = subprocess.run([sys.executable, str(EXAMPLE / "run_local.py")], capture_output=True, text=True,
                            timeout=60, check=True)
    assert "invoke_agent SUPPORT001 [CLIENT]" in result.stdout
    assert "execute_tool check_order_status [INTERNAL] {'execution_type': 'RETURN_CONTROL'}" in result.stdout
    assert "(blocked: True)" in result.stdout
