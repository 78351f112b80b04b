"""bedrock-otel beside opentelemetry-instrumentation-botocore: one span per Bedrock call, either order."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

from bedrock_otel import BedrockInstrumentor
from bedrock_otel.testing.capture import Capture

from conftest import CLAUDE, user


@pytest.fixture
def capture():
    capture = Capture()
    yield capture
    for instrumentor in (BedrockInstrumentor(), BotocoreInstrumentor()):
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
    capture.shutdown()


def _instrument(order, capture):
    providers = {"tracer_provider": capture.spans.provider, "meter_provider": capture.metrics.provider}
    for name in order:
        (BedrockInstrumentor() if name == "ours" else BotocoreInstrumentor()).instrument(**providers)


@pytest.mark.parametrize("order", [("ours", "botocore"), ("botocore", "ours")])
def test_one_genai_span_per_bedrock_call(fake_bedrock, capture, order):
    _instrument(order, capture)
    fake_bedrock.client().converse(modelId=CLAUDE, messages=user("hi"))
    spans = capture.spans.spans
    assert [s.name for s in spans] == [f"chat {CLAUDE}"]
    ours = spans[0]
    assert ours.instrumentation_scope.name == "bedrock_otel.instrumentor"
    # botocore's wrapper still propagates the trace to AWS in the X-Ray header, naming our span.
    header = fake_bedrock.requests[-1].headers.get("X-Amzn-Trace-Id", "")
    assert f"Parent={ours.context.span_id:016x}" in header


def test_other_services_keep_botocore_spans(capture):
    _instrument(("botocore", "ours"), capture)
    with mock_aws():
        boto3.client("sns", region_name="us-east-1").list_topics()
    assert [s.name for s in capture.spans.spans] == ["SNS.ListTopics"]


def test_uninstrumenting_us_gives_bedrock_back_to_botocore(fake_bedrock, capture):
    _instrument(("botocore", "ours"), capture)
    BedrockInstrumentor().uninstrument()
    fake_bedrock.client().converse(modelId=CLAUDE, messages=user("hi"))
    [span] = capture.spans.spans
    assert span.instrumentation_scope.name.startswith("opentelemetry.instrumentation.botocore")


def test_uninstrument_restores_botocore_exactly(fake_bedrock, capture):
    import botocore.client

    original = botocore.client.BaseClient._make_api_call
    _instrument(("ours",), capture)
    assert botocore.client.BaseClient._make_api_call is not original
    BedrockInstrumentor().uninstrument()
    assert botocore.client.BaseClient._make_api_call is original
    fake_bedrock.client().converse(modelId=CLAUDE, messages=user("hi"))
    assert capture.spans.spans == []


def test_uninstrumenting_us_when_botocore_wrapped_last_keeps_botocore(fake_bedrock, capture):
    """A plain unwrap would strip botocore's outer wrapper; ours must leave it and go inert."""
    _instrument(("ours", "botocore"), capture)
    BedrockInstrumentor().uninstrument()
    fake_bedrock.client().converse(modelId=CLAUDE, messages=user("hi"))
    [span] = capture.spans.spans
    assert span.instrumentation_scope.name.startswith("opentelemetry.instrumentation.botocore")
    BedrockInstrumentor().instrument(tracer_provider=capture.spans.provider, meter_provider=capture.metrics.provider)
    capture.spans.clear()
    fake_bedrock.client().converse(modelId=CLAUDE, messages=user("hi"))
    [span] = capture.spans.spans  # re-instrumenting reuses the buried wrapper: still one span, ours
    assert span.instrumentation_scope.name == "bedrock_otel.instrumentor"
