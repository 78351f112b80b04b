"""InvokeAgent / InvokeInlineAgent through the real fake server: the agent span, its trace-built children, errors."""

from __future__ import annotations

import asyncio
import gc

import pytest
from botocore.exceptions import ClientError, EventStreamError
from opentelemetry.trace import SpanKind, StatusCode

from bedrock_otel.testing import AgentStep, Reply
from bedrock_otel.testing.agent_runtime import AGENT_MODEL, GUARDRAIL_BLOCKED_MESSAGE

AGENT = "AGENT12345"
ALIAS = "TSTALIASID"
NOVA_PRO = "amazon.nova-pro-v1:0"


def _agent(fake):
    return fake.client(service_name="bedrock-agent-runtime")


def _invoke(client, text="What is the weather in Seattle?", **params):
    params = {"agentId": AGENT, "agentAliasId": ALIAS, "sessionId": "session-1", "inputText": text,
              "enableTrace": True, **params}
    return client.invoke_agent(**params)


def _usage(events):
    """Sum of the model invocations' usage, as the agent's own trace events report it."""
    totals = [0, 0]
    for event in events:
        for step in event.get("trace", {}).get("trace", {}).values():
            usage = step.get("modelInvocationOutput", {}).get("metadata", {}).get("usage")
            if usage:
                totals[0] += usage["inputTokens"]
                totals[1] += usage["outputTokens"]
    return tuple(totals)


def _children(spans, parent):
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def test_multi_step_agent_run_becomes_child_spans(fake_bedrock, bedrock_spans, bedrock_metrics):
    fake_bedrock.event_delay = 0.003
    response = _invoke(_agent(fake_bedrock))
    events = list(response["completion"])
    answer = b"".join(e["chunk"]["bytes"] for e in events if "chunk" in e).decode()
    agent = bedrock_spans.one(operation="invoke_agent")
    a = agent.attributes
    assert agent.name == f"invoke_agent {AGENT}"
    assert agent.kind is SpanKind.CLIENT
    assert a["gen_ai.agent.id"] == AGENT
    assert a["aws.bedrock.agent.id"] == AGENT
    assert a["aws.bedrock.agent.alias_id"] == ALIAS
    assert a["gen_ai.conversation.id"] == "session-1"
    assert a["rpc.service"] == "Bedrock Agent Runtime"
    assert a["rpc.method"] == "InvokeAgent"
    assert a["rpc.system"] == "aws-api"
    assert "gen_ai.request.model" not in a
    assert a["aws.remote.resource.type"] == "AWS::Bedrock::Agent"
    assert a["bedrock_otel.stream.end_state"] == "completed"
    assert answer.startswith("Fake Bedrock reply to:")

    # model invocation -> action-group call -> model invocation -> final answer
    children = sorted(_children(bedrock_spans.spans, agent), key=lambda s: s.start_time)
    assert [s.name for s in children] == [f"chat {AGENT_MODEL}", "execute_tool get_weather", f"chat {AGENT_MODEL}"]
    assert all(s.kind is SpanKind.INTERNAL for s in children)
    first, tool, second = children
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "get_weather"
    assert tool.attributes["gen_ai.tool.type"] == "function"
    assert tool.attributes["aws.bedrock.agent.action_group"] == "WeatherActions"
    assert first.end_time <= tool.start_time <= tool.end_time <= second.start_time
    assert all(agent.start_time <= s.start_time <= s.end_time <= agent.end_time for s in children)
    assert all(s.end_time > s.start_time for s in children), "children last from input to output event"
    assert first.attributes["gen_ai.request.model"] == AGENT_MODEL
    assert first.attributes["gen_ai.request.max_tokens"] == 2048
    assert first.attributes["aws.bedrock.agent.prompt_type"] == "ORCHESTRATION"

    inputs, outputs = _usage(events)
    assert inputs == first.attributes["gen_ai.usage.input_tokens"] + second.attributes["gen_ai.usage.input_tokens"]
    assert a["gen_ai.usage.input_tokens"] == inputs
    assert a["gen_ai.usage.output_tokens"] == outputs
    assert a["bedrock_otel.usage.source"] == "agent_trace"
    # tokens are metered once, per model invocation (not again for the agent)
    assert bedrock_metrics.token_usage("input") == inputs
    assert bedrock_metrics.token_usage("output", operation="chat", model=AGENT_MODEL) == outputs
    assert bedrock_metrics.count(operation="invoke_agent") == 1
    assert a["gen_ai.response.time_to_first_chunk"] > 0


def test_scripted_trace_with_knowledge_base_guardrail_collaborator_and_code(fake_bedrock, bedrock_spans):
    steps = [
        AgentStep.guardrail("NONE"),
        AgentStep.model_call(input_tokens=100, output_tokens=10, prompt_type="PRE_PROCESSING"),
        AgentStep.model_call(input_tokens=200, output_tokens=20),
        AgentStep.knowledge_base("KB12345678", results=3),
        AgentStep.collaborator("billing", [AgentStep.model_call(input_tokens=50, output_tokens=5, model=NOVA_PRO),
                                           AgentStep.tool("get_invoice", "Billing")]),
        AgentStep.code_interpreter(files=["chart.png", "data.csv"]),
        AgentStep.model_call(input_tokens=300, output_tokens=30),
    ]
    fake_bedrock.enqueue(Reply.agent(*steps, answer="All done."))
    events = list(_invoke(_agent(fake_bedrock), "Summarise my bill")["completion"])
    assert b"".join(e["chunk"]["bytes"] for e in events if "chunk" in e) == b"All done."
    files = next(e["files"]["files"] for e in events if "files" in e)
    agent = bedrock_spans.one(method="InvokeAgent")
    names = sorted(s.name for s in _children(bedrock_spans.spans, agent))
    assert names == sorted([
        "apply_guardrail", f"chat {AGENT_MODEL}", f"chat {AGENT_MODEL}", f"chat {AGENT_MODEL}",
        "retrieval KB12345678", "invoke_agent billing", "execute_tool CodeInterpreter",
    ])
    retrieval = bedrock_spans.one(name="retrieval KB12345678")
    assert retrieval.attributes["gen_ai.data_source.id"] == "KB12345678"
    assert retrieval.attributes["aws.bedrock.knowledge_base.id"] == "KB12345678"
    assert retrieval.attributes["bedrock_otel.response.document.count"] == 3
    guardrail = bedrock_spans.one(name="apply_guardrail")
    assert guardrail.attributes["aws.bedrock.guardrail.action"] == "NONE"
    pre = bedrock_spans.one(**{"aws.bedrock.agent.prompt_type": "PRE_PROCESSING"})
    assert pre.attributes["gen_ai.usage.input_tokens"] == 100

    # the collaborator's own steps nest under its invoke_agent span
    collaborator = bedrock_spans.one(name="invoke_agent billing")
    assert collaborator.kind is SpanKind.INTERNAL
    assert collaborator.attributes["gen_ai.agent.name"] == "billing"
    nested = sorted(s.name for s in _children(bedrock_spans.spans, collaborator))
    assert nested == [f"chat {NOVA_PRO}", "execute_tool get_invoice"]
    code = bedrock_spans.one(name="execute_tool CodeInterpreter")
    assert code.attributes["gen_ai.tool.type"] == "extension"

    a = agent.attributes
    assert a["gen_ai.usage.input_tokens"] == 100 + 200 + 50 + 300
    assert a["gen_ai.usage.output_tokens"] == 10 + 20 + 5 + 30
    assert a["bedrock_otel.response.citation.count"] == 1
    assert a["aws.bedrock.agent.file.count"] == 2
    [event] = [e for e in agent.events if e.name == "aws.bedrock.agent.files"]
    assert event.attributes["aws.bedrock.agent.file.names"] == ("chart.png", "data.csv")
    assert event.attributes["aws.bedrock.agent.file.sizes"] == tuple(len(f["bytes"]) for f in files)
    assert not any(isinstance(v, bytes) for e in agent.events for v in e.attributes.values())


def test_return_control_ends_the_tool_span_and_is_recorded(fake_bedrock, bedrock_spans):
    fake_bedrock.enqueue(Reply.agent(AgentStep.model_call(), AgentStep.tool("book_flight", "Travel",
                                                                           return_control=True)))
    events = list(_invoke(_agent(fake_bedrock), "Book me a flight")["completion"])
    control = next(e["returnControl"] for e in events if "returnControl" in e)
    assert not any("chunk" in e for e in events)
    agent = bedrock_spans.one(operation="invoke_agent")
    tool = bedrock_spans.one(name="execute_tool book_flight")
    assert tool.attributes["aws.bedrock.agent.execution_type"] == "RETURN_CONTROL"
    assert tool.end_time <= agent.end_time
    [event] = [e for e in agent.events if e.name == "aws.bedrock.agent.return_control"]
    assert event.attributes["gen_ai.tool.name"] == ("book_flight",)
    assert event.attributes["aws.bedrock.agent.action_group"] == ("Travel",)
    assert agent.attributes["aws.bedrock.agent.return_control.invocation_id"] == control["invocationId"]


def test_guardrail_intervention_is_a_child_and_marks_the_agent(fake_bedrock, bedrock_spans):
    events = list(_invoke(_agent(fake_bedrock), "Tell me something forbidden")["completion"])
    assert b"".join(e["chunk"]["bytes"] for e in events if "chunk" in e).decode() == GUARDRAIL_BLOCKED_MESSAGE
    guardrail = bedrock_spans.one(name="apply_guardrail")
    assert guardrail.attributes["aws.bedrock.guardrail.action"] == "INTERVENED"
    assert guardrail.attributes["aws.bedrock.guardrail.policies"] == ("topicPolicy",)
    agent = bedrock_spans.one(operation="invoke_agent")
    assert agent.attributes["aws.bedrock.guardrail.action"] == "INTERVENED"
    assert agent.attributes["aws.bedrock.guardrail.policies"] == ("topicPolicy",)
    assert "gen_ai.usage.input_tokens" not in agent.attributes  # no model ran


def test_without_trace_there_are_no_children(fake_bedrock, bedrock_spans):
    events = list(_invoke(_agent(fake_bedrock), enableTrace=False)["completion"])
    assert [list(e) for e in events] == [["chunk"]]
    [span] = bedrock_spans.spans
    assert span.attributes["aws.bedrock.agent.trace_enabled"] is False
    assert "gen_ai.usage.input_tokens" not in span.attributes


@pytest.mark.bedrock_otel(chunk_gap_metrics=True)
def test_streamed_final_response_counts_chunks(fake_bedrock, bedrock_spans, bedrock_metrics):
    fake_bedrock.event_delay = 0.002
    events = list(_invoke(_agent(fake_bedrock), "one two three four",
                          streamingConfigurations={"streamFinalResponse": True})["completion"])
    chunks = [e for e in events if "chunk" in e]
    assert len(chunks) > 3
    agent = bedrock_spans.one(operation="invoke_agent")
    assert agent.attributes["gen_ai.request.stream"] is True
    assert bedrock_metrics.count("gen_ai.client.operation.time_per_output_chunk") == len(chunks) - 1


def test_throttled_invoke_agent_fails_the_span(fake_bedrock, bedrock_spans, bedrock_metrics):
    fake_bedrock.enqueue(Reply.throttle())
    with pytest.raises(ClientError):
        _invoke(_agent(fake_bedrock))
    span = bedrock_spans.one()
    assert span.name == f"invoke_agent {AGENT}"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ThrottlingException"
    assert span.attributes["http.response.status_code"] == 429
    assert bedrock_metrics.count(operation="invoke_agent", error_type="ThrottlingException") == 1


def test_in_stream_exception_ends_every_open_child_with_the_error(fake_bedrock, bedrock_spans):
    # default "weather" plan: model in/out/rationale, then the tool's input: cut while the tool runs
    fake_bedrock.enqueue(Reply.stream_error(after_events=4, exception_type="dependencyFailedException"))
    seen = []
    with pytest.raises(EventStreamError) as raised:
        for event in _invoke(_agent(fake_bedrock))["completion"]:
            seen.append(event)
    assert len(seen) == 4
    assert raised.value.response["Error"]["Code"] == "dependencyFailedException"
    agent = bedrock_spans.one(operation="invoke_agent")
    assert agent.status.status_code is StatusCode.ERROR
    assert agent.attributes["error.type"] == "dependencyFailedException"
    assert agent.attributes["bedrock_otel.stream.end_state"] == "error"
    tool = bedrock_spans.one(name="execute_tool get_weather")
    assert tool.status.status_code is StatusCode.ERROR
    assert tool.attributes["error.type"] == "dependencyFailedException"
    chat = bedrock_spans.one(operation="chat")
    assert chat.status.status_code is StatusCode.UNSET  # it had finished before the failure
    assert agent.attributes["gen_ai.usage.input_tokens"] == chat.attributes["gen_ai.usage.input_tokens"]


def test_scripted_failure_trace_and_error(fake_bedrock, bedrock_spans):
    fake_bedrock.enqueue(Reply.agent(AgentStep.model_call(), AgentStep.failure("Lambda timed out", code=424),
                                     AgentStep.error("internalServerException")))
    with pytest.raises(EventStreamError):
        list(_invoke(_agent(fake_bedrock))["completion"])
    agent = bedrock_spans.one(operation="invoke_agent")
    [failure] = [e for e in agent.events if e.name == "aws.bedrock.agent.failure"]
    assert failure.attributes["aws.bedrock.agent.failure.code"] == 424
    assert agent.attributes["error.type"] == "internalServerException"


@pytest.mark.parametrize("how", ["break", "close", "gc"])
def test_abandoned_agent_stream_ends_open_children(fake_bedrock, bedrock_spans, how):
    response = _invoke(_agent(fake_bedrock))
    stream = response["completion"]
    if how == "break":
        for index, _ in enumerate(stream):
            if index == 3:  # the tool's input arrived, its output has not
                break
    elif how == "close":
        events = iter(stream)
        for _ in range(4):
            next(events)
        stream.close()
    else:
        del response, stream
        gc.collect()
    agent = bedrock_spans.one(operation="invoke_agent")
    state = {"break": "abandoned", "close": "closed", "gc": "garbage_collected"}[how]
    assert agent.attributes["bedrock_otel.stream.end_state"] == state
    assert all(s.end_time <= agent.end_time for s in bedrock_spans.spans)
    assert not bedrock_spans.unfinished


def test_inline_agent(fake_bedrock, bedrock_spans):
    client = _agent(fake_bedrock)
    response = client.invoke_inline_agent(
        sessionId="inline-1", foundationModel=NOVA_PRO, instruction="You are a concise travel assistant, always.",
        inputText="What is the weather like?", enableTrace=True, agentName="travel",
        guardrailConfiguration={"guardrailIdentifier": "gr-travel", "guardrailVersion": "2"},
    )
    list(response["completion"])
    agent = bedrock_spans.one(operation="invoke_agent")
    a = agent.attributes
    assert agent.name == "invoke_agent travel"
    assert a["rpc.method"] == "InvokeInlineAgent"
    assert a["gen_ai.agent.name"] == "travel"
    assert a["gen_ai.request.model"] == NOVA_PRO
    assert a["bedrock_otel.guardrail.id"] == "gr-travel"
    assert "aws.bedrock.guardrail.id" not in a  # the model stays the Application Signals resource
    assert a["aws.remote.resource.type"] == "AWS::Bedrock::Model"
    chats = bedrock_spans.all(operation="chat")
    assert [s.attributes["gen_ai.request.model"] for s in chats] == [NOVA_PRO, NOVA_PRO]
    assert a["gen_ai.usage.output_tokens"] == sum(s.attributes["gen_ai.usage.output_tokens"] for s in chats)


def test_span_parents_and_agent_id_attributes_under_the_app_span(fake_bedrock, bedrock_spans):
    tracer = bedrock_spans.provider.get_tracer("app")
    with tracer.start_as_current_span("handle request") as parent:
        list(_invoke(_agent(fake_bedrock), "hello")["completion"])
    agent = bedrock_spans.one(operation="invoke_agent")
    assert agent.parent.span_id == parent.get_span_context().span_id
    chat = bedrock_spans.one(operation="chat")
    assert chat.parent.span_id == agent.context.span_id
    assert chat.context.trace_id == parent.get_span_context().trace_id
    assert fake_bedrock.requests[-1].params == {"agentId": AGENT, "agentAliasId": ALIAS, "sessionId": "session-1"}
    assert fake_bedrock.requests[-1].service == "bedrock-agent-runtime"


# --------------------------------------------------------------------------------------------------
# aiobotocore
# --------------------------------------------------------------------------------------------------


def _run_async(fake, body, service="bedrock-agent-runtime"):
    aiobotocore_session = pytest.importorskip("aiobotocore.session")
    from aiobotocore.config import AioConfig

    async def main():
        session = aiobotocore_session.get_session()
        config = AioConfig(signature_version="v4", retries={"mode": "standard", "total_max_attempts": 1})
        async with session.create_client(
            service, region_name="us-east-1", endpoint_url=fake.endpoint_url, config=config,
            aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing",
        ) as client:
            return await body(client)

    return asyncio.run(main())


def test_async_agent_stream(fake_bedrock, bedrock_spans, bedrock_metrics):
    async def call(client):
        response = await client.invoke_agent(agentId=AGENT, agentAliasId=ALIAS, sessionId="session-a", enableTrace=True,
                                             inputText="What's the weather?")
        return [event async for event in response["completion"]]

    events = _run_async(fake_bedrock, call)
    agent = bedrock_spans.one(operation="invoke_agent")
    assert agent.attributes["bedrock_otel.stream.end_state"] == "completed"
    assert sorted(s.name for s in _children(bedrock_spans.spans, agent)) == [
        f"chat {AGENT_MODEL}", f"chat {AGENT_MODEL}", "execute_tool get_weather"]
    inputs, outputs = _usage(events)
    assert agent.attributes["gen_ai.usage.input_tokens"] == inputs
    assert bedrock_metrics.token_usage("output") == outputs


def test_async_agent_stream_error_and_early_break(fake_bedrock, bedrock_spans):
    fake_bedrock.enqueue(Reply.stream_error(after_events=4, exception_type="throttlingException"))

    async def failing(client):
        response = await client.invoke_agent(agentId=AGENT, agentAliasId=ALIAS, sessionId="session-a", enableTrace=True,
                                             inputText="What's the weather?")
        return [event async for event in response["completion"]]

    with pytest.raises(EventStreamError):
        _run_async(fake_bedrock, failing)
    assert bedrock_spans.one(name="execute_tool get_weather").attributes["error.type"] == "throttlingException"
    bedrock_spans.clear()

    async def breaking(client):
        response = await client.invoke_agent(agentId=AGENT, agentAliasId=ALIAS, sessionId="session-a", enableTrace=True,
                                             inputText="What's the weather?")
        async for _ in response["completion"]:
            break
        gc.collect()
        await asyncio.sleep(0)

    _run_async(fake_bedrock, breaking)
    agent = bedrock_spans.one(operation="invoke_agent")
    assert agent.attributes["bedrock_otel.stream.end_state"] in ("abandoned", "garbage_collected")
    assert bedrock_spans.one(operation="chat").end_time <= agent.end_time


def test_async_inline_agent(fake_bedrock, bedrock_spans):
    async def call(client):
        response = await client.invoke_inline_agent(
            sessionId="inline", foundationModel=NOVA_PRO, enableTrace=True, inputText="hi",
            instruction="Be brief, be kind and be correct in every answer.")
        return [event async for event in response["completion"]]

    _run_async(fake_bedrock, call)
    agent = bedrock_spans.one(operation="invoke_agent")
    assert agent.name == "invoke_agent"  # no agentName
    assert bedrock_spans.one(operation="chat").parent.span_id == agent.context.span_id


# --------------------------------------------------------------------------------------------------
# Beside opentelemetry-instrumentation-botocore
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", [("ours", "botocore"), ("botocore", "ours")])
def test_one_span_per_agent_runtime_call_beside_botocore(fake_bedrock, order):
    """The coexistence rule takes its services from the operation registry: agent runtime included."""
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    from bedrock_otel import BedrockInstrumentor
    from bedrock_otel.operations.base import services
    from bedrock_otel.testing.capture import Capture

    assert "bedrock-agent-runtime" in services()
    capture = Capture()
    providers = {"tracer_provider": capture.spans.provider, "meter_provider": capture.metrics.provider}
    try:
        for name in order:
            (BedrockInstrumentor() if name == "ours" else BotocoreInstrumentor()).instrument(**providers)
        client = _agent(fake_bedrock)
        list(_invoke(client, "hello", enableTrace=False)["completion"])
        client.retrieve(knowledgeBaseId="KB12345678", retrievalQuery={"text": "q"})
        spans = capture.spans.spans
        assert sorted(s.name for s in spans) == [f"invoke_agent {AGENT}", "retrieval KB12345678"]
        assert {s.instrumentation_scope.name for s in spans} == {"bedrock_otel.instrumentor"}
        header = fake_bedrock.requests[-1].headers.get("X-Amzn-Trace-Id", "")
        assert f"Parent={capture.spans.one(operation='retrieval').context.span_id:016x}" in header
    finally:
        for instrumentor in (BedrockInstrumentor(), BotocoreInstrumentor()):
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()
        capture.shutdown()
