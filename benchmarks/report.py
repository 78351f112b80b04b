"""Tables, targets, the machine description, docs/benchmarks.md and docs/benchmarks.png."""

from __future__ import annotations

import math
import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .contenders import (
    BEDROCK_OTEL,
    BEDROCK_OTEL_CHUNK_GAPS,
    BEDROCK_OTEL_NOOP,
    BOTOCORE,
    GENAI_BEDROCK,
    NONE,
    Contender,
)
from .measure import (
    CONVERSE,
    CONVERSE_STREAM,
    INVOKE_MODEL,
    INVOKE_STREAM,
    Floor,
    Rate,
    Series,
    paired_overhead,
    percentile,
)
from .memory import MemoryCell
from .profiling import Profile
from .replay import Replay
from .transports import STUB, TRANSPORT_TITLES

MIB = 1024 * 1024
PEERS = (BOTOCORE, GENAI_BEDROCK)
UNARY = (CONVERSE, INVOKE_MODEL)
STREAMS = (CONVERSE_STREAM, INVOKE_STREAM)

# The project's targets for bedrock-otel.
FLOOR_MULTIPLE = 1.5
PEER_FRACTION = 0.5
EVENT_US = 2.0
RSS_MIB = 1.0

PACKAGES = (
    "bedrock-otel", "boto3", "botocore", "aiobotocore", "opentelemetry-api", "opentelemetry-sdk",
    "opentelemetry-instrumentation", "opentelemetry-instrumentation-botocore",
    "opentelemetry-instrumentation-genai-bedrock", "opentelemetry-util-genai", "wrapt", "matplotlib",
)

BENCH_EXTRA = (
    '"opentelemetry-instrumentation-botocore>=0.66b2"',
    '"opentelemetry-instrumentation-genai-bedrock>=1.3b0,<2; python_version >= \'3.10\'"',
    '"aiobotocore>=2.13"',
    '"matplotlib>=3.5"',
)


@dataclass
class Target:
    name: str
    case: str
    measured: str
    limit: str
    passed: Optional[bool]  # None: could not be evaluated

    @property
    def verdict(self) -> str:
        return "n/a" if self.passed is None else ("pass" if self.passed else "MISS")


@dataclass
class Results:
    settings: Dict[str, Any]
    contenders: List[Contender]
    latency: Dict[str, Dict[Tuple[str, str], Series]] = field(default_factory=dict)
    floors: Dict[str, Floor] = field(default_factory=dict)
    replays: Dict[str, Replay] = field(default_factory=dict)
    faults: Optional[Any] = None  # benchmarks.faults.FaultReport
    streams: Dict[str, Dict[Tuple[str, str], Series]] = field(default_factory=dict)
    events: int = 1000
    memory: Dict[Tuple[str, str, str], MemoryCell] = field(default_factory=dict)
    body_bytes: int = 0
    threads: Dict[str, Dict[str, Rate]] = field(default_factory=dict)
    asyncio: Dict[str, Dict[str, Rate]] = field(default_factory=dict)
    profiles: List[Profile] = field(default_factory=list)
    machine: Dict[str, str] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    elapsed: float = 0.0


# --------------------------------------------------------------------------------------------------
# the machine
# --------------------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_total() -> str:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def machine(load_before: Sequence[float]) -> Dict[str, str]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 0
    info = {
        "CPU": _cpu_model(),
        "cores": f"{os.cpu_count()} logical, {usable} usable by this process",
        "memory": _memory_total(),
        "OS": platform.platform(),
        "Python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "load average (1 min) before / after": f"{load_before[0]:.2f} / {os.getloadavg()[0]:.2f}",
    }
    for package in PACKAGES:
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = "not installed"
    return info


# --------------------------------------------------------------------------------------------------
# numbers
# --------------------------------------------------------------------------------------------------


def _us(ns: float) -> str:
    if ns is None or math.isnan(ns):
        return "—"
    return f"{ns / 1000:.1f}"


def _signed_us(ns: float) -> str:
    if ns is None or math.isnan(ns):
        return "—"
    return f"{ns / 1000:+.1f}"


def _mib(value: Optional[float], signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value / MIB:+.1f}" if signed else f"{value / MIB:.1f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> str:
    align = align or "l" * len(headers)
    marks = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _keys(results: Results, diagnostic: bool = True) -> List[str]:
    return [c.key for c in results.contenders if diagnostic or not c.diagnostic]


def _diagnostic_note(results: Results, key: str) -> Optional[str]:
    contender = _contender(results, key)
    return contender.diagnostic_note if contender is not None and contender.diagnostic else None


def _contender(results: Results, key: str) -> Optional[Contender]:
    return next((c for c in results.contenders if c.key == key), None)


def overhead(cells: Dict[Tuple[str, str], Series], operation: str, key: str, q: float) -> float:
    """p50: median of per-round paired differences; other percentiles: difference of pooled percentiles."""
    base, mine = cells.get((operation, NONE)), cells.get((operation, key))
    if base is None or mine is None or not base.samples or not mine.samples:
        return float("nan")
    if q == 50:
        return paired_overhead(mine, base)
    return mine.p(q) - base.p(q)


def per_event(results: Results, transport: str, operation: str, key: str) -> float:
    return overhead(results.streams.get(transport, {}), operation, key, 50) / max(results.events, 1)


def _valid(series: Optional[Series]) -> bool:
    return series is not None and series.check.ok


# --------------------------------------------------------------------------------------------------
# the tables
# --------------------------------------------------------------------------------------------------


def latency_table(results: Results) -> str:
    rows = []
    for transport, cells in results.latency.items():
        for operation in UNARY:
            floor = results.floors.get(operation)
            for key in _keys(results):
                series = cells.get((operation, key))
                if series is None:
                    continue
                over50, over99 = overhead(cells, operation, key, 50), overhead(cells, operation, key, 99)
                multiple = "—"
                if key != NONE and floor is not None and floor.p(50) > 0 and not math.isnan(over50):
                    multiple = f"{over50 / floor.p(50):.1f}x"
                rows.append([
                    TRANSPORT_TITLES[transport], operation, key, _us(series.p(50)), _us(series.p(99)),
                    "—" if key == NONE else _signed_us(over50), "—" if key == NONE else _signed_us(over99),
                    multiple, series.check.describe(key != NONE, _diagnostic_note(results, key)),
                ])
    return _table(["transport", "operation", "contender", "p50 µs", "p99 µs", "overhead p50 µs",
                   "overhead p99 µs", "p50 overhead ÷ floor", "GenAI spans"], rows, "lllrrrrrl")


def floor_table(results: Results) -> str:
    rows = []
    for operation, floor in results.floors.items():
        rows.append([operation, str(len(floor.span_attributes)), str(len(floor.metric_attributes)),
                     _us(floor.p(50)), _us(floor.p(99))])
    return _table(["floor for", "span attributes", "metric attributes", "p50 µs", "p99 µs"], rows, "lrrrr")


def replay_table(results: Results) -> str:
    rows = []
    for operation, rerun in results.replays.items():
        floor = results.floors.get(operation)
        multiple = f"{rerun.p(50) / floor.p(50):.2f}x" if floor is not None and floor.p(50) > 0 else "—"
        rows.append([operation, str(rerun.span_attributes), str(rerun.records), _us(rerun.p(50)), _us(rerun.p(99)),
                     multiple])
    return _table(["replay of", "span attributes", "histogram records", "p50 µs", "p99 µs", "p50 ÷ floor"],
                  rows, "lrrrrr")


def headroom(results: Results) -> str:
    """What the per-call targets leave for bedrock-otel's own code once its required SDK work is paid."""
    lines = []
    cells = results.latency.get(STUB, {})
    for operation, rerun in results.replays.items():
        floor = results.floors.get(operation)
        if floor is None or floor.p(50) <= 0:
            continue
        sdk, own = rerun.p(50), overhead(cells, operation, BEDROCK_OTEL_NOOP, 50)
        peers = [overhead(cells, operation, key, 50) for key in PEERS if _valid(cells.get((operation, key)))]
        peers = [value for value in peers if not math.isnan(value)]
        text = (f"- {operation}: the SDK calls alone take {sdk / 1000:.1f} µs = {sdk / floor.p(50):.2f}x the floor, "
                f"so ≤ {FLOOR_MULTIPLE}x floor leaves {(FLOOR_MULTIPLE * floor.p(50) - sdk) / 1000:+.1f} µs")
        if peers:
            left = (PEER_FRACTION * min(peers) - sdk) / 1000
            text += f" and ≤ {PEER_FRACTION}x the cheaper peer leaves {left:+.1f} µs"
        text += " for everything else bedrock-otel does"
        if not math.isnan(own):
            text += f" (its own code, measured with no-op providers: {own / 1000:.1f} µs)"
        total = overhead(cells, operation, BEDROCK_OTEL, 50)
        if not math.isnan(total) and not math.isnan(own):
            text += (f". Inside real calls the same SDK work measures {(total - own) / 1000:.1f} µs, not "
                     f"{sdk / 1000:.1f}: replayed in a tight loop, like the floor, it runs with warm caches")
        lines.append(text + ".")
    return "\n".join(lines)


def stream_table(results: Results) -> str:
    rows = []
    for transport, cells in results.streams.items():
        for operation in STREAMS:
            for key in _keys(results):
                series = cells.get((operation, key))
                if series is None:
                    continue
                event = per_event(results, transport, operation, key)
                rows.append([
                    TRANSPORT_TITLES[transport], operation, key, f"{series.p(50) / 1e6:.2f}",
                    f"{series.p(50) / max(results.events, 1) / 1000:.2f}",
                    "—" if key == NONE else f"{event / 1000:+.2f}",
                    series.check.describe(key != NONE, _diagnostic_note(results, key)),
                ])
    return _table(["transport", "operation", "contender", "p50 ms / stream", "p50 µs / event",
                   "overhead µs / event", "GenAI spans"], rows, "lllrrrl")


def memory_table(results: Results) -> str:
    rows = []
    for (transport, read, key), cell in results.memory.items():
        base = results.memory.get((transport, read, NONE))
        if cell.error:
            rows.append([TRANSPORT_TITLES[transport], read, key, "—", "—", "—", "—", cell.error])
            continue
        d_rss = None if base is None or base.maxrss is None or cell.maxrss is None else cell.maxrss - base.maxrss
        d_traced = (None if base is None or base.traced_peak is None or cell.traced_peak is None
                    else cell.traced_peak - base.traced_peak)
        spans = "-" if key == NONE else ("ok" if cell.spans and all(s == 2 for s in cell.spans)
                                          else f"MISSING: {cell.spans}")
        rows.append([
            TRANSPORT_TITLES[transport], _read_title(read), key, _mib(cell.maxrss),
            "—" if key == NONE else _mib(d_rss, signed=True), _mib(cell.traced_peak),
            "—" if key == NONE else _mib(d_traced, signed=True), spans,
        ])
    return _table(["transport", "application reads", "contender", "peak RSS MiB", "Δ RSS MiB",
                   "tracemalloc peak MiB", "Δ tracemalloc MiB", "GenAI spans"], rows, "lllrrrrl")


def _read_title(read: str) -> str:
    return "body.read()" if read == "all" else "iter_chunks(1 MiB)"


def throughput_table(results: Results) -> str:
    rows = []
    for mode, table in (("32 threads", results.threads), ("asyncio, 32 tasks", results.asyncio)):
        for transport, cells in table.items():
            base = cells.get(NONE)
            for key in _keys(results):
                rate = cells.get(key)
                if rate is None:
                    continue
                relative = "—"
                if key != NONE and base is not None and base.rounds and rate.rounds:
                    ratios = [mine / theirs for mine, theirs in zip(rate.rounds, base.rounds) if theirs]
                    relative = f"{(percentile(ratios, 50) - 1) * 100:+.0f}%"
                check = "; ".join(x for x in (rate.check.describe(key != NONE), rate.error) if x)
                rows.append([mode, TRANSPORT_TITLES[transport], key, f"{rate.per_second:,.0f}", relative, check])
    return _table(["mode", "transport", "contender", "Converse calls/s", "vs uninstrumented", "GenAI spans"],
                  rows, "lllrrl")


# --------------------------------------------------------------------------------------------------
# targets
# --------------------------------------------------------------------------------------------------


def targets(results: Results) -> List[Target]:
    out: List[Target] = []
    cells = results.latency.get(STUB, {})
    for operation in UNARY:
        ours = overhead(cells, operation, BEDROCK_OTEL, 50)
        floor = results.floors.get(operation)
        if floor is not None and floor.p(50) > 0 and not math.isnan(ours):
            ratio = ours / floor.p(50)
            out.append(Target(f"overhead ≤ {FLOOR_MULTIPLE}x floor", f"{operation}, stub, p50",
                              f"{ours / 1000:.1f} µs = {ratio:.1f}x floor ({floor.p(50) / 1000:.1f} µs)",
                              f"≤ {FLOOR_MULTIPLE * floor.p(50) / 1000:.1f} µs", ratio <= FLOOR_MULTIPLE))
        peers = [(overhead(cells, operation, key, 50), key) for key in PEERS if _valid(cells.get((operation, key)))]
        peers = [(value, key) for value, key in peers if not math.isnan(value)]
        if peers and not math.isnan(ours):
            cheaper, name = min(peers)
            passed = ours <= PEER_FRACTION * cheaper
            out.append(Target(f"overhead ≤ {PEER_FRACTION}x cheaper peer", f"{operation}, stub, p50",
                              f"{ours / 1000:.1f} µs vs {name} {cheaper / 1000:.1f} µs "
                              f"({ours / cheaper:.2f}x)" if cheaper > 0 else f"{ours / 1000:.1f} µs",
                              f"≤ {PEER_FRACTION * cheaper / 1000:.1f} µs", passed))
    for operation in STREAMS:
        value = per_event(results, STUB, operation, BEDROCK_OTEL)
        if not math.isnan(value):
            out.append(Target(f"stream overhead ≤ {EVENT_US:g} µs / event", f"{operation}, stub, p50",
                              f"{value / 1000:.2f} µs", f"≤ {EVENT_US:g} µs", value / 1000 <= EVENT_US))
    for (transport, read, key), cell in results.memory.items():
        if key != BEDROCK_OTEL:
            continue
        base = results.memory.get((transport, read, NONE))
        if cell.maxrss is None or base is None or base.maxrss is None:
            out.append(Target(f"peak RSS within {RSS_MIB:g} MiB", f"{transport}, {_read_title(read)}",
                              cell.error or "not measured", f"≤ {RSS_MIB:g} MiB", None))
            continue
        delta = (cell.maxrss - base.maxrss) / MIB
        out.append(Target(f"peak RSS within {RSS_MIB:g} MiB of uninstrumented",
                          f"{results.body_bytes / MIB:.0f} MiB body, {TRANSPORT_TITLES[transport]}, "
                          f"{_read_title(read)}", f"{delta:+.1f} MiB", f"≤ {RSS_MIB:g} MiB", delta <= RSS_MIB))
    return out


def breakdown(results: Results) -> str:
    """How much of bedrock-otel's overhead is its own code, and how much is OpenTelemetry SDK work."""
    lines = []
    transport = STUB
    for cells in (results.latency.get(STUB, {}), results.streams.get(STUB, {})):
        for operation, key in cells:
            if key != BEDROCK_OTEL:
                continue
            total, own = overhead(cells, operation, key, 50), overhead(cells, operation, BEDROCK_OTEL_NOOP, 50)
            if math.isnan(total) or math.isnan(own):
                continue
            scale, unit = (1000.0 * results.events, "µs / event") if operation in STREAMS else (1000.0, "µs")
            lines.append(f"- {operation} ({TRANSPORT_TITLES[transport]}): {total / scale:.2f} {unit} in all, of "
                         f"which {own / scale:.2f} is bedrock-otel's own code (no-op providers) and "
                         f"{(total - own) / scale:.2f} is OpenTelemetry SDK work (spans, attributes, histogram "
                         f"records).")
    for operation in STREAMS:
        base = per_event(results, transport, operation, BEDROCK_OTEL)
        gaps = per_event(results, transport, operation, BEDROCK_OTEL_CHUNK_GAPS)
        if not math.isnan(base) and not math.isnan(gaps):
            lines.append(f"- {operation} ({TRANSPORT_TITLES[transport]}): `chunk_gap_metrics=True` (opt-in) adds "
                         f"{(gaps - base) / 1000:.2f} µs / event, {gaps / 1000:.2f} in all.")
    return "\n".join(lines)


def targets_table(items: Sequence[Target]) -> str:
    return _table(["target (bedrock-otel)", "case", "measured", "limit", "result"],
                  [[t.name, t.case, t.measured, t.limit, t.verdict] for t in items])


def profile_section(profiles: Sequence[Profile]) -> str:
    if not profiles:
        return ""
    parts = ["## Hot spots in bedrock-otel (cProfile, stub transport)", "",
             "cProfile inflates absolute times; compare rows with each other.", ""]
    for prof in profiles:
        parts.append(f"### {prof.operation} ({prof.calls} calls profiled)")
        parts.append("")
        parts.append(_table(["bedrock-otel function", "cumulative µs / call", "self µs / call"],
                            [[f"`{n}`", f"{c:.1f}", f"{s:.1f}"] for n, c, s in prof.ours], "lrr"))
        parts.append("")
        parts.append(_table(["called from (bedrock-otel)", "callee", "cumulative µs / call"],
                            [[f"`{a}`", f"`{b}`", f"{c:.1f}"] for a, b, c in prof.external], "llr"))
        parts.append("")
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------------------


def tables(results: Results, items: Sequence[Target]) -> str:
    parts = []
    if results.latency:
        parts += ["### Per-call latency (one call, response read in full)", "",
                  "Overhead p50: median over rounds of (instrumented median - uninstrumented median of the same "
                  "round). Overhead p99: pooled p99 - pooled p99 (noisy on a shared machine).", "",
                  latency_table(results), ""]
    if results.floors:
        parts += ["### Floor: one SDK span with bedrock-otel's attributes + two histogram records", "",
                  floor_table(results), ""]
    if results.replays:
        parts += ["### bedrock-otel's own SDK calls for one call, replayed alone", "",
                  "Recorded from one instrumented call, then replayed against a fresh SDK set-up with nothing else "
                  "running: the span started with the request's attributes (made current and back), the "
                  "response's attributes set at the end, every histogram record (duration, input and output "
                  "tokens, Bedrock's server latency), end.", "", replay_table(results), ""]
    if results.streams:
        parts += [f"### Streams of {results.events:,} events (per-event overhead = paired p50 stream overhead ÷ "
                  f"{results.events:,}; includes 1/{results.events:,} of the per-call cost)", "",
                  stream_table(results), ""]
    if results.memory:
        parts += [f"### Memory: one {results.body_bytes / MIB:.0f} MiB InvokeModel response body, fresh process "
                  f"per cell", "", memory_table(results), ""]
    if results.threads or results.asyncio:
        parts += ["### Throughput", "", "calls/s: all rounds pooled; vs uninstrumented: median over rounds of the "
                  "ratio to the uninstrumented rate of the same round.", "", throughput_table(results), ""]
    if results.faults is not None:
        from .faults import render_markdown

        parts += ["### Faults in the telemetry path: the app's calls while the collector misbehaves", "",
                  render_markdown(results.faults), ""]
    if items:
        parts += ["### Targets", "", targets_table(items), ""]
    split = breakdown(results)
    if split:
        parts += ["### Where bedrock-otel's overhead goes", "", split, ""]
    room = headroom(results)
    if room:
        parts += ["### What the per-call targets leave once the required SDK work is paid", "", room, ""]
    return "\n".join(parts)


def machine_section(results: Results) -> str:
    rows = [[key, value] for key, value in results.machine.items()]
    return _table(["", ""], rows)


def markdown(results: Results, items: Sequence[Target], png: Optional[str]) -> str:
    contenders = "\n".join(
        f"- **{c.key}**: {c.label}" + (f" {c.version}" if c.version else "")
        + ("" if c.available else f" — *not installed ({c.reason})*") for c in results.contenders)
    settings = ", ".join(f"{k}={v}" for k, v in results.settings.items())
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Benchmarks",
        "",
        "Generated by `python -m benchmarks` (from the repository root; `--quick` ≈ 45 s, `--full` for more "
        f"repetitions) on {stamp}, in {results.elapsed:.0f} s. Do not edit by hand: run it again.",
        "",
        "Where a target is missed: what profiling showed, what changed, the figures before and after, and "
        "why the per-call targets stay missed are in [Performance work](performance.md).",
        "",
        "## Contenders",
        "",
        contenders,
        "",
        "Each contender gets identical SDK providers: a `TracerProvider` with a `SimpleSpanProcessor` to an "
        "exporter that only counts spans, a `MeterProvider` with an `InMemoryMetricReader`, a `LoggerProvider` "
        "with no processor; content capture stays off. Contenders take turns in one process (instrument, "
        "warm up, measure, uninstrument, check botocore is unpatched), in rotating order over several rounds. "
        "Every batch counts the contender's ended GenAI spans and duration-histogram points: a contender "
        "that produced fewer than one per call is marked MISSING.",
        "",
        "Transports: **in-process stub** — a `before-send` handler answers with a canned `AWSResponse` (boto3 "
        "still validates, signs, parses and decodes the event-stream frames; no socket), which isolates "
        "instrumentation cost; **fake server, loopback HTTP** — `bedrock_otel.testing.FakeBedrock` in a child "
        "process on 127.0.0.1, event streams sent one frame per HTTP chunk. Requests and responses are "
        "Anthropic Claude shapes (`anthropic.claude-3-haiku-20240307-v1:0`). Targets are judged on the stub "
        "(timings) and on both transports (memory).",
        "",
        "## Machine",
        "",
        machine_section(results),
        "",
        f"Settings: {settings}.",
        "",
        "## Results",
        "",
        tables(results, items),
    ]
    if png:
        parts += [f"![benchmarks]({png})", ""]
    if results.notes:
        parts += ["## Notes", ""] + [f"- {note}" for note in results.notes] + [""]
    parts += [profile_section(results.profiles), "", "## Installing the peers", "",
              "The peers are optional; the `bench` extra installs them:", "", "```toml", "bench = [",
              *[f"  {line}," for line in BENCH_EXTRA], "]", "```", ""]
    return "\n".join(parts)


def plot(results: Results, path: Path) -> Optional[str]:
    """Four panels: per-call overhead, per-event overhead, memory, throughput. None if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    keys = [k for k in _keys(results, diagnostic=False) if k != NONE]
    colours = {BEDROCK_OTEL: "#1b7837", BOTOCORE: "#2166ac", GENAI_BEDROCK: "#b2182b", NONE: "#969696"}
    fig, axes = plt.subplots(2, 2, figsize=(14, 9))

    def bars(ax: Any, groups: List[str], values: Dict[str, List[float]], series_keys: List[str]) -> None:
        w = 0.8 / max(len(series_keys), 1)
        for i, key in enumerate(series_keys):
            xs = [g + (i - (len(series_keys) - 1) / 2) * w for g in range(len(groups))]
            ys = [0.0 if math.isnan(v) else v for v in values[key]]
            rects = ax.bar(xs, ys, w, label=key, color=colours.get(key))
            for rect, value in zip(rects, values[key]):
                label = "n/a" if math.isnan(value) else f"{value:.1f}" if abs(value) < 100 else f"{value:,.0f}"
                ax.annotate(label, (rect.get_x() + rect.get_width() / 2, rect.get_height()), ha="center",
                            va="bottom", fontsize=7)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups, fontsize=8)

    # per-call overhead
    ax = axes[0][0]
    groups, values = [], {k: [] for k in keys}
    for transport, cells in results.latency.items():
        for operation in UNARY:
            groups.append(f"{operation}\n{transport}")
            for key in keys:
                values[key].append(overhead(cells, operation, key, 50) / 1000)
    bars(ax, groups, values, keys)
    for index, group in enumerate(groups):
        floor = results.floors.get(group.split("\n")[0])
        if floor is not None:
            ax.hlines(floor.p(50) / 1000, index - 0.45, index + 0.45, colors="black", linestyles="dashed",
                      label="floor (span + 2 records)" if index == 0 else None)
    ax.set_title("Per-call overhead, p50 (µs, lower is better)")
    ax.legend(fontsize=8)

    # per-event overhead
    ax = axes[0][1]
    groups, values = [], {k: [] for k in keys}
    for transport in results.streams:
        for operation in STREAMS:
            groups.append(f"{operation.replace('InvokeModelWithResponseStream', 'InvokeModelWRS')}\n{transport}")
            for key in keys:
                values[key].append(per_event(results, transport, operation, key) / 1000)
    bars(ax, groups, values, keys)
    ax.axhline(EVENT_US, color="black", linestyle="dashed", label=f"target {EVENT_US:g} µs")
    ax.set_title(f"Stream overhead per event, {results.events:,}-event streams (µs)")
    ax.legend(fontsize=8)

    # memory
    ax = axes[1][0]
    groups, values = [], {k: [] for k in keys}
    for transport, read in dict.fromkeys((t, r) for t, r, _ in results.memory):
        groups.append(f"{_read_title(read)}\n{transport}")
        base = results.memory.get((transport, read, NONE))
        for key in keys:
            cell = results.memory.get((transport, read, key))
            ok = cell is not None and base is not None and cell.maxrss is not None and base.maxrss is not None
            values[key].append((cell.maxrss - base.maxrss) / MIB if ok else float("nan"))  # type: ignore[union-attr]
    bars(ax, groups, values, keys)
    ax.axhline(RSS_MIB, color="black", linestyle="dashed", label=f"target {RSS_MIB:g} MiB")
    ax.set_title(f"Extra peak RSS for a {results.body_bytes / MIB:.0f} MiB InvokeModel body (MiB)")
    ax.legend(fontsize=8)

    # throughput
    ax = axes[1][1]
    everyone = _keys(results, diagnostic=False)
    groups, values = [], {k: [] for k in everyone}
    for mode, table in (("threads", results.threads), ("asyncio", results.asyncio)):
        for transport, cells in table.items():
            groups.append(f"{mode}\n{transport}")
            for key in everyone:
                rate = cells.get(key)
                values[key].append(rate.per_second if rate is not None else float("nan"))
    bars(ax, groups, values, everyone)
    ax.set_title("Converse throughput, 32 concurrent callers (calls/s, higher is better)")
    ax.legend(fontsize=8)

    fig.suptitle(f"bedrock-otel benchmarks — {results.machine.get('CPU', '')}, "
                 f"{results.machine.get('Python', '')}", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name
