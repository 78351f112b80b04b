"""Converse through the real fake server: span, attributes, metrics, errors, retries."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from opentelemetry.trace import SpanKind, StatusCode

from bedrock_otel.testing.fake_server import Reply

from conftest import CLAUDE, NOVA, user


def test_converse_span_has_genai_and_aws_attributes(fake_bedrock, bedrock_spans, bedrock_metrics):
    client = fake_bedrock.client()
    response = client.converse(
        modelId=CLAUDE,
        messages=user("Tell me about tracing please"),
        inferenceConfig={"maxTokens": 50, "temperature": 0.3, "topP": 0.9, "stopSequences": ["END"]},
        additionalModelRequestFields={"top_k": 40},
    )
    span = bedrock_spans.one()
    a = span.attributes
    assert span.name == f"chat {CLAUDE}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert a["gen_ai.provider.name"] == "aws.bedrock"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == CLAUDE
    assert a["gen_ai.request.max_tokens"] == 50
    assert a["gen_ai.request.temperature"] == 0.3
    assert a["gen_ai.request.top_p"] == 0.9
    assert a["gen_ai.request.top_k"] == 40
    assert a["gen_ai.request.stop_sequences"] == ("END",)
    assert a["rpc.system"] == "aws-api"
    assert a["rpc.service"] == "Bedrock Runtime"
    assert a["rpc.method"] == "Converse"
    assert a["aws.region"] == "us-east-1"
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == int(fake_bedrock.endpoint_url.rsplit(":", 1)[1])
    assert a["aws.request_id"] == response["ResponseMetadata"]["RequestId"]
    usage = response["usage"]
    assert a["gen_ai.usage.input_tokens"] == usage["inputTokens"]
    assert a["gen_ai.usage.output_tokens"] == usage["outputTokens"]
    assert a["gen_ai.response.finish_reasons"] == (response["stopReason"],)
    assert a["aws.bedrock.invocation_latency"] == response["metrics"]["latencyMs"] / 1000
    assert "error.type" not in a
    assert bedrock_metrics.count(operation="chat", model=CLAUDE) == 1
    assert bedrock_metrics.token_usage("input") == usage["inputTokens"]
    assert bedrock_metrics.token_usage("output") == usage["outputTokens"]
    assert len(bedrock_metrics.points("gen_ai.client.token.usage")) == 2
    assert bedrock_metrics.count("gen_ai.server.request.duration") == 1


def test_converse_cache_tokens_are_reported_and_included_in_input(fake_bedrock, bedrock_spans):
    client = fake_bedrock.client()
    messages = [{"role": "user", "content": [{"text": "A long shared prefix to cache"},
                                              {"cachePoint": {"type": "default"}}]}]
    response = client.converse(modelId=CLAUDE, messages=messages)
    usage = response["usage"]
    read, write = usage.get("cacheReadInputTokens", 0), usage.get("cacheWriteInputTokens", 0)
    assert read + write > 0, "the fake server reports cache tokens when asked for a cache point"
    a = bedrock_spans.one().attributes
    assert a["gen_ai.usage.cache_read.input_tokens"] == read
    assert a["gen_ai.usage.cache_write.input_tokens"] == write
    assert a["gen_ai.usage.input_tokens"] == usage["inputTokens"] + read + write


def test_invalid_model_marks_span_failed(fake_bedrock, bedrock_spans, bedrock_metrics):
    client = fake_bedrock.client()
    with pytest.raises(ClientError) as raised:
        client.converse(modelId="invalid.model-id", messages=user("hi"))
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    span = bedrock_spans.one()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ValidationException"
    assert span.attributes["http.response.status_code"] == 400
    assert bedrock_metrics.count(error_type="ValidationException") == 1
    assert bedrock_metrics.token_usage() == 0


def test_throttling_is_visible_and_retries_counted(fake_bedrock, bedrock_spans):
    client = fake_bedrock.client()
    fake_bedrock.enqueue(Reply.throttle())
    with pytest.raises(ClientError):
        client.converse(modelId=NOVA, messages=user("hi"))
    failed = bedrock_spans.one()
    assert failed.attributes["error.type"] == "ThrottlingException"
    assert failed.attributes["http.response.status_code"] == 429
    bedrock_spans.clear()

    retrying = fake_bedrock.client(retries={"mode": "standard", "total_max_attempts": 2})
    fake_bedrock.enqueue(Reply.throttle())
    retrying.converse(modelId=NOVA, messages=user("hi"))
    span = bedrock_spans.one()
    assert span.attributes["aws.retry_attempts"] == 1
    assert "error.type" not in span.attributes
    assert len([r for r in fake_bedrock.requests if r.operation == "Converse"]) == 3


def test_span_is_child_of_the_application_span(fake_bedrock, bedrock_spans):
    tracer = bedrock_spans.provider.get_tracer("app")
    with tracer.start_as_current_span("handle request") as parent:
        fake_bedrock.client().converse(modelId=CLAUDE, messages=user("hi"))
    span = bedrock_spans.one(operation="chat")
    assert span.parent.span_id == parent.get_span_context().span_id
    assert span.context.trace_id == parent.get_span_context().trace_id


def test_model_arn_recorded_as_given(fake_bedrock, bedrock_spans):
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"
    fake_bedrock.client().converse(modelId=arn, messages=user("hi"))
    span = bedrock_spans.one()
    assert span.name == f"chat {arn}"
    assert fake_bedrock.requests[-1].model_id == arn
