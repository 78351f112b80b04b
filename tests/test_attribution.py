"""bedrock_otel.attributes: attribution on spans and (allow-listed) on metrics, isolated per thread/task."""

from __future__ import annotations

import asyncio
import threading

import pytest

import bedrock_otel
from bedrock_otel import BedrockInstrumentor
from bedrock_otel.attribution import current_attributes
from bedrock_otel.testing.capture import Capture

from conftest import CLAUDE, user


def test_values_land_on_spans_and_tenant_on_metrics(fake_bedrock, bedrock_spans, bedrock_metrics):
    client = fake_bedrock.client()
    with bedrock_otel.attributes(tenant_id="acme", app_feature="summaries"):
        client.converse(modelId=CLAUDE, messages=user("one two three"))
        with bedrock_otel.attributes(tenant_id="globex"):
            client.converse(modelId=CLAUDE, messages=user("four five"))
    client.converse(modelId=CLAUDE, messages=user("six"))
    first, second, third = sorted(bedrock_spans, key=lambda s: s.start_time)
    assert (first.attributes["tenant.id"], first.attributes["app.feature"]) == ("acme", "summaries")
    assert (second.attributes["tenant.id"], second.attributes["app.feature"]) == ("globex", "summaries")
    assert "tenant.id" not in third.attributes
    acme_input = bedrock_metrics.token_usage("input", **{"tenant.id": "acme"})
    assert acme_input == first.attributes["gen_ai.usage.input_tokens"]
    assert bedrock_metrics.token_usage("input", **{"tenant.id": "globex"}) == 2
    assert not any("app.feature" in p.attributes for p in bedrock_metrics.points())  # not allow-listed


def test_metric_allow_list_is_configurable(fake_bedrock):
    capture = Capture()
    BedrockInstrumentor().instrument(tracer_provider=capture.spans.provider, meter_provider=capture.metrics.provider,
                                     metric_attributes=["app.feature"])
    try:
        with bedrock_otel.attributes({"app.feature": "chat"}, tenant_id="acme"):
            fake_bedrock.client().converse(modelId=CLAUDE, messages=user("hi"))
    finally:
        BedrockInstrumentor().uninstrument()
    point = capture.metrics.points("gen_ai.client.operation.duration")[0]
    assert point.attributes["app.feature"] == "chat"
    assert "tenant.id" not in point.attributes


def test_bad_values_are_clear_errors():
    with pytest.raises(TypeError, match=r"tenant\.id"):
        bedrock_otel.attributes(tenant_id=["a", "b"])
    with pytest.raises(ValueError, match="metric_attributes"):
        BedrockInstrumentor().instrument(metric_attributes="tenant.id")
    assert not BedrockInstrumentor().is_instrumented_by_opentelemetry


def test_decorator_and_isolation_across_threads_and_tasks():
    seen = {}

    @bedrock_otel.attributes(tenant_id="decorated")
    def work(name):
        seen[name] = dict(current_attributes())

    def in_thread(i):
        with bedrock_otel.attributes(tenant_id=f"t{i}"):
            seen[f"thread{i}"] = dict(current_attributes())

    threads = [threading.Thread(target=in_thread, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    work("plain")

    async def task(i):
        with bedrock_otel.attributes(tenant_id=f"a{i}"):
            await asyncio.sleep(0.001 * (8 - i))
            seen[f"task{i}"] = dict(current_attributes())

    async def main():
        await asyncio.gather(*(task(i) for i in range(8)))

    asyncio.run(main())
    assert all(seen[f"thread{i}"] == {"tenant.id": f"t{i}"} for i in range(8))
    assert all(seen[f"task{i}"] == {"tenant.id": f"a{i}"} for i in range(8))
    assert seen["plain"] == {"tenant.id": "decorated"}
    assert dict(current_attributes()) == {}
