"""pytest plugin (entry point ``pytest11``): fixtures to assert on an application's Bedrock telemetry.

* ``fake_bedrock`` — a real HTTP server on 127.0.0.1 speaking Bedrock Runtime's wire protocol;
  ``fake_bedrock.client()`` gives a boto3 client wired to it (no AWS account needed).
* ``bedrock_spans`` / ``bedrock_metrics`` — what bedrock-otel emitted during the test, captured in
  memory. Requesting either instruments Bedrock for the test and restores the previous state after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import pytest

from ..instrumentor import BedrockInstrumentor
from .capture import Capture, CapturedMetrics, CapturedSpans

if TYPE_CHECKING:
    from .fake_server import FakeBedrock


@pytest.fixture
def bedrock_telemetry() -> Iterator[Capture]:
    """Instrument Bedrock into fresh in-memory providers for one test."""
    capture = Capture()
    instrumentor = BedrockInstrumentor()
    previous = instrumentor.instrument_kwargs if instrumentor.is_instrumented_by_opentelemetry else None
    if previous is not None:
        instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=capture.spans.provider, meter_provider=capture.metrics.provider)
    try:
        yield capture
    finally:
        instrumentor.uninstrument()
        if previous is not None:
            instrumentor.instrument(**previous)
        capture.shutdown()


@pytest.fixture
def bedrock_spans(bedrock_telemetry: Capture) -> CapturedSpans:
    return bedrock_telemetry.spans


@pytest.fixture
def bedrock_metrics(bedrock_telemetry: Capture) -> CapturedMetrics:
    return bedrock_telemetry.metrics


@pytest.fixture(scope="session")
def _fake_bedrock_server() -> Iterator[FakeBedrock]:
    from .fake_server import FakeBedrock

    server = FakeBedrock().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_bedrock(_fake_bedrock_server: FakeBedrock) -> FakeBedrock:
    """The session's fake Bedrock server, reset (no queued replies, no recorded requests, no latency)."""
    _fake_bedrock_server.reset()
    return _fake_bedrock_server
