"""Timing harnesses: per-call latency, the floor, streams, threaded and asyncio throughput.

Every harness takes turns between contenders in rounds (the order rotates each round), with a
warm-up after each ``instrument()``, so slow drift of the machine spreads over every contender
instead of landing on whoever ran last. Each contender's spans are counted for every batch: a
contender that silently produced no span is flagged, not declared fast.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
from dataclasses import dataclass, field
from time import perf_counter, perf_counter_ns
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Tuple

from . import payloads
from .contenders import Contender, assert_pristine
from .sdk import Sdk

DURATION_METRIC = "gen_ai.client.operation.duration"
TOKEN_METRIC = "gen_ai.client.token.usage"

CONVERSE = "Converse"
INVOKE_MODEL = "InvokeModel"
CONVERSE_STREAM = "ConverseStream"
INVOKE_STREAM = "InvokeModelWithResponseStream"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of ``values``; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --------------------------------------------------------------------------------------------------
# the calls
# --------------------------------------------------------------------------------------------------


def call_for(operation: str, events: int = payloads.STREAM_EVENTS) -> Callable[[Any], None]:
    """What an application does for one call of ``operation``, including reading the whole response."""
    converse, invoke = payloads.converse_params(), payloads.invoke_params()

    def converse_call(client: Any) -> None:
        client.converse(**converse)

    def invoke_call(client: Any) -> None:
        client.invoke_model(**invoke)["body"].read()

    def converse_stream_call(client: Any) -> None:
        count = 0
        for _ in client.converse_stream(**converse)["stream"]:
            count += 1
        if count != events:
            raise RuntimeError(f"ConverseStream gave {count} events, expected {events}")

    def invoke_stream_call(client: Any) -> None:
        count = 0
        for _ in client.invoke_model_with_response_stream(**invoke)["body"]:
            count += 1
        if count != events:
            raise RuntimeError(f"InvokeModelWithResponseStream gave {count} events, expected {events}")

    return {
        CONVERSE: converse_call,
        INVOKE_MODEL: invoke_call,
        CONVERSE_STREAM: converse_stream_call,
        INVOKE_STREAM: invoke_stream_call,
    }[operation]


def async_converse_call() -> Callable[[Any], Awaitable[None]]:
    converse = payloads.converse_params()

    async def call(client: Any) -> None:
        await client.converse(**converse)

    return call


# --------------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------------


@dataclass
class Check:
    """Whether a contender produced what it should have: one ended GenAI span and a duration point per call."""

    calls: int = 0
    genai_spans: int = 0
    other_spans: int = 0
    duration_points: int = 0

    def add(self, calls: int, before: Tuple[int, int, int], after: Tuple[int, int, int]) -> None:
        self.calls += calls
        self.genai_spans += after[0] - before[0]
        self.other_spans += (after[1] - before[1]) - (after[0] - before[0])
        self.duration_points += after[2] - before[2]

    @property
    def ok(self) -> bool:
        return self.genai_spans == self.calls and self.duration_points >= self.calls

    def describe(self, instrumented: bool, note: Optional[str] = None) -> str:
        """The span-check cell; ``note`` stands in for it (a diagnostic variant that makes no spans)."""
        if not instrumented:
            return "-"
        if note:
            return note
        if self.ok:
            return f"{self.genai_spans}/{self.calls} ok"
        parts = [f"{self.genai_spans}/{self.calls} GenAI spans"]
        if self.other_spans:
            parts.append(f"{self.other_spans} other spans")
        if self.duration_points < self.calls:
            parts.append(f"{self.duration_points} duration points")
        return "MISSING: " + ", ".join(parts)


def snapshot(contender: Contender) -> Tuple[int, int, int]:
    sdk = contender.sdk
    if sdk is None:
        return (0, 0, 0)
    return (sdk.exporter.genai, sdk.exporter.total, sdk.histogram_counts().get(DURATION_METRIC, 0))


@dataclass
class Series:
    """Timings of one (transport, operation, contender) cell, in nanoseconds per call."""

    samples: List[int] = field(default_factory=list)
    rounds: List[float] = field(default_factory=list)  # the median of each round's batch
    check: Check = field(default_factory=Check)
    template: Optional[Any] = None  # the contender's latest GenAI span for this operation

    def p(self, q: float) -> float:
        return percentile(self.samples, q)


def paired_overhead(mine: Series, base: Series) -> float:
    """Median over rounds of (this round's median - the baseline's median in the same round).

    Pairing by round cancels the slow drift of a shared machine better than comparing pooled
    percentiles; contenders run in rotating order within each round.
    """
    pairs = [a - b for a, b in zip(mine.rounds, base.rounds)]
    return percentile(pairs, 50)


@dataclass
class Rate:
    """Throughput of one (mode, transport, contender) cell: calls and seconds, summed over rounds."""

    calls: int = 0
    seconds: float = 0.0
    rounds: List[float] = field(default_factory=list)  # calls per second of each round
    check: Check = field(default_factory=Check)
    error: str = ""

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds if self.seconds else float("nan")


def rotated(items: Sequence[Contender], turn: int) -> List[Contender]:
    turn %= max(len(items), 1)
    return list(items[turn:]) + list(items[:turn])


# --------------------------------------------------------------------------------------------------
# per-call latency (unary calls and whole streams)
# --------------------------------------------------------------------------------------------------


def _time_calls(call: Callable[[Any], None], client: Any, count: int) -> List[int]:
    clock = perf_counter_ns
    out = []
    append = out.append
    for _ in range(count):
        start = clock()
        call(client)
        append(clock() - start)
    return out


def latency(
    transport: Any,
    contenders: Sequence[Contender],
    operations: Sequence[str],
    rounds: int,
    warmup: int,
    batch: int,
    events: int = payloads.STREAM_EVENTS,
) -> Dict[Tuple[str, str], Series]:
    """Per-call wall time for each (operation, contender), all on one client of ``transport``."""
    client = transport.client()
    calls = {op: call_for(op, events) for op in operations}
    results: Dict[Tuple[str, str], Series] = {(op, c.key): Series() for op in operations for c in contenders}
    for turn in range(rounds):
        for contender in rotated(contenders, turn):
            contender.instrument()
            try:
                for op in operations:
                    transport.prepare(op, warmup + batch)
                    before = snapshot(contender)
                    _time_calls(calls[op], client, warmup)
                    gc.collect()
                    samples = _time_calls(calls[op], client, batch)
                    series = results[(op, contender.key)]
                    series.samples.extend(samples)
                    series.rounds.append(percentile(samples, 50))
                    series.check.add(warmup + batch, before, snapshot(contender))
                    if contender.sdk is not None:
                        series.template = contender.sdk.exporter.last_genai
            finally:
                contender.uninstrument()
            assert_pristine()
    return results


# --------------------------------------------------------------------------------------------------
# the floor: one SDK span with the same attributes plus two histogram records
# --------------------------------------------------------------------------------------------------


@dataclass
class Floor:
    span_name: str
    span_attributes: Dict[str, Any]
    metric_attributes: Dict[str, Any]
    samples: List[int] = field(default_factory=list)
    timer_ns: float = 0.0

    def p(self, q: float) -> float:
        return max(percentile(self.samples, q) - self.timer_ns, 0.0)


def floor(template: Optional[Any], metric_attributes: Dict[str, Any], count: int, rounds: int) -> Floor:
    """Time ``start_span(same name, kind, attributes)`` + ``end()`` + two ``Histogram.record`` calls."""
    from opentelemetry.trace import SpanKind

    if template is not None:
        name, attributes = template.name, dict(template.attributes or {})
    else:  # a representative span, should bedrock-otel have produced none
        name = f"chat {payloads.MODEL_ID}"
        attributes = {f"attribute.{i}": i for i in range(15)}
    metrics = dict(metric_attributes) or {"gen_ai.operation.name": "chat"}
    tokens = {**metrics, "gen_ai.token.type": "output"}
    sdk = Sdk()
    tracer = sdk.tracer_provider.get_tracer("benchmarks.floor")
    meter = sdk.meter_provider.get_meter("benchmarks.floor")
    duration = meter.create_histogram(DURATION_METRIC, unit="s", explicit_bucket_boundaries_advisory=[
        0.01 * 2**i for i in range(14)])
    token_usage = meter.create_histogram(TOKEN_METRIC, unit="{token}", explicit_bucket_boundaries_advisory=[
        4**i for i in range(14)])
    kind = SpanKind.CLIENT

    def one() -> None:
        span = tracer.start_span(name, kind=kind, attributes=attributes)
        span.end()
        duration.record(0.412, metrics)
        token_usage.record(13, tokens)

    def nothing() -> None:
        return None

    result = Floor(name, attributes, metrics)
    empty: List[int] = []
    for _ in range(rounds):
        for _ in range(count // 10):
            one()
        gc.collect()
        clock = perf_counter_ns
        for _ in range(count):
            start = clock()
            one()
            result.samples.append(clock() - start)
        for _ in range(count):
            start = clock()
            nothing()
            empty.append(clock() - start)
    result.timer_ns = percentile(empty, 50)
    if sdk.exporter.total < rounds * count:
        raise RuntimeError("the floor's spans were not all ended")
    sdk.shutdown()
    return result


# --------------------------------------------------------------------------------------------------
# throughput
# --------------------------------------------------------------------------------------------------


def _threads_once(call: Callable[[Any], None], client: Any, threads: int, warmup: float,
                  seconds: float) -> Tuple[int, float, int, str]:
    counts = [0] * threads
    running = [True]
    errors: List[str] = []
    barrier = threading.Barrier(threads + 1)

    def worker(index: int) -> None:
        barrier.wait()
        done = 0
        while running[0]:
            try:
                call(client)
            except Exception as exc:  # count it and go on: one failed call must not stop a thread
                errors.append(f"{type(exc).__name__}: {exc}"[:160])
            done += 1
            counts[index] = done

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in workers:
        thread.start()
    barrier.wait()
    time.sleep(warmup)
    start_calls, start = sum(counts), perf_counter()
    time.sleep(seconds)
    end_calls, end = sum(counts), perf_counter()
    running[0] = False
    for thread in workers:
        thread.join()
    return end_calls - start_calls, end - start, sum(counts), _errors(errors)


def _errors(errors: List[str]) -> str:
    return f"{len(errors)} failed calls (first: {errors[0]})" if errors else ""


def threaded(transport: Any, contenders: Sequence[Contender], threads: int, rounds: int, warmup: float,
             seconds: float) -> Dict[str, Rate]:
    """Converse calls per second with ``threads`` threads sharing one client."""
    client = transport.client(pool=threads)
    call = call_for(CONVERSE)
    results = {c.key: Rate() for c in contenders}
    for turn in range(rounds):
        for contender in rotated(contenders, turn):
            transport.prepare(CONVERSE, 0)
            contender.instrument()
            try:
                before = snapshot(contender)
                gc.collect()
                calls, elapsed, total, error = _threads_once(call, client, threads, warmup, seconds)
                rate = results[contender.key]
                rate.calls += calls
                rate.seconds += elapsed
                rate.rounds.append(calls / elapsed if elapsed else 0.0)
                rate.error = rate.error or error
                rate.check.add(total, before, snapshot(contender))
            finally:
                contender.uninstrument()
            assert_pristine()
    return results


async def _asyncio_once(transport: Any, call: Callable[[Any], Awaitable[None]], tasks: int, warmup: float,
                        seconds: float) -> Tuple[int, float, int, str]:
    async with transport.aio_client_context(pool=tasks) as client:
        counts = [0] * tasks
        running = [True]
        errors: List[str] = []

        async def worker(index: int) -> None:
            while running[0]:
                try:
                    await call(client)
                except Exception as exc:  # count it and go on
                    errors.append(f"{type(exc).__name__}: {exc}"[:160])
                counts[index] += 1

        workers = [asyncio.ensure_future(worker(i)) for i in range(tasks)]
        await asyncio.sleep(warmup)
        start_calls, start = sum(counts), perf_counter()
        await asyncio.sleep(seconds)
        end_calls, end = sum(counts), perf_counter()
        running[0] = False
        await asyncio.gather(*workers)
        return end_calls - start_calls, end - start, sum(counts), _errors(errors)


def asynchronous(transport: Any, contenders: Sequence[Contender], tasks: int, rounds: int, warmup: float,
                 seconds: float) -> Dict[str, Rate]:
    """aiobotocore Converse calls per second with ``tasks`` concurrent tasks on one event loop."""
    call = async_converse_call()
    results = {c.key: Rate() for c in contenders}
    for turn in range(rounds):
        for contender in rotated(contenders, turn):
            transport.prepare(CONVERSE, 0)
            contender.instrument(asynchronous=True)
            try:
                before = snapshot(contender)
                gc.collect()
                calls, elapsed, total, error = asyncio.run(_asyncio_once(transport, call, tasks, warmup, seconds))
                rate = results[contender.key]
                rate.calls += calls
                rate.seconds += elapsed
                rate.rounds.append(calls / elapsed if elapsed else 0.0)
                rate.error = rate.error or error
                rate.check.add(total, before, snapshot(contender))
            finally:
                contender.uninstrument(asynchronous=True)
            assert_pristine()
    return results

