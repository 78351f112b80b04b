"""Invoke the log-alert summarizer locally, offline: fake Bedrock, SNS in moto, telemetry in memory.

    python examples/chatops-lambda/run_local.py

Prints the trace tree (Lambda invocation → summarize task → Bedrock chat span; → SNS send span) and the
message a chat channel subscribed to the topic would receive (read back through an SQS subscription).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List

import boto3
from moto import mock_aws
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

import bedrock_otel
from bedrock_otel.testing import Capture, FakeBedrock

sys.path.insert(0, str(Path(__file__).resolve().parent))
import log_summarizer

REGION = "us-east-1"
XRAY_ROOT = "1-5759e988-bd862e3fe1be46a994272793"
XRAY_PARENT = "53995c3f42cd8ad8"


def sample_event() -> Dict[str, Any]:
    """A CloudWatch Logs subscription event with three error lines, as Lambda receives it."""
    now = int(time.time() * 1000)
    lines = [
        "ERROR PaymentService timeout calling https://payments.internal/charge after 30000 ms (order 8812)",
        "ERROR PaymentService timeout calling https://payments.internal/charge after 30000 ms (order 8813)",
        "ERROR CheckoutController 502 returned to client: upstream payment timeout",
    ]
    return log_summarizer.encode_event({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/ecs/checkout",
        "logStream": "checkout/web/4f1c0e2a",
        "subscriptionFilters": ["errors-to-chatops"],
        "logEvents": [{"id": str(i), "timestamp": now + i, "message": line} for i, line in enumerate(lines)],
    })


def lambda_context() -> Any:
    return SimpleNamespace(function_name="chatops-summarizer", aws_request_id="7c1e1b49-9b2d-4a5e-b0a6-3f0c0d1e2f3a",
                           invoked_function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:chatops-summarizer")


def topic_with_queue(sns: Any, sqs: Any) -> Dict[str, str]:
    """An SNS topic with an SQS queue subscribed, so what was published can be read back."""
    topic_arn = sns.create_topic(Name="chatops-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="chat-channel")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return {"topic_arn": topic_arn, "queue_url": queue_url}


def received(sqs: Any, queue_url: str) -> List[Dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def print_tree(spans: List[Any]) -> None:
    children: Dict[Any, List[Any]] = {}
    ids = {s.context.span_id for s in spans}
    for span in sorted(spans, key=lambda s: s.start_time):
        parent = span.parent.span_id if span.parent and span.parent.span_id in ids else None
        children.setdefault(parent, []).append(span)
    shown = ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "aws.region", "faas.trigger",
             "messaging.destination.name", "rpc.method")

    def walk(parent: Any, depth: int) -> None:
        for span in children.get(parent, []):
            attrs = {k: span.attributes[k] for k in shown if k in span.attributes}
            print(f"{'  ' * depth}{span.name} [{span.kind.name}] {attrs}")
            walk(span.context.span_id, depth + 1)

    walk(None, 0)


def main() -> int:
    capture = Capture()
    log_summarizer.instrument(capture.spans.provider, capture.metrics.provider)
    os.environ["_X_AMZN_TRACE_ID"] = f"Root={XRAY_ROOT};Parent={XRAY_PARENT};Sampled=1"
    try:
        with FakeBedrock() as fake, mock_aws():
            sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
            where = topic_with_queue(sns, sqs)
            capture.spans.clear()  # keep only the invocation's spans
            bedrock = boto3.client("bedrock-runtime", region_name=REGION, endpoint_url=fake.endpoint_url)
            app = log_summarizer.LambdaApp(log_summarizer.Summarizer(bedrock, sns, where["topic_arn"],
                                                       tracer_provider=capture.spans.provider),
                                    flush=capture.spans.provider.force_flush)
            result = app(sample_event(), lambda_context())
            spans = capture.spans.spans
            messages = received(sqs, where["queue_url"])
        print(f"handler returned: {json.dumps(result)}\n")
        print(f"trace ids: {sorted({format(s.context.trace_id, '032x') for s in spans})} "
              f"(Lambda's X-Ray trace {XRAY_ROOT})")
        print_tree(spans)
        for message in messages:
            print(f"\nSNS → chat channel: {message['Subject']}\n{message['Message']}")
    finally:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
        bedrock_otel.uninstrument()
        BotocoreInstrumentor().uninstrument()
        capture.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
