"""aiobotocore clients: the same spans and metrics as sync, through the same core."""

from __future__ import annotations

import asyncio
import gc
import io
import json
from typing import Any, Optional

import pytest
import wrapt

from bedrock_otel.operations.invoke_model import InvokeModel
from bedrock_otel.testing.fake_server import Reply

from conftest import CLAUDE, NOVA, TITAN, anthropic_body, titan_body, user

aiobotocore_session = pytest.importorskip("aiobotocore.session")


def _run(fake, body):
    """Run ``body(client)`` inside an aiobotocore client wired to ``fake``."""

    async def main():
        from aiobotocore.config import AioConfig

        session = aiobotocore_session.get_session()
        config = AioConfig(signature_version="v4", retries={"mode": "standard", "total_max_attempts": 1})
        async with session.create_client(
            "bedrock-runtime", region_name="us-east-1", endpoint_url=fake.endpoint_url, config=config,
            aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing",
        ) as client:
            return await body(client)

    return asyncio.run(main())


def test_async_converse(fake_bedrock, bedrock_spans, bedrock_metrics):
    async def call(client):
        return await client.converse(modelId=CLAUDE, messages=user("hello async world"))

    response = _run(fake_bedrock, call)
    span = bedrock_spans.one()
    assert span.name == f"chat {CLAUDE}"
    assert span.attributes["gen_ai.usage.input_tokens"] == response["usage"]["inputTokens"]
    assert bedrock_metrics.token_usage("output") == response["usage"]["outputTokens"]


def test_async_converse_stream(fake_bedrock, bedrock_spans, bedrock_metrics):
    async def call(client):
        response = await client.converse_stream(modelId=NOVA, messages=user("stream it"))
        return [event async for event in response["stream"]]

    events = _run(fake_bedrock, call)
    metadata = next(e["metadata"] for e in events if "metadata" in e)
    a = bedrock_spans.one().attributes
    assert a["bedrock_otel.stream.end_state"] == "completed"
    assert a["gen_ai.usage.output_tokens"] == metadata["usage"]["outputTokens"]
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    assert bedrock_metrics.count() == 1


def test_async_stream_error(fake_bedrock, bedrock_spans):
    from botocore.exceptions import EventStreamError

    fake_bedrock.enqueue(Reply.stream_error(after_events=1, exception_type="throttlingException"))

    async def call(client):
        response = await client.converse_stream(modelId=NOVA, messages=user("stream it"))
        return [event async for event in response["stream"]]

    with pytest.raises(EventStreamError):
        _run(fake_bedrock, call)
    assert bedrock_spans.one().attributes["error.type"] == "throttlingException"


def test_async_early_break(fake_bedrock, bedrock_spans):
    async def call(client):
        response = await client.converse_stream(modelId=NOVA, messages=user("one two three"))
        async for _ in response["stream"]:
            break
        gc.collect()
        await asyncio.sleep(0)  # let the loop finalise the abandoned async generator

    _run(fake_bedrock, call)
    assert bedrock_spans.one().attributes["bedrock_otel.stream.end_state"] in ("abandoned", "garbage_collected")


def test_async_invoke_model_and_stream(fake_bedrock, bedrock_spans):
    async def call(client):
        plain = await client.invoke_model(modelId=CLAUDE, body=anthropic_body())
        payload = json.loads(await plain["body"].read())
        streamed = await client.invoke_model_with_response_stream(modelId=TITAN, body=titan_body())
        chunks = [json.loads(e["chunk"]["bytes"]) async for e in streamed["body"]]
        return payload, chunks

    payload, chunks = _run(fake_bedrock, call)
    invoke = bedrock_spans.one(method="InvokeModel")
    assert invoke.attributes["gen_ai.response.id"] == payload["id"]
    assert invoke.attributes["bedrock_otel.body.end_state"] == "read"
    stream = bedrock_spans.one(method="InvokeModelWithResponseStream")
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert stream.attributes["gen_ai.usage.output_tokens"] == metrics["outputTokenCount"]


def test_async_error(fake_bedrock, bedrock_spans):
    from botocore.exceptions import ClientError

    fake_bedrock.enqueue(Reply.throttle())

    async def call(client):
        return await client.converse(modelId=CLAUDE, messages=user("hi"))

    with pytest.raises(ClientError):
        _run(fake_bedrock, call)
    assert bedrock_spans.one().attributes["error.type"] == "ThrottlingException"


def test_concurrent_tasks_keep_their_parents(fake_bedrock, bedrock_spans):
    tracer = bedrock_spans.provider.get_tracer("app")

    async def call(client):
        async def one(i):
            with tracer.start_as_current_span(f"task {i}"):
                await client.converse(modelId=CLAUDE, messages=user(f"question {i}"))

        await asyncio.gather(*(one(i) for i in range(20)))

    _run(fake_bedrock, call)
    parents = {s.context.span_id: s.name for s in bedrock_spans if s.name.startswith("task")}
    chats = bedrock_spans.all(operation="chat")
    assert len(chats) == 20
    assert all(parents[s.parent.span_id].startswith("task") for s in chats)
    assert len({s.parent.span_id for s in chats}) == 20


class _AiohttpResponse:
    """The aiohttp response an older aiobotocore body wraps: async read(), sync close()."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.closed = False

    async def read(self, amt: int = -1) -> bytes:
        return self._data.read(amt)

    def close(self) -> None:
        self.closed = True


class _ProxyStreamingBody(wrapt.ObjectProxy):
    """aiobotocore's StreamingBody up to 3.5 (the newest on Python 3.9): a wrapt proxy whose close() and
    other attributes are the wrapped response's; newer releases have AioStreamingBody instead."""

    async def read(self, amt: Optional[int] = None) -> bytes:
        return await self.__wrapped__.read(-1 if amt is None else amt)


@pytest.mark.parametrize("how", ["read", "chunks", "close"])
def test_proxy_body_of_older_aiobotocore_is_observed(how):
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import INVALID_SPAN, NoOpTracer

    from bedrock_otel.telemetry.instruments import Instruments
    from bedrock_otel.telemetry.invocation import Invocation, Telemetry

    telemetry = Telemetry(NoOpTracer(), Instruments(NoOpMeterProvider().get_meter("test")), 1 << 20)
    operation = InvokeModel()
    prepared = operation.prepare({"modelId": CLAUDE, "body": anthropic_body()}, telemetry)
    inv = Invocation(telemetry, INVALID_SPAN, {})
    payload = {"id": "msg_old_aiobotocore", "type": "message", "role": "assistant", "stop_reason": "end_turn",
               "content": [{"type": "text", "text": "hi"}], "usage": {"input_tokens": 3, "output_tokens": 1}}
    response = _AiohttpResponse(json.dumps(payload).encode())
    body: Any = _ProxyStreamingBody(response)

    assert operation.complete(inv, {"body": body}, prepared, telemetry) is False, "the body ends the call"
    assert type(response) is _AiohttpResponse, "the proxied response keeps its own class"
    assert isinstance(body, _ProxyStreamingBody) and not inv.ended

    async def use() -> bytes:
        if how == "read":
            return await body.read()
        if how == "chunks":
            chunks = [await body.read(7)]
            while chunks[-1]:
                chunks.append(await body.read(7))
            return b"".join(chunks)
        body.close()
        return b""

    data = asyncio.run(use())
    assert inv.ended
    if how == "close":
        assert response.closed and inv.outcome.response_id is None
    else:
        assert json.loads(data) == payload
        assert inv.outcome.response_id == "msg_old_aiobotocore" and inv.outcome.finish_reasons == ["end_turn"]


def test_cancelled_call_ends_its_span(fake_bedrock, bedrock_spans, bedrock_metrics, monkeypatch):
    """A task cancelled while Bedrock is still answering: the app gets its CancelledError untouched, and
    the span ends (ERROR, error.type naming the cancellation) with its duration point."""
    from opentelemetry.trace import StatusCode

    monkeypatch.setattr(fake_bedrock, "latency", 2.0)

    async def call(client):
        task = asyncio.ensure_future(client.converse(modelId=CLAUDE, messages=user("never answered")))
        await asyncio.sleep(0.3)  # the request is out; the fake is holding its answer
        task.cancel()
        try:
            await task
        except asyncio.CancelledError as exc:
            return exc
        return None

    cancelled = _run(fake_bedrock, call)
    assert isinstance(cancelled, asyncio.CancelledError)
    assert bedrock_spans.unfinished == []
    span = bedrock_spans.one()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "asyncio.exceptions.CancelledError"
    assert bedrock_metrics.count(error_type="asyncio.exceptions.CancelledError") == 1
