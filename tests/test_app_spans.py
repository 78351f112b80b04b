"""Workflow/agent/task/tool decorators nest Bedrock spans under app-level spans; annotate() adds data."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.trace import StatusCode

import bedrock_otel

from conftest import CLAUDE, user


def test_sync_nesting_and_annotations(fake_bedrock, bedrock_spans):
    client = fake_bedrock.client()

    @bedrock_otel.tool("lookup_order")
    def lookup(order_id):
        bedrock_otel.annotate(input={"order_id": order_id}, output="shipped", source="db")
        return "shipped"

    @bedrock_otel.agent("support-agent")
    def agent(question):
        lookup(42)
        return client.converse(modelId=CLAUDE, messages=user(question))

    @bedrock_otel.workflow()
    def answer_ticket(question):
        return agent(question)

    answer_ticket("where is my order")
    workflow = bedrock_spans.one(operation="invoke_workflow")
    agent_span = bedrock_spans.one(operation="invoke_agent")
    tool_span = bedrock_spans.one(operation="execute_tool")
    chat = bedrock_spans.one(operation="chat")
    assert workflow.name.endswith("answer_ticket")
    assert agent_span.name == "invoke_agent support-agent"
    assert agent_span.parent.span_id == workflow.context.span_id
    assert tool_span.parent.span_id == agent_span.context.span_id
    assert chat.parent.span_id == agent_span.context.span_id
    assert tool_span.attributes["gen_ai.tool.name"] == "lookup_order"
    assert tool_span.attributes["bedrock_otel.input"] == '{"order_id": 42}'
    assert tool_span.attributes["bedrock_otel.output"] == "shipped"
    assert tool_span.attributes["bedrock_otel.metadata.source"] == "db"


def test_async_and_generator_functions_and_errors(fake_bedrock, bedrock_spans):
    @bedrock_otel.task("prepare")
    async def prepare():
        await asyncio.sleep(0)
        return 1

    @bedrock_otel.tool("explode")
    async def explode():
        raise KeyError("missing")

    @bedrock_otel.workflow("stream-steps")
    def steps():
        yield 1
        yield 2

    @bedrock_otel.agent("async-gen")
    async def agen():
        yield "a"

    async def main():
        assert await prepare() == 1
        with pytest.raises(KeyError):
            await explode()
        return [x async for x in agen()]

    assert asyncio.run(main()) == ["a"]
    assert list(steps()) == [1, 2]
    failed = bedrock_spans.one(operation="execute_tool")
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "KeyError"
    assert bedrock_spans.one(name="task prepare").attributes["bedrock_otel.task.name"] == "prepare"
    assert bedrock_spans.one(name="invoke_workflow stream-steps")
    assert bedrock_spans.one(name="invoke_agent async-gen")


def test_annotate_outside_a_span_does_nothing():
    bedrock_otel.annotate(input="x", output="y")


def test_generator_closed_early_is_not_a_failure(bedrock_spans):
    @bedrock_otel.task("paged")
    def pages():
        yield 1
        yield 2

    iterator = pages()
    next(iterator)
    iterator.close()
    span = bedrock_spans.one(name="task paged")
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in span.attributes
