"""``python -m benchmarks``: run every benchmark, print the tables, write docs/benchmarks.{md,png}."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from . import measure, memory, payloads, replay, report
from .contenders import BEDROCK_OTEL, NONE, BedrockOtel, all_contenders, assert_pristine
from .measure import CONVERSE, CONVERSE_STREAM, INVOKE_MODEL, INVOKE_STREAM, log
from .transports import LOOPBACK, STUB, LoopbackTransport, StubTransport

ROOT = Path(__file__).resolve().parent.parent

PROFILES: Dict[str, Dict[str, Any]] = {
    "quick": {
        "unary_rounds": 4, "unary_warmup": 10, "unary_batch": 50,
        "stream_rounds": 3, "stream_warmup": 1, "stream_batch": 1,
        "floor_rounds": 2, "floor_batch": 2000,
        "memory_reads": ["all", "chunks"], "memory_measures": ["rss"], "memory_transports": [STUB],
        "rate_rounds": 2, "rate_warmup": 0.15, "rate_seconds": 0.3,
    },
    "default": {
        "unary_rounds": 10, "unary_warmup": 15, "unary_batch": 150,
        "stream_rounds": 8, "stream_warmup": 1, "stream_batch": 2,
        "floor_rounds": 5, "floor_batch": 4000,
        "memory_reads": ["all", "chunks"], "memory_measures": ["rss", "tracemalloc"],
        "memory_transports": [STUB, LOOPBACK],
        "rate_rounds": 4, "rate_warmup": 0.2, "rate_seconds": 0.6,
    },
    "full": {
        "unary_rounds": 20, "unary_warmup": 20, "unary_batch": 300,
        "stream_rounds": 16, "stream_warmup": 1, "stream_batch": 3,
        "floor_rounds": 10, "floor_batch": 10000,
        "memory_reads": ["all", "chunks"], "memory_measures": ["rss", "tracemalloc"],
        "memory_transports": [STUB, LOOPBACK],
        "rate_rounds": 8, "rate_warmup": 0.3, "rate_seconds": 1.0,
    },
}
SECTIONS = ("latency", "streams", "memory", "throughput", "faults")


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="about 45 s: fewer repetitions, stub-only memory, a shorter fault matrix")
    size.add_argument("--full", action="store_true", help="more repetitions (about 8 minutes)")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only these sections (repeatable)")
    parser.add_argument("--transport", choices=(STUB, LOOPBACK), action="append",
                        help="only these transports (default: both)")
    parser.add_argument("--events", type=int, default=payloads.STREAM_EVENTS, help="events per stream")
    parser.add_argument("--threads", type=int, default=32, help="threads / asyncio tasks for throughput")
    parser.add_argument("--body-mib", type=int, default=payloads.BIG_BODY_BYTES // 2**20,
                        help="InvokeModel body size for the memory benchmark")
    parser.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                        help="cProfile bedrock-otel's hot path: when a target is missed (auto), always or never")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=JSON",
                        help="extra keyword argument for bedrock-otel's instrument(), e.g. max_body_bytes=1048576")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/ alone")
    parser.add_argument("--out", default=str(ROOT / "docs"), help="where benchmarks.md and benchmarks.png go")
    return parser.parse_args(argv)


def _quiet() -> None:
    """The peers warn about beta conventions and such; the benchmark output should stay readable."""
    warnings.simplefilter("ignore")
    logging.getLogger("opentelemetry").setLevel(logging.ERROR)
    for name in ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "OTEL_SEMCONV_STABILITY_OPT_IN",
                 "AWS_BEARER_TOKEN_BEDROCK", "OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT"):
        os.environ.pop(name, None)


def run(argv: Sequence[str]) -> int:
    args = _parse(argv)
    _quiet()
    mode = "quick" if args.quick else "full" if args.full else "default"
    cfg = dict(PROFILES[mode])
    sections = set(args.only or SECTIONS)
    transports_wanted = args.transport or [STUB, LOOPBACK]
    for option in args.option:
        name, _, value = option.partition("=")
        BedrockOtel.options[name] = json.loads(value)
    load_before = os.getloadavg()
    started = time.perf_counter()

    everyone = all_contenders(diagnostic=True)
    timed = [c for c in everyone if c.available]  # latency and streams also time the diagnostic variants
    contenders = [c for c in timed if not c.diagnostic]
    for c in everyone:
        log(f"contender {c.title}: " + ("ready" if c.available else f"SKIPPED ({c.reason})"))
    settings = {"mode": mode, "stream events": args.events, "threads/tasks": args.threads, **{
        k: v for k, v in cfg.items() if not k.startswith("memory_")}}
    if BedrockOtel.options:
        settings["bedrock-otel instrument() options"] = json.dumps(BedrockOtel.options)
    results = report.Results(settings=settings, contenders=everyone, events=args.events,
                             body_bytes=args.body_mib * 2**20)

    stub = StubTransport(args.events)
    loopback: Optional[LoopbackTransport] = None
    need_loopback = LOOPBACK in transports_wanted or (
        "memory" in sections and LOOPBACK in cfg["memory_transports"] and LOOPBACK in transports_wanted)
    try:
        if need_loopback:
            loopback = LoopbackTransport(args.events)
        transports: List[Any] = [t for t in (stub, loopback) if t is not None and t.name in transports_wanted]

        if "latency" in sections:
            for transport in transports:
                log(f"per-call latency on {transport.name} …")
                unary = [c for c in timed if not c.streams_only]
                results.latency[transport.name] = measure.latency(
                    transport, unary, [CONVERSE, INVOKE_MODEL], cfg["unary_rounds"], cfg["unary_warmup"],
                    cfg["unary_batch"])
            log("floor …")
            cells = next(iter(results.latency.values()), {})
            ours = next((c for c in contenders if c.key == BEDROCK_OTEL), None)
            for operation in (CONVERSE, INVOKE_MODEL):
                series = cells.get((operation, BEDROCK_OTEL))
                metric_attrs = ours.sdk.metric_attributes(measure.DURATION_METRIC) if ours and ours.sdk else {}
                results.floors[operation] = measure.floor(series.template if series else None, metric_attrs,
                                                          cfg["floor_batch"], cfg["floor_rounds"])
            log("bedrock-otel's SDK calls, replayed alone …")
            for operation in (CONVERSE, INVOKE_MODEL):
                script = replay.record_script(measure.call_for(operation), stub.client(), BedrockOtel.options)
                results.replays[operation] = replay.replay(script, cfg["floor_batch"], cfg["floor_rounds"])
            assert_pristine()

        if "streams" in sections:
            for transport in transports:
                log(f"streams of {args.events} events on {transport.name} …")
                results.streams[transport.name] = measure.latency(
                    transport, timed, [CONVERSE_STREAM, INVOKE_STREAM], cfg["stream_rounds"],
                    cfg["stream_warmup"], cfg["stream_batch"], events=args.events)

        if "memory" in sections:
            memory_transports = [t for t in cfg["memory_transports"] if t in transports_wanted]
            log(f"memory, {args.body_mib} MiB body, on {', '.join(memory_transports)} (one process per cell) …")
            results.memory = memory.measure_all(
                [c.key for c in contenders], memory_transports, cfg["memory_reads"], cfg["memory_measures"],
                loopback=loopback, size=results.body_bytes)

        if "throughput" in sections:
            for transport in transports:
                log(f"throughput, {args.threads} threads, on {transport.name} …")
                results.threads[transport.name] = measure.threaded(
                    transport, contenders, args.threads, cfg["rate_rounds"], cfg["rate_warmup"], cfg["rate_seconds"])
            for transport in transports:
                log(f"throughput, asyncio with {args.threads} tasks, on {transport.name} …")
                results.asyncio[transport.name] = measure.asynchronous(
                    transport, contenders, args.threads, cfg["rate_rounds"], cfg["rate_warmup"], cfg["rate_seconds"])

        if "faults" in sections:
            from .faults import run_faults

            log("faults in the telemetry path (collector up, down, slow, refusing; span queue full) …")
            results.faults = run_faults(quick=mode == "quick")

        items = report.targets(results)
        missed = any(t.passed is False for t in items)
        if args.profile == "always" or (args.profile == "auto" and missed):
            log("profiling bedrock-otel (cProfile) …")
            results.profiles = _profiles(stub, mode)
    finally:
        if loopback is not None:
            loopback.close()

    results.notes = _notes(results)
    results.elapsed = time.perf_counter() - started
    results.machine = report.machine(load_before)
    text = report.tables(results, items)
    print(text)
    if not args.no_write:
        out = Path(args.out)
        png = report.plot(results, out / "benchmarks.png")
        if png is None:
            log("matplotlib is not installed: no PNG (pip install matplotlib, or the bench extra)")
        out.mkdir(parents=True, exist_ok=True)
        (out / "benchmarks.md").write_text(report.markdown(results, items, png), encoding="utf-8")
        log(f"wrote {out / 'benchmarks.md'}" + (f" and {out / png}" if png else ""))
    log(f"done in {results.elapsed:.0f} s")
    return 0


def _profiles(stub: StubTransport, mode: str) -> List[Any]:
    from .profiling import profile_bedrock_otel

    return profile_bedrock_otel(stub, unary_calls=100 if mode == "quick" else 300,
                                stream_calls=1 if mode == "quick" else 3)


def _notes(results: report.Results) -> List[str]:
    notes = []
    for table in (results.asyncio,):
        for transport, cells in table.items():
            for key, rate in cells.items():
                if key != NONE and not rate.check.ok and rate.check.other_spans:
                    notes.append(f"{key} under asyncio ({transport}): no GenAI spans, {rate.check.other_spans} "
                                 "generic spans — it has no aiobotocore Bedrock support, so its throughput "
                                 "there is not comparable.")
    notes.append("Throughput on loopback includes the fake server's own work (a Python HTTP server in a second "
                 "process); the stub rows show the instrumentation's share more clearly.")
    notes.append("p99 figures on a 2-core machine shared with other work are dominated by scheduling; read the "
                 "p50 columns for cost, the p99 ones for tail effects such as garbage collection.")
    return notes


def main() -> None:
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
