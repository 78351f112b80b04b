"""``bedrock_otel.instrument()`` called more than once, as apps that also call ``configure()`` do."""

from __future__ import annotations

import logging

import pytest

import bedrock_otel
from bedrock_otel.testing.capture import Capture

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "secret prompt"}]}]


@pytest.fixture
def capture():
    capture = Capture()
    yield capture
    bedrock_otel.uninstrument()
    capture.shutdown()


def test_again_with_the_same_arguments_is_silent_and_changes_nothing(fake_bedrock, capture, caplog):
    providers = {"tracer_provider": capture.spans.provider, "meter_provider": capture.metrics.provider}
    first = bedrock_otel.instrument(**providers)
    with caplog.at_level(logging.WARNING):
        again = bedrock_otel.instrument(**providers)
        bare = bedrock_otel.instrument()
    assert first is again is bare
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    fake_bedrock.client().converse(modelId=CLAUDE, messages=MESSAGES)
    assert len(capture.spans.spans) == 1


def test_different_arguments_are_ignored_with_a_warning_naming_them(fake_bedrock, capture, caplog):
    bedrock_otel.instrument(tracer_provider=capture.spans.provider, meter_provider=capture.metrics.provider)
    other = Capture()
    with caplog.at_level(logging.WARNING, logger="bedrock_otel"):
        bedrock_otel.instrument(tracer_provider=other.spans.provider, capture_content="SPAN_ONLY")
    assert "ignoring capture_content, tracer_provider" in caplog.text
    assert "uninstrument()" in caplog.text
    fake_bedrock.client().converse(modelId=CLAUDE, messages=MESSAGES)
    span = capture.spans.one()
    assert "gen_ai.input.messages" not in span.attributes  # the content setting was not changed behind the app
    assert other.spans.spans == []
    other.shutdown()
