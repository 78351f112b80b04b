"""bedrock-otel's own OpenTelemetry SDK calls for one Bedrock call, recorded, then replayed alone.

The floor is what the issue defines (one span with the same attributes plus two histogram records).
bedrock-otel asks the SDK for more than that: the attributes it only learns from the response are set
when the span ends, and it records four histogram points (duration, input tokens, output tokens and
Bedrock's server latency). Replaying exactly that sequence, with nothing else running, shows how much of
the overhead is SDK work that the telemetry itself requires, and so how much room the targets leave for
everything else.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import Any, Callable, Dict, List, Optional, Tuple

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN_CONTEXT, NonRecordingSpan

from .sdk import Sdk

Step = Tuple[Any, ...]


class _RecordingSpan(NonRecordingSpan):
    """Notes what bedrock-otel does to its span; claims to be recording so every attribute path runs."""

    def __init__(self, script: List[Step]) -> None:
        super().__init__(INVALID_SPAN_CONTEXT)
        self._script = script

    def is_recording(self) -> bool:
        return True

    def set_attributes(self, attributes: Dict[str, Any]) -> None:
        self._script.append(("set_attributes", dict(attributes)))

    def set_attribute(self, key: str, value: Any) -> None:
        self._script.append(("set_attributes", {key: value}))

    def end(self, end_time: Optional[int] = None) -> None:
        self._script.append(("end",))


class _RecordingTracer:
    def __init__(self, script: List[Step]) -> None:
        self._script = script

    def start_span(self, name: str, context: Any = None, kind: Any = None, attributes: Any = None,
                   **_: Any) -> _RecordingSpan:
        self._script.append(("start", name, kind, dict(attributes or {})))
        return _RecordingSpan(self._script)


class _RecordingHistogram:
    def __init__(self, name: str, script: List[Step]) -> None:
        self._name = name
        self._script = script

    def record(self, amount: float, attributes: Any = None, context: Any = None) -> None:
        self._script.append(("record", self._name, amount, dict(attributes or {})))


class _RecordingMeter:
    def __init__(self, script: List[Step]) -> None:
        self._script = script

    def create_histogram(self, name: str, *args: Any, **kwargs: Any) -> _RecordingHistogram:
        return _RecordingHistogram(name, self._script)


class _Providers:
    """A tracer and a meter provider in one, both handing out recorders writing to one script."""

    def __init__(self) -> None:
        self.script: List[Step] = []

    def get_tracer(self, *args: Any, **kwargs: Any) -> _RecordingTracer:
        return _RecordingTracer(self.script)

    def get_meter(self, *args: Any, **kwargs: Any) -> _RecordingMeter:
        return _RecordingMeter(self.script)


def record_script(call: Callable[[Any], None], client: Any, options: Optional[Dict[str, Any]] = None) -> List[Step]:
    """What bedrock-otel (with ``instrument(**options)``) asks of the SDK for one ``call(client)``, in order."""
    from bedrock_otel import BedrockInstrumentor

    providers = _Providers()
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(**(options or {}), tracer_provider=providers, meter_provider=providers)
    try:
        call(client)
    finally:
        instrumentor.uninstrument()
    return providers.script


@dataclass
class Replay:
    """Timings of one recorded script replayed against a fresh SDK set-up (as the benchmarks' ``Sdk``)."""

    script: List[Step]
    samples: List[int] = field(default_factory=list)
    timer_ns: float = 0.0

    @property
    def records(self) -> int:
        return sum(1 for step in self.script if step[0] == "record")

    @property
    def span_attributes(self) -> int:
        keys = set()
        for step in self.script:
            if step[0] == "start":
                keys.update(step[3])
            elif step[0] == "set_attributes":
                keys.update(step[1])
        return len(keys)

    def p(self, q: float) -> float:
        from .measure import percentile

        return max(percentile(self.samples, q) - self.timer_ns, 0.0)


def replay(script: List[Step], count: int, rounds: int) -> Replay:
    """Time the script: start the span (made current and back, as bedrock-otel does), then each step."""
    from bedrock_otel.telemetry.instruments import Instruments

    from .measure import percentile

    sdk = Sdk()
    tracer = sdk.tracer_provider.get_tracer("benchmarks.replay")
    instruments = Instruments(sdk.meter_provider.get_meter("benchmarks.replay"))
    histograms = {histogram.name: histogram for histogram in (
        instruments.duration, instruments.token_usage, instruments.time_to_first_chunk,
        instruments.time_per_output_chunk, instruments.server_duration)}
    start = next(step for step in script if step[0] == "start")
    rest = [step for step in script if step is not start]
    if any(step[0] == "record" and step[1] not in histograms for step in rest):
        raise RuntimeError("the script records a histogram the replay does not know")

    def one() -> None:
        span = tracer.start_span(start[1], kind=start[2], attributes=start[3])
        token = otel_context.attach(trace.set_span_in_context(span))
        otel_context.detach(token)
        for step in rest:
            kind = step[0]
            if kind == "record":
                histograms[step[1]].record(step[2], step[3])
            elif kind == "set_attributes":
                span.set_attributes(step[1])
            else:
                span.end()

    def nothing() -> None:
        return None

    result = Replay(script)
    empty: List[int] = []
    clock = perf_counter_ns
    for _ in range(rounds):
        for _ in range(count // 10):
            one()
        gc.collect()
        for _ in range(count):
            began = clock()
            one()
            result.samples.append(clock() - began)
        for _ in range(count):
            began = clock()
            nothing()
            empty.append(clock() - began)
    result.timer_ns = percentile(empty, 50)
    ends = sum(1 for step in script if step[0] == "end")
    if ends != 1 or sdk.exporter.total < rounds * (count + count // 10):
        raise RuntimeError("the replayed spans were not all ended exactly once")
    sdk.shutdown()
    return result
