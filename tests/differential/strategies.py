"""Hypothesis strategies: randomized Bedrock call sequences, scripted replies and app behaviours."""

from __future__ import annotations

import base64
import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

from hypothesis import strategies as st

from bedrock_otel.testing.eventstream import chunk_frame, encode_frame, event_frame, exception_frame
from bedrock_otel.testing.fake_server import Reply

from . import other_operations as other
from .scenario import (
    BODY_ENCODINGS,
    CONVERSE,
    CONVERSE_STREAM,
    COUNT_TOKENS,
    INVOKE,
    INVOKE_STREAM,
    STREAMING,
    WITH_MODEL_ID,
    Behaviour,
    BodySpec,
    CallSpec,
    Scenario,
)

# --------------------------------------------------------------------------------------------------
# Model ids: every family the fake server knows, unknown ones, in every form Bedrock accepts
# --------------------------------------------------------------------------------------------------

_KNOWN_IDS = (
    "anthropic.claude-3-haiku-20240307-v1:0",
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic.claude-v2:1",
    "amazon.nova-lite-v1:0",
    "amazon.nova-micro-v1:0",
    "amazon.nova-canvas-v1:0",
    "amazon.nova-2-multimodal-embeddings-v1:0",
    "amazon.titan-text-express-v1",
    "amazon.titan-tg1-large",
    "amazon.titan-embed-text-v2:0",
    "amazon.titan-image-generator-v2:0",
    "meta.llama3-8b-instruct-v1:0",
    "mistral.mistral-7b-instruct-v0:2",
    "mistral.mistral-large-2402-v1:0",
    "cohere.command-text-v14",
    "cohere.command-r-v1:0",
    "cohere.embed-english-v3",
    "ai21.jamba-1-5-mini-v1:0",
    "deepseek.r1-v1:0",
    "openai.gpt-oss-20b-1:0",
    "qwen.qwen3-32b-v1:0",
    "writer.palmyra-x5-v1:0",
    "stability.sd3-5-large-v1:0",
    "acme.unheard-of-model-v1",
)


def _registered_ids() -> List[str]:
    """One made-up id per prefix bedrock-otel registers a codec for (families added later included)."""
    from bedrock_otel.models import registry

    return [prefix + ("" if prefix.endswith((".", "-")) else "-") + "test-model-v1:0"
            for prefix in registry.registered()]


BASE_IDS = tuple(dict.fromkeys(_KNOWN_IDS + tuple(_registered_ids())))
ACCOUNT = "arn:aws:bedrock:us-east-1:123456789012"


def _model_forms(base: str) -> List[str]:
    return [
        base,
        f"us.{base}",
        f"eu.{base}",
        f"global.{base}",
        f"arn:aws:bedrock:us-east-1::foundation-model/{base}",
        f"{ACCOUNT}:inference-profile/us.{base}",
    ]


OPAQUE_IDS = (
    f"{ACCOUNT}:application-inference-profile/a1b2c3d4e5f6",
    f"{ACCOUNT}:provisioned-model/abcdef123456",
    f"{ACCOUNT}:custom-model/amazon.titan-text-express-v1/xyz987",
    f"{ACCOUNT}:imported-model/k2j3h4g5f6",
    "invalid-model-id",  # the fake answers ValidationException
    "not-a-vendor",
)

model_ids = st.one_of(
    st.sampled_from(BASE_IDS).flatmap(lambda base: st.sampled_from(_model_forms(base))),
    st.sampled_from(OPAQUE_IDS),
)

# --------------------------------------------------------------------------------------------------
# Prompts and request bodies
# --------------------------------------------------------------------------------------------------

WORDS = ("hello", "what", "is", "the", "weather", "in", "Paris", "tell", "me", "a", "story", "about",
         "otters", "please", "résumé", "数据", "🙂", "\t", "  ")

prompts = st.one_of(
    st.lists(st.sampled_from(WORDS), min_size=0, max_size=14).map(" ".join),
    st.text(max_size=30),
)
max_tokens = st.one_of(st.none(), st.integers(1, 12), st.integers(200, 4096))
floats01 = st.one_of(st.none(), st.floats(0, 1, allow_nan=False).map(lambda x: round(x, 3)))
stop_sequences = st.one_of(st.none(), st.lists(st.sampled_from(["###", "\n\nHuman:", "END"]), max_size=2))


def _drop_none(mapping: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload).encode("utf-8")


@st.composite
def anthropic_messages_body(draw: Any) -> bytes:
    body: Dict[str, Any] = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": draw(max_tokens) or 256,
        "messages": [{"role": "user", "content": draw(prompts)}],
    }
    body.update(_drop_none({"temperature": draw(floats01), "top_p": draw(floats01),
                            "top_k": draw(st.one_of(st.none(), st.integers(1, 50))),
                            "stop_sequences": draw(stop_sequences)}))
    if draw(st.booleans()):
        body["system"] = draw(prompts)
    if draw(st.booleans()):
        body["tools"] = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    return _dumps(body)


@st.composite
def anthropic_legacy_body(draw: Any) -> bytes:
    return _dumps({"anthropic_version": "bedrock-2023-05-31",
                   "prompt": f"\n\nHuman: {draw(prompts)}\n\nAssistant:",
                   "max_tokens_to_sample": draw(max_tokens) or 100})


@st.composite
def nova_body(draw: Any) -> bytes:
    config = _drop_none({"maxTokens": draw(max_tokens), "temperature": draw(floats01), "topP": draw(floats01),
                         "stopSequences": draw(stop_sequences)})
    body: Dict[str, Any] = {"schemaVersion": "messages-v1",
                            "messages": [{"role": "user", "content": [{"text": draw(prompts)}]}]}
    if config or draw(st.booleans()):
        body["inferenceConfig"] = config
    return _dumps(body)


@st.composite
def titan_body(draw: Any) -> bytes:
    config = _drop_none({"maxTokenCount": draw(max_tokens), "temperature": draw(floats01),
                         "topP": draw(floats01), "stopSequences": draw(stop_sequences)})
    return _dumps({"inputText": draw(prompts), "textGenerationConfig": config})


@st.composite
def generic_body(draw: Any) -> bytes:
    return _dumps(_drop_none({"prompt": draw(prompts), "max_gen_len": draw(max_tokens),
                              "temperature": draw(floats01)}))


MALFORMED_BODIES = (
    b"",
    b"not json at all",
    b"{",
    b"[1, 2, 3]",
    b"42",
    b"null",
    b'"just a string"',
    b"\xff\xfe{\x00",
    b'{"anthropic_version": 1, "max_tokens": "many", "messages": "hi", "stop_sequences": [1, 2]}',
    b'{"schemaVersion": "messages-v1", "inferenceConfig": [1], "messages": []}',
    b'{"inputText": 5, "textGenerationConfig": "hot"}',
    b'{"anthropic_version": "bedrock-2023-05-31", "temperature": true, "top_k": 1e400}',
    ("{" + '"a":{' * 40 + "}" * 41).encode(),
)

@st.composite
def chat_completions_body(draw: Any) -> bytes:  # Mistral, Jamba, DeepSeek, gpt-oss, Qwen, Palmyra
    return _dumps(_drop_none({"messages": [{"role": "user", "content": draw(prompts)}],
                              "max_tokens": draw(max_tokens), "temperature": draw(floats01),
                              "top_p": draw(floats01), "stop": draw(stop_sequences)}))


@st.composite
def cohere_chat_body(draw: Any) -> bytes:
    return _dumps(_drop_none({"message": draw(prompts), "chat_history": [{"role": "USER", "message": "hi"}],
                              "max_tokens": draw(max_tokens), "p": draw(floats01), "k": draw(st.integers(0, 5))}))


@st.composite
def other_shape_body(draw: Any) -> bytes:  # embeddings and images
    text = draw(prompts)
    shape = draw(st.sampled_from([
        {"texts": [text], "input_type": "search_document"},
        {"inputText": text},
        {"taskType": "SINGLE_EMBEDDING", "singleEmbeddingParams": {
            "embeddingPurpose": "GENERIC_INDEX", "text": {"truncationMode": "END", "value": text}}},
        {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": text},
         "imageGenerationConfig": {"numberOfImages": 1, "width": 64, "height": 64}},
        {"text_prompts": [{"text": text}]},
        {"prompt": text, "max_tokens": 20},
    ]))
    return _dumps(shape)


request_payloads = st.one_of(
    anthropic_messages_body(),
    anthropic_legacy_body(),
    nova_body(),
    titan_body(),
    generic_body(),
    chat_completions_body(),
    cohere_chat_body(),
    other_shape_body(),
    st.sampled_from(MALFORMED_BODIES),
)
body_specs = st.builds(BodySpec, encoding=st.sampled_from(BODY_ENCODINGS), payload=request_payloads)


@st.composite
def converse_params(draw: Any) -> Dict[str, Any]:
    content: List[Dict[str, Any]] = [{"text": draw(prompts)}]
    if draw(st.integers(0, 4)) == 0:
        content.append({"cachePoint": {"type": "default"}})
        content.append({"text": draw(prompts)})
    params: Dict[str, Any] = {"messages": [{"role": "user", "content": content}]}
    if draw(st.booleans()):
        params["system"] = [{"text": draw(prompts)}]
    config = _drop_none({"maxTokens": draw(max_tokens), "temperature": draw(floats01), "topP": draw(floats01),
                         "stopSequences": draw(stop_sequences)})
    if config:
        params["inferenceConfig"] = config
    if draw(st.integers(0, 3)) == 0:
        params["additionalModelRequestFields"] = {"top_k": draw(st.integers(1, 100))}
    if draw(st.integers(0, 2)) == 0:
        params["toolConfig"] = {"tools": [{"toolSpec": {"name": "get_weather",
                                                        "inputSchema": {"json": {"type": "object"}}}}]}
    return params


# Parameters botocore rejects before sending (ParamValidationError), or that the fake rejects.
MALFORMED_CONVERSE = (
    {"messages": [{"role": "user"}]},
    {"messages": "hello"},
    {"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"maxTokens": "ten"}},
    {"messages": [{"role": "user", "content": [{"text": "hi"}]}], "bogusParameter": 1},
    {"messages": []},
    {"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"temperature": 7.5}},
)

converse_param_sets = st.one_of(*[converse_params()] * 5, st.sampled_from(MALFORMED_CONVERSE))


@st.composite
def count_tokens_params(draw: Any) -> Dict[str, Any]:
    if draw(st.booleans()):
        return {"input": {"converse": draw(converse_params())}}
    return {"input": {"invokeModel": {"body": draw(request_payloads)}}}


# --------------------------------------------------------------------------------------------------
# Scripted replies
# --------------------------------------------------------------------------------------------------

ERRORS = (
    (400, "ValidationException"),
    (403, "AccessDeniedException"),
    (404, "ResourceNotFoundException"),
    (408, "ModelTimeoutException"),
    (424, "ModelErrorException"),
    (429, "ThrottlingException"),
    (429, "ModelNotReadyException"),
    (500, "InternalServerException"),
    (503, "ServiceUnavailableException"),
    (400, "SomethingBrandNewException"),
)
STREAM_EXCEPTIONS = ("modelStreamErrorException", "throttlingException", "internalServerException",
                     "validationException", "serviceUnavailableException", "somethingBrandNewException")

RAW_REPLIES = (
    (200, b"", None),
    (200, b"not json", None),
    (200, b"{", None),
    (200, b"[]", None),
    (200, b"null", None),
    (200, b"\xff\xfe\x00", None),
    (200, b'{"id": 5, "model": [], "usage": "lots", "stop_reason": {"x": 1}}', None),
    (200, b'{"usage": {"input_tokens": -1, "output_tokens": 2.5}, "stop_reason": ""}', None),
    (200, b'{"results": [{"tokenCount": "3"}, 7], "inputTextTokenCount": true}', None),
    (200, b'{"output": "hi"}', {"x-amzn-bedrock-input-token-count": "abc",
                                "x-amzn-bedrock-output-token-count": "-4",
                                "x-amzn-bedrock-invocation-latency": "1e3"}),
    (200, b'{"stopReason": 7, "usage": {"inputTokens": "x"}, "metrics": {"latencyMs": "slow"}}', None),
    (200, b'{"output": "x"}', {"Content-Type": "application/vnd.amazon.eventstream"}),
    (500, b"<html>oops</html>", {"Content-Type": "text/html"}),
    (400, b'{"message": "bad request"}', None),
    (404, b"", None),
    (200, b'{"content": "' + b"x" * 40_000 + b'"}', None),
)

CONVERSE_EVENT_FRAMES = (
    event_frame("messageStart", {"role": "assistant"}),
    event_frame("contentBlockDelta", {"delta": {"text": "hi "}, "contentBlockIndex": 0}),
    event_frame("contentBlockDelta", {"delta": {"reasoningContent": {"text": "hmm"}}, "contentBlockIndex": 0}),
    event_frame("contentBlockStop", {"contentBlockIndex": 0}),
    event_frame("messageStop", {"stopReason": "end_turn"}),
    event_frame("messageStop", {}),
    event_frame("metadata", {"usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5},
                             "metrics": {"latencyMs": 12}}),
    event_frame("metadata", {"usage": {"inputTokens": "three"}, "metrics": {"latencyMs": None}}),
    event_frame("metadata", {}),
    event_frame("surpriseEvent", {"x": 1}),
    encode_frame({":event-type": "contentBlockDelta", ":content-type": "application/json",
                  ":message-type": "event"}, b"not json"),
)


def _chunk_bytes(data: bytes) -> bytes:
    return event_frame("chunk", {"bytes": base64.b64encode(data).decode("ascii")})


MODEL_CHUNK_FRAMES = (
    chunk_frame({"type": "message_start", "message": {"id": "msg_1", "model": "claude-x",
                                                      "usage": {"input_tokens": 4, "output_tokens": 1}}}),
    chunk_frame({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}}),
    chunk_frame({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}}),
    chunk_frame({"type": "message_stop", "amazon-bedrock-invocationMetrics": {
        "inputTokenCount": 4, "outputTokenCount": 3, "invocationLatency": 20, "firstByteLatency": 5}}),
    chunk_frame({"contentBlockDelta": {"delta": {"text": "hi"}, "contentBlockIndex": 0}}),
    chunk_frame({"messageStop": {"stopReason": "end_turn"}}),
    chunk_frame({"metadata": {"usage": {"inputTokens": 2, "outputTokens": 1}}}),
    chunk_frame({"outputText": "hi", "completionReason": "FINISH", "inputTextTokenCount": 3,
                 "totalOutputTextTokenCount": 1}),
    chunk_frame({"output": "generic"}),
    chunk_frame({"surprise": True}),
    chunk_frame({"amazon-bedrock-invocationMetrics": {"inputTokenCount": "x", "invocationLatency": None}}),
    chunk_frame({"amazon-bedrock-invocationMetrics": [1, 2]}),
    chunk_frame({"type": "message_start", "message": "not a dict"}),
    chunk_frame({"type": "message_delta", "delta": [], "usage": 5}),
    _chunk_bytes(b"not json"),
    _chunk_bytes(b"[1, 2]"),
    _chunk_bytes(b"null"),
    _chunk_bytes(b"\xff\xfe"),
    event_frame("chunk", {}),
    event_frame("chunk", {"bytes": "!!!not base64"}),
    event_frame("somethingElse", {"bytes": "aGk="}),
)

TROUBLE_FRAMES = (
    exception_frame("throttlingException", "Slow down (in-stream)."),
    exception_frame("somethingBrandNewException", "New kind of failure."),
    encode_frame({":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"}, b""),
    event_frame("messageStart", {"role": "assistant"})[:-1] + b"\x00",  # bad message CRC
    event_frame("messageStart", {"role": "assistant"})[:-6],  # truncated frame at the end of the stream
)


def _frames_for(operation: str) -> Any:
    main = CONVERSE_EVENT_FRAMES if operation == CONVERSE_STREAM else MODEL_CHUNK_FRAMES
    other = MODEL_CHUNK_FRAMES if operation == CONVERSE_STREAM else CONVERSE_EVENT_FRAMES
    frame = st.one_of(st.sampled_from(main), st.sampled_from(main), st.sampled_from(TROUBLE_FRAMES),
                      st.sampled_from(other))
    return st.lists(frame, max_size=7)


small_delays = st.one_of(st.just(0.0), st.just(0.0), st.just(0.0), st.sampled_from([0.001, 0.003]))


def reply_for(operation: str) -> Any:
    options = [
        st.builds(lambda sc, d: Reply.error(sc[0], sc[1], "Scripted error.", delay=d),
                  st.sampled_from(ERRORS), small_delays),
        st.builds(lambda d: Reply.throttle(delay=d), small_delays),
        st.builds(lambda raw, d: Reply.raw(raw[0], raw[1], raw[2], delay=d), st.sampled_from(RAW_REPLIES),
                  small_delays),
        st.builds(lambda text, stop, tokens: Reply.text(text, stop, tokens, None), prompts,
                  st.sampled_from([None, "end_turn", "max_tokens", "stop_sequence", "guardrail_intervened"]),
                  st.one_of(st.none(), st.integers(0, 50))),
        st.builds(lambda after, kind, d: Reply.stream_error(after, kind, delay=d), st.integers(0, 8),
                  st.sampled_from(STREAM_EXCEPTIONS), small_delays),
        st.builds(lambda after: Reply.drop(after), st.integers(0, 8)),
    ]
    if operation in other.OPERATIONS:
        options += other.extra_replies_for(operation, TROUBLE_FRAMES)
    elif operation in STREAMING:
        options.append(st.builds(lambda frames: Reply.events(frames), _frames_for(operation)))
        options.append(st.builds(lambda frames: Reply.events(frames), _frames_for(operation)))
    else:
        options.append(st.builds(lambda frames: Reply.events(frames), st.lists(
            st.sampled_from(CONVERSE_EVENT_FRAMES + MODEL_CHUNK_FRAMES), max_size=2)))
    return st.one_of(*options)


def replies_for(operation: str) -> Any:
    return st.one_of(
        st.just(()),
        st.just(()),
        st.lists(reply_for(operation), min_size=1, max_size=1).map(tuple),
        st.lists(reply_for(operation), min_size=1, max_size=1).map(tuple),
        st.lists(reply_for(operation), min_size=2, max_size=3).map(tuple),
    )


# --------------------------------------------------------------------------------------------------
# Application behaviours
# --------------------------------------------------------------------------------------------------

BODY_BEHAVIOURS: Sequence[Tuple[str, bool]] = (  # (kind, takes an amount)
    ("read", False), ("read_twice", False), ("read_chunks", True), ("iter_chunks", True), ("iter_lines", False),
    ("iterate", False), ("readinto", True), ("readinto_view", True), ("readlines", False),
    ("partial_close", True), ("close_read", False), ("with_raw", False), ("abandon", False),
    ("partial_abandon", True), ("read_neg", False), ("next_close", False), ("readline_rest", False),
    ("read_zero", False), ("json_load", False), ("buffered_reader", True), ("text_wrapper", False),
    ("copyfileobj", False),
)
STREAM_BEHAVIOURS: Sequence[Tuple[str, bool]] = (
    ("consume", False), ("consume", False), ("break_resume", True), ("break_abandon", True),
    ("break_close", True), ("close_first", False), ("consume_close", False), ("abandon", False),
    ("iterate_twice", False), ("next_manual", True), ("app_raises", True), ("interleaved", True),
    ("throw", True),
)


def behaviours(table: Sequence[Tuple[str, bool]]) -> Any:
    def build(entry: Tuple[str, bool], amount: int) -> Behaviour:
        return Behaviour(entry[0], amount if entry[1] else 0)

    return st.builds(build, st.sampled_from(table), st.sampled_from([0, 1, 2, 3, 5, 7, 64, 1000, 4096]))


def behaviour_for(operation: str) -> Any:
    if operation == INVOKE:
        return behaviours(BODY_BEHAVIOURS)
    if operation in STREAMING:
        return behaviours(STREAM_BEHAVIOURS)
    return st.just(Behaviour())


# --------------------------------------------------------------------------------------------------
# Calls and scenarios
# --------------------------------------------------------------------------------------------------

MODEL_OPERATIONS = (CONVERSE, CONVERSE_STREAM, INVOKE, INVOKE_STREAM, COUNT_TOKENS)
OPERATIONS = MODEL_OPERATIONS + other.OPERATIONS
# Model calls (the most varied inputs and replies) get about two thirds of the cases, the rest one third;
# among them, the streams and InvokeModel twice Converse's and CountTokens' share.
_MODEL_CALLS = st.sampled_from((CONVERSE, CONVERSE_STREAM, CONVERSE_STREAM, INVOKE, INVOKE, INVOKE_STREAM,
                                INVOKE_STREAM, COUNT_TOKENS))
OPERATION_WEIGHTS = st.one_of(_MODEL_CALLS, _MODEL_CALLS, st.sampled_from(other.OPERATIONS))


@st.composite
def calls(draw: Any, operation: Optional[str] = None, body_encodings: Sequence[str] = BODY_ENCODINGS) -> CallSpec:
    op = operation or draw(OPERATION_WEIGHTS)
    model = draw(model_ids)
    params: Dict[str, Any] = {}
    body: Optional[BodySpec] = None
    if op in (CONVERSE, CONVERSE_STREAM):
        params = draw(converse_param_sets)
    elif op in (INVOKE, INVOKE_STREAM):
        encodings = tuple(body_encodings)
        encoding = draw(st.sampled_from(encodings)) if draw(st.booleans()) else "bytes"
        body = BodySpec(encoding, draw(request_payloads))
        if draw(st.integers(0, 5)) == 0:
            params = {"contentType": "application/json", "accept": draw(st.sampled_from(["application/json", "*/*"]))}
    elif op == COUNT_TOKENS:
        params = draw(count_tokens_params())
    else:
        params = draw(other.params_for(op, prompts))
    if op in WITH_MODEL_ID and draw(st.integers(0, 30)) == 0:  # ids botocore itself rejects or not strings
        model = draw(st.sampled_from(["", 12345, "a" * 3000]))
    return CallSpec(
        operation=op,
        model_id=model,
        params=params,
        body=body,
        replies=draw(replies_for(op)),
        attempts=draw(st.sampled_from([1, 1, 1, 2, 3])),
        unsigned=draw(st.integers(0, 4)) == 0,
        latency=draw(st.sampled_from([0.0, 0.0, 0.0, 0.0, 0.002])),
        event_delay=draw(st.sampled_from([0.0, 0.0, 0.0, 0.001, 0.003])) if op in STREAMING else 0.0,
        behaviour=draw(behaviour_for(op)),
    )


def scenarios(max_calls: int = 3, **call_options: Any) -> Any:
    return st.lists(calls(**call_options), min_size=1, max_size=max_calls).map(lambda cs: Scenario(tuple(cs)))
