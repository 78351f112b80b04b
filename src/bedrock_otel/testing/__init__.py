"""Testing support: a wire-level fake Bedrock, in-memory telemetry capture, and the pytest plugin.

The plugin (:mod:`bedrock_otel.testing.plugin`) is registered under ``pytest11``, so installing
bedrock-otel gives any test suite the ``fake_bedrock``, ``bedrock_spans`` and ``bedrock_metrics``
fixtures.
"""

from .agent_runtime import AgentStep
from .capture import Capture, CapturedMetrics, CapturedSpans, MetricPoint
from .fake_server import FakeBedrock, RecordedRequest, Reply

__all__ = [
    "AgentStep", "Capture", "CapturedMetrics", "CapturedSpans", "FakeBedrock", "MetricPoint", "RecordedRequest",
    "Reply",
]
