"""Encoder for the AWS binary event-stream framing (``application/vnd.amazon.eventstream``).

Bedrock Runtime streams (ConverseStream, InvokeModelWithResponseStream) arrive as a sequence of
self-delimiting binary frames. The fake server needs to *produce* them byte-exactly so that botocore's
real decoder (and therefore any instrumentation wrapping it) is exercised end to end.

Frame layout (all integers big-endian)::

    [u32 total_len][u32 headers_len][u32 crc32(first 8 bytes)] headers payload [u32 crc32(all before)]

Each header is ``[u8 name_len][name utf-8][u8 value_type][...value]``; only type 7 (string,
``[u16 len][utf-8]``) is needed for Bedrock.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any, Dict, Mapping

__all__ = [
    "HEADER_TYPE_STRING",
    "chunk_frame",
    "encode_frame",
    "encode_headers",
    "event_frame",
    "exception_frame",
]

HEADER_TYPE_STRING = 7
_PRELUDE_LEN = 12  # total_len + headers_len + prelude crc
_MESSAGE_CRC_LEN = 4


def _crc32(data: bytes, crc: int = 0) -> int:
    """CRC32 as the event-stream spec uses it (same polynomial as zlib/binascii)."""
    return zlib.crc32(data, crc) & 0xFFFFFFFF


def encode_headers(headers: Mapping[str, str]) -> bytes:
    """Serialise string headers; insertion order is preserved so output is deterministic."""
    out = bytearray()
    for name, value in headers.items():
        name_bytes = name.encode("utf-8")
        value_bytes = str(value).encode("utf-8")
        if not 0 < len(name_bytes) <= 0xFF:
            raise ValueError(f"event-stream header name must be 1..255 bytes: {name!r}")
        if len(value_bytes) > 0xFFFF:
            raise ValueError(f"event-stream header value too long for {name!r}")
        out += struct.pack(">B", len(name_bytes)) + name_bytes
        out += struct.pack(">BH", HEADER_TYPE_STRING, len(value_bytes)) + value_bytes
    return bytes(out)


def encode_frame(headers: Dict[str, str], payload: bytes) -> bytes:
    """Build one complete event-stream frame, including both CRCs."""
    header_bytes = encode_headers(headers)
    total_len = _PRELUDE_LEN + len(header_bytes) + len(payload) + _MESSAGE_CRC_LEN
    prelude = struct.pack(">II", total_len, len(header_bytes))
    prelude += struct.pack(">I", _crc32(prelude))
    body = prelude + header_bytes + payload
    return body + struct.pack(">I", _crc32(body))


def _json_bytes(payload: Any) -> bytes:
    """Compact JSON like the service sends (no spaces after separators)."""
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def event_frame(event_type: str, payload: Dict[str, Any]) -> bytes:
    """A normal ``:message-type: event`` frame whose payload is ``payload`` as JSON."""
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_frame(headers, _json_bytes(payload))


def exception_frame(exception_type: str, message: str) -> bytes:
    """A modelled in-stream error; botocore raises ``EventStreamError`` with ``exception_type`` as code."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_frame(headers, _json_bytes({"message": message}))


def chunk_frame(model_chunk: Dict[str, Any]) -> bytes:
    """An InvokeModelWithResponseStream ``chunk`` event: the model's JSON chunk, base64'd in ``bytes``."""
    encoded = base64.b64encode(_json_bytes(model_chunk)).decode("ascii")
    return event_frame("chunk", {"bytes": encoded})
