"""A local Prometheus stack for the example: workload processes, a real ``prometheus`` server, PromQL helpers.

Used by ``run_local.py`` and by ``tests/test_example_prometheus.py``. Everything listens on 127.0.0.1 and
lives in a temporary directory; :class:`Prometheus` and :class:`WorkloadProcess` stop what they started.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
QUERIES = HERE / "queries.yaml"
ALERTS = HERE / "alerts.yml"
ALERTS_TEST = HERE / "alerts_test.yml"
INSTALL_SCRIPT = REPO / ".ci" / "install-system-deps"
JOB = "bedrock-apps"

# Two "pods" in two namespaces, and the errors each wave injects: (error code, model key, tenant).
DEMO_WORKLOADS: List[Dict[str, str]] = [
    {"namespace": "shop", "deployment": "checkout-assistant", "pod": "checkout-assistant-7d9f8-x2k4q"},
    {"namespace": "support", "deployment": "ticket-summarizer", "pod": "ticket-summarizer-5c6b7-p9m2w"},
]
DEMO_ERRORS: Dict[str, List[List[List[str]]]] = {  # namespace -> per wave
    "shop": [[["ThrottlingException", "claude", "acme"], ["ValidationException", "nova", "globex"]],
             [["ThrottlingException", "claude", "acme"]] * 3 + [["ValidationException", "nova", "globex"]] * 2],
    "support": [[["ThrottlingException", "claude", "globex"]], [["ThrottlingException", "claude", "globex"]]],
}


# -- binaries --------------------------------------------------------------------------------------


def binaries() -> Optional[Dict[str, str]]:
    """Paths of ``prometheus`` and ``promtool`` (PROMETHEUS_BIN / PROMTOOL_BIN override), or None."""
    found = {name: shutil.which(os.environ.get(f"{name.upper()}_BIN") or name) for name in ("prometheus", "promtool")}
    if all(found.values()):
        return {name: str(path) for name, path in found.items()}
    return None


def install(timeout: float = 300.0) -> str:
    """Run .ci/install-system-deps (installs the Debian package when missing); returns its output."""
    if not INSTALL_SCRIPT.exists():
        return f"{INSTALL_SCRIPT} not found"
    try:
        result = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{INSTALL_SCRIPT}: {exc}"
    output = (result.stdout + result.stderr).strip()
    return f"{INSTALL_SCRIPT.name} exited {result.returncode}" + (f": {output}" if output else " without output")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except (OSError, urllib.error.URLError, ValueError) as exc:  # not up yet
            last = exc
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


# -- workload processes ----------------------------------------------------------------------------


class WorkloadProcess:
    """``workload.py`` in a subprocess, driven over its JSON-lines stdin/stdout."""

    def __init__(self, namespace: str, deployment: str, pod: str, latency: float = 0.03) -> None:
        self.namespace = namespace
        command = [sys.executable, str(HERE / "workload.py"), "--namespace", namespace, "--deployment", deployment,
                   "--pod", pod, "--latency", str(latency)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, bufsize=1)
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True, name=f"workload-{namespace}").start()
        self.ready: Dict[str, Any] = {}

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def read(self, event: str, timeout: float = 20.0) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"workload {self.namespace}: no {event!r} within {timeout}s") from None
            if line is None:
                stderr = self.process.stderr.read() if self.process.stderr else ""
                raise RuntimeError(f"workload {self.namespace} exited ({self.process.poll()}): {stderr[-2000:]}")
            message = json.loads(line)
            if message.get("event") == event:
                return message
            if message.get("event") == "error":
                raise RuntimeError(f"workload {self.namespace}: {message}")

    def wait_ready(self, timeout: float = 30.0) -> int:
        self.ready = self.read("ready", timeout)
        return int(self.ready["metrics_port"])

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.ready['metrics_port']}"

    def send(self, command: Dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def start_wave(self, errors: Sequence[Sequence[str]]) -> None:
        self.send({"cmd": "wave", "errors": [list(e) for e in errors]})

    def wave_report(self, timeout: float = 30.0) -> Dict[str, Any]:
        return self.read("wave_done", timeout)["report"]

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.send({"cmd": "quit"})
                self.process.stdin.close()  # type: ignore[union-attr]
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self.process.kill()
                self.process.wait(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


# -- the Prometheus server -------------------------------------------------------------------------


class Prometheus:
    """A real ``prometheus`` on 127.0.0.1 with a generated config, a temporary TSDB and our alert rules."""

    def __init__(self, binary: str, targets: Sequence[str], workdir: Path, scrape_interval: str = "1s",
                 rule_files: Sequence[Path] = (ALERTS,)) -> None:
        self.binary = binary
        self.workdir = Path(workdir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = self.workdir / "prometheus.yml"
        self.config = {
            "global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval,
                       "evaluation_interval": scrape_interval},
            "rule_files": [str(Path(p).resolve()) for p in rule_files],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": list(targets)}]}],
        }
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        self.process: Optional[subprocess.Popen] = None
        self.log_path = self.workdir / "prometheus.log"

    def start(self, timeout: float = 30.0) -> Prometheus:
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [self.binary, f"--config.file={self.config_path}", f"--storage.tsdb.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        log.close()
        try:
            wait_until(self._ready, timeout, what=f"prometheus on {self.url} to be ready")
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"prometheus did not start:\n{self.log()}") from None
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {self.process.returncode}:\n{self.log()}")
        with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
            return response.status == 200

    def log(self) -> str:
        return self.log_path.read_text()[-4000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def __enter__(self) -> Prometheus:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise ValueError(f"{path}: {body}")
        return body["data"]

    def query(self, expr: str) -> List[Tuple[Dict[str, str], float]]:
        """An instant query through ``/api/v1/query``: (labels, value) for each element of the vector."""
        data = self.api("query", query=expr)
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(dict(item["metric"]), float(item["value"][1])) for item in data["result"]]

    def targets_up(self) -> int:
        return int(sum(value for _, value in self.query(f'up{{job="{JOB}"}}')))

    def alerts(self) -> List[Dict[str, Any]]:
        return list(self.api("alerts")["alerts"])


# -- queries and PromQL arithmetic -----------------------------------------------------------------


def load_queries(path: Path = QUERIES) -> Dict[str, Dict[str, Any]]:
    return dict(yaml.safe_load(path.read_text())["queries"])


def histogram_quantile(q: float, bounds: Sequence[float], counts: Sequence[float]) -> float:
    """Prometheus's ``histogram_quantile`` over one histogram: per-bucket ``counts``, the +Inf bucket last."""
    uppers = [*bounds, math.inf]
    cumulative = list(itertools.accumulate(counts))
    if not cumulative or cumulative[-1] == 0:
        return math.nan
    rank = q * cumulative[-1]
    index = next((i for i in range(len(uppers) - 1) if cumulative[i] >= rank), len(uppers) - 1)
    if index == len(uppers) - 1:
        return float(uppers[-2])  # in the +Inf bucket: the highest finite bound
    if index == 0 and uppers[0] <= 0:
        return float(uppers[0])
    start = 0.0 if index == 0 else uppers[index - 1]
    below = 0.0 if index == 0 else cumulative[index - 1]
    return start + (uppers[index] - start) * (rank - below) / (cumulative[index] - below)


def bucket_of(value: float, bounds: Sequence[float]) -> Tuple[float, float]:
    """The (lower, upper] bounds of the histogram bucket ``value`` falls in."""
    lower = 0.0
    for upper in bounds:
        if value <= upper:
            return lower, upper
        lower = upper
    return lower, math.inf
