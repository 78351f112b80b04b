"""StartAsyncInvoke / GetAsyncInvoke: submission and polling spans tied together by the invocation ARN."""

from __future__ import annotations

import asyncio

import pytest
from botocore.exceptions import ClientError

REEL = "amazon.nova-reel-v1:0"
OUTPUT = {"s3OutputDataConfig": {"s3Uri": "s3://my-bucket/videos/"}}
MODEL_INPUT = {"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": "a cat surfing"}}


def test_start_then_poll(fake_bedrock, bedrock_spans, bedrock_metrics):
    client = fake_bedrock.client()
    arn = client.start_async_invoke(modelId=REEL, modelInput=MODEL_INPUT, outputDataConfig=OUTPUT)["invocationArn"]
    first = client.get_async_invoke(invocationArn=arn)
    second = client.get_async_invoke(invocationArn=arn)
    start, poll1, poll2 = bedrock_spans.spans
    assert start.name == f"start_async_invoke {REEL}"
    assert start.attributes["gen_ai.operation.name"] == "start_async_invoke"
    assert start.attributes["gen_ai.request.model"] == REEL
    assert start.attributes["aws.bedrock.async_invoke.arn"] == arn
    assert start.attributes["aws.bedrock.async_invoke.output_uri"] == "s3://my-bucket/videos/"
    assert poll1.name == "get_async_invoke"
    assert "gen_ai.request.model" not in poll1.attributes
    assert poll1.attributes["aws.bedrock.async_invoke.arn"] == arn
    assert poll1.attributes["aws.bedrock.async_invoke.status"] == first["status"] == "InProgress"
    assert "aws.bedrock.async_invoke.duration" not in poll1.attributes
    assert poll2.attributes["aws.bedrock.async_invoke.status"] == second["status"] == "Completed"
    assert poll2.attributes["gen_ai.response.model"] == second["modelArn"]
    expected = (second["endTime"] - second["submitTime"]).total_seconds()
    assert poll2.attributes["aws.bedrock.async_invoke.duration"] == pytest.approx(expected)
    assert bedrock_metrics.count(operation="get_async_invoke") == 2
    assert bedrock_metrics.token_usage() == 0


def test_failed_job_and_unknown_arn(fake_bedrock, bedrock_spans):
    client = fake_bedrock.client()
    arn = client.start_async_invoke(modelId=REEL, modelInput=MODEL_INPUT, outputDataConfig=OUTPUT)["invocationArn"]
    fake_bedrock.set_async_invoke_status(arn, "Failed", "Content policy violation.")
    assert client.get_async_invoke(invocationArn=arn)["status"] == "Failed"
    assert bedrock_spans.spans[-1].attributes["aws.bedrock.async_invoke.status"] == "Failed"
    assert bedrock_spans.spans[-1].status.is_unset  # a failed job is not a failed call
    with pytest.raises(ClientError):
        client.get_async_invoke(invocationArn=arn.replace(arn.rsplit("/", 1)[1], "000000000000"))
    assert bedrock_spans.spans[-1].attributes["error.type"] == "ResourceNotFoundException"
    assert fake_bedrock.requests[-1].params["invocationArn"].endswith("/000000000000")


def test_async_client(fake_bedrock, bedrock_spans):
    aiobotocore_session = pytest.importorskip("aiobotocore.session")
    from aiobotocore.config import AioConfig

    async def main():
        session = aiobotocore_session.get_session()
        config = AioConfig(signature_version="v4", retries={"mode": "standard", "total_max_attempts": 1})
        async with session.create_client(
            "bedrock-runtime", region_name="us-east-1", endpoint_url=fake_bedrock.endpoint_url, config=config,
            aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing",
        ) as client:
            started = await client.start_async_invoke(modelId=REEL, modelInput=MODEL_INPUT, outputDataConfig=OUTPUT)
            return await client.get_async_invoke(invocationArn=started["invocationArn"])

    job = asyncio.run(main())
    poll = bedrock_spans.one(operation="get_async_invoke").attributes
    assert poll["aws.bedrock.async_invoke.status"] == job["status"]
    start = bedrock_spans.one(operation="start_async_invoke").attributes
    assert start["aws.bedrock.async_invoke.arn"] == job["invocationArn"]
