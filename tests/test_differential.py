"""Differential testing: the application behaves exactly as it would without bedrock-otel.

Each hypothesis case is a short sequence of Bedrock calls (every operation bedrock-otel instruments: the
bedrock-runtime model calls, CountTokens, ApplyGuardrail and async invoke, and on bedrock-agent-runtime
agents, inline agents, knowledge bases and flows; every model family and id form, valid and malformed
requests, scripted errors, throttles with retries, malformed bodies, unexpected and broken stream
events, agent runs from random steps, mid-stream exceptions and dropped connections, slow streams) and
what the application then does with bodies and streams (consume, break and resume, close, abandon, read
twice, chunked reads, iter_lines, readinto …). The case runs twice against the same fake server — once
uninstrumented, once instrumented into fresh in-memory providers — and everything the application can
observe must be identical (see ``differential/normalise.py`` for the few fields that legitimately vary).
The instrumented run must also satisfy the telemetry invariants (``differential/runner.py``). The
application is a boto3 one, or (the ``async`` tests and cases) an aiobotocore one doing the same through
``await`` and ``async for`` (``differential/flavours.py``).

Size: ``BEDROCK_OTEL_DIFF_EXAMPLES`` (default 150, derandomized for CI; half as many aiobotocore cases
again); any value set explicitly runs randomized with that many examples, e.g.
``BEDROCK_OTEL_DIFF_EXAMPLES=5000``. With ``-s`` the module prints
``differential: cases=N (async=M) mismatches=0 open_spans=0 escaped_exceptions=0`` (N counts all cases)
and the number of calls per operation.
"""

from __future__ import annotations

import gc
import json
import os
from collections import Counter
from typing import Any, Callable, Dict, Iterator, List

import botocore.client
import pytest
from botocore.retries.standard import ExponentialBackoff
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bedrock_otel import BedrockInstrumentor
from bedrock_otel.models import registry
from bedrock_otel.models.base import Outcome, StreamDecoder
from bedrock_otel.testing.capture import Capture
from bedrock_otel.testing.fake_server import FakeBedrock, Reply
from differential import strategies as S
from differential.flavours import APPS, ASYNC, FLAVOURS, SYNC, resolve
from differential.runner import (
    AFTER_UNINSTRUMENT,
    PLAIN,
    CaseResult,
    first_difference,
    frozen_heap,
    run,
    run_case,
)
from differential.scenario import (
    CONVERSE,
    CONVERSE_STREAM,
    GET_ASYNC_INVOKE,
    INVOKE,
    INVOKE_AGENT,
    INVOKE_STREAM,
    LATEST_ASYNC_ARN,
    START_ASYNC_INVOKE,
    Behaviour,
    BodySpec,
    CallSpec,
    Scenario,
)
from differential.transport import AGENT

_ENV = "BEDROCK_OTEL_DIFF_EXAMPLES"
EXAMPLES = int(os.environ.get(_ENV, "150"))
ASYNC_EXAMPLES = max(10, EXAMPLES // 2)
FULL_RUN = _ENV in os.environ

STATS: Dict[str, int] = {"cases": 0, "async": 0, "mismatches": 0, "open_spans": 0, "escaped_exceptions": 0}
CALLS: Counter = Counter()  # calls per operation over the counted cases (the summary's second line)

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "amazon.nova-lite-v1:0"
TITAN = "amazon.titan-text-express-v1"
BODIES = {
    CLAUDE: json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
                        "messages": [{"role": "user", "content": "hello there model"}]}).encode(),
    NOVA: json.dumps({"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": "hi"}]}],
                      "inferenceConfig": {"maxTokens": 50}}).encode(),
    TITAN: json.dumps({"inputText": "hello there", "textGenerationConfig": {"maxTokenCount": 50}}).encode(),
}
MESSAGES = [{"role": "user", "content": [{"text": "hello there model"}]}]


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=not FULL_RUN,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBedrock]:
    server = FakeBedrock().start()
    # Retry back-off sleeps (up to seconds per throttle) are botocore's, not ours: make them instant
    # in both runs so retry *behaviour* (attempt counts) is compared without the wall-clock cost.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="module", autouse=True)
def _summary() -> Iterator[None]:
    yield
    print(f"\ndifferential: cases={STATS['cases']} (async={STATS['async']}) mismatches={STATS['mismatches']} "
          f"open_spans={STATS['open_spans']} escaped_exceptions={STATS['escaped_exceptions']}")
    print("differential calls per operation: " + " ".join(f"{op}={CALLS[op]}" for op in S.OPERATIONS))


def _record(scenario: Scenario, result: CaseResult, flavour: str) -> None:
    CALLS.update(call.operation for call in scenario.calls)
    STATS["cases"] += 1
    STATS["async"] += flavour == ASYNC
    STATS["open_spans"] += result.open_spans
    STATS["escaped_exceptions"] += result.escaped
    if not result.ok:
        STATS["mismatches"] += 1


def _explain(scenario: Scenario, result: CaseResult, flavour: str = SYNC) -> str:
    lines = [f"scenario ({'aiobotocore' if flavour == ASYNC else 'boto3'}):", scenario.describe()]
    if result.mismatch:
        lines += ["application-visible difference:", result.mismatch]
    if result.problems:
        lines += ["telemetry invariants violated:", *(f"  {p}" for p in result.problems)]
    return "\n".join(lines)


def check(fake: FakeBedrock, scenario: Scenario, expect_parse_error: Any = None, count: bool = True,
          flavour: str = SYNC) -> CaseResult:
    result = run_case(fake, scenario, expect_parse_error, flavour)
    if count:
        _record(scenario, result, flavour)
    return result


# --------------------------------------------------------------------------------------------------
# The differential
# --------------------------------------------------------------------------------------------------


@_settings(EXAMPLES)
@given(scenario=S.scenarios())
def test_instrumentation_is_invisible_to_the_application(fake: FakeBedrock, scenario: Scenario) -> None:
    result = check(fake, scenario)
    assert result.ok, _explain(scenario, result)


@_settings(ASYNC_EXAMPLES)
@given(scenario=S.scenarios())
def test_instrumentation_is_invisible_to_an_async_application(fake: FakeBedrock, scenario: Scenario) -> None:
    """The same scenarios through aiobotocore: AioBaseClient, async bodies and event streams."""
    result = check(fake, scenario, flavour=ASYNC)
    assert result.ok, _explain(scenario, result, ASYNC)


@_settings(max(10, EXAMPLES // 10))
@given(scenario=S.scenarios(max_calls=2), flavour=st.sampled_from(FLAVOURS))
def test_after_uninstrument_behaviour_and_telemetry_are_the_originals(fake: FakeBedrock, scenario: Scenario,
                                                                      flavour: str) -> None:
    with frozen_heap():
        plain = run(fake, scenario, PLAIN, flavour)
        after = run(fake, scenario, AFTER_UNINSTRUMENT, flavour)
    try:
        difference = first_difference(plain, after)
        assert difference is None, f"{flavour}:\n{scenario.describe()}\n{difference}"
        assert after.capture.spans.spans == [] or all(
            s.instrumentation_scope.name == "differential-app" for s in after.capture.spans.spans)
        assert after.capture.metrics.points() == []
    finally:
        plain.capture.shutdown()
        after.capture.shutdown()


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_uninstrument_restores_make_api_call(fake: FakeBedrock, flavour: str) -> None:
    import aiobotocore.client

    original = botocore.client.BaseClient.__dict__["_make_api_call"]
    aio_original = aiobotocore.client.AioBaseClient.__dict__["_make_api_call"]
    fake.reset()
    capture = Capture()
    instrumentor = BedrockInstrumentor()
    app = APPS[flavour]

    async def calls_across_uninstrument() -> None:
        instrumentor.instrument(tracer_provider=capture.spans.provider, meter_provider=capture.metrics.provider)
        try:
            assert botocore.client.BaseClient.__dict__["_make_api_call"] is not original
            assert aiobotocore.client.AioBaseClient.__dict__["_make_api_call"] is not aio_original
            client = await app.client(fake.endpoint_url, 1, False, "bedrock-runtime")
            stream = (await resolve(client.converse_stream(modelId=NOVA, messages=MESSAGES)))["stream"]
            body = (await resolve(client.invoke_model(modelId=CLAUDE, body=BODIES[CLAUDE])))["body"]
        finally:
            instrumentor.uninstrument()
        assert botocore.client.BaseClient.__dict__["_make_api_call"] is original
        assert aiobotocore.client.AioBaseClient.__dict__["_make_api_call"] is aio_original
        # What was returned while instrumented still works, and its spans still end, after uninstrument().
        assert "metadata" in (await app.drain(stream))[-1]
        assert json.loads(await resolve(body.read()))["type"] == "message"
        states = sorted(dict(s.attributes).get("bedrock_otel.stream.end_state") or
                        dict(s.attributes).get("bedrock_otel.body.end_state") for s in capture.spans.spans)
        assert states == ["completed", "read"]
        del stream, body
        # New calls are not instrumented at all.
        await resolve(client.converse(modelId=CLAUDE, messages=MESSAGES))
        await app.drain((await resolve(client.converse_stream(modelId=NOVA, messages=MESSAGES)))["stream"])
        await resolve((await resolve(client.invoke_model(modelId=CLAUDE, body=BODIES[CLAUDE])))["body"].read())
        await app.close_client(client)
        await app.settle()

    app.execute(calls_across_uninstrument())
    gc.collect()
    assert len(capture.spans.spans) == 2
    assert capture.metrics.count() == 2
    assert capture.spans.unfinished == []
    capture.shutdown()


# --------------------------------------------------------------------------------------------------
# Forced internal failures: bedrock-otel's own parsing breaks; the application must not notice
# --------------------------------------------------------------------------------------------------


class Boom(RuntimeError):
    """The forced failure; its message is what the span's parse_error must mention."""


BOOM = "forced failure in bedrock-otel"


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise Boom(BOOM)


class _BoomDecoder(StreamDecoder):
    def feed(self, chunk: Any, outcome: Any) -> bool:
        raise Boom(BOOM)


def _codec(prefix: str) -> Any:
    return registry.registered()[prefix]


def _outcome_members() -> List[str]:
    """Outcome's public methods and properties, whatever they are today (other work changes them)."""
    return sorted(name for name, member in vars(Outcome).items()
                  if not name.startswith("_") and (callable(member) or isinstance(member, property)))


def _patch_outcome(name: str) -> Callable[[pytest.MonkeyPatch], None]:
    def patch(monkeypatch: pytest.MonkeyPatch) -> None:
        member = vars(Outcome)[name]
        monkeypatch.setattr(Outcome, name, property(_boom) if isinstance(member, property) else _boom)

    return patch


def _patch_codec(prefix: str, attribute: str) -> Callable[[pytest.MonkeyPatch], None]:
    def patch(monkeypatch: pytest.MonkeyPatch) -> None:
        replacement = (lambda: _BoomDecoder()) if attribute == "stream_decoder" else _boom
        monkeypatch.setattr(_codec(prefix), attribute, replacement)

    return patch


def _one(operation: str, model: str, behaviour: str = "consume", replies: tuple = ()) -> Scenario:
    params: Dict[str, Any] = {}
    body = None
    if operation in (CONVERSE, CONVERSE_STREAM):
        params = {"messages": MESSAGES}
    else:
        body = BodySpec("bytes", BODIES[model])
    if operation == INVOKE and behaviour == "consume":
        behaviour = "read"
    return Scenario((CallSpec(operation, model, params, body, replies, behaviour=Behaviour(behaviour)),))


CODEC_CASES = [
    pytest.param(_patch_codec(prefix, "parse_response"), _one(INVOKE, model), id=f"{prefix}parse_response")
    for prefix, model in (("anthropic.", CLAUDE), ("amazon.nova-", NOVA), ("amazon.titan-text-", TITAN))
] + [
    pytest.param(_patch_codec(prefix, "stream_decoder"), _one(INVOKE_STREAM, model), id=f"{prefix}feed")
    for prefix, model in (("anthropic.", CLAUDE), ("amazon.nova-", NOVA), ("amazon.titan-text-", TITAN))
]


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(("patch", "scenario"), CODEC_CASES)
def test_codec_failure_is_recorded_not_raised(fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch,
                                              patch: Callable[[pytest.MonkeyPatch], None], scenario: Scenario,
                                              flavour: str) -> None:
    patch(monkeypatch)
    result = check(fake, scenario, expect_parse_error=BOOM, flavour=flavour)
    assert result.ok, _explain(scenario, result, flavour)


def _outcome_cases() -> List[Any]:
    scenarios = {
        "Converse": _one(CONVERSE, CLAUDE),
        "ConverseStream": _one(CONVERSE_STREAM, NOVA),
        "InvokeModel-claude": _one(INVOKE, CLAUDE),
        "InvokeModel-titan": _one(INVOKE, TITAN),
        "InvokeModelWithResponseStream-claude": _one(INVOKE_STREAM, CLAUDE),
        "InvokeModelWithResponseStream-titan": _one(INVOKE_STREAM, TITAN),
    }
    # Properties are read only while the span ends (Invocation._finish), methods while parsing.
    return [pytest.param(name, scenario, id=f"{name}-{label}")
            for name in _outcome_members() for label, scenario in scenarios.items()]


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(("member", "scenario"), _outcome_cases())
def test_outcome_failure_is_recorded_not_raised(fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch, member: str,
                                                scenario: Scenario, flavour: str) -> None:
    used: List[int] = []

    def counting_boom(*args: Any, **kwargs: Any) -> Any:
        used.append(1)
        raise Boom(BOOM)

    is_property = isinstance(vars(Outcome)[member], property)
    monkeypatch.setattr(Outcome, member, property(counting_boom) if is_property else counting_boom)
    # forced failures stay out of the summary
    result = check(fake, scenario, count=not is_property, flavour=flavour)
    assert result.ok, _explain(scenario, result, flavour)
    if used:  # the member was used on this path (only instrumented code uses Outcome): the span must say so
        [span] = result.spans
        errors = (span.attributes or {}).get("bedrock_otel.parse_error", ())
        assert any(BOOM in e for e in errors), f"Outcome.{member} raised but parse_error is {errors!r}"


FORCED_PATCHES = {
    **{f"Outcome.{name}": _patch_outcome(name) for name in _outcome_members()},
    **{f"{prefix}{attr}": _patch_codec(prefix, attr) for prefix in ("anthropic.", "amazon.nova-", "amazon.titan-text-")
       for attr in ("parse_response", "stream_decoder")},
}


@_settings(max(20, EXAMPLES // 5))
@given(target=st.sampled_from(sorted(FORCED_PATCHES)), scenario=S.scenarios(max_calls=2),
       flavour=st.sampled_from(FLAVOURS))
def test_forced_failures_never_reach_the_application(fake: FakeBedrock, target: str, scenario: Scenario,
                                                     flavour: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        FORCED_PATCHES[target](monkeypatch)
        result = check(fake, scenario, flavour=flavour)
    assert result.ok, f"forced failure: {target}\n" + _explain(scenario, result, flavour)


# --------------------------------------------------------------------------------------------------
# Bugs this harness found (fixed; kept as regression tests)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_polling_the_async_invocation_just_started(fake: FakeBedrock, flavour: str) -> None:
    """GetAsyncInvoke of the ARN StartAsyncInvoke returned: a random id in the path, the same job in both runs."""
    start = CallSpec(START_ASYNC_INVOKE, None, {
        "modelId": "amazon.nova-reel-v1:0",
        "modelInput": {"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": "x"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://my-bucket/videos/"}}})
    poll = CallSpec(GET_ASYNC_INVOKE, None, {"invocationArn": LATEST_ASYNC_ARN})
    result = check(fake, Scenario((start, poll, poll)), flavour=flavour)
    assert result.ok, _explain(Scenario((start, poll, poll)), result, flavour)
    statuses = [s.attributes.get("aws.bedrock.async_invoke.status") for s in result.spans]
    assert statuses == [None, "InProgress", "Completed"]  # the polls found the job the app started


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_closing_a_partly_read_body(fake: FakeBedrock, flavour: str) -> None:
    """Regression (aiobotocore 3.5, Python 3.9): the proxied async body has no ``aclose``; instrumented, it
    had ours, which then failed inside bedrock-otel with a different AttributeError."""
    scenario = _one(INVOKE, CLAUDE, behaviour="partial_close")
    result = check(fake, scenario, flavour=flavour)
    assert result.ok, _explain(scenario, result, flavour)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_memoryview_request_body_still_gets_its_span(fake: FakeBedrock, flavour: str) -> None:
    scenario = Scenario((CallSpec(INVOKE, CLAUDE, body=BodySpec("memoryview", BODIES[CLAUDE]),
                                  behaviour=Behaviour("read")),))
    result = check(fake, scenario, count=False, flavour=flavour)
    assert result.ok, _explain(scenario, result, flavour)


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("unsigned", [True, False], ids=["unsigned", "sigv4-param-error"])
def test_unseekable_request_body_is_not_consumed(fake: FakeBedrock, unsigned: bool, flavour: str) -> None:
    # sigv4 clients hash (read) the body themselves and fail on it anyway; the difference then shows
    # when botocore never reads it, e.g. a call rejected by parameter validation.
    model = CLAUDE if unsigned else ""
    scenario = Scenario((CallSpec(INVOKE, model, body=BodySpec("unseekable", BODIES[CLAUDE]), unsigned=unsigned,
                                  behaviour=Behaviour("read")),))
    result = check(fake, scenario, count=False, flavour=flavour)
    assert result.ok, _explain(scenario, result, flavour)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_request_attribute_failure_still_gets_its_span(fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch,
                                                       flavour: str) -> None:
    monkeypatch.setattr(_codec("anthropic."), "request_attributes", _boom)
    scenario = _one(INVOKE, CLAUDE)
    result = check(fake, scenario, count=False, flavour=flavour)
    assert result.ok, _explain(scenario, result, flavour)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_error_type_failure_does_not_replace_the_apps_exception(fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch,
                                                                flavour: str) -> None:
    import bedrock_otel.telemetry.invocation as invocation

    monkeypatch.setattr(invocation, "error_type", _boom)
    scenario = _one(CONVERSE, CLAUDE, replies=(Reply.error(400, "ValidationException"),))
    result = check(fake, scenario, count=False, flavour=flavour)
    assert result.ok, _explain(scenario, result, flavour)


# --------------------------------------------------------------------------------------------------
# The harness itself: deliberately broken instrumentation must be caught
# --------------------------------------------------------------------------------------------------


Mutate = Callable[[pytest.MonkeyPatch, str], None]


def _mutate_body_read(monkeypatch: pytest.MonkeyPatch, flavour: str) -> None:
    from bedrock_otel.wrappers.body import ObservedAsyncBody, ObservedBody

    if flavour == SYNC:
        original = ObservedBody.read
        monkeypatch.setattr(ObservedBody, "read", lambda self, amt=None: original(self, amt)[1:])
        return
    async_original = ObservedAsyncBody.read

    async def read(self: Any, amt: Any = None) -> bytes:
        return (await async_original(self, amt))[1:]

    monkeypatch.setattr(ObservedAsyncBody, "read", read)


def _mutate_stream_events(monkeypatch: pytest.MonkeyPatch, flavour: str) -> None:
    from bedrock_otel.wrappers.event_stream import ObservedAsyncEventStream, ObservedEventStream

    if flavour == SYNC:
        original = ObservedEventStream.__iter__

        def skip_first(self: Any) -> Any:
            events = original(self)
            next(events, None)
            yield from events

        monkeypatch.setattr(ObservedEventStream, "__iter__", skip_first)
        return
    async_original = ObservedAsyncEventStream.__aiter__

    async def skip_first_async(self: Any) -> Any:
        events = async_original(self)
        await events.__anext__()
        async for event in events:
            yield event

    monkeypatch.setattr(ObservedAsyncEventStream, "__aiter__", skip_first_async)


def _mutate_failed(monkeypatch: pytest.MonkeyPatch, flavour: str) -> None:
    from bedrock_otel import calls

    monkeypatch.setattr(calls, "failed", _boom)


def _mutate_stream_never_ends(monkeypatch: pytest.MonkeyPatch, flavour: str) -> None:
    from bedrock_otel.wrappers.event_stream import StreamObserver

    monkeypatch.setattr(StreamObserver, "stop", lambda self, state: None)


def _mutate_fail_without_status(monkeypatch: pytest.MonkeyPatch, flavour: str) -> None:
    from bedrock_otel.telemetry.invocation import Invocation

    monkeypatch.setattr(Invocation, "fail", lambda self, exc: self.end())


def _mutate_agent_children_left_open(monkeypatch: pytest.MonkeyPatch, flavour: str) -> None:
    from bedrock_otel.operations.agent_trace import AgentTrace

    monkeypatch.setattr(AgentTrace, "_end", lambda self, child, now: None)
    original = AgentTrace.finish

    def finish(self: Any, exc: Any) -> None:
        self._open.clear()  # forget the children still open instead of ending them
        original(self, exc)

    monkeypatch.setattr(AgentTrace, "finish", finish)


def _agent(replies: tuple = (), behaviour: str = "consume") -> Scenario:
    return Scenario((CallSpec(INVOKE_AGENT, None, dict(AGENT), replies=replies, behaviour=Behaviour(behaviour)),))


def _mutate_request_body_consumed(monkeypatch: pytest.MonkeyPatch, flavour: str) -> None:
    from bedrock_otel.operations import invoke_model

    original = invoke_model.read_request_body
    monkeypatch.setattr(invoke_model, "read_request_body",
                        lambda body, limit: body.read() if hasattr(body, "read") else original(body, limit))


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(("mutate", "scenario"), [
    pytest.param(_mutate_body_read, _one(INVOKE, CLAUDE), id="body-bytes-changed"),
    pytest.param(_mutate_stream_events, _one(CONVERSE_STREAM, NOVA), id="stream-event-dropped"),
    pytest.param(_mutate_failed, _one(CONVERSE, CLAUDE, replies=(Reply.throttle(),)), id="exception-replaced"),
    pytest.param(_mutate_stream_never_ends, _one(CONVERSE_STREAM, NOVA), id="span-never-ends"),
    pytest.param(_mutate_fail_without_status, _one(CONVERSE, CLAUDE, replies=(Reply.throttle(),)),
                 id="error-status-missing"),
    pytest.param(_mutate_stream_events, _agent(), id="agent-event-dropped"),
    pytest.param(_mutate_failed, _agent(replies=(Reply.error(424, "DependencyFailedException", "no"),)),
                 id="agent-exception-replaced"),
    pytest.param(_mutate_fail_without_status, _agent(replies=(Reply.stream_error(3, "badGatewayException"),)),
                 id="agent-stream-error-status-missing"),
    pytest.param(_mutate_agent_children_left_open, _agent(), id="agent-child-spans-never-end"),
    pytest.param(_mutate_request_body_consumed,
                 Scenario((CallSpec(INVOKE, CLAUDE, body=BodySpec("bytesio", BODIES[CLAUDE]),
                                    behaviour=Behaviour("read")),)), id="request-body-consumed"),
])
def test_the_harness_catches_broken_instrumentation(fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch,
                                                    mutate: Mutate, scenario: Scenario, flavour: str) -> None:
    assert check(fake, scenario, count=False, flavour=flavour).ok  # sanity: the scenario passes with the real code
    mutate(monkeypatch, flavour)
    result = check(fake, scenario, count=False, flavour=flavour)
    assert not result.ok, "the differential harness did not notice the broken instrumentation"


def test_deeply_nested_request_body_still_gets_its_span() -> None:
    # In-process transport: the fake server itself crashes on such a body (reported separately).
    # (boto3 only: the canned transport is a botocore before-send handler; the bug was in the shared core.)
    from differential.flavours import make_client
    from differential.transport import attach

    capture = Capture()
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(tracer_provider=capture.spans.provider, meter_provider=capture.metrics.provider)
    try:
        client = attach(make_client("http://bedrock.invalid"))
        client.invoke_model(modelId=CLAUDE, body=b"[" * 100_000)["body"].read()
    finally:
        instrumentor.uninstrument()
        capture.shutdown()
    assert len(capture.spans.spans) == 1


def test_summary_has_no_failures() -> None:
    """Runs last in this module: whatever ran above, nothing was counted as a failure."""
    assert STATS["mismatches"] == 0, STATS
    assert STATS["open_spans"] == 0, STATS
    assert STATS["escaped_exceptions"] == 0, STATS
