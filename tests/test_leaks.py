"""Nothing accumulates over many calls: invocations, spans, finalizers, memory.

A long loop of instrumented calls through botocore's full client stack, answered in-process by a
``before-send`` handler (``differential/transport.py``) so that 100,000 calls take minutes, not hours.
The mix includes every way a result can be left: consumed, broken off, closed, failed, and abandoned
unread (streams and bodies the application simply drops, collected by the garbage collector).

Checked at three points (after a warm-up, at half-time, at the end), each after ``gc.collect()``:

* no live ``Invocation`` objects, no unfinished spans, no pending ``weakref.finalize`` entries left by
  bedrock-otel's observers (the application holds nothing, so there must be none);
* traced Python memory (tracemalloc, started after the warm-up) grows by at most
  ``memory_bound(calls in the half)`` over the second half. Why that bound: every structure bedrock-otel
  and the SDK keep between calls is bounded (LRU caches, one metric aggregation per attribute set, the
  subclass cache), so after the warm-up the steady state is flat and what remains is noise, measured
  under 1 KiB over the second half at both sizes (CPython's type attribute cache, which holds botocore's dynamically
  built attribute names — up to ~250 KiB — is emptied before each measurement for that reason). A leak
  of 32 bytes per call would add 24 KiB over the 750 calls of the CI half and 1.5 MiB over the 49,500 of
  the 100,000-call run, so the bound is 16 KiB plus 4 bytes per call: 19 KiB and 209 KiB, far above the
  noise and below any per-call leak of a span (~2 KiB), an Invocation (~0.5 KiB) or a finalizer (~0.2 KiB).
* resident set size (``/proc/self/statm``) is reported, and must not grow by more than 32 MiB over
  the second half (RSS moves in arenas and pages, so only gross leaks are caught there).

Size: ``BEDROCK_OTEL_LEAK_CALLS`` (default 2,000; e.g. 100000 for the long run). No timing assertions.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
import tracemalloc
import weakref
from typing import Any, Callable, Dict, List, NamedTuple, Optional

import botocore.client
import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider

from bedrock_otel import BedrockInstrumentor
from bedrock_otel.telemetry.invocation import Invocation
from differential.runner import make_client
from differential.transport import AGENT, CLAUDE, FLOW, KNOWLEDGE_BASE, NOVA, attach

CALLS = int(os.environ.get("BEDROCK_OTEL_LEAK_CALLS", "2000"))
WARMUP = max(500, min(1000, CALLS // 10))
MESSAGES = [{"role": "user", "content": [{"text": "how many tokens is this"}]}]
BODY = b'{"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "messages": [{"role": "user", "content": "x"}]}'


def memory_bound(calls_in_half: int) -> int:
    """See the module docstring: 16 KiB of noise allowance plus 4 bytes per call."""
    return 16 * 1024 + 4 * calls_in_half


class CountingSpans(SpanProcessor):
    """Counts started/ended spans and remembers only the open ones (so it cannot itself leak)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open: Dict[int, str] = {}
        self.ended = 0
        self.ended_calls = 0  # spans without a parent: one per call (an agent's trace adds child spans)

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:
        with self._lock:
            self.open[span.context.span_id] = span.name

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self.open.pop(span.context.span_id, None)
            self.ended += 1
            self.ended_calls += span.parent is None


# --------------------------------------------------------------------------------------------------
# What the application does, call after call
# --------------------------------------------------------------------------------------------------


class Clients(NamedTuple):
    runtime: Any  # bedrock-runtime
    agents: Any  # bedrock-agent-runtime


def _converse(clients: Clients) -> None:
    clients.runtime.converse(modelId=CLAUDE, messages=MESSAGES)


def _stream_consumed(clients: Clients) -> None:
    list(clients.runtime.converse_stream(modelId=NOVA, messages=MESSAGES)["stream"])


def _stream_abandoned_unread(clients: Clients) -> None:
    clients.runtime.converse_stream(modelId=NOVA, messages=MESSAGES)


def _stream_broken_off(clients: Clients) -> None:
    for _ in clients.runtime.converse_stream(modelId=NOVA, messages=MESSAGES)["stream"]:
        break


def _body_read(clients: Clients) -> None:
    clients.runtime.invoke_model(modelId=CLAUDE, body=BODY)["body"].read()


def _body_unread(clients: Clients) -> None:
    clients.runtime.invoke_model(modelId=CLAUDE, body=BODY)


def _invoke_stream_consumed(clients: Clients) -> None:
    list(clients.runtime.invoke_model_with_response_stream(modelId=CLAUDE, body=BODY)["body"])


def _invoke_stream_closed_part_way(clients: Clients) -> None:
    stream = clients.runtime.invoke_model_with_response_stream(modelId=CLAUDE, body=BODY)["body"]
    events = iter(stream)
    next(events)
    next(events)
    stream.close()


def _failed(clients: Clients) -> None:
    with contextlib.suppress(clients.runtime.exceptions.ValidationException):
        clients.runtime.converse(modelId="invalid-model", messages=MESSAGES)


def _body_partly_read(clients: Clients) -> None:
    clients.runtime.invoke_model(modelId=CLAUDE, body=BODY)["body"].read(10)


def _agent_consumed(clients: Clients) -> None:
    list(clients.agents.invoke_agent(**AGENT)["completion"])


def _agent_abandoned_mid_trace(clients: Clients) -> None:
    """Dropped with a child span open: the first event starts a model call whose output never arrives."""
    events = iter(clients.agents.invoke_agent(**AGENT)["completion"])
    next(events)


def _agent_unread(clients: Clients) -> None:
    clients.agents.invoke_agent(**AGENT)


def _retrieve(clients: Clients) -> None:
    clients.agents.retrieve(knowledgeBaseId=KNOWLEDGE_BASE, retrievalQuery={"text": "weather"})


def _flow_broken_off(clients: Clients) -> None:
    for _ in clients.agents.invoke_flow(**FLOW)["responseStream"]:
        break


PATTERNS: List[Callable[[Clients], None]] = [
    _converse, _stream_consumed, _stream_abandoned_unread, _stream_broken_off, _body_read, _body_unread,
    _invoke_stream_consumed, _invoke_stream_closed_part_way, _failed, _body_partly_read,
    _agent_consumed, _agent_abandoned_mid_trace, _agent_unread, _retrieve, _flow_broken_off,
]


# --------------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------------


def live_invocations(telemetry: Any = None) -> int:
    """Live Invocation objects; only those of ``telemetry`` (one instrument() call) when given.

    Why the filter: an application may keep an ended stream alive (aiohttp keeps a dropped connection's
    exception, whose traceback holds the frames that held the stream), and with it the stream's ended
    Invocation; earlier tests in the same process do exactly that, and they are not this test's leak.
    """
    return sum(1 for o in gc.get_objects()
               if type(o) is Invocation and (telemetry is None or o._telemetry is telemetry))


def pending_observer_finalizers() -> int:
    """weakref.finalize entries whose callback is one of bedrock-otel's observers' (live objects only)."""
    registry = getattr(weakref.finalize, "_registry", {})
    return sum(1 for info in list(registry.values()) if "bedrock_otel" in getattr(info.func, "__module__", ""))


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):  # pragma: no cover - not Linux
        return 0


class Checkpoint:
    def __init__(self, name: str, calls: int, spans: CountingSpans, telemetry: Any = None) -> None:
        # CPython's type attribute cache holds a reference to each looked-up name, and botocore looks
        # attributes up by freshly built names (getattr(self, f"_handle_{type}")): up to 4096 such
        # strings (~250 KiB) stay alive until their cache slot is reused. Empty it so it is not measured.
        sys._clear_type_cache()
        gc.collect()
        self.name = name
        self.calls = calls
        self.invocations = live_invocations(telemetry)
        self.finalizers = pending_observer_finalizers()
        self.open_spans = dict(spans.open)
        self.ended_spans = spans.ended
        self.ended_calls = spans.ended_calls
        self.traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0
        self.rss = rss_bytes()

    def __str__(self) -> str:
        return (f"{self.name}: calls={self.calls} spans_ended={self.ended_spans} open_spans={len(self.open_spans)} "
                f"invocations={self.invocations} finalizers={self.finalizers} "
                f"traced={self.traced / 1024:.1f}KiB rss={self.rss / 2**20:.1f}MiB")


@pytest.fixture
def instrumented() -> Any:
    spans = CountingSpans()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(spans)
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        yield spans
    finally:
        instrumentor.uninstrument()
        tracer_provider.shutdown()
        meter_provider.shutdown()


def test_many_calls_leave_nothing_behind(instrumented: CountingSpans) -> None:
    spans = instrumented
    clients = Clients(attach(make_client("http://bedrock.invalid")),  # the transport answers; nothing connects
                      attach(make_client("http://bedrock.invalid", service="bedrock-agent-runtime")))
    made = 0

    def run(count: int) -> None:
        nonlocal made
        for _ in range(count):
            PATTERNS[made % len(PATTERNS)](clients)
            made += 1

    telemetry = BedrockInstrumentor()._telemetry  # this test's instrument() call
    assert telemetry is not None
    run(WARMUP)
    gc.collect()
    tracemalloc.start()
    try:
        half = (CALLS - WARMUP) // 2
        start = Checkpoint("after warm-up", made, spans, telemetry)
        run(half)
        middle = Checkpoint("half-time", made, spans, telemetry)
        run(half)
        end = Checkpoint("end", made, spans, telemetry)
    finally:
        tracemalloc.stop()
    first, second = middle.traced - start.traced, end.traced - middle.traced
    report = "\n".join(map(str, (start, middle, end)))
    print(f"\nleaks: calls={made} traced growth first half={first / 1024:.1f}KiB second half={second / 1024:.1f}KiB "
          f"(bound {memory_bound(half) / 1024:.1f}KiB) rss growth second half={(end.rss - middle.rss) / 2**20:.1f}MiB"
          f"\n{report}")
    for point in (start, middle, end):
        assert point.invocations == 0, f"live Invocation objects: {point}"
        assert not point.open_spans, f"unfinished spans: {point} {list(point.open_spans.values())[:5]}"
        assert point.finalizers == 0, f"observer finalizers pending: {point}"
    assert end.ended_calls - start.ended_calls == 2 * half
    assert end.ended_spans - start.ended_spans > 2 * half  # the agent runs' child spans ended too
    assert second <= memory_bound(half), f"traced memory grew {second} bytes over {half} calls\n{report}"
    assert end.rss - middle.rss <= 32 * 2**20, report


# --------------------------------------------------------------------------------------------------
# Short-lived clients (a client per request or per task is common)
# --------------------------------------------------------------------------------------------------

CLIENTS = 40


def live_client_classes() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects()
               if isinstance(o, type) and issubclass(o, botocore.client.BaseClient) and o.__name__ == "BedrockRuntime")


def _client_per_call(count: int) -> None:
    for _ in range(count):
        client = attach(make_client("http://bedrock.invalid"))
        client.converse(modelId=CLAUDE, messages=MESSAGES)
        list(client.converse_stream(modelId=NOVA, messages=MESSAGES)["stream"])
        del client


def test_short_lived_clients_are_freed_without_instrumentation() -> None:
    """Baseline for the test below: botocore itself frees a client's class with the client."""
    _client_per_call(3)
    before = live_client_classes()
    _client_per_call(CLIENTS)
    assert live_client_classes() - before <= 1


def test_short_lived_clients_are_freed_when_instrumented(instrumented: CountingSpans) -> None:
    _client_per_call(3)
    before = live_client_classes()
    _client_per_call(CLIENTS)
    assert live_client_classes() - before <= 1
