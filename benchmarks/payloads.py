"""Requests the benchmarks send and the canned responses both transports answer with.

The shapes match what Bedrock (and the fake server) send for an Anthropic Claude model, so every
contender takes its normal parsing path: request attributes, response usage, finish reasons.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

from bedrock_otel.testing.eventstream import chunk_frame, event_frame

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
MODEL_NAME = "claude-3-haiku-20240307"
STREAM_EVENTS = 1000
BIG_BODY_BYTES = 50 * 1024 * 1024
REQUEST_ID = "5c0dbd52-8a5e-4f0b-9d1e-4a8b2c1d7e90"

_PROMPT = "Write one short sentence about the sea."
_REPLY = "The sea keeps every secret that the wind forgets to tell."


def converse_params() -> Dict[str, Any]:
    return {
        "modelId": MODEL_ID,
        "messages": [{"role": "user", "content": [{"text": _PROMPT}]}],
        "system": [{"text": "You are terse."}],
        "inferenceConfig": {"maxTokens": 256, "temperature": 0.5, "topP": 0.9, "stopSequences": ["\n\nHuman:"]},
        "additionalModelRequestFields": {"top_k": 50},
    }


def invoke_params() -> Dict[str, Any]:
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 256,
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 50,
        "stop_sequences": ["\n\nHuman:"],
        "system": "You are terse.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": _PROMPT}]}],
    }
    return {
        "modelId": MODEL_ID,
        "body": json.dumps(body).encode("utf-8"),
        "contentType": "application/json",
        "accept": "application/json",
    }


def _json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def converse_body() -> bytes:
    return _json({
        "output": {"message": {"role": "assistant", "content": [{"text": _REPLY}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 12, "outputTokens": 13, "totalTokens": 25},
        "metrics": {"latencyMs": 412},
    })


def anthropic_body(text: str = _REPLY) -> bytes:
    return _json({
        "id": "msg_bdrk_01Xk4Zq7rW2mYb8c9d0e1f2g",
        "type": "message",
        "role": "assistant",
        "model": MODEL_NAME,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 13},
    })


def big_anthropic_body(size: int = BIG_BODY_BYTES) -> bytearray:
    """An InvokeModel body of exactly ``size`` bytes (a very long text answer).

    Built in place, one MiB at a time, so making it never holds more than ``size`` + 1 MiB: the
    memory benchmark's peak must come from the call, not from preparing its answer.
    """
    marker = "@@FILL@@"
    head, tail = anthropic_body(marker).split(marker.encode("ascii"))
    fill = size - len(head) - len(tail)
    if fill <= 0:
        raise ValueError(f"size must exceed {len(head) + len(tail)} bytes")
    body = bytearray(size)
    body[: len(head)] = head
    pattern = b"lorem ipsum dolor sit amet " * (2**20 // 27 + 1)
    step = len(pattern)
    for start in range(len(head), len(head) + fill, step):
        end = min(start + step, len(head) + fill)
        body[start:end] = pattern[: end - start]
    body[len(head) + fill:] = tail
    return body


def invoke_headers(body_length: int) -> Dict[str, str]:
    return {
        "x-amzn-requestid": REQUEST_ID,
        "content-type": "application/json",
        "content-length": str(body_length),
        "x-amzn-bedrock-input-token-count": "12",
        "x-amzn-bedrock-output-token-count": "13",
        "x-amzn-bedrock-invocation-latency": "412",
    }


def json_headers(body_length: int) -> Dict[str, str]:
    return {"x-amzn-requestid": REQUEST_ID, "content-type": "application/json", "content-length": str(body_length)}


def stream_headers(invoke: bool) -> Dict[str, str]:
    headers = {"x-amzn-requestid": REQUEST_ID, "content-type": "application/vnd.amazon.eventstream"}
    if invoke:
        headers["x-amzn-bedrock-content-type"] = "application/json"
    return headers


def converse_stream_frames(events: int = STREAM_EVENTS) -> List[bytes]:
    """A ConverseStream of exactly ``events`` events: start, text deltas, stop, metadata."""
    if events < 5:
        raise ValueError("a ConverseStream needs at least 5 events")
    frames = [event_frame("messageStart", {"role": "assistant"})]
    frames += [
        event_frame("contentBlockDelta", {"delta": {"text": f"w{i} "}, "contentBlockIndex": 0})
        for i in range(events - 4)
    ]
    frames.append(event_frame("contentBlockStop", {"contentBlockIndex": 0}))
    frames.append(event_frame("messageStop", {"stopReason": "end_turn"}))
    usage = {"inputTokens": 12, "outputTokens": events - 4, "totalTokens": events + 8}
    frames.append(event_frame("metadata", {"usage": usage, "metrics": {"latencyMs": 2411}}))
    assert len(frames) == events
    return frames


def invoke_stream_frames(events: int = STREAM_EVENTS) -> List[bytes]:
    """An Anthropic InvokeModelWithResponseStream of exactly ``events`` chunk events."""
    if events < 6:
        raise ValueError("an Anthropic stream needs at least 6 events")
    message = {
        "id": "msg_bdrk_01Xk4Zq7rW2mYb8c9d0e1f2g", "type": "message", "role": "assistant", "model": MODEL_NAME,
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    deltas = events - 5
    chunks: List[Dict[str, Any]] = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    chunks += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f"w{i} "}}
        for i in range(deltas)
    ]
    chunks.append({"type": "content_block_stop", "index": 0})
    chunks.append({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                   "usage": {"output_tokens": deltas}})
    metrics = {"inputTokenCount": 12, "outputTokenCount": deltas, "invocationLatency": 2411, "firstByteLatency": 180}
    chunks.append({"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics})
    frames = [chunk_frame(chunk) for chunk in chunks]
    assert len(frames) == events, len(frames)
    return frames
