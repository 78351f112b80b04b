"""Opt-in capture of prompts and responses: modes, settings, the GenAI JSON shapes, redaction, truncation.

Off by default. ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (read once, at ``instrument()``)
or ``instrument(capture_content=...)`` picks a mode:

* ``NO_CONTENT`` — nothing (the default; also for an unknown value, with a warning),
* ``SPAN_ONLY`` — ``gen_ai.input.messages``, ``gen_ai.output.messages``, ``gen_ai.system_instructions``
  and ``gen_ai.tool.definitions`` as JSON strings on the span,
* ``EVENT_ONLY`` — the same, structured, on a ``gen_ai.client.inference.operation.details`` log record,
* ``SPAN_AND_EVENT`` — both.

The shapes are ``opentelemetry-util-genai``'s (1.3b0) exactly — the same keys in the same order, compact
JSON — written here without importing it: it is beta and its import and per-call costs are high. Inline
media never enters telemetry: a blob part keeps ``mime_type``, ``modality`` and ``size`` (bytes) and
drops ``content``; ``s3://`` and URL references become ``uri`` parts.

Capture happens only for spans that record (span attributes) or are sampled (events). Before export
every free text — text and reasoning parts, every string inside tool arguments, tool results and tool
definitions, URIs — goes through the redactor (if any), then is cut to ``max_length`` characters with
:data:`TRUNCATION_MARKER`. A redactor that raises drops that call's content entirely: content is never
exported unredacted.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from . import redaction

_log = logging.getLogger(__name__)

ENV_CAPTURE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
ENV_REDACTOR = "BEDROCK_OTEL_CONTENT_REDACTOR"  # "default" (the ready redactor) or "none"
ENV_MAX_LENGTH = "BEDROCK_OTEL_CONTENT_MAX_LENGTH"  # characters per part

NO_CONTENT = "NO_CONTENT"
SPAN_ONLY = "SPAN_ONLY"
EVENT_ONLY = "EVENT_ONLY"
SPAN_AND_EVENT = "SPAN_AND_EVENT"
MODES = (NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT)
#: the older boolean values (opentelemetry-instrumentation-botocore's): ``true`` put content in log events
LEGACY_MODES = {"TRUE": EVENT_ONLY, "FALSE": NO_CONTENT}

INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
TOOL_DEFINITIONS = "gen_ai.tool.definitions"
CONTENT_ATTRIBUTES = (INPUT_MESSAGES, OUTPUT_MESSAGES, SYSTEM_INSTRUCTIONS, TOOL_DEFINITIONS)
EVENT_NAME = "gen_ai.client.inference.operation.details"
#: appended to a part cut at ``max_length``; ``{0}`` is the number of characters dropped
TRUNCATION_MARKER = "…[truncated {0} chars]"

Redactor = Callable[[str], str]
Message = Dict[str, Any]
Part = Dict[str, Any]

# Span attributes the event repeats (util-genai's event carries the call's GenAI attributes too).
_EVENT_PREFIXES = ("gen_ai.", "server.")
_EVENT_KEYS = frozenset({"error.type"})


# -- the GenAI shapes (util-genai's dataclasses, as the dicts ``dataclasses.asdict`` makes of them) ---------


def text_part(content: str) -> Part:
    return {"content": content, "type": "text"}


def reasoning_part(content: str, redacted: bool = False) -> Part:
    """Reasoning text; ``redacted`` marks an encrypted block (its ciphertext is never exported)."""
    part: Part = {"content": content, "type": "reasoning"}
    if redacted:
        part["redacted"] = True
    return part


def tool_call_part(call_id: Optional[str], name: str, arguments: Any) -> Part:
    return {"arguments": arguments, "name": name, "id": call_id, "type": "tool_call"}


def tool_response_part(call_id: Optional[str], response: Any) -> Part:
    return {"response": response, "id": call_id, "type": "tool_call_response"}


def blob_part(mime_type: Optional[str], modality: str, size: Optional[int]) -> Part:
    """A reference to inline data: its type and size in bytes, never the bytes (``content`` is left out)."""
    return {"mime_type": mime_type, "modality": modality, "size": size, "type": "blob"}


def uri_part(mime_type: Optional[str], modality: str, uri: str) -> Part:
    return {"mime_type": mime_type, "modality": modality, "uri": uri, "type": "uri"}


def input_message(role: str, parts: List[Part]) -> Message:
    return {"role": role, "parts": parts, "name": None}


def output_message(role: str, parts: List[Part], finish_reason: Optional[str] = None) -> Message:
    return {"role": role, "parts": parts, "finish_reason": finish_reason, "name": None}


def function_tool(name: str, description: Optional[str], parameters: Any) -> Dict[str, Any]:
    return {"name": name, "description": description, "parameters": parameters, "type": "function"}


def generic_tool(name: str, kind: str) -> Dict[str, Any]:
    return {"name": name, "type": kind}


# Provider stop reasons → GenAI finish reasons (the facts genai-bedrock uses, plus Bedrock's image models).
_FINISH_REASONS = {
    "end_turn": "stop", "stop_sequence": "stop", "stop": "stop", "finish": "stop", "complete": "stop",
    "endoftext": "stop", "stop_criteria_met": "stop", "success": "stop", "eos_token": "stop",
    "tool_use": "tool_call", "tool_calls": "tool_call",
    "max_tokens": "length", "length": "length", "model_context_window_exceeded": "length",
    "content_filtered": "content_filter", "guardrail_intervened": "content_filter",
    "content_filter": "content_filter", "error": "error",
}


def finish_reason(raw: Any) -> Optional[str]:
    """``end_turn`` → ``stop``, ``tool_use`` → ``tool_call``, …; unknown values lower-cased."""
    if not isinstance(raw, str) or not raw:
        return None
    lowered = raw.lower()
    if lowered.startswith("filter reason"):  # Stability's content filter
        return "content_filter"
    return _FINISH_REASONS.get(lowered, lowered)


# -- settings -----------------------------------------------------------------------------------------------


def mode_from_env(environ: Mapping[str, str]) -> str:
    """The mode the environment asks for; bad values warn and mean NO_CONTENT."""
    raw = environ.get(ENV_CAPTURE, "").strip()
    if not raw:
        return NO_CONTENT
    upper = raw.upper()
    if upper in MODES:
        return upper
    if upper in LEGACY_MODES:
        mode = LEGACY_MODES[upper]
        _log.warning("bedrock-otel: %s=%s is deprecated; read as %s. Use one of %s.",
                     ENV_CAPTURE, raw, mode, ", ".join(MODES))
        return mode
    _log.warning("bedrock-otel: %s=%r is not one of %s; content capture stays off (NO_CONTENT).",
                 ENV_CAPTURE, raw, ", ".join(MODES))
    return NO_CONTENT


def mode_from_argument(value: Any) -> str:
    """``instrument(capture_content=...)``: a mode name (any case) or an enum member with such a name."""
    name = getattr(value, "name", value)  # util-genai's ContentCapturingMode works too
    if isinstance(name, str) and not isinstance(value, bool) and name.strip().upper() in MODES:
        return name.strip().upper()
    raise ValueError(f"capture_content must be one of {', '.join(MODES)} (or None to read {ENV_CAPTURE}), "
                     f"got {value!r}")


def redactor_from_argument(value: Any) -> Optional[Redactor]:
    """``content_redactor=``: a callable(str) -> str, ``"default"`` for :func:`.redaction.redact`, or None."""
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    if value is True or (isinstance(value, str) and value.strip().lower() == "default"):
        return redaction.redact
    if callable(value):
        return value  # type: ignore[no-any-return]
    raise ValueError(f"content_redactor must be a callable taking and returning a str, \"default\" or None, "
                     f"got {value!r}")


def _redactor_from_env(environ: Mapping[str, str]) -> Optional[Redactor]:
    raw = environ.get(ENV_REDACTOR, "").strip().lower()
    if not raw or raw == "none":
        return None
    if raw != "default":  # a privacy control: an unreadable value fails safe
        _log.warning("bedrock-otel: %s=%r is not \"default\" or \"none\"; using the default redactor.",
                     ENV_REDACTOR, raw)
    return redaction.redact


def max_length_from_argument(value: Any) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise ValueError(f"content_max_length must be a positive int (characters per part) or None, got {value!r}")


def _max_length_from_env(environ: Mapping[str, str]) -> Optional[int]:
    raw = environ.get(ENV_MAX_LENGTH, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        _log.warning("bedrock-otel: %s=%r is not a positive int; parts are not truncated.", ENV_MAX_LENGTH, raw)
        return None
    return value


UNSET: Any = object()  #: an argument not given: the environment decides


def settings_from(capture_content: Any = None, content_redactor: Any = UNSET, content_max_length: Any = UNSET,
                  logger_provider: Any = None, environ: Optional[Mapping[str, str]] = None,
                  logger_factory: Optional[Callable[[Any], Any]] = None) -> Optional[ContentSettings]:
    """Settings for ``instrument()``'s arguments (which win) and the environment; None when capture is off.

    Raises ValueError for a bad argument; bad environment values only warn, so a typo in a deployment
    cannot stop the application.
    """
    env = os.environ if environ is None else environ
    mode = mode_from_env(env) if capture_content is None else mode_from_argument(capture_content)
    redactor = _redactor_from_env(env) if content_redactor is UNSET else redactor_from_argument(content_redactor)
    limit = _max_length_from_env(env) if content_max_length is UNSET else max_length_from_argument(content_max_length)
    if mode == NO_CONTENT:
        return None
    logger = None
    if mode in (EVENT_ONLY, SPAN_AND_EVENT) and logger_factory is not None:
        logger = logger_factory(logger_provider)
    return ContentSettings(mode, redactor, limit, logger)


class ContentSettings:
    """Capture settings of one ``instrument()`` call; exists only when content capture is on.

    ``Operation.prepare`` names where a request's content is (``Prepared.content_source``); the
    ``Invocation`` reads it with :meth:`record_for` once its span exists, so sampling decides first.
    """

    __slots__ = ("logger", "max_length", "mode", "on_event", "on_span", "redactor")

    def __init__(self, mode: str, redactor: Optional[Redactor] = None, max_length: Optional[int] = None,
                 logger: Any = None) -> None:
        self.mode = mode
        self.on_span = mode in (SPAN_ONLY, SPAN_AND_EVENT)
        self.on_event = mode in (EVENT_ONLY, SPAN_AND_EVENT) and logger is not None
        self.redactor = redactor
        self.max_length = max_length
        self.logger = logger

    def record_for(self, span: Any, reader: Any, request: Any) -> Optional[ContentRecord]:
        """A record with the request's content, if this span's content will be exported at all."""
        try:
            on_span = self.on_span and span.is_recording()
            on_event = self.on_event and bool(span.get_span_context().trace_flags.sampled)
            if not (on_span or on_event):
                return None
            record = ContentRecord(self, on_span, on_event)
            reader.read_request(request, record)
            return record
        except Exception:  # telemetry must never cost the application its call
            _log.debug("bedrock-otel could not read request content", exc_info=True)
            return None

    def __repr__(self) -> str:
        return f"ContentSettings({self.mode}, redactor={self.redactor!r}, max_length={self.max_length})"


# -- one call's content ---------------------------------------------------------------------------------


class ContentRecord:
    """What one call said and was answered, in GenAI shapes, until the span ends.

    Request content is read when the call starts (the application is blocked, so the request is exactly
    what was sent); output comes from the response body, or from a stream reader fed the deltas.
    """

    __slots__ = ("inputs", "on_event", "on_span", "outputs", "settings", "stream", "system", "tools")

    def __init__(self, settings: ContentSettings, on_span: bool, on_event: bool) -> None:
        self.settings = settings
        self.on_span = on_span
        self.on_event = on_event
        self.system: List[Part] = []
        self.inputs: List[Message] = []
        self.tools: List[Dict[str, Any]] = []
        self.outputs: Optional[List[Message]] = None
        self.stream: Any = None  # has .messages() -> List[Message]

    def export(self, finish_reasons: List[str], completed: bool) -> Optional[Dict[str, List[Any]]]:
        """Attribute name → list value, redacted and truncated; None when the redactor failed."""
        outputs = self.outputs
        if outputs is None and self.stream is not None:
            outputs = self.stream.messages()
        clean = _Cleaner(self.settings.redactor, self.settings.max_length)
        try:
            values: Dict[str, List[Any]] = {}
            if self.inputs:
                values[INPUT_MESSAGES] = [clean.message(m) for m in self.inputs]
            if outputs:
                values[OUTPUT_MESSAGES] = [clean.message(_finished(m, i, finish_reasons, completed))
                                           for i, m in enumerate(outputs)]
            if self.system:
                values[SYSTEM_INSTRUCTIONS] = [clean.part(p) for p in self.system]
            if self.tools:
                values[TOOL_DEFINITIONS] = [clean.tool(t) for t in self.tools]
        except Exception:  # never export what could not be redacted
            _log.warning("bedrock-otel: content dropped: it could not be redacted (the content redactor "
                         "failed or returned a non-str)", exc_info=True)
            return None
        return values


def _finished(message: Message, index: int, reasons: List[str], completed: bool) -> Message:
    """The message with its finish reason: its own, the call's (by choice index), else stop/error."""
    if message.get("finish_reason") is not None:
        return message
    raw = reasons[index] if index < len(reasons) else (reasons[-1] if reasons else None)
    return {**message, "finish_reason": finish_reason(raw) or ("stop" if completed else "error")}


def to_json(value: Any) -> str:
    """util-genai's ``gen_ai_json_dumps``: compact separators, ASCII-escaped."""
    return json.dumps(value, separators=(",", ":"), default=str)


class _Cleaner:
    """Copies shapes for export, redacting and truncating every free text on the way."""

    __slots__ = ("limit", "redact")

    def __init__(self, redact: Optional[Redactor], limit: Optional[int]) -> None:
        self.redact = redact
        self.limit = limit

    def text(self, value: str) -> str:
        if self.redact is not None:
            value = self.redact(value)
            if not isinstance(value, str):
                raise TypeError(f"the content redactor returned {type(value).__name__}, not str")
        limit = self.limit
        if limit is not None and len(value) > limit:
            value = value[:limit] + TRUNCATION_MARKER.format(len(value) - limit)
        return value

    def tree(self, value: Any) -> Any:
        """A structured value (tool arguments, results, schemas): strings redacted, then cut as a whole."""
        if self.redact is not None:
            value = self._redact_tree(value, 0)
        limit = self.limit
        if limit is not None:
            if isinstance(value, str):
                return self.text_limit(value)
            if isinstance(value, (dict, list)):
                encoded = to_json(value)
                if len(encoded) > limit:
                    return encoded[:limit] + TRUNCATION_MARKER.format(len(encoded) - limit)
        return value

    def text_limit(self, value: str) -> str:
        limit = self.limit
        if limit is not None and len(value) > limit:
            return value[:limit] + TRUNCATION_MARKER.format(len(value) - limit)
        return value

    def _redact_tree(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            redacted = self.redact(value)  # type: ignore[misc]
            if not isinstance(redacted, str):
                raise TypeError(f"the content redactor returned {type(redacted).__name__}, not str")
            return redacted
        if depth > 64:
            return "[…]"
        if isinstance(value, dict):
            return {key: self._redact_tree(item, depth + 1) for key, item in value.items()}
        if isinstance(value, list):
            return [self._redact_tree(item, depth + 1) for item in value]
        return value

    def part(self, part: Part) -> Part:
        kind = part.get("type")
        out = dict(part)
        if kind in ("text", "reasoning"):
            out["content"] = self.text(part["content"])
        elif kind == "tool_call":
            out["arguments"] = self.tree(part["arguments"])
        elif kind == "tool_call_response":
            out["response"] = self.tree(part["response"])
        elif kind == "uri":
            out["uri"] = self.text(part["uri"])
        return out

    def message(self, message: Message) -> Message:
        return {**message, "parts": [self.part(p) for p in message["parts"]]}

    def tool(self, tool: Dict[str, Any]) -> Dict[str, Any]:
        out = dict(tool)
        if isinstance(tool.get("description"), str):
            out["description"] = self.text(tool["description"])
        if "parameters" in tool:
            out["parameters"] = self.tree(tool["parameters"])
        return out


def span_and_event_values(values: Dict[str, List[Any]], on_span: bool,
                          on_event: bool) -> Tuple[Dict[str, str], Dict[str, Any]]:
    """JSON strings for the span (util-genai's ``for_span=True``), the lists themselves for the event."""
    span_values = {key: to_json(value) for key, value in values.items()} if on_span else {}
    return span_values, (values if on_event else {})


def event_attributes(span_attributes: Mapping[str, Any], content: Mapping[str, Any]) -> Dict[str, Any]:
    """The event's attributes: the call's GenAI/server/error attributes, then the content."""
    attributes = {key: value for key, value in span_attributes.items()
                  if key.startswith(_EVENT_PREFIXES) or key in _EVENT_KEYS}
    for key in CONTENT_ATTRIBUTES:
        attributes.pop(key, None)
    attributes.update(content)
    return attributes


def emit_event(logger: Any, span: Any, attributes: Dict[str, Any]) -> None:
    """One ``gen_ai.client.inference.operation.details`` record in the span's context."""
    from opentelemetry._logs import LogRecord
    from opentelemetry.trace import set_span_in_context

    try:
        record = LogRecord(event_name=EVENT_NAME, attributes=attributes, context=set_span_in_context(span))
    except TypeError:  # opentelemetry-api < 1.35: no event_name/context keywords
        context = span.get_span_context()
        record = LogRecord(trace_id=context.trace_id, span_id=context.span_id, trace_flags=context.trace_flags,
                           attributes={"event.name": EVENT_NAME, **attributes})
    logger.emit(record)
