"""ApplyGuardrail, and guardrails configured on Converse / InvokeModel calls (sync, streams, async)."""

from __future__ import annotations

import asyncio
import json

import pytest
from botocore.exceptions import ClientError

from bedrock_otel.operations.guardrails import intervened_policies, normalise_action
from bedrock_otel.testing.agent_runtime import GUARDRAIL_BLOCKED_MESSAGE

from conftest import CLAUDE, NOVA, anthropic_body, nova_body, user

GUARDRAIL = "gr1234abcd"
GUARDRAIL_ARN = f"arn:aws:bedrock:us-east-1:123456789012:guardrail/{GUARDRAIL}"


def _apply(client, text, identifier=GUARDRAIL, source="INPUT"):
    return client.apply_guardrail(guardrailIdentifier=identifier, guardrailVersion="1", source=source,
                                  content=[{"text": {"text": text}}])


def _config(trace="enabled"):
    return {"guardrailIdentifier": GUARDRAIL, "guardrailVersion": "1", "trace": trace}


def test_apply_guardrail_intervenes(fake_bedrock, bedrock_spans, bedrock_metrics):
    response = _apply(fake_bedrock.client(), "something forbidden, write to me at jane@example.com")
    assert response["action"] == "GUARDRAIL_INTERVENED"
    span = bedrock_spans.one()
    a = span.attributes
    assert span.name == f"apply_guardrail {GUARDRAIL}"
    assert a["gen_ai.operation.name"] == "apply_guardrail"
    assert a["aws.bedrock.guardrail.id"] == GUARDRAIL
    assert a["aws.bedrock.guardrail.version"] == "1"
    assert a["aws.bedrock.guardrail.source"] == "INPUT"
    assert a["aws.bedrock.guardrail.action"] == "INTERVENED"
    assert a["aws.bedrock.guardrail.policies"] == ("topicPolicy", "sensitiveInformationPolicy")
    assert a["aws.remote.resource.type"] == "AWS::Bedrock::Guardrail"
    assert a["aws.remote.resource.identifier"] == GUARDRAIL
    assert "gen_ai.request.model" not in a
    latency = response["assessments"][0]["invocationMetrics"]["guardrailProcessingLatency"]
    assert a["aws.bedrock.invocation_latency"] == latency / 1000
    assert not any("jane@example.com" in str(v) for v in a.values())  # findings' matches never recorded
    assert bedrock_metrics.count(operation="apply_guardrail") == 1


def test_apply_guardrail_none_and_arn(fake_bedrock, bedrock_spans):
    _apply(fake_bedrock.client(), "a harmless question", identifier=GUARDRAIL_ARN, source="OUTPUT")
    a = bedrock_spans.one().attributes
    assert a["aws.bedrock.guardrail.action"] == "NONE"
    assert "aws.bedrock.guardrail.policies" not in a
    assert a["aws.bedrock.guardrail.id"] == GUARDRAIL
    assert a["aws.bedrock.guardrail.arn"] == GUARDRAIL_ARN
    assert a["aws.remote.resource.cfn.primary.identifier"] == GUARDRAIL_ARN


def test_apply_guardrail_error(fake_bedrock, bedrock_spans):
    with pytest.raises(ClientError):
        _apply(fake_bedrock.client(), "hi", identifier="invalid-guardrail")
    assert bedrock_spans.one().attributes["error.type"] == "ResourceNotFoundException"


def test_converse_with_guardrail_intervention(fake_bedrock, bedrock_spans):
    response = fake_bedrock.client().converse(modelId=CLAUDE, messages=user("tell me something forbidden"),
                                              guardrailConfig=_config())
    assert response["stopReason"] == "guardrail_intervened"
    a = bedrock_spans.one().attributes
    assert a["bedrock_otel.guardrail.id"] == GUARDRAIL
    assert a["aws.bedrock.guardrail.version"] == "1"
    assert a["aws.bedrock.guardrail.action"] == "INTERVENED"
    assert a["aws.bedrock.guardrail.policies"] == ("topicPolicy",)
    assert a["gen_ai.response.finish_reasons"] == ("guardrail_intervened",)  # Bedrock's own value, kept
    assert "aws.bedrock.guardrail.id" not in a
    assert a["aws.remote.resource.type"] == "AWS::Bedrock::Model"  # the model stays the dependency


def test_converse_with_guardrail_that_does_not_intervene(fake_bedrock, bedrock_spans):
    fake_bedrock.client().converse(modelId=CLAUDE, messages=user("hello"), guardrailConfig=_config("disabled"))
    a = bedrock_spans.one().attributes
    assert a["aws.bedrock.guardrail.action"] == "NONE"
    assert "aws.bedrock.guardrail.policies" not in a


def test_converse_without_guardrail_has_no_guardrail_attributes(fake_bedrock, bedrock_spans):
    fake_bedrock.client().converse(modelId=CLAUDE, messages=user("hello"))
    assert not [k for k in bedrock_spans.one().attributes if "guardrail" in k]


def test_converse_stream_with_guardrail(fake_bedrock, bedrock_spans):
    events = list(fake_bedrock.client().converse_stream(
        modelId=NOVA, messages=user("a forbidden topic"),
        guardrailConfig={**_config(), "streamProcessingMode": "sync"})["stream"])
    assert any(e.get("messageStop", {}).get("stopReason") == "guardrail_intervened" for e in events)
    a = bedrock_spans.one().attributes
    assert a["aws.bedrock.guardrail.action"] == "INTERVENED"
    assert a["aws.bedrock.guardrail.policies"] == ("topicPolicy",)
    assert a["bedrock_otel.stream.end_state"] == "completed"
    assert a["gen_ai.usage.output_tokens"] == 0


def test_invoke_model_with_guardrail_header(fake_bedrock, bedrock_spans):
    response = fake_bedrock.client().invoke_model(modelId=CLAUDE, body=anthropic_body("something forbidden"),
                                                  guardrailIdentifier=GUARDRAIL, guardrailVersion="1",
                                                  trace="ENABLED")
    body = json.loads(response["body"].read())
    assert body["amazon-bedrock-guardrailAction"] == "INTERVENED"
    assert body["content"][0]["text"] == GUARDRAIL_BLOCKED_MESSAGE
    assert fake_bedrock.requests[-1].header("X-Amzn-Bedrock-GuardrailIdentifier") == GUARDRAIL
    a = bedrock_spans.one().attributes
    assert a["bedrock_otel.guardrail.id"] == GUARDRAIL
    assert a["aws.bedrock.guardrail.action"] == "INTERVENED"
    assert a["aws.bedrock.guardrail.policies"] == ("topicPolicy",)
    assert a["gen_ai.response.id"] == body["id"]  # the family codec still parsed the body
    assert a["bedrock_otel.body.end_state"] == "read"


def test_invoke_model_unknown_family_with_guardrail(fake_bedrock, bedrock_spans):
    fake_bedrock.client().invoke_model(modelId="acme.unknown-model-v1", body=json.dumps({"prompt": "hello"}),
                                       guardrailIdentifier=GUARDRAIL, guardrailVersion="1")["body"].read()
    assert bedrock_spans.one().attributes["aws.bedrock.guardrail.action"] == "NONE"


def test_invoke_model_stream_with_guardrail(fake_bedrock, bedrock_spans):
    response = fake_bedrock.client().invoke_model_with_response_stream(
        modelId=NOVA, body=nova_body("forbidden stuff"), guardrailIdentifier=GUARDRAIL, guardrailVersion="1",
        trace="ENABLED")
    chunks = [json.loads(e["chunk"]["bytes"]) for e in response["body"]]
    assert chunks[-1]["amazon-bedrock-guardrailAction"] == "INTERVENED"
    a = bedrock_spans.one().attributes
    assert a["aws.bedrock.guardrail.action"] == "INTERVENED"
    assert a["aws.bedrock.guardrail.policies"] == ("topicPolicy",)
    assert a["gen_ai.usage.output_tokens"] == chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"]


def test_async_guardrails(fake_bedrock, bedrock_spans):
    aiobotocore_session = pytest.importorskip("aiobotocore.session")
    from aiobotocore.config import AioConfig

    async def main():
        session = aiobotocore_session.get_session()
        config = AioConfig(signature_version="v4", retries={"mode": "standard", "total_max_attempts": 1})
        async with session.create_client(
            "bedrock-runtime", region_name="us-east-1", endpoint_url=fake_bedrock.endpoint_url, config=config,
            aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing",
        ) as client:
            await client.apply_guardrail(guardrailIdentifier=GUARDRAIL, guardrailVersion="1", source="INPUT",
                                         content=[{"text": {"text": "forbidden"}}])
            stream = await client.converse_stream(modelId=NOVA, messages=user("forbidden"), guardrailConfig=_config())
            [event async for event in stream["stream"]]
            body = await client.invoke_model(modelId=CLAUDE, body=anthropic_body("forbidden"),
                                             guardrailIdentifier=GUARDRAIL, guardrailVersion="1")
            await body["body"].read()

    asyncio.run(main())
    assert bedrock_spans.one(operation="apply_guardrail").attributes["aws.bedrock.guardrail.action"] == "INTERVENED"
    assert bedrock_spans.one(method="ConverseStream").attributes["aws.bedrock.guardrail.action"] == "INTERVENED"
    assert bedrock_spans.one(method="InvokeModel").attributes["aws.bedrock.guardrail.action"] == "INTERVENED"


def test_policy_extraction_reads_every_assessment_shape():
    blocked_topic = {"topicPolicy": {"topics": [{"name": "x", "type": "DENY", "action": "BLOCKED"}]}}
    masked = {"sensitiveInformationPolicy": {"piiEntities": [], "regexes": [{"name": "id", "action": "ANONYMIZED"}]}}
    quiet = {"contentPolicy": {"filters": [{"type": "HATE", "confidence": "NONE", "action": "NONE"}]}}
    converse_trace = {"inputAssessment": {"g": blocked_topic}, "outputAssessments": {"g": [masked, quiet]}}
    assert intervened_policies(converse_trace) == ["topicPolicy", "sensitiveInformationPolicy"]
    assert intervened_policies([quiet]) == []
    assert [normalise_action(a) for a in ("GUARDRAIL_INTERVENED", "INTERVENED", "NONE", None)] == [
        "INTERVENED", "INTERVENED", "NONE", None]
