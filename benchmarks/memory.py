"""Peak memory for one big InvokeModel response body, each measurement in a fresh process.

``python -m benchmarks.memory --contender KEY --transport stub|loopback --read all|chunks
--measure rss|tracemalloc [--endpoint URL] [--size BYTES]`` prints one JSON line.

The worker imports every contender's package whatever it measures (so the baseline carries the
same modules), makes one small warm-up call, then one call whose body is ``--size`` bytes, read
the way an application would: ``body.read()`` at once (``all``), or ``iter_chunks(1 MiB)`` with
each chunk dropped after use (``chunks``). ``rss`` reports ``ru_maxrss`` (peak resident set of the
whole process life); ``tracemalloc`` reports the peak of Python allocations during the big call.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tracemalloc
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from . import payloads
from .contenders import BedrockOtel

CHUNK = 1024 * 1024
MIB = 1024 * 1024


def _current_rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _consume(body: Any, how: str) -> int:
    if how == "all":
        return len(body.read())
    size = 0
    for chunk in body.iter_chunks(CHUNK):
        size += len(chunk)
    return size


def worker(argv: List[str]) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory")
    parser.add_argument("--contender", required=True)
    parser.add_argument("--transport", choices=("stub", "loopback"), default="stub")
    parser.add_argument("--endpoint", default="")
    parser.add_argument("--read", choices=("all", "chunks"), default="all")
    parser.add_argument("--measure", choices=("rss", "tracemalloc"), default="rss")
    parser.add_argument("--size", type=int, default=payloads.BIG_BODY_BYTES)
    parser.add_argument("--options", default="{}", help="bedrock-otel instrument() options, as JSON")
    args = parser.parse_args(argv)

    from . import contenders, transports

    contenders.BedrockOtel.options = json.loads(args.options)

    everyone = contenders.all_contenders()  # import every package, whichever one is measured
    contender = next(c for c in everyone if c.key == args.contender)
    if not contender.available:
        return {"error": f"not available: {contender.reason}"}
    invoke = payloads.invoke_params()
    if args.transport == "stub":
        stub = transports.StubTransport(stream_events=10)
        client = stub.client()
        big: Optional[bytes] = payloads.big_anthropic_body(args.size)
    else:
        stub = None
        client = transports.boto3_client(args.endpoint)
        big = None
    contender.instrument()
    _consume(client.invoke_model(**invoke)["body"], args.read)  # warm-up: small body
    if stub is not None and big is not None:
        stub.invoke_body = big
    del big
    gc.collect()
    before_rss = _current_rss()
    if args.measure == "tracemalloc":
        tracemalloc.start()
        tracemalloc.reset_peak()
    response = client.invoke_model(**invoke)
    size = _consume(response["body"], args.read)
    response["body"].close()
    del response
    peak_traced = tracemalloc.get_traced_memory()[1] if args.measure == "tracemalloc" else None
    if args.measure == "tracemalloc":
        tracemalloc.stop()
    gc.collect()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    spans = contender.sdk.exporter.genai if contender.sdk else 0
    contender.uninstrument()
    if size != args.size:
        return {"error": f"read {size} bytes, expected {args.size}"}
    return {
        "contender": args.contender, "transport": args.transport, "read": args.read, "measure": args.measure,
        "maxrss": maxrss, "rss_before": before_rss, "traced_peak": peak_traced, "spans": spans,
    }


# --------------------------------------------------------------------------------------------------
# orchestration (parent side)
# --------------------------------------------------------------------------------------------------


@dataclass
class MemoryCell:
    """One (transport, read pattern, contender): peak RSS and tracemalloc peak, bytes."""

    maxrss: Optional[int] = None
    rss_before: Optional[int] = None
    traced_peak: Optional[int] = None
    spans: List[int] = field(default_factory=list)
    error: str = ""


def _run_worker(args: List[str]) -> subprocess.Popen[str]:
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return subprocess.Popen([sys.executable, "-m", "benchmarks.memory", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=root, env=env)


def _collect(proc: subprocess.Popen[str], cell: MemoryCell) -> None:
    out, err = proc.communicate(timeout=300)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        cell.error = (err.strip().splitlines() or [f"exit {proc.returncode}"])[-1][:200]
        return
    data = json.loads(lines[-1])
    if "error" in data:
        cell.error = data["error"]
        return
    if data["measure"] == "rss":
        cell.maxrss, cell.rss_before = data["maxrss"], data["rss_before"]
    else:
        cell.traced_peak = data["traced_peak"]
    cell.spans.append(data["spans"])


def measure_all(keys: List[str], transports: List[str], reads: List[str], measures: List[str],
                loopback: Any = None, size: int = payloads.BIG_BODY_BYTES,
                parallel: int = 2) -> Dict[tuple, MemoryCell]:
    """Every combination, each in a fresh process; stub runs ``parallel`` at a time, loopback ones alone."""
    cells: Dict[tuple, MemoryCell] = {}
    jobs = [(t, r, k, m) for t in transports for r in reads for k in keys for m in measures]
    for job in jobs:
        cells.setdefault(job[:3], MemoryCell())
    stub_jobs = [j for j in jobs if j[0] == "stub"]
    running: List[tuple] = []

    def argv(job: tuple) -> List[str]:
        transport, read, key, measure = job
        args = ["--contender", key, "--transport", transport, "--read", read, "--measure", measure,
                "--size", str(size), "--options", json.dumps(BedrockOtel.options)]
        if transport == "loopback":
            args += ["--endpoint", loopback.endpoint_url]
        return args

    for job in stub_jobs:
        running.append((job, _run_worker(argv(job))))
        if len(running) >= parallel:
            done, proc = running.pop(0)
            _collect(proc, cells[done[:3]])
    for done, proc in running:
        _collect(proc, cells[done[:3]])
    for job in (j for j in jobs if j[0] == "loopback"):
        loopback.command("big", size)
        proc = _run_worker(argv(job))
        _collect(proc, cells[job[:3]])
    if loopback is not None and any(j[0] == "loopback" for j in jobs):
        loopback.command("reset")
    return cells


if __name__ == "__main__":
    print(json.dumps(worker(sys.argv[1:])), flush=True)
