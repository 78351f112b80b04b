"""Content capture: modes, settings, the GenAI JSON shapes, streams reassembled, redaction, truncation, sampling.

Everything goes through boto3 → the fake Bedrock over HTTP → bedrock-otel, with spans and log events captured
in memory. Shapes are checked against opentelemetry-util-genai's own serialisation when it is installed.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, Iterator, List, Optional

import pytest
from botocore.exceptions import ClientError
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Decision, Sampler, SamplingResult

from bedrock_otel import BedrockInstrumentor
from bedrock_otel.models.content import StreamContent
from bedrock_otel.telemetry import content as C
from bedrock_otel.telemetry.redaction import PatternRedactor, luhn_valid, redact, scrub_credentials
from bedrock_otel.testing.capture import Capture
from bedrock_otel.testing.eventstream import chunk_frame, event_frame
from bedrock_otel.testing.fake_server import Reply
from bedrock_otel.testing.responders import FAKE_IMAGE_BASE64, family_named, invoke_reply, resolve_model
from test_families import CASES

from conftest import CLAUDE, NOVA, TITAN, anthropic_body, nova_body, titan_body, user

try:
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
except ImportError:  # pragma: no cover - older SDKs
    from opentelemetry.sdk._logs.export import InMemoryLogExporter as InMemoryLogRecordExporter

# The shape comparisons import util-genai itself, which the test extra installs on Python >= 3.10 only.
NO_UTIL_GENAI = "opentelemetry-util-genai is not installed (test extra; it needs Python >= 3.10)"
LLAMA = "meta.llama3-1-70b-instruct-v1:0"
GPT_OSS = "openai.gpt-oss-120b-1:0"
WEATHER_TOOL = {"toolSpec": {"name": "get_weather", "description": "Current weather for a city",
                             "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}}}}


class Instrumented:
    """bedrock-otel instrumented into in-memory span, metric and log providers with some content settings."""

    def __init__(self, tracer_provider: Optional[TracerProvider] = None, **kwargs: Any) -> None:
        self.capture = Capture()
        self.span_exporter = self.capture.spans.exporter
        if tracer_provider is not None:
            self.span_exporter = InMemorySpanExporter()
            tracer_provider.add_span_processor(SimpleSpanProcessor(self.span_exporter))
        self.log_exporter = InMemoryLogRecordExporter()
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.log_exporter))
        BedrockInstrumentor().instrument(tracer_provider=tracer_provider or self.capture.spans.provider,
                                         meter_provider=self.capture.metrics.provider,
                                         logger_provider=self.logger_provider, **kwargs)

    @property
    def spans(self) -> List[Any]:
        return list(self.span_exporter.get_finished_spans())

    def span(self) -> Any:
        spans = self.spans
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    @property
    def events(self) -> List[Any]:
        return [data.log_record for data in self.log_exporter.get_finished_logs()]

    def content(self, span: Any = None) -> Dict[str, Any]:
        """The span's content attributes, JSON-decoded."""
        attributes = (span or self.span()).attributes
        return {key: json.loads(attributes[key]) for key in C.CONTENT_ATTRIBUTES if key in attributes}

    def close(self) -> None:
        BedrockInstrumentor().uninstrument()
        self.capture.shutdown()
        self.logger_provider.shutdown()


@pytest.fixture
def instrument() -> Iterator[Any]:
    """``instrument(**kwargs)`` → an :class:`Instrumented`; uninstruments after the test."""
    made: List[Instrumented] = []
    instrumentor = BedrockInstrumentor()
    previous = instrumentor.instrument_kwargs if instrumentor.is_instrumented_by_opentelemetry else None
    if previous is not None:
        instrumentor.uninstrument()

    def make(**kwargs: Any) -> Instrumented:
        assert not made, "one instrumentation per test"
        made.append(Instrumented(**kwargs))
        return made[0]

    yield make
    for item in made:
        item.close()
    if previous is not None:
        instrumentor.instrument(**previous)


@pytest.fixture(autouse=True)
def _no_content_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (C.ENV_CAPTURE, C.ENV_REDACTOR, C.ENV_MAX_LENGTH):
        monkeypatch.delenv(name, raising=False)


def _strings(value: Any) -> List[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in _strings(item)]
    return []


def _converse_tool_turns(secret: str = "sunny") -> List[Dict[str, Any]]:
    """A user question, the model's tool call (with reasoning), the tool's result, and a follow-up."""
    return [
        {"role": "user", "content": [{"text": "What is the weather in Paris?"}]},
        {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "I should call the tool", "signature": "c2ln"}}},
            {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}},
        ]},
        {"role": "user", "content": [
            {"toolResult": {"toolUseId": "tooluse_1", "content": [{"json": {"forecast": secret}}],
                            "status": "success"}},
            {"text": "Thanks, summarise please"},
        ]},
    ]


# -- modes and settings ------------------------------------------------------------------------------------


def test_off_by_default(fake_bedrock, instrument):
    telemetry = instrument()
    fake_bedrock.client().converse(modelId=CLAUDE, system=[{"text": "Be terse"}], messages=user("hello"),
                                   toolConfig={"tools": [WEATHER_TOOL]})
    attributes = telemetry.span().attributes
    assert not set(C.CONTENT_ATTRIBUTES).intersection(attributes)
    assert telemetry.events == []
    assert BedrockInstrumentor()._telemetry.content is None


@pytest.mark.parametrize(("mode", "on_span", "on_event"), [
    ("SPAN_ONLY", True, False), ("EVENT_ONLY", False, True), ("SPAN_AND_EVENT", True, True),
    ("NO_CONTENT", False, False), ("span_and_event", True, True),
])
def test_modes_decide_where_content_goes(fake_bedrock, instrument, mode, on_span, on_event):
    telemetry = instrument(capture_content=mode)
    fake_bedrock.client().converse(modelId=CLAUDE, system=[{"text": "Be terse"}], messages=user("hello there"))
    span = telemetry.span()
    assert (C.INPUT_MESSAGES in span.attributes) is on_span
    assert (C.OUTPUT_MESSAGES in span.attributes) is on_span
    events = telemetry.events
    assert len(events) == (1 if on_event else 0)
    if on_event:
        (event,) = events
        assert event.event_name == C.EVENT_NAME
        assert event.trace_id == span.context.trace_id and event.span_id == span.context.span_id
        assert event.attributes["gen_ai.operation.name"] == "chat"
        assert event.attributes["gen_ai.request.model"] == CLAUDE
        assert event.attributes["gen_ai.usage.output_tokens"] == span.attributes["gen_ai.usage.output_tokens"]
        assert list(event.attributes[C.SYSTEM_INSTRUCTIONS]) == [{"content": "Be terse", "type": "text"}]
        inputs = event.attributes[C.INPUT_MESSAGES]
        assert inputs[0]["role"] == "user" and inputs[0]["parts"][0]["content"] == "hello there"
        assert "rpc.method" not in event.attributes  # the event repeats the GenAI attributes only


@pytest.mark.parametrize(("value", "mode", "warning"), [
    ("SPAN_ONLY", "SPAN_ONLY", None),
    (" event_only ", "EVENT_ONLY", None),
    ("true", "EVENT_ONLY", "deprecated"),
    ("False", "NO_CONTENT", "deprecated"),
    ("yes please", "NO_CONTENT", "NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT"),
    ("", "NO_CONTENT", None),
])
def test_environment_variable(caplog, value, mode, warning):
    with caplog.at_level(logging.WARNING, logger="bedrock_otel"):
        assert C.mode_from_env({C.ENV_CAPTURE: value}) == mode
    if warning is None:
        assert not caplog.records
    else:
        assert warning in caplog.text and C.ENV_CAPTURE in caplog.text


def test_argument_overrides_environment(fake_bedrock, instrument, monkeypatch):
    monkeypatch.setenv(C.ENV_CAPTURE, "SPAN_AND_EVENT")
    telemetry = instrument(capture_content="NO_CONTENT")
    fake_bedrock.client().converse(modelId=CLAUDE, messages=user("hello"))
    assert C.INPUT_MESSAGES not in telemetry.span().attributes and telemetry.events == []


def test_environment_turns_capture_on(fake_bedrock, instrument, monkeypatch):
    monkeypatch.setenv(C.ENV_CAPTURE, "SPAN_ONLY")
    monkeypatch.setenv(C.ENV_REDACTOR, "default")
    monkeypatch.setenv(C.ENV_MAX_LENGTH, "60")
    telemetry = instrument()
    fake_bedrock.client().converse(modelId=CLAUDE, messages=user("mail me at jane@example.com " + "x" * 100))
    text = telemetry.content()[C.INPUT_MESSAGES][0]["parts"][0]["content"]
    assert text.startswith("mail me at [REDACTED:email] xxx") and text.endswith("chars]")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"capture_content": "EVERYTHING"}, "capture_content must be one of NO_CONTENT, SPAN_ONLY"),
    ({"capture_content": True}, "capture_content must be one of"),
    ({"capture_content": "SPAN_ONLY", "content_redactor": 42}, "content_redactor must be a callable"),
    ({"capture_content": "SPAN_ONLY", "content_max_length": 0}, "content_max_length must be a positive int"),
    ({"capture_content": "SPAN_ONLY", "content_max_length": "10"}, "content_max_length must be a positive int"),
])
def test_bad_arguments_are_refused_clearly(kwargs, message):
    instrumentor = BedrockInstrumentor()
    previous = instrumentor.instrument_kwargs if instrumentor.is_instrumented_by_opentelemetry else None
    if previous is not None:
        instrumentor.uninstrument()
    try:
        with pytest.raises(ValueError, match=message):
            instrumentor.instrument(**kwargs)
        assert not instrumentor.is_instrumented_by_opentelemetry
    finally:
        if previous is not None:
            instrumentor.instrument(**previous)


def test_util_genai_mode_enum_is_accepted():
    genai_types = pytest.importorskip("opentelemetry.util.genai.types", reason=NO_UTIL_GENAI)
    assert C.mode_from_argument(genai_types.ContentCapturingMode.SPAN_AND_EVENT) == "SPAN_AND_EVENT"


# -- shapes --------------------------------------------------------------------------------------------------


def test_converse_shapes_match_util_genai_exactly(fake_bedrock, instrument):
    """Our JSON strings are byte-identical to what util-genai serialises for the same content."""
    types = pytest.importorskip("opentelemetry.util.genai.types", reason=NO_UTIL_GENAI)
    invocation = pytest.importorskip("opentelemetry.util.genai._invocation")
    telemetry = instrument(capture_content="SPAN_ONLY")
    response = fake_bedrock.client().converse(
        modelId=CLAUDE, system=[{"text": "Be terse"}, {"cachePoint": {"type": "default"}}],
        messages=_converse_tool_turns(), toolConfig={"tools": [WEATHER_TOOL]},
    )
    reply = response["output"]["message"]["content"][0]["text"]
    expected = invocation.get_content_attributes(
        input_messages=[
            types.InputMessage("user", [types.TextPart("What is the weather in Paris?")]),
            types.InputMessage("assistant", [types.ReasoningPart("I should call the tool"),
                                             types.ToolCallRequestPart({"city": "Paris"}, "get_weather", "tooluse_1")]),
            types.InputMessage("user", [types.ToolCallResponsePart([{"json": {"forecast": "sunny"}}], "tooluse_1"),
                                        types.TextPart("Thanks, summarise please")]),
        ],
        output_messages=[types.OutputMessage("assistant", [types.TextPart(reply)], finish_reason="stop")],
        system_instruction=[types.TextPart("Be terse")],
        tool_definitions=[types.FunctionToolDefinition("get_weather", "Current weather for a city",
                                                       WEATHER_TOOL["toolSpec"]["inputSchema"]["json"])],
        for_span=True, content_capturing_mode=types.ContentCapturingMode.SPAN_ONLY,
    )
    attributes = telemetry.span().attributes
    for key in C.CONTENT_ATTRIBUTES:
        assert attributes[key] == expected[key], key


def test_event_values_are_structured_like_util_genai(fake_bedrock, instrument):
    types = pytest.importorskip("opentelemetry.util.genai.types", reason=NO_UTIL_GENAI)
    invocation = pytest.importorskip("opentelemetry.util.genai._invocation")
    telemetry = instrument(capture_content="EVENT_ONLY")
    fake_bedrock.client().converse(modelId=CLAUDE, messages=user("hello"))
    (event,) = telemetry.events
    expected = invocation.get_content_attributes(
        input_messages=[types.InputMessage("user", [types.TextPart("hello")])], output_messages=[],
        system_instruction=[], tool_definitions=None, for_span=False,
        content_capturing_mode=types.ContentCapturingMode.EVENT_ONLY)
    assert [dict(m, parts=[dict(p) for p in m["parts"]]) for m in event.attributes[C.INPUT_MESSAGES]] == \
        expected[C.INPUT_MESSAGES]


def test_converse_stream_reassembles_text_and_tool_input(fake_bedrock, instrument):
    telemetry = instrument(capture_content="SPAN_ONLY")
    stream = fake_bedrock.client().converse_stream(modelId=NOVA, messages=user("weather in Seattle?"),
                                                   toolConfig={"tools": [WEATHER_TOOL]})["stream"]
    events = list(stream)
    text = "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e)
    fragments = [e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events
                 if "toolUse" in e.get("contentBlockDelta", {}).get("delta", {})]
    assert len(fragments) == 2, "the fake splits the tool input so it must be reassembled"
    start = next(e["contentBlockStart"]["start"]["toolUse"] for e in events if "contentBlockStart" in e)
    (message,) = telemetry.content()[C.OUTPUT_MESSAGES]
    assert message == {"role": "assistant", "finish_reason": "tool_call", "name": None, "parts": [
        {"content": text, "type": "text"},
        {"arguments": {"location": "Seattle"}, "name": "get_weather", "id": start["toolUseId"], "type": "tool_call"},
    ]}


def test_converse_stream_reasoning(fake_bedrock, instrument):
    telemetry = instrument(capture_content="SPAN_ONLY")
    def reasoning(delta: Dict[str, str]) -> bytes:
        return event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": delta}})

    frames = [
        event_frame("messageStart", {"role": "assistant"}),
        reasoning({"text": "Hmm, "}), reasoning({"text": "ok."}), reasoning({"signature": "c2ln"}),
        event_frame("contentBlockStop", {"contentBlockIndex": 0}),
        event_frame("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Done"}}),
        event_frame("messageStop", {"stopReason": "end_turn"}),
        event_frame("metadata", {"usage": {"inputTokens": 3, "outputTokens": 4, "totalTokens": 7},
                                 "metrics": {"latencyMs": 5}}),
    ]
    fake_bedrock.enqueue(Reply.events(frames))
    list(fake_bedrock.client().converse_stream(modelId=CLAUDE, messages=user("think"))["stream"])
    (message,) = telemetry.content()[C.OUTPUT_MESSAGES]
    assert message["parts"] == [{"content": "Hmm, ok.", "type": "reasoning"}, {"content": "Done", "type": "text"}]
    assert message["finish_reason"] == "stop"


def test_claude_stream_thinking_text_and_tool_call(fake_bedrock, instrument):
    telemetry = instrument(capture_content="SPAN_ONLY")
    chunks = [
        {"type": "message_start", "message": {"id": "msg_1", "model": "claude", "role": "assistant",
                                              "usage": {"input_tokens": 5, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me think"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "c2ln"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "It is "}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "sunny"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2,
         "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}},
        *({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": part}}
          for part in ('{"ci', 'ty": "Paris"}')),
        {"type": "content_block_stop", "index": 2},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 12}},
        {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 5, "outputTokenCount": 12}},
    ]
    fake_bedrock.enqueue(Reply.events([chunk_frame(c) for c in chunks]))
    body = anthropic_body("What's the weather?", system="Be brief", tools=[
        {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}])
    list(fake_bedrock.client().invoke_model_with_response_stream(modelId=CLAUDE, body=body)["body"])
    content = telemetry.content()
    assert content[C.OUTPUT_MESSAGES] == [{"role": "assistant", "finish_reason": "tool_call", "name": None, "parts": [
        {"content": "Let me think", "type": "reasoning"},
        {"content": "It is sunny", "type": "text"},
        {"arguments": {"city": "Paris"}, "name": "get_weather", "id": "toolu_1", "type": "tool_call"},
    ]}]
    assert content[C.SYSTEM_INSTRUCTIONS] == [{"content": "Be brief", "type": "text"}]
    assert content[C.TOOL_DEFINITIONS] == [{"name": "get_weather", "description": "Weather",
                                            "parameters": {"type": "object"}, "type": "function"}]


def test_chat_completions_stream_tool_call_deltas(fake_bedrock, instrument):
    telemetry = instrument(capture_content="SPAN_ONLY")
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"choices": [{"index": 0, "delta": {"reasoning_content": "User wants weather."}}]},
        {"choices": [{"index": 0, "delta": {"content": "Checking"}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":'}},
        ]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ' "Paris"}'}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
         "amazon-bedrock-invocationMetrics": {"inputTokenCount": 9, "outputTokenCount": 7}},
    ]
    fake_bedrock.enqueue(Reply.events([chunk_frame(c) for c in chunks]))
    body = json.dumps({"messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Weather?"}],
                       "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]})
    list(fake_bedrock.client().invoke_model_with_response_stream(modelId=GPT_OSS, body=body)["body"])
    content = telemetry.content()
    assert content[C.INPUT_MESSAGES] == [
        {"role": "system", "parts": [{"content": "Be brief", "type": "text"}], "name": None},
        {"role": "user", "parts": [{"content": "Weather?", "type": "text"}], "name": None},
    ]
    assert content[C.OUTPUT_MESSAGES] == [{"role": "assistant", "finish_reason": "tool_call", "name": None, "parts": [
        {"content": "User wants weather.", "type": "reasoning"},
        {"content": "Checking", "type": "text"},
        {"arguments": {"city": "Paris"}, "name": "get_weather", "id": "call_1", "type": "tool_call"},
    ]}]
    assert content[C.TOOL_DEFINITIONS] == [{"name": "get_weather", "description": None, "parameters": {},
                                            "type": "function"}]


def test_chat_completions_tool_turns_and_choices(fake_bedrock, instrument):
    """OpenAI-style tool calls and ``role: tool`` results in, one output message per choice out."""
    telemetry = instrument(capture_content="SPAN_ONLY")
    answer = {"id": "chatcmpl-1", "model": "gpt-oss", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "A"}, "finish_reason": "stop"},
        {"index": 1, "message": {"role": "assistant", "content": "B"}, "finish_reason": "length"},
    ], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    fake_bedrock.enqueue(Reply.json(answer))
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + FAKE_IMAGE_BASE64}}
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    body = json.dumps({"n": 2, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}, image]},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]})
    fake_bedrock.client().invoke_model(modelId=GPT_OSS, body=body)["body"].read()
    content = telemetry.content()
    assert [m["parts"] for m in content[C.INPUT_MESSAGES]] == [
        [{"content": "Weather?", "type": "text"},
         {"mime_type": "image/png", "modality": "image", "size": 70, "type": "blob"}],
        [{"arguments": {"city": "Paris"}, "name": "get_weather", "id": "call_1", "type": "tool_call"}],
        [{"response": "sunny", "id": "call_1", "type": "tool_call_response"}],
    ]
    assert [(m["parts"][0]["content"], m["finish_reason"]) for m in content[C.OUTPUT_MESSAGES]] == \
        [("A", "stop"), ("B", "length")]


def test_cohere_command_r_history_tools_and_tool_calls(fake_bedrock, instrument):
    telemetry = instrument(capture_content="SPAN_ONLY")
    fake_bedrock.enqueue(Reply.json({"response_id": "r1", "text": "Let me check", "finish_reason": "COMPLETE",
                                     "tool_calls": [{"name": "get_weather", "parameters": {"city": "Paris"}}]}))
    body = json.dumps({"preamble": "Be brief", "message": "And now?", "chat_history": [
        {"role": "USER", "message": "Hi"}, {"role": "CHATBOT", "message": "Hello"}],
        "tools": [{"name": "get_weather", "description": "Weather",
                   "parameter_definitions": {"city": {"type": "str", "required": True}}}],
        "tool_results": [{"call": {"name": "get_weather", "parameters": {"city": "Oslo"}},
                          "outputs": [{"t": "cold"}]}]})
    fake_bedrock.client().invoke_model(modelId="cohere.command-r-plus-v1:0", body=body)["body"].read()
    content = telemetry.content()
    assert content[C.SYSTEM_INSTRUCTIONS] == [{"content": "Be brief", "type": "text"}]
    first_parts = [(m["role"], m["parts"][0]) for m in content[C.INPUT_MESSAGES]]
    turns = [(role, part.get("content", part.get("response"))) for role, part in first_parts]
    assert turns == [("user", "Hi"), ("assistant", "Hello"), ("tool", [{"t": "cold"}]), ("user", "And now?")]
    assert content[C.OUTPUT_MESSAGES][0]["parts"] == [
        {"content": "Let me check", "type": "text"},
        {"arguments": {"city": "Paris"}, "name": "get_weather", "id": None, "type": "tool_call"}]
    assert content[C.TOOL_DEFINITIONS][0]["parameters"] == {"city": {"type": "str", "required": True}}


def _case_params() -> List[Any]:
    cases = {name: (case.model, case.body) for name, case in CASES.items()}
    cases["claude"] = (CLAUDE, json.loads(anthropic_body("Tell me about tracing")))
    cases["nova"] = (NOVA, json.loads(nova_body("Tell me about tracing")))
    cases["titan-text"] = (TITAN, json.loads(titan_body("Tell me about tracing")))
    return [pytest.param(model, body, id=name) for name, (model, body) in cases.items()]


@pytest.mark.parametrize("stream", [False, True], ids=["InvokeModel", "InvokeModelWithResponseStream"])
@pytest.mark.parametrize(("model", "body"), _case_params())
def test_every_family(fake_bedrock, instrument, model, body, stream):
    """Each family's prompt texts are input content; its reply text (or images, as references) output."""
    telemetry = instrument(capture_content="SPAN_ONLY")
    client = fake_bedrock.client()
    if stream:
        list(client.invoke_model_with_response_stream(modelId=model, body=json.dumps(body))["body"])
    else:
        client.invoke_model(modelId=model, body=json.dumps(body))["body"].read()
    span = telemetry.span()
    content = telemetry.content(span)
    prompt = family_named(resolve_model(model).family).parse_invoke(body)
    captured = _strings([content.get(C.INPUT_MESSAGES), content.get(C.SYSTEM_INSTRUCTIONS)])
    for text in prompt.texts:
        assert any(text in value for value in captured), (text, captured)
    reply = invoke_reply(model, body)
    outputs = content.get(C.OUTPUT_MESSAGES, [])
    if prompt.output == "text":
        assert [p["content"] for m in outputs for p in m["parts"] if p["type"] == "text"] == [reply.text]
        assert outputs[0]["finish_reason"] in ("stop", "length", "tool_call")
    elif prompt.output == "image":
        blobs = [p for m in outputs for p in m["parts"]]
        assert len(blobs) == reply.output_count
        assert all(p == {"mime_type": "image/png", "modality": "image", "size": 70, "type": "blob"} for p in blobs)
    else:
        assert outputs == []  # embeddings are not content
    for value in span.attributes.values():
        assert FAKE_IMAGE_BASE64 not in str(value)


# -- sampling, streams that end early, failures, async ---------------------------------------------------


class _RecordOnly(Sampler):
    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        return SamplingResult(Decision.RECORD_ONLY)

    def get_description(self) -> str:
        return "RecordOnly"


def test_unsampled_spans_get_no_content(fake_bedrock, instrument, monkeypatch):
    read = []
    original = C.ContentRecord.__init__

    def spy(self: Any, *args: Any) -> None:
        read.append(1)
        original(self, *args)

    monkeypatch.setattr(C.ContentRecord, "__init__", spy)
    telemetry = instrument(capture_content="SPAN_AND_EVENT", tracer_provider=TracerProvider(sampler=ALWAYS_OFF))
    fake_bedrock.client().converse(modelId=CLAUDE, messages=user("hello"))
    assert telemetry.spans == [] and telemetry.events == []
    assert read == [], "content of an unsampled call is not even read"


class _Ended(SpanProcessor):
    """Every ended span, sampled or not (exporters only ever see sampled ones)."""

    def __init__(self) -> None:
        self.spans: List[Any] = []

    def on_end(self, span: Any) -> None:
        self.spans.append(span)


def test_recording_but_unsampled_span_gets_content_but_no_event(fake_bedrock, instrument):
    provider = TracerProvider(sampler=_RecordOnly())
    ended = _Ended()
    provider.add_span_processor(ended)
    telemetry = instrument(capture_content="SPAN_AND_EVENT", tracer_provider=provider)
    fake_bedrock.client().converse(modelId=CLAUDE, messages=user("hello"))
    (span,) = ended.spans
    assert not span.context.trace_flags.sampled
    assert json.loads(span.attributes[C.INPUT_MESSAGES])[0]["parts"] == [{"content": "hello", "type": "text"}]
    assert telemetry.events == [], "events only for sampled spans"


def test_abandoned_stream_keeps_partial_output_with_error_finish(fake_bedrock, instrument):
    telemetry = instrument(capture_content="SPAN_ONLY")
    stream = fake_bedrock.client().converse_stream(modelId=NOVA, messages=user("one two three four five"))["stream"]
    for event in stream:
        if "contentBlockDelta" in event:
            break
    (message,) = telemetry.content()[C.OUTPUT_MESSAGES]
    assert message["parts"] == [{"content": "Fake ", "type": "text"}]
    assert message["finish_reason"] == "error"


def test_failed_call_keeps_its_input(fake_bedrock, instrument):
    telemetry = instrument(capture_content="SPAN_ONLY")
    fake_bedrock.enqueue(Reply.throttle())
    with pytest.raises(ClientError):
        fake_bedrock.client().converse(modelId=CLAUDE, messages=user("hello"))
    content = telemetry.content()
    assert content[C.INPUT_MESSAGES][0]["parts"] == [{"content": "hello", "type": "text"}]
    assert C.OUTPUT_MESSAGES not in content


def test_off_streams_never_touch_the_content_reader(fake_bedrock, instrument, monkeypatch):
    def boom(self: Any, event: Any) -> None:
        raise AssertionError("content reader used with capture off")

    monkeypatch.setattr(StreamContent, "feed", boom)
    telemetry = instrument()
    client = fake_bedrock.client()
    list(client.converse_stream(modelId=NOVA, messages=user("hi"))["stream"])
    list(client.invoke_model_with_response_stream(modelId=CLAUDE, body=anthropic_body())["body"])
    assert all(s.attributes["bedrock_otel.stream.end_state"] == "completed" for s in telemetry.spans)


def test_async_stream_content(fake_bedrock, instrument):
    aiobotocore_session = pytest.importorskip("aiobotocore.session")
    import asyncio

    from aiobotocore.config import AioConfig

    telemetry = instrument(capture_content="SPAN_ONLY")

    async def main() -> None:
        config = AioConfig(signature_version="v4", retries={"mode": "standard", "total_max_attempts": 1})
        async with aiobotocore_session.get_session().create_client(
            "bedrock-runtime", region_name="us-east-1", endpoint_url=fake_bedrock.endpoint_url, config=config,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        ) as client:
            response = await client.invoke_model_with_response_stream(
                modelId=LLAMA, body=json.dumps({"prompt": "hello async", "max_gen_len": 50}))
            async for _event in response["body"]:
                pass

    asyncio.run(main())
    content = telemetry.content()
    assert content[C.INPUT_MESSAGES][0]["parts"] == [{"content": "hello async", "type": "text"}]
    assert content[C.OUTPUT_MESSAGES][0]["parts"][0]["content"] == "Fake Bedrock reply to: hello async"


# -- media, redaction, truncation ------------------------------------------------------------------------


def test_media_is_recorded_as_type_and_size_only(fake_bedrock, instrument):
    telemetry = instrument(capture_content="SPAN_AND_EVENT")
    image = b"\x89PNG" + b"\x00" * 20_000
    fake_bedrock.client().converse(modelId=CLAUDE, messages=[{"role": "user", "content": [
        {"text": "Describe"},
        {"image": {"format": "png", "source": {"bytes": image}}},
        {"document": {"format": "pdf", "name": "report", "source": {"bytes": b"%PDF-1.7 secret body"}}},
        {"video": {"format": "mp4", "source": {"s3Location": {"uri": "s3://bucket/clip.mp4"}}}},
    ]}])
    (message,) = telemetry.content()[C.INPUT_MESSAGES]
    assert message["parts"][1:] == [
        {"mime_type": "image/png", "modality": "image", "size": len(image), "type": "blob"},
        {"mime_type": "application/pdf", "modality": "document", "size": 20, "type": "blob"},
        {"mime_type": "video/mp4", "modality": "video", "uri": "s3://bucket/clip.mp4", "type": "uri"},
    ]
    assert "secret body" not in json.dumps(dict(telemetry.span().attributes))
    assert "secret body" not in repr(telemetry.events[0].attributes)


def test_custom_redactor_sees_every_text(fake_bedrock, instrument):
    seen: List[str] = []

    def shout(text: str) -> str:
        seen.append(text)
        return text.upper()

    telemetry = instrument(capture_content="SPAN_ONLY", content_redactor=shout)
    fake_bedrock.client().converse(modelId=CLAUDE, system=[{"text": "be terse"}], messages=_converse_tool_turns(),
                                   toolConfig={"tools": [WEATHER_TOOL]})
    content = telemetry.content()
    for expected in ("be terse", "What is the weather in Paris?", "I should call the tool", "Paris", "sunny",
                     "Thanks, summarise please", "Current weather for a city"):
        assert expected in seen
    strings = _strings(content)
    assert "SUNNY" in strings and "sunny" not in strings
    assert "PARIS" in strings  # tool arguments' string values
    parts = content[C.INPUT_MESSAGES][1]["parts"]
    assert parts[1]["name"] == "get_weather" and parts[1]["id"] == "tooluse_1"  # names and ids are structure


def test_default_redactor(fake_bedrock, instrument):
    telemetry = instrument(capture_content="SPAN_ONLY", content_redactor="default")
    fake_bedrock.client().converse(modelId=CLAUDE, messages=user(
        "I am jane@example.com, +1 415 555 2671, card 4111 1111 1111 1111, key AKIAIOSFODNN7EXAMPLE"))
    text = telemetry.content()[C.INPUT_MESSAGES][0]["parts"][0]["content"]
    assert text == ("I am [REDACTED:email], [REDACTED:phone], card [REDACTED:card_number], "
                    "key [REDACTED:aws_access_key]")
    output = telemetry.content()[C.OUTPUT_MESSAGES][0]["parts"][0]["content"]
    assert "jane@example.com" not in output and "[REDACTED:email]" in output  # the echo is redacted too


def test_failing_redactor_drops_content(fake_bedrock, instrument, caplog):
    def broken(text: str) -> str:
        raise RuntimeError("no")

    telemetry = instrument(capture_content="SPAN_AND_EVENT", content_redactor=broken)
    with caplog.at_level(logging.WARNING):
        fake_bedrock.client().converse(modelId=CLAUDE, messages=user("private"))
    assert not set(C.CONTENT_ATTRIBUTES).intersection(telemetry.span().attributes)
    assert telemetry.events == []
    assert "content dropped" in caplog.text


def test_error_descriptions_are_redacted_and_never_carry_credentials(fake_bedrock, instrument):
    telemetry = instrument(capture_content="SPAN_ONLY", content_redactor="default")
    fake_bedrock.enqueue(Reply.error(400, "ValidationException", "bad input from jane@example.com"),
                         Reply.error(403, "SignatureDoesNotMatch", "The Canonical String for this request should have "
                                     "been\nx-amz-security-token:IQoJb3JpZ2luX2VjEXAMPLETOKENEXAMPLETOKEN"))
    client = fake_bedrock.client()
    for _ in range(2):
        with pytest.raises(ClientError):
            client.converse(modelId=CLAUDE, messages=user("hi"))
    first, second = telemetry.spans
    assert "jane@example.com" not in first.status.description and "[REDACTED:email]" in first.status.description
    assert "IQoJ" not in second.status.description


def test_truncation(fake_bedrock, instrument):
    telemetry = instrument(capture_content="SPAN_ONLY", content_max_length=20)
    fake_bedrock.client().converse(modelId=CLAUDE, messages=_converse_tool_turns("a" * 40))
    content = telemetry.content()
    assert content[C.INPUT_MESSAGES][0]["parts"][0]["content"] == "What is the weather " + C.TRUNCATION_MARKER.format(9)
    response = content[C.INPUT_MESSAGES][2]["parts"][0]["response"]
    encoded = json.dumps([{"json": {"forecast": "a" * 40}}], separators=(",", ":"))
    assert response == encoded[:20] + C.TRUNCATION_MARKER.format(len(encoded) - 20)
    assert content[C.INPUT_MESSAGES][1]["parts"][1]["arguments"] == {"city": "Paris"}  # short enough


# -- the ready redactor ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("mail a.b+c@mail.example.org", "mail [REDACTED:email]"),
    ("AKIAIOSFODNN7EXAMPLE / ASIAY34FZKBOKMUTVV7A", "[REDACTED:aws_access_key] / [REDACTED:aws_access_key]"),
    ("secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY.", "secret [REDACTED:aws_secret_key]."),
    ("sha 3f786850e387550fdab836ed7e6dc881de23001b", "sha 3f786850e387550fdab836ed7e6dc881de23001b"),
    ("4111-1111-1111-1111 vs 4111-1111-1111-1112", "[REDACTED:card_number] vs 4111-1111-1111-1112"),
    ("+44 20 7946 0958 or (415) 555-2671", "[REDACTED:phone] or [REDACTED:phone]"),
    ("on 2024-01-15 at 10:30, 100 200 300 items", "on 2024-01-15 at 10:30, 100 200 300 items"),
    ("Authorization: Bearer abc.def-ghi_jkl", "Authorization: [REDACTED:bearer_token]"),
    ("?X-Amz-Signature=abcdef0123&X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLE",
     "?X-Amz-Signature=[REDACTED:aws_signature]&X-Amz-Security-Token=[REDACTED:aws_signature]"),
])
def test_ready_redactor(text, expected):
    assert redact(text) == expected


def test_redactor_kinds_and_luhn():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert PatternRedactor(kinds=["email"])("x@y.io 4111111111111111") == "[REDACTED:email] 4111111111111111"
    with pytest.raises(ValueError, match="unknown redaction kinds"):
        PatternRedactor(kinds=["ssn"])
    assert scrub_credentials("fine text, jane@example.com") == "fine text, jane@example.com"  # credentials only


def test_nova_stream_with_a_block_per_delta_is_one_text_part():
    """Real Nova InvokeModel streams put each text delta in its own content block (recorded Feb 2025)."""
    from bedrock_otel.models.registry import codec_for

    reader = codec_for(NOVA).stream_content()
    chunks = [{"messageStart": {"role": "assistant"}}]
    for index, text in enumerate(["Sure", "!", " It", " works"]):
        chunks += [{"contentBlockDelta": {"delta": {"text": text}, "contentBlockIndex": index}},
                   {"contentBlockStop": {"contentBlockIndex": index}}]
    chunks += [{"contentBlockStart": {"start": {"toolUse": {"toolUseId": "t-1", "name": "f"}}, "contentBlockIndex": 4}},
               {"contentBlockDelta": {"delta": {"toolUse": {"input": '{"a": 1}'}}, "contentBlockIndex": 4}}]
    for chunk in chunks:
        reader.feed(chunk)
    assert reader.messages() == [{"role": "assistant", "finish_reason": None, "name": None, "parts": [
        {"content": "Sure! It works", "type": "text"},
        {"arguments": {"a": 1}, "name": "f", "id": "t-1", "type": "tool_call"},
    ]}]
