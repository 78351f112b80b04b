"""Project-wide test rules: every span bedrock-otel starts must end by the end of the test."""

from __future__ import annotations

import gc
import json
import os
import sys
from typing import Any, Dict, List

import pytest

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "amazon.nova-lite-v1:0"
TITAN = "amazon.titan-text-express-v1"

# Python 3.9's subprocess forks (3.10+ uses vfork), so gRPC's fork handlers run in each child the tests spawn
# while a gRPC receiver or exporter is busy here, and now and then abort it before exec. No test forks itself.
if sys.version_info < (3, 10):
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")


def user(text: str) -> List[Dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def anthropic_body(text: str = "Hello there Claude", **extra: Any) -> str:
    return json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                       "messages": [{"role": "user", "content": text}], **extra})


def nova_body(text: str = "Hello there Nova", **config: Any) -> str:
    return json.dumps({"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": text}]}],
                       "inferenceConfig": {"maxTokens": 100, **config}})


def titan_body(text: str = "Hello there Titan", **config: Any) -> str:
    return json.dumps({"inputText": text, "textGenerationConfig": {"maxTokenCount": 100, **config}})


@pytest.fixture(autouse=True)
def _every_span_ends(request: pytest.FixtureRequest):
    yield
    capture = request.node.funcargs.get("bedrock_telemetry") if hasattr(request.node, "funcargs") else None
    if capture is not None:
        gc.collect()
        unfinished = capture.spans.unfinished
        assert not unfinished, f"spans never ended: {[s.name for s in unfinished]}"
