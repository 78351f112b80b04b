"""Retrieve, RetrieveAndGenerate(+Stream) and InvokeFlow through the fake server, sync and async."""

from __future__ import annotations

import asyncio

import pytest
from botocore.exceptions import ClientError, EventStreamError
from opentelemetry.trace import SpanKind, StatusCode

from bedrock_otel.testing import Reply

KB = "KB12345678"
MODEL_ARN = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
FLOW, FLOW_ALIAS = "FLOW123456", "ALIAS12345"


def _client(fake):
    return fake.client(service_name="bedrock-agent-runtime")


def _rag_config(**generation):
    config = {"knowledgeBaseId": KB, "modelArn": MODEL_ARN,
              "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 4}}}
    if generation:
        config["generationConfiguration"] = generation
    return {"type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": config}


def _flow_inputs(text="Plan a weekend in Lisbon"):
    return [{"nodeName": "FlowInputNode", "nodeOutputName": "document", "content": {"document": text}}]


def test_retrieve(fake_bedrock, bedrock_spans, bedrock_metrics):
    response = _client(fake_bedrock).retrieve(
        knowledgeBaseId=KB, retrievalQuery={"text": "refund policy"},
        retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": 3}},
    )
    span = bedrock_spans.one()
    a = span.attributes
    assert span.name == f"retrieval {KB}"
    assert span.kind is SpanKind.CLIENT
    assert a["gen_ai.operation.name"] == "retrieval"
    assert a["gen_ai.data_source.id"] == KB
    assert a["aws.bedrock.knowledge_base.id"] == KB
    assert a["gen_ai.request.top_k"] == 3
    assert a["bedrock_otel.response.document.count"] == len(response["retrievalResults"]) == 3
    assert a["rpc.service"] == "Bedrock Agent Runtime"
    assert a["aws.remote.resource.type"] == "AWS::Bedrock::KnowledgeBase"
    assert not any("score" in key for key in a)  # scores are content: only with content capture
    assert bedrock_metrics.count(operation="retrieval") == 1


@pytest.mark.parametrize(("mode", "recorded"), [("SPAN_ONLY", True), ("EVENT_ONLY", False), ("NO_CONTENT", False)])
def test_retrieve_scores_only_with_content_on_spans(fake_bedrock, mode, recorded):
    from bedrock_otel import BedrockInstrumentor
    from bedrock_otel.testing import Capture

    capture = Capture()
    BedrockInstrumentor().instrument(tracer_provider=capture.spans.provider, meter_provider=capture.metrics.provider,
                                     capture_content=mode)
    try:
        response = _client(fake_bedrock).retrieve(knowledgeBaseId=KB, retrievalQuery={"text": "refund policy"})
    finally:
        BedrockInstrumentor().uninstrument()
    attributes = capture.spans.spans[0].attributes
    expected = [r["score"] for r in response["retrievalResults"]]
    assert expected and all(isinstance(score, float) for score in expected)
    if recorded:
        assert list(attributes["bedrock_otel.retrieval.scores"]) == expected
    else:
        assert "bedrock_otel.retrieval.scores" not in attributes


def test_retrieve_with_guardrail_and_errors(fake_bedrock, bedrock_spans):
    client = _client(fake_bedrock)
    guardrail = {"guardrailId": "gr-kb", "guardrailVersion": "1"}
    client.retrieve(knowledgeBaseId=KB, retrievalQuery={"text": "something forbidden"},
                    guardrailConfiguration=guardrail)
    a = bedrock_spans.one().attributes
    assert a["aws.bedrock.guardrail.action"] == "INTERVENED"
    assert a["bedrock_otel.guardrail.id"] == "gr-kb"
    assert a["aws.remote.resource.type"] == "AWS::Bedrock::KnowledgeBase"  # not the guardrail
    assert a["bedrock_otel.response.document.count"] == 0
    bedrock_spans.clear()
    with pytest.raises(ClientError):
        client.retrieve(knowledgeBaseId="invalidKB1", retrievalQuery={"text": "q"})
    failed = bedrock_spans.one()
    assert failed.attributes["error.type"] == "ResourceNotFoundException"
    assert failed.status.status_code is StatusCode.ERROR


def test_retrieve_and_generate(fake_bedrock, bedrock_spans):
    config = _rag_config(inferenceConfig={"textInferenceConfig": {"maxTokens": 300, "temperature": 0.2}})
    response = _client(fake_bedrock).retrieve_and_generate(input={"text": "What is the refund policy?"},
                                                           retrieveAndGenerateConfiguration=config)
    span = bedrock_spans.one()
    a = span.attributes
    assert span.name == f"chat {MODEL_ARN}"
    assert a["gen_ai.request.model"] == MODEL_ARN
    assert a["gen_ai.data_source.id"] == KB
    assert a["aws.bedrock.knowledge_base.id"] == KB
    assert a["gen_ai.request.max_tokens"] == 300
    assert a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.request.top_k"] == 4
    assert a["gen_ai.conversation.id"] == response["sessionId"]
    assert a["bedrock_otel.response.citation.count"] == len(response["citations"]) == 1


@pytest.mark.bedrock_otel(chunk_gap_metrics=True)
def test_retrieve_and_generate_stream(fake_bedrock, bedrock_spans, bedrock_metrics):
    fake_bedrock.event_delay = 0.002
    config = _rag_config(guardrailConfiguration={"guardrailId": "gr-rag", "guardrailVersion": "3"})
    response = _client(fake_bedrock).retrieve_and_generate_stream(input={"text": "How do refunds work?"},
                                                                  retrieveAndGenerateConfiguration=config)
    events = list(response["stream"])
    outputs = [e for e in events if "output" in e]
    span = bedrock_spans.one()
    a = span.attributes
    assert a["rpc.method"] == "RetrieveAndGenerateStream"
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.conversation.id"] == response["sessionId"]
    assert a["bedrock_otel.response.citation.count"] == 1
    assert a["aws.bedrock.guardrail.action"] == "NONE"
    assert a["bedrock_otel.guardrail.id"] == "gr-rag"
    assert a["bedrock_otel.stream.end_state"] == "completed"
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    assert bedrock_metrics.count("gen_ai.client.operation.time_per_output_chunk") == len(outputs) - 1


def test_retrieve_and_generate_stream_error(fake_bedrock, bedrock_spans):
    fake_bedrock.enqueue(Reply.stream_error(after_events=2, exception_type="throttlingException"))
    with pytest.raises(EventStreamError):
        list(_client(fake_bedrock).retrieve_and_generate_stream(
            input={"text": "q"}, retrieveAndGenerateConfiguration=_rag_config())["stream"])
    a = bedrock_spans.one().attributes
    assert a["error.type"] == "throttlingException"
    assert a["bedrock_otel.stream.end_state"] == "error"


def test_invoke_flow(fake_bedrock, bedrock_spans):
    response = _client(fake_bedrock).invoke_flow(flowIdentifier=FLOW, flowAliasIdentifier=FLOW_ALIAS,
                                                 inputs=_flow_inputs(), enableTrace=True)
    events = list(response["responseStream"])
    span = bedrock_spans.one()
    a = span.attributes
    assert span.name == f"invoke_workflow {FLOW}"
    assert a["gen_ai.operation.name"] == "invoke_workflow"
    assert a["aws.bedrock.flow.id"] == FLOW
    assert a["aws.bedrock.flow.alias_id"] == FLOW_ALIAS
    assert a["aws.bedrock.flow.execution_id"] == response["executionId"]
    assert a["aws.bedrock.flow.completion_reason"] == "SUCCESS"
    assert a["aws.bedrock.flow.trace_events"] == sum("flowTraceEvent" in e for e in events) == 3
    assert a["bedrock_otel.stream.end_state"] == "completed"
    assert "gen_ai.request.model" not in a


def test_invoke_flow_multi_turn_input_request(fake_bedrock, bedrock_spans):
    from bedrock_otel.testing.eventstream import event_frame

    fake_bedrock.enqueue(Reply.events([
        event_frame("flowMultiTurnInputRequestEvent", {"nodeName": "AgentNode", "nodeType": "AgentNode",
                                                       "content": {"document": "Which city?"}}),
        event_frame("flowCompletionEvent", {"completionReason": "INPUT_REQUIRED"}),
    ]))
    list(_client(fake_bedrock).invoke_flow(flowIdentifier=FLOW, flowAliasIdentifier=FLOW_ALIAS,
                                           inputs=_flow_inputs())["responseStream"])
    a = bedrock_spans.one().attributes
    assert a["aws.bedrock.flow.completion_reason"] == "INPUT_REQUIRED"
    assert a["aws.bedrock.flow.input_request.node"] == "AgentNode"


def test_async_knowledge_bases_and_flows(fake_bedrock, bedrock_spans):
    aiobotocore_session = pytest.importorskip("aiobotocore.session")
    from aiobotocore.config import AioConfig

    async def main():
        session = aiobotocore_session.get_session()
        config = AioConfig(signature_version="v4", retries={"mode": "standard", "total_max_attempts": 1})
        async with session.create_client(
            "bedrock-agent-runtime", region_name="us-east-1", endpoint_url=fake_bedrock.endpoint_url,
            config=config, aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="t",
        ) as client:
            await client.retrieve(knowledgeBaseId=KB, retrievalQuery={"text": "q"})
            await client.retrieve_and_generate(input={"text": "q"}, retrieveAndGenerateConfiguration=_rag_config())
            stream = await client.retrieve_and_generate_stream(input={"text": "q"},
                                                               retrieveAndGenerateConfiguration=_rag_config())
            rag_events = [e async for e in stream["stream"]]
            flow = await client.invoke_flow(flowIdentifier=FLOW, flowAliasIdentifier=FLOW_ALIAS,
                                            inputs=_flow_inputs())
            flow_events = [e async for e in flow["responseStream"]]
            return rag_events, flow_events

    rag_events, flow_events = asyncio.run(main())
    assert bedrock_spans.one(operation="retrieval").attributes["bedrock_otel.response.document.count"] == 5
    assert bedrock_spans.one(method="RetrieveAndGenerate").attributes["bedrock_otel.response.citation.count"] == 1
    stream_span = bedrock_spans.one(method="RetrieveAndGenerateStream")
    assert stream_span.attributes["bedrock_otel.stream.end_state"] == "completed"
    assert stream_span.attributes["bedrock_otel.stream.events"] == len(rag_events)
    flow_span = bedrock_spans.one(operation="invoke_workflow")
    assert flow_span.attributes["aws.bedrock.flow.completion_reason"] == "SUCCESS"
    assert flow_span.attributes["bedrock_otel.stream.events"] == len(flow_events)
