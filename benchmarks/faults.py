"""Faults in the telemetry path (issue 10): the app's Bedrock calls while the collector misbehaves.

``python -m benchmarks.faults [--quick] [--calls N]`` prints a markdown table: for each condition the
app's Converse and ConverseStream latency, whether its results matched an uninstrumented run, the
exceptions that reached it, what the collector received, the warnings logged and how long
``Configured.shutdown()`` took.

Every condition is a real set-up, no mocks: the app is a fresh interpreter (``configure()`` sets
process-global providers) that calls ``bedrock_otel.configure()`` with OTLP/gRPC, then
``bedrock_otel.instrument()``, then a boto3 bedrock-runtime client against the fake Bedrock (in its own
process, :class:`benchmarks.transports.LoopbackTransport`); the collector is
:class:`~bedrock_otel.testing.otlp_receiver.OtlpGrpcReceiver` in this process: up, down (a closed
port), slow, refusing, or slow behind a span queue of 8. Spans are exported every 500 ms and metrics
every second, so failing, slow and retried exports run alongside the measured calls. Timings are
reported, never asserted (tests/test_telemetry_faults.py checks the correctness side).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from bedrock_otel.testing.otlp_receiver import OtlpGrpcReceiver

from . import payloads
from .measure import CONVERSE, CONVERSE_STREAM, log, percentile
from .transports import ROOT, LoopbackTransport, boto3_client

OPERATIONS = (CONVERSE, CONVERSE_STREAM)
SLOW_EXPORT_S = 2.0
SHUTDOWN_TIMEOUT_S = 10.0
WARMUP_CALLS = 5
PAUSE_S = 0.002  # the app's think time between calls, so the run spans several export intervals
DROPPED_METRIC = "otel.sdk.processor.span.processed"
# Exports while the calls run: spans every 500 ms (the SDK default is 5 s), metrics every second.
PIPELINE_ENV = {
    "OTEL_BSP_SCHEDULE_DELAY": "500",
    "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    # The SDK counts the spans its batch processor drops (queue full) and exports the count as a metric.
    "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED": "true",
}
TINY_QUEUE_ENV = {"OTEL_BSP_MAX_QUEUE_SIZE": "8", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "8"}


# --------------------------------------------------------------------------------------------------
# conditions
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One state of the telemetry path. ``collector`` is None for the uninstrumented baseline."""

    key: str
    title: str
    collector: Optional[str] = "up"  # "up" (a receiver) or "down" (a closed port)
    delay: float = 0.0  # seconds the receiver waits before answering each export
    refusal: Optional[str] = None  # grpc.StatusCode name the receiver answers every export with
    env: Tuple[Tuple[str, str], ...] = ()
    quick: bool = True  # part of the --quick run


BASELINE = Condition("baseline", "uninstrumented (no configure())", collector=None)
UP = Condition("up", "collector up")


def conditions(quick: bool = False) -> List[Condition]:
    """The matrix. ``quick`` leaves out RESOURCE_EXHAUSTED (retried like UNAVAILABLE) and halves the slowness."""
    slow = SLOW_EXPORT_S / 2 if quick else SLOW_EXPORT_S
    matrix = [
        BASELINE,
        UP,
        Condition("down", "collector down (closed port)", collector="down"),
        Condition("slow", f"collector slow ({slow:g} s per export)", delay=slow),
        Condition("unavailable", "collector refusing: UNAVAILABLE (retried)", refusal="UNAVAILABLE"),
        Condition("permission_denied", "collector refusing: PERMISSION_DENIED (not retried)",
                  refusal="PERMISSION_DENIED"),
        Condition("resource_exhausted", "collector refusing: RESOURCE_EXHAUSTED (retried)",
                  refusal="RESOURCE_EXHAUSTED", quick=False),
        Condition("queue_full", f"span queue full (8 spans, collector {slow:g} s per export)", delay=slow,
                  env=tuple(TINY_QUEUE_ENV.items())),
    ]
    return [condition for condition in matrix if condition.quick or not quick]


# --------------------------------------------------------------------------------------------------
# the app (a child process): python -m benchmarks.faults --app SPEC
# --------------------------------------------------------------------------------------------------


def comparable(value: Any) -> Any:
    """A response or stream event without what legitimately differs between runs: request ids, dates,
    lengths, and the server-side ``latencyMs``."""
    if isinstance(value, dict):
        found = {}
        for key, item in value.items():
            if key == "ResponseMetadata":
                item = {k: v for k, v in item.items() if k != "RequestId"}
                item["HTTPHeaders"] = {k: v for k, v in item.get("HTTPHeaders", {}).items()
                                       if k not in ("date", "x-amzn-requestid", "content-length")}
            found[key] = "<ms>" if key == "latencyMs" else comparable(item)
        return found
    if isinstance(value, list):
        return [comparable(item) for item in value]
    return value


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(comparable(value), sort_keys=True, default=str).encode()).hexdigest()[:16]


def _params(index: int) -> Dict[str, Any]:
    """A different prompt per call, so a response given to the wrong call would show."""
    return {**payloads.converse_params(),
            "messages": [{"role": "user", "content": [{"text": f"Question {index}: what is the sea like?"}]}]}


def _converse(client: Any, index: int) -> Any:
    return client.converse(**_params(index))


def _converse_stream(client: Any, index: int) -> Any:
    response = client.converse_stream(**_params(index))
    return {**response, "stream": list(response["stream"])}


_CALLS: Dict[str, Callable[[Any, int], Any]] = {CONVERSE: _converse, CONVERSE_STREAM: _converse_stream}


class _CountWarnings(logging.Handler):
    """Counts WARNING+ records of the OpenTelemetry and bedrock-otel loggers; keeps the distinct messages."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(("opentelemetry", "bedrock_otel")):
            return
        self.count += 1
        message = f"{record.name}: {record.getMessage()}"[:300]
        if message not in self.messages and len(self.messages) < 10:
            self.messages.append(message)


def _timed_calls(client: Any, calls: int) -> Tuple[Dict[str, List[float]], List[str], List[str]]:
    """``calls`` of each operation, alternating: latencies (ms), result digests, exceptions seen."""
    latencies: Dict[str, List[float]] = {operation: [] for operation in OPERATIONS}
    digests: List[str] = []
    errors: List[str] = []
    for index in range(calls):
        for operation in OPERATIONS:
            started = time.perf_counter()
            try:
                result = _CALLS[operation](client, index)
            except Exception as exc:  # what the benchmark is looking for: nothing may reach the app
                errors.append(f"{operation}: {type(exc).__name__}: {exc}"[:300])
                result = None
            latencies[operation].append((time.perf_counter() - started) * 1000)
            digests.append(digest(result))
            time.sleep(PAUSE_S)
    return latencies, digests, errors


def app(spec: Dict[str, Any]) -> Dict[str, Any]:
    """The measured application: configure (unless baseline), call Bedrock, shut down; figures as a dict."""
    warnings_seen = _CountWarnings()
    logging.getLogger().addHandler(warnings_seen)
    configured = None
    if spec["endpoint"] is not None:
        import bedrock_otel

        configured = bedrock_otel.configure("fault-benchmark", endpoint=spec["endpoint"], instrument=False)
        bedrock_otel.instrument()
    client = boto3_client(spec["bedrock"])
    for index in range(WARMUP_CALLS):
        _converse(client, -1 - index)
    latencies, digests, errors = _timed_calls(client, spec["calls"])
    shutdown_ms, shutdown_ok = 0.0, True
    if configured is not None:
        started = time.perf_counter()
        shutdown_ok = configured.shutdown(timeout=SHUTDOWN_TIMEOUT_S)
        shutdown_ms = (time.perf_counter() - started) * 1000
    return {"latencies": latencies, "digests": digests, "errors": errors, "warnings": warnings_seen.count,
            "messages": warnings_seen.messages, "shutdown_ms": shutdown_ms, "shutdown_ok": shutdown_ok}


# --------------------------------------------------------------------------------------------------
# the runner
# --------------------------------------------------------------------------------------------------


@dataclass
class FaultRow:
    """One condition's figures; latencies in ms, per operation."""

    key: str
    title: str
    calls: int  # of each operation
    p50: Dict[str, float]
    p99: Dict[str, float]
    identical: bool  # every response and stream event equal to the baseline's
    app_exceptions: int  # exceptions raised to the app's calls
    tracebacks: int  # tracebacks the app printed (a background thread that died, say)
    spans_expected: int
    spans_received: Optional[int]  # Bedrock spans the collector accepted; None for the baseline
    spans_dropped_counted: Optional[int]  # the SDK's queue-full count as the collector got it, if it arrived
    warnings: int
    shutdown_ms: Optional[float]  # None for the baseline
    shutdown_ok: bool
    messages: List[str] = field(default_factory=list)  # the distinct warnings
    p99_ratio: Dict[str, float] = field(default_factory=dict)  # against "collector up"


@dataclass
class FaultReport:
    rows: List[FaultRow]
    calls: int  # of each operation per condition, all rounds together
    rounds: int
    seconds: float

    def row(self, key: str) -> FaultRow:
        return next(row for row in self.rows if row.key == key)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def collector(condition: Condition) -> Iterator[Tuple[Optional[str], Optional[OtlpGrpcReceiver]]]:
    """(endpoint, receiver) for a condition: a receiver with its faults set, a closed port, or nothing."""
    if condition.collector is None:
        yield None, None
        return
    if condition.collector == "down":
        yield f"http://127.0.0.1:{_closed_port()}", None
        return
    import grpc

    with OtlpGrpcReceiver() as receiver:
        receiver.delay = condition.delay
        if condition.refusal is not None:
            receiver.refuse(code=grpc.StatusCode[condition.refusal])
        yield receiver.endpoint, receiver


def _child_env(condition: Condition) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(PIPELINE_ENV)
    env.update(dict(condition.env))
    return env


def run_app(condition: Condition, bedrock_url: str, endpoint: Optional[str], calls: int) -> Dict[str, Any]:
    """Run the app for ``condition`` in a fresh interpreter; its figures (the last stdout line, JSON)."""
    spec = {"bedrock": bedrock_url, "endpoint": endpoint, "calls": calls}
    # No cwd and close_fds=False: Python then spawns with posix_spawn, never fork. A fork while this process
    # runs a gRPC receiver can abort the child before exec (grpc/grpc#43055, seen on Python 3.9 with grpcio
    # 1.80). PYTHONPATH, not the working directory, finds the benchmarks package.
    result = subprocess.run([sys.executable, "-m", "benchmarks.faults", "--app", json.dumps(spec)],
                            env=_child_env(condition), close_fds=False, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{condition.key}: the app exited with {result.returncode}:\n{result.stderr[-3000:]}")
    out: Dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    out["tracebacks"] = result.stderr.count("Traceback")
    return out


def _dropped_counted(receiver: OtlpGrpcReceiver) -> Optional[int]:
    """The batch processor's latest cumulative queue-full count the collector received; None if none arrived."""
    points = receiver.metric_points(DROPPED_METRIC)
    if not points:
        return None
    full = [point for point in points if point.attributes.get("error.type") == "queue_full"]
    return int(full[-1].value or 0) if full else 0


def measure(condition: Condition, bedrock_url: str, calls: int) -> Dict[str, Any]:
    """One run of the app under ``condition``, plus what its collector received."""
    with collector(condition) as (endpoint, receiver):
        out = run_app(condition, bedrock_url, endpoint, calls)
        out["received"] = None if condition.collector is None else 0
        out["dropped"] = None
        if receiver is not None:
            out["received"] = len({span.span_id for span in receiver.spans() if span.name.startswith("chat ")})
            out["dropped"] = _dropped_counted(receiver)
    return out


def _sum(values: Sequence[Optional[int]]) -> Optional[int]:
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def _row(condition: Condition, runs: Sequence[Dict[str, Any]], baseline: List[str], calls: int) -> FaultRow:
    """Pool one condition's runs (one per round): latencies together, counts added, the slowest shutdown."""
    latencies = {op: [ms for run in runs for ms in run["latencies"][op]] for op in OPERATIONS}
    instrumented = condition.collector is not None
    messages: List[str] = []
    for run in runs:
        messages += [m for m in run["messages"] + run["errors"][:3] if m not in messages]
    return FaultRow(
        key=condition.key, title=condition.title, calls=calls * len(runs),
        p50={op: percentile(latencies[op], 50) for op in OPERATIONS},
        p99={op: percentile(latencies[op], 99) for op in OPERATIONS},
        identical=all(run["digests"] == baseline for run in runs),
        app_exceptions=sum(len(run["errors"]) for run in runs), tracebacks=sum(run["tracebacks"] for run in runs),
        spans_expected=len(runs) * (len(OPERATIONS) * calls + WARMUP_CALLS),  # warm-up calls are Converse calls
        spans_received=_sum([run["received"] for run in runs]),
        spans_dropped_counted=_sum([run["dropped"] for run in runs]),
        warnings=sum(run["warnings"] for run in runs), messages=messages,
        shutdown_ms=max(run["shutdown_ms"] for run in runs) if instrumented else None,
        shutdown_ok=all(run["shutdown_ok"] for run in runs),
    )


def run_faults(calls: int = 200, quick: bool = False, rounds: Optional[int] = None) -> FaultReport:
    """Run the matrix; ``calls`` of each operation per condition, split over ``rounds`` (default 2, quick 1).

    Each round runs every condition once, in an order rotated by one from the previous round, so that a
    noisy moment of a shared machine does not land on one condition. ``quick``: at most 60 calls, fewer and
    shorter faults.
    """
    if quick:
        calls = min(calls, 60)
    rounds = rounds or (1 if quick else 2)
    per_round = max(1, calls // rounds)
    matrix = conditions(quick)
    runs: Dict[str, List[Dict[str, Any]]] = {condition.key: [] for condition in matrix}
    started = time.monotonic()
    bedrock = LoopbackTransport()  # started before any receiver: see run_app on forking next to gRPC
    try:
        for turn in range(rounds):
            for condition in matrix[turn % len(matrix):] + matrix[:turn % len(matrix)]:
                log(f"faults: round {turn + 1}/{rounds}: {condition.title}")
                runs[condition.key].append(measure(condition, bedrock.endpoint_url, per_round))
    finally:
        bedrock.close()
    baseline = runs[BASELINE.key][0]["digests"]
    rows = [_row(condition, runs[condition.key], baseline, per_round) for condition in matrix]
    up = next(row for row in rows if row.key == UP.key)
    for row in rows:
        row.p99_ratio = {op: row.p99[op] / up.p99[op] for op in OPERATIONS if up.p99[op] > 0}
    return FaultReport(rows=rows, calls=per_round * rounds, rounds=rounds, seconds=time.monotonic() - started)


# --------------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------------


def _pair(values: Dict[str, float], digits: int = 1, suffix: str = "") -> str:
    return " / ".join(f"{values[op]:.{digits}f}{suffix}" if op in values else "-" for op in OPERATIONS)


def _spans(row: FaultRow) -> str:
    if row.spans_received is None:
        return "-"
    text = f"{row.spans_received} of {row.spans_expected}"
    if row.spans_dropped_counted:
        text += f" ({row.spans_dropped_counted} counted as dropped)"
    return text


def _cells(row: FaultRow) -> Tuple[str, ...]:
    exceptions = str(row.app_exceptions) + (f" (+{row.tracebacks} tracebacks)" if row.tracebacks else "")
    shutdown = "-" if row.shutdown_ms is None else f"{row.shutdown_ms:.0f}"
    if not row.shutdown_ok:
        shutdown += " (gave up)"
    return (row.title, str(row.calls), _pair(row.p50), _pair(row.p99), _pair(row.p99_ratio, 2, "x"),
            "yes" if row.identical else "**no**", exceptions, _spans(row), str(row.warnings), shutdown)


HEADERS = ("condition", "calls", "p50 ms (Converse / stream)", "p99 ms (Converse / stream)", "p99 vs up",
           "results identical", "app exceptions", "spans at the collector", "warnings logged", "shutdown ms")


def render_markdown(report: FaultReport) -> str:
    """The table and a paragraph on what it shows."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in report.rows]
    processes = "one fresh app process" if report.rounds == 1 else \
        f"{report.rounds} fresh app processes (one per round, the conditions in rotated order)"
    explanation = (
        f"Each condition ran in {processes}, "
        f"making {report.calls} Converse and {report.calls} ConverseStream calls in all (streams read to the end, "
        f"{PAUSE_S * 1000:g} ms between calls) against the fake Bedrock over loopback, after "
        "`bedrock_otel.configure()` (OTLP/gRPC; spans exported every 500 ms, metrics every second) and "
        "`bedrock_otel.instrument()`; the baseline makes the same calls with neither. \"Results identical\" "
        "compares every response and stream event with the baseline's (request ids, dates and the server's "
        "`latencyMs` aside). Spans at the collector count the Bedrock spans the OTLP receiver accepted, "
        f"{WARMUP_CALLS} warm-up calls per process included; when the span queue overflows, the SDK's own count of "
        f"dropped spans (`{DROPPED_METRIC}`, `error.type=queue_full`) reaches the collector too. Warnings are the "
        "WARNING-or-worse records of the `opentelemetry*` and `bedrock_otel*` loggers, all processes together; "
        f"shutdown is the slowest `Configured.shutdown(timeout={SHUTDOWN_TIMEOUT_S:g})`. Exports run on background "
        "threads, so a down, slow or refusing collector, or a full queue, changes what reaches the collector and "
        "how long shutdown takes (a slow collector is waited for, up to the timeout), not the app's calls or their "
        "results. On a shared 2-core machine p99 moves by several milliseconds between runs, the baseline's too: "
        "only a difference that persists across runs means something; p50 is the steadier figure. Run time "
        f"{report.seconds:.0f} s."
    )
    return "\n".join(lines) + "\n\n" + explanation + "\n"


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faults", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and conditions, one round (about 15 s)")
    parser.add_argument("--calls", type=int, default=200, help="calls of each operation per condition, in all")
    parser.add_argument("--rounds", type=int, help="processes per condition (default 2; 1 with --quick)")
    parser.add_argument("--app", help=argparse.SUPPRESS)  # internal: run as the measured app
    args = parser.parse_args(argv)
    if args.app is not None:
        print(json.dumps(app(json.loads(args.app))), flush=True)
        return 0
    report = run_faults(calls=args.calls, quick=args.quick, rounds=args.rounds)
    print(render_markdown(report))
    for row in report.rows:
        for message in row.messages:
            log(f"  {row.key}: {message}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
