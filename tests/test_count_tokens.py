"""CountTokens: a ``count_tokens`` span whose count is not mistaken for consumed tokens."""

from __future__ import annotations

import asyncio
import json

import pytest
from botocore.exceptions import ClientError

from bedrock_otel.testing import Reply

from conftest import CLAUDE, anthropic_body, user


def test_count_tokens_converse_and_invoke_model_inputs(fake_bedrock, bedrock_spans, bedrock_metrics):
    client = fake_bedrock.client()
    converse = client.count_tokens(modelId=CLAUDE, input={"converse": {"messages": user("count these four words")}})
    invoke = client.count_tokens(modelId=CLAUDE, input={"invokeModel": {"body": anthropic_body("two words")}})
    first, second = bedrock_spans.spans
    assert first.name == f"count_tokens {CLAUDE}"
    assert first.attributes["gen_ai.operation.name"] == "count_tokens"
    assert first.attributes["gen_ai.request.model"] == CLAUDE
    assert first.attributes["bedrock_otel.count_tokens.input_tokens"] == converse["inputTokens"]
    assert second.attributes["bedrock_otel.count_tokens.input_tokens"] == invoke["inputTokens"]
    assert first.attributes["bedrock_otel.model.family"] == "anthropic"
    assert first.attributes["aws.remote.resource.type"] == "AWS::Bedrock::Model"
    # counted, not consumed: no usage attributes and no token metric
    assert "gen_ai.usage.input_tokens" not in first.attributes
    assert bedrock_metrics.token_usage() == 0
    assert bedrock_metrics.count(operation="count_tokens") == 2


def test_count_tokens_error(fake_bedrock, bedrock_spans):
    fake_bedrock.enqueue(Reply.throttle())
    with pytest.raises(ClientError):
        fake_bedrock.client().count_tokens(modelId=CLAUDE, input={"converse": {"messages": user("hi")}})
    assert bedrock_spans.one().attributes["error.type"] == "ThrottlingException"


def test_count_tokens_async(fake_bedrock, bedrock_spans):
    aiobotocore_session = pytest.importorskip("aiobotocore.session")
    from aiobotocore.config import AioConfig

    async def main():
        session = aiobotocore_session.get_session()
        config = AioConfig(signature_version="v4", retries={"mode": "standard", "total_max_attempts": 1})
        async with session.create_client(
            "bedrock-runtime", region_name="us-east-1", endpoint_url=fake_bedrock.endpoint_url, config=config,
            aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing",
        ) as client:
            body = json.dumps(json.loads(anthropic_body("three small words")))
            return await client.count_tokens(modelId=CLAUDE, input={"invokeModel": {"body": body}})

    response = asyncio.run(main())
    assert bedrock_spans.one().attributes["bedrock_otel.count_tokens.input_tokens"] == response["inputTokens"]
