"""examples/lambda: the handler invoked as Lambda would (a child process with the runtime's variables), frozen
with SIGSTOP after each return; the spans must already be at the collector by then."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "lambda"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="freezes the function with SIGSTOP")


@pytest.fixture(scope="module")
def example() -> Any:
    spec = importlib.util.spec_from_file_location("lambda_invoke_locally", EXAMPLE / "invoke_locally.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spans_continue_the_lambda_trace_and_arrive_before_the_freeze(example: Any):
    started = time.monotonic()
    result = example.run()
    assert time.monotonic() - started < 20
    first, second = result["invocations"]
    for number, invocation in enumerate((first, second)):
        assert invocation["returned"]["statusCode"] == 200, result["stderr"]
        header = invocation["trace_header"]
        root = header.split(";")[0][len("Root=1-"):].replace("-", "")
        parent = header.split(";")[1][len("Parent="):]
        spans = invocation["spans_at_freeze"]  # nothing was waited for: received before the handler returned
        (server,) = [s for s in spans if s.kind == "SERVER"]
        (bedrock,) = [s for s in spans if s.kind == "CLIENT"]
        assert (server.trace_id, server.parent_span_id) == (root, parent)  # from _X_AMZN_TRACE_ID
        assert (bedrock.trace_id, bedrock.parent_span_id) == (root, server.span_id)
        assert server.name == "ask-bedrock"
        assert server.attributes["faas.invocation_id"] == invocation["request_id"]
        assert server.attributes["faas.coldstart"] is (number == 0)
        assert server.attributes["cloud.resource_id"] == example.ARN
        assert bedrock.attributes["gen_ai.request.model"] == MODEL
        assert bedrock.attributes["gen_ai.usage.input_tokens"] > 0
        # Application Signals on Lambda: the operation is the function's, the dependency is Bedrock's
        assert bedrock.attributes["aws.local.operation"] == "ask-bedrock/FunctionHandler"
        assert bedrock.attributes["aws.remote.service"] == "AWS::BedrockRuntime"
        assert bedrock.attributes["aws.remote.resource.identifier"] == MODEL
        assert server.resource["cloud.platform"] == "aws_lambda" and server.resource["faas.name"] == "ask-bedrock"
        metrics = invocation["metrics_at_freeze"]
        assert "gen_ai.client.token.usage" in metrics
        assert "Latency" not in metrics  # on Lambda, Application Signals derives metrics from the spans
    assert first["trace_header"] != second["trace_header"]


def test_without_the_decorator_nothing_arrives_before_the_freeze(example: Any):
    """The control: the same handler undecorated leaves its spans in the batch queue when the function freezes."""
    result = example.run(questions=["hi"], undecorated=True)
    (invocation,) = result["invocations"]
    assert invocation["returned"]["statusCode"] == 200, result["stderr"]
    assert invocation["spans_at_freeze"] == []
