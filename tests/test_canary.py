"""The privacy guarantees, proved end to end with canaries: boto3 → fake Bedrock → bedrock-otel → OTLP/gRPC → receiver.

A canary string is planted in every place a secret or a prompt can travel — user prompts, system prompts, tool
arguments and tool results in the conversation history, a request header added by a ``before-sign`` handler,
and the client's credentials (access key id, secret key, session token) — for every model operation (Converse,
ConverseStream, InvokeModel, InvokeModelWithResponseStream, the four under a guardrail whose trace quotes the
canary, a failed call, an aiobotocore stream) and every model family the fake server speaks. Every span, log
event and metric point is exported through the SDK's OTLP gRPC exporters to a real receiver and scanned, both
as the raw protobuf bytes and as decoded values:

* content capture off: the canary appears nowhere;
* content on with the ready redactor: the canary appears nowhere;
* content on: the canary appears only inside the four content attributes (span attributes and event
  attributes), and in those of every call;
* in every mode: credentials, the session token, the added header and the request signature appear nowhere.

Every other instrumented operation — InvokeAgent (a multi-step trace: guardrail, model invocations, knowledge-
base lookup, action-group calls, code interpreter, collaborator; a returnControl and its result sent back; a
guardrail intervention; a stream failing mid-way), InvokeInlineAgent, Retrieve (and a failed one),
RetrieveAndGenerate (knowledge base and external source), RetrieveAndGenerateStream, InvokeFlow, ApplyGuardrail,
CountTokens (both forms), StartAsyncInvoke and GetAsyncInvoke, sync, plus an aiobotocore agent stream — records
no content, so for those the canary must appear nowhere in all three modes (see the section below).
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any, Awaitable, Callable, Dict, Iterator, List

import boto3.session
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError
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
from bedrock_otel.testing import agent_runtime
from bedrock_otel.testing.agent_runtime import AgentStep
from bedrock_otel.testing.eventstream import event_frame
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
GUARDRAIL = "gr1234abcd"

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


def _client(fake: Any, service: str = "bedrock-runtime") -> Any:
    """A boto3 client whose credentials carry the canary and that adds a canary header to every request."""
    session = boto3.session.Session(
        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_KEY, aws_session_token=SESSION_TOKEN,
        region_name="us-east-1",
        botocore_session=botocore.session.Session(session_vars={
            "profile": (None, None, None, None), "config_file": (None, None, "/dev/null", None),
            "credentials_file": (None, None, "/dev/null", None)}),
    )
    config = Config(signature_version="v4", proxies={}, retries={"mode": "standard", "total_max_attempts": 1})
    client = session.client(service, endpoint_url=fake.endpoint_url, config=config)
    client.meta.events.register(f"before-sign.{service}.*", _add_header)
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
    calls += _exercise_guarded(client)
    fake.enqueue(Reply.throttle())
    with pytest.raises(ClientError):
        client.converse(modelId=MODELS["anthropic"], messages=_converse_messages())
    calls += 1
    calls += _exercise_async(fake)
    return calls


def _exercise_guarded(client: Any) -> int:
    """The four model operations under a guardrail with its trace on: the fake anonymises the canary's e-mail
    address, so the guardrail assessments in the responses quote the canary (``piiEntities[].match``)."""
    text = f"{ASK}, mail {PLANTED}@example.com"
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 300,
                       "messages": [{"role": "user", "content": text}]})
    headers = {"guardrailIdentifier": GUARDRAIL, "guardrailVersion": "1", "trace": "ENABLED"}
    response = client.invoke_model(modelId=MODELS["anthropic"], body=body, **headers)
    assert CANARY in response["body"].read().decode()
    chunks = list(client.invoke_model_with_response_stream(modelId=MODELS["anthropic"], body=body, **headers)["body"])
    assert CANARY in b"".join(chunk["chunk"]["bytes"] for chunk in chunks).decode()
    config = {"guardrailIdentifier": GUARDRAIL, "guardrailVersion": "1", "trace": "enabled"}
    messages = [{"role": "user", "content": [{"text": text}]}]
    response = client.converse(modelId=MODELS["amazon.nova"], messages=messages, guardrailConfig=config)
    assert CANARY in json.dumps(response["trace"])
    list(client.converse_stream(modelId=MODELS["amazon.nova"], messages=messages, guardrailConfig=config)["stream"])
    return 4


def _run_aio(fake: Any, service: str, call: Callable[[Any], Awaitable[None]]) -> None:
    """``call`` with an aiobotocore client carrying the same canary credentials and header as :func:`_client`."""
    aiobotocore_session = pytest.importorskip("aiobotocore.session")
    from aiobotocore.config import AioConfig

    async def main() -> None:
        config = AioConfig(signature_version="v4", retries={"mode": "standard", "total_max_attempts": 1})
        async with aiobotocore_session.get_session().create_client(
            service, region_name="us-east-1", endpoint_url=fake.endpoint_url, config=config,
            aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_KEY, aws_session_token=SESSION_TOKEN,
        ) as client:
            client.meta.events.register(f"before-sign.{service}.*", _add_header)
            await call(client)

    asyncio.run(main())


def _exercise_async(fake: Any) -> int:
    async def call(client: Any) -> None:
        response = await client.converse_stream(modelId=MODELS["amazon.nova"], messages=_converse_messages(),
                                                system=[{"text": f"You guard {PLANTED}"}])
        async for _event in response["stream"]:
            pass

    _run_aio(fake, "bedrock-runtime", call)
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
    spans = [{"name": s.name, "kind": s.kind, "attributes": s.attributes, "status": s.status_message,
              "events": s.events, "resource": s.resource, "scope": s.scope} for s in receiver.spans()]
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


def _run(fake: Any, receiver: OtlpGrpcReceiver, exercise: Callable[[Any], int] = _exercise,
         **content: Any) -> Dict[str, Any]:
    """Instrument into OTLP/gRPC exporters aimed at ``receiver``, run ``exercise``, flush; what arrived.

    ``exercise`` returns how many API calls it made: one CLIENT span each (agent traces add INTERNAL children).
    """
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
        calls = exercise(fake)
    finally:
        instrumentor.uninstrument()
        if previous is not None:
            instrumentor.instrument(**previous)
        for provider in (tracer_provider, meter_provider, logger_provider):  # even after a failure: no export
            provider.force_flush()  # left to retry against a stopped receiver at interpreter exit
            provider.shutdown()
    sent = [r for r in fake.requests if r.operation]
    assert sent and all(r.header("X-Canary-Header") == HEADER_VALUE for r in sent), "the header canary was sent"
    assert all(ACCESS_KEY_ID in (r.header("Authorization") or "") for r in sent)
    assert all(r.header("X-Amz-Security-Token") == SESSION_TOKEN for r in sent)
    signatures = {(r.header("Authorization") or "").rpartition("Signature=")[2] for r in sent}
    decoded = _decoded(receiver)
    clients = sum(span["kind"] == "CLIENT" for span in decoded["spans"])
    assert clients == calls, f"{clients} CLIENT spans for {calls} calls"
    raw = {signal: [bytes(request.SerializeToString()) for request in receiver.requests(signal)]
           for signal in ("traces", "metrics", "logs")}
    counts = {signal: len(records) for signal, records in decoded.items()}
    print(f"\ncanary {exercise.__name__} {content or 'off'}: scanned {counts['spans']} spans ({calls} calls), "
          f"{counts['logs']} events, {counts['metrics']} metric points; "
          f"{sum(len(b) for r in raw.values() for b in r)} protobuf bytes")
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
    assert result["counts"]["spans"] == result["calls"]
    assert result["counts"]["logs"] == 0
    guarded = [s["attributes"] for s in result["decoded"]["spans"]
               if s["attributes"].get("bedrock_otel.guardrail.id") == GUARDRAIL]
    assert len(guarded) == 4, "the guardrail calls were instrumented as such"
    assert all("sensitiveInformationPolicy" in a.get("aws.bedrock.guardrail.policies", ()) for a in guarded), guarded
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


# --------------------------------------------------------------------------------------------------
# Every other operation: agents, knowledge bases, flows, guardrails, token counting, async invoke
# --------------------------------------------------------------------------------------------------
#
# None of these operations captures content (docs/privacy.md, "Operations"), so the expectation is the same in
# every mode, content on included: the canary appears nowhere, there is no content attribute on any span and
# no content event. What they do record about a request is structure the application chose as identifiers —
# agent, alias, session, memory, knowledge-base, flow and guardrail ids, tool/function/action-group names, an
# inline agent's name, the S3 output URI of an async job, RetrieveAndGenerate stop sequences — and docs/privacy.md
# documents those as recorded; the canary is therefore planted in everything else a request or response can carry
# (the texts, and every free-text field of an agent's trace) and never in an identifier.

AGENT, ALIAS = "AGENT12345", "TSTALIASID"
KB = "KB12345678"
FLOW, FLOW_ALIAS = "FLOW123456", "ALIAS12345"
MODEL_ARN = f"arn:aws:bedrock:us-east-1::foundation-model/{MODELS['anthropic']}"
REEL = "amazon.nova-reel-v1:0"
RETRIEVAL = {"vectorSearchConfiguration": {"numberOfResults": 3,
                                           "filter": {"equals": {"key": "owner", "value": PLANTED}}}}
#: free-text fields of an agent's trace events (prompts, raw model output, rationales, tool parameters and
#: results, code, passages, guardrail findings): a real agent puts the user's words in all of them
_TRACE_TEXT = frozenset({"text", "content", "code", "executionOutput", "match", "value", "body"})


def _planted(node: Any) -> Any:
    """``node`` with the canary added to every free-text field that does not carry it yet."""
    if isinstance(node, dict):
        return {key: f"{value} {PLANTED}" if key in _TRACE_TEXT and isinstance(value, str) and CANARY not in value
                else _planted(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_planted(item) for item in node]
    return node


def _agent_trace_frames() -> List[bytes]:
    """A multi-step InvokeAgent run, rendered by the fake's own agent model and planted everywhere.

    Guardrail check, pre-processing and orchestration model invocations (prompt, raw response, rationale), a
    knowledge-base lookup, two action-group calls (function and API path) with the canary in their parameters
    and results, a code-interpreter run, a collaborator with its own steps, a custom-orchestration event, the
    final response and its chunk with citations.
    """
    steps = [
        AgentStep.guardrail("NONE", policies=("sensitiveInformationPolicy", "wordPolicy")),
        AgentStep.model_call(prompt_type="PRE_PROCESSING"),
        AgentStep.model_call(),
        AgentStep.knowledge_base(KB, results=2),
        AgentStep.tool("lookup_key", "Keys", output=f"found {PLANTED}", parameters={"key": PLANTED}),
        AgentStep.tool("get", "KeysApi", api_path="/keys/{key}", parameters={"key": PLANTED}),
        AgentStep.code_interpreter(),
        AgentStep.collaborator("auditor", [AgentStep.model_call(), AgentStep.tool("audit", "Audit",
                                                                                 parameters={"key": PLANTED})]),
        AgentStep.model_call(),
    ]
    request = {"inputText": ASK, "enableTrace": True}
    events = agent_runtime.agent_events(request, session_id="session-1", region="us-east-1", agent_id=AGENT,
                                        alias_id=ALIAS, steps=steps)
    custom = {"sessionId": "session-1", "agentId": AGENT, "agentAliasId": ALIAS, "callerChain": [
        {"agentAliasArn": f"arn:aws:bedrock:us-east-1:{agent_runtime.ACCOUNT}:agent-alias/{AGENT}/{ALIAS}"}],
        "trace": {"customOrchestrationTrace": {"traceId": "custom-1", "event": {"text": PLANTED}}}}
    events.insert(len(events) - 1, ("trace", custom))
    return [event_frame(name, _planted(payload)) for name, payload in events]


def _session_state(**extra: Any) -> Dict[str, Any]:
    return {"sessionAttributes": {"owner": PLANTED}, "promptSessionAttributes": {"guarded": PLANTED},
            "conversationHistory": {"messages": [{"role": "user", "content": [{"text": f"Look up {PLANTED}"}]},
                                                 {"role": "assistant", "content": [{"text": f"found {PLANTED}"}]}]},
            **extra}


def _read(events: Any) -> str:
    """Drain an event stream; the text of everything received (to check the canary came back)."""
    return "".join(map(str, events))


def _agents(fake: Any, client: Any) -> List[str]:
    """InvokeAgent (x5) and InvokeInlineAgent; what those that echo the canary answered."""
    answers = []
    # 1. the planted multi-step trace
    fake.enqueue(Reply.events(_agent_trace_frames()), operation="InvokeAgent")
    answers.append(_read(client.invoke_agent(agentId=AGENT, agentAliasId=ALIAS, sessionId="session-1", inputText=ASK,
                                             enableTrace=True, sessionState=_session_state())["completion"]))
    # 2. an action group handed back to the application (returnControl, canary in its parameters) ...
    fake.enqueue(Reply.agent(AgentStep.model_call(), AgentStep.tool("confirm_key", "Keys", return_control=True,
                                                                    parameters={"key": PLANTED})),
                 operation="InvokeAgent")
    events = list(client.invoke_agent(agentId=AGENT, agentAliasId=ALIAS, sessionId="session-2", inputText=ASK,
                                      enableTrace=True)["completion"])
    answers.append(_read(events))
    control = next(event["returnControl"] for event in events if "returnControl" in event)
    # 3. ... and its result sent back (canary in the returned-control result), which the agent answers from
    result = {"functionResult": {"actionGroup": "Keys", "function": "confirm_key",
                                 "responseBody": {"TEXT": {"body": f"{PLANTED} is confirmed"}}}}
    state = _session_state(invocationId=control["invocationId"], returnControlInvocationResults=[result])
    answers.append(_read(client.invoke_agent(agentId=AGENT, agentAliasId=ALIAS, sessionId="session-2",
                                             sessionState=state, enableTrace=True)["completion"]))
    # 4. a guardrail intervention (the fake's denied topic), final response streamed; the answer is the
    #    guardrail's blocked message, the one answer here that does not echo the canary
    blocked = _read(client.invoke_agent(
        agentId=AGENT, agentAliasId=ALIAS, sessionId="session-3", inputText=f"{PLANTED} is forbidden",
        enableTrace=True, streamingConfigurations={"streamFinalResponse": True})["completion"])
    assert "guardrailTrace" in blocked and CANARY not in blocked
    # 5. an agent stream failing mid-way with an error that echoes the canary: the description is scrubbed
    fake.enqueue(Reply.stream_error(after_events=4, exception_type="dependencyFailedException",
                                    message=f"The action group rejected {PLANTED} as input."),
                 operation="InvokeAgent")
    with pytest.raises(EventStreamError):
        list(client.invoke_agent(agentId=AGENT, agentAliasId=ALIAS, sessionId="session-4",
                                 inputText=f"{PLANTED} and the weather", enableTrace=True)["completion"])
    # 6. an inline agent: instruction, tools, knowledge bases, prompt overrides and session state all planted
    action_group = {
        "actionGroupName": "Keys", "description": f"Keys like {PLANTED}",
        "actionGroupExecutor": {"customControl": "RETURN_CONTROL"},
        "functionSchema": {"functions": [{"name": "get_weather", "description": f"Weather for {PLANTED}",
                                          "parameters": {"key": {"type": "string", "description": PLANTED}}}]},
    }
    answers.append(_read(client.invoke_inline_agent(
        sessionId="inline-1", foundationModel=MODELS["amazon.nova"], agentName="keeper", enableTrace=True,
        instruction=f"You guard {PLANTED} and never reveal it to anyone.", inputText=f"{ASK} and the weather",
        actionGroups=[action_group],
        knowledgeBases=[{"knowledgeBaseId": KB, "description": f"Notes on {PLANTED}",
                         "retrievalConfiguration": RETRIEVAL}],
        promptOverrideConfiguration={"promptConfigurations": [{
            "promptType": "ORCHESTRATION", "promptCreationMode": "OVERRIDDEN", "promptState": "ENABLED",
            "basePromptTemplate": f"Guard {PLANTED}: $question$"}]},
        guardrailConfiguration={"guardrailIdentifier": GUARDRAIL, "guardrailVersion": "1"},
        inlineSessionState={"sessionAttributes": {"owner": PLANTED}, "promptSessionAttributes": {"g": PLANTED},
                            "files": [{"name": "notes.txt", "useCase": "CODE_INTERPRETER", "source": {
                                "sourceType": "BYTE_CONTENT",
                                "byteContent": {"mediaType": "text/plain", "data": PLANTED.encode()}}}]},
        streamingConfigurations={"streamFinalResponse": True})["completion"]))
    return answers


def _knowledge_bases_and_flows(fake: Any, client: Any) -> List[str]:
    """Retrieve (ok, failed), RetrieveAndGenerate (knowledge base, external source), its stream, InvokeFlow."""
    answers = [str(client.retrieve(knowledgeBaseId=KB, retrievalQuery={"text": ASK}, retrievalConfiguration=RETRIEVAL,
                                   guardrailConfiguration={"guardrailId": GUARDRAIL, "guardrailVersion": "1"}))]
    fake.enqueue(Reply.error(400, "ValidationException", f"The filter value {PLANTED} is not valid."),
                 operation="Retrieve")
    with pytest.raises(ClientError):
        client.retrieve(knowledgeBaseId=KB, retrievalQuery={"text": ASK}, retrievalConfiguration=RETRIEVAL)
    generation = {"promptTemplate": {"textPromptTemplate": f"Guard {PLANTED}. $search_results$"},
                  "guardrailConfiguration": {"guardrailId": GUARDRAIL, "guardrailVersion": "1"},
                  "inferenceConfig": {"textInferenceConfig": {"maxTokens": 300, "temperature": 0.1}},
                  "additionalModelRequestFields": {"note": PLANTED}}
    config = {"type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": {
        "knowledgeBaseId": KB, "modelArn": MODEL_ARN, "retrievalConfiguration": RETRIEVAL,
        "generationConfiguration": generation,
        "orchestrationConfiguration": {"promptTemplate": {"textPromptTemplate": f"Rewrite for {PLANTED}"}}}}
    answers.append(str(client.retrieve_and_generate(input={"text": ASK}, retrieveAndGenerateConfiguration=config)))
    external = {"type": "EXTERNAL_SOURCES", "externalSourcesConfiguration": {
        "modelArn": MODEL_ARN, "generationConfiguration": {"promptTemplate": {"textPromptTemplate": PLANTED}},
        "sources": [{"sourceType": "BYTE_CONTENT", "byteContent": {
            "identifier": "notes.txt", "contentType": "text/plain", "data": f"notes on {PLANTED}".encode()}}]}}
    answers.append(str(client.retrieve_and_generate(input={"text": ASK}, retrieveAndGenerateConfiguration=external)))
    answers.append(_read(client.retrieve_and_generate_stream(input={"text": ASK},
                                                             retrieveAndGenerateConfiguration=config)["stream"]))
    answers.append(_read(client.invoke_flow(
        flowIdentifier=FLOW, flowAliasIdentifier=FLOW_ALIAS, enableTrace=True,
        inputs=[{"nodeName": "FlowInputNode", "nodeOutputName": "document", "content": {"document": ASK}}],
    )["responseStream"]))
    return answers


def _runtime_operations(fake: Any, client: Any) -> List[str]:
    """ApplyGuardrail, CountTokens (Converse and InvokeModel forms), StartAsyncInvoke and two GetAsyncInvoke."""
    # the address makes the fake's guardrail anonymise it: its output text and its finding both carry the canary
    content = [{"text": {"text": f"{ASK}, mail {PLANTED}@example.com", "qualifiers": ["query"]}},
               {"text": {"text": f"notes on {PLANTED}", "qualifiers": ["grounding_source"]}}]
    answers = [str(client.apply_guardrail(guardrailIdentifier=GUARDRAIL, guardrailVersion="1", source="INPUT",
                                          content=content))]
    converse = {"messages": _converse_messages(), "system": [{"text": f"You guard {PLANTED}"}],
                "toolConfig": TOOL_CONFIG}
    client.count_tokens(modelId=MODELS["anthropic"], input={"converse": converse})
    client.count_tokens(modelId=MODELS["anthropic"], input={"invokeModel": {"body": json.dumps(_anthropic())}})
    arn = client.start_async_invoke(
        modelId=REEL, clientRequestToken=f"token-{CANARY}", tags=[{"key": "owner", "value": PLANTED}],
        modelInput={"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": ASK}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://canary-bucket/videos/"}})["invocationArn"]
    answers.append(str(client.get_async_invoke(invocationArn=arn)))
    fake.set_async_invoke_status(arn, "Failed", failure_message=f"Moderation rejected {PLANTED} in the prompt.")
    answers.append(str(client.get_async_invoke(invocationArn=arn)))
    return answers


def _carries_canary(request: Any) -> bool:
    """Whether a recorded request's body carries the canary (CountTokens' InvokeModel form base64s it)."""
    if CANARY.encode() in request.body:
        return True
    invoke = (request.json or {}).get("input", {}).get("invokeModel", {})
    return CANARY.encode() in base64.b64decode(invoke.get("body", ""))


def _exercise_other(fake: Any) -> int:
    """Every operation that is not a bedrock-runtime model call, sync, and an aiobotocore agent stream."""
    agent_runtime_client = _client(fake, "bedrock-agent-runtime")
    answers = [*_agents(fake, agent_runtime_client), *_knowledge_bases_and_flows(fake, agent_runtime_client),
               *_runtime_operations(fake, _client(fake))]
    # The canary went out in every request and came back in every answer: telemetry had every chance to see it.
    sent = [r for r in fake.requests if r.operation]
    assert all(_carries_canary(r) for r in sent if r.method == "POST"), "a request without the canary"
    assert all(CANARY in answer for answer in answers), [a for a in answers if CANARY not in a]

    async def agent_stream(client: Any) -> None:
        fake.enqueue(Reply.agent(AgentStep.model_call(), AgentStep.knowledge_base(KB),
                                 AgentStep.tool("lookup_key", "Keys", output=f"found {PLANTED}",
                                                parameters={"key": PLANTED}), AgentStep.model_call()),
                     operation="InvokeAgent")
        response = await client.invoke_agent(agentId=AGENT, agentAliasId=ALIAS, sessionId="session-aio",
                                             inputText=ASK, enableTrace=True, sessionState=_session_state())
        received = [event async for event in response["completion"]]
        assert CANARY in _read(received)

    _run_aio(fake, "bedrock-agent-runtime", agent_stream)
    return len(sent) + 1


#: the agent trace's child spans the exercise must produce (so a quiet agent_trace cannot pass the scan vacuously)
AGENT_CHILDREN = {f"chat {agent_runtime.AGENT_MODEL}", f"chat {MODELS['amazon.nova']}", "apply_guardrail",
                  f"retrieval {KB}", "execute_tool lookup_key",
                  "execute_tool /keys/{key}", "execute_tool CodeInterpreter", "invoke_agent auditor",
                  "execute_tool audit", "execute_tool confirm_key", "execute_tool get_weather"}
OPERATIONS = {"InvokeAgent", "InvokeInlineAgent", "Retrieve", "RetrieveAndGenerate", "RetrieveAndGenerateStream",
              "InvokeFlow", "ApplyGuardrail", "CountTokens", "StartAsyncInvoke", "GetAsyncInvoke"}
MODES = {
    "off": {},
    "redactor": {"capture_content": "SPAN_AND_EVENT", "content_redactor": "default"},
    "content": {"capture_content": "SPAN_AND_EVENT"},
}


@pytest.mark.parametrize("mode", list(MODES))
def test_other_operations_canary_nowhere_in_any_mode(fake_bedrock, receiver, mode):
    result = _run(fake_bedrock, receiver, _exercise_other, **MODES[mode])
    spans = result["decoded"]["spans"]
    assert {s["attributes"].get("rpc.method") for s in spans if s["kind"] == "CLIENT"} == OPERATIONS
    children = {s["name"] for s in spans if s["kind"] == "INTERNAL"}
    assert children >= AGENT_CHILDREN, sorted(AGENT_CHILDREN - children)
    assert result["counts"]["metrics"] > 0
    # No content is captured for these operations, whatever the mode: no content attribute, no content event ...
    assert result["counts"]["logs"] == 0
    assert not [(s["name"], k) for s in spans for k in s["attributes"] if k in CONTENT_ATTRIBUTES]
    # ... the failures kept their (scrubbed) descriptions ...
    failed = [s for s in spans if s["kind"] == "CLIENT" and s["attributes"].get("error.type")]
    assert sorted(s["attributes"]["error.type"] for s in failed) == ["ValidationException",
                                                                      "dependencyFailedException"]
    assert all("[REDACTED:aws_access_key]" in s["status"] for s in failed), [s["status"] for s in failed]
    # ... and the canary is nowhere: not in any byte of any export, not in any decoded value.
    _assert_absent(result)
    _assert_never(result)


def _exercise_agent_failure(fake: Any) -> int:
    """An agent run whose action group fails with a ``failureTrace`` whose reason echoes the canary."""
    fake.enqueue(Reply.agent(AgentStep.model_call(), AgentStep.tool("lookup_key", "Keys", parameters={"key": PLANTED}),
                             AgentStep.failure(f"Lambda rejected key {PLANTED} as invalid.", code=400),
                             AgentStep.model_call()), operation="InvokeAgent")
    events = list(_client(fake, "bedrock-agent-runtime").invoke_agent(
        agentId=AGENT, agentAliasId=ALIAS, sessionId="session-f", inputText=ASK, enableTrace=True)["completion"])
    assert any(CANARY in str(event.get("trace", {}).get("trace", {}).get("failureTrace")) for event in events)
    return 1


@pytest.mark.parametrize("mode", list(MODES))
def test_agent_failure_trace_reason_canary_nowhere(fake_bedrock, receiver, mode):
    """A failureTrace's reason is an error description from the service: scrubbed always, redacted when asked."""
    result = _run(fake_bedrock, receiver, _exercise_agent_failure, **MODES[mode])
    [agent] = [s for s in result["decoded"]["spans"] if s["kind"] == "CLIENT"]
    [(_, failure)] = [e for e in agent["events"] if e[0] == "aws.bedrock.agent.failure"]
    assert failure["aws.bedrock.agent.failure.code"] == 400
    _assert_absent(result)
    _assert_never(result)
