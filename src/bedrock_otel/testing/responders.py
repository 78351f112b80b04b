"""Scripted, deterministic response bodies for the fake Bedrock Runtime, one entry per model family.

The fake server must answer like Bedrock does for each model family (InvokeModel bodies are
model-specific; Converse is model-agnostic), while staying predictable enough that tests can assert
exact token counts and texts. Everything here is pure: no I/O, no clocks (the server fills in
latencies), so tests can call the same functions to compute what the server will answer.

Deterministic rules (documented so tests can rely on them):

* **Reply text**: ``"Fake Bedrock reply to: " + last_user_text[:40]`` with whitespace collapsed to single
  spaces (see :func:`reply_text`). ``last_user_text`` is the text blocks of the last ``user`` message joined
  with a space (``""`` if that message has no text, e.g. only a tool result).
* **Stream pieces**: the reply text split on spaces; every piece but the last keeps its trailing space,
  so ``"".join(pieces) == text`` (see :attr:`FakeReply.pieces`).
* **Input tokens**: number of whitespace-separated words in all user and system text of the request
  (assistant turns and tool specs are not counted), minimum 1.
* **Output tokens**: number of words in the reply text, plus the words of ``json.dumps(tool_input)``
  when a tool call is made.
* **max tokens**: if the request sets a max-tokens limit smaller than the reply word count, the reply is
  truncated to that many words and the stop reason is ``max_tokens`` (no tool call is made then).
* **Tool use** (Converse, Anthropic and Nova bodies): if the request declares tools and the last user
  text contains the word ``weather`` (case-insensitive), the reply has the text block *and* a tool call
  to the first declared tool with input :data:`TOOL_INPUT`; stop reason ``tool_use``.
* **Prompt caching** (Converse only): if the request contains ``{"cachePoint": {...}}`` blocks, the words
  before the last cache point (order: tools, system, messages) are the cached prefix P. The first
  request a server sees with that prefix (per model) reports ``cacheWriteInputTokens = P`` and
  ``cacheReadInputTokens = 0``; later ones report ``cacheReadInputTokens = P`` and
  ``cacheWriteInputTokens = 0``. Like Bedrock, ``inputTokens`` then counts only the uncached words
  (``N - P``, which may be 0) and ``totalTokens = input + output + cacheRead + cacheWrite``.
* **Images and embeddings** (Nova Canvas, Titan Image, Stability; Titan, Nova and Cohere embeddings):
  no text and 0 output tokens; as many images as the request asks for (``numberOfImages``,
  ``samples``; default 1) or one vector per input text, of the requested size or the model's default.
  Every image is :data:`FAKE_IMAGE_BASE64`. Bedrock does not stream these models; the fake streams the
  whole body as one chunk so that clients and codecs can still be exercised.
* **Finish reasons** use each family's vocabulary: ``end_turn``/``max_tokens`` become ``stop``/``length``
  (Llama, Mistral, chat-completions families), ``COMPLETE``/``MAX_TOKENS`` (Cohere), ``FINISH``/``LENGTH``
  (Titan).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

__all__ = [
    "ANTHROPIC",
    "COHERE_COMMAND",
    "COHERE_COMMAND_R",
    "COHERE_EMBED",
    "DEEPSEEK",
    "FAKE_IMAGE_BASE64",
    "FAMILIES",
    "GPT_OSS",
    "JAMBA",
    "LLAMA",
    "MISTRAL",
    "NOVA",
    "NOVA_CANVAS",
    "NOVA_EMBED",
    "QWEN",
    "REGION_PREFIXES",
    "STABILITY",
    "TITAN_EMBED",
    "TITAN_IMAGE",
    "TITAN_TEXT",
    "TOOL_INPUT",
    "TOOL_TRIGGER",
    "UNKNOWN",
    "WRITER",
    "FakeReply",
    "ModelFamily",
    "ModelRef",
    "Prompt",
    "PromptCache",
    "ToolCall",
    "compute_reply",
    "converse_body",
    "converse_reply",
    "converse_stream_events",
    "count_words",
    "invocation_metrics",
    "invoke_reply",
    "parse_converse",
    "register_family",
    "reply_text",
    "resolve_model",
]

REPLY_PREFIX = "Fake Bedrock reply to: "
REPLY_QUOTE_CHARS = 40
TOOL_TRIGGER = re.compile(r"\bweather\b", re.IGNORECASE)
TOOL_INPUT: Dict[str, Any] = {"location": "Seattle"}

# Cross-region inference profile prefixes ("us.anthropic...", "global.amazon.nova-...").
REGION_PREFIXES = frozenset({"us", "us-gov", "eu", "apac", "global", "jp", "au", "ca", "sa", "mx", "in"})
# ARN resource types whose id is itself a model id; everything else is opaque to the fake.
_MODEL_ID_RESOURCES = ("foundation-model/", "inference-profile/")

JsonDict = Dict[str, Any]


# --------------------------------------------------------------------------------------------------
# Model id resolution
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRef:
    """A model id as the fake understands it; independent of the library under test on purpose."""

    model_id: str  # decoded id exactly as the client sent it
    base_id: str  # region prefix and ARN stripped; "" for opaque ARNs
    vendor: str  # text before the first '.' of base_id ("" if opaque)
    family: str  # name of the matching ModelFamily, or "unknown"


def _strip_region_prefix(model_id: str) -> str:
    head, sep, rest = model_id.partition(".")
    if sep and head in REGION_PREFIXES and "." in rest:
        return rest
    return model_id


def _base_model_id(model_id: str) -> str:
    """Strip ARN wrapping and region prefix; opaque ARNs (custom, provisioned, ...) give ''."""
    if model_id.startswith("arn:"):
        parts = model_id.split(":", 5)
        if len(parts) < 6:
            return ""
        resource = parts[5]
        for prefix in _MODEL_ID_RESOURCES:
            if resource.startswith(prefix):
                return _strip_region_prefix(resource[len(prefix) :])
        return ""
    return _strip_region_prefix(model_id)


def resolve_model(model_id: str) -> ModelRef:
    """Map a (decoded) model id or ARN to its family via the :data:`FAMILIES` registry."""
    base = _base_model_id(model_id)
    vendor = base.split(".", 1)[0] if "." in base else ""
    family = family_for(base)
    return ModelRef(model_id=model_id, base_id=base, vendor=vendor, family=family.name)


# --------------------------------------------------------------------------------------------------
# Normalised request view and the deterministic reply
# --------------------------------------------------------------------------------------------------


def count_words(*texts: str) -> int:
    """Whitespace-separated word count: the fake's whole tokenizer."""
    return sum(len(t.split()) for t in texts)


def reply_text(last_user_text: str) -> str:
    """The scripted reply for a prompt (whitespace collapsed so that pieces rejoin exactly)."""
    return " ".join((REPLY_PREFIX + last_user_text[:REPLY_QUOTE_CHARS]).split())


@dataclass(frozen=True)
class Prompt:
    """What the fake extracts from any request shape before answering."""

    texts: Tuple[str, ...] = ()  # all user + system text, in prompt order
    last_user_text: str = ""
    max_tokens: Optional[int] = None
    tool_names: Tuple[str, ...] = ()
    cached_prefix_words: Optional[int] = None  # None: the request has no cache point
    cache_key: Optional[str] = None  # hash of the cached prefix content
    output: str = "text"  # "text" | "image" | "embedding": what the request asks the model to produce
    output_count: int = 1  # images asked for, or texts to embed (one vector each)
    dimensions: Optional[int] = None  # requested embedding size (None: the model's default)
    variant: str = ""  # which of its family's body shapes the request used, e.g. "prompt" or "chat"

    @property
    def input_words(self) -> int:
        """Input token count per the documented rule (minimum 1)."""
        return max(count_words(*self.texts), 1)


@dataclass(frozen=True)
class ToolCall:
    """A scripted tool invocation (Converse ``toolUse`` / Anthropic ``tool_use``)."""

    tool_use_id: str  # "tooluse_<hex>"; Anthropic bodies use "toolu_bdrk_<hex>"
    name: str
    input: JsonDict = field(default_factory=dict)

    @property
    def input_json(self) -> str:
        """The tool input as the JSON text streamed in deltas."""
        return json.dumps(self.input)

    @property
    def anthropic_id(self) -> str:
        """Anthropic-style id for the same call."""
        return "toolu_bdrk_" + self.tool_use_id.split("_", 1)[-1]


@dataclass(frozen=True)
class FakeReply:
    """The model answer every response shape is rendered from; tests can compute it ahead of time."""

    text: str
    input_tokens: int
    output_tokens: int
    stop_reason: str = "end_turn"  # Converse vocabulary; families map it (e.g. Titan FINISH/LENGTH)
    tool_call: Optional[ToolCall] = None
    cache_read_input_tokens: Optional[int] = None  # None: no cache point in the request
    cache_write_input_tokens: Optional[int] = None
    output: str = "text"  # copied from the Prompt: families render images/vectors instead of text
    output_count: int = 1
    dimensions: Optional[int] = None
    variant: str = ""

    @property
    def pieces(self) -> List[str]:
        """Stream deltas: one per word, trailing space on all but the last; joins back to ``text``."""
        words = self.text.split(" ") if self.text else []
        return [w + " " for w in words[:-1]] + words[-1:]

    @property
    def total_tokens(self) -> int:
        """Converse ``totalTokens``: input + output + cache read + cache write."""
        return (
            self.input_tokens
            + self.output_tokens
            + (self.cache_read_input_tokens or 0)
            + (self.cache_write_input_tokens or 0)
        )

    def with_text(
        self,
        text: str,
        stop_reason: Optional[str] = None,
        input_tokens: Optional[int] = None,
        output_tokens: Optional[int] = None,
    ) -> FakeReply:
        """A copy answering ``text`` instead (no tool call); used by ``Reply.text``."""
        return dataclasses.replace(
            self,
            text=text,
            stop_reason=stop_reason if stop_reason is not None else "end_turn",
            input_tokens=input_tokens if input_tokens is not None else self.input_tokens,
            output_tokens=output_tokens if output_tokens is not None else count_words(text),
            tool_call=None,
        )


class PromptCache:
    """Thread-safe record of cached prefixes a server has seen (cache write first, read afterwards)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[str] = set()

    def seen_before(self, key: str) -> bool:
        """Return whether ``key`` was cached already, and remember it."""
        with self._lock:
            if key in self._seen:
                return True
            self._seen.add(key)
            return False

    def clear(self) -> None:
        """Forget every prefix (server reset)."""
        with self._lock:
            self._seen.clear()


def _tool_use_id(prompt: Prompt, name: str) -> str:
    digest = hashlib.sha256(f"{name}\0{prompt.last_user_text}".encode()).hexdigest()
    return "tooluse_" + digest[:22]


def compute_reply(prompt: Prompt, cache: Optional[PromptCache] = None, cache_scope: str = "") -> FakeReply:
    """Apply the documented rules to a normalised prompt.

    ``cache`` (shared per server) decides read vs write for cache points; without it the request is
    treated as the first one with its prefix (cache write).
    """
    words = reply_text(prompt.last_user_text).split() if prompt.output == "text" else []
    stop_reason = "end_turn"
    tool_call: Optional[ToolCall] = None
    if prompt.max_tokens is not None and len(words) > prompt.max_tokens:
        words = words[: max(prompt.max_tokens, 0)]
        stop_reason = "max_tokens"
    elif prompt.tool_names and TOOL_TRIGGER.search(prompt.last_user_text):
        name = prompt.tool_names[0]
        tool_call = ToolCall(_tool_use_id(prompt, name), name, dict(TOOL_INPUT))
        stop_reason = "tool_use"
    text = " ".join(words)
    output_tokens = len(words) + (count_words(tool_call.input_json) if tool_call else 0)

    input_tokens = prompt.input_words
    cache_read: Optional[int] = None
    cache_write: Optional[int] = None
    if prompt.cached_prefix_words is not None:
        prefix = prompt.cached_prefix_words
        key = f"{cache_scope}\0{prompt.cache_key}"
        hit = cache.seen_before(key) if cache is not None else False
        cache_read, cache_write = (prefix, 0) if hit else (0, prefix)
        input_tokens = count_words(*prompt.texts) - prefix if prompt.texts else input_tokens
    return FakeReply(
        text=text,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        stop_reason=stop_reason,
        tool_call=tool_call,
        cache_read_input_tokens=cache_read,
        cache_write_input_tokens=cache_write,
        output=prompt.output,
        output_count=prompt.output_count,
        dimensions=prompt.dimensions,
        variant=prompt.variant,
    )


def _json_fragments(text: str) -> List[str]:
    """Split streamed tool input into two fragments so clients must reassemble it."""
    if len(text) < 2:
        return [text]
    mid = len(text) // 2
    return [text[:mid], text[mid:]]


# --------------------------------------------------------------------------------------------------
# Generic request-shape helpers
# --------------------------------------------------------------------------------------------------


def _block_texts(content: Any) -> List[str]:
    """Text of a content field that is a string or a list of ``{"text"}`` / ``{"type":"text"}`` blocks."""
    if isinstance(content, str):
        return [content]
    texts: List[str] = []
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and isinstance(block.get("text"), str) and block.get("type", "text") == "text":
                texts.append(block["text"])
    return texts


def _int_or_none(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    return None


def _first_int(mapping: Any, *keys: str) -> Optional[int]:
    if not isinstance(mapping, dict):
        return None
    for key in keys:
        value = _int_or_none(mapping.get(key))
        if value is not None:
            return value
    return None


def _messages_prompt(
    messages: Any,
    system: Any = None,
    max_tokens: Optional[int] = None,
    tool_names: Sequence[str] = (),
) -> Prompt:
    """Prompt from a role/content message list (Anthropic, Nova, OpenAI-style, ...)."""
    texts = list(_block_texts(system)) if system is not None else []
    last_user = ""
    if isinstance(messages, list):
        for message in messages:
            if not isinstance(message, dict):
                continue
            role = message.get("role")
            if role in ("user", "system"):
                message_texts = _block_texts(message.get("content"))
                texts.extend(message_texts)
                if role == "user":
                    last_user = " ".join(message_texts)
    return Prompt(texts=tuple(texts), last_user_text=last_user, max_tokens=max_tokens, tool_names=tuple(tool_names))


def _tool_spec_names(tool_config: Any) -> List[str]:
    """Tool names from a Converse/Nova ``toolConfig``."""
    names: List[str] = []
    if isinstance(tool_config, dict) and isinstance(tool_config.get("tools"), list):
        for tool in tool_config["tools"]:
            spec = tool.get("toolSpec") if isinstance(tool, dict) else None
            if isinstance(spec, dict) and isinstance(spec.get("name"), str):
                names.append(spec["name"])
    return names


# --------------------------------------------------------------------------------------------------
# Converse (model-agnostic)
# --------------------------------------------------------------------------------------------------


def parse_converse(request: JsonDict) -> Prompt:
    """Prompt from a Converse / ConverseStream / CountTokens(converse) request, including cache points."""
    # Flatten the prompt in Bedrock's order (tools, system, messages) as (block, counts_as_input).
    flat: List[Tuple[Any, bool]] = []
    tool_config = request.get("toolConfig")
    if isinstance(tool_config, dict) and isinstance(tool_config.get("tools"), list):
        flat.extend((tool, False) for tool in tool_config["tools"])
    system = request.get("system")
    if isinstance(system, list):
        flat.extend((block, True) for block in system)
    last_user = ""
    messages = request.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if not isinstance(message, dict):
                continue
            is_user = message.get("role") == "user"
            content = message.get("content")
            if isinstance(content, list):
                flat.extend((block, is_user) for block in content)
            if is_user:
                last_user = " ".join(_block_texts(content))

    def counted_text(item: Tuple[Any, bool]) -> Optional[str]:
        block, counts = item
        if counts and isinstance(block, dict) and isinstance(block.get("text"), str):
            return block["text"]
        return None

    texts = [t for t in map(counted_text, flat) if t is not None]
    cache_points = [i for i, (b, _) in enumerate(flat) if isinstance(b, dict) and "cachePoint" in b]
    cached_words: Optional[int] = None
    cache_key: Optional[str] = None
    if cache_points:
        prefix = flat[: cache_points[-1]]
        cached_words = count_words(*[t for t in map(counted_text, prefix) if t is not None])
        material = json.dumps([block for block, _ in prefix], sort_keys=True, default=str)
        cache_key = hashlib.sha256(material.encode()).hexdigest()
    return Prompt(
        texts=tuple(texts),
        last_user_text=last_user,
        max_tokens=_first_int(request.get("inferenceConfig"), "maxTokens"),
        tool_names=tuple(_tool_spec_names(tool_config)),
        cached_prefix_words=cached_words,
        cache_key=cache_key,
    )


def converse_reply(request: JsonDict, cache: Optional[PromptCache] = None) -> FakeReply:
    """The reply the fake gives a Converse request (first call with any cached prefix by default)."""
    return compute_reply(parse_converse(request), cache)


def _converse_usage(reply: FakeReply) -> JsonDict:
    usage: JsonDict = {
        "inputTokens": reply.input_tokens,
        "outputTokens": reply.output_tokens,
        "totalTokens": reply.total_tokens,
    }
    if reply.cache_read_input_tokens is not None:
        usage["cacheReadInputTokens"] = reply.cache_read_input_tokens
    if reply.cache_write_input_tokens is not None:
        usage["cacheWriteInputTokens"] = reply.cache_write_input_tokens
    return usage


def _converse_content(reply: FakeReply) -> List[JsonDict]:
    content: List[JsonDict] = [{"text": reply.text}]
    if reply.tool_call is not None:
        call = reply.tool_call
        content.append({"toolUse": {"toolUseId": call.tool_use_id, "name": call.name, "input": call.input}})
    return content


def converse_body(reply: FakeReply, latency_ms: int = 0) -> JsonDict:
    """Converse response body."""
    return {
        "output": {"message": {"role": "assistant", "content": _converse_content(reply)}},
        "stopReason": reply.stop_reason,
        "usage": _converse_usage(reply),
        "metrics": {"latencyMs": latency_ms},
    }


def _delta_blocks(reply: FakeReply) -> List[Tuple[str, JsonDict]]:
    """Shared ConverseStream/Nova event sequence (without the metadata event), as (member, value)."""
    events: List[Tuple[str, JsonDict]] = [("messageStart", {"role": "assistant"})]
    for piece in reply.pieces or [""]:
        events.append(("contentBlockDelta", {"delta": {"text": piece}, "contentBlockIndex": 0}))
    events.append(("contentBlockStop", {"contentBlockIndex": 0}))
    if reply.tool_call is not None:
        call = reply.tool_call
        start = {"toolUse": {"toolUseId": call.tool_use_id, "name": call.name}}
        events.append(("contentBlockStart", {"start": start, "contentBlockIndex": 1}))
        for fragment in _json_fragments(call.input_json):
            events.append(("contentBlockDelta", {"delta": {"toolUse": {"input": fragment}}, "contentBlockIndex": 1}))
        events.append(("contentBlockStop", {"contentBlockIndex": 1}))
    events.append(("messageStop", {"stopReason": reply.stop_reason}))
    return events


def converse_stream_events(reply: FakeReply, latency_ms: int = 0) -> List[Tuple[str, JsonDict]]:
    """ConverseStream events as (event-type header, payload); the payload is the member's value."""
    metadata = {"usage": _converse_usage(reply), "metrics": {"latencyMs": latency_ms}}
    return [*_delta_blocks(reply), ("metadata", metadata)]


def invocation_metrics(reply: FakeReply, invocation_latency_ms: int, first_byte_latency_ms: int) -> Dict[str, int]:
    """The ``amazon-bedrock-invocationMetrics`` object of the last InvokeModelWithResponseStream chunk."""
    return {
        "inputTokenCount": reply.input_tokens,
        "outputTokenCount": reply.output_tokens,
        "invocationLatency": invocation_latency_ms,
        "firstByteLatency": first_byte_latency_ms,
    }


# --------------------------------------------------------------------------------------------------
# InvokeModel families
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFamily:
    """How one model family's InvokeModel bodies look; add a family by registering one of these.

    ``stream_chunks`` returns the decoded model chunks of InvokeModelWithResponseStream; the server adds
    ``amazon-bedrock-invocationMetrics`` to the last one (it knows the latencies). ``streaming`` is False
    for families Bedrock refuses to stream (images, embeddings); their ``stream_chunks`` is the body as
    one chunk.
    """

    name: str
    matches: Callable[[str], bool]  # receives ModelRef.base_id
    parse_invoke: Callable[[JsonDict], Prompt]
    invoke_body: Callable[[FakeReply, ModelRef], JsonDict]
    stream_chunks: Callable[[FakeReply, ModelRef], List[JsonDict]]
    streaming: bool = True


# Anthropic Messages API ---------------------------------------------------------------------------


def _parse_anthropic(body: JsonDict) -> Prompt:
    tools = body.get("tools")
    names: List[str] = []
    if isinstance(tools, list):
        names = [t["name"] for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)]
    return _messages_prompt(body.get("messages"), body.get("system"), _first_int(body, "max_tokens"), names)


def anthropic_model_name(ref: ModelRef) -> str:
    """``anthropic.claude-3-haiku-20240307-v1:0`` -> ``claude-3-haiku-20240307`` (the body's ``model``)."""
    name = ref.base_id.split(".", 1)[-1]
    name = re.sub(r"-v\d+(:\d+)?$", "", name)
    return name or "claude"


def _anthropic_message_id() -> str:
    return "msg_bdrk_" + uuid.uuid4().hex[:24]


def _anthropic_body(reply: FakeReply, ref: ModelRef) -> JsonDict:
    content: List[JsonDict] = [{"type": "text", "text": reply.text}]
    if reply.tool_call is not None:
        call = reply.tool_call
        content.append({"type": "tool_use", "id": call.anthropic_id, "name": call.name, "input": call.input})
    return {
        "id": _anthropic_message_id(),
        "type": "message",
        "role": "assistant",
        "model": anthropic_model_name(ref),
        "content": content,
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
    }


def _anthropic_chunks(reply: FakeReply, ref: ModelRef) -> List[JsonDict]:
    message = {
        "id": _anthropic_message_id(),
        "type": "message",
        "role": "assistant",
        "model": anthropic_model_name(ref),
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": reply.input_tokens, "output_tokens": 1},
    }
    chunks: List[JsonDict] = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    for piece in reply.pieces:
        delta = {"type": "text_delta", "text": piece}
        chunks.append({"type": "content_block_delta", "index": 0, "delta": delta})
    chunks.append({"type": "content_block_stop", "index": 0})
    if reply.tool_call is not None:
        call = reply.tool_call
        block = {"type": "tool_use", "id": call.anthropic_id, "name": call.name, "input": {}}
        chunks.append({"type": "content_block_start", "index": 1, "content_block": block})
        for fragment in _json_fragments(call.input_json):
            delta = {"type": "input_json_delta", "partial_json": fragment}
            chunks.append({"type": "content_block_delta", "index": 1, "delta": delta})
        chunks.append({"type": "content_block_stop", "index": 1})
    chunks.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": reply.output_tokens},
        }
    )
    chunks.append({"type": "message_stop"})
    return chunks


# Amazon Nova ----------------------------------------------------------------------------------------


def _parse_nova(body: JsonDict) -> Prompt:
    max_tokens = _first_int(body.get("inferenceConfig"), "maxTokens", "max_new_tokens")
    return _messages_prompt(
        body.get("messages"), body.get("system"), max_tokens, _tool_spec_names(body.get("toolConfig"))
    )


def _nova_body(reply: FakeReply, ref: ModelRef) -> JsonDict:
    return {
        "output": {"message": {"role": "assistant", "content": _converse_content(reply)}},
        "stopReason": reply.stop_reason,
        "usage": {
            "inputTokens": reply.input_tokens,
            "outputTokens": reply.output_tokens,
            "totalTokens": reply.input_tokens + reply.output_tokens,
            "cacheReadInputTokenCount": 0,
            "cacheWriteInputTokenCount": 0,
        },
    }


def _nova_chunks(reply: FakeReply, ref: ModelRef) -> List[JsonDict]:
    chunks: List[JsonDict] = [{member: value} for member, value in _delta_blocks(reply)]
    usage = {"inputTokens": reply.input_tokens, "outputTokens": reply.output_tokens}
    chunks.append({"metadata": {"usage": usage, "metrics": {}, "trace": {}}})
    return chunks


# Amazon Titan Text ----------------------------------------------------------------------------------

_TITAN_REASONS = {
    "end_turn": "FINISH",
    "max_tokens": "LENGTH",
    "stop_sequence": "STOP_CRITERIA_MET",
    "content_filtered": "CONTENT_FILTERED",
}


def _titan_reason(stop_reason: str) -> str:
    """Converse vocabulary -> Titan ``completionReason``; Titan values pass through unchanged."""
    return _TITAN_REASONS.get(stop_reason, stop_reason)


def _parse_titan(body: JsonDict) -> Prompt:
    text = body.get("inputText") if isinstance(body.get("inputText"), str) else ""
    max_tokens = _first_int(body.get("textGenerationConfig"), "maxTokenCount")
    return Prompt(texts=(text,), last_user_text=text, max_tokens=max_tokens)


def _titan_body(reply: FakeReply, ref: ModelRef) -> JsonDict:
    result = {
        "tokenCount": reply.output_tokens,
        "outputText": reply.text,
        "completionReason": _titan_reason(reply.stop_reason),
    }
    return {"inputTextTokenCount": reply.input_tokens, "results": [result]}


def _titan_chunks(reply: FakeReply, ref: ModelRef) -> List[JsonDict]:
    pieces = reply.pieces or [""]
    chunks: List[JsonDict] = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        chunks.append(
            {
                "outputText": piece,
                "index": 0,
                "totalOutputTextTokenCount": reply.output_tokens if last else index + 1,
                "completionReason": _titan_reason(reply.stop_reason) if last else None,
                "inputTextTokenCount": reply.input_tokens,
            }
        )
    return chunks


BodyRenderer = Callable[[FakeReply, ModelRef], JsonDict]
ChunkRenderer = Callable[[FakeReply, ModelRef], List[JsonDict]]

# Shared pieces of the partner-model families ---------------------------------------------------------

_STOP_LENGTH_REASONS = {"end_turn": "stop", "max_tokens": "length", "stop_sequence": "stop", "tool_use": "tool_calls"}
_COHERE_REASONS = {"end_turn": "COMPLETE", "max_tokens": "MAX_TOKENS", "stop_sequence": "STOP_SEQUENCE"}

# A valid 1x1 PNG: what every fake image generator returns, base64-encoded as Bedrock returns images.
FAKE_IMAGE_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _stop_length(stop_reason: str) -> str:
    """Converse vocabulary -> ``stop``/``length`` (Llama, Mistral, DeepSeek, chat-completions families)."""
    return _STOP_LENGTH_REASONS.get(stop_reason, stop_reason)


def _cohere_reason(stop_reason: str) -> str:
    return _COHERE_REASONS.get(stop_reason, stop_reason)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _parse_prompt(body: JsonDict, *max_keys: str) -> Prompt:
    """A single-``prompt`` request (Llama, Mistral legacy, Cohere Command, DeepSeek-R1)."""
    text = _text(body.get("prompt"))
    return Prompt(texts=(text,), last_user_text=text, max_tokens=_first_int(body, *max_keys), variant="prompt")


def _last_piece_flags(reply: FakeReply) -> List[Tuple[str, bool]]:
    """Stream pieces with an is-last flag (at least one, empty, when the reply has no text)."""
    pieces = reply.pieces or [""]
    return [(piece, index == len(pieces) - 1) for index, piece in enumerate(pieces)]


def _whole_body_chunk(body: BodyRenderer) -> ChunkRenderer:
    """Stream renderer for families Bedrock does not stream: the body as one chunk (see module docs)."""
    return lambda reply, ref: [body(reply, ref)]


def _vector(dimensions: int, index: int, integral: bool = False) -> List[Any]:
    """A deterministic embedding vector; ``integral`` for int8/binary embedding types."""
    if integral:
        return [(i * 7 + index) % 127 for i in range(dimensions)]
    return [round(((i * 37 + index * 11) % 200) / 100.0 - 1.0, 2) for i in range(dimensions)]


def _hex_id(prefix: str = "") -> str:
    return prefix + uuid.uuid4().hex[:24]


# Meta Llama ------------------------------------------------------------------------------------------


def _llama_body(reply: FakeReply, ref: ModelRef) -> JsonDict:
    return {
        "generation": reply.text,
        "prompt_token_count": reply.input_tokens,
        "generation_token_count": reply.output_tokens,
        "stop_reason": _stop_length(reply.stop_reason),
    }


def _llama_chunks(reply: FakeReply, ref: ModelRef) -> List[JsonDict]:
    """Like Bedrock: prompt tokens on the first chunk only, running generation count, reason on the last."""
    return [
        {
            "generation": piece,
            "prompt_token_count": reply.input_tokens if index == 0 else None,
            "generation_token_count": reply.output_tokens if last else index + 1,
            "stop_reason": _stop_length(reply.stop_reason) if last else None,
        }
        for index, (piece, last) in enumerate(_last_piece_flags(reply))
    ]


# OpenAI chat-completions shape (gpt-oss, Qwen, Jamba, Writer, DeepSeek chat) and its Mistral variant ---


def _parse_chat_completions(body: JsonDict) -> Prompt:
    """``messages`` (chat) or a bare ``prompt`` (text completion)."""
    max_keys = ("max_tokens", "max_completion_tokens", "max_new_tokens")
    if "messages" not in body:
        return _parse_prompt(body, *max_keys)
    prompt = _messages_prompt(body.get("messages"), None, _first_int(body, *max_keys))
    return dataclasses.replace(prompt, variant="chat")


def _openai_usage(reply: FakeReply) -> JsonDict:
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
    }


def _chat_completions_family(
    name: str, prefixes: Tuple[str, ...], prompt_reason_key: str = "finish_reason", with_usage: bool = True
) -> ModelFamily:
    """A chat-completions family: OpenAI bodies for ``messages``; ``choices[].text`` for a ``prompt``.

    ``prompt_reason_key`` is ``stop_reason`` for DeepSeek-R1, whose prompt-style bodies carry no usage.
    """

    def body(reply: FakeReply, ref: ModelRef) -> JsonDict:
        reason = _stop_length(reply.stop_reason)
        if reply.variant == "prompt":
            result: JsonDict = {"choices": [{"index": 0, "text": reply.text, prompt_reason_key: reason}]}
        else:
            message = {"role": "assistant", "content": reply.text}
            result = {
                "id": _hex_id("chatcmpl-"),
                "object": "chat.completion",
                "model": ref.base_id,
                "choices": [{"index": 0, "message": message, "finish_reason": reason}],
            }
        if with_usage:
            result["usage"] = _openai_usage(reply)
        return result

    def chunks(reply: FakeReply, ref: ModelRef) -> List[JsonDict]:
        reason = _stop_length(reply.stop_reason)
        if reply.variant == "prompt":
            return [
                {"choices": [{"index": 0, "text": piece, prompt_reason_key: reason if last else None}]}
                for piece, last in _last_piece_flags(reply)
            ]
        head = {"id": _hex_id("chatcmpl-"), "object": "chat.completion.chunk", "model": ref.base_id}
        role = {"role": "assistant", "content": ""}  # the opening chunk carries no content
        out = [{**head, "choices": [{"index": 0, "delta": role, "finish_reason": None}]}]
        out += [
            {**head, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            for piece in reply.pieces
        ]
        last: JsonDict = {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}
        if with_usage:
            last["usage"] = _openai_usage(reply)
        return [*out, last]

    return _family(name, prefixes, _parse_chat_completions, body, chunks)


def _mistral_body(reply: FakeReply, ref: ModelRef) -> JsonDict:
    """Legacy ``outputs[]`` for a ``prompt``; chat ``choices[].message`` with ``stop_reason`` for ``messages``."""
    reason = _stop_length(reply.stop_reason)
    if reply.variant == "prompt":
        return {"outputs": [{"text": reply.text, "stop_reason": reason}]}
    message = {"role": "assistant", "content": reply.text, "tool_calls": None}
    return {"choices": [{"index": 0, "message": message, "stop_reason": reason}]}


def _mistral_chunks(reply: FakeReply, ref: ModelRef) -> List[JsonDict]:
    reason = _stop_length(reply.stop_reason)
    chunks: List[JsonDict] = []
    for piece, last in _last_piece_flags(reply):
        if reply.variant == "prompt":
            chunks.append({"outputs": [{"text": piece, "stop_reason": reason if last else None}]})
        else:
            message = {"role": "assistant", "content": piece}
            chunks.append({"choices": [{"index": 0, "message": message, "stop_reason": reason if last else None}]})
    return chunks


# Cohere ------------------------------------------------------------------------------------------------


def _cohere_command_body(reply: FakeReply, ref: ModelRef) -> JsonDict:
    generation = {"id": str(uuid.uuid4()), "text": reply.text, "finish_reason": _cohere_reason(reply.stop_reason)}
    return {"id": str(uuid.uuid4()), "generations": [generation]}


def _cohere_command_chunks(reply: FakeReply, ref: ModelRef) -> List[JsonDict]:
    chunks: List[JsonDict] = [{"text": piece, "is_finished": False} for piece in reply.pieces]
    reason = _cohere_reason(reply.stop_reason)
    chunks.append({"is_finished": True, "finish_reason": reason, "response": _cohere_command_body(reply, ref)})
    return chunks


def _parse_cohere_chat(body: JsonDict) -> Prompt:
    """Command R: ``preamble`` + USER turns of ``chat_history`` + ``message`` (the last user text)."""
    texts = [_text(body.get("preamble"))] if isinstance(body.get("preamble"), str) else []
    history = body.get("chat_history")
    if isinstance(history, list):
        texts += [_text(t.get("message")) for t in history if isinstance(t, dict) and t.get("role") == "USER"]
    message = _text(body.get("message"))
    texts.append(message)
    return Prompt(texts=tuple(texts), last_user_text=message, max_tokens=_first_int(body, "max_tokens"))


def _cohere_chat_body(reply: FakeReply, ref: ModelRef) -> JsonDict:
    return {
        "response_id": str(uuid.uuid4()),
        "text": reply.text,
        "generation_id": str(uuid.uuid4()),
        "finish_reason": _cohere_reason(reply.stop_reason),
    }


def _cohere_chat_chunks(reply: FakeReply, ref: ModelRef) -> List[JsonDict]:
    response = _cohere_chat_body(reply, ref)
    chunks: List[JsonDict] = [
        {"is_finished": False, "event_type": "stream-start", "generation_id": response["generation_id"]}
    ]
    chunks += [{"is_finished": False, "event_type": "text-generation", "text": piece} for piece in reply.pieces]
    chunks.append({"is_finished": True, "event_type": "stream-end", "response": response,
                   "finish_reason": response["finish_reason"]})
    return chunks


def _parse_cohere_embed(body: JsonDict) -> Prompt:
    texts = body.get("texts")
    texts = [t for t in texts if isinstance(t, str)] if isinstance(texts, list) else []
    types = body.get("embedding_types")
    variant = ",".join(t for t in types if isinstance(t, str)) if isinstance(types, list) else ""
    return Prompt(texts=tuple(texts), last_user_text=texts[-1] if texts else "", output="embedding",
                  output_count=max(len(texts), 1), dimensions=_first_int(body, "output_dimension"), variant=variant)


def _cohere_embed_body(reply: FakeReply, ref: ModelRef) -> JsonDict:
    """A list of vectors, or with ``embedding_types`` an object of such lists by type."""
    size = reply.dimensions or 1024
    if reply.variant:
        by_type = {
            kind: [_vector(size, i, integral=kind != "float") for i in range(reply.output_count)]
            for kind in reply.variant.split(",")
        }
        return {"id": str(uuid.uuid4()), "embeddings": by_type, "response_type": "embeddings_by_type"}
    vectors = [_vector(size, i) for i in range(reply.output_count)]
    return {"id": str(uuid.uuid4()), "embeddings": vectors, "response_type": "embeddings_floats"}


# Amazon embeddings -------------------------------------------------------------------------------------


def _parse_titan_embed(body: JsonDict) -> Prompt:
    text = _text(body.get("inputText"))
    dimensions = _first_int(body, "dimensions")
    if dimensions is None:
        dimensions = _first_int(body.get("embeddingConfig"), "outputEmbeddingLength")
    types = body.get("embeddingTypes")
    variant = ",".join(t for t in types if isinstance(t, str)) if isinstance(types, list) else ""
    return Prompt(texts=(text,), last_user_text=text, output="embedding", dimensions=dimensions, variant=variant)


def _titan_embed_body(reply: FakeReply, ref: ModelRef) -> JsonDict:
    default = 1536 if ref.base_id.startswith(("amazon.titan-embed-text-v1", "amazon.titan-embed-g1")) else 1024
    vector = _vector(reply.dimensions or default, 0)
    body: JsonDict = {"embedding": vector, "inputTextTokenCount": reply.input_tokens}
    if reply.variant:  # v2 with embeddingTypes
        body["embeddingsByType"] = {kind: _vector(len(vector), 0, kind != "float") for kind in reply.variant.split(",")}
    return body


def _parse_nova_embed(body: JsonDict) -> Prompt:
    params = body.get("singleEmbeddingParams")
    params = params if isinstance(params, dict) else {}
    text_block = params.get("text")
    text = _text(text_block.get("value")) if isinstance(text_block, dict) else ""
    return Prompt(texts=(text,), last_user_text=text, output="embedding",
                  dimensions=_first_int(params, "embeddingDimension"))


def _nova_embed_body(reply: FakeReply, ref: ModelRef) -> JsonDict:
    return {"embeddings": [{"embeddingType": "TEXT", "embedding": _vector(reply.dimensions or 3072, 0)}]}


# Image generators ----------------------------------------------------------------------------------------


def _parse_amazon_image(body: JsonDict) -> Prompt:
    """Nova Canvas / Titan Image: the ``text`` of whichever ``*Params`` object the task uses."""
    texts = [
        value["text"]
        for key, value in body.items()
        if key.endswith("Params") and isinstance(value, dict) and isinstance(value.get("text"), str)
    ]
    count = _first_int(body.get("imageGenerationConfig"), "numberOfImages")
    return Prompt(texts=tuple(texts), last_user_text=" ".join(texts), output="image", output_count=count or 1)


def _nova_canvas_body(reply: FakeReply, ref: ModelRef) -> JsonDict:
    return {"images": [FAKE_IMAGE_BASE64] * reply.output_count}


def _titan_image_body(reply: FakeReply, ref: ModelRef) -> JsonDict:
    return {"images": [FAKE_IMAGE_BASE64] * reply.output_count, "error": None}


def _parse_stability(body: JsonDict) -> Prompt:
    """``prompt`` (SD3.x, Stable Image) or SDXL's ``text_prompts[].text`` with ``samples``."""
    prompts = body.get("text_prompts")
    if isinstance(prompts, list):
        texts = [p["text"] for p in prompts if isinstance(p, dict) and isinstance(p.get("text"), str)]
        count = _first_int(body, "samples") or 1
        return Prompt(texts=tuple(texts), last_user_text=" ".join(texts), output="image", output_count=count,
                      variant="sdxl")
    text = _text(body.get("prompt"))
    return Prompt(texts=(text,), last_user_text=text, output="image")


def _stability_body(reply: FakeReply, ref: ModelRef) -> JsonDict:
    seeds = [1000 + i for i in range(reply.output_count)]
    if reply.variant == "sdxl":
        artifacts = [{"seed": seed, "base64": FAKE_IMAGE_BASE64, "finishReason": "SUCCESS"} for seed in seeds]
        return {"result": "success", "artifacts": artifacts}
    return {"seeds": seeds, "finish_reasons": [None] * len(seeds), "images": [FAKE_IMAGE_BASE64] * len(seeds)}


# Unknown family: a generic body so clients of not-yet-supported models still work -----------------


_GENERIC_MAX_TOKEN_KEYS = (
    "max_tokens",
    "max_gen_len",
    "maxTokens",
    "max_new_tokens",
    "maxTokenCount",
    "max_completion_tokens",
)


def _parse_generic(body: JsonDict) -> Prompt:
    max_tokens = _first_int(body, *_GENERIC_MAX_TOKEN_KEYS)
    if max_tokens is None:
        max_tokens = _first_int(body.get("inferenceConfig"), "maxTokens", "max_new_tokens")
    if "messages" in body:
        return _messages_prompt(body.get("messages"), body.get("system"), max_tokens)
    texts: List[str] = []
    for key in ("system", "prompt", "inputText", "input", "message", "text"):
        value = body.get(key)
        if isinstance(value, str):
            texts.append(value)
    last_user = texts[-1] if texts else ""
    return Prompt(texts=tuple(texts), last_user_text=last_user, max_tokens=max_tokens)


def _generic_body(reply: FakeReply, ref: ModelRef) -> JsonDict:
    return {"output": reply.text}


def _generic_chunks(reply: FakeReply, ref: ModelRef) -> List[JsonDict]:
    return [{"output": piece} for piece in reply.pieces or [""]]


ANTHROPIC = ModelFamily(
    name="anthropic",
    matches=lambda base: base.startswith("anthropic."),
    parse_invoke=_parse_anthropic,
    invoke_body=_anthropic_body,
    stream_chunks=_anthropic_chunks,
)
NOVA = ModelFamily(
    name="amazon.nova",
    matches=lambda base: base.startswith("amazon.nova-"),
    parse_invoke=_parse_nova,
    invoke_body=_nova_body,
    stream_chunks=_nova_chunks,
)
TITAN_TEXT = ModelFamily(
    name="amazon.titan-text",
    matches=lambda base: base.startswith(("amazon.titan-text-", "amazon.titan-tg1-")),
    parse_invoke=_parse_titan,
    invoke_body=_titan_body,
    stream_chunks=_titan_chunks,
)
def _family(
    name: str,
    prefixes: Tuple[str, ...],
    parse: Callable[[JsonDict], Prompt],
    body: BodyRenderer,
    chunks: Optional[ChunkRenderer] = None,
) -> ModelFamily:
    """A family matched by base-id prefixes; without ``chunks`` one Bedrock does not stream (images, embeddings)."""
    return ModelFamily(
        name=name,
        matches=lambda base: base.startswith(prefixes),
        parse_invoke=parse,
        invoke_body=body,
        stream_chunks=chunks or _whole_body_chunk(body),
        streaming=chunks is not None,
    )


NOVA_CANVAS = _family("amazon.nova-canvas", ("amazon.nova-canvas",), _parse_amazon_image, _nova_canvas_body)
NOVA_EMBED = _family(
    "amazon.nova-embed",
    ("amazon.nova-2-multimodal-embeddings", "amazon.nova-multimodal-embeddings"),
    _parse_nova_embed,
    _nova_embed_body,
)
TITAN_EMBED = _family("amazon.titan-embed", ("amazon.titan-embed-",), _parse_titan_embed, _titan_embed_body)
TITAN_IMAGE = _family("amazon.titan-image", ("amazon.titan-image-generator",), _parse_amazon_image, _titan_image_body)
STABILITY = _family("stability", ("stability.",), _parse_stability, _stability_body)
COHERE_EMBED = _family("cohere.embed", ("cohere.embed",), _parse_cohere_embed, _cohere_embed_body)
LLAMA = _family(
    "meta.llama", ("meta.llama",), lambda body: _parse_prompt(body, "max_gen_len"), _llama_body, _llama_chunks
)
MISTRAL = _family("mistral", ("mistral.",), _parse_chat_completions, _mistral_body, _mistral_chunks)
COHERE_COMMAND = _family(  # after COHERE_COMMAND_R in FAMILIES, which claims "cohere.command-r" first
    "cohere.command",
    ("cohere.command",),
    lambda body: _parse_prompt(body, "max_tokens"),
    _cohere_command_body,
    _cohere_command_chunks,
)
COHERE_COMMAND_R = _family(
    "cohere.command-r", ("cohere.command-r",), _parse_cohere_chat, _cohere_chat_body, _cohere_chat_chunks
)
JAMBA = _chat_completions_family("ai21.jamba", ("ai21.jamba",))
DEEPSEEK = _chat_completions_family("deepseek", ("deepseek.",), prompt_reason_key="stop_reason", with_usage=False)
GPT_OSS = _chat_completions_family("openai.gpt-oss", ("openai.",))
QWEN = _chat_completions_family("qwen", ("qwen.",))
WRITER = _chat_completions_family("writer.palmyra", ("writer.",))

UNKNOWN = ModelFamily(
    name="unknown",
    matches=lambda base: False,
    parse_invoke=_parse_generic,
    invoke_body=_generic_body,
    stream_chunks=_generic_chunks,
)

# Checked in order; the first family whose ``matches`` accepts the base id wins (so Nova Canvas and Nova
# embeddings come before the other ``amazon.nova-`` models, Command R before Command).
FAMILIES: List[ModelFamily] = [
    ANTHROPIC, NOVA_CANVAS, NOVA_EMBED, NOVA, TITAN_TEXT, TITAN_EMBED, TITAN_IMAGE, LLAMA, MISTRAL,
    COHERE_COMMAND_R, COHERE_COMMAND, COHERE_EMBED, JAMBA, DEEPSEEK, GPT_OSS, QWEN, WRITER, STABILITY,
]
_FAMILIES_LOCK = threading.Lock()


def register_family(family: ModelFamily, first: bool = True) -> None:
    """Add a family (before the built-ins by default, so it can specialise them); replaces same name."""
    with _FAMILIES_LOCK:
        FAMILIES[:] = [f for f in FAMILIES if f.name != family.name]
        if first:
            FAMILIES.insert(0, family)
        else:
            FAMILIES.append(family)


def family_for(base_id: str) -> ModelFamily:
    """The registered family for a base model id, or :data:`UNKNOWN`."""
    if base_id:
        for family in list(FAMILIES):
            if family.matches(base_id):
                return family
    return UNKNOWN


def family_named(name: str) -> ModelFamily:
    """Look a family up by name (``unknown`` included)."""
    for family in [*FAMILIES, UNKNOWN]:
        if family.name == name:
            return family
    raise KeyError(name)


def invoke_reply(model_id: str, body: JsonDict) -> FakeReply:
    """The reply the fake gives an InvokeModel(-WithResponseStream) request for ``model_id``."""
    family = family_named(resolve_model(model_id).family)
    return compute_reply(family.parse_invoke(body))
