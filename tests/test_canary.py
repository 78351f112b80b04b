"""The privacy guarantees, proved end to end with canaries: boto3 → fake Bedrock → bedrock-otel → OTLP/gRPC → receiver.

A canary string is planted in every place a secret or a prompt can travel — user prompts, system prompts, tool
arguments and tool results in the conversation history, a request header added by a ``before-sign`` handler,
and the client's credentials (access key id, secret key, session token) — for every operation (Converse,
ConverseStream, InvokeModel, InvokeModelWithResponseStream, a failed call, an aiobotocore stream) and every
model family the fake server speaks. Every span, log event and metric point is exported through the SDK's
OTLP gRPC exporters to a real receiver and scanned, both as the raw protobuf bytes and as decoded values:

* content capture off: the canary appears nowhere;
* content on with the ready redactor: the canary appears nowhere;
* content on: the canary appears only inside the four content attributes (span attributes and event
  attributes), and in those of every call;
* in every mode: credentials, the session token, the added header and the request signature appear nowhere.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable, Dict, Iterator, List

import boto3.session
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from bedrock_otel import BedrockInstrumentor
from bedrock_otel.telemetry.content import CONTENT_ATTRIBUTES, ENV_CAPTURE, ENV_MAX_LENGTH, ENV_REDACTOR
from bedrock_otel.testing.fake_server import Reply
from bedrock_otel.testing.otlp_receiver import OtlpGrpcReceiver
from bedrock_otel.testing.responders import FAMILIES

CANARY = "CANARY7F3A9C0Q1Z"
#: what the prompts carry: the canary inside an access-key-shaped string, so the ready redactor must catch it
PLANTED = "AKIA" + CANARY
#: credentials and headers: never in telemetry, whatever the mode
ACCESS_KEY_ID = "ASIA" + CANARY
SECRET_KEY = f"wJalr/{CANARY}/SecretKeyTail0"
SESSION_TOKEN = f"IQoJb3JpZ2luX2Vj{CANARY}SessionTokenTail"
HEADER_VALUE = f"hdr-{CANARY}-value"
NEVER = (ACCESS_KEY_ID, SECRET_KEY, SESSION_TOKEN, HEADER_VALUE, "SecretKeyTail0", "SessionTokenTail")

MODELS = {  # one model id per fake-server family
    "anthropic": "anthropic.claude-3-haiku-20240307-v1:0",
    "amazon.nova-canvas": "amazon.nova-canvas-v1:0",
    "amazon.nova-embed": "amazon.nova-2-multimodal-embeddings-v1:0",
    "amazon.nova": "us.amazon.nova-lite-v1:0",
    "amazon.titan-text": "amazon.titan-text-express-v1",
    "amazon.titan-embed": "amazon.titan-embed-text-v2:0",
    "amazon.titan-image": "amazon.titan-image-generator-v2:0",
    "meta.llama": "meta.llama3-1-70b-instruct-v1:0",
    "mistral": "mistral.mistral-large-2407-v1:0",
    "cohere.command-r": "cohere.command-r-plus-v1:0",
    "cohere.command": "cohere.command-text-v14",
    "cohere.embed": "cohere.embed-english-v3",
    "ai21.jamba": "ai21.jamba-1-5-mini-v1:0",
    "deepseek": "deepseek.v3-v1:0",
    "openai.gpt-oss": "openai.gpt-oss-120b-1:0",
    "qwen": "qwen.qwen3-32b-v1:0",
    "writer.palmyra": "us.writer.palmyra-x5-v1:0",
    "stability": "stability.sd3-5-large-v1:0",
}

# The canary leads every last user turn: the fake echoes its first 40 characters back, so it is in the output too.
ASK = f"{PLANTED} please summarise the notes"


def _anthropic() -> Dict[str, Any]:
    return {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 300, "system": f"You guard {PLANTED}",
            "tools": [{"name": "lookup", "description": "Look a key up", "input_schema": {"type": "object"}}],
            "messages": [
                {"role": "user", "content": f"Look up {PLANTED}"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup",
                                                   "input": {"key": PLANTED}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                              "content": f"found {PLANTED}"}, {"type": "text", "text": ASK}]},
            ]}


def _converse_messages() -> List[Dict[str, Any]]:
    return [
        {"role": "user", "content": [{"text": f"Look up {PLANTED}"}]},
        {"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {"key": PLANTED}}}]},
        {"role": "user", "content": [
            {"toolResult": {"toolUseId": "t1", "content": [{"text": f"found {PLANTED}"}, {"json": {"v": PLANTED}}]}},
            {"text": ASK},
        ]},
    ]


TOOL_CONFIG = {"tools": [{"toolSpec": {"name": "lookup", "description": "Look a key up",
                                       "inputSchema": {"json": {"type": "object"}}}}]}


def _nova() -> Dict[str, Any]:
    return {"schemaVersion": "messages-v1", "system": [{"text": f"You guard {PLANTED}"}],
            "messages": _converse_messages(), "toolConfig": TOOL_CONFIG, "inferenceConfig": {"maxTokens": 300}}


def _chat() -> Dict[str, Any]:
    return {"max_tokens": 300, "messages": [
        {"role": "system", "content": f"You guard {PLANTED}"},
        {"role": "user", "content": f"Look up {PLANTED}"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "lookup", "arguments": json.dumps({"key": PLANTED})}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": f"found {PLANTED}"},
        {"role": "user", "content": ASK},
    ], "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]}


def _amazon_image() -> Dict[str, Any]:
    return {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": ASK, "negativeText": f"no {PLANTED}"},
            "imageGenerationConfig": {"numberOfImages": 1}}


BODIES: Dict[str, Callable[[], Dict[str, Any]]] = {
    "anthropic": _anthropic,
    "amazon.nova": _nova,
    "amazon.nova-canvas": _amazon_image,
    "amazon.titan-image": _amazon_image,
    "amazon.nova-embed": lambda: {"schemaVersion": "nova-multimodal-embed-v1", "taskType": "SINGLE_EMBEDDING",
                                  "singleEmbeddingParams": {"embeddingPurpose": "GENERIC_INDEX",
                                                            "text": {"truncationMode": "END", "value": ASK}}},
    "amazon.titan-text": lambda: {"inputText": ASK, "textGenerationConfig": {"maxTokenCount": 300}},
    "amazon.titan-embed": lambda: {"inputText": ASK, "dimensions": 256},
    "meta.llama": lambda: {"prompt": f"{ASK}\n<|system|>You guard {PLANTED}", "max_gen_len": 300},
    "mistral": _chat,
    "cohere.command-r": lambda: {
        "message": ASK, "preamble": f"You guard {PLANTED}", "max_tokens": 300,
        "chat_history": [{"role": "USER", "message": f"Look up {PLANTED}"}, {"role": "CHATBOT", "message": "ok"}],
        "tool_results": [{"call": {"name": "lookup", "parameters": {"key": PLANTED}}, "outputs": [{"v": PLANTED}]}],
    },
    "cohere.command": lambda: {"prompt": ASK, "max_tokens": 300, "num_generations": 1},
    "cohere.embed": lambda: {"texts": [ASK, f"also {PLANTED}"], "input_type": "search_document"},
    "ai21.jamba": _chat,
    "deepseek": _chat,
    "openai.gpt-oss": _chat,
    "qwen": _chat,
    "writer.palmyra": _chat,
    "stability": lambda: {"prompt": ASK, "negative_prompt": f"no {PLANTED}", "mode": "text-to-image",
                          "output_format": "png"},
}


def _client(fake: Any) -> Any:
    """A boto3 client whose credentials carry the canary and that adds a canary header to every request."""
    session = boto3.session.Session(
        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_KEY, aws_session_token=SESSION_TOKEN,
        region_name="us-east-1",
        botocore_session=botocore.session.Session(session_vars={
            "profile": (None, None, None, None), "config_file": (None, None, "/dev/null", None),
            "credentials_file": (None, None, "/dev/null", None)}),
    )
    config = Config(signature_version="v4", proxies={}, retries={"mode": "standard", "total_max_attempts": 1})
    client = session.client("bedrock-runtime", endpoint_url=fake.endpoint_url, config=config)
    client.meta.events.register("before-sign.bedrock-runtime.*", _add_header)
    return client


def _add_header(request: Any, **_: Any) -> None:
    request.headers["X-Canary-Header"] = HEADER_VALUE


def _exercise(fake: Any) -> int:
    """Every operation and family with the canary planted; returns the number of calls made."""
    client = _client(fake)
    calls = 0
    assert {family.name for family in FAMILIES} <= set(MODELS), "a new fake family needs a canary body here"
    for family in FAMILIES:
        model, body = MODELS[family.name], json.dumps(BODIES[family.name]())
        client.invoke_model(modelId=model, body=body)["body"].read()
        list(client.invoke_model_with_response_stream(modelId=model, body=body)["body"])
        calls += 2
    for model in (MODELS["anthropic"], MODELS["amazon.nova"]):
        kwargs = {"modelId": model, "system": [{"text": f"You guard {PLANTED}"}], "messages": _converse_messages(),
                  "toolConfig": TOOL_CONFIG}
        client.converse(**kwargs)
        list(client.converse_stream(**kwargs)["stream"])
        calls += 2
    fake.enqueue(Reply.throttle())
    with pytest.raises(ClientError):
        client.converse(modelId=MODELS["anthropic"], messages=_converse_messages())
    calls += 1
    calls += _exercise_async(fake)
    return calls


def _exercise_async(fake: Any) -> int:
    aiobotocore_session = pytest.importorskip("aiobotocore.session")
    from aiobotocore.config import AioConfig

    async def main() -> None:
        config = AioConfig(signature_version="v4", retries={"mode": "standard", "total_max_attempts": 1})
        async with aiobotocore_session.get_session().create_client(
            "bedrock-runtime", region_name="us-east-1", endpoint_url=fake.endpoint_url, config=config,
            aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_KEY, aws_session_token=SESSION_TOKEN,
        ) as client:
            client.meta.events.register("before-sign.bedrock-runtime.*", _add_header)
            response = await client.converse_stream(modelId=MODELS["amazon.nova"], messages=_converse_messages(),
                                                    system=[{"text": f"You guard {PLANTED}"}])
            async for _event in response["stream"]:
                pass

    asyncio.run(main())
    return 1


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, (str, bytes)):
        yield value if isinstance(value, str) else value.decode("utf-8", "replace")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif value is not None and not isinstance(value, (int, float, bool)):
        yield str(value)


def _without_content(request: Any) -> bytes:
    """The export request re-serialised without the four content attributes (spans and log records)."""
    copy = type(request)()
    copy.CopyFrom(request)
    holders: List[Any] = []
    for resource_spans in getattr(copy, "resource_spans", ()):
        for scope_spans in resource_spans.scope_spans:
            holders.extend(scope_spans.spans)
    for resource_logs in getattr(copy, "resource_logs", ()):
        for scope_logs in resource_logs.scope_logs:
            holders.extend(scope_logs.log_records)
    for holder in holders:
        kept = [kv for kv in holder.attributes if kv.key not in CONTENT_ATTRIBUTES]
        del holder.attributes[:]
        holder.attributes.extend(kept)
    return bytes(copy.SerializeToString())


def _decoded(receiver: OtlpGrpcReceiver) -> Dict[str, List[Any]]:
    """Every decoded record, as plain values, by signal."""
    spans = [{"name": s.name, "attributes": s.attributes, "status": s.status_message, "events": s.events,
              "resource": s.resource, "scope": s.scope} for s in receiver.spans()]
    logs = [{"body": r.body, "attributes": r.attributes, "resource": r.resource, "event": r.event_name}
            for r in receiver.logs()]
    points = [{"name": p.name, "attributes": p.attributes, "resource": p.resource} for p in receiver.metric_points()]
    return {"spans": spans, "logs": logs, "metrics": points}


def _outside_content(record: Dict[str, Any]) -> Dict[str, Any]:
    return {**record, "attributes": {k: v for k, v in record["attributes"].items() if k not in CONTENT_ATTRIBUTES}}


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpGrpcReceiver]:
    with OtlpGrpcReceiver() as server:
        yield server


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (ENV_CAPTURE, ENV_REDACTOR, ENV_MAX_LENGTH):
        monkeypatch.delenv(name, raising=False)


def _run(fake: Any, receiver: OtlpGrpcReceiver, **content: Any) -> Dict[str, Any]:
    """Instrument into OTLP/gRPC exporters aimed at ``receiver``, exercise everything, flush; what arrived."""
    receiver.clear()
    resource = Resource.create({"service.name": "canary"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=receiver.endpoint, insecure=True)))
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=receiver.endpoint, insecure=True),
                                           export_interval_millis=3_600_000)
    meter_provider = MeterProvider(metric_readers=[reader], resource=resource)
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(
        OTLPLogExporter(endpoint=receiver.endpoint, insecure=True)))
    instrumentor = BedrockInstrumentor()
    previous = instrumentor.instrument_kwargs if instrumentor.is_instrumented_by_opentelemetry else None
    if previous is not None:
        instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider,
                            logger_provider=logger_provider, **content)
    try:
        calls = _exercise(fake)
    finally:
        instrumentor.uninstrument()
        if previous is not None:
            instrumentor.instrument(**previous)
    for provider in (tracer_provider, meter_provider, logger_provider):
        provider.force_flush()
        provider.shutdown()
    sent = [r for r in fake.requests if r.operation]
    assert sent and all(r.header("X-Canary-Header") == HEADER_VALUE for r in sent), "the header canary was sent"
    assert all(ACCESS_KEY_ID in (r.header("Authorization") or "") for r in sent)
    assert all(r.header("X-Amz-Security-Token") == SESSION_TOKEN for r in sent)
    signatures = {(r.header("Authorization") or "").rpartition("Signature=")[2] for r in sent}
    decoded = _decoded(receiver)
    assert len(decoded["spans"]) == calls, f"{len(decoded['spans'])} spans for {calls} calls"
    raw = {signal: [bytes(request.SerializeToString()) for request in receiver.requests(signal)]
           for signal in ("traces", "metrics", "logs")}
    counts = {signal: len(records) for signal, records in decoded.items()}
    print(f"\ncanary {content or 'off'}: scanned {counts['spans']} spans, {counts['logs']} events, "
          f"{counts['metrics']} metric points; {sum(len(b) for r in raw.values() for b in r)} protobuf bytes")
    return {"decoded": decoded, "raw": raw, "signatures": signatures, "calls": calls, "counts": counts}


def _assert_never(result: Dict[str, Any]) -> None:
    """Credentials, the session token, the header and the signatures: in no byte, in no value, in any mode."""
    never = [*NEVER, *result["signatures"]]
    for signal, payloads in result["raw"].items():
        for payload in payloads:
            for secret in never:
                assert secret.encode() not in payload, f"{secret!r} in raw {signal}"
    for signal, records in result["decoded"].items():
        for record in records:
            for text in _strings(record):
                for secret in never:
                    assert secret not in text, f"{secret!r} in {signal}: {record}"


def _assert_absent(result: Dict[str, Any], strip_content: bool = False) -> None:
    for signal, payloads in result["raw"].items():
        for payload in payloads:
            assert CANARY.encode() not in payload, f"canary in raw {signal} bytes"
    for signal, records in result["decoded"].items():
        for record in records:
            record = _outside_content(record) if strip_content else record
            assert not any(CANARY in text for text in _strings(record)), f"canary in {signal}: {record}"


def test_content_off_canary_nowhere(fake_bedrock, receiver):
    result = _run(fake_bedrock, receiver)
    assert result["counts"]["logs"] == 0
    assert result["counts"]["metrics"] > 0
    _assert_absent(result)
    _assert_never(result)


def test_content_on_with_the_ready_redactor_canary_nowhere(fake_bedrock, receiver):
    result = _run(fake_bedrock, receiver, capture_content="SPAN_AND_EVENT", content_redactor="default")
    assert result["counts"]["logs"] == result["calls"]
    for span in result["decoded"]["spans"]:
        assert "[REDACTED:aws_access_key]" in span["attributes"]["gen_ai.input.messages"], span["name"]
    _assert_absent(result)
    _assert_never(result)


def test_content_on_canary_only_in_content_attributes(fake_bedrock, receiver):
    result = _run(fake_bedrock, receiver, capture_content="SPAN_AND_EVENT")
    decoded = result["decoded"]
    assert result["counts"]["logs"] == result["calls"]
    # Everywhere but the content attributes: absent, in the decoded values and in the re-encoded bytes.
    _assert_absent({"raw": {}, "decoded": decoded}, strip_content=True)
    for signal in ("traces", "logs"):
        for request in receiver.requests(signal):
            assert CANARY.encode() not in _without_content(request), f"canary outside content in {signal}"
    for payload in result["raw"]["metrics"]:
        assert CANARY.encode() not in payload
    # And present where expected: every call's span and event carries it in its input messages.
    for record in (*decoded["spans"], *decoded["logs"]):
        inputs = record["attributes"]["gen_ai.input.messages"]
        assert CANARY in "".join(_strings(inputs)), record
    _assert_never(result)
