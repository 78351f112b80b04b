"""Where each API keeps prompts and responses, and how Bedrock's message shapes become GenAI message parts.

Families declare their content as paths (:class:`ContentFields`), in the same dotted style as their
:class:`~.base.Fields`; the readers here understand every block dialect Bedrock bodies use, so a family
needs no code of its own:

* Converse / Nova ``messages-v1`` blocks: ``{"text"}``, ``{"toolUse"}``, ``{"toolResult"}``,
  ``{"reasoningContent"}``, ``{"image"|"document"|"video"|"audio": {"format", "source"}}``, ``{"guardContent"}``;
* Anthropic typed blocks: ``text``, ``tool_use``, ``tool_result``, ``thinking``, ``redacted_thinking``,
  ``image``/``document`` (``base64`` or ``url`` sources);
* OpenAI-style messages: string or ``{"type": "text"|"image_url"}`` content, ``tool_calls`` with JSON
  ``arguments``, ``role: "tool"`` results, ``reasoning_content``;
* Cohere Command R: ``chat_history`` turns (``USER``/``CHATBOT``/``SYSTEM``/``TOOL``), ``tool_results``.

Streams are reassembled from their deltas per content block (text, tool-input JSON fragments, reasoning):
ConverseStream/Nova events, Anthropic events, chat-completions ``choices[].delta``, or plain text chunks.
Everything here runs only when content capture is on and the span is sampled.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ..telemetry.content import (
    ContentRecord,
    Message,
    Part,
    blob_part,
    function_tool,
    generic_tool,
    input_message,
    output_message,
    reasoning_part,
    text_part,
    tool_call_part,
    tool_response_part,
    uri_part,
)
from .base import Paths, path_values

_log = logging.getLogger(__name__)

_ROLES = {"USER": "user", "CHATBOT": "assistant", "SYSTEM": "system", "TOOL": "tool"}
_MEDIA_KINDS = ("image", "document", "video", "audio")
_DOCUMENT_TYPES = {
    "pdf": "application/pdf", "csv": "text/csv", "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html", "txt": "text/plain", "md": "text/markdown",
}
_VIDEO_TYPES = {"mov": "video/quicktime", "mkv": "video/x-matroska", "three_gp": "video/3gpp", "mpg": "video/mpeg",
                "wmv": "video/x-ms-wmv", "flv": "video/x-flv"}
# First characters of base64 data by file type (what Bedrock's image models accept and return).
_BASE64_MAGIC = (("iVBORw0KGgo", "image/png"), ("/9j/", "image/jpeg"), ("R0lGOD", "image/gif"),
                 ("UklGR", "image/webp"), ("JVBERi0", "application/pdf"))


# -- values -------------------------------------------------------------------------------------------------


def plain(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of an application value: bytes become a size note, media blocks references."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"[{len(value)} bytes]"
    if depth > 32:
        return "[…]"
    if isinstance(value, Mapping):
        media = _media_block(value)
        if media is not None:
            return media
        return {str(key): plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item, depth + 1) for item in value]
    if hasattr(value, "read"):
        return "[stream]"
    return str(value)


def json_arguments(value: Any) -> Any:
    """Tool arguments as sent: JSON text is parsed (as util-genai does), anything else copied."""
    if isinstance(value, str):
        try:
            return plain(json.loads(value))
        except ValueError:
            return value
    return plain(value)


def _base64_size(data: str) -> int:
    data = data.strip()
    return max(len(data) * 3 // 4 - data[-2:].count("="), 0)


def _sniff(data: str) -> Optional[str]:
    for prefix, mime in _BASE64_MAGIC:
        if data.startswith(prefix):
            return mime
    return None


def _mime(kind: str, fmt: Any) -> Optional[str]:
    if not isinstance(fmt, str) or not fmt:
        return None
    fmt = fmt.lower()
    if kind == "document":
        return _DOCUMENT_TYPES.get(fmt, f"application/{fmt}")
    if kind == "video":
        return _VIDEO_TYPES.get(fmt, f"video/{fmt}")
    return f"{kind}/{'jpeg' if fmt == 'jpg' else fmt}"


def media_part(value: Any, modality: str = "image", mime_type: Optional[str] = None) -> Optional[Part]:
    """A reference for inline media: base64 text, a data: URL, bytes, a URL/S3 URI, or a Converse source."""
    if isinstance(value, str):
        if value.startswith("data:"):
            header, _, payload = value[5:].partition(",")
            mime = header.split(";", 1)[0] or mime_type
            size = _base64_size(payload) if ";base64" in header.lower() else len(payload)
            kind = (mime or "").split("/", 1)[0]
            return blob_part(mime, kind if kind in ("image", "video", "audio") else modality, size)
        if value.startswith(("http://", "https://", "s3://", "gs://")):
            return uri_part(mime_type, modality, value)
        return blob_part(mime_type or _sniff(value), modality, _base64_size(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return blob_part(mime_type, modality, len(value))
    if isinstance(value, Mapping):
        return _media_source(value, modality, mime_type)
    return None


def _media_source(media: Mapping[str, Any], modality: str, mime_type: Optional[str]) -> Optional[Part]:
    """Converse ``{"format", "source": {"bytes" | "s3Location" | "text"}}`` (also Anthropic sources)."""
    mime = mime_type or _mime(modality, media.get("format")) or media.get("media_type")
    source = media.get("source", media)
    if not isinstance(source, Mapping):
        return None
    location = source.get("s3Location")
    if isinstance(location, Mapping) and isinstance(location.get("uri"), str):
        return uri_part(mime, modality, location["uri"])
    if isinstance(source.get("url"), str):
        return uri_part(mime, modality, source["url"])
    for key in ("bytes", "data"):
        if key in source:
            return media_part(source[key], modality, mime or source.get("media_type"))
    text = source.get("text")
    if isinstance(text, str):
        return blob_part(mime or "text/plain", modality, len(text.encode("utf-8")))
    content = source.get("content")
    if isinstance(content, list):  # document built from text blocks
        return blob_part(mime, modality, sum(len(str(block)) for block in content))
    return None


def _media_block(block: Mapping[str, Any]) -> Optional[Part]:
    """A media content block in any dialect, as a blob/uri reference; None if the block is not media."""
    kind = block.get("type")
    if kind is None:
        for name in _MEDIA_KINDS:
            media = block.get(name)
            if isinstance(media, Mapping) and ("source" in media or "format" in media):
                return _media_source(media, name, None)
        return None
    if kind in _MEDIA_KINDS and isinstance(block.get("source"), Mapping):
        source = block["source"]
        return _media_source({"source": source}, kind, source.get("media_type"))
    if kind == "image_url":
        url = block.get("image_url")
        url = url.get("url") if isinstance(url, Mapping) else url
        return media_part(url, "image") if isinstance(url, str) else None
    if kind == "input_audio" and isinstance(block.get("input_audio"), Mapping):
        audio = block["input_audio"]
        return media_part(audio.get("data"), "audio", _mime("audio", audio.get("format")))
    return None


# -- parts, messages, tools ---------------------------------------------------------------------------


def part_of(block: Any) -> Optional[Part]:
    """One content block → one GenAI part (None for blocks that carry no content, e.g. cache points)."""
    if isinstance(block, str):
        return text_part(block)
    if not isinstance(block, Mapping):
        return None
    kind = block.get("type")
    text = block.get("text")
    if isinstance(text, str) and kind in (None, "text"):
        return text_part(text)
    media = _media_block(block)
    if media is not None:
        return media
    if kind is None:  # Converse / Nova union members
        if isinstance(block.get("toolUse"), Mapping):
            use = block["toolUse"]
            return tool_call_part(use.get("toolUseId"), str(use.get("name", "")), plain(use.get("input")))
        if isinstance(block.get("toolResult"), Mapping):
            result = block["toolResult"]
            return tool_response_part(result.get("toolUseId"), plain(result.get("content")))
        if isinstance(block.get("reasoningContent"), Mapping):
            reasoning = block["reasoningContent"]
            text_block = reasoning.get("reasoningText")
            if isinstance(text_block, Mapping) and isinstance(text_block.get("text"), str):
                return reasoning_part(text_block["text"])
            return reasoning_part("", redacted=True) if "redactedContent" in reasoning else None
        guard = block.get("guardContent")
        if isinstance(guard, Mapping):
            guarded = guard.get("text")
            guarded = guarded.get("text") if isinstance(guarded, Mapping) else guarded
            return text_part(guarded) if isinstance(guarded, str) else part_of(guard)
        return None
    if kind in ("tool_use", "server_tool_use"):
        return tool_call_part(block.get("id"), str(block.get("name", "")), plain(block.get("input")))
    if kind == "tool_result":
        return tool_response_part(block.get("tool_use_id"), plain(block.get("content")))
    if kind == "thinking":
        return reasoning_part(str(block.get("thinking") or ""))
    if kind == "redacted_thinking":
        return reasoning_part("", redacted=True)
    return None


def parts_of(content: Any) -> List[Part]:
    """A message's content — a string, one block or a list of blocks — as parts."""
    if isinstance(content, (str, Mapping)):
        part = part_of(content)
        return [part] if part is not None else []
    if isinstance(content, list):
        return [part for part in map(part_of, content) if part is not None]
    return []


def tool_call_of(call: Any) -> Optional[Part]:
    """A tool call in any dialect: OpenAI ``{"id", "function": {"name", "arguments"}}``, Cohere
    ``{"name", "parameters"}``, Converse ``{"toolUseId", "name", "input"}``, Anthropic ``{"id", "name", "input"}``."""
    if not isinstance(call, Mapping):
        return None
    function = call.get("function")
    if isinstance(function, Mapping):
        return tool_call_part(call.get("id"), str(function.get("name", "")), json_arguments(function.get("arguments")))
    arguments = next((call[key] for key in ("input", "parameters", "arguments") if key in call), None)
    return tool_call_part(call.get("id", call.get("toolUseId")), str(call.get("name", "")), json_arguments(arguments))


def message_of(message: Any, default_role: str = "user") -> Optional[Message]:
    """One conversation turn in any dialect → ``{"role", "parts", "name"}``."""
    if isinstance(message, str):
        return input_message(default_role, [text_part(message)])
    if not isinstance(message, Mapping):
        return None
    if "call" in message and "outputs" in message:  # a Cohere tool result
        return input_message("tool", [tool_response_part(None, plain(message["outputs"]))])
    raw_role = message.get("role")
    role = _ROLES.get(raw_role, raw_role.lower()) if isinstance(raw_role, str) else default_role
    content = message["content"] if "content" in message else message.get("message")
    parts: List[Part] = []
    reasoning = message.get("reasoning_content", message.get("reasoning"))
    if isinstance(reasoning, str) and reasoning:
        parts.append(reasoning_part(reasoning))
    if role == "tool" and "tool_call_id" in message:  # OpenAI-style tool result
        parts.append(tool_response_part(message.get("tool_call_id"), plain(content)))
    else:
        parts.extend(parts_of(content))
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        parts.extend(part for part in map(tool_call_of, calls) if part is not None)
    results = message.get("tool_results")
    if isinstance(results, list):
        parts.extend(tool_response_part(None, plain(r.get("outputs") if isinstance(r, Mapping) else r))
                     for r in results)
    return input_message(role, parts)


def system_of(value: Any) -> List[Part]:
    """System instructions: a string, or text blocks (cache points and the like are skipped)."""
    if isinstance(value, str):
        return [text_part(value)] if value else []
    return [p for p in parts_of(value) if p["type"] == "text"]


def tool_of(tool: Any) -> Optional[Dict[str, Any]]:
    """A tool definition in any dialect → a function (or, for built-in tools, a generic) definition."""
    if not isinstance(tool, Mapping):
        return None
    spec = tool.get("toolSpec")
    if not isinstance(spec, Mapping):
        function = tool.get("function")
        spec = function if isinstance(function, Mapping) else tool
    name = spec.get("name")
    if not isinstance(name, str):
        return None
    schema = next((spec[key] for key in ("input_schema", "parameters", "parameter_definitions") if key in spec), None)
    converse_schema = spec.get("inputSchema")
    if schema is None and converse_schema is not None:
        schema = converse_schema.get("json", converse_schema) if isinstance(converse_schema, Mapping) else None
    description = spec.get("description")
    if schema is None and isinstance(tool.get("type"), str) and tool.get("type") != "function":
        return generic_tool(name, tool["type"])
    return function_tool(name, description if isinstance(description, str) else None, plain(schema))


def _flat(values: List[Any]) -> List[Any]:
    out: List[Any] = []
    for value in values:
        if isinstance(value, list):
            out.extend(value)
        else:
            out.append(value)
    return out


def _all(body: Any, paths: Paths) -> List[Any]:
    """Every value at every path, lists flattened (request content: all of it belongs to the prompt)."""
    found: List[Any] = []
    for path in paths:
        found.extend(_flat(path_values(body, path)))
    return found


def _first(body: Any, paths: Paths) -> List[Any]:
    """The values at the first path that has any (response shapes: alternatives)."""
    for path in paths:
        values = path_values(body, path)
        if values:
            return values
    return []


def _output_of(value: Any) -> Optional[Message]:
    if isinstance(value, str):
        return output_message("assistant", [text_part(value)])
    if isinstance(value, list):
        return output_message("assistant", parts_of(value))
    message = message_of(value, "assistant")
    if message is None:
        return None
    return output_message(message["role"], message["parts"])


# -- declarations -------------------------------------------------------------------------------------------

STREAM_STYLES = {
    "converse": "ConverseStream events (`contentBlockStart` tool use, `contentBlockDelta` text / tool input "
                "JSON / reasoning)",
    "anthropic": "Claude events (`content_block_start`, `content_block_delta` text / `input_json_delta` / "
                 "thinking; legacy `completion`)",
    "choices": "`choices[].delta` (content, reasoning, tool-call `arguments` fragments), `choices[].text`, "
               "`choices[].message`",
}


@dataclass(frozen=True)
class ContentFields:
    """Where an API's bodies keep content; paths as in :class:`~.base.Fields` (``a[]`` walks a list).

    Request paths are all read (``system``, ``messages``, ``prompt``, ``media``, ``tools``: everything
    found is part of the prompt); response paths are alternatives (the first present wins), as for
    :class:`~.base.Fields`. Docs/families.md renders these declarations.
    """

    system: Paths = ()  #: system instructions: a string or text blocks
    messages: Paths = ()  #: lists of conversation turns (any dialect)
    prompt: Paths = ()  #: texts sent as one user message (prompt-style bodies)
    media: Paths = ()  #: inline media sent with the prompt (recorded as type and size only)
    tools: Paths = ()  #: tool definitions
    output: Paths = ()  #: assistant messages, block lists or generated texts: one output message each
    output_tool_calls: Paths = ()  #: tool calls stated beside the output text (Cohere Command R)
    output_media: Paths = ()  #: generated images (recorded as type and size only)
    stream: str = ""  #: event dialect of streamed deltas: "converse" | "anthropic" | "choices" | "" (text)
    stream_text: Paths = ()  #: stream chunks: text deltas
    stream_final: Paths = ()  #: a stream chunk member repeating the whole response, which then wins

    @property
    def declared(self) -> bool:
        return bool(self.system or self.messages or self.prompt or self.media or self.tools)

    def read_request(self, request: Any, record: ContentRecord) -> None:
        """Fill ``record`` with the request's system instructions, messages and tool definitions."""
        if not isinstance(request, Mapping):
            return
        record.system = [part for value in _all(request, self.system) for part in system_of(value)]
        inputs = [m for m in map(message_of, _all(request, self.messages)) if m is not None]
        prompt = [part for value in _all(request, self.prompt) for part in parts_of(value)]
        prompt += [p for p in (media_part(v) for v in _all(request, self.media)) if p is not None]
        if prompt:
            inputs.append(input_message("user", prompt))
        record.inputs = inputs
        record.tools = [t for t in map(tool_of, _all(request, self.tools)) if t is not None]

    def read_response(self, body: Any) -> List[Message]:
        """Output messages of a whole response body (finish reasons are added when the span ends)."""
        if not isinstance(body, Mapping):
            return []
        messages = [m for m in map(_output_of, _first(body, self.output)) if m is not None]
        calls = [c for c in map(tool_call_of, _flat(_first(body, self.output_tool_calls))) if c is not None]
        media = [p for p in (media_part(v) for v in _flat(_first(body, self.output_media))) if p is not None]
        for extra in (calls, media):
            if extra and messages:
                messages[-1]["parts"].extend(extra)
            elif extra:
                messages.append(output_message("assistant", extra))
        return messages

    def stream_reader(self, whole_bodies: bool = False) -> StreamContent:
        """A fresh reassembler for one stream; ``whole_bodies`` for families whose chunks are whole bodies."""
        return StreamContent(self, whole_bodies)

    def describe(self) -> List[str]:
        """Lines for docs/families.md's "Content capture" column."""

        def paths(values: Paths, sep: str) -> str:
            groups: List[Tuple[str, List[str]]] = []  # consecutive paths under one parent: parent.{a, b}
            for value in values:
                parent, dot, leaf = value.rpartition(".")
                if dot and groups and groups[-1][0] == parent:
                    groups[-1][1].append(leaf)
                else:
                    groups.append((parent, [leaf]) if dot else ("", [value]))
            return sep.join(f"`{parent}.{{{', '.join(leaves)}}}`" if len(leaves) > 1 else
                            f"`{parent + '.' if parent else ''}{leaves[0]}`" for parent, leaves in groups)

        lines = []
        for label, values in (("system", self.system), ("messages", self.messages), ("prompt", self.prompt),
                              ("media (type and size)", self.media), ("tools", self.tools)):
            if values:
                lines.append(f"{label} ← {paths(values, ' + ')}")
        if self.output:
            lines.append(f"output ← {paths(self.output, ' / ')}")
        if self.output_tool_calls:
            lines.append(f"tool calls ← {paths(self.output_tool_calls, ' / ')}")
        if self.output_media:
            lines.append(f"images (type and size) ← {paths(self.output_media, ' / ')}")
        if self.stream:
            lines.append(f"stream: {STREAM_STYLES[self.stream]}")
        if self.stream_text:
            lines.append(f"stream text ← {paths(self.stream_text, ' / ')}")
        if self.stream_final:
            lines.append(f"stream end ← {paths(self.stream_final, ' / ')} (whole response)")
        return lines


# -- streams --------------------------------------------------------------------------------------------


class _Block:
    """One content block being streamed: text or reasoning pieces, or a tool call's JSON fragments."""

    __slots__ = ("call_id", "initial", "kind", "name", "pieces", "redacted")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.pieces: List[str] = []
        self.call_id: Optional[str] = None
        self.name = ""
        self.initial: Any = None  # tool input given whole in the start event
        self.redacted = False

    def part(self) -> Part:
        text = "".join(self.pieces)
        if self.kind == "tool":
            arguments = json_arguments(text) if text else (plain(self.initial) if self.initial else {})
            return tool_call_part(self.call_id, self.name, arguments)
        if self.kind == "reasoning":
            return reasoning_part(text, redacted=self.redacted and not text)
        return text_part(text)


_REASONING, _TEXT, _TOOLS = 0, 1, 2  # order of a chat choice's parts


class StreamContent:
    """Reassembles a stream's output message(s) from the events the application reads.

    Fed every decoded event (ConverseStream) or model chunk (InvokeModelWithResponseStream) by the
    stream observer; never raises (a malformed event only costs its own content).
    """

    __slots__ = ("_blocks", "_feed", "_fields", "_final", "_role", "_whole", "errors")

    def __init__(self, fields: ContentFields, whole_bodies: bool = False) -> None:
        self._fields = fields
        self._blocks: Dict[Tuple[int, int], _Block] = {}
        self._final: Optional[Mapping[str, Any]] = None
        self._role = "assistant"
        self._whole = whole_bodies
        self.errors = 0
        styles: Dict[str, Callable[[Mapping[str, Any]], None]] = {
            "converse": self._converse, "anthropic": self._anthropic, "choices": self._choices,
        }
        self._feed = styles.get(fields.stream, self._text)

    def feed(self, event: Mapping[str, Any]) -> None:
        try:
            if self._whole:
                self._final = event
                return
            if self._fields.stream_final:
                final = _first(event, self._fields.stream_final)
                if final and isinstance(final[0], Mapping):
                    self._final = final[0]
                    return
            self._feed(event)
        except Exception:
            self.errors += 1
            _log.debug("bedrock-otel could not read stream content", exc_info=True)

    def _block(self, choice: int, index: int, kind: str) -> _Block:
        key = (choice, index)
        block = self._blocks.get(key)
        if block is None:
            block = self._blocks[key] = _Block(kind)
        return block

    def _converse(self, event: Mapping[str, Any]) -> None:
        body = event.get("contentBlockDelta")
        if isinstance(body, Mapping):
            index = body.get("contentBlockIndex", 0)
            delta = body.get("delta")
            if not isinstance(delta, Mapping):
                return
            if "text" in delta:
                self._block(0, index, "text").pieces.append(str(delta["text"]))
            elif isinstance(delta.get("toolUse"), Mapping):
                self._block(0, index, "tool").pieces.append(str(delta["toolUse"].get("input") or ""))
            elif isinstance(delta.get("reasoningContent"), Mapping):
                reasoning = delta["reasoningContent"]
                block = self._block(0, index, "reasoning")
                if isinstance(reasoning.get("text"), str):
                    block.pieces.append(reasoning["text"])
                elif "redactedContent" in reasoning:
                    block.redacted = True
            return
        start = event.get("contentBlockStart")
        if isinstance(start, Mapping):
            use = (start.get("start") or {}).get("toolUse")
            if isinstance(use, Mapping):
                block = self._block(0, start.get("contentBlockIndex", 0), "tool")
                block.call_id, block.name = use.get("toolUseId"), str(use.get("name", ""))
            return
        message = event.get("messageStart")
        if isinstance(message, Mapping) and isinstance(message.get("role"), str):
            self._role = message["role"]

    def _anthropic(self, chunk: Mapping[str, Any]) -> None:
        kind = chunk.get("type")
        if kind == "content_block_delta":
            delta = chunk.get("delta")
            if not isinstance(delta, Mapping):
                return
            index, delta_type = chunk.get("index", 0), delta.get("type")
            if delta_type == "text_delta":
                self._block(0, index, "text").pieces.append(str(delta.get("text", "")))
            elif delta_type == "input_json_delta":
                self._block(0, index, "tool").pieces.append(str(delta.get("partial_json", "")))
            elif delta_type == "thinking_delta":
                self._block(0, index, "reasoning").pieces.append(str(delta.get("thinking", "")))
        elif kind == "content_block_start":
            start = chunk.get("content_block")
            if not isinstance(start, Mapping):
                return
            index, block_type = chunk.get("index", 0), start.get("type")
            if block_type == "text":
                self._block(0, index, "text").pieces.append(str(start.get("text") or ""))
            elif block_type in ("tool_use", "server_tool_use"):
                block = self._block(0, index, "tool")
                block.call_id, block.name, block.initial = start.get("id"), str(start.get("name", "")), \
                    start.get("input")
            elif block_type == "thinking":
                self._block(0, index, "reasoning").pieces.append(str(start.get("thinking") or ""))
            elif block_type == "redacted_thinking":
                self._block(0, index, "reasoning").redacted = True
        elif kind == "message_start":
            message = chunk.get("message")
            if isinstance(message, Mapping) and isinstance(message.get("role"), str):
                self._role = message["role"]
        elif isinstance(chunk.get("completion"), str):  # legacy Text Completions
            self._block(0, _TEXT, "text").pieces.append(chunk["completion"])

    def _choices(self, chunk: Mapping[str, Any]) -> None:
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            self._text(chunk)
            return
        for position, choice in enumerate(choices):
            if not isinstance(choice, Mapping):
                continue
            number = choice.get("index", position)
            number = number if isinstance(number, int) else position
            delta = choice.get("delta", choice.get("message"))  # Mistral streams partial ``message`` objects
            if isinstance(delta, Mapping):
                if isinstance(delta.get("role"), str):
                    self._role = delta["role"]
                content = delta.get("content")
                if isinstance(content, str) and content:
                    self._block(number, _TEXT, "text").pieces.append(content)
                reasoning = delta.get("reasoning_content", delta.get("reasoning"))
                if isinstance(reasoning, str) and reasoning:
                    self._block(number, _REASONING, "reasoning").pieces.append(reasoning)
                calls = delta.get("tool_calls")
                if isinstance(calls, list):
                    self._tool_deltas(number, calls)
            text = choice.get("text")
            if isinstance(text, str) and text:
                self._block(number, _TEXT, "text").pieces.append(text)

    def _tool_deltas(self, choice: int, calls: List[Any]) -> None:
        for position, call in enumerate(calls):
            if not isinstance(call, Mapping):
                continue
            number = call.get("index", position)
            block = self._block(choice, _TOOLS + (number if isinstance(number, int) else position), "tool")
            if call.get("id"):
                block.call_id = call["id"]
            function = call.get("function")
            if isinstance(function, Mapping):
                if function.get("name"):
                    block.name = str(function["name"])
                arguments = function.get("arguments")
                if isinstance(arguments, str):
                    block.pieces.append(arguments)
                elif arguments is not None:
                    block.initial = arguments

    def _text(self, chunk: Mapping[str, Any]) -> None:
        texts = [value for value in _first(chunk, self._fields.stream_text) if isinstance(value, str)]
        if texts:
            self._block(0, _TEXT, "text").pieces.extend(texts)

    def messages(self) -> List[Message]:
        """The output message(s) so far: one per chat choice, parts in block order."""
        if self._final is not None:
            final = self._fields.read_response(self._final)
            if final:
                return final
        by_choice: Dict[int, List[Part]] = {}
        merge = self._fields.stream == "converse"
        for (choice, _index), block in sorted(self._blocks.items(), key=lambda item: item[0]):
            parts = by_choice.setdefault(choice, [])
            part = block.part()
            if merge and part["type"] == "text" and parts and parts[-1]["type"] == "text":
                # Nova's InvokeModel streams put every text delta in a block of its own; its body has one.
                parts[-1] = text_part(parts[-1]["content"] + part["content"])
            else:
                parts.append(part)
        return [output_message(self._role, parts) for _choice, parts in sorted(by_choice.items())]
