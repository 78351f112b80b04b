"""The fake server's bedrock-agent-runtime, guardrail and async-invoke routes, without instrumentation."""

from __future__ import annotations

import http.client
import json

import pytest
from botocore.exceptions import ClientError, EventStreamError

from bedrock_otel.testing import AgentStep, FakeBedrock, Reply
from bedrock_otel.testing.agent_runtime import GUARDRAIL_BLOCKED_MESSAGE, agent_events

from conftest import NOVA, user


@pytest.fixture
def agents(fake_bedrock: FakeBedrock):
    return fake_bedrock.client(service_name="bedrock-agent-runtime")


def _invoke(agents, **params):
    return agents.invoke_agent(**{"agentId": "AGENT12345", "agentAliasId": "ALIAS12345", "sessionId": "s-1",
                                  "inputText": "hello there", **params})


def test_routes_are_recorded_with_service_and_path_labels(fake_bedrock, agents):
    list(_invoke(agents)["completion"])
    agents.retrieve(knowledgeBaseId="KB/1234567", retrievalQuery={"text": "q"})
    fake_bedrock.client().apply_guardrail(guardrailIdentifier="g1", guardrailVersion="DRAFT", source="INPUT",
                                          content=[{"text": {"text": "hi"}}])
    invoke, retrieve, guardrail = fake_bedrock.requests
    assert (invoke.service, invoke.operation, invoke.model_id) == ("bedrock-agent-runtime", "InvokeAgent", None)
    assert invoke.params == {"agentId": "AGENT12345", "agentAliasId": "ALIAS12345", "sessionId": "s-1"}
    assert invoke.json["inputText"] == "hello there"
    assert retrieve.params == {"knowledgeBaseId": "KB/1234567"}  # percent-decoded
    assert (guardrail.service, guardrail.operation) == ("bedrock-runtime", "ApplyGuardrail")
    assert guardrail.params == {"guardrailIdentifier": "g1", "guardrailVersion": "DRAFT"}


def test_unknown_agent_runtime_route_is_404(fake_bedrock):
    host, port = fake_bedrock.endpoint_url[len("http://"):].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", "/agents/A/agentAliases/B/sessions/C/text", headers={"Content-Length": "0"})
        response = conn.getresponse()
        response.read()
        assert response.status == 404  # InvokeAgent is POST only
    finally:
        conn.close()
    assert fake_bedrock.requests[-1].operation is None


def test_agent_events_with_and_without_trace(agents):
    plain = list(_invoke(agents)["completion"])
    assert [list(e) for e in plain] == [["chunk"]]
    assert plain[0]["chunk"]["bytes"] == b"Fake Bedrock reply to: hello there"
    traced = list(_invoke(agents, enableTrace=True, inputText="weather in Oslo?")["completion"])
    traces = [e["trace"] for e in traced if "trace" in e]
    assert all(t["eventTime"] and t["agentId"] == "AGENT12345" and t["sessionId"] == "s-1" for t in traces)
    kinds = [next(iter(next(iter(t["trace"].values())))) for t in traces]
    assert kinds == ["modelInvocationInput", "modelInvocationOutput", "rationale", "invocationInput", "observation",
                     "modelInvocationInput", "modelInvocationOutput", "rationale", "observation"]


def test_enqueue_for_one_operation_skips_the_others(fake_bedrock, agents):
    fake_bedrock.enqueue(Reply.agent(AgentStep.model_call(), answer="scripted"), operation="InvokeAgent")
    fake_bedrock.client().converse(modelId=NOVA, messages=user("hi"))  # not for Converse: default reply
    assert fake_bedrock.pending_replies == 1
    assert [e["chunk"]["bytes"] for e in _invoke(agents)["completion"]] == [b"scripted"]
    assert fake_bedrock.pending_replies == 0


def test_scripted_error_step_and_stream_error(fake_bedrock, agents):
    fake_bedrock.enqueue(Reply.agent(AgentStep.model_call(), AgentStep.error("throttlingException", "slow down")))
    with pytest.raises(EventStreamError) as raised:
        list(_invoke(agents, enableTrace=True)["completion"])
    assert raised.value.response["Error"] == {"Code": "throttlingException", "Message": "slow down"}
    fake_bedrock.enqueue(Reply.drop(after_events=1))
    with pytest.raises(Exception):  # noqa: B017 - whatever the HTTP stack raises for a dropped connection
        list(_invoke(agents, enableTrace=True)["completion"])


def test_agent_events_are_pure_and_documented():
    events = agent_events({"inputText": "hi", "enableTrace": True}, session_id="s", region="us-east-1",
                          agent_id="A", alias_id="TSTALIASID",
                          steps=[AgentStep.model_call(input_tokens=7, output_tokens=3)])
    usage = events[1][1]["trace"]["orchestrationTrace"]["modelInvocationOutput"]["metadata"]["usage"]
    assert usage == {"inputTokens": 7, "outputTokens": 3}
    assert events[0][1]["agentVersion"] == "DRAFT"
    assert events[-1][0] == "chunk"


def test_returned_control_results_continue_the_run(agents):
    state = {"invocationId": "inv-1", "returnControlInvocationResults": [{"functionResult": {
        "actionGroup": "Orders", "function": "check", "responseBody": {"TEXT": {"body": "order shipped"}}}}]}
    events = list(_invoke(agents, inputText="", sessionState=state)["completion"])
    assert events[-1]["chunk"]["bytes"] == b"Fake Bedrock reply to: order shipped"


def test_apply_guardrail_rules(fake_bedrock):
    client = fake_bedrock.client()

    def apply(text):
        return client.apply_guardrail(guardrailIdentifier="g1", guardrailVersion="1", source="OUTPUT",
                                      content=[{"text": {"text": text}}])

    masked = apply("mail jane@example.com please")
    assert masked["action"] == "GUARDRAIL_INTERVENED"
    assert masked["outputs"] == [{"text": "mail {EMAIL} please"}]
    assert list(masked["assessments"][0]) == ["sensitiveInformationPolicy", "invocationMetrics"]
    blocked = apply("forbidden")
    assert blocked["outputs"] == [{"text": GUARDRAIL_BLOCKED_MESSAGE}]
    clean = apply("fine")
    assert (clean["action"], clean["outputs"]) == ("NONE", [])


def test_converse_guardrail_trace_and_invoke_model_fields(fake_bedrock):
    client = fake_bedrock.client()
    config = {"guardrailIdentifier": "g1", "guardrailVersion": "1", "trace": "enabled"}
    response = client.converse(modelId=NOVA, messages=user("hello"), guardrailConfig=config)
    assert response["stopReason"] == "end_turn"
    assert response["trace"]["guardrail"]["inputAssessment"] == {"g1": {}}
    body = json.loads(client.invoke_model(modelId=NOVA, body=json.dumps({"messages": user("hello")}),
                                          guardrailIdentifier="g1", guardrailVersion="1")["body"].read())
    assert body["amazon-bedrock-guardrailAction"] == "NONE"
    assert "amazon-bedrock-trace" not in body


def test_async_invoke_lifecycle(fake_bedrock):
    client = fake_bedrock.client()
    started = client.start_async_invoke(modelId="amazon.nova-reel-v1:0", modelInput={"taskType": "TEXT_VIDEO"},
                                        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://b/p/"}})
    arn = started["invocationArn"]
    assert [s["status"] for s in client.list_async_invokes()["asyncInvokeSummaries"]] == ["InProgress"]
    job = client.get_async_invoke(invocationArn=arn)
    assert (job["status"], job["modelArn"]) == (
        "InProgress", "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-reel-v1:0")
    assert client.get_async_invoke(invocationArn=arn)["status"] == "Completed"
    fake_bedrock.reset()
    with pytest.raises(ClientError) as raised:
        client.get_async_invoke(invocationArn=arn)
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_flow_and_rag_stream_headers(fake_bedrock, agents):
    flow = agents.invoke_flow(flowIdentifier="FLOW123456", flowAliasIdentifier="ALIAS12345", executionId="exec-1",
                              inputs=[{"nodeName": "in", "content": {"document": {"city": "Oslo"}}}])
    events = list(flow["responseStream"])
    assert flow["executionId"] == "exec-1"
    assert events[-1] == {"flowCompletionEvent": {"completionReason": "SUCCESS"}}
    rag = agents.retrieve_and_generate_stream(
        input={"text": "q"}, sessionId="rag-session",
        retrieveAndGenerateConfiguration={"type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": {
            "knowledgeBaseId": "KB12345678", "modelArn": "m"}})
    assert rag["sessionId"] == "rag-session"
    assert "".join(e["output"]["text"] for e in rag["stream"] if "output" in e) == "Fake Bedrock reply to: q"
