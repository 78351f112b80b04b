"""InvokeModel: per-family attributes, byte-exact bodies, and every way a body can be left."""

from __future__ import annotations

import gc
import io
import json

import pytest

from bedrock_otel.testing.fake_server import Reply

from conftest import CLAUDE, NOVA, TITAN, anthropic_body, nova_body, titan_body


@pytest.mark.parametrize(
    ("model", "body", "operation", "family"),
    [
        (CLAUDE, anthropic_body(temperature=0.4, top_p=0.8, top_k=10, stop_sequences=["###"]), "chat",
         "anthropic.claude"),
        (NOVA, nova_body(temperature=0.4, topP=0.8, topK=10, stopSequences=["###"]), "chat", "amazon.nova"),
        (TITAN, titan_body(temperature=0.4, topP=0.8, stopSequences=["###"]), "text_completion",
         "amazon.titan-text"),
    ],
)
def test_families(fake_bedrock, bedrock_spans, bedrock_metrics, model, body, operation, family):
    response = fake_bedrock.client().invoke_model(modelId=model, body=body)
    payload = json.loads(response["body"].read())
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    span = bedrock_spans.one()
    a = span.attributes
    assert span.name == f"{operation} {model}"
    assert a["bedrock_otel.model.family"] == family
    assert a["gen_ai.request.max_tokens"] == 100
    assert a["gen_ai.request.temperature"] == 0.4
    assert a["gen_ai.request.top_p"] == 0.8
    assert a["gen_ai.request.stop_sequences"] == ("###",)
    if family != "amazon.titan-text":
        assert a["gen_ai.request.top_k"] == 10
    assert a["gen_ai.usage.input_tokens"] == int(headers["x-amzn-bedrock-input-token-count"])
    assert a["gen_ai.usage.output_tokens"] == int(headers["x-amzn-bedrock-output-token-count"])
    assert a["bedrock_otel.usage.source"] == "headers"
    assert a["bedrock_otel.body.end_state"] == "read"
    assert a["gen_ai.response.finish_reasons"]
    if family == "anthropic.claude":
        assert a["gen_ai.response.id"] == payload["id"]
        assert a["gen_ai.response.model"] == payload["model"]
    assert bedrock_metrics.count() == 1


def test_body_bytes_identical_with_and_without_instrumentation(fake_bedrock):
    from bedrock_otel import BedrockInstrumentor
    from bedrock_otel.testing.capture import Capture

    client = fake_bedrock.client()
    plain = client.invoke_model(modelId=CLAUDE, body=anthropic_body())["body"].read()
    capture = Capture()
    BedrockInstrumentor().instrument(tracer_provider=capture.spans.provider,
                                     meter_provider=capture.metrics.provider)
    try:
        body = client.invoke_model(modelId=CLAUDE, body=anthropic_body())["body"]
        observed = b"".join(body.iter_chunks(7))
    finally:
        BedrockInstrumentor().uninstrument()
    strip = [json.loads(plain), json.loads(observed)]
    for doc in strip:
        doc.pop("id")
    assert strip[0] == strip[1]
    assert len(capture.spans.spans) == 1
    assert capture.spans.spans[0].attributes["bedrock_otel.body.end_state"] == "read"


def test_body_iter_lines_and_readinto(fake_bedrock, bedrock_spans):
    client = fake_bedrock.client()
    list(client.invoke_model(modelId=NOVA, body=nova_body())["body"].iter_lines())
    body = client.invoke_model(modelId=NOVA, body=nova_body())["body"]
    buffer = bytearray(1 << 16)
    total = 0
    while (count := body.readinto(memoryview(buffer)[total:])) > 0:
        total += count
    json.loads(bytes(buffer[:total]))
    spans = bedrock_spans.all()
    assert len(spans) == 2
    assert all(s.attributes["gen_ai.response.finish_reasons"] for s in spans)


def test_malformed_body_reaches_app_byte_for_byte(fake_bedrock, bedrock_spans):
    raw = b'{"this is": not json'
    headers = {"x-amzn-bedrock-input-token-count": "7", "x-amzn-bedrock-output-token-count": "3",
               "content-type": "application/json"}
    fake_bedrock.enqueue(Reply.raw(200, raw, headers))
    body = fake_bedrock.client().invoke_model(modelId=CLAUDE, body=anthropic_body())["body"].read()
    assert body == raw
    a = bedrock_spans.one().attributes
    assert "not JSON" in a["bedrock_otel.parse_error"][0]
    assert a["gen_ai.usage.input_tokens"] == 7
    assert a["gen_ai.usage.output_tokens"] == 3
    assert a["bedrock_otel.usage.source"] == "headers"


def test_unknown_family_still_gets_tokens_from_headers(fake_bedrock, bedrock_spans, bedrock_metrics):
    body = json.dumps({"prompt": "hello pegasus", "temperature": 0.2})  # a model bedrock-otel has no codec for
    response = fake_bedrock.client().invoke_model(modelId="twelvelabs.pegasus-1-2-v1:0", body=body)
    response["body"].read()
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    span = bedrock_spans.one()
    assert span.attributes["gen_ai.operation.name"] == "generate_content"
    assert span.attributes["gen_ai.usage.input_tokens"] == int(headers["x-amzn-bedrock-input-token-count"])
    assert bedrock_metrics.token_usage("output") == int(headers["x-amzn-bedrock-output-token-count"])


def test_application_inference_profile_family_inferred_from_body(fake_bedrock, bedrock_spans):
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5"
    fake_bedrock.client().invoke_model(modelId=arn, body=anthropic_body())["body"].read()
    a = bedrock_spans.one().attributes
    assert a["gen_ai.request.model"] == arn
    assert a["bedrock_otel.model.family"] == "anthropic.claude"
    assert a["gen_ai.usage.input_tokens"] > 0


def test_file_request_body_is_not_consumed(fake_bedrock, bedrock_spans):
    body = io.BytesIO(titan_body().encode())
    fake_bedrock.client().invoke_model(modelId=TITAN, body=body)["body"].read()
    assert json.loads(fake_bedrock.requests[-1].body)["inputText"] == "Hello there Titan"
    assert bedrock_spans.one().attributes["gen_ai.request.max_tokens"] == 100


def test_unread_body_ends_span_on_garbage_collection(fake_bedrock, bedrock_spans):
    response = fake_bedrock.client().invoke_model(modelId=CLAUDE, body=anthropic_body())
    assert bedrock_spans.spans == []
    del response
    gc.collect()
    a = bedrock_spans.one().attributes
    assert a["bedrock_otel.body.end_state"] == "garbage_collected"
    assert a["gen_ai.usage.input_tokens"] > 0  # from the headers


def test_closed_body_and_with_statement(fake_bedrock, bedrock_spans):
    client = fake_bedrock.client()
    client.invoke_model(modelId=CLAUDE, body=anthropic_body())["body"].close()
    with client.invoke_model(modelId=CLAUDE, body=anthropic_body())["body"] as raw:
        raw.read()
    states = sorted(s.attributes["bedrock_otel.body.end_state"] for s in bedrock_spans)
    assert states == ["closed", "unobserved"]


def test_body_larger_than_parse_limit_is_not_buffered(fake_bedrock):
    from bedrock_otel import BedrockInstrumentor
    from bedrock_otel.testing.capture import Capture

    capture = Capture()
    BedrockInstrumentor().instrument(tracer_provider=capture.spans.provider,
                                     meter_provider=capture.metrics.provider, max_body_bytes=64)
    try:
        fake_bedrock.client().invoke_model(modelId=CLAUDE, body=anthropic_body())["body"].read()
    finally:
        BedrockInstrumentor().uninstrument()
    a = capture.spans.spans[0].attributes
    assert a["bedrock_otel.body.end_state"] == "too_large"
    assert "parse limit" in a["bedrock_otel.parse_error"][0]  # the request was over the limit too
    assert a["gen_ai.usage.output_tokens"] > 0


def test_bad_max_body_bytes_is_a_clear_error():
    from bedrock_otel import BedrockInstrumentor

    with pytest.raises(ValueError, match="max_body_bytes"):
        BedrockInstrumentor().instrument(max_body_bytes="lots")
    assert not BedrockInstrumentor().is_instrumented_by_opentelemetry
