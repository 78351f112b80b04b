"""examples/ecs-sidecar: the task's app container as a real process, configured only by task-definition.json.

Runs the example's ``run_locally.run()``: the app against the fake Bedrock, a fake ECS task metadata endpoint and
an OTLP/HTTP receiver in the CloudWatch agent sidecar's place.
"""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from typing import Any, Dict

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ecs-sidecar"
MODEL = "us.amazon.nova-lite-v1:0"


@pytest.fixture(scope="module")
def result() -> Dict[str, Any]:
    spec = importlib.util.spec_from_file_location("ecs_sidecar_run_locally", EXAMPLE / "run_locally.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    started = time.monotonic()
    found = module.run()
    found["seconds"] = time.monotonic() - started
    return found


def test_the_app_continues_the_callers_trace_and_reports_bedrock(result: Dict[str, Any]):
    assert result["seconds"] < 20 and result["exit_code"] == 0, result["stderr"]
    assert [answer["status"] for answer in result["answers"]] == [200, 200], result["stderr"]
    spans = result["spans"]
    for header in result["headers"]:
        root, parent = header.split(";")[0][len("Root=1-"):].replace("-", ""), header.split(";")[1][len("Parent="):]
        bedrock, server = sorted((s for s in spans if s.trace_id == root), key=lambda s: s.kind)  # CLIENT, SERVER
        assert (server.kind, server.name, server.parent_span_id) == ("SERVER", "POST /ask", parent)
        assert (bedrock.kind, bedrock.parent_span_id) == ("CLIENT", server.span_id)
        assert bedrock.attributes["gen_ai.request.model"] == MODEL
        assert bedrock.attributes["gen_ai.usage.input_tokens"] > 0
        assert bedrock.attributes["aws.remote.service"] == "AWS::BedrockRuntime"
        assert bedrock.attributes["aws.remote.resource.type"] == "AWS::Bedrock::Model"
        assert bedrock.attributes["aws.remote.resource.identifier"] == MODEL
        assert bedrock.attributes["aws.local.service"] == "assistant"
        assert server.attributes["aws.span.kind"] == "LOCAL_ROOT"  # its parent is remote
    resource = spans[0].resource
    assert resource["service.name"] == "assistant"
    assert resource["cloud.platform"] == "aws_ecs"
    assert resource["aws.ecs.task.arn"].startswith("arn:aws:ecs:us-east-1:111122223333:task/assistants/")
    assert resource["aws.log.group.names"] == ("/ecs/assistant",)


def test_application_signals_metrics_reach_the_agent(result: Dict[str, Any]):
    latency = result["app_signals"]["Latency"]
    dependency = [p for p in latency if p.attributes.get("aws.remote.service") == "AWS::BedrockRuntime"]
    assert sum(p.count for p in dependency) == 2
    assert dependency[0].attributes["aws.remote.resource.identifier"] == MODEL
    assert dependency[0].resource["aws.ecs.cluster.arn"].endswith(":cluster/assistants")
    assert {p.temporality for p in latency} == {"DELTA"}


def test_task_definition():
    task = json.loads((EXAMPLE / "task-definition.json").read_text())
    containers = {c["name"]: c for c in task["containerDefinitions"]}
    assert set(containers) == {"ecs-cwagent", "assistant"}  # no ADOT init container, no shared volume
    assert "volumes" not in task and all("mountPoints" not in c for c in containers.values())
    agent_config = json.loads(containers["ecs-cwagent"]["environment"][0]["value"])
    assert "application_signals" in agent_config["traces"]["traces_collected"]
    assert "application_signals" in agent_config["logs"]["metrics_collected"]
    env = {item["name"]: item["value"] for item in containers["assistant"]["environment"]}
    assert env["OTEL_AWS_APPLICATION_SIGNALS_ENABLED"] == "true"
    assert env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == "http://localhost:4316/v1/traces"
    assert env["OTEL_AWS_APPLICATION_SIGNALS_EXPORTER_ENDPOINT"] == "http://localhost:4316/v1/metrics"
    assert not any(key in env for key in ("PYTHONPATH", "OTEL_PYTHON_DISTRO", "OTEL_PYTHON_CONFIGURATOR"))
    assert containers["assistant"]["dependsOn"] == [{"containerName": "ecs-cwagent", "condition": "START"}]
    assert task["networkMode"] == "awsvpc"  # localhost:4316 reaches the agent container
