"""Plain data for one differential case: the calls, the scripted replies and what the app does.

Everything here is immutable or rebuilt per run (:meth:`BodySpec.build`, :meth:`CallSpec.kwargs`), so
the uninstrumented and the instrumented run of a case start from identical inputs.
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from bedrock_otel.testing.fake_server import Reply

CONVERSE = "Converse"
CONVERSE_STREAM = "ConverseStream"
INVOKE = "InvokeModel"
INVOKE_STREAM = "InvokeModelWithResponseStream"
COUNT_TOKENS = "CountTokens"
APPLY_GUARDRAIL = "ApplyGuardrail"
START_ASYNC_INVOKE = "StartAsyncInvoke"
GET_ASYNC_INVOKE = "GetAsyncInvoke"
INVOKE_AGENT = "InvokeAgent"
INVOKE_INLINE_AGENT = "InvokeInlineAgent"
RETRIEVE = "Retrieve"
RETRIEVE_AND_GENERATE = "RetrieveAndGenerate"
RETRIEVE_AND_GENERATE_STREAM = "RetrieveAndGenerateStream"
INVOKE_FLOW = "InvokeFlow"

RUNTIME, AGENT_RUNTIME = "bedrock-runtime", "bedrock-agent-runtime"
# Operation -> (boto3 service, client method); every operation bedrock-otel instruments is here.
OPERATIONS_TABLE = {
    CONVERSE: (RUNTIME, "converse"),
    CONVERSE_STREAM: (RUNTIME, "converse_stream"),
    INVOKE: (RUNTIME, "invoke_model"),
    INVOKE_STREAM: (RUNTIME, "invoke_model_with_response_stream"),
    COUNT_TOKENS: (RUNTIME, "count_tokens"),
    APPLY_GUARDRAIL: (RUNTIME, "apply_guardrail"),
    START_ASYNC_INVOKE: (RUNTIME, "start_async_invoke"),
    GET_ASYNC_INVOKE: (RUNTIME, "get_async_invoke"),
    INVOKE_AGENT: (AGENT_RUNTIME, "invoke_agent"),
    INVOKE_INLINE_AGENT: (AGENT_RUNTIME, "invoke_inline_agent"),
    RETRIEVE: (AGENT_RUNTIME, "retrieve"),
    RETRIEVE_AND_GENERATE: (AGENT_RUNTIME, "retrieve_and_generate"),
    RETRIEVE_AND_GENERATE_STREAM: (AGENT_RUNTIME, "retrieve_and_generate_stream"),
    INVOKE_FLOW: (AGENT_RUNTIME, "invoke_flow"),
}
METHODS = {operation: method for operation, (_, method) in OPERATIONS_TABLE.items()}
# The response member holding the event stream the application iterates.
STREAM_MEMBERS = {
    CONVERSE_STREAM: "stream",
    INVOKE_STREAM: "body",
    INVOKE_AGENT: "completion",
    INVOKE_INLINE_AGENT: "completion",
    RETRIEVE_AND_GENERATE_STREAM: "stream",
    INVOKE_FLOW: "responseStream",
}
STREAMING = frozenset(STREAM_MEMBERS)
WITH_BODY = frozenset({INVOKE, INVOKE_STREAM})
WITH_MODEL_ID = frozenset({CONVERSE, CONVERSE_STREAM, INVOKE, INVOKE_STREAM, COUNT_TOKENS})
# GetAsyncInvoke's ``invocationArn`` placeholder: the ARN the latest successful StartAsyncInvoke of the
# same run returned (random per run, so the application passes on what it was given, as a real one does).
LATEST_ASYNC_ARN = "<latest async invocation>"
UNKNOWN_ASYNC_ARN = "arn:aws:bedrock:us-east-1:123456789012:async-invoke/000000000000"

# Body encodings the application may hand botocore for InvokeModel.
# ``memoryview`` (botocore rejects it: the call must still get its span) and ``unseekable`` (must not be
# read by bedrock-otel: unsigned/bearer-token clients send it as they find it) once defeated bedrock-otel;
# test_differential.py keeps a regression test for each.
BODY_ENCODINGS = ("bytes", "str", "bytearray", "memoryview", "bytesio", "bytesio_offset", "stringio", "readonly",
                  "unseekable", "missing")
# Bodies botocore cannot rewind: with urllib3 1.x the server may record their request late.
FORWARD_ONLY_BODIES = frozenset({"readonly", "unseekable"})


class ReadOnlyBody:
    """A file-like body without seek/tell (a pipe or socket reader, say)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, amount: int = -1) -> bytes:
        return self._data.read(amount)


class UnseekableBody:
    """A forward-only stream that knows its position but cannot seek (an HTTP response, a socket file)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, amount: int = -1) -> bytes:
        return self._data.read(amount)

    def tell(self) -> int:
        return self._data.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        raise io.UnsupportedOperation("seek")

    def seekable(self) -> bool:
        return False


@dataclass(frozen=True)
class BodySpec:
    """An InvokeModel request body: its bytes and how the application passes them."""

    encoding: str
    payload: bytes

    def build(self) -> Any:
        data = self.payload
        if self.encoding == "bytes":
            return data
        if self.encoding == "str":
            return data.decode("utf-8", errors="replace")
        if self.encoding == "bytearray":
            return bytearray(data)
        if self.encoding == "memoryview":
            return memoryview(data)
        if self.encoding == "bytesio":
            return io.BytesIO(data)
        if self.encoding == "bytesio_offset":  # the app already consumed a prefix of the file
            stream = io.BytesIO(b"PREFIX" + data)
            stream.seek(6)
            return stream
        if self.encoding == "stringio":
            return io.StringIO(data.decode("utf-8", errors="replace"))
        if self.encoding == "readonly":
            return ReadOnlyBody(data)
        if self.encoding == "unseekable":
            return UnseekableBody(data)
        raise AssertionError(self.encoding)


@dataclass(frozen=True)
class Behaviour:
    """What the application does with a body or stream after the call returns."""

    kind: str = "none"
    amount: int = 0


@dataclass(frozen=True)
class CallSpec:
    operation: str
    model_id: Any
    params: Dict[str, Any] = field(default_factory=dict, hash=False)
    body: Optional[BodySpec] = None
    replies: Tuple[Reply, ...] = ()
    attempts: int = 1
    unsigned: bool = False  # botocore.UNSIGNED (like bearer-token auth: the body is streamed, not hashed)
    latency: float = 0.0
    event_delay: float = 0.0
    behaviour: Behaviour = Behaviour()

    @property
    def service(self) -> str:
        return OPERATIONS_TABLE[self.operation][0]

    def kwargs(self) -> Dict[str, Any]:
        """Fresh keyword arguments for this call (nothing shared between the two runs)."""
        kwargs: Dict[str, Any] = {"modelId": self.model_id} if self.operation in WITH_MODEL_ID else {}
        kwargs.update(copy.deepcopy(self.params))
        if self.body is not None and self.body.encoding != "missing":
            kwargs["body"] = self.body.build()
        return kwargs

    @property
    def instrumented(self) -> bool:
        """Whether bedrock-otel registers this operation (CountTokens, say, may or may not be)."""
        from bedrock_otel import calls  # noqa: F401  (importing it registers the operations)
        from bedrock_otel.operations.base import lookup

        return lookup(self.service, self.operation) is not None

    def describe(self) -> str:
        body = f" body={self.body.encoding}:{self.body.payload[:60]!r}" if self.body else ""
        replies = ", ".join(_reply_repr(r) for r in self.replies) or "default"
        model = f"{self.model_id!r}" if self.operation in WITH_MODEL_ID else ""
        return (f"{self.operation}({model}{body} params={_short(self.params)}) replies=[{replies}] "
                f"attempts={self.attempts}{' unsigned' if self.unsigned else ''} latency={self.latency} "
                f"event_delay={self.event_delay} "
                f"behaviour={self.behaviour.kind}:{self.behaviour.amount}")


@dataclass(frozen=True)
class Scenario:
    calls: Tuple[CallSpec, ...]

    def describe(self) -> str:
        return "\n".join(f"  [{i}] {c.describe()}" for i, c in enumerate(self.calls))


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _reply_repr(reply: Reply) -> str:
    parts = [reply.kind]
    if reply.kind == "error":
        parts.append(f"{reply.status} {reply.code}")
    elif reply.kind == "raw":
        parts.append(f"{reply.status} {reply.body[:40]!r} {reply.headers or ''}")
    elif reply.kind == "events":
        parts.append(f"{len(reply.frames)} frames")
    elif reply.kind in ("stream_error", "drop"):
        parts.append(f"after={reply.after_events} {reply.exception_type if reply.kind == 'stream_error' else ''}")
    elif reply.kind == "text":
        parts.append(repr(reply.text_value))
    if reply.delay:
        parts.append(f"delay={reply.delay}")
    return " ".join(parts)
