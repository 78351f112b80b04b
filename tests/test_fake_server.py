"""Tests of the fake Bedrock Runtime with plain boto3 (no instrumentation involved)."""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterator, List

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from botocore.exceptions import BotoCoreError, ClientError, EventStreamError
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from bedrock_otel.testing import responders
from bedrock_otel.testing.eventstream import (
    chunk_frame,
    encode_frame,
    event_frame,
    exception_frame,
)
from bedrock_otel.testing.fake_server import FakeBedrock, Reply
from bedrock_otel.testing.responders import (
    TOOL_INPUT,
    FakeReply,
    ModelFamily,
    Prompt,
    converse_reply,
    count_words,
    invoke_reply,
    reply_text,
    resolve_model,
)

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "us.amazon.nova-lite-v1:0"
TITAN = "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1"
UNKNOWN = "twelvelabs.pegasus-1-2-v1:0"  # a real model the fake has no family for

WEATHER_TOOL = {
    "tools": [
        {
            "toolSpec": {
                "name": "get_weather",
                "description": "Current weather for a place.",
                "inputSchema": {"json": {"type": "object", "properties": {"location": {"type": "string"}}}},
            }
        }
    ]
}


def user(text: str) -> List[Dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeBedrock]:
    with FakeBedrock() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeBedrock) -> FakeBedrock:
    server.reset()
    return server


@pytest.fixture(scope="module")
def client(server: FakeBedrock) -> Iterator[Any]:
    c = server.client()
    yield c
    c.close()


def chunks_of(response: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [json.loads(event["chunk"]["bytes"]) for event in response["body"]]


# --------------------------------------------------------------------------------------------------
# Event-stream framing
# --------------------------------------------------------------------------------------------------


def decode_all(data: bytes, step: int = 0) -> List[Any]:
    buffer = EventStreamBuffer()
    messages: List[Any] = []
    pieces = [data[i : i + step] for i in range(0, len(data), step)] if step else [data]
    for piece in pieces:
        buffer.add_data(piece)
        messages.extend(buffer)
    return messages


def test_encode_frame_round_trips_through_botocore() -> None:
    headers = {":event-type": "chunk", "x-custom": "välue", ":message-type": "event"}
    payload = b'{"hello": "world"}'
    frame = encode_frame(headers, payload)

    total_len, headers_len = struct.unpack(">II", frame[:8])
    assert total_len == len(frame)
    (message,) = decode_all(frame)
    assert message.headers == headers
    assert message.payload == payload
    assert message.prelude.total_length == len(frame)
    assert message.prelude.headers_length == headers_len
    assert message.prelude.crc == struct.unpack(">I", frame[8:12])[0]
    assert message.crc == struct.unpack(">I", frame[-4:])[0]


def test_helper_frames_round_trip_incrementally() -> None:
    frames = [
        event_frame("messageStart", {"role": "assistant"}),
        exception_frame("throttlingException", "slow down"),
        chunk_frame({"outputText": "hi", "index": 0}),
        encode_frame({}, b""),
    ]
    messages = decode_all(b"".join(frames), step=7)  # split mid-frame to exercise buffering
    assert len(messages) == 4
    start, exc, chunk, empty = messages
    assert start.headers == {
        ":event-type": "messageStart",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(start.payload) == {"role": "assistant"}
    assert exc.headers[":exception-type"] == "throttlingException"
    assert exc.headers[":message-type"] == "exception"
    assert json.loads(exc.payload) == {"message": "slow down"}
    assert chunk.headers[":event-type"] == "chunk"
    assert json.loads(base64.b64decode(json.loads(chunk.payload)["bytes"])) == {"outputText": "hi", "index": 0}
    assert empty.headers == {} and empty.payload == b""


def test_corrupted_frame_is_rejected_by_botocore() -> None:
    frame = bytearray(event_frame("messageStop", {"stopReason": "end_turn"}))
    frame[-6] ^= 0xFF  # flip a payload byte: the message CRC must no longer match
    with pytest.raises(ChecksumMismatch):
        decode_all(bytes(frame))


# --------------------------------------------------------------------------------------------------
# Deterministic rules and model resolution
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "base", "family"),
    [
        ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0", "anthropic"),
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic"),
        ("global.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-sonnet-4-20250514-v1:0", "anthropic"),
        ("us-gov.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0", "amazon.nova"),
        ("apac.amazon.nova-micro-v1:0", "amazon.nova-micro-v1:0", "amazon.nova"),
        ("amazon.titan-text-lite-v1", "amazon.titan-text-lite-v1", "amazon.titan-text"),
        (TITAN, "amazon.titan-text-express-v1", "amazon.titan-text"),
        (
            "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "anthropic",
        ),
        ("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123", "", "unknown"),
        ("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/xyz", "", "unknown"),
        ("arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1/x", "", "unknown"),
        ("arn:aws:bedrock:us-east-1:123456789012:imported-model/abc", "", "unknown"),
        ("amazon.titan-embed-text-v2:0", "amazon.titan-embed-text-v2:0", "amazon.titan-embed"),
        ("amazon.nova-canvas-v1:0", "amazon.nova-canvas-v1:0", "amazon.nova-canvas"),
        ("us.meta.llama4-scout-17b-instruct-v1:0", "meta.llama4-scout-17b-instruct-v1:0", "meta.llama"),
        ("mistral.mistral-7b-instruct-v0:2", "mistral.mistral-7b-instruct-v0:2", "mistral"),
        ("cohere.command-light-text-v14", "cohere.command-light-text-v14", "cohere.command"),
        ("cohere.command-r-plus-v1:0", "cohere.command-r-plus-v1:0", "cohere.command-r"),
        ("stability.sd3-5-large-v1:0", "stability.sd3-5-large-v1:0", "stability"),
        (UNKNOWN, UNKNOWN, "unknown"),
    ],
)
def test_resolve_model(model_id: str, base: str, family: str) -> None:
    ref = resolve_model(model_id)
    assert (ref.base_id, ref.family) == (base, family)


def test_reply_rules() -> None:
    assert reply_text("  What   is\nthe answer to everything in the universe, really?") == (
        "Fake Bedrock reply to: What is the answer to everything in"  # 40 chars incl. whitespace
    )
    reply = FakeReply(text="Fake Bedrock reply to: hi", input_tokens=1, output_tokens=5)
    assert reply.pieces == ["Fake ", "Bedrock ", "reply ", "to: ", "hi"]
    assert "".join(reply.pieces) == reply.text
    assert count_words("a b", " c\n") == 3
    # minimum of one input token even when there is no text at all
    assert converse_reply({"messages": []}).input_tokens == 1


# --------------------------------------------------------------------------------------------------
# Converse
# --------------------------------------------------------------------------------------------------


def test_converse_text(fake: FakeBedrock, client: Any) -> None:
    request = {
        "system": [{"text": "You are terse."}],
        "messages": user("What is the capital of France?"),
        "inferenceConfig": {"maxTokens": 100, "temperature": 0.2},
    }
    response = client.converse(modelId=CLAUDE, **request)

    text = "Fake Bedrock reply to: What is the capital of France?"
    assert response["output"]["message"] == {"role": "assistant", "content": [{"text": text}]}
    assert response["stopReason"] == "end_turn"
    assert response["usage"] == {"inputTokens": 9, "outputTokens": 10, "totalTokens": 19}
    assert response["metrics"]["latencyMs"] >= 1
    assert converse_reply(request).text == text

    (recorded,) = fake.requests
    assert recorded.operation == "Converse"
    assert recorded.method == "POST"
    assert recorded.model_id == CLAUDE
    assert recorded.path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    assert recorded.json["inferenceConfig"] == {"maxTokens": 100, "temperature": 0.2}
    assert recorded.header("content-type") == "application/json"
    assert response["ResponseMetadata"]["RequestId"]


def test_converse_assistant_turns_are_not_input(client: Any) -> None:
    messages = [
        *user("one two"),
        {"role": "assistant", "content": [{"text": "three four five"}]},
        *user("six"),
    ]
    response = client.converse(modelId=NOVA, messages=messages)
    assert response["usage"]["inputTokens"] == 3
    assert response["output"]["message"]["content"][0]["text"] == "Fake Bedrock reply to: six"


def test_converse_max_tokens_truncates(client: Any) -> None:
    response = client.converse(modelId=CLAUDE, messages=user("Tell me a long story"), inferenceConfig={"maxTokens": 3})
    assert response["output"]["message"]["content"] == [{"text": "Fake Bedrock reply"}]
    assert response["stopReason"] == "max_tokens"
    assert response["usage"]["outputTokens"] == 3


def test_converse_tool_use_and_tool_result_round(client: Any) -> None:
    question = user("What is the weather in Seattle?")
    response = client.converse(modelId=CLAUDE, messages=question, toolConfig=WEATHER_TOOL)

    assert response["stopReason"] == "tool_use"
    text_block, tool_block = response["output"]["message"]["content"]
    tool_use = tool_block["toolUse"]
    assert tool_use["name"] == "get_weather"
    assert tool_use["input"] == TOOL_INPUT
    assert tool_use["toolUseId"].startswith("tooluse_")
    expected = converse_reply({"messages": question, "toolConfig": WEATHER_TOOL})
    assert text_block["text"] == expected.text
    assert response["usage"]["outputTokens"] == count_words(expected.text) + 2 == expected.output_tokens

    # Answering with a tool result (no user text) ends the loop with a normal reply.
    follow_up = [
        *question,
        response["output"]["message"],
        {
            "role": "user",
            "content": [{"toolResult": {"toolUseId": tool_use["toolUseId"], "content": [{"json": {"temp_f": 61}}]}}],
        },
    ]
    final = client.converse(modelId=CLAUDE, messages=follow_up, toolConfig=WEATHER_TOOL)
    assert final["stopReason"] == "end_turn"
    assert final["output"]["message"]["content"] == [{"text": "Fake Bedrock reply to:"}]


def test_converse_without_tools_ignores_trigger_word(client: Any) -> None:
    response = client.converse(modelId=CLAUDE, messages=user("weather please"))
    assert response["stopReason"] == "end_turn"


def test_converse_cache_point_writes_then_reads(fake: FakeBedrock, client: Any) -> None:
    request = {
        "system": [{"text": "A long and stable system prompt"}, {"cachePoint": {"type": "default"}}],
        "messages": user("hi there"),
    }
    first = client.converse(modelId=CLAUDE, **request)["usage"]
    output = count_words(reply_text("hi there"))
    assert first == {
        "inputTokens": 2,
        "outputTokens": output,
        "totalTokens": 2 + output + 6,
        "cacheReadInputTokens": 0,
        "cacheWriteInputTokens": 6,
    }
    second = client.converse(modelId=CLAUDE, **request)["usage"]
    assert (second["cacheReadInputTokens"], second["cacheWriteInputTokens"]) == (6, 0)
    # another model has its own cache
    other = client.converse(modelId=NOVA, **request)["usage"]
    assert other["cacheWriteInputTokens"] == 6

    fake.reset()
    again = client.converse(modelId=CLAUDE, **request)["usage"]
    assert again["cacheWriteInputTokens"] == 6


def test_converse_cache_point_in_messages_counts_prefix(client: Any) -> None:
    messages = [{"role": "user", "content": [{"text": "a b c d"}, {"cachePoint": {"type": "default"}}]}]
    usage = client.converse(modelId=CLAUDE, messages=messages)["usage"]
    assert usage["cacheWriteInputTokens"] == 4
    assert usage["inputTokens"] == 0


# --------------------------------------------------------------------------------------------------
# ConverseStream
# --------------------------------------------------------------------------------------------------


def test_converse_stream_events(client: Any) -> None:
    request = {"system": [{"text": "Be brief"}], "messages": user("Hello streaming world")}
    response = client.converse_stream(modelId=NOVA, **request)
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    events = list(response["stream"])

    expected = converse_reply(request)
    kinds = [next(iter(event)) for event in events]
    assert kinds == ["messageStart"] + ["contentBlockDelta"] * len(expected.pieces) + [
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert events[0]["messageStart"] == {"role": "assistant"}
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == expected.text == "Fake Bedrock reply to: Hello streaming world"
    assert events[1]["contentBlockDelta"] == {"delta": {"text": "Fake "}, "contentBlockIndex": 0}
    assert events[-2]["messageStop"] == {"stopReason": "end_turn"}
    metadata = events[-1]["metadata"]
    assert metadata["usage"] == {"inputTokens": 5, "outputTokens": 7, "totalTokens": 12}
    assert metadata["metrics"]["latencyMs"] >= 1


def test_converse_stream_tool_use(client: Any) -> None:
    response = client.converse_stream(modelId=CLAUDE, messages=user("weather in Paris?"), toolConfig=WEATHER_TOOL)
    events = list(response["stream"])
    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    assert start["contentBlockIndex"] == 1
    assert start["start"]["toolUse"]["name"] == "get_weather"
    assert start["start"]["toolUse"]["toolUseId"].startswith("tooluse_")
    fragments = [
        e["contentBlockDelta"]["delta"]["toolUse"]["input"]
        for e in events
        if "contentBlockDelta" in e and e["contentBlockDelta"]["contentBlockIndex"] == 1
    ]
    assert len(fragments) == 2
    assert json.loads("".join(fragments)) == TOOL_INPUT
    assert [e["messageStop"]["stopReason"] for e in events if "messageStop" in e] == ["tool_use"]


# --------------------------------------------------------------------------------------------------
# InvokeModel per family
# --------------------------------------------------------------------------------------------------


def anthropic_body(text: str, max_tokens: int = 200) -> Dict[str, Any]:
    return {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": max_tokens,
        "system": "You are a fake.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
        "temperature": 0.5,
    }


def nova_body(text: str, max_tokens: int = 200) -> Dict[str, Any]:
    return {
        "schemaVersion": "messages-v1",
        "system": [{"text": "You are a fake."}],
        "messages": user(text),
        "inferenceConfig": {"maxTokens": max_tokens, "topP": 0.9},
    }


def titan_body(text: str, max_tokens: int = 200) -> Dict[str, Any]:
    return {"inputText": text, "textGenerationConfig": {"maxTokenCount": max_tokens, "temperature": 0}}


def generic_body(text: str, max_tokens: int = 200) -> Dict[str, Any]:
    return {"prompt": f"<s>[INST] {text} [/INST]", "max_tokens": max_tokens}


def test_invoke_model_anthropic(fake: FakeBedrock, client: Any) -> None:
    response = client.invoke_model(modelId=CLAUDE, body=json.dumps(anthropic_body("Hi Claude")))
    body = json.loads(response["body"].read())
    assert response["contentType"] == "application/json"
    assert body["id"].startswith("msg_bdrk_")
    assert body["type"] == "message" and body["role"] == "assistant"
    assert body["model"] == "claude-3-haiku-20240307"
    assert body["content"] == [{"type": "text", "text": "Fake Bedrock reply to: Hi Claude"}]
    assert body["stop_reason"] == "end_turn" and body["stop_sequence"] is None
    assert body["usage"] == {"input_tokens": 6, "output_tokens": 6}  # system 4 words + user 2
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-bedrock-input-token-count"] == "6"
    assert headers["x-amzn-bedrock-output-token-count"] == "6"
    assert int(headers["x-amzn-bedrock-invocation-latency"]) >= 1
    assert fake.requests[-1].operation == "InvokeModel"


def test_invoke_model_anthropic_tool_use(client: Any) -> None:
    body = anthropic_body("What's the weather like?")
    body["tools"] = [{"name": "lookup_weather", "input_schema": {"type": "object"}}]
    result = json.loads(client.invoke_model(modelId=CLAUDE, body=json.dumps(body))["body"].read())
    assert result["stop_reason"] == "tool_use"
    tool = result["content"][1]
    assert tool["type"] == "tool_use" and tool["name"] == "lookup_weather" and tool["input"] == TOOL_INPUT
    assert tool["id"].startswith("toolu_bdrk_")


def test_invoke_model_nova_with_prefix(fake: FakeBedrock, client: Any) -> None:
    response = client.invoke_model(modelId=NOVA, body=json.dumps(nova_body("Hello Nova")))
    body = json.loads(response["body"].read())
    assert body == {
        "output": {"message": {"role": "assistant", "content": [{"text": "Fake Bedrock reply to: Hello Nova"}]}},
        "stopReason": "end_turn",
        "usage": {
            "inputTokens": 6,
            "outputTokens": 6,
            "totalTokens": 12,
            "cacheReadInputTokenCount": 0,
            "cacheWriteInputTokenCount": 0,
        },
    }
    assert fake.requests[-1].model_id == NOVA


def test_invoke_model_titan_arn_is_percent_decoded(fake: FakeBedrock, client: Any) -> None:
    response = client.invoke_model(modelId=TITAN, body=json.dumps(titan_body("User: hi\nBot:")))
    body = json.loads(response["body"].read())
    assert body == {
        "inputTextTokenCount": 3,
        "results": [
            {"tokenCount": 7, "outputText": "Fake Bedrock reply to: User: hi Bot:", "completionReason": "FINISH"}
        ],
    }
    recorded = fake.requests[-1]
    assert recorded.model_id == TITAN
    assert "%3A" in recorded.path and "%2F" in recorded.path and "/" not in recorded.path[len("/model/") : -7]


def test_invoke_model_unknown_family(client: Any) -> None:
    response = client.invoke_model(modelId=UNKNOWN, body=json.dumps(generic_body("Bonjour")))
    assert json.loads(response["body"].read()) == {"output": "Fake Bedrock reply to: <s>[INST] Bonjour [/INST]"}
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-bedrock-input-token-count"] == "3"
    assert headers["x-amzn-bedrock-output-token-count"] == "7"


def test_invoke_model_application_profile_is_unknown_family(client: Any) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3"
    response = client.invoke_model(modelId=arn, body=json.dumps(anthropic_body("x")))
    assert json.loads(response["body"].read()) == {"output": "Fake Bedrock reply to: x"}


@pytest.mark.parametrize(
    ("model_id", "make_body", "expected"),
    [
        (CLAUDE, anthropic_body, lambda b: (b["content"][0]["text"], b["stop_reason"])),
        (NOVA, nova_body, lambda b: (b["output"]["message"]["content"][0]["text"], b["stopReason"])),
        (TITAN, titan_body, lambda b: (b["results"][0]["outputText"], b["results"][0]["completionReason"])),
    ],
)
def test_invoke_model_max_tokens(client: Any, model_id: str, make_body: Any, expected: Any) -> None:
    response = client.invoke_model(modelId=model_id, body=json.dumps(make_body("long question", max_tokens=2)))
    text, reason = expected(json.loads(response["body"].read()))
    assert text == "Fake Bedrock"
    assert reason in ("max_tokens", "LENGTH")
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-output-token-count"] == "2"


# --------------------------------------------------------------------------------------------------
# InvokeModelWithResponseStream per family
# --------------------------------------------------------------------------------------------------


def assert_metrics_only_last(chunks: List[Dict[str, Any]], reply: FakeReply) -> None:
    key = "amazon-bedrock-invocationMetrics"
    assert all(key not in chunk for chunk in chunks[:-1])
    metrics = chunks[-1][key]
    assert metrics["inputTokenCount"] == reply.input_tokens
    assert metrics["outputTokenCount"] == reply.output_tokens
    assert 1 <= metrics["firstByteLatency"] <= metrics["invocationLatency"]


def test_stream_anthropic(client: Any) -> None:
    body = anthropic_body("Stream please")
    response = client.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(body))
    assert response["contentType"] == "application/json"
    chunks = chunks_of(response)
    expected = invoke_reply(CLAUDE, body)
    types = [c["type"] for c in chunks]
    assert types == ["message_start", "content_block_start"] + ["content_block_delta"] * len(expected.pieces) + [
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = chunks[0]["message"]
    assert start["usage"] == {"input_tokens": 6, "output_tokens": 1}
    assert start["model"] == "claude-3-haiku-20240307" and start["content"] == []
    assert "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta") == expected.text
    assert chunks[-2]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert chunks[-2]["usage"] == {"output_tokens": expected.output_tokens}
    assert_metrics_only_last(chunks, expected)


def test_stream_nova(client: Any) -> None:
    body = nova_body("Stream nova")
    chunks = chunks_of(client.invoke_model_with_response_stream(modelId=NOVA, body=json.dumps(body)))
    expected = invoke_reply(NOVA, body)
    assert chunks[0] == {"messageStart": {"role": "assistant"}}
    deltas = [c["contentBlockDelta"] for c in chunks if "contentBlockDelta" in c]
    assert "".join(d["delta"]["text"] for d in deltas) == expected.text
    assert {"contentBlockStop": {"contentBlockIndex": 0}} in chunks
    assert {"messageStop": {"stopReason": "end_turn"}} in chunks
    assert chunks[-1]["metadata"]["usage"] == {"inputTokens": 6, "outputTokens": expected.output_tokens}
    assert_metrics_only_last(chunks, expected)


def test_stream_titan(client: Any) -> None:
    body = titan_body("one two three")
    chunks = chunks_of(client.invoke_model_with_response_stream(modelId=TITAN, body=json.dumps(body)))
    expected = invoke_reply(TITAN, body)
    assert "".join(c["outputText"] for c in chunks) == expected.text
    assert [c["completionReason"] for c in chunks] == [None] * (len(chunks) - 1) + ["FINISH"]
    assert [c["totalOutputTextTokenCount"] for c in chunks] == list(range(1, len(chunks) + 1))
    assert all(c["inputTextTokenCount"] == 3 for c in chunks)
    assert_metrics_only_last(chunks, expected)


def test_stream_unknown_family(client: Any) -> None:
    body = generic_body("hey")
    chunks = chunks_of(client.invoke_model_with_response_stream(modelId=UNKNOWN, body=json.dumps(body)))
    expected = invoke_reply(UNKNOWN, body)
    assert [c["output"] for c in chunks] == expected.pieces
    assert_metrics_only_last(chunks, expected)


def test_stream_llama_keys_and_running_counts(client: Any) -> None:
    model, body = "meta.llama3-8b-instruct-v1:0", {"prompt": "one two three", "max_gen_len": 50}
    chunks = chunks_of(client.invoke_model_with_response_stream(modelId=model, body=json.dumps(body)))
    expected = invoke_reply(model, body)
    assert "".join(c["generation"] for c in chunks) == expected.text
    assert [c["prompt_token_count"] for c in chunks] == [3] + [None] * (len(chunks) - 1)
    assert chunks[-1]["generation_token_count"] == expected.output_tokens
    assert [c["stop_reason"] for c in chunks] == [None] * (len(chunks) - 1) + ["stop"]
    assert_metrics_only_last(chunks, expected)


def test_chat_completions_family_body_and_stream(client: Any) -> None:
    model = "openai.gpt-oss-20b-1:0"
    body = {"messages": [{"role": "user", "content": "hello there"}], "max_completion_tokens": 3}
    result = json.loads(client.invoke_model(modelId=model, body=json.dumps(body))["body"].read())
    assert result["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "Fake Bedrock reply"},
                                  "finish_reason": "length"}]
    assert result["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    chunks = chunks_of(client.invoke_model_with_response_stream(modelId=model, body=json.dumps(body)))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Fake Bedrock reply"
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_image_family_has_no_text_and_streams_one_chunk(client: Any) -> None:
    model = "amazon.nova-canvas-v1:0"
    body = {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a red fox"},
            "imageGenerationConfig": {"numberOfImages": 3}}
    response = client.invoke_model(modelId=model, body=json.dumps(body))
    assert json.loads(response["body"].read()) == {"images": [responders.FAKE_IMAGE_BASE64] * 3}
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert (headers["x-amzn-bedrock-input-token-count"], headers["x-amzn-bedrock-output-token-count"]) == ("3", "0")
    assert not responders.family_named("amazon.nova-canvas").streaming  # Bedrock refuses; the fake sends the body
    (chunk,) = chunks_of(client.invoke_model_with_response_stream(modelId=model, body=json.dumps(body)))
    assert chunk["images"] == [responders.FAKE_IMAGE_BASE64] * 3
    assert chunk["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 0


# --------------------------------------------------------------------------------------------------
# CountTokens, validation, errors
# --------------------------------------------------------------------------------------------------


def test_count_tokens(fake: FakeBedrock, client: Any) -> None:
    converse_input = {"converse": {"system": [{"text": "sys one"}], "messages": user("a b c")}}
    assert client.count_tokens(modelId=CLAUDE, input=converse_input)["inputTokens"] == 5
    invoke_input = {"invokeModel": {"body": json.dumps(anthropic_body("four words right here"))}}
    assert client.count_tokens(modelId=CLAUDE, input=invoke_input)["inputTokens"] == 8
    assert [r.operation for r in fake.requests] == ["CountTokens", "CountTokens"]


def test_invalid_model_id(client: Any) -> None:
    with pytest.raises(ClientError) as info:
        client.converse(modelId="invalid-model", messages=user("hi"))
    error = info.value.response
    assert error["Error"]["Code"] == "ValidationException"
    assert error["Error"]["Message"] == "The provided model identifier is invalid."
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400

    with pytest.raises(ClientError) as info:
        client.invoke_model_with_response_stream(modelId="invalid.x", body=b"{}")
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_malformed_request_body(client: Any) -> None:
    with pytest.raises(ClientError) as info:
        client.invoke_model(modelId=CLAUDE, body=b"{not json")
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unknown_route_is_404(fake: FakeBedrock) -> None:
    host, port = fake.endpoint_url[len("http://") :].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("POST", "/model/x/bogus", body=b"{}", headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        body = json.loads(response.read())
        assert response.status == 404
        assert response.getheader("x-amzn-ErrorType").startswith("UnknownOperationException:")
        assert "message" in body
        # keep-alive: the same connection serves the next request
        conn.request("GET", "/guardrail", headers={"Content-Length": "0"})
        second = conn.getresponse()
        second.read()
        assert second.status == 404
    finally:
        conn.close()
    assert [r.operation for r in fake.requests] == [None, None]


def test_scripted_error(fake: FakeBedrock, client: Any) -> None:
    fake.enqueue(Reply.error(403, "AccessDeniedException", "You don't have access to the model."))
    with pytest.raises(ClientError) as info:
        client.converse(modelId=CLAUDE, messages=user("hi"))
    assert info.value.response["Error"] == {
        "Code": "AccessDeniedException",
        "Message": "You don't have access to the model.",
    }
    assert client.converse(modelId=CLAUDE, messages=user("hi"))["stopReason"] == "end_turn"


def test_throttle(fake: FakeBedrock, client: Any) -> None:
    fake.enqueue(Reply.throttle())
    with pytest.raises(ClientError) as info:
        client.converse(modelId=CLAUDE, messages=user("hi"))
    assert info.value.response["Error"]["Code"] == "ThrottlingException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert len(fake.requests) == 1


def test_throttle_then_retry_succeeds(fake: FakeBedrock) -> None:
    retrying = fake.client(retries={"max_attempts": 2})
    try:
        fake.enqueue(Reply.throttle())
        response = retrying.converse(modelId=CLAUDE, messages=user("hi"))
    finally:
        retrying.close()
    assert response["stopReason"] == "end_turn"
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert len(fake.requests) == 2


def test_stream_error_mid_converse_stream(fake: FakeBedrock, client: Any) -> None:
    fake.enqueue(Reply.stream_error(3, "modelStreamErrorException", "boom"))
    response = client.converse_stream(modelId=CLAUDE, messages=user("hello"))
    received = []
    with pytest.raises(EventStreamError) as info:
        for event in response["stream"]:
            received.append(event)
    response["stream"].close()  # botocore leaves the socket open after an in-stream exception
    assert len(received) == 3
    assert info.value.response["Error"] == {"Code": "modelStreamErrorException", "Message": "boom"}


def test_stream_error_mid_invoke_stream(fake: FakeBedrock, client: Any) -> None:
    fake.enqueue(Reply.stream_error(1, "throttlingException", "slow"))
    response = client.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(anthropic_body("x")))
    received = []
    with pytest.raises(EventStreamError) as info:
        for event in response["body"]:
            received.append(event)
    response["body"].close()
    assert len(received) == 1
    assert info.value.response["Error"]["Code"] == "throttlingException"


def test_stream_error_on_unary_operation_is_http_error(fake: FakeBedrock, client: Any) -> None:
    fake.enqueue(Reply.stream_error(0))
    with pytest.raises(ClientError) as info:
        client.converse(modelId=CLAUDE, messages=user("hi"))
    assert info.value.response["Error"]["Code"] == "ModelStreamErrorException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424


def test_drop_unary(fake: FakeBedrock, client: Any) -> None:
    fake.enqueue(Reply.drop())
    with pytest.raises(BotoCoreError):
        client.converse(modelId=CLAUDE, messages=user("hi"))
    # the server keeps serving (on a fresh connection)
    assert client.converse(modelId=CLAUDE, messages=user("hi"))["stopReason"] == "end_turn"
    assert len(fake.requests) == 2


def test_drop_mid_stream(fake: FakeBedrock, client: Any) -> None:
    fake.enqueue(Reply.drop(after_events=2))
    response = client.converse_stream(modelId=CLAUDE, messages=user("hello"))
    received = []
    try:
        with pytest.raises((Urllib3HTTPError, BotoCoreError)):
            for event in response["stream"]:
                received.append(event)
    finally:
        response["stream"].close()  # urllib3 leaves the broken socket open otherwise
    assert len(received) == 2
    assert client.converse(modelId=CLAUDE, messages=user("hi"))["stopReason"] == "end_turn"


def test_raw_body_returned_byte_for_byte(fake: FakeBedrock, client: Any) -> None:
    raw = b'{"content": [{"type": "text", "text": "trunc'
    fake.enqueue(Reply.raw(200, raw, headers={"x-amzn-bedrock-input-token-count": "3"}))
    response = client.invoke_model(modelId=CLAUDE, body=json.dumps(anthropic_body("x")))
    assert response["body"].read() == raw
    assert response["contentType"] == "application/json"
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-input-token-count"] == "3"


def test_reply_text_override(fake: FakeBedrock, client: Any) -> None:
    fake.enqueue(
        Reply.text("Scripted answer here", stop_reason="max_tokens", input_tokens=42),
        Reply.text("short", output_tokens=9),
    )
    titan = json.loads(client.invoke_model(modelId=TITAN, body=json.dumps(titan_body("x")))["body"].read())
    assert titan == {
        "inputTextTokenCount": 42,
        "results": [{"tokenCount": 3, "outputText": "Scripted answer here", "completionReason": "LENGTH"}],
    }
    events = list(client.converse_stream(modelId=NOVA, messages=user("a b"))["stream"])
    assert [e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e] == ["short"]
    assert events[-1]["metadata"]["usage"] == {"inputTokens": 2, "outputTokens": 9, "totalTokens": 11}


def test_reply_events_exact_frames(fake: FakeBedrock, client: Any) -> None:
    frames = [
        event_frame("messageStart", {"role": "assistant"}),
        event_frame("contentBlockDelta", {"delta": {"text": "custom"}, "contentBlockIndex": 0}),
        event_frame("messageStop", {"stopReason": "guardrail_intervened"}),
    ]
    fake.enqueue(Reply.events(frames))
    events = list(client.converse_stream(modelId=CLAUDE, messages=user("x"))["stream"])
    assert events == [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "custom"}, "contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "guardrail_intervened"}},
    ]


def test_queue_is_fifo_and_reset_clears(fake: FakeBedrock, client: Any) -> None:
    fake.enqueue(Reply.throttle(), Reply.error(500, "InternalServerException", "oops"))
    codes = []
    for _ in range(2):
        with pytest.raises(ClientError) as info:
            client.converse(modelId=CLAUDE, messages=user("hi"))
        codes.append(info.value.response["Error"]["Code"])
    assert codes == ["ThrottlingException", "InternalServerException"]
    fake.enqueue(Reply.throttle())
    assert fake.pending_replies == 1
    fake.reset()
    assert fake.pending_replies == 0 and fake.requests == []
    assert client.converse(modelId=CLAUDE, messages=user("hi"))["stopReason"] == "end_turn"


# --------------------------------------------------------------------------------------------------
# Timing, incremental delivery, concurrency
# --------------------------------------------------------------------------------------------------


def test_stream_is_delivered_incrementally(fake: FakeBedrock, client: Any) -> None:
    gate = threading.Event()
    released: List[bool] = []

    def hold_second_event(index: int) -> None:
        if index == 1:
            released.append(gate.wait(timeout=3))

    fake.before_event = hold_second_event
    events = iter(client.converse_stream(modelId=CLAUDE, messages=user("hello"))["stream"])
    first = next(events)  # must arrive while the server is still blocked before event 1
    assert first == {"messageStart": {"role": "assistant"}}
    assert not gate.is_set()
    gate.set()
    rest = list(events)
    assert released == [True]
    assert "metadata" in rest[-1]


def test_event_delay_spaces_events(fake: FakeBedrock, client: Any) -> None:
    fake.event_delay = 0.03
    started = time.monotonic()
    arrivals = [
        time.monotonic() - started for _ in client.converse_stream(modelId=CLAUDE, messages=user("x"))["stream"]
    ]
    assert len(arrivals) == 9
    assert arrivals[0] < arrivals[-1] - 0.15
    assert arrivals[-1] >= 8 * 0.03 * 0.9


def test_latency_is_reported(fake: FakeBedrock, client: Any) -> None:
    fake.latency = 0.05
    response = client.invoke_model(modelId=CLAUDE, body=json.dumps(anthropic_body("x")))
    assert int(response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-invocation-latency"]) >= 50
    fake.latency = 0
    fake.enqueue(Reply.text("slow", delay=0.05))
    assert client.converse(modelId=CLAUDE, messages=user("x"))["metrics"]["latencyMs"] >= 50


def test_concurrent_requests(fake: FakeBedrock, client: Any) -> None:
    fake.latency = 0.02

    def call(i: int) -> str:
        return client.converse(modelId=CLAUDE, messages=user(f"question {i}"))["output"]["message"]["content"][0][
            "text"
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        texts = list(pool.map(call, range(8)))
    assert texts == [f"Fake Bedrock reply to: question {i}" for i in range(8)]
    assert len(fake.requests) == 8


# --------------------------------------------------------------------------------------------------
# Lifecycle and client isolation
# --------------------------------------------------------------------------------------------------


def test_lifecycle() -> None:
    fake = FakeBedrock()
    with pytest.raises(RuntimeError):
        _ = fake.endpoint_url
    assert fake.start() is fake.start()
    url = fake.endpoint_url
    assert url.startswith("http://127.0.0.1:")
    client = fake.client()
    try:
        client.converse(modelId=CLAUDE, messages=user("hi"))  # leaves a keep-alive connection open
        started = time.monotonic()
        fake.stop()
        fake.stop()
        assert time.monotonic() - started < 2
        assert not fake.running
        fake.start()  # restarts on the same port when it is free
        assert fake.endpoint_url == url
        assert client.converse(modelId=CLAUDE, messages=user("hi"))["stopReason"] == "end_turn"
    finally:
        client.close()
        fake.stop()


def test_client_ignores_bearer_token_and_profile(fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bearer-token-from-env")
    monkeypatch.setenv("AWS_PROFILE", "profile-that-does-not-exist")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # would break the call if honoured
    client = fake.client(region_name="eu-west-1")
    try:
        client.converse(modelId=CLAUDE, messages=user("hi"))
    finally:
        client.close()
    authorization = fake.requests[-1].header("Authorization")
    assert authorization is not None
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/eu-west-1/bedrock/aws4_request" in authorization
    assert fake.requests[-1].header("X-Amz-Security-Token") == "testing"


def test_register_family_extends_invoke_model(fake: FakeBedrock, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(responders, "FAMILIES", list(responders.FAMILIES))

    def parse(body: Dict[str, Any]) -> Prompt:
        return Prompt(texts=(body["message"],), last_user_text=body["message"])

    responders.register_family(
        ModelFamily(
            name="cohere.command-r",
            matches=lambda base: base.startswith("cohere.command-r"),
            parse_invoke=parse,
            invoke_body=lambda reply, ref: {"text": reply.text, "finish_reason": "COMPLETE"},
            stream_chunks=lambda reply, ref: [{"text": p, "is_finished": False} for p in reply.pieces],
        )
    )
    model = "us.cohere.command-r-v1:0"
    assert resolve_model(model).family == "cohere.command-r"
    body = json.dumps({"message": "Hola amigo"})
    result = json.loads(client.invoke_model(modelId=model, body=body)["body"].read())
    assert result == {"text": "Fake Bedrock reply to: Hola amigo", "finish_reason": "COMPLETE"}
    chunks = chunks_of(client.invoke_model_with_response_stream(modelId=model, body=body))
    assert "".join(c["text"] for c in chunks) == result["text"]
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["inputTokenCount"] == 2

    def broken(reply: FakeReply, ref: Any) -> Dict[str, Any]:
        raise RuntimeError("responder bug")

    responders.register_family(dataclasses.replace(responders.family_named("cohere.command-r"), invoke_body=broken))
    with pytest.raises(ClientError) as info:
        client.invoke_model(modelId=model, body=body)
    assert info.value.response["Error"]["Code"] == "InternalServerException"
    assert "responder bug" in info.value.response["Error"]["Message"]


def test_deeply_nested_body_is_a_validation_error_not_a_dropped_connection():
    from botocore.exceptions import ClientError

    with FakeBedrock() as fake:
        body = "[" * 100_000 + "]" * 100_000
        with pytest.raises(ClientError) as raised:
            fake.client().invoke_model(modelId="anthropic.claude-3-haiku-20240307-v1:0", body=body)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
