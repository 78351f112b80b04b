"""examples/chatops-lambda: log event → Bedrock summary → SNS, one trace, one Bedrock span with tokens."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Iterator

import boto3
import pytest
from moto import mock_aws
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.trace import SpanKind, StatusCode

from bedrock_otel import BedrockInstrumentor
from bedrock_otel.testing import Capture

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "chatops-lambda"
XRAY_ROOT = "1-5759e988-bd862e3fe1be46a994272793"
XRAY_PARENT = "53995c3f42cd8ad8"
REGION = "us-east-1"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_chatops_{name}", EXAMPLE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(EXAMPLE))  # run_local imports log_summarizer by name
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXAMPLE))
    return module


local = _load("run_local")
handler = local.log_summarizer  # the module run_local uses, so there is one copy


@pytest.fixture
def capture() -> Iterator[Capture]:
    """Bedrock and botocore instrumented into memory for the test; whatever was instrumented before comes back."""
    instrumentors = (BedrockInstrumentor(), BotocoreInstrumentor())
    previous = [dict(getattr(i, "instrument_kwargs", {})) if i.is_instrumented_by_opentelemetry else None
                for i in instrumentors]
    for instrumentor, kwargs in zip(instrumentors, previous):
        if kwargs is not None:
            instrumentor.uninstrument()
    capture = Capture()
    handler.instrument(capture.spans.provider, capture.metrics.provider)
    try:
        yield capture
    finally:
        for instrumentor, kwargs in zip(instrumentors, previous):
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()
            if kwargs is not None:
                instrumentor.instrument(**kwargs)
        capture.shutdown()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        yield SimpleNamespace(sns=sns, sqs=sqs, **local.topic_with_queue(sns, sqs))


def _use_langchain_params() -> list:
    missing = not handler.langchain_available()
    return [False, pytest.param(True, marks=pytest.mark.skipif(missing, reason="langchain-aws is not installed "
                                                                              "(optional; the boto3 path ran)"))]


@pytest.mark.parametrize("use_langchain", _use_langchain_params(), ids=["boto3", "langchain"])
def test_one_trace_from_log_event_to_sns(fake_bedrock, capture, aws, monkeypatch, use_langchain):
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={XRAY_ROOT};Parent={XRAY_PARENT};Sampled=1")
    capture.spans.clear()  # the set-up's SNS/SQS calls
    bedrock = boto3.client("bedrock-runtime", region_name=REGION, endpoint_url=fake_bedrock.endpoint_url)
    flushes = []
    app = handler.LambdaApp(
        handler.Summarizer(bedrock, aws.sns, aws.topic_arn, use_langchain=use_langchain,
                           tracer_provider=capture.spans.provider),
        flush=lambda: flushes.append(capture.spans.provider.force_flush()),
    )
    result = app(local.sample_event(), local.lambda_context())
    assert flushes == [True], "the Lambda app flushes after each invocation"
    assert result["status"] == "published" and result["log_events"] == 3
    assert result["via"] == ("langchain" if use_langchain else "boto3")

    spans = capture.spans.spans
    by_name = {s.name: s for s in spans}
    invocation = by_name["chatops-summarizer"]
    task = by_name["task summarize-log-alert"]
    sns_span = by_name["chatops-alerts send"]
    bedrock_spans = [s for s in spans if s.attributes.get("rpc.service") == "Bedrock Runtime"
                     or "BedrockRuntime" in s.name or s.attributes.get("gen_ai.operation.name") == "chat"]
    assert len(bedrock_spans) == 1, [s.name for s in spans]
    [chat] = bedrock_spans
    assert sorted(s.name for s in spans) == sorted([invocation.name, task.name, chat.name, sns_span.name])

    # One trace, continuing Lambda's X-Ray trace, invocation → task → Bedrock; invocation → SNS.
    trace_id = int(XRAY_ROOT.replace("1-", "").replace("-", ""), 16)
    assert {s.context.trace_id for s in spans} == {trace_id}
    assert invocation.kind is SpanKind.CONSUMER
    assert invocation.parent.span_id == int(XRAY_PARENT, 16) and invocation.parent.is_remote
    assert invocation.attributes["faas.trigger"] == "pubsub"
    assert invocation.attributes["faas.invocation_id"] == local.lambda_context().aws_request_id
    assert invocation.attributes["aws.log.group.names"] == ("/ecs/checkout",)
    assert invocation.status.status_code is StatusCode.OK
    assert task.parent.span_id == invocation.context.span_id
    assert chat.parent.span_id == task.context.span_id
    assert sns_span.parent.span_id == invocation.context.span_id
    assert sns_span.kind is SpanKind.PRODUCER
    assert sns_span.attributes["rpc.method"] == "Publish"

    # Tokens on the Bedrock span are Bedrock's own count, and what the handler got back.
    assert chat.name == f"chat {handler.DEFAULT_MODEL}"
    assert chat.kind is SpanKind.CLIENT
    assert chat.instrumentation_scope.name == "bedrock_otel.instrumentor"
    assert chat.attributes["gen_ai.usage.input_tokens"] == result["usage"]["input"] > 0
    assert chat.attributes["gen_ai.usage.output_tokens"] == result["usage"]["output"] > 0
    assert capture.metrics.token_usage("input") == result["usage"]["input"]
    # botocore's wrapper still sends the trace to Bedrock in the X-Ray header.
    [request] = fake_bedrock.requests
    assert f"Root={XRAY_ROOT}" in request.header("X-Amzn-Trace-Id", "")
    assert "/ecs/checkout" in json.dumps(request.json)

    [message] = local.received(aws.sqs, aws.queue_url)
    assert message["Subject"] == "[/ecs/checkout] 3 error(s)"
    assert message["Message"].startswith(result["summary"])
    assert "traceparent" in message.get("MessageAttributes", {}), "the SNS span's context travels with the message"


def test_control_messages_and_bad_events(fake_bedrock, capture, aws):
    bedrock = boto3.client("bedrock-runtime", region_name=REGION, endpoint_url=fake_bedrock.endpoint_url)
    summarizer = handler.Summarizer(bedrock, aws.sns, aws.topic_arn, use_langchain=False,
                                    tracer_provider=capture.spans.provider)
    control = handler.encode_event({"messageType": "CONTROL_MESSAGE", "logGroup": "", "logEvents": [
        {"id": "", "timestamp": 0, "message": "CWL CONTROL MESSAGE: Checking health of destination"}]})
    assert summarizer.handle(control) == {"status": "ignored", "reason": "CONTROL_MESSAGE"}
    assert fake_bedrock.requests == []
    with pytest.raises(ValueError, match="awslogs"):
        summarizer.handle({"Records": []})


def test_bedrock_failure_marks_the_invocation_failed(fake_bedrock, capture, aws):
    from bedrock_otel.testing import Reply

    fake_bedrock.enqueue(Reply.error(403, "AccessDeniedException", "no model access"))
    bedrock = fake_bedrock.client()
    summarizer = handler.Summarizer(bedrock, aws.sns, aws.topic_arn, use_langchain=False,
                                    tracer_provider=capture.spans.provider)
    capture.spans.clear()
    with pytest.raises(Exception, match="no model access"):
        summarizer.handle(local.sample_event(), local.lambda_context())
    invocation = capture.spans.one(name="chatops-summarizer")
    chat = capture.spans.one(operation="chat")
    assert invocation.status.status_code is StatusCode.ERROR
    assert chat.attributes["error.type"] == "AccessDeniedException"
    assert not [s for s in capture.spans.spans if s.name.endswith(" send")], "nothing published"


def test_run_local_prints_the_trace_and_the_message():
    result = subprocess.run([sys.executable, str(EXAMPLE / "run_local.py")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "trace ids: ['5759e988bd862e3fe1be46a994272793']" in out
    assert "chatops-summarizer [CONSUMER]" in out and "chatops-alerts send [PRODUCER]" in out
    assert out.count("[CLIENT]") == 1 and "'gen_ai.usage.input_tokens'" in out
    assert "SNS → chat channel: [/ecs/checkout] 3 error(s)" in out
