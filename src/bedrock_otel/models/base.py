"""The plug-in interface every model family implements, and the outcome record parsers fill.

A codec is pure parsing: it turns InvokeModel request bodies, response bodies and stream chunks
into plain facts (an :class:`Outcome`). It never touches spans or meters, so families are easy to
add and to test on dictionaries alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, List, Optional, Tuple, Union

from ..telemetry import attributes as A

if TYPE_CHECKING:
    from .content import ContentFields, StreamContent

AttributeMap = Dict[str, Any]
Paths = Tuple[str, ...]
Steps = Tuple[Tuple[str, bool], ...]  # a compiled path: (key, walk-the-list) per segment
Compiled = Union[str, Steps]  # a plain top-level key stays a str: the common case, read with one lookup


class Outcome:
    """What a response said, gathered from a body or from stream chunks as they pass by."""

    __slots__ = (
        "_input_rank",
        "_output_rank",
        "cache_read_tokens",
        "cache_write_tokens",
        "content_chunks",
        "finish_reasons",
        "first_byte_latency_ms",
        "input_tokens",
        "output_count",
        "output_kind",
        "output_tokens",
        "parse_errors",
        "reasoning_tokens",
        "response_id",
        "response_model",
        "server_latency_ms",
        "unknown_events",
        "usage_source",
    )

    def __init__(self) -> None:
        # input_tokens excludes cache reads/writes here, as Bedrock and the models report it;
        # the span's gen_ai.usage.input_tokens adds them (see Invocation).
        self.input_tokens: Optional[int] = None
        self.output_tokens: Optional[int] = None
        self._input_rank = 0
        self._output_rank = 0
        self.cache_read_tokens: Optional[int] = None
        self.cache_write_tokens: Optional[int] = None
        self.reasoning_tokens: Optional[int] = None
        self.usage_source: Optional[str] = None
        self.finish_reasons: List[str] = []
        self.response_id: Optional[str] = None
        self.response_model: Optional[str] = None
        self.server_latency_ms: Optional[float] = None
        self.first_byte_latency_ms: Optional[float] = None
        self.content_chunks = 0
        self.output_count: Optional[int] = None  # e.g. images generated, embeddings returned
        self.output_kind: Optional[str] = None  # what output_count counts: "image" | "embedding"
        self.unknown_events = 0
        self.parse_errors: List[str] = []

    def set_usage(self, input_tokens: Any = None, output_tokens: Any = None, source: str = "body") -> None:
        """Record token counts (ignoring absent or non-integer values), cache tokens excluded.

        Bedrock's own accounting (``headers``, ``invocation_metrics``, ``converse`` usage) is what is
        billed, so it outranks the model's self-reported ``body`` usage, which only fills gaps
        (real Claude streams report different output counts in the two places).
        """
        rank = 1 if source == "body" else 2
        if _is_count(input_tokens) and rank >= self._input_rank:
            self.input_tokens = int(input_tokens)
            self._input_rank = rank
            self.usage_source = source
        if _is_count(output_tokens) and rank >= self._output_rank:
            self.output_tokens = int(output_tokens)
            self._output_rank = rank
            self.usage_source = source

    @property
    def total_input_tokens(self) -> Optional[int]:
        """Input tokens including cache reads and writes, as GenAI ``gen_ai.usage.input_tokens`` counts them."""
        if self.input_tokens is None:
            return None
        return self.input_tokens + (self.cache_read_tokens or 0) + (self.cache_write_tokens or 0)

    def set_cache(self, read: Any = None, write: Any = None) -> None:
        if _is_count(read):
            self.cache_read_tokens = int(read)
        if _is_count(write):
            self.cache_write_tokens = int(write)

    def add_finish_reason(self, reason: Any) -> None:
        if isinstance(reason, str) and reason:
            self.finish_reasons.append(reason)

    def apply_invocation_metrics(self, metrics: Any) -> None:
        """Bedrock's ``amazon-bedrock-invocationMetrics`` (last stream chunk): tokens and latency."""
        if not isinstance(metrics, Mapping):
            return
        self.set_usage(metrics.get("inputTokenCount"), metrics.get("outputTokenCount"), source="invocation_metrics")
        self.set_cache(metrics.get("cacheReadInputTokenCount"), metrics.get("cacheWriteInputTokenCount"))
        latency = metrics.get("invocationLatency")
        if _is_number(latency):
            self.server_latency_ms = float(latency)
        first = metrics.get("firstByteLatency")
        if _is_number(first):
            self.first_byte_latency_ms = float(first)


#: a JSON string literal as bytes, unrolled so matching stays linear (for ``StreamDecoder.content_only``)
JSON_STRING = rb'"[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*"'


class StreamDecoder:
    """Per-stream state for one family: fed each decoded chunk, says whether it carried content.

    ``content_only``, when a family sets it, recognises from its raw bytes a chunk that is content and
    nothing else, so the stream handler can count it without ``json.loads`` or :meth:`feed`. It must
    match exactly the chunks whose parse :meth:`feed` would read as content and nothing else
    (tests/test_perf_semantics.py checks this against the decoder).
    """

    content_only: Optional[Callable[[bytes], Any]] = None

    def feed(self, chunk: Mapping[str, Any], outcome: Outcome) -> bool:  # pragma: no cover - interface
        raise NotImplementedError


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _is_string_list(value: Any) -> bool:
    return string_list(value) is not None


def _present(value: Any) -> bool:
    """An output item: a base64 image string, an embedding vector, or an artifact object."""
    return isinstance(value, (str, list, Mapping))


# Fields.apply reads the facts in this order, each with its own test of a usable value.
_ACCEPT: Dict[str, Callable[[Any], bool]] = {
    "response_id": _is_text,
    "response_model": _is_text,
    "finish_reasons": _is_text,
    "input_tokens": _is_count,
    "output_tokens": _is_count,
    "cache_read_tokens": _is_count,
    "cache_write_tokens": _is_count,
    "reasoning_tokens": _is_count,
    "outputs": _present,
}
_FACTS = tuple(_ACCEPT)
# What Fields.apply does with a fact's values
_TOKENS, _FIRST, _EACH_REASON, _COUNT = range(4)
_ACTIONS = {"response_id": _FIRST, "response_model": _FIRST, "finish_reasons": _EACH_REASON, "outputs": _COUNT}


@cache
def _steps(path: str) -> Steps:
    """``"choices[].delta.content"`` → ``(("choices", True), ("delta", False), ("content", False))``."""
    return tuple((part[:-2], True) if part.endswith("[]") else (part, False) for part in path.split("."))


def _walk(body: Any, steps: Steps) -> List[Any]:
    # One value until the first ``[]`` step (most paths have none): no per-step lists.
    value = body
    for index, (key, expand) in enumerate(steps):
        if type(value) is not dict and not isinstance(value, Mapping):
            return []
        value = value.get(key)
        if value is None:
            return []
        if expand:
            if not isinstance(value, list):
                return []
            items = [v for v in value if v is not None]
            return _walk_items(items, steps[index + 1:]) if items else items
    return [value]


def _walk_items(current: List[Any], steps: Steps) -> List[Any]:
    """The rest of a path from each of several items (after a ``[]`` step)."""
    for key, expand in steps:
        found: List[Any] = []
        for item in current:
            if type(item) is not dict and not isinstance(item, Mapping):
                continue
            value = item.get(key)
            if value is None:
                continue
            if not expand:
                found.append(value)
            elif isinstance(value, list):
                found.extend(v for v in value if v is not None)
        if not found:
            return found
        current = found
    return current


def _compile(paths: Paths) -> Tuple[Compiled, ...]:
    return tuple(path if "." not in path and not path.endswith("[]") else _steps(path) for path in paths)


def _top(path: Compiled) -> str:
    return path if isinstance(path, str) else path[0][0]


# A path as the readers below take it: (kind, top-level key, rest). Kind 0: the top-level key alone; kind 1:
# then the keys in ``rest`` one after the other (no ``[]``); kind 2: ``rest`` is the whole path's Steps.
Plan = Tuple[Tuple[int, str, Any], ...]


def _precompile(paths: Paths) -> Plan:
    plan = []
    for path in _compile(paths):
        if isinstance(path, str):
            plan.append((0, path, None))
        elif any(expand for _, expand in path):
            plan.append((2, path[0][0], path))
        else:
            plan.append((1, path[0][0], tuple(key for key, _ in path[1:])))
    return tuple(plan)


_cached_plan = lru_cache(maxsize=1024)(_precompile)


def _first(body: Mapping[str, Any], plan: Plan, accept: Callable[[Any], bool]) -> Optional[List[Any]]:
    """The accepted values at the first path of ``plan`` that has any (None: none has); a path whose top-level
    key is absent costs one lookup."""
    if type(body) is not dict and not isinstance(body, Mapping):  # e.g. a stream chunk that is a JSON list
        for kind, top, _ in plan:
            if kind == 0:
                value = body.get(top)  # type: ignore[attr-defined]  # raises, as a non-mapping body always has
                if value is not None and accept(value):
                    return [value]
            elif top in body:  # (may raise too) a path below a non-mapping has no values
                continue
        return None
    get = body.get
    for kind, top, rest in plan:
        value = get(top)
        if value is None:
            continue
        if kind == 1:
            for key in rest:
                if type(value) is not dict and not isinstance(value, Mapping):
                    value = None
                    break
                value = value.get(key)
                if value is None:
                    break
            else:
                if accept(value):
                    return [value]
        elif kind == 0:
            if accept(value):
                return [value]
        else:
            values = [v for v in _walk(body, rest) if accept(v)]
            if values:
                return values
    return None


def path_values(body: Any, path: str) -> List[Any]:
    """The non-null values at ``path`` in ``body`` (see :class:`Fields`); wrong types just yield nothing."""
    return _walk(body, _steps(path))


def first_values(body: Any, paths: Paths, accept: Callable[[Any], bool]) -> List[Any]:
    """The accepted values at the first of ``paths`` that has any (alternatives, in order)."""
    if type(body) is not dict and not isinstance(body, Mapping):
        return []
    try:
        plan = _cached_plan(paths)
    except TypeError:  # paths given as a list: unhashable, compile each time
        plan = _precompile(paths)
    return _first(body, plan, accept) or []


@dataclass(frozen=True)
class Fields:
    """Where a family's JSON keeps each fact, so most codecs are declared rather than programmed.

    Every fact lists dotted paths (``usage.prompt_tokens``; ``choices[].finish_reason`` walks each item
    of a list). The first path that yields a usable value wins, which lets one codec read every shape
    its family has had (legacy and chat bodies, plain and streamed). Token values found at one path are
    summed (Titan reports one count per result). The same declarations render docs/families.md.
    """

    response_id: Paths = ()
    response_model: Paths = ()
    finish_reasons: Paths = ()
    input_tokens: Paths = ()
    output_tokens: Paths = ()
    cache_read_tokens: Paths = ()
    cache_write_tokens: Paths = ()
    reasoning_tokens: Paths = ()
    #: paths whose values are the generated outputs: their number is the image/embedding count
    outputs: Paths = ()
    output_kind: Optional[str] = None  # "image" | "embedding": what ``outputs`` counts
    #: stream chunks: a non-empty value at one of these paths makes the chunk a content chunk
    content: Paths = ()
    #: top-level keys of recognised chunks that carry none of the facts above (framing events)
    known: Paths = ()
    _keys: FrozenSet[str] = field(init=False, repr=False, compare=False, default=frozenset())
    _plan: Tuple[Tuple[str, Tuple[Compiled, ...]], ...] = field(init=False, repr=False, compare=False, default=())
    _content: Tuple[Compiled, ...] = field(init=False, repr=False, compare=False, default=())
    # (fact, action, plan, accept) per declared fact, and the content paths, as _first reads them
    _reads: Tuple[Tuple[str, int, Plan, Callable[[Any], bool]], ...] = field(
        init=False, repr=False, compare=False, default=())
    _content_plan: Plan = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        # Compiled once: streams apply these to every chunk, so the per-chunk work must stay small.
        plan = tuple((fact, _compile(getattr(self, fact))) for fact in _FACTS if getattr(self, fact))
        content = _compile(self.content)
        keys = {_top(path) for _, compiled in plan for path in compiled} | {_top(path) for path in content}
        object.__setattr__(self, "_plan", plan)
        object.__setattr__(self, "_content", content)
        object.__setattr__(self, "_keys", frozenset(keys) | frozenset(self.known))
        reads = tuple((fact, _ACTIONS.get(fact, _TOKENS), _precompile(getattr(self, fact)), _ACCEPT[fact])
                      for fact, _ in plan)
        object.__setattr__(self, "_reads", reads)
        object.__setattr__(self, "_content_plan", _precompile(self.content))

    @property
    def top_keys(self) -> FrozenSet[str]:
        """Top-level keys that mark a chunk as one of this family's (others are unknown events)."""
        return self._keys

    def apply(self, body: Mapping[str, Any], outcome: Outcome) -> None:
        """Copy every declared fact found in ``body`` (a response body or one stream chunk) to ``outcome``."""
        tokens: Optional[Dict[str, int]] = None
        for fact, action, plan, accept in self._reads:
            values = _first(body, plan, accept)
            if values is None:
                continue
            if action == _TOKENS:
                if tokens is None:
                    tokens = {}
                tokens[fact] = sum(values)
            elif action == _FIRST:
                setattr(outcome, fact, values[0])
            elif action == _EACH_REASON:
                for reason in values:
                    outcome.add_finish_reason(reason)
            else:  # _COUNT
                outcome.output_count = len(values)
                outcome.output_kind = self.output_kind
        if tokens:
            outcome.set_cache(tokens.get("cache_read_tokens"), tokens.get("cache_write_tokens"))
            outcome.set_usage(tokens.get("input_tokens"), tokens.get("output_tokens"))
            if "reasoning_tokens" in tokens:
                outcome.reasoning_tokens = tokens["reasoning_tokens"]

    def has_content(self, chunk: Mapping[str, Any]) -> bool:
        """Whether a stream chunk carried generated content (only those count as chunks for TTFT)."""
        return _first(chunk, self._content_plan, bool) is not None


class FieldStreamDecoder(StreamDecoder):
    """Reads each stream chunk through a family's declared :class:`Fields` (running totals: last wins)."""

    __slots__ = ("_fields", "_keys")

    def __init__(self, fields: Fields) -> None:
        self._fields = fields
        self._keys = fields.top_keys

    def feed(self, chunk: Mapping[str, Any], outcome: Outcome) -> bool:
        if self._keys.isdisjoint(chunk):
            if INVOCATION_METRICS not in chunk:
                outcome.unknown_events += 1
            return False
        self._fields.apply(chunk, outcome)
        return self._fields.has_content(chunk)


class ModelCodec:
    """One model family's InvokeModel body formats. Subclass and register in :mod:`.registry`.

    Most families only declare class attributes: request ``params`` and ``list_params`` (GenAI
    attribute → body paths), ``response_fields`` and ``stream_fields`` (:class:`Fields`), and where
    prompts and responses live (``content``, a :class:`~.content.ContentFields`, read only when content
    capture is on). The default methods read those, and :mod:`.catalog` renders them, so the docs list
    exactly what is parsed. Families whose streams are typed event sequences (Claude) override
    :meth:`stream_decoder`.
    """

    #: stable family name, e.g. ``"anthropic.claude"``; recorded as ``bedrock_otel.model.family``
    family: str = "unknown"
    #: human name for the docs table
    title: str = ""
    #: every GenAI operation :meth:`operation_name` can return (the first is the default)
    operations: Tuple[str, ...] = ("chat",)
    #: ``gen_ai.output.type`` for every request (``"image"`` for image generators)
    output_type: Optional[str] = None
    #: numeric request parameters: GenAI attribute → body paths
    params: Mapping[str, Paths] = {}
    #: string-list request parameters (stop sequences, encoding formats): GenAI attribute → body paths
    list_params: Mapping[str, Paths] = {}
    response_fields: Fields = Fields()
    #: None: a stream's usage comes from Bedrock's invocation metrics only
    stream_fields: Optional[Fields] = None
    #: whether Bedrock offers InvokeModelWithResponseStream for the family at all
    streaming: bool = True
    #: docs: what a hand-written stream decoder reads (when ``stream_fields`` cannot say it)
    stream_doc: str = ""
    #: where requests, responses and stream chunks carry content (None: content is never captured)
    content: Optional[ContentFields] = None

    def claims(self, request: Mapping[str, Any]) -> bool:
        """Whether a request body is unmistakably this family's (for ids that name no model)."""
        return False

    def operation_name(self, request: Mapping[str, Any]) -> str:
        """GenAI operation for this request (chat, text_completion, embeddings, generate_content)."""
        return self.operations[0]

    def request_attributes(self, request: Mapping[str, Any]) -> AttributeMap:
        """Request parameters as GenAI attributes (max_tokens, temperature, …)."""
        attrs: AttributeMap = {}
        if type(request) is dict or isinstance(request, Mapping):
            for attribute, plan, is_list in self._request_reads():
                if is_list:
                    found = _first(request, plan, _is_string_list)
                    if found is not None:
                        attrs[attribute] = string_list(found[0])
                else:
                    found = _first(request, plan, _is_number)
                    if found is not None:
                        attrs[attribute] = found[0]
        if self.output_type:
            attrs[A.GEN_AI_OUTPUT_TYPE] = self.output_type
        return attrs

    def _request_reads(self) -> Tuple[Tuple[str, Plan, bool], ...]:
        """``params`` then ``list_params`` as (attribute, plan, is a list parameter), compiled once per codec
        (again if either attribute is replaced)."""
        params, list_params = self.params, self.list_params
        cached = self.__dict__.get("_request_reads_cache")
        if cached is None or cached[0] is not params or cached[1] is not list_params:
            reads = tuple((attribute, _precompile(paths), False) for attribute, paths in params.items()) + tuple(
                (attribute, _precompile(paths), True) for attribute, paths in list_params.items())
            cached = self.__dict__["_request_reads_cache"] = (params, list_params, reads)
        return cached[2]

    def parse_response(self, body: Mapping[str, Any], outcome: Outcome) -> None:
        """Fill ``outcome`` from a complete InvokeModel response body."""
        self.response_fields.apply(body, outcome)

    def stream_decoder(self) -> StreamDecoder:
        """A fresh decoder for one InvokeModelWithResponseStream call.

        Families Bedrock does not stream (images, embeddings) read any chunk as a whole body.
        """
        fields = self.stream_fields if self.streaming else self.stream_fields or self.response_fields
        return _ContentOnlyDecoder() if fields is None else FieldStreamDecoder(fields)

    def stream_content(self) -> Optional[StreamContent]:
        """A fresh reassembler of one stream's output (content capture only); chunks of families Bedrock
        does not stream are whole bodies."""
        return None if self.content is None else self.content.stream_reader(whole_bodies=not self.streaming)


class EmbeddingsCodec(ModelCodec):
    """Base for embedding models: operation ``embeddings``; Bedrock does not stream them."""

    operations = ("embeddings",)
    streaming = False


class ImageCodec(ModelCodec):
    """Base for image generators: ``generate_content`` with ``gen_ai.output.type=image``; never streamed."""

    operations = ("generate_content",)
    output_type = A.OUTPUT_TYPE_IMAGE
    streaming = False


class _ContentOnlyDecoder(StreamDecoder):
    """Fallback: every chunk counts as content; usage comes from Bedrock's invocation metrics."""

    def feed(self, chunk: Mapping[str, Any], outcome: Outcome) -> bool:
        return True


#: key of Bedrock's own accounting in the last InvokeModelWithResponseStream chunk
INVOCATION_METRICS = "amazon-bedrock-invocationMetrics"


def pick(mapping: Mapping[str, Any], *keys: str) -> Any:
    """First present value among ``keys`` (families spell the same parameter differently)."""
    for key in keys:
        value = mapping.get(key)
        if value is not None:
            return value
    return None


def numeric_params(source: Any, names: Mapping[str, tuple]) -> AttributeMap:
    """Map numeric request parameters to attributes: ``names`` is attribute → candidate keys."""
    if type(source) is not dict and not isinstance(source, Mapping):
        return {}
    out: AttributeMap = {}
    get = source.get
    for attribute, keys in names.items():
        for key in keys:  # pick(): the first present value
            value = get(key)
            if value is not None:
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    out[attribute] = value
                break
    return out


def string_list(value: Any) -> Optional[List[str]]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and value:
        for item in value:
            if not isinstance(item, str):
                return None
        return list(value)
    return None
