"""Run a :class:`~.scenario.Scenario` against a fake Bedrock, with or without bedrock-otel.

A run returns an application-visible transcript (normalised; equal between runs when the
instrumentation is transparent) and, per call, what the telemetry must say about it: whether the
application saw an exception while the call's span was still open (then the span must be ERROR with
that ``error.type``), and whether an exception came out of bedrock-otel's own code.

The application is boto3 (sync) or aiobotocore (async): the behaviours below are written once, as
coroutines over an :class:`~.flavours.App` (see ``flavours.py`` for the async mapping of sync-only
behaviours). The span-ending rules modelled here are docs/telemetry.md's: a stream's span ends when
it is exhausted, fails, is closed, the loop is broken out of (GeneratorExit; an async generator gets
it from ``aclose()`` or when the event loop finalises it, so the async app gives the loop a turn after
dropping one) or it is garbage-collected; a body's span ends when ``read()``/``read(n)`` reaches its end,
``readlines()``, ``readinto`` returns 0, ``close()``/``aclose()``, leaving ``with body as raw`` /
``async with body``, or garbage collection.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from opentelemetry.trace import StatusCode

from bedrock_otel import BedrockInstrumentor
from bedrock_otel.testing.capture import Capture
from bedrock_otel.testing.fake_server import FakeBedrock

from .flavours import APPS, END, SYNC, App, resolve
from .flavours import make_client as make_client  # re-exported: test_concurrency.py, test_leaks.py
from .normalise import (
    describe_exception,
    expected_error_type,
    normalise,
    normalise_bytes,
    normalise_text,
    raised_by_instrumentation,
)
from .scenario import (
    FORWARD_ONLY_BODIES,
    GET_ASYNC_INVOKE,
    LATEST_ASYNC_ARN,
    METHODS,
    START_ASYNC_INVOKE,
    STREAM_MEMBERS,
    UNKNOWN_ASYNC_ARN,
    CallSpec,
    ReadOnlyBody,
    Scenario,
    UnseekableBody,
)

SCOPE = "bedrock_otel.instrumentor"
DURATION = "gen_ai.client.operation.duration"
_TTL = re.compile(r"ttl=[0-9TZ]+")  # retry attempts carry a clock-based time-to-live
MAX_READS = 300  # chunked reads per body before the app reads the rest at once (keeps huge bodies cheap)


class AppError(Exception):
    """Raised by the simulated application inside its own stream loop."""


class ThrownIn(Exception):
    """Thrown by the simulated application into a stream's iterator (``generator.throw``)."""


_FAILED = object()

# --------------------------------------------------------------------------------------------------
# What one call looked like to the application
# --------------------------------------------------------------------------------------------------


@dataclass
class CallTranscript:
    """Application-visible steps of one call, plus the telemetry expectations they imply."""

    instrumented: bool
    entries: List[Tuple[Any, ...]] = field(default_factory=list)
    expected_error: Optional[str] = None  # error.type the span must carry, None: span must not be ERROR
    span_open: bool = True  # per the modelled span-ending rules
    escaped: List[str] = field(default_factory=list)  # exceptions raised by bedrock-otel's own code

    def note(self, *entry: Any) -> None:
        self.entries.append(entry)

    def raised(self, step: str, exc: BaseException) -> None:
        self.entries.append(("raised", step, describe_exception(exc)))
        # (the app's own exceptions thrown into a generator surface at bedrock-otel's ``yield``)
        if raised_by_instrumentation(exc.__traceback__) and not isinstance(exc, (AppError, ThrownIn)):
            self.escaped.append(f"{step}: {type(exc).__name__}: {exc}")
        if self.span_open and not isinstance(exc, AppError):
            self.expected_error = expected_error_type(exc)
        self.span_open = False

    def span_ends(self) -> None:
        self.span_open = False

    def app_side(self, step: str, exc: BaseException) -> None:
        """The app's own processing failed (decoding what it read): visible, but not the call's failure."""
        self.entries.append(("app_side_error", step, describe_exception(exc)))

    async def step(self, name: str, action: Callable[[], Any], ends_span: bool = False) -> Any:
        """Run ``action`` (its result awaited when the API is async) and note what the app got."""
        try:
            value = await resolve(action())
        except Exception as exc:
            self.raised(name, exc)
            return _FAILED
        self.note(name, normalise(value))
        if ends_span:
            self.span_ends()
        return value


@dataclass
class RunResult:
    calls: List[CallTranscript]
    requests: List[Tuple[Any, ...]]
    unraisable: List[Tuple[Any, ...]]
    capture: Capture
    parents: List[int]  # span id of the app's parent span around each call
    points: List[int]  # duration points recorded so far, after each call (and a gc.collect())

    @property
    def visible(self) -> Tuple[Any, ...]:
        """Everything the application could observe, for the differential comparison."""
        return tuple(tuple(c.entries) for c in self.calls), tuple(self.requests), len(self.unraisable)


# --------------------------------------------------------------------------------------------------
# Behaviours: what the app does with a body or a stream
# --------------------------------------------------------------------------------------------------

Holder = Dict[str, Any]


async def _drop(app: App, holder: Holder, tx: CallTranscript) -> None:
    holder.clear()
    await app.settle()
    tx.span_ends()  # garbage-collected


async def _chunk_loop(tx: CallTranscript, name: str, read: Callable[[], Any], body: Any) -> None:
    """Read until the body says it is done; past MAX_READS the app reads the rest in one go."""
    parts: List[bytes] = []
    for _ in range(MAX_READS):
        try:
            chunk = await resolve(read())
        except Exception as exc:
            tx.note(name, normalise(b"".join(parts)), [len(p) for p in parts])
            tx.raised(name, exc)
            return
        if chunk == b"":
            break
        parts.append(chunk)
    else:
        tx.note(name, normalise(b"".join(parts)), [len(p) for p in parts])
        await tx.step("read_rest", body.read, ends_span=True)
        return
    tx.note(name, normalise(b"".join(parts)), [len(p) for p in parts])
    tx.span_ends()


async def body_behaviour(app: App, kind: str, amount: int, holder: Holder, tx: CallTranscript) -> None:
    body = holder["result"]["body"]
    size = max(amount, 1)
    if kind == "read":
        await tx.step("read", body.read, ends_span=True)
    elif kind == "read_twice":
        await tx.step("read", body.read, ends_span=True)
        await tx.step("read_again", body.read)
    elif kind == "read_chunks":
        await _chunk_loop(tx, "read_chunks", lambda: body.read(size), body)
    elif kind == "iter_chunks":
        await tx.step("iter_chunks", lambda: app.drain(body.iter_chunks(size)), ends_span=True)
    elif kind == "iter_lines":
        await tx.step("iter_lines", lambda: app.drain(body.iter_lines()), ends_span=True)
    elif kind == "iterate":
        await tx.step("iterate", lambda: app.drain(body), ends_span=True)
    elif kind in ("readinto", "readinto_view"):
        buffer = bytearray(size)
        target = memoryview(buffer) if kind == "readinto_view" else buffer

        async def read_into() -> bytes:
            return bytes(buffer[: await resolve(body.readinto(target))])

        await _chunk_loop(tx, kind, read_into, body)
    elif kind == "readlines":
        await tx.step("readlines", body.readlines, ends_span=True)
    elif kind == "partial_close":
        chunk = await tx.step("read_n", lambda: body.read(size))
        if chunk == b"":
            tx.span_ends()
        await tx.step("close", lambda: app.close_partly_read(body), ends_span=True)
    elif kind == "close_read":
        await tx.step("close", body.close, ends_span=True)
        await tx.step("read_after_close", body.read)
    elif kind == "with_raw":
        await tx.step("with_raw", lambda: app.with_raw(body), ends_span=True)
    elif kind == "abandon":
        del body
        await _drop(app, holder, tx)
    elif kind == "partial_abandon":
        chunk = await tx.step("read_n", lambda: body.read(size))
        if chunk == b"":
            tx.span_ends()
        del body
        await _drop(app, holder, tx)
    elif kind == "read_neg":
        await tx.step("read_neg", lambda: body.read(-1))
        await tx.step("read", body.read, ends_span=True)
    elif kind == "next_close":
        try:
            chunk = await app.next(body)
        except Exception as exc:
            tx.raised("next", exc)
        else:
            if chunk is END:  # an empty body: the end of the body, not a failure
                tx.note("next", "StopIteration")
                tx.span_ends()
            else:
                tx.note("next", normalise(chunk))
        await tx.step("close", body.close, ends_span=True)
    elif kind == "readline_rest":
        line = await tx.step("readline", lambda: app.readline(body))
        if line == b"":
            tx.span_ends()
        await tx.step("read", body.read, ends_span=True)
    elif kind == "read_zero":
        await tx.step("read_zero", lambda: body.read(0))
        await tx.step("read", body.read, ends_span=True)
    elif kind == "json_load":  # json.load(body) is json.loads(body.read()): keep the two failures apart
        data = await tx.step("read", body.read, ends_span=True)
        if data is not _FAILED:
            try:
                tx.note("json_loads", normalise(json.loads(data)))
            except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError: the app's parsing, not the call
                tx.app_side("json_loads", exc)
    elif kind == "buffered_reader":  # io.BufferedReader over the body (readinto into its own buffer)
        reader = app.buffered(body, max(size, 16))

        async def peek() -> bytes:
            return (await resolve(reader.peek(1)))[:1]  # type: ignore[no-any-return]

        await tx.step("buffered_peek", peek)
        await tx.step("buffered_read", reader.read, ends_span=True)
        del reader
    elif kind == "text_wrapper":
        try:
            tx.note("text_read", normalise(await app.read_text(body)))
        except UnicodeDecodeError as exc:  # decoding is the app's side; the body may be half read
            tx.app_side("text_read", exc)
        except Exception as exc:
            tx.raised("text_read", exc)
        else:
            tx.span_ends()
    elif kind == "copyfileobj":
        target = io.BytesIO()
        await tx.step("copyfileobj", lambda: app.copy(body, target), ends_span=True)
        tx.note("copied", normalise(target.getvalue()))
    else:  # pragma: no cover
        raise AssertionError(kind)


async def _iterate(app: App, tx: CallTranscript, name: str, stream: Any, limit: Optional[int] = None,
                   raise_at: Optional[int] = None, closing: bool = False) -> None:
    """``for event in stream`` (``async for``), perhaps broken out of or failing in the app's own code.

    ``closing``: the loop runs in ``contextlib.closing``/``aclosing`` around the iterator, which is closed
    as the loop is left (the usual way to leave an ``async for`` early without waiting for the event loop).
    Without it the iterator is dropped, and an async one is finalised when the app next gives the event
    loop a turn, which it does at once. Where the app reads the stream again afterwards it uses
    ``closing``: a loop turn between two reads lets aiohttp see a dropped connection before handing out
    what it had already buffered, so what the app receives then depends on timing (in any two runs).
    """
    events: List[Any] = []
    how = "completed"
    iterator: Any = None
    failed = False
    try:
        iterator = app.iterator(stream)
        while True:
            event = await app.next(iterator)
            if event is END:
                break
            events.append(normalise(event))
            if raise_at is not None and len(events) >= raise_at:
                raise AppError("the application's own loop failed")
            if limit is not None and len(events) >= limit:
                how = "break"
                break
    except Exception as exc:
        tx.note(name, events)
        tx.raised(name, exc)
        failed = True
    if closing and iterator is not None:
        try:
            await app.close_iterator(iterator)
        except Exception as exc:
            tx.raised("close_iterator", exc)
    # Leaving the loop drops its iterator: a sync generator is closed on the spot, an async one when the
    # event loop gets to it.
    del iterator
    if not closing:
        await app.turn()
    if not failed:
        tx.note(name, events, how)
        tx.span_ends()


async def _next_each(app: App, tx: CallTranscript, iterators: List[Any], count: int) -> bool:
    """``count`` manual ``next`` calls, round-robin over ``iterators``; False once one ends or fails."""
    for index in range(count):
        try:
            event = await app.next(iterators[index % len(iterators)])
        except Exception as exc:
            tx.raised(f"next[{index}]", exc)
            return False
        if event is END:
            tx.note("next", index, "StopIteration")
            tx.span_ends()
            return False
        tx.note("next", index, normalise(event))
    return True


async def stream_behaviour(app: App, kind: str, amount: int, holder: Holder, tx: CallTranscript,
                           member: str) -> None:
    stream = holder["result"][member]
    count = max(amount, 1)
    if kind == "consume":
        await _iterate(app, tx, "consume", stream)
    elif kind == "break_resume":
        await _iterate(app, tx, "first_pass", stream, limit=count, closing=True)
        await _iterate(app, tx, "resume", stream)
    elif kind == "break_abandon":
        await _iterate(app, tx, "first_pass", stream, limit=count)
        del stream
        await _drop(app, holder, tx)
    elif kind == "break_close":
        await _iterate(app, tx, "first_pass", stream, limit=count, closing=True)
        await tx.step("close", stream.close, ends_span=True)
    elif kind == "close_first":
        await tx.step("close", stream.close, ends_span=True)
        await _iterate(app, tx, "after_close", stream)
    elif kind == "consume_close":
        await _iterate(app, tx, "consume", stream)
        await tx.step("close", stream.close, ends_span=True)
        await tx.step("close_again", stream.close)
    elif kind == "abandon":
        del stream
        await _drop(app, holder, tx)
    elif kind == "iterate_twice":
        await _iterate(app, tx, "consume", stream)
        await _iterate(app, tx, "again", stream)
    elif kind in ("next_manual", "interleaved"):  # one iterator, or two over one stream advanced in turn
        iterators = [app.iterator(stream) for _ in range(1 if kind == "next_manual" else 2)]
        await _next_each(app, tx, iterators, amount if kind == "next_manual" else count * 2)
        if amount or kind == "interleaved":
            tx.span_ends()  # dropping a started iterator closes it: the loop was abandoned
        del iterators
        await app.turn()
    elif kind == "app_raises":
        await _iterate(app, tx, "app_loop", stream, raise_at=count)
    elif kind == "throw":  # the app throws its own exception into the stream's iterator
        iterators = [app.iterator(stream)]
        if await _next_each(app, tx, iterators, count):
            try:
                await app.throw(iterators[0], ThrownIn("thrown in by the application"))
            except ThrownIn as exc:
                # The iterator re-raised the app's own exception: as far as the span can tell, the
                # stream failed with it (docs: "errors behave exactly as without instrumentation").
                tx.raised("throw", exc)
            except Exception as exc:
                tx.raised("throw", exc)
            else:  # pragma: no cover - botocore's generator does not swallow it
                tx.note("throw", "swallowed")
        del iterators  # finished by the exception: nothing for the event loop to finalise before the next read
        await _iterate(app, tx, "after_throw", stream)
    else:  # pragma: no cover
        raise AssertionError(kind)


# --------------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Make the runs' ``gc.collect()`` calls cheap: objects older than the case are not re-scanned.

    Everything a case creates (clients, streams, spans) is younger than the freeze, so the collections
    the runs rely on (abandoned streams, the final check for open spans) still find all of it; the
    frozen objects go back to the oldest generation afterwards and are collected as usual.
    """
    global _FROZEN_CASES
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        # The runs' own collections reset the collector's counters, so its automatic full collections
        # would hardly ever run: collect what the test framework left behind now and then.
        _FROZEN_CASES += 1
        if _FROZEN_CASES % 20 == 0:
            gc.collect()


_FROZEN_CASES = 0


@contextlib.contextmanager
def collecting_unraisable() -> Iterator[List[Any]]:
    """Exceptions Python could not raise (finalizers, generator close at GC): app-visible stderr noise."""
    seen: List[Any] = []
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        seen.append((unraisable.exc_type.__name__ if unraisable.exc_type else None, str(unraisable.exc_value),
                     raised_by_instrumentation(unraisable.exc_traceback), repr(unraisable.object)[:80]))

    sys.unraisablehook = hook
    try:
        yield seen
    finally:
        sys.unraisablehook = previous


async def _call(app: App, client: Any, spec: CallSpec, tx: CallTranscript, state: Dict[str, Any]) -> None:
    holder: Holder = {}
    kwargs = spec.kwargs()
    if spec.operation == GET_ASYNC_INVOKE and kwargs.get("invocationArn") == LATEST_ASYNC_ARN:
        kwargs["invocationArn"] = state.get("async_arn", UNKNOWN_ASYNC_ARN)
    body = kwargs.get("body")
    try:
        holder["result"] = await resolve(getattr(client, METHODS[spec.operation])(**kwargs))
    except Exception as exc:
        tx.raised("call", exc)
    if spec.operation == START_ASYNC_INVOKE and isinstance(holder.get("result"), dict):
        state["async_arn"] = holder["result"].get("invocationArn")
    if isinstance(body, (io.BytesIO, io.StringIO, ReadOnlyBody, UnseekableBody)):
        position = body.tell() if isinstance(body, (io.BytesIO, io.StringIO)) else body._data.tell()
        tx.note("request_body_position", position)
    tx.note("params_after_call", normalise({k: v for k, v in kwargs.items() if k != "body"}))
    del body, kwargs
    if "result" not in holder:
        return
    tx.note("result", normalise(holder["result"]))
    behaviour = spec.behaviour
    result = holder["result"]
    member = STREAM_MEMBERS.get(spec.operation)
    if member is not None and member in result:
        del result
        await stream_behaviour(app, behaviour.kind, behaviour.amount, holder, tx, member)
    elif "body" in result and spec.operation == "InvokeModel":
        del result
        await body_behaviour(app, behaviour.kind, behaviour.amount, holder, tx)
    else:
        del result
        tx.span_ends()
    holder.clear()


PLAIN, INSTRUMENTED, AFTER_UNINSTRUMENT = "plain", "instrumented", "after_uninstrument"


def run(fake: FakeBedrock, scenario: Scenario, mode: str = PLAIN, flavour: str = SYNC) -> RunResult:
    """Execute every call of ``scenario`` with fresh clients (so retry quotas and pools start equal).

    ``mode``: ``plain`` (never instrumented), ``instrumented``, or ``after_uninstrument`` (instrumented
    then uninstrumented before the first call: must behave, and emit, exactly like ``plain``).
    ``flavour``: the application's SDK, ``sync`` (boto3) or ``async`` (aiobotocore).
    """
    app = APPS[flavour]
    return app.execute(_run(app, fake, scenario, mode))


async def _run(app: App, fake: FakeBedrock, scenario: Scenario, mode: str) -> RunResult:
    fake.reset()
    capture = Capture()
    tracer = capture.spans.provider.get_tracer("differential-app")
    instrumentor = BedrockInstrumentor()
    assert not instrumentor.is_instrumented_by_opentelemetry, "someone left bedrock-otel instrumented"
    instrumented = mode == INSTRUMENTED
    if mode != PLAIN:
        instrumentor.instrument(tracer_provider=capture.spans.provider, meter_provider=capture.metrics.provider)
    if mode == AFTER_UNINSTRUMENT:
        instrumentor.uninstrument()
    clients: Dict[Tuple[int, bool, str], Any] = {}
    state: Dict[str, Any] = {}  # what the app keeps between its calls (the latest async invocation's ARN)
    transcripts: List[CallTranscript] = []
    parents: List[int] = []
    points: List[int] = []
    try:
        with collecting_unraisable() as unraisable, app.loop_errors(unraisable):
            for index, spec in enumerate(scenario.calls):
                key = (spec.attempts, spec.unsigned, spec.service)
                client = clients.get(key)
                if client is None:
                    client = clients[key] = await app.client(fake.endpoint_url, spec.attempts, spec.unsigned,
                                                             spec.service)
                fake.latency = spec.latency
                fake.event_delay = spec.event_delay
                fake.enqueue(*spec.replies)
                tx = CallTranscript(instrumented=spec.instrumented)
                with tracer.start_as_current_span(f"call-{index}") as parent:
                    parents.append(parent.get_span_context().span_id)
                    await _call(app, client, spec, tx, state)
                transcripts.append(tx)
                await app.settle()  # the app holds nothing of this call any more: its span must have ended
                if instrumented:
                    points.append(capture.metrics.count(DURATION))
            for client in clients.values():
                await app.close_client(client)
            clients.clear()
            await app.settle()
    finally:
        if instrumented:
            instrumentor.uninstrument()
    if any(spec.body is not None and spec.body.encoding in FORWARD_ONLY_BODIES for spec in scenario.calls):
        _wait_for_quiet_server(fake)
    # (request bodies: botocore fills StartAsyncInvoke's idempotency token with a fresh uuid4; paths:
    # GetAsyncInvoke's carries the ARN a StartAsyncInvoke of the same run returned)
    requests = [(r.method, normalise_text(r.path), normalise_bytes(r.body), r.header("Content-Type"),
                 r.header("Accept"), r.header("User-Agent"), _TTL.sub("ttl=<time>", r.header("amz-sdk-request") or ""))
                for r in fake.requests]
    return RunResult(transcripts, requests, unraisable, capture, parents, points)


def _wait_for_quiet_server(fake: FakeBedrock, quiet: float = 0.15, timeout: float = 2.0) -> None:
    """Wait until the server has recorded no new request for ``quiet`` seconds.

    Why: urllib3 1.x (the newest botocore allows on Python 3.9) cannot stream a body it cannot rewind
    (only ``read()``, or ``tell()`` without ``seek``); it sends the headers, fails, and the server records
    the half-sent request only when it sees the connection close, which can be after this run ended and
    count against the next run (or be missing from this one).
    """
    deadline = time.monotonic() + timeout
    seen = len(fake.requests)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = len(fake.requests)
        if now == seen:
            return
        seen = now


# --------------------------------------------------------------------------------------------------
# Comparison and invariants
# --------------------------------------------------------------------------------------------------


def first_difference(plain: RunResult, observed: RunResult) -> Optional[str]:
    """A readable description of the first application-visible difference, or None."""
    for index, (a, b) in enumerate(zip(plain.calls, observed.calls)):
        for position in range(max(len(a.entries), len(b.entries))):
            left = a.entries[position] if position < len(a.entries) else "<missing>"
            right = b.entries[position] if position < len(b.entries) else "<missing>"
            if left != right:
                return (f"call {index}, step {position}:\n  plain:        {left!r:.1500}\n"
                        f"  instrumented: {right!r:.1500}")
    if plain.requests != observed.requests:
        if len(plain.requests) != len(observed.requests):
            return (f"the server saw {len(plain.requests)} requests uninstrumented, {len(observed.requests)} "
                    f"instrumented:\n  plain:        {[r[:2] for r in plain.requests]!r:.1500}\n"
                    f"  instrumented: {[r[:2] for r in observed.requests]!r:.1500}")
        for index, (left, right) in enumerate(zip(plain.requests, observed.requests)):
            if left != right:
                return f"request {index} differs:\n  plain:        {left!r:.1500}\n  instrumented: {right!r:.1500}"
    if len(plain.unraisable) != len(observed.unraisable):
        return f"unraisable exceptions differ:\n  plain: {plain.unraisable}\n  instrumented: {observed.unraisable}"
    return None


def telemetry_problems(observed: RunResult, expect_parse_error: Optional[str] = None) -> List[str]:
    """Invariants of the instrumented run: spans all end, one span and one duration point per call,
    ERROR status and ``error.type`` exactly when the app saw the call or its stream fail."""
    problems: List[str] = []
    capture = observed.capture
    unfinished = capture.spans.unfinished
    if unfinished:
        problems.append(f"open spans: {[s.name for s in unfinished]}")
    ours = [s for s in capture.spans.spans if s.instrumentation_scope and s.instrumentation_scope.name == SCOPE]
    # An agent's trace becomes child spans of its call's span: the call's own span is the one under the app's.
    own_ids = {s.context.span_id for s in ours}
    by_parent: Dict[int, List[Any]] = {}
    for span in ours:
        if span.parent is not None and span.parent.span_id in own_ids:
            continue
        by_parent.setdefault(span.parent.span_id if span.parent else 0, []).append(span)
    expected_points = 0
    for index, (tx, parent) in enumerate(zip(observed.calls, observed.parents)):
        spans = by_parent.pop(parent, [])
        wanted = 1 if tx.instrumented else 0
        expected_points += wanted
        if index < len(observed.points) and observed.points[index] != expected_points:
            problems.append(f"call {index}: {observed.points[index]} {DURATION} points after it, "
                            f"expected {expected_points}")
        if len(spans) != wanted:
            problems.append(f"call {index}: {len(spans)} spans, expected {wanted}")
            continue
        if not spans:
            continue
        span = spans[0]
        attributes = dict(span.attributes or {})
        is_error = span.status.status_code is StatusCode.ERROR
        end_state = attributes.get("bedrock_otel.stream.end_state") or attributes.get("bedrock_otel.body.end_state")
        if tx.expected_error is None and (is_error or "error.type" in attributes):
            problems.append(f"call {index}: span {span.name!r} is {span.status.status_code.name} with "
                            f"error.type={attributes.get('error.type')!r} but the app saw no failure ({end_state})")
        if tx.expected_error is not None and (not is_error or attributes.get("error.type") != tx.expected_error):
            problems.append(f"call {index}: app saw {tx.expected_error} but span {span.name!r} is "
                            f"{span.status.status_code.name} with error.type={attributes.get('error.type')!r}")
        if expect_parse_error is not None:
            errors = attributes.get("bedrock_otel.parse_error") or ()
            if not any(expect_parse_error in e for e in errors):
                problems.append(f"call {index}: bedrock_otel.parse_error {errors!r} lacks {expect_parse_error!r}")
    if by_parent:
        problems.append(f"spans under no call's parent: {[s.name for spans in by_parent.values() for s in spans]}")
    points = capture.metrics.count(DURATION)
    if points != expected_points:
        problems.append(f"{points} {DURATION} points for {expected_points} instrumented calls")
    for index, tx in enumerate(observed.calls):
        for escaped in tx.escaped:
            problems.append(f"call {index}: exception from bedrock-otel reached the app: {escaped}")
    for entry in observed.unraisable:
        if entry[2]:
            problems.append(f"unraisable exception from bedrock-otel: {entry}")
    return problems


@dataclass
class CaseResult:
    mismatch: Optional[str]
    problems: List[str]
    open_spans: int
    escaped: int
    spans: List[Any] = field(default_factory=list)  # bedrock-otel's finished spans in the instrumented run

    @property
    def ok(self) -> bool:
        return self.mismatch is None and not self.problems


def run_case(fake: FakeBedrock, scenario: Scenario, expect_parse_error: Optional[str] = None,
             flavour: str = SYNC) -> CaseResult:
    """The differential: the same scenario without, then with, instrumentation."""
    with frozen_heap():
        plain = run(fake, scenario, PLAIN, flavour)
        observed = run(fake, scenario, INSTRUMENTED, flavour)
    try:
        escaped = sum(len(tx.escaped) for tx in observed.calls) + sum(1 for e in observed.unraisable if e[2])
        spans = [s for s in observed.capture.spans.spans if s.instrumentation_scope.name == SCOPE]
        return CaseResult(first_difference(plain, observed), telemetry_problems(observed, expect_parse_error),
                          len(observed.capture.spans.unfinished), escaped, spans)
    finally:
        plain.capture.shutdown()
        observed.capture.shutdown()
