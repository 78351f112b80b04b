"""Faults in the telemetry path never reach the app (issue 10): the collector up, down, slow, refusing, or
behind a full span queue, and coming back.

Correctness only (``python -m benchmarks.faults`` reports the timings). Each scenario is a real app process:
``bedrock_otel.configure()`` with OTLP/gRPC, ``bedrock_otel.instrument()``, a boto3 client against a fake
Bedrock; the collector is an :class:`OtlpGrpcReceiver` (or a closed port) in this process. The app first makes
its calls uninstrumented, so each scenario carries its own baseline: the instrumented results must equal it.
A scenario is a list of steps the app runs in order (see ``APP``); ``sync`` hands control to this process,
which changes the collector, so what is exported when does not depend on timing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import grpc
import pytest

from bedrock_otel.testing.otlp_receiver import OtlpGrpcReceiver

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
CLAUDE_LATER = "anthropic.claude-3-5-haiku-20241022-v1:0"  # calls after the collector came back
CALLS = 6  # Converse + ConverseStream pairs per `calls:` step
SHUTDOWN_TIMEOUT = 10.0  # what the app passes to Configured.shutdown(): the bound, not a latency target
MAX_WARNINGS = 3  # one per signal's outage (traces, metrics) or one "Queue full": never one per call
DROPPED_METRIC = "otel.sdk.processor.span.processed"

APP = r'''
import json, logging, os, sys, time

import bedrock_otel
from opentelemetry.sdk.trace import SpanProcessor
from bedrock_otel.testing.fake_server import FakeBedrock

# FAULT_SPEC: endpoint, calls (pairs per "calls:" step), steps, optional configure() arguments. Steps:
#   calls:<model>  Converse + ConverseStream pairs with that model
#   flush          the SDK's TracerProvider.force_flush(): returns once the export it waits for has ended
#   force_flush    Configured.force_flush(timeout=5), its result recorded
#   sync           print SYNC and wait for a line on stdin (the test changes the collector meanwhile)
#   shutdown       Configured.shutdown(timeout=shutdown_timeout), timed
spec = json.loads(os.environ["FAULT_SPEC"])


class CountWarnings(logging.Handler):
    """WARNING+ records of the opentelemetry and bedrock_otel loggers."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        if record.name.startswith(("opentelemetry", "bedrock_otel")):
            self.messages.append(f"{record.name}: {record.getMessage()}")


class Ended(SpanProcessor):
    """The spans the instrumentation ended: what the pipeline had to export or drop."""

    def __init__(self):
        self.spans = []

    def on_end(self, span):
        self.spans.append({"name": span.name, "span_id": format(span.context.span_id, "016x")})


def comparable(value):
    """Without what differs between two runs anyway: request ids, dates, lengths, the server's latencyMs."""
    if isinstance(value, dict):
        value = {k: ("<ms>" if k == "latencyMs" else comparable(v)) for k, v in value.items() if k != "RequestId"}
        headers = value.get("HTTPHeaders")
        if headers is not None:
            value["HTTPHeaders"] = {k: v for k, v in headers.items()
                                    if k not in ("date", "x-amzn-requestid", "content-length")}
        return value
    if isinstance(value, list):
        return [comparable(item) for item in value]
    return value


def call_pairs(client, model, first):
    """spec["calls"] pairs of Converse and ConverseStream (read to the end); (results, exceptions raised)."""
    results, errors = [], []
    for index in range(first, first + spec["calls"]):
        messages = [{"role": "user", "content": [{"text": f"question {index}"}]}]
        for stream in (False, True):
            try:
                if stream:
                    response = client.converse_stream(modelId=model, messages=messages)
                    response = {**response, "stream": list(response["stream"])}
                else:
                    response = client.converse(modelId=model, messages=messages)
                results.append(comparable(response))
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                results.append(None)
        time.sleep(spec.get("pause", 0))
    return results, errors


def sync():
    print("SYNC", flush=True)
    sys.stdin.readline()


counter = CountWarnings()
logging.getLogger().addHandler(counter)
logging.getLogger().addHandler(logging.StreamHandler())  # stderr, for the test's failure messages
steps = spec["steps"]
models = [step.split(":", 1)[1] for step in steps if step.startswith("calls:")]
out = {"baseline": [], "results": [], "errors": [], "flushes": []}
with FakeBedrock() as fake:
    for phase, model in enumerate(models):  # the same calls, uninstrumented
        out["baseline"] += call_pairs(fake.client(), model, phase * spec["calls"])[0]
    configured = bedrock_otel.configure("fault-tests", endpoint=spec["endpoint"], instrument=False,
                                        export_timeout=spec.get("export_timeout"),
                                        metric_export_interval=spec.get("metric_export_interval"))
    bedrock_otel.instrument()
    ended = Ended()
    configured.tracer_provider.add_span_processor(ended)
    client = fake.client()
    phase = 0
    for step in steps:
        if step.startswith("calls:"):
            results, errors = call_pairs(client, step.split(":", 1)[1], phase * spec["calls"])
            out["results"] += results
            out["errors"] += errors
            phase += 1
        elif step == "flush":
            configured.tracer_provider.force_flush()
        elif step == "force_flush":
            out["flushes"].append(configured.force_flush(timeout=5))
        elif step == "sync":
            sync()
        elif step == "shutdown":
            started = time.monotonic()
            out["shutdown_ok"] = configured.shutdown(timeout=spec["shutdown_timeout"])
            out["shutdown_s"] = time.monotonic() - started
out["ended"] = ended.spans
out["warnings"] = counter.messages
print("RESULT " + json.dumps(out), flush=True)
'''


# -- running the app ----------------------------------------------------------------------------------------


def _env(extra: Dict[str, str]) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "PYTEST_"))}
    env.update(PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def run_app(tmp_path: Path, endpoint: str, steps: Sequence[str], on_sync: Sequence[Callable[[], None]] = (),
            env: Optional[Dict[str, str]] = None, **spec: Any) -> Dict[str, Any]:
    """Run APP with these steps; at its n-th ``sync`` call ``on_sync[n]``. Its result, plus its stderr."""
    script = tmp_path / "fault_app.py"
    script.write_text(APP)
    spec = {"endpoint": endpoint, "steps": list(steps), "calls": CALLS, "shutdown_timeout": SHUTDOWN_TIMEOUT,
            **spec}
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("w") as stderr:
        # close_fds=False and no cwd: Python then spawns with posix_spawn, never fork (3.9 forks otherwise). A
        # fork while a gRPC receiver runs here restarts gRPC's poller in the child, which can abort (SIGABRT)
        # before exec on the epoll descriptor close_fds closed (grpc/grpc#43055; seen with grpcio 1.80).
        # Python's own descriptors are not inheritable anyway.
        proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=stderr, text=True, close_fds=False,
                                env=_env({"FAULT_SPEC": json.dumps(spec), **(env or {})}))
        watchdog = threading.Timer(60, proc.kill)  # a hang fails the test instead of stalling the suite
        watchdog.start()
        try:
            result = _converse_with(proc, list(on_sync))
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    errors = stderr_path.read_text()
    assert result is not None, f"the app exited with {proc.returncode} without a result:\n{errors}"
    result["stderr"] = errors
    return result


def _converse_with(proc: subprocess.Popen, on_sync: List[Callable[[], None]]) -> Optional[Dict[str, Any]]:
    assert proc.stdout is not None and proc.stdin is not None
    for line in proc.stdout:
        if line.startswith("SYNC"):
            on_sync.pop(0)()
            proc.stdin.write("go\n")
            proc.stdin.flush()
        elif line.startswith("RESULT "):
            proc.wait(timeout=30)  # exiting (atexit handlers included) is bounded too
            return json.loads(line[len("RESULT "):])  # type: ignore[no-any-return]
    return None


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def receiver() -> Iterator[OtlpGrpcReceiver]:
    with OtlpGrpcReceiver() as started:
        yield started


# -- what every scenario must show --------------------------------------------------------------------------


def received_ids(receiver: OtlpGrpcReceiver) -> List[str]:
    return [span.span_id for span in receiver.spans()]


def assert_app_unaffected(out: Dict[str, Any]) -> None:
    """Same results as uninstrumented, nothing raised, one span per call, bounded shutdown and logging."""
    assert out["errors"] == [], out["errors"]
    assert out["results"] == out["baseline"]
    assert len(out["results"]) == len(out["baseline"]) > 0
    assert "Traceback" not in out["stderr"], out["stderr"]
    assert len(out["ended"]) == len(out["results"])  # one span per call, each ended
    assert all(span["name"].startswith("chat anthropic.") for span in out["ended"]), out["ended"]
    assert out["shutdown_s"] < SHUTDOWN_TIMEOUT + 1, out["shutdown_s"]
    assert len(out["warnings"]) <= MAX_WARNINGS, out["warnings"]
    assert len(set(out["warnings"])) == len(out["warnings"]), out["warnings"]  # no message repeated


def assert_reported_dropped(out: Dict[str, Any]) -> None:
    """Spans lost to an outage are accounted for the way users see it: one warning saying they are dropped."""
    outage = [w for w in out["warnings"] if "Cannot export traces" in w]
    assert len(outage) == 1 and "dropped" in outage[0], out["warnings"]


def dropped_counted(receiver: OtlpGrpcReceiver) -> int:
    """The batch processor's own count of spans dropped for a full queue, as the collector received it."""
    points = [p for p in receiver.metric_points(DROPPED_METRIC) if p.attributes.get("error.type") == "queue_full"]
    return int(points[-1].value or 0) if points else 0


# -- the receiver's fault switches ----------------------------------------------------------------------------


def test_receiver_holds_and_does_not_count_what_the_exporter_gave_up_on(receiver: OtlpGrpcReceiver):
    """What the tests below rely on: ``hold()`` stalls answers until ``release()``, and a request whose exporter
    gave up meanwhile is ``abandoned``, not received (else a cancelled export would look delivered)."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExportResult

    span = TracerProvider().get_tracer("t").start_span("given up on")
    span.end()
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint, insecure=True, timeout=2)
    receiver.hold()
    results: List[SpanExportResult] = []
    export = threading.Thread(target=lambda: results.append(exporter.export([span])))
    export.start()
    # The request must be in the receiver's hands before the exporter gives up on it: a request whose deadline
    # passes before gRPC hands it to the servicer is never seen at all (it happened on a slow machine).
    deadline = time.monotonic() + 2
    while receiver.waiting == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert receiver.waiting == 1, "the held export never reached the receiver"
    export.join()
    assert results == [SpanExportResult.FAILURE]  # DEADLINE_EXCEEDED, at its 2 s timeout
    # The held handler notices by itself once the deadline has passed on the server's clock too (which can be
    # a moment after the client's): released before that, it would still count as answered in time.
    deadline = time.monotonic() + 5
    while receiver.abandoned == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    receiver.release()
    assert receiver.abandoned == 1 and receiver.spans() == []
    assert exporter.export([span]) is SpanExportResult.SUCCESS  # released: answered at once
    assert [s.name for s in receiver.spans()] == ["given up on"]
    exporter.shutdown()


# -- the matrix -----------------------------------------------------------------------------------------------


# Spans exported every 100 ms and metrics every 200 ms, with 20 ms between calls: failing, slow and retried
# exports run while the app makes its calls, not only at shutdown.
OVERLAP = {"OTEL_BSP_SCHEDULE_DELAY": "100"}
OVERLAP_SPEC = {"pause": 0.02, "metric_export_interval": 0.2}


def test_collector_up(tmp_path: Path, receiver: OtlpGrpcReceiver):
    out = run_app(tmp_path, receiver.endpoint, [f"calls:{CLAUDE}", "shutdown"], env=OVERLAP, **OVERLAP_SPEC)
    assert_app_unaffected(out)
    assert out["shutdown_ok"] and out["warnings"] == []
    assert sorted(received_ids(receiver)) == sorted(span["span_id"] for span in out["ended"])


def test_collector_down(tmp_path: Path):
    out = run_app(tmp_path, f"http://127.0.0.1:{_closed_port()}", [f"calls:{CLAUDE}", "shutdown"], env=OVERLAP,
                  **OVERLAP_SPEC)
    assert_app_unaffected(out)
    assert_reported_dropped(out)


def test_collector_slow(tmp_path: Path, receiver: OtlpGrpcReceiver):
    """Each export takes 0.3 s, three times the export interval: exports back up, every span still arrives."""
    receiver.delay = 0.3
    out = run_app(tmp_path, receiver.endpoint, [f"calls:{CLAUDE}", "shutdown"], env=OVERLAP, **OVERLAP_SPEC)
    assert_app_unaffected(out)
    assert out["shutdown_ok"] and out["warnings"] == []
    assert sorted(received_ids(receiver)) == sorted(span["span_id"] for span in out["ended"])


@pytest.mark.parametrize("code", ["UNAVAILABLE", "PERMISSION_DENIED"])
def test_collector_refusing(tmp_path: Path, receiver: OtlpGrpcReceiver, code: str):
    """Retried by the exporter (UNAVAILABLE) or not (PERMISSION_DENIED): dropped, and said once."""
    receiver.refuse(code=grpc.StatusCode[code])
    out = run_app(tmp_path, receiver.endpoint, [f"calls:{CLAUDE}", "shutdown"], env=OVERLAP, **OVERLAP_SPEC)
    assert_app_unaffected(out)
    assert_reported_dropped(out)
    assert receiver.rejected >= 1 and receiver.spans() == []


def test_span_queue_full(tmp_path: Path, receiver: OtlpGrpcReceiver):
    """A queue of 8 while the collector stalls: the overflow is dropped and counted by the SDK; every span is
    either received or in that count."""
    receiver.hold()
    out = run_app(tmp_path, receiver.endpoint, [f"calls:{CLAUDE}", "sync", "shutdown"], on_sync=[receiver.release],
                  env={**OVERLAP, "OTEL_BSP_MAX_QUEUE_SIZE": "8", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "8",
                       "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED": "true"}, calls=12)
    assert_app_unaffected(out)
    assert out["shutdown_ok"]
    ended, received = [span["span_id"] for span in out["ended"]], received_ids(receiver)
    assert set(received) <= set(ended) and len(set(received)) == len(received)
    dropped = dropped_counted(receiver)
    assert dropped >= len(ended) - 16 > 0  # at most 8 spans in the held export and 8 in the queue
    assert len(received) + dropped == len(ended)
    assert [w for w in out["warnings"] if "Queue full" in w], out["warnings"]


# -- the collector comes back ------------------------------------------------------------------------------------

# Calls, an export that fails (the SDK's flush returns once it has ended), the collector comes back, more calls,
# an export that succeeds, shutdown. (Shutdown alone must export the later spans too: see the regression tests
# below.) Export timeout 0.7 s, shorter than the exporter's first back-off (0.8 s or more): the failed
# export makes one attempt, whose UNAVAILABLE makes the exporter open a new channel, and the export after the
# recovery connects afresh instead of waiting out the old channel's reconnect back-off.
RECOVERY = [f"calls:{CLAUDE}", "flush", "sync", f"calls:{CLAUDE_LATER}", "flush", "shutdown"]
RECOVERY_TIMEOUT = 0.7


def _span_names(receiver: OtlpGrpcReceiver) -> List[str]:
    return sorted(span.name for span in receiver.spans())


def test_spans_arrive_again_when_a_down_collector_comes_up(tmp_path: Path):
    port = _closed_port()
    collector = OtlpGrpcReceiver(port=port)
    try:
        out = run_app(tmp_path, f"http://127.0.0.1:{port}", RECOVERY, on_sync=[collector.start],
                      export_timeout=RECOVERY_TIMEOUT)
        assert_app_unaffected(out)
        assert_reported_dropped(out)
        assert _span_names(collector) == [f"chat {CLAUDE_LATER}"] * (2 * CALLS)
    finally:
        collector.stop()


def test_spans_arrive_again_when_a_refusing_collector_accepts(tmp_path: Path, receiver: OtlpGrpcReceiver):
    receiver.refuse()  # UNAVAILABLE until accept()
    out = run_app(tmp_path, receiver.endpoint, RECOVERY, on_sync=[receiver.accept], export_timeout=RECOVERY_TIMEOUT)
    assert_app_unaffected(out)
    assert_reported_dropped(out)
    assert _span_names(receiver) == [f"chat {CLAUDE_LATER}"] * (2 * CALLS)


# -- regressions: bugs this matrix found ----------------------------------------------------------------------------


def test_shutdown_after_an_outage_still_exports_to_the_recovered_collector(tmp_path: Path,
                                                                          receiver: OtlpGrpcReceiver):
    def recover() -> None:  # back, answering in 0.5 s (a remote collector, TLS): well within the 10 s timeout
        receiver.accept()
        receiver.delay = 0.5

    receiver.refuse(code=grpc.StatusCode.PERMISSION_DENIED)
    out = run_app(tmp_path, receiver.endpoint, [f"calls:{CLAUDE}", "flush", "sync", f"calls:{CLAUDE_LATER}",
                                                "shutdown"], on_sync=[recover])
    assert_app_unaffected(out)
    assert _span_names(receiver) == [f"chat {CLAUDE_LATER}"] * (2 * CALLS)


def test_force_flush_reports_failure_when_the_collector_is_down(tmp_path: Path):
    # Export timeout 0.5 s: shorter than the first retry's back-off, so every export fails at its first attempt,
    # within milliseconds. Five flushes: a slow machine could make one of them outlast the 20 ms poll (and
    # return False by luck), not all five.
    steps = [f"calls:{CLAUDE}", "force_flush"] * 5 + ["shutdown"]
    out = run_app(tmp_path, f"http://127.0.0.1:{_closed_port()}", steps, export_timeout=0.5, calls=1)
    assert_app_unaffected(out)
    assert out["flushes"] == [False] * 5
