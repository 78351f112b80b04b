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

METHODS = {
    CONVERSE: "converse",
    CONVERSE_STREAM: "converse_stream",
    INVOKE: "invoke_model",
    INVOKE_STREAM: "invoke_model_with_response_stream",
    COUNT_TOKENS: "count_tokens",
}
STREAMING = frozenset({CONVERSE_STREAM, INVOKE_STREAM})
WITH_BODY = frozenset({INVOKE, INVOKE_STREAM})

# Body encodings the application may hand botocore for InvokeModel.
# ``memoryview`` (botocore rejects it: the call must still get its span) and ``unseekable`` (must not be
# read by bedrock-otel: unsigned/bearer-token clients send it as they find it) once defeated bedrock-otel;
# test_differential.py keeps a regression test for each.
BODY_ENCODINGS = ("bytes", "str", "bytearray", "memoryview", "bytesio", "bytesio_offset", "stringio", "readonly",
                  "unseekable", "missing")


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

    def kwargs(self) -> Dict[str, Any]:
        """Fresh keyword arguments for this call (nothing shared between the two runs)."""
        kwargs: Dict[str, Any] = {"modelId": self.model_id}
        kwargs.update(copy.deepcopy(self.params))
        if self.body is not None and self.body.encoding != "missing":
            kwargs["body"] = self.body.build()
        return kwargs

    @property
    def instrumented(self) -> bool:
        """Whether bedrock-otel registers this operation (CountTokens, say, may or may not be)."""
        from bedrock_otel import calls  # noqa: F401  (importing it registers the operations)
        from bedrock_otel.operations.base import lookup

        return lookup("bedrock-runtime", self.operation) is not None

    def describe(self) -> str:
        body = f" body={self.body.encoding}:{self.body.payload[:60]!r}" if self.body else ""
        replies = ", ".join(_reply_repr(r) for r in self.replies) or "default"
        return (f"{self.operation}({self.model_id!r}{body} params={_short(self.params)}) replies=[{replies}] "
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
