"""InvokeModel and InvokeModelWithResponseStream: native model bodies, parsed by family codecs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, Optional

from ..models.base import ModelCodec
from ..models.registry import codec_for_request
from ..telemetry import attributes as A
from ..telemetry.invocation import Invocation, Telemetry
from ..wrappers.body import loads, observe_body
from ..wrappers.event_stream import observe_event_stream
from .base import Operation, Prepared, model_param, register

_INPUT_TOKENS = "x-amzn-bedrock-input-token-count"
_OUTPUT_TOKENS = "x-amzn-bedrock-output-token-count"
_LATENCY = "x-amzn-bedrock-invocation-latency"
_CACHE_READ = "x-amzn-bedrock-cache-read-input-token-count"
_CACHE_WRITE = "x-amzn-bedrock-cache-write-input-token-count"
_INVOCATION_METRICS = "amazon-bedrock-invocationMetrics"

# Chunks the family's decoder recognises from their bytes as content and nothing else skip json.loads
# and the decoder (StreamDecoder.content_only), without content capture only (the content reader needs
# the parsed chunk). Longer chunks are parsed: the match costs more than json.loads there. The handler
# adds that the bytes decode as json.loads decodes them.
_CONTENT_ONLY_MAX_BYTES = 512


def _decodes(raw: bytes) -> bool:
    """Whether json.loads would decode these bytes (which start with ``{"``: UTF-8, surrogates passed)."""
    try:
        raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return False
    return True


def read_request_body(body: Any, limit: int) -> Any:
    """The request body as JSON, or a string saying why not. File bodies are rewound, never consumed."""
    if isinstance(body, (bytes, bytearray, str)):
        data: Any = body
    elif isinstance(body, memoryview):
        data = body.tobytes()  # json.loads takes no memoryview; len() of one counts items, not bytes
    elif hasattr(body, "read") and hasattr(body, "seek") and hasattr(body, "tell"):
        try:
            # tell() alone proves nothing (HTTP responses and sockets have it): a body we cannot seek
            # back must not be read, or botocore would send what is left of it.
            seekable = getattr(body, "seekable", None)
            if seekable is None or not seekable():
                return "body is an unseekable stream"
            position = body.tell()
            data = body.read(limit + 1)
            body.seek(position)
        except Exception:
            return "body is an unseekable stream"
    else:
        return "body is missing" if body is None else f"body of type {type(body).__name__}"
    if len(data) > limit:
        return "body larger than the parse limit"
    try:
        return loads(data)
    except (ValueError, TypeError):
        return "body is not JSON"
    except RecursionError:
        return "body nested too deeply to parse"


def _header_int(headers: Mapping[str, Any], name: str) -> Optional[int]:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class InvokeModel(Operation):
    method = "InvokeModel"

    def prepare(self, params: Mapping[str, Any], telemetry: Telemetry) -> Prepared:
        model = model_param(params)
        request = read_request_body(params.get("body"), telemetry.body_limit)
        attrs: Dict[str, Any] = {}
        if not isinstance(request, Mapping):
            attrs[A.PARSE_ERROR] = [f"request {request}" if isinstance(request, str) else "request not an object"]
            request = {}
        codec = codec_for_request(model, request)
        if codec is None:
            return Prepared("generate_content", model, attrs, None)
        attrs[A.MODEL_FAMILY] = codec.family
        attrs.update(codec.request_attributes(request))
        prepared = Prepared(codec.operation_name(request), model, attrs, codec)
        if telemetry.content is not None and codec.content is not None:
            prepared.content_source = (codec.content, request)
        return prepared

    def complete(self, inv: Invocation, result: Dict[str, Any], prepared: Prepared,
                 telemetry: Telemetry) -> bool:
        headers = result.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        outcome = inv.outcome
        outcome.set_usage(_header_int(headers, _INPUT_TOKENS), _header_int(headers, _OUTPUT_TOKENS),
                          source="headers")
        outcome.set_cache(_header_int(headers, _CACHE_READ), _header_int(headers, _CACHE_WRITE))
        latency = _header_int(headers, _LATENCY)
        if latency is not None:
            outcome.server_latency_ms = float(latency)
        codec: Optional[ModelCodec] = prepared.state
        body = result.get("body")
        if body is None:
            return True
        # The body adds what headers lack (ids, finish reasons, cache split); header counts stay.
        content = inv.content
        fields = None if codec is None or content is None else codec.content
        if fields is None:
            parse = None if codec is None else (lambda parsed: codec.parse_response(parsed, outcome))
        else:  # content capture: the response's output messages too
            def parse(parsed: Mapping[str, Any]) -> None:
                codec.parse_response(parsed, outcome)  # type: ignore[union-attr]
                content.outputs = fields.read_response(parsed)  # type: ignore[union-attr]

        return not observe_body(body, inv, parse, telemetry.body_limit, _header_int(headers, "content-length"))


class InvokeModelWithResponseStream(InvokeModel):
    method = "InvokeModelWithResponseStream"
    streaming = True

    def complete(self, inv: Invocation, result: Dict[str, Any], prepared: Prepared,
                 telemetry: Telemetry) -> bool:
        stream = result.get("body")
        if stream is None:
            return True
        codec: Optional[ModelCodec] = prepared.state
        decoder = codec.stream_decoder() if codec is not None else None
        outcome = inv.outcome
        reader = None
        if inv.content is not None and codec is not None:
            reader = inv.content.stream = codec.stream_content()

        if reader is None:
            content_only = None if decoder is None else decoder.content_only
            if content_only is not None:
                def handle(event: Mapping[str, Any]) -> bool:
                    chunk = event.get("chunk")
                    if chunk is None:
                        outcome.unknown_events += 1
                        return False
                    raw = chunk["bytes"]
                    if (type(raw) is bytes and len(raw) <= _CONTENT_ONLY_MAX_BYTES and content_only(raw)
                            and (raw.isascii() or _decodes(raw))):
                        return True
                    data = loads(raw)
                    metrics = data.get(_INVOCATION_METRICS)
                    if metrics is not None:
                        outcome.apply_invocation_metrics(metrics)
                    return decoder.feed(data, outcome)  # type: ignore[union-attr]
            else:
                def handle(event: Mapping[str, Any]) -> bool:
                    chunk = event.get("chunk")
                    if chunk is None:
                        outcome.unknown_events += 1
                        return False
                    data = loads(chunk["bytes"])
                    metrics = data.get(_INVOCATION_METRICS)
                    if metrics is not None:
                        outcome.apply_invocation_metrics(metrics)
                    if decoder is None:
                        return metrics is None
                    return decoder.feed(data, outcome)
        else:  # the same, feeding the content reader too (only when content capture is on)
            feed = reader.feed

            def handle(event: Mapping[str, Any]) -> bool:
                chunk = event.get("chunk")
                if chunk is None:
                    outcome.unknown_events += 1
                    return False
                data = loads(chunk["bytes"])
                feed(data)
                metrics = data.get(_INVOCATION_METRICS)
                if metrics is not None:
                    outcome.apply_invocation_metrics(metrics)
                if decoder is None:
                    return metrics is None
                return decoder.feed(data, outcome)

        return not observe_event_stream(stream, inv, handle)


register(InvokeModel())
register(InvokeModelWithResponseStream())
