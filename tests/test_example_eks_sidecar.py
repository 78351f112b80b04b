"""examples/eks-sidecar: chatbot (instrumented as the operator would) → ragapi sidecar → Bedrock, as real processes.

Runs the example's own ``run_locally.run()``: both apps as subprocesses against the fake Bedrock, an OTLP/HTTP
receiver for the CloudWatch agent (traces + Application Signals metrics) and an OTLP/gRPC receiver for the GenAI
metrics. chatbot uses the ADOT distro when it is installed, else bedrock-otel's distro standing in for it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "eks-sidecar"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
APP_SIGNALS_KEYS = ("aws.local.service", "aws.local.operation", "aws.remote.service", "aws.remote.operation",
                    "aws.remote.resource.type", "aws.remote.resource.identifier", "aws.span.kind")

pytestmark = pytest.mark.skipif(
    shutil.which("opentelemetry-instrument", path=os.path.dirname(sys.executable)) is None,
    reason="opentelemetry-instrument not installed (test extra: opentelemetry-distro)")


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("eks_sidecar_run_locally", EXAMPLE / "run_locally.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example() -> Any:
    return _load()


@pytest.fixture(scope="module")
def results(example: Any) -> Dict[str, Dict[str, Any]]:
    found = {}
    for variant in ("sidecar-image", "annotation"):
        started = time.monotonic()
        found[variant] = example.run(annotation=variant == "annotation")
        found[variant]["seconds"] = time.monotonic() - started
    return found


def _trace(spans: List[Any], bedrock: Any) -> List[Any]:
    """The chain from the Bedrock span up to its root."""
    by_id = {span.span_id: span for span in spans}
    chain = [bedrock]
    while chain[-1].parent_span_id in by_id:
        chain.append(by_id[chain[-1].parent_span_id])
    return list(reversed(chain))


@pytest.mark.parametrize("variant", ["sidecar-image", "annotation"])
def test_one_trace_from_chatbot_through_ragapi_to_bedrock(results: Dict[str, Dict[str, Any]], variant: str):
    result = results[variant]
    assert result["seconds"] < 20, result["stderr"]
    assert [answer["status"] for answer in result["answers"]] == [200, 200, 502], result["stderr"]
    spans = result["spans"]
    bedrock = [span for span in spans if span.attributes.get("gen_ai.request.model") == MODEL]
    assert len(bedrock) == 3, ([s.name for s in spans], result["stderr"])
    for span in bedrock:
        chain = _trace(spans, span)
        assert [(s.resource["service.name"], s.kind, s.name) for s in chain] == [
            ("chatbot", "SERVER", "POST /chat"), ("chatbot", "CLIENT", "POST"),
            ("ragapi", "SERVER", "POST /ask"), ("ragapi", "CLIENT", f"chat {MODEL}")], result["stderr"]
        assert chain[0].parent_span_id is None
        assert len({s.trace_id for s in chain}) == 1
        trace_id = span.trace_id
        assert abs(int(trace_id[:8], 16) - time.time()) < 600, trace_id  # X-Ray id: epoch seconds first
        assert span.attributes["aws.remote.service"] == "AWS::BedrockRuntime"
        assert span.attributes["aws.remote.resource.type"] == "AWS::Bedrock::Model"
        assert span.attributes["aws.remote.resource.identifier"] == MODEL
        assert span.attributes["aws.local.service"] == "ragapi"
        assert span.attributes["aws.local.operation"] == "POST /ask"
    ok = [span for span in bedrock if span.status_code != "ERROR"]
    assert len(ok) == 2 and all(span.attributes["gen_ai.usage.input_tokens"] > 0 for span in ok)
    assert all(span.attributes["gen_ai.usage.output_tokens"] > 0 for span in ok)
    (throttled,) = [span for span in bedrock if span.status_code == "ERROR"]
    assert throttled.attributes["error.type"] == "ThrottlingException"


@pytest.mark.parametrize("variant", ["sidecar-image", "annotation"])
def test_application_signals_edges(results: Dict[str, Dict[str, Any]], variant: str):
    latency = results[variant]["app_signals"]["Latency"]
    edges: Dict[tuple, int] = {}
    for point in latency:
        a = point.attributes
        key = (a["aws.local.service"], a["aws.local.operation"], a.get("aws.remote.service"),
               a.get("aws.remote.resource.type"), a.get("aws.remote.resource.identifier"))
        edges[key] = edges.get(key, 0) + point.count
    assert edges == {
        ("chatbot", "POST /chat", None, None, None): 3,
        ("chatbot", "POST /chat", "ragapi", None, None): 3,  # peer.service on chatbot's client span
        ("ragapi", "POST /ask", None, None, None): 3,
        ("ragapi", "POST /ask", "AWS::BedrockRuntime", "AWS::Bedrock::Model", MODEL): 3,
    }
    assert {p.temporality for p in latency} == {"DELTA"}


def test_both_fixes_draw_the_same_map(results: Dict[str, Dict[str, Any]]):
    """The span attributes Application Signals uses are identical whichever fix is applied."""

    def signals(result: Dict[str, Any]) -> List[Dict[str, Any]]:
        return sorted(({key: span.attributes.get(key) for key in APP_SIGNALS_KEYS} for span in result["spans"]),
                      key=str)

    assert signals(results["sidecar-image"]) == signals(results["annotation"])


def test_genai_metrics_reach_the_metrics_backend(results: Dict[str, Dict[str, Any]]):
    result = results["sidecar-image"]
    tokens = result["genai_metrics"]["gen_ai.client.token.usage"]
    latest: Dict[tuple, Any] = {}  # cumulative temporality: each export repeats the totals so far
    for point in sorted(tokens, key=lambda p: p.time_unix_nano):
        latest[tuple(sorted(point.attributes.items()))] = point
    spans = [s for s in result["spans"] if s.attributes.get("gen_ai.usage.input_tokens")]
    assert sum(p.sum for p in latest.values() if p.attributes["gen_ai.token.type"] == "input") == \
        sum(s.attributes["gen_ai.usage.input_tokens"] for s in spans)
    assert {p.resource["service.name"] for p in tokens} == {"ragapi"}


def _pod(path: Path) -> Dict[str, Any]:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert {d["kind"] for d in documents} == {"Deployment", "Service"}
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    return deployment["spec"]["template"]


def test_manifests():
    annotated = _pod(EXAMPLE / "k8s" / "annotation.yaml")
    annotations = annotated["metadata"]["annotations"]
    assert annotations["instrumentation.opentelemetry.io/inject-python"] == "true"
    assert annotations["instrumentation.opentelemetry.io/python-container-names"] == "chatbot,ragapi"
    assert [c["name"] for c in annotated["spec"]["containers"]] == ["chatbot", "ragapi"]

    baked = _pod(EXAMPLE / "k8s" / "sidecar-image.yaml")
    assert baked["metadata"]["annotations"] == {"instrumentation.opentelemetry.io/inject-python": "true"}
    chatbot, ragapi = baked["spec"]["containers"]
    assert (chatbot["name"], ragapi["name"]) == ("chatbot", "ragapi")  # chatbot first: the one injected
    env = {item["name"]: item.get("value") for item in ragapi["env"]}
    assert env["OTEL_AWS_APPLICATION_SIGNALS_ENABLED"] == "true"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].endswith(":4316/v1/traces")
    assert env["OTEL_AWS_APPLICATION_SIGNALS_EXPORTER_ENDPOINT"].endswith(":4316/v1/metrics")
    assert env["OTEL_SERVICE_NAME"] == "ragapi"

    dockerfile = (EXAMPLE / "ragapi" / "Dockerfile").read_text()
    assert "bedrock-otel" in dockerfile and 'CMD ["python", "app.py"]' in dockerfile
