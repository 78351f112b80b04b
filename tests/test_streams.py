"""ConverseStream and InvokeModelWithResponseStream: transparency and every way a stream can end."""

from __future__ import annotations

import gc
import json

import pytest
from botocore.exceptions import EventStreamError
from opentelemetry.trace import StatusCode

from bedrock_otel.testing.fake_server import Reply

from conftest import CLAUDE, NOVA, TITAN, anthropic_body, nova_body, titan_body, user


def _converse_events(client, text="Stream me a short answer please"):
    return list(client.converse_stream(modelId=NOVA, messages=user(text))["stream"])


def _without_latency(events):
    """The fake server reports its real (varying) latency; everything else must match exactly."""
    for event in events:
        event.get("metadata", {}).get("metrics", {}).pop("latencyMs", None)
    return events


def test_converse_stream_events_identical_with_and_without_instrumentation(fake_bedrock):
    from bedrock_otel import BedrockInstrumentor
    from bedrock_otel.testing.capture import Capture

    client = fake_bedrock.client()
    plain = _converse_events(client)
    capture = Capture()
    BedrockInstrumentor().instrument(tracer_provider=capture.spans.provider,
                                     meter_provider=capture.metrics.provider)
    try:
        observed = _converse_events(client)
    finally:
        BedrockInstrumentor().uninstrument()
    assert _without_latency(observed) == _without_latency(plain)
    assert len(capture.spans.spans) == 1


@pytest.mark.bedrock_otel(chunk_gap_metrics=True)
def test_converse_stream_consumed(fake_bedrock, bedrock_spans, bedrock_metrics):
    fake_bedrock.event_delay = 0.005
    events = _converse_events(fake_bedrock.client())
    metadata = next(e["metadata"] for e in events if "metadata" in e)
    stop = next(e["messageStop"] for e in events if "messageStop" in e)
    deltas = [e for e in events if "contentBlockDelta" in e]
    span = bedrock_spans.one()
    a = span.attributes
    assert span.name == f"chat {NOVA}"
    assert a["gen_ai.request.stream"] is True
    assert a["rpc.method"] == "ConverseStream"
    assert a["gen_ai.usage.input_tokens"] == metadata["usage"]["inputTokens"]
    assert a["gen_ai.usage.output_tokens"] == metadata["usage"]["outputTokens"]
    assert a["gen_ai.response.finish_reasons"] == (stop["stopReason"],)
    assert a["bedrock_otel.stream.end_state"] == "completed"
    assert a["bedrock_otel.stream.events"] == len(events)
    assert 0 < a["gen_ai.response.time_to_first_chunk"] < (span.end_time - span.start_time) / 1e9
    assert bedrock_metrics.count("gen_ai.client.operation.time_to_first_chunk") == 1
    assert bedrock_metrics.count("gen_ai.client.operation.time_per_output_chunk") == len(deltas) - 1
    assert bedrock_metrics.count() == 1


def test_early_break_ends_span_and_stream_still_works(fake_bedrock, bedrock_spans, bedrock_metrics):
    stream = fake_bedrock.client().converse_stream(modelId=NOVA, messages=user("one two three four"))["stream"]
    first = []
    for event in stream:
        first.append(event)
        break
    span = bedrock_spans.one()
    assert span.attributes["bedrock_otel.stream.end_state"] == "abandoned"
    rest = list(stream)  # the application may resume: it gets the remaining events, untouched
    assert "messageStart" in first[0] and "metadata" in rest[-1]
    assert bedrock_metrics.count() == 1
    assert len(bedrock_spans) == 1


def test_close_before_consumption(fake_bedrock, bedrock_spans):
    response = fake_bedrock.client().converse_stream(modelId=NOVA, messages=user("hi"))
    response["stream"].close()
    assert bedrock_spans.one().attributes["bedrock_otel.stream.end_state"] == "closed"


def test_close_after_consumption_records_metrics_once(fake_bedrock, bedrock_spans, bedrock_metrics):
    response = fake_bedrock.client().converse_stream(modelId=NOVA, messages=user("hi"))
    list(response["stream"])
    response["stream"].close()
    response["stream"].close()
    assert bedrock_spans.one().attributes["bedrock_otel.stream.end_state"] == "completed"
    assert bedrock_metrics.count() == 1
    assert len(bedrock_metrics.points("gen_ai.client.token.usage")) == 2
    assert bedrock_metrics.count("gen_ai.client.token.usage") == 2


def test_abandoned_stream_ends_when_garbage_collected(fake_bedrock, bedrock_spans):
    response = fake_bedrock.client().converse_stream(modelId=NOVA, messages=user("hi"))
    assert bedrock_spans.spans == []
    del response
    gc.collect()
    assert bedrock_spans.one().attributes["bedrock_otel.stream.end_state"] == "garbage_collected"


def test_stream_used_as_context_free_iterator_twice(fake_bedrock, bedrock_spans):
    stream = fake_bedrock.client().converse_stream(modelId=NOVA, messages=user("hi"))["stream"]
    assert list(stream)
    assert list(stream) == []  # exhausted, as botocore's own stream behaves
    assert len(bedrock_spans) == 1


def test_mid_stream_exception_reaches_app_and_fails_span(fake_bedrock, bedrock_spans, bedrock_metrics):
    fake_bedrock.enqueue(Reply.stream_error(after_events=2, exception_type="modelStreamErrorException"))
    seen = []
    with pytest.raises(EventStreamError) as raised:
        for event in fake_bedrock.client().converse_stream(modelId=NOVA, messages=user("hi"))["stream"]:
            seen.append(event)
    assert len(seen) == 2
    assert raised.value.response["Error"]["Code"] == "modelStreamErrorException"
    span = bedrock_spans.one()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "modelStreamErrorException"
    assert span.attributes["bedrock_otel.stream.end_state"] == "error"
    assert bedrock_metrics.count(error_type="modelStreamErrorException") == 1


def test_connection_drop_mid_stream(fake_bedrock, bedrock_spans):
    fake_bedrock.enqueue(Reply.drop(after_events=2))
    with pytest.raises(Exception) as raised:
        list(fake_bedrock.client().converse_stream(modelId=NOVA, messages=user("hi"))["stream"])
    span = bedrock_spans.one()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"].endswith(type(raised.value).__name__)


@pytest.mark.parametrize(
    ("model", "body", "family"),
    [(CLAUDE, anthropic_body(), "anthropic.claude"), (NOVA, nova_body(), "amazon.nova"),
     (TITAN, titan_body(), "amazon.titan-text")],
)
def test_invoke_model_stream_families(fake_bedrock, bedrock_spans, bedrock_metrics, model, body, family):
    fake_bedrock.event_delay = 0.002
    response = fake_bedrock.client().invoke_model_with_response_stream(modelId=model, body=body)
    chunks = [json.loads(e["chunk"]["bytes"]) for e in response["body"]]
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    span = bedrock_spans.one()
    a = span.attributes
    assert a["rpc.method"] == "InvokeModelWithResponseStream"
    assert a["bedrock_otel.model.family"] == family
    assert a["gen_ai.usage.input_tokens"] == metrics["inputTokenCount"]
    assert a["gen_ai.usage.output_tokens"] == metrics["outputTokenCount"]
    assert a["aws.bedrock.invocation_latency"] == metrics["invocationLatency"] / 1000
    assert a["gen_ai.response.finish_reasons"]
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    assert a["bedrock_otel.stream.end_state"] == "completed"
    assert "bedrock_otel.stream.unknown_events" not in a
    assert bedrock_metrics.token_usage("output") == metrics["outputTokenCount"]


def test_unexpected_stream_event_is_reported_not_raised(fake_bedrock, bedrock_spans):
    from bedrock_otel.testing.eventstream import chunk_frame

    frames = [chunk_frame({"surprise": True}), chunk_frame({"outputText": "hi", "completionReason": "FINISH",
                                                           "inputTextTokenCount": 3,
                                                           "totalOutputTextTokenCount": 1})]
    fake_bedrock.enqueue(Reply.events(frames))
    response = fake_bedrock.client().invoke_model_with_response_stream(modelId=TITAN, body=titan_body())
    assert len(list(response["body"])) == 2
    a = bedrock_spans.one().attributes
    assert a["bedrock_otel.stream.unknown_events"] == 1
    assert a["gen_ai.usage.output_tokens"] == 1


def test_malformed_stream_chunk_never_reaches_the_app(fake_bedrock, bedrock_spans):
    from bedrock_otel.testing.eventstream import event_frame

    fake_bedrock.enqueue(Reply.events([event_frame("chunk", {"bytes": "bm90IGpzb24="})]))  # b"not json"
    response = fake_bedrock.client().invoke_model_with_response_stream(modelId=TITAN, body=titan_body())
    assert [e["chunk"]["bytes"] for e in response["body"]] == [b"not json"]
    a = bedrock_spans.one().attributes
    assert a["bedrock_otel.parse_error"]
    assert a["bedrock_otel.stream.end_state"] == "completed"


@pytest.mark.parametrize(
    ("argument", "variable", "recorded"),
    [(None, None, False), (True, None, True), (None, "true", True), (None, " TRUE ", True), (False, "true", False),
     (None, "false", False)],
)
def test_chunk_gap_metrics_are_opt_in(fake_bedrock, monkeypatch, argument, variable, recorded):
    """Per-chunk gaps cost one histogram record per chunk, so only the argument or variable turns them on."""
    from bedrock_otel import BedrockInstrumentor
    from bedrock_otel.testing.capture import Capture

    if variable is None:
        monkeypatch.delenv("BEDROCK_OTEL_CHUNK_GAP_METRICS", raising=False)
    else:
        monkeypatch.setenv("BEDROCK_OTEL_CHUNK_GAP_METRICS", variable)
    options = {} if argument is None else {"chunk_gap_metrics": argument}
    capture = Capture()
    BedrockInstrumentor().instrument(tracer_provider=capture.spans.provider, meter_provider=capture.metrics.provider,
                                     **options)
    try:
        events = _converse_events(fake_bedrock.client())
    finally:
        BedrockInstrumentor().uninstrument()
    deltas = sum(1 for event in events if "contentBlockDelta" in event)
    assert deltas > 2
    assert capture.metrics.count("gen_ai.client.operation.time_to_first_chunk") == 1
    expected = deltas - 1 if recorded else 0
    assert capture.metrics.count("gen_ai.client.operation.time_per_output_chunk") == expected


def test_chunk_gap_metrics_bad_values(monkeypatch, caplog):
    from bedrock_otel import BedrockInstrumentor
    from bedrock_otel.instrumentor import chunk_gap_metrics

    with pytest.raises(ValueError, match="chunk_gap_metrics"):
        BedrockInstrumentor().instrument(chunk_gap_metrics="no")
    with caplog.at_level("WARNING", logger="bedrock_otel"):
        assert chunk_gap_metrics(None, {"BEDROCK_OTEL_CHUNK_GAP_METRICS": "yes please"}) is False
    assert "BEDROCK_OTEL_CHUNK_GAP_METRICS" in caplog.text
