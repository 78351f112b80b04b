"""Run the pod on this machine, offline: chatbot and ragapi as real processes, a fake Bedrock, and OTLP receivers
standing in for the CloudWatch agent (OTLP/HTTP: traces and Application Signals metrics) and for an OTLP metrics
backend (gRPC: bedrock-otel's GenAI metrics). Prints the trace and what Application Signals would draw.

    python examples/eks-sidecar/run_locally.py                 # fix 2: the sidecar image, no injection
    python examples/eks-sidecar/run_locally.py --annotation    # fix 1: both containers injected

chatbot runs under ``opentelemetry-instrument`` with the variables the CloudWatch agent operator injects. With
the ADOT distro installed (``pip install aws-opentelemetry-distro``) that is the real thing; without it,
bedrock-otel's own distro and configurator stand in, with Application Signals on. ragapi gets its variables
from k8s/sidecar-image.yaml (fix 2) or from the operator's (fix 1), with the agent's address pointed here.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

from bedrock_otel.testing.fake_server import FakeBedrock, Reply
from bedrock_otel.testing.otlp_receiver import OtlpGrpcReceiver, OtlpHttpReceiver

HERE = Path(__file__).resolve().parent
AGENT = "http://cloudwatch-agent.amazon-cloudwatch:4316"
QUESTIONS = ("How do sidecars talk on EKS?", "What are Application Signals?")


def adot_installed() -> bool:
    try:
        return importlib.util.find_spec("amazon.opentelemetry.distro") is not None
    except ImportError:  # no "amazon" namespace package at all
        return False


def operator_env(agent: str) -> Dict[str, str]:
    """What the operator sets in an injected Python container (Application Signals on), for a local run.

    Differences from the cluster: the X-Ray sampler (``OTEL_TRACES_SAMPLER=xray``, which asks the agent for
    sampling rules) is replaced by always-on; runtime metrics and the distro's "service events" (which post to
    localhost:4316) are off.
    """
    distro = "aws" if adot_installed() else "bedrock_otel"
    return {
        "OTEL_PYTHON_DISTRO": "aws_distro" if distro == "aws" else "bedrock_otel",
        "OTEL_PYTHON_CONFIGURATOR": "aws_configurator" if distro == "aws" else "bedrock_otel",
        "OTEL_AWS_APPLICATION_SIGNALS_ENABLED": "true",
        "OTEL_AWS_APPLICATION_SIGNALS_RUNTIME_ENABLED": "false",
        "OTEL_AWS_SERVICE_EVENTS_ENABLED": "false",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{agent}/v1/traces",
        "OTEL_AWS_APPLICATION_SIGNALS_EXPORTER_ENDPOINT": f"{agent}/v1/metrics",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_PROPAGATORS": "tracecontext,baggage,xray",
    }


def manifest_env(manifest: Path, container: str, agent: str) -> Dict[str, str]:
    """The literal ``env`` values of one container in the manifest, with the agent's address replaced."""
    for document in yaml.safe_load_all(manifest.read_text()):
        if document and document.get("kind") == "Deployment":
            for spec in document["spec"]["template"]["spec"]["containers"]:
                if spec["name"] == container:
                    return {item["name"]: str(item["value"]).replace(AGENT, agent)
                            for item in spec.get("env", []) if "value" in item and "$(" not in str(item["value"])}
    raise LookupError(f"no container {container!r} in {manifest}")


def _base_env(fake: FakeBedrock) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "PYTEST_"))}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               AWS_MAX_ATTEMPTS="1", AWS_RETRY_MODE="standard", BEDROCK_ENDPOINT_URL=fake.endpoint_url,
               HOST="127.0.0.1", PORT="0", PYTHONUNBUFFERED="1",
               OTEL_BSP_SCHEDULE_DELAY="200", OTEL_METRIC_EXPORT_INTERVAL="1000",
               OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=_other_instrumentors())
    return env


def _other_instrumentors() -> str:
    """Instrumentors installed here besides bedrock-otel's and botocore's (another Bedrock one would add spans)."""
    from bedrock_otel.aws.settings import entry_points

    keep = ("bedrock_otel.", "opentelemetry.instrumentation.botocore")
    return ",".join(ep.name for ep in entry_points("opentelemetry_instrumentor") if not ep.value.startswith(keep))


def _instrument_command() -> List[str]:
    found = shutil.which("opentelemetry-instrument", path=os.path.dirname(sys.executable))
    if found is None:
        raise RuntimeError("opentelemetry-instrument is not installed (pip install opentelemetry-distro)")
    return [found]


class App:
    """One container: a process whose first line says which port it listens on."""

    def __init__(self, name: str, command: List[str], env: Dict[str, str]) -> None:
        self.name = name
        self.stderr = ""
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=self._log, text=True)
        line = self.process.stdout.readline() if self.process.stdout else ""
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"{name} did not start: {line}{self.stderr}")
        self.port = int(line.rsplit(" ", 1)[1])

    def stop(self) -> None:
        """SIGTERM, as Kubernetes does; the app exits normally and its OpenTelemetry exit hook flushes."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
        self._log.seek(0)
        self.stderr = self._log.read()
        self._log.close()


def _post(port: int, path: str, payload: Dict[str, Any]) -> Dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, json.dumps(payload), {"Content-Type": "application/json"})
        response = connection.getresponse()
        return {"status": response.status, **json.loads(response.read())}
    finally:
        connection.close()


def run(annotation: bool = False, throttle: bool = True) -> Dict[str, Any]:
    """Start everything, ask the questions (the last one throttled by Bedrock), stop, and return what arrived."""
    with FakeBedrock() as fake, OtlpHttpReceiver() as agent, OtlpGrpcReceiver() as backend:
        base = _base_env(fake)
        operator = operator_env(agent.endpoint)
        if annotation:  # both containers injected; the manifest adds only the ragapi's own variables
            own = manifest_env(HERE / "k8s" / "annotation.yaml", "ragapi", agent.endpoint)
            ragapi_env = {**base, **operator, **own}
            ragapi_cmd = [*_instrument_command(), sys.executable, str(HERE / "ragapi" / "app.py")]
        else:
            ragapi_env = {**base, **manifest_env(HERE / "k8s" / "sidecar-image.yaml", "ragapi", agent.endpoint),
                          # keep the GenAI metrics the manifest turns off: gRPC to an OTLP metrics backend
                          "OTEL_METRICS_EXPORTER": "otlp_proto_grpc",
                          "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": backend.endpoint}
            ragapi_cmd = [sys.executable, str(HERE / "ragapi" / "app.py")]
        apps: List[App] = []
        try:
            ragapi = App("ragapi", ragapi_cmd, ragapi_env)
            apps.append(ragapi)
            chatbot_env = {**base, **operator, "OTEL_SERVICE_NAME": "chatbot",
                           "RAGAPI_URL": f"http://127.0.0.1:{ragapi.port}"}
            chatbot = App("chatbot", [*_instrument_command(), sys.executable, str(HERE / "chatbot" / "app.py")],
                          chatbot_env)
            apps.append(chatbot)
            answers = [_post(chatbot.port, "/chat", {"question": question}) for question in QUESTIONS]
            if throttle:
                fake.enqueue(Reply.throttle())
                answers.append(_post(chatbot.port, "/chat", {"question": "One more, please"}))
        finally:
            for app in reversed(apps):
                app.stop()
        return {
            "answers": answers,
            "spans": agent.spans(),
            "app_signals": agent.metrics(),
            "genai_metrics": backend.metrics(),
            "distro": "aws-opentelemetry-distro" if adot_installed() else "bedrock_otel (stand-in)",
            "stderr": {app.name: app.stderr for app in apps},
        }


def _print(result: Dict[str, Any]) -> None:
    print(f"chatbot instrumented by: {result['distro']}")
    for answer in result["answers"]:
        print(f"  answer ({answer['status']}): {str(answer.get('answer') or answer.get('error'))[:70]}")
    spans = result["spans"]
    children: Dict[Optional[str], List[Any]] = {}
    for span in sorted(spans, key=lambda s: s.start_time_unix_nano):
        children.setdefault(span.parent_span_id, []).append(span)
    ids = {span.span_id for span in spans}

    def show(span: Any, depth: int) -> None:
        attrs = span.attributes
        extra = ""
        if "gen_ai.request.model" in attrs:
            tokens = f"{attrs.get('gen_ai.usage.input_tokens')}/{attrs.get('gen_ai.usage.output_tokens')}"
            remote = " ".join(str(attrs.get(key)) for key in ("aws.remote.service", "aws.remote.resource.type",
                                                              "aws.remote.resource.identifier"))
            extra = f"  tokens in/out {tokens}  → {remote}"
        print(f"  {'  ' * depth}{span.resource.get('service.name')}: {span.kind} {span.name!r}"
              f" {span.status_code}{extra}")
        for child in children.get(span.span_id, []):
            show(child, depth + 1)

    for root in (s for s in spans if s.parent_span_id is None or s.parent_span_id not in ids):
        print(f"trace {root.trace_id}")
        show(root, 1)
    print("Application Signals (Latency count, Error, Fault) by edge:")
    rows: Dict[tuple, List[float]] = {}
    for name in ("Latency", "Error", "Fault"):
        for point in result["app_signals"].get(name, []):
            a = point.attributes
            key = (a.get("aws.local.service"), a.get("aws.local.operation"), a.get("aws.remote.service", "-"),
                   a.get("aws.remote.resource.identifier", ""))
            row = rows.setdefault(key, [0, 0, 0])
            row[("Latency", "Error", "Fault").index(name)] += point.count if name == "Latency" else point.sum
    for key, (count, errors, faults) in sorted(rows.items(), key=str):
        print(f"  {key[0]} {key[1]!r} → {key[2]} {key[3]}: {count} calls, {errors:g} errors, {faults:g} faults")
    tokens = result["genai_metrics"].get("gen_ai.client.token.usage", [])
    if tokens:
        print("GenAI token usage:", {p.attributes["gen_ai.token.type"]: p.sum for p in tokens})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotation", action="store_true", help="fix 1: inject both containers")
    args = parser.parse_args()
    started = time.monotonic()
    _print(run(annotation=args.annotation))
    print(f"done in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
