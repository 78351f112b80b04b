"""Concurrent calls keep their own context and their own numbers.

32 threads (one shared boto3 client, or a client per thread) and 200 asyncio tasks (aiobotocore)
call Converse, ConverseStream, InvokeModel and InvokeModelWithResponseStream inside per-thread/task
parent spans, all at once against the fake server. Every prompt has a different word count, so the
fake's token counts identify the caller. Each Bedrock span must be a child of its own caller's parent
span and carry exactly the numbers (tokens, response id, finish reason) of the response that caller
received — no attribute may cross between concurrent calls.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional

import pytest
from opentelemetry.trace import StatusCode

from bedrock_otel.testing import fake_server
from bedrock_otel.testing.capture import Capture
from differential.runner import SCOPE, make_client

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "amazon.nova-lite-v1:0"
THREADS = 32
TASKS = 200
ROUNDS = 2  # each caller makes every kind of call this many times


@pytest.fixture(scope="module")
def server() -> Iterator[fake_server.FakeBedrock]:
    """A fake of this module's own whose listen backlog takes 200 simultaneous connects.

    socketserver's default backlog is 5: dozens of clients connecting at once then get "connection
    reset by peer" before the server accepts them. The fake now sets 256 itself; this keeps the test
    independent of that default.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fake_server._Server, "request_queue_size", 256)
        fake = fake_server.FakeBedrock().start()
    try:
        yield fake
    finally:
        fake.stop()


@dataclass
class Expected:
    """What the caller's own response said, to compare with the span of that call."""

    method: str
    input_tokens: int
    output_tokens: int
    response_id: Optional[str] = None
    finish_reason: Optional[str] = None


@dataclass
class Caller:
    index: int
    parent_span_id: int = 0
    calls: List[Expected] = field(default_factory=list)
    error: Optional[BaseException] = None


def prompt_for(index: int, round_: int) -> str:
    """A prompt whose word count (the fake's input tokens) is unique per caller and round."""
    return " ".join([f"w{index}"] * (1 + index + round_ * 1000))


def messages(text: str) -> List[Dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def claude_body(text: str) -> str:
    return json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4096,
                       "messages": [{"role": "user", "content": text}]})


def _from_converse(response: Dict[str, Any]) -> Expected:
    usage = response["usage"]
    return Expected("Converse", usage["inputTokens"], usage["outputTokens"], finish_reason=response["stopReason"])


def _from_converse_events(events: List[Dict[str, Any]]) -> Expected:
    usage = next(e["metadata"]["usage"] for e in events if "metadata" in e)
    stop = next(e["messageStop"]["stopReason"] for e in events if "messageStop" in e)
    return Expected("ConverseStream", usage["inputTokens"], usage["outputTokens"], finish_reason=stop)


def _from_claude_body(payload: Dict[str, Any]) -> Expected:
    usage = payload["usage"]
    return Expected("InvokeModel", usage["input_tokens"], usage["output_tokens"], payload["id"],
                    payload["stop_reason"])


def _from_claude_chunks(chunks: List[Dict[str, Any]]) -> Expected:
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    start = next(c["message"] for c in chunks if c.get("type") == "message_start")
    stop = next(c["delta"]["stop_reason"] for c in chunks if c.get("type") == "message_delta")
    return Expected("InvokeModelWithResponseStream", metrics["inputTokenCount"], metrics["outputTokenCount"],
                    start["id"], stop)


def check_callers(capture: Capture, callers: List[Caller]) -> None:
    """Every caller's Bedrock spans are its own parent's children and match its own responses."""
    for caller in callers:
        if caller.error is not None:
            raise AssertionError(f"caller {caller.index} failed") from caller.error
    assert capture.spans.unfinished == []
    ours = [s for s in capture.spans.spans if s.instrumentation_scope.name == SCOPE]
    assert len(ours) == sum(len(c.calls) for c in callers)
    by_parent: Dict[int, List[Any]] = {}
    for span in ours:
        assert span.parent is not None, f"{span.name} has no parent"
        by_parent.setdefault(span.parent.span_id, []).append(span)
    problems: List[str] = []
    for caller in callers:
        spans = sorted(by_parent.pop(caller.parent_span_id, []), key=lambda s: s.start_time)
        if len(spans) != len(caller.calls):
            problems.append(f"caller {caller.index}: {len(spans)} spans under its parent, "
                            f"made {len(caller.calls)} calls")
            continue
        for span, expected in zip(spans, caller.calls):
            a = dict(span.attributes or {})
            got = (a.get("rpc.method"), a.get("gen_ai.usage.input_tokens"), a.get("gen_ai.usage.output_tokens"),
                   a.get("gen_ai.response.id") if expected.response_id else None,
                   tuple(a.get("gen_ai.response.finish_reasons", ()))[-1:])
            want = (expected.method, expected.input_tokens, expected.output_tokens, expected.response_id,
                    (expected.finish_reason,) if expected.finish_reason else ())
            if got != want or span.status.status_code is StatusCode.ERROR:
                problems.append(f"caller {caller.index}: span {span.name} has {got}, its response said {want}")
    assert not by_parent, f"spans under unknown parents: {sorted(by_parent)}"
    assert not problems, "\n".join(problems[:20])
    calls = sum(len(c.calls) for c in callers)
    assert capture.metrics.count() == calls
    inputs = sum(e.input_tokens for c in callers for e in c.calls)
    assert capture.metrics.token_usage("input") == inputs


# --------------------------------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------------------------------


def _thread_body(client: Any, caller: Caller, tracer: Any, barrier: threading.Barrier) -> None:
    try:
        barrier.wait()
        with tracer.start_as_current_span(f"thread {caller.index}") as parent:
            caller.parent_span_id = parent.get_span_context().span_id
            for round_ in range(ROUNDS):
                text = prompt_for(caller.index, round_)
                caller.calls.append(_from_converse(client.converse(modelId=CLAUDE, messages=messages(text))))
                stream = client.converse_stream(modelId=NOVA, messages=messages(text))["stream"]
                caller.calls.append(_from_converse_events(list(stream)))
                body = client.invoke_model(modelId=CLAUDE, body=claude_body(text))["body"]
                caller.calls.append(_from_claude_body(json.loads(body.read())))
                events = client.invoke_model_with_response_stream(modelId=CLAUDE, body=claude_body(text))["body"]
                caller.calls.append(_from_claude_chunks([json.loads(e["chunk"]["bytes"]) for e in events]))
    except BaseException as exc:  # reported by the main thread
        caller.error = exc


@pytest.mark.parametrize("shared_client", [True, False], ids=["one-shared-client", "client-per-thread"])
def test_threads_keep_their_own_parents_and_numbers(server: Any, bedrock_telemetry: Capture,
                                                    shared_client: bool) -> None:
    server.reset()
    server.event_delay = 0.001  # streams interleave across threads
    tracer = bedrock_telemetry.spans.provider.get_tracer("app")
    shared = make_client(server.endpoint_url, max_pool_connections=THREADS) if shared_client else None
    clients = [shared or make_client(server.endpoint_url) for _ in range(THREADS)]
    callers = [Caller(i) for i in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    threads = [threading.Thread(target=_thread_body, args=(clients[i], callers[i], tracer, barrier), daemon=True)
               for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "threads did not finish"
    check_callers(bedrock_telemetry, callers)


# --------------------------------------------------------------------------------------------------
# asyncio tasks (aiobotocore)
# --------------------------------------------------------------------------------------------------


async def _task_body(client: Any, caller: Caller, tracer: Any, start: asyncio.Event) -> None:
    await start.wait()
    with tracer.start_as_current_span(f"task {caller.index}") as parent:
        caller.parent_span_id = parent.get_span_context().span_id
        text = prompt_for(caller.index, 0)
        caller.calls.append(_from_converse(await client.converse(modelId=CLAUDE, messages=messages(text))))
        response = await client.converse_stream(modelId=NOVA, messages=messages(text))
        caller.calls.append(_from_converse_events([e async for e in response["stream"]]))
        response = await client.invoke_model(modelId=CLAUDE, body=claude_body(text))
        caller.calls.append(_from_claude_body(json.loads(await response["body"].read())))
        response = await client.invoke_model_with_response_stream(modelId=CLAUDE, body=claude_body(text))
        caller.calls.append(_from_claude_chunks([json.loads(e["chunk"]["bytes"]) async for e in response["body"]]))


def test_asyncio_tasks_keep_their_own_parents_and_numbers(server: Any, bedrock_telemetry: Capture) -> None:
    session_module = pytest.importorskip("aiobotocore.session")
    from aiobotocore.config import AioConfig

    server.reset()
    server.event_delay = 0.001
    tracer = bedrock_telemetry.spans.provider.get_tracer("app")
    callers = [Caller(i) for i in range(TASKS)]

    async def main() -> None:
        config = AioConfig(signature_version="v4", max_pool_connections=64,
                           retries={"mode": "standard", "total_max_attempts": 1})
        async with session_module.get_session().create_client(
            "bedrock-runtime", region_name="us-east-1", endpoint_url=server.endpoint_url, config=config,
            aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing",
        ) as client:
            start = asyncio.Event()
            tasks = [asyncio.ensure_future(_task_body(client, caller, tracer, start)) for caller in callers]
            await asyncio.sleep(0)
            start.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for caller, result in zip(callers, results):
                if isinstance(result, BaseException):
                    caller.error = result

    asyncio.run(main())
    check_callers(bedrock_telemetry, callers)
