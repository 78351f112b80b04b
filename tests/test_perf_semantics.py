"""The hot path's shortcuts mean exactly what the plain code they replace means.

Each shortcut (python -m benchmarks measures why it is there) is checked against a straightforward
reference: the byte-level recogniser of Claude content chunks against json.loads plus the Claude stream
decoder; ``wrappers.body.loads`` against json.loads; the precompiled Fields readers against plain path
walking; the memoised remote attributes against ``remote_attributes``; the observer registry (in place of
weakref.finalize) for leaks and for its exit hook. No timings here.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Callable, Dict, List, Tuple

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bedrock_otel.aws import appsignals
from bedrock_otel.models import base, registry
from bedrock_otel.models.base import Fields, Outcome
from bedrock_otel.operations import invoke_model
from bedrock_otel.wrappers import body as body_module
from bedrock_otel.wrappers import swap

from conftest import CLAUDE, anthropic_body

SETTINGS = settings(max_examples=400, derandomize=True, deadline=None,
                    suppress_health_check=list(HealthCheck))


# --------------------------------------------------------------------------------------------------
# Claude content chunks recognised from their bytes
# --------------------------------------------------------------------------------------------------


def _claude_decoder() -> Any:
    return registry.codec_for(CLAUDE).stream_decoder()


def _outcome_state(outcome: Outcome) -> Dict[str, Any]:
    return {name: getattr(outcome, name) for name in Outcome.__slots__}


def _full_path(raw: bytes) -> Tuple[Any, Dict[str, Any]]:
    """What parsing a chunk concludes: (content or not, or the exception type; the outcome after)."""
    outcome = Outcome()
    try:
        data = json.loads(raw)
        metrics = data.get("amazon-bedrock-invocationMetrics")
        if metrics is not None:
            outcome.apply_invocation_metrics(metrics)
        result: Any = _claude_decoder().feed(data, outcome)
    except Exception as exc:
        result = type(exc)
    return result, _outcome_state(outcome)


class _Stream:
    def __iter__(self) -> Any:
        return iter(())

    def close(self) -> None:
        return None


def _handler() -> Tuple[Callable[[Any], bool], Outcome]:
    """The InvokeModelWithResponseStream event handler of a Claude call (no SDK: no-op tracer and meter)."""
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import INVALID_SPAN, NoOpTracer

    from bedrock_otel.telemetry.instruments import Instruments
    from bedrock_otel.telemetry.invocation import Invocation, Telemetry

    telemetry = Telemetry(NoOpTracer(), Instruments(NoOpMeterProvider().get_meter("test")), 1 << 20)
    operation = invoke_model.InvokeModelWithResponseStream()
    prepared = operation.prepare({"modelId": CLAUDE, "body": anthropic_body()}, telemetry)
    inv = Invocation(telemetry, INVALID_SPAN, {})
    stream = _Stream()
    assert operation.complete(inv, {"body": stream}, prepared, telemetry) is False
    return swap.observer_of(stream).handle, inv.outcome


def _handled(raw: bytes) -> Tuple[Any, Dict[str, Any]]:
    handle, outcome = _handler()
    try:
        result: Any = handle({"chunk": {"bytes": raw}})
    except Exception as exc:
        result = type(exc)
    return result, _outcome_state(outcome)


def _parses(monkeypatch: pytest.MonkeyPatch, raw: bytes) -> bool:
    """Whether the handler parses ``raw`` (False: told from its bytes)."""
    handle, _ = _handler()
    parsed: List[bytes] = []
    real = invoke_model.loads
    with monkeypatch.context() as patch:
        patch.setattr(invoke_model, "loads", lambda data: parsed.append(data) or real(data))
        handle({"chunk": {"bytes": raw}})
    return bool(parsed)


_EMPTY = _outcome_state(Outcome())
_DELTA_TYPES = st.sampled_from(["text_delta", "input_json_delta", "thinking_delta", "citations_delta",
                                "signature_delta", "type", "Text_delta", "text-delta"])
_DELTA_KEYS = st.sampled_from(["text", "partial_json", "thinking", "signature", "type", "citation"])
_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ['w1 ', 'say "hi"\n', "\\", "\u00e9t\u00e9 \U0001f600", "\t\x00\x1f\x7f", "\ud800", ""])


@st.composite
def claude_chunks(draw: Any) -> bytes:
    """Claude stream chunks, mostly content deltas in Bedrock's compact form, often subtly not."""
    delta: Dict[str, Any] = {"type": draw(_DELTA_TYPES)}
    delta[draw(_DELTA_KEYS)] = draw(_TEXT | st.integers() | st.none() | st.lists(st.integers(), max_size=2))
    chunk: Dict[str, Any] = {"type": draw(st.sampled_from(["content_block_delta"] * 4 + ["message_delta", "ping"])),
                             "index": draw(st.integers(-1, 12)), "delta": delta}
    if draw(st.integers(0, 5)) == 0:
        chunk["amazon-bedrock-invocationMetrics"] = {"inputTokenCount": 3, "outputTokenCount": 4}
    if draw(st.integers(0, 7)) == 0:
        chunk = dict(reversed(list(chunk.items())))
    text = json.dumps(chunk, separators=(",", ":"), ensure_ascii=draw(st.booleans()))
    raw = text.encode("utf-8", "surrogatepass")
    edit = draw(st.integers(0, 9))
    if edit == 0 and raw:  # truncated
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif edit == 1:  # a byte replaced (maybe breaking UTF-8, a quote, an escape)
        position = draw(st.integers(0, max(len(raw) - 1, 0)))
        raw = raw[:position] + bytes([draw(st.integers(0, 255))]) + raw[position + 1:]
    elif edit == 2:  # a duplicate key appended inside the delta or the chunk
        raw = raw[:-2] + b',"type":"signature_delta"}}' if draw(st.booleans()) else raw[:-1] + b',"type":"ping"}'
    elif edit == 3:  # JSON whitespace
        raw = raw.replace(b":", b": ", 1)
    return raw


@SETTINGS
@given(claude_chunks())
@example(b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"w12 "}}')
@example(b'{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}')
@example(b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","type":"signature_delta"}}')
@example(b'{"type":"content_block_delta","index":01,"delta":{"type":"text_delta","text":"x"}}')
@example(b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\xff"}}')
@example(b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\xed\xa0\x80"}}')
@example(b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\\u00e9\\/"}}')
@example(b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\\x"}}')
@example(b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\tb"}}')
@example(b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\x00"}}')
def test_claude_stream_handler_concludes_what_parsing_concludes(raw: bytes) -> None:
    assert _handled(raw) == _full_path(raw), raw


@pytest.mark.parametrize("delta", [
    {"type": "text_delta", "text": "w12 "},
    {"type": "text_delta", "text": 'She said "bonjour \u00e0 tous" \U0001f600\n'},
    {"type": "input_json_delta", "partial_json": '{"city": "Par'},
    {"type": "thinking_delta", "thinking": "Let me think."},
])
def test_real_claude_content_chunks_take_the_shortcut(monkeypatch: pytest.MonkeyPatch,
                                                     delta: Dict[str, Any]) -> None:
    for ensure_ascii in (True, False):
        chunk = {"type": "content_block_delta", "index": 3, "delta": delta}
        raw = json.dumps(chunk, separators=(",", ":"), ensure_ascii=ensure_ascii).encode("utf-8")
        assert not _parses(monkeypatch, raw)
        assert _handled(raw) == _full_path(raw) == (True, _EMPTY)


def test_claude_chunks_that_say_more_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = {"inputTokenCount": 3, "outputTokenCount": 4}
    for chunk in ({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}},
                  {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"},
                   "amazon-bedrock-invocationMetrics": metrics},
                  {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}},
                  {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x" * 600}}):
        assert _parses(monkeypatch, json.dumps(chunk, separators=(",", ":")).encode())


# --------------------------------------------------------------------------------------------------
# wrappers.body.loads is json.loads
# --------------------------------------------------------------------------------------------------


def _loads_outcome(loads: Callable[[Any], Any], data: Any) -> Any:
    try:
        return "ok", loads(data)
    except Exception as exc:  # same exception type and message
        return "error", type(exc), str(exc)


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10)


@st.composite
def json_documents(draw: Any) -> Any:
    text = json.dumps(draw(_JSON_VALUES), separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])),
                      ensure_ascii=draw(st.booleans()))
    text = draw(st.sampled_from(["", " ", "\n"])) + text + draw(st.sampled_from(["", " ", "x", "}", "\n"]))
    form = draw(st.sampled_from(["str", "utf-8", "utf-16", "utf-16-le", "bytearray", "garbage"]))
    if form == "str":
        return text
    if form == "garbage":
        return draw(st.binary(max_size=12)) if draw(st.booleans()) else b"{" + draw(st.binary(max_size=12))
    data = text.encode("utf-8" if form == "bytearray" else form, "surrogatepass")
    return bytearray(data) if form == "bytearray" else data


@SETTINGS
@given(json_documents())
@example(b'{"a":1}')
@example(b'{"a":1} ')
@example(b'{"a":1}x')
@example(b"{")
@example(b'{\x00"')
@example(b'{"a":"\xff"}')
@example("{}")
@example(memoryview(b"{}"))
def test_body_loads_is_json_loads(data: Any) -> None:
    assert _loads_outcome(body_module.loads, data) == _loads_outcome(json.loads, data)


def test_deeply_nested_response_body_is_a_parse_error_not_the_applications(fake_bedrock: Any, bedrock_spans: Any,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    nested = b"[" * 100_000 + b"]" * 100_000  # past json's recursion limit
    with pytest.raises(RecursionError):
        json.loads(nested)
    body = fake_bedrock.client().invoke_model(modelId=CLAUDE, body=anthropic_body())["body"]
    monkeypatch.setattr(body_module, "loads", lambda data: json.loads(nested))
    assert json.loads(body.read())["type"] == "message"  # the application's read() is untouched
    a = bedrock_spans.one().attributes
    assert a["bedrock_otel.body.end_state"] == "read"
    assert "response body nested too deeply to parse" in a["bedrock_otel.parse_error"]


# --------------------------------------------------------------------------------------------------
# Fields and request parameters: precompiled readers, plain path semantics
# --------------------------------------------------------------------------------------------------


def _reference_values(body: Any, path: str) -> List[Any]:
    """Plain path semantics: ``a.b`` reads mappings key by key, ``a[]`` every non-null item of a list."""
    current = [body]
    for part in path.split("."):
        key, expand = (part[:-2], True) if part.endswith("[]") else (part, False)
        found: List[Any] = []
        for item in current:
            value = item.get(key) if isinstance(item, Mapping) else None
            if value is None:
                continue
            if not expand:
                found.append(value)
            elif isinstance(value, list):
                found.extend(v for v in value if v is not None)
        current = found
    return current


def _reference_first(body: Any, paths: Tuple[str, ...], accept: Callable[[Any], bool]) -> List[Any]:
    if not isinstance(body, Mapping):
        return []
    for path in paths:
        values = [v for v in _reference_values(body, path) if accept(v)]
        if values:
            return values
    return []


def _reference_apply(fields: Fields, body: Mapping[str, Any], outcome: Outcome) -> None:
    tokens: Dict[str, int] = {}
    for fact, accept in base._ACCEPT.items():
        values = _reference_first(body, getattr(fields, fact), accept)
        if not values:
            continue
        if fact == "finish_reasons":
            for reason in values:
                outcome.add_finish_reason(reason)
        elif fact == "outputs":
            outcome.output_count = len(values)
            outcome.output_kind = fields.output_kind
        elif fact in ("response_id", "response_model"):
            setattr(outcome, fact, values[0])
        else:
            tokens[fact] = sum(values)
    if tokens:
        outcome.set_cache(tokens.get("cache_read_tokens"), tokens.get("cache_write_tokens"))
        outcome.set_usage(tokens.get("input_tokens"), tokens.get("output_tokens"))
        if "reasoning_tokens" in tokens:
            outcome.reasoning_tokens = tokens["reasoning_tokens"]


def _reference_request_attributes(codec: Any, request: Any) -> Dict[str, Any]:
    attrs: Dict[str, Any] = {}
    for attribute, paths in codec.params.items():
        found = _reference_first(request, paths, base._is_number)
        if found:
            attrs[attribute] = found[0]
    for attribute, paths in codec.list_params.items():
        found = _reference_first(request, paths, base._is_string_list)
        if found:
            attrs[attribute] = base.string_list(found[0])
    if codec.output_type:
        attrs["gen_ai.output.type"] = codec.output_type
    return attrs


_CODECS = list(dict.fromkeys(registry.registered().values()))
_FIELDS = [f for codec in _CODECS for f in (codec.response_fields, codec.stream_fields) if f is not None]
_KEYS = sorted({part.rstrip("[]") for f in _FIELDS for fact in (*base._FACTS, "content") for path in getattr(f, fact)
                for part in path.split(".")} | {key for codec in _CODECS for paths in (*codec.params.values(),
                *codec.list_params.values()) for path in paths for key in path.replace("[]", "").split(".")})
_LEAVES = (st.none() | st.booleans() | st.integers(-2, 10**6) | st.floats(allow_nan=False, width=32)
           | st.text(max_size=3) | st.lists(st.text(max_size=2), max_size=2))
_BODIES = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=6), max_leaves=30)


def _along(path: str, leaf: Any, draw: Any) -> Any:
    """A value that has ``leaf`` (or something else) at ``path``: ``a[].b`` → ``{"a": [{"b": leaf}, ...]}``."""
    value = leaf
    for part in reversed(path.split(".")):
        if part.endswith("[]"):
            items = [value, draw(_LEAVES)] if draw(st.booleans()) else [value]
            value = {part[:-2]: tuple(items) if draw(st.integers(0, 9)) == 0 else items}
        else:
            choice = draw(st.integers(0, 9))
            value = draw(_LEAVES) if choice == 0 else MappingProxyType({part: value}) if choice == 1 else {part: value}
    return value


@st.composite
def bodies_for(draw: Any, paths: List[str]) -> Dict[str, Any]:
    """Bodies that have something at some of ``paths``: usable values, wrong types, nulls, other keys."""
    body: Dict[str, Any] = draw(st.dictionaries(st.sampled_from(_KEYS), _BODIES, max_size=3))
    for path in draw(st.lists(st.sampled_from(paths), max_size=6)) if paths else ():
        part = _along(path, draw(_LEAVES), draw)
        if isinstance(part, dict):
            for key, value in part.items():
                if isinstance(body.get(key), dict) and isinstance(value, dict) and draw(st.booleans()):
                    body[key] = {**body[key], **value}  # two paths under one key
                else:
                    body[key] = value
    return body


@st.composite
def fields_and_bodies(draw: Any) -> Tuple[Fields, Dict[str, Any]]:
    fields = draw(st.sampled_from(_FIELDS))
    paths = [path for fact in (*base._FACTS, "content") for path in getattr(fields, fact)]
    return fields, draw(bodies_for(paths))


@st.composite
def codecs_and_requests(draw: Any) -> Tuple[Any, Any]:
    codec = draw(st.sampled_from(_CODECS))
    paths = [path for paths in (*codec.params.values(), *codec.list_params.values()) for path in paths]
    return codec, draw(bodies_for(paths) | _BODIES)


@SETTINGS
@given(fields_and_bodies())
def test_fields_read_what_plain_paths_say(case: Tuple[Fields, Dict[str, Any]]) -> None:
    fields, body = case
    expected, got = Outcome(), Outcome()
    _reference_apply(fields, body, expected)
    fields.apply(body, got)
    assert _outcome_state(got) == _outcome_state(expected)
    assert fields.has_content(body) == bool(_reference_first(body, fields.content, bool))


@SETTINGS
@given(codecs_and_requests())
def test_request_attributes_read_what_plain_paths_say(case: Tuple[Any, Any]) -> None:
    codec, request = case
    assert codec.request_attributes(request) == _reference_request_attributes(codec, request)


@SETTINGS
@given(st.data(), st.sampled_from(["usage.input_tokens", "choices[].delta.content", "results[].tokenCount",
                                   "id", "a[].b[]", "outputs[]"]))
def test_path_values_and_first_values(data: Any, path: str) -> None:
    body = data.draw(bodies_for([path, "id"]) | _BODIES)
    assert base.path_values(body, path) == _reference_values(body, path)
    for accept in (base._is_count, base._is_text, bool):
        assert base.first_values(body, (path, "id"), accept) == _reference_first(body, (path, "id"), accept)


def test_fields_read_through_any_mapping() -> None:
    codec = registry.codec_for(CLAUDE)
    body = MappingProxyType({"id": "m1", "usage": MappingProxyType({"input_tokens": 5, "output_tokens": 6})})
    outcome = Outcome()
    codec.response_fields.apply(body, outcome)
    assert (outcome.response_id, outcome.input_tokens, outcome.output_tokens) == ("m1", 5, 6)
    request = MappingProxyType({"max_tokens": 9, "stop_sequences": ("a", "b")})
    assert codec.request_attributes(request) == {"gen_ai.request.max_tokens": 9,
                                                 "gen_ai.request.stop_sequences": ["a", "b"]}


def test_request_parameters_recompiled_when_a_codec_changes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = registry.codec_for(CLAUDE)
    request = json.loads(anthropic_body(max_tokens=7, top_k=3))
    assert codec.request_attributes(request)["gen_ai.request.top_k"] == 3
    monkeypatch.setattr(codec, "params", {"gen_ai.request.max_tokens": ("max_tokens",)})
    assert codec.request_attributes(request) == {"gen_ai.request.max_tokens": 7}


# --------------------------------------------------------------------------------------------------
# remote attributes: memoised for the usual span, the same as computed
# --------------------------------------------------------------------------------------------------


class _Recording(dict):
    """A dict that notes every key read from it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read: set = set()

    def get(self, key: Any, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: Any) -> bool:
        self.read.add(key)
        return super().__contains__(key)


@pytest.mark.parametrize("extra", [{}, {"aws.bedrock.agent.id": "A"}, {"aws.s3.bucket": "b"},
                                   {"aws.lambda.function.name": "f"}, {"aws.sqs.queue.url": "u"},
                                   {"aws.secretsmanager.secret.arn": "arn:aws:secretsmanager:us-east-1:1:s"}])
@pytest.mark.parametrize("service", ["Bedrock Runtime", "Lambda", "SQS"])
@pytest.mark.parametrize("method", ["Converse", "Invoke"])
def test_remote_attributes_read_only_their_input_keys(extra: Dict[str, Any], service: str, method: str) -> None:
    attrs = _Recording({"rpc.system": "aws-api", "rpc.service": service, "rpc.method": method,
                        "gen_ai.request.model": CLAUDE, "gen_ai.operation.name": "chat", **extra})
    appsignals.remote_attributes(attrs)
    assert attrs.read <= appsignals.REMOTE_INPUT_KEYS
    if not extra:
        memo = appsignals.sdk_call_remote_attributes(service, method, CLAUDE)
        assert memo == appsignals.remote_attributes(dict(attrs))


def test_spans_carry_the_same_remote_attributes_with_and_without_attribution(fake_bedrock: Any,
                                                                             bedrock_spans: Any) -> None:
    import bedrock_otel

    client = fake_bedrock.client()
    client.converse(modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    with bedrock_otel.attributes({"tenant.id": "t1", "aws.bedrock.agent.id": "AGENT|1"}):
        client.converse(modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    plain, scoped = bedrock_spans.spans
    for span in (plain, scoped):
        attributes = dict(span.attributes)
        computed = appsignals.remote_attributes(attributes)
        assert {k: attributes[k] for k in computed} == computed
    assert plain.attributes["aws.remote.resource.type"] == "AWS::Bedrock::Model"
    assert scoped.attributes["aws.remote.resource.type"] == "AWS::Bedrock::Agent"  # the scope's id is read


# --------------------------------------------------------------------------------------------------
# Response metadata lands with the outcome; the observer registry replaces weakref.finalize
# --------------------------------------------------------------------------------------------------


def test_response_metadata_set_when_the_body_is_read(fake_bedrock: Any, bedrock_spans: Any) -> None:
    response = fake_bedrock.client().invoke_model(modelId=CLAUDE, body=anthropic_body())
    response["body"].read()
    a = bedrock_spans.one().attributes
    assert a["aws.request_id"] == response["ResponseMetadata"]["RequestId"]
    assert a["http.response.status_code"] == a["http.status_code"] == 200
    assert a["aws.retry_attempts"] == response["ResponseMetadata"]["RetryAttempts"]
    assert a["bedrock_otel.body.end_state"] == "read"


def test_response_metadata_kept_when_finishing_the_span_fails(fake_bedrock: Any, bedrock_spans: Any,
                                                              bedrock_metrics: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: Outcome) -> Any:
        raise RuntimeError("forced")

    monkeypatch.setattr(Outcome, "total_input_tokens", property(boom))
    response = fake_bedrock.client().converse(modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    a = bedrock_spans.one().attributes
    assert a["aws.request_id"] == response["ResponseMetadata"]["RequestId"]
    assert a["http.response.status_code"] == 200
    assert any("forced" in error for error in a["bedrock_otel.parse_error"])
    assert bedrock_metrics.count() == 1


def test_observer_registry_empties_as_bodies_and_streams_go(fake_bedrock: Any, bedrock_spans: Any) -> None:
    client = fake_bedrock.client()
    gc.collect()
    before = swap.pending()
    for _ in range(20):
        client.invoke_model(modelId=CLAUDE, body=anthropic_body())["body"].read()
        client.invoke_model(modelId=CLAUDE, body=anthropic_body())  # dropped unread
        for _ in client.invoke_model_with_response_stream(modelId=CLAUDE, body=anthropic_body())["body"]:
            break
    gc.collect()
    assert swap.pending() == before
    states = [span.attributes.get("bedrock_otel.body.end_state", span.attributes.get("bedrock_otel.stream.end_state"))
              for span in bedrock_spans.spans]
    assert states.count("garbage_collected") == 20 and states.count("read") == 20
    assert states.count("abandoned") == 20


def test_unread_body_alive_at_exit_still_ends_its_span(fake_bedrock: Any, tmp_path: Any) -> None:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(f"""
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

        class Print(SpanExporter):
            def export(self, spans):
                for span in spans:
                    print("span", span.attributes.get("bedrock_otel.body.end_state"), flush=True)
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(Print()))
        import boto3
        from botocore.config import Config
        from bedrock_otel import BedrockInstrumentor

        BedrockInstrumentor().instrument(tracer_provider=provider)
        client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url={fake_bedrock.endpoint_url!r},
                              aws_access_key_id="testing", aws_secret_access_key="testing",
                              config=Config(signature_version="v4", proxies={{}}, retries={{"total_max_attempts": 1}}))
        KEPT = client.invoke_model(modelId={CLAUDE!r}, body={anthropic_body()!r})  # never read, alive at exit
        print("exiting", flush=True)
    """))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OTEL_"))}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["exiting", "span", "garbage_collected"]
