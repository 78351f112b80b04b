"""Run the task on this machine, offline: the assistant container as a real process with the environment from
task-definition.json, a fake Bedrock, a fake ECS task metadata endpoint, and an OTLP/HTTP receiver standing in
for the CloudWatch agent sidecar on localhost:4316.

    python examples/ecs-sidecar/run_locally.py

Requests arrive with an ``X-Amzn-Trace-Id`` header, as from an X-Ray-instrumented caller; the app continues
that trace.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List

from bedrock_otel.testing.fake_server import FakeBedrock
from bedrock_otel.testing.otlp_receiver import OtlpHttpReceiver

HERE = Path(__file__).resolve().parent
AGENT = "http://localhost:4316"
ACCOUNT, REGION, CLUSTER = "111122223333", "us-east-1", "assistants"
TASK_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/0f1e2d3c4b5a69788796a5b4c3d2e1f0"
CONTAINER = {  # GET ${ECS_CONTAINER_METADATA_URI_V4}: the fields the ECS resource detector reads
    "Name": "assistant", "ContainerARN": f"arn:aws:ecs:{REGION}:{ACCOUNT}:container/{CLUSTER}/0f1e/9a8b",
    "LogDriver": "awslogs",
    "LogOptions": {"awslogs-group": "/ecs/assistant", "awslogs-region": REGION,
                   "awslogs-stream": "ecs/assistant/0f1e2d3c4b5a69788796a5b4c3d2e1f0"},
}
TASK = {"Cluster": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}", "TaskARN": TASK_ARN, "Family": "assistant",
        "Revision": "3", "LaunchType": "FARGATE"}


def container_env(name: str, agent: str) -> Dict[str, str]:
    """One container's ``environment`` from task-definition.json, with the agent's address replaced."""
    task = json.loads((HERE / "task-definition.json").read_text())
    for container in task["containerDefinitions"]:
        if container["name"] == name:
            return {item["name"]: item["value"].replace(AGENT, agent) for item in container.get("environment", [])}
    raise LookupError(name)


class _Metadata(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # http.server naming
        body = json.dumps(TASK if self.path.endswith("/task") else CONTAINER).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def task_metadata_endpoint() -> Iterator[str]:
    """A stand-in for ECS's task metadata endpoint v4; yields its URI."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metadata)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v4/0f1e2d3c-assistant"
    finally:
        server.shutdown()
        server.server_close()


def xray_header() -> str:
    """What an X-Ray-instrumented caller sends: Root (epoch seconds + 96 random bits), Parent, Sampled."""
    return (f"Root=1-{int(time.time()):08x}-{random.getrandbits(96):024x};"
            f"Parent={random.getrandbits(64):016x};Sampled=1")


def _ask(port: int, question: str, header: str) -> Dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/ask", json.dumps({"question": question}),
                           {"Content-Type": "application/json", "X-Amzn-Trace-Id": header})
        response = connection.getresponse()
        return {"status": response.status, **json.loads(response.read())}
    finally:
        connection.close()


def run(questions: List[str] = ["What is Fargate?", "And ECS?"]) -> Dict[str, Any]:  # noqa: B006
    """Start the task, ask, stop (SIGTERM, as ECS does), and return what the agent received."""
    with FakeBedrock() as fake, OtlpHttpReceiver() as agent, task_metadata_endpoint() as metadata, \
            tempfile.TemporaryFile(mode="w+") as log:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "ECS_", "PYTEST_"))}
        env.update(container_env("assistant", agent.endpoint))
        env.update(ECS_CONTAINER_METADATA_URI_V4=metadata, AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION,
                   AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
                   AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                   BEDROCK_ENDPOINT_URL=fake.endpoint_url, HOST="127.0.0.1", PORT="0", PYTHONUNBUFFERED="1",
                   OTEL_BSP_SCHEDULE_DELAY="200", OTEL_METRIC_EXPORT_INTERVAL="1000")
        process = subprocess.Popen([sys.executable, str(HERE / "app" / "app.py")], env=env, stdout=subprocess.PIPE,
                                   stderr=log, text=True)
        try:
            line = process.stdout.readline() if process.stdout else ""
            if "listening on" not in line:
                raise RuntimeError(f"the app did not start: {line}")
            port = int(line.rsplit(" ", 1)[1])
            headers = [xray_header() for _ in questions]
            answers = [_ask(port, question, header) for question, header in zip(questions, headers)]
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.seek(0)
            stderr = log.read()
        return {"answers": answers, "headers": headers, "spans": agent.spans(), "app_signals": agent.metrics(),
                "exit_code": process.returncode, "stderr": stderr}


def main() -> None:
    started = time.monotonic()
    result = run()
    for header, answer in zip(result["headers"], result["answers"]):
        print(f"request {header}\n  answer ({answer['status']}): {str(answer.get('answer'))[:60]}")
    for span in sorted(result["spans"], key=lambda s: s.start_time_unix_nano):
        a = span.attributes
        print(f"  trace {span.trace_id} {span.kind} {span.name!r} → {a.get('aws.remote.service', '-')} "
              f"{a.get('aws.remote.resource.identifier', '')} tokens {a.get('gen_ai.usage.input_tokens', '-')}")
    resource = result["spans"][0].resource if result["spans"] else {}
    print("resource:", {k: v for k, v in resource.items() if k.startswith(("aws.ecs", "aws.log", "cloud", "service"))})
    for point in result["app_signals"].get("Latency", []):
        print("  Latency", point.count, {k: v for k, v in point.attributes.items() if "remote" in k or "local" in k})
    print(f"done in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
