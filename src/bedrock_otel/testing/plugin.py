"""pytest plugin (entry point ``pytest11``): fixtures to assert on an application's Bedrock telemetry.

* ``fake_bedrock`` — a real HTTP server on 127.0.0.1 speaking Bedrock Runtime's wire protocol;
  ``fake_bedrock.client()`` gives a boto3 client wired to it (no AWS account needed).
* ``bedrock_spans`` / ``bedrock_metrics`` — what bedrock-otel emitted during the test, captured in
  memory. Requesting either instruments Bedrock for the test and restores the previous state after.
  ``@pytest.mark.bedrock_otel(**kwargs)`` passes ``instrument()`` keyword arguments for that test
  (e.g. ``capture_content="SPAN_ONLY"``, ``chunk_gap_metrics=True``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import pytest

from ..instrumentor import BedrockInstrumentor
from .capture import Capture, CapturedMetrics, CapturedSpans

if TYPE_CHECKING:
    from .fake_server import FakeBedrock


MARKER = "bedrock_otel"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(**kwargs): instrument() keyword arguments for the "
                            "bedrock_spans / bedrock_metrics fixtures of this test")


@pytest.fixture
def bedrock_telemetry(request: pytest.FixtureRequest) -> Iterator[Capture]:
    """Instrument Bedrock into fresh in-memory providers for one test (options: the ``bedrock_otel`` mark)."""
    marker = request.node.get_closest_marker(MARKER)
    options = dict(marker.kwargs) if marker is not None else {}
    if marker is not None and marker.args:
        raise TypeError(f"@pytest.mark.{MARKER} takes keyword arguments only (instrument()'s), got {marker.args!r}")
    for reserved in ("tracer_provider", "meter_provider"):
        if reserved in options:
            raise TypeError(f"@pytest.mark.{MARKER}: {reserved} is the fixture's own; use it without the fixture")
    capture = Capture()
    instrumentor = BedrockInstrumentor()
    previous = instrumentor.instrument_kwargs if instrumentor.is_instrumented_by_opentelemetry else None
    if previous is not None:
        instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=capture.spans.provider, meter_provider=capture.metrics.provider,
                            **options)
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
