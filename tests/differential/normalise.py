"""Turn what the application saw into comparable plain data.

Only fields that legitimately differ between two runs against the fake server are rewritten, and
they are rewritten in place (the key stays, its value becomes a placeholder naming its type):
request ids, the ``date`` header, measured latencies, ``content-length`` (follows the latency digits),
the fake's random response ids (uuid4s, 24- and 32-hex-digit ids, async invocation ids); timestamps
(agent traces, flow traces, async jobs) become ``datetime`` markers. Everything else must be equal byte
for byte.
"""

from __future__ import annotations

import os
import re
import types
from typing import Any, Dict, Optional, Tuple

from botocore.eventstream import EventStream
from botocore.response import StreamingBody

import bedrock_otel

try:  # aiobotocore's body is botocore's subclass in new releases, a wrapt proxy in old ones (3.5, Python 3.9)
    from aiobotocore.response import StreamingBody as _AioStreamingBody
except ImportError:  # pragma: no cover - aiobotocore is in the test extra
    _BODIES: Tuple[type, ...] = (StreamingBody,)
else:
    _BODIES = (StreamingBody, _AioStreamingBody)

_LATENCY_BYTES = re.compile(rb'"(latencyMs|invocationLatency|firstByteLatency)":\s*-?[0-9][0-9.eE+-]*')
# The fake's random response ids: uuid4s, 24-hex-digit ids (msg_bdrk_…, chatcmpl-…, gen-…), 32-hex-digit
# ones (flow execution ids, agent trace clientRequestIds) and async invocation ids (the ARN's last part).
_RANDOM_ID_BYTES = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                              rb"|(?<![0-9a-f])(?:[0-9a-f]{24}|[0-9a-f]{32})(?![0-9a-f])"
                              rb"|(?:(?<=async-invoke/)|(?<=async-invoke%2F))[0-9a-f]{12}(?![0-9a-f])")
_RANDOM_ID = re.compile(_RANDOM_ID_BYTES.pattern.decode())
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")

_VARYING_KEYS = frozenset({
    "RequestId", "x-amzn-requestid", "date", "content-length", "latencyMs", "invocationLatency",
    "firstByteLatency", "x-amzn-bedrock-invocation-latency",
})

PACKAGE_DIR = os.path.dirname(os.path.abspath(bedrock_otel.__file__))
TESTING_DIR = os.path.join(PACKAGE_DIR, "testing")


def normalise_bytes(data: bytes) -> bytes:
    data = _LATENCY_BYTES.sub(lambda m: b'"' + m.group(1) + b'":<ms>', data)
    return _RANDOM_ID_BYTES.sub(b"<id>", data)


def normalise_text(text: str) -> str:
    return _ADDRESS.sub("0x<addr>", _RANDOM_ID.sub("<id>", text))


def normalise(value: Any, key: Optional[str] = None) -> Any:
    """Plain, comparable data; bodies and streams become markers of the botocore type they are."""
    if key in _VARYING_KEYS and value is not None and not isinstance(value, (dict, list)):
        return f"<varies:{type(value).__name__}>"
    if isinstance(value, dict):
        return {k: normalise(v, k if isinstance(k, str) else None) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, (bytes, bytearray)) for v in value):
            # Chunks of one body: a random id or a latency may straddle a boundary, so normalise the
            # whole and keep the boundaries (the chunk sizes, which do not vary).
            return ["<chunks>", normalise_bytes(b"".join(value)), [len(v) for v in value]]
        return [normalise(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return normalise_bytes(bytes(value))
    if isinstance(value, str):
        return _RANDOM_ID.sub("<id>", value)
    if isinstance(value, _BODIES):
        return "<StreamingBody>"
    if isinstance(value, EventStream):
        return "<EventStream>"
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def qualified_name(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def describe_exception(exc: BaseException) -> Dict[str, Any]:
    """What the application can see of an exception (type, message, AWS error and metadata)."""
    info: Dict[str, Any] = {"type": qualified_name(exc), "message": normalise_text(str(exc))}
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        info["response"] = normalise(response)
    operation = getattr(exc, "operation_name", None)
    if operation is not None:
        info["operation_name"] = operation
    return info


def expected_error_type(exc: BaseException) -> str:
    """``error.type`` as docs/telemetry.md defines it: the AWS error code, else the qualified class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error")
        code = error.get("Code") if isinstance(error, dict) else None
        if isinstance(code, str) and code:
            return code
    return qualified_name(exc)


def raised_by_instrumentation(tb: Optional[types.TracebackType]) -> bool:
    """Whether the innermost frame of a traceback is bedrock-otel's own code (not its test helpers)."""
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = os.path.abspath(tb.tb_frame.f_code.co_filename)
    return filename.startswith(PACKAGE_DIR + os.sep) and not filename.startswith(TESTING_DIR + os.sep)
