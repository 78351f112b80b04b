"""examples/multi-region-failover: a throttled region fails over to the next, all in one trace."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator, Tuple

import pytest
from botocore.exceptions import ClientError
from opentelemetry.trace import StatusCode

import bedrock_otel
from bedrock_otel.testing import FakeBedrock, Reply

from conftest import CLAUDE, user

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "multi-region-failover"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_multi_region_{name}", EXAMPLE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


failover = _load("failover")


@pytest.fixture(scope="module")
def _regions() -> Iterator[Tuple[FakeBedrock, FakeBedrock]]:
    with FakeBedrock() as east, FakeBedrock() as west:
        yield east, west


@pytest.fixture
def regions(_regions: Tuple[FakeBedrock, FakeBedrock]) -> Tuple[FakeBedrock, FakeBedrock]:
    for fake in _regions:
        fake.reset()
    return _regions


def _port(fake: FakeBedrock) -> int:
    return int(fake.endpoint_url.rsplit(":", 1)[1])


def _failover(east: FakeBedrock, west: FakeBedrock, attempts: int = 2):
    return failover.RegionalFailover([
        east.client(region_name="us-east-1", retries={"total_max_attempts": attempts}),
        west.client(region_name="us-west-2", retries={"total_max_attempts": attempts}),
    ])


def test_throttled_region_fails_over_in_one_trace(regions, bedrock_spans, bedrock_metrics):
    east, west = regions
    east.enqueue(Reply.throttle(), Reply.throttle())  # both of us-east-1's attempts are throttled
    bedrock = _failover(east, west)

    @bedrock_otel.workflow("answer-question")
    def answer(question: str):
        return bedrock.converse(modelId=CLAUDE, messages=user(question))

    response = answer("What is the capital of France?")

    assert [r.operation for r in east.requests] == ["Converse", "Converse"]  # botocore retried once there
    assert [r.operation for r in west.requests] == ["Converse"]
    workflow = bedrock_spans.one(operation="invoke_workflow")
    task = bedrock_spans.one(name="task bedrock-regional-failover")
    chats = sorted(bedrock_spans.all(operation="chat"), key=lambda s: s.start_time)
    assert len(chats) == 2
    assert len({s.context.trace_id for s in bedrock_spans}) == 1, "one trace from the app span to both regions"
    assert task.parent.span_id == workflow.context.span_id
    assert all(chat.parent.span_id == task.context.span_id for chat in chats)

    throttled, served = chats
    a, b = throttled.attributes, served.attributes
    assert (a["aws.region"], b["aws.region"]) == ("us-east-1", "us-west-2")
    assert (a["server.port"], b["server.port"]) == (_port(east), _port(west))
    assert a["server.port"] != b["server.port"]
    assert a["error.type"] == "ThrottlingException"
    assert a["http.response.status_code"] == 429
    assert a["aws.retry_attempts"] == 1
    assert throttled.status.status_code is StatusCode.ERROR
    assert "error.type" not in b
    assert served.status.status_code is StatusCode.UNSET
    assert b["aws.retry_attempts"] == 0
    assert b["gen_ai.usage.input_tokens"] == response["usage"]["inputTokens"] > 0
    assert b["gen_ai.usage.output_tokens"] == response["usage"]["outputTokens"] > 0
    assert "gen_ai.usage.input_tokens" not in a

    [event] = task.events
    assert event.name == failover.FAILOVER_EVENT
    assert dict(event.attributes) == {"aws.region": "us-east-1", "error.type": "ThrottlingException",
                                      "bedrock_otel.failover.next_region": "us-west-2"}
    assert task.attributes["bedrock_otel.metadata.served_region"] == "us-west-2"
    assert task.attributes["bedrock_otel.metadata.failovers"] == 1

    # The duration metric has a point per region; the throttled one carries error.type.
    east_points = bedrock_metrics.points("gen_ai.client.operation.duration", region="us-east-1")
    west_points = bedrock_metrics.points("gen_ai.client.operation.duration", region="us-west-2")
    assert [(p.count, p.attributes.get("error.type")) for p in east_points] == [(1, "ThrottlingException")]
    assert [(p.count, p.attributes.get("error.type")) for p in west_points] == [(1, None)]
    assert east_points[0].attributes["server.port"] == _port(east)
    assert west_points[0].attributes["server.port"] == _port(west)
    assert bedrock_metrics.token_usage(region="us-east-1") == 0
    assert bedrock_metrics.token_usage("input", region="us-west-2") == response["usage"]["inputTokens"]
    assert bedrock_metrics.token_usage("output", region="us-west-2") == response["usage"]["outputTokens"]


def test_non_regional_errors_do_not_fail_over(regions, bedrock_spans):
    east, west = regions
    east.enqueue(Reply.error(400, "ValidationException", "messages: bad"))
    with pytest.raises(ClientError) as raised:
        _failover(east, west).converse(modelId=CLAUDE, messages=user("hi"))
    assert failover.error_code(raised.value) == "ValidationException"
    assert west.requests == []
    chat = bedrock_spans.one(operation="chat")
    assert chat.attributes["error.type"] == "ValidationException"
    assert bedrock_spans.one(name="task bedrock-regional-failover").status.status_code is StatusCode.ERROR


def test_every_region_throttled_raises_the_last_error(regions, bedrock_spans, bedrock_metrics):
    east, west = regions
    east.enqueue(Reply.throttle())
    west.enqueue(Reply.throttle())
    with pytest.raises(ClientError) as raised:
        _failover(east, west, attempts=1).converse(modelId=CLAUDE, messages=user("hi"))
    assert failover.error_code(raised.value) == "ThrottlingException"
    chats = sorted(bedrock_spans.all(operation="chat"), key=lambda s: s.start_time)
    assert [c.attributes["aws.region"] for c in chats] == ["us-east-1", "us-west-2"]
    assert all(c.attributes["error.type"] == "ThrottlingException" for c in chats)
    for region in ("us-east-1", "us-west-2"):
        assert bedrock_metrics.count(region=region, error_type="ThrottlingException") == 1


def test_run_local_prints_one_trace_across_two_regions():
    result = subprocess.run([sys.executable, str(EXAMPLE / "run_local.py")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("chat anthropic.claude-3-haiku") == 2
    assert "'aws.region': 'us-east-1'" in out and "'error.type': 'ThrottlingException'" in out
    assert "us-west-2: calls=1" in out
    assert len(out.split("trace ids: [")[1].split("]")[0].split(",")) == 1
