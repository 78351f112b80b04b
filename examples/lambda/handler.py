"""A Lambda function that calls Amazon Bedrock, traced into the invocation's X-Ray trace.

``configure()`` runs once per execution environment (at cold start); ``@lambda_handler`` gives every
invocation a SERVER span whose parent comes from Lambda's ``_X_AMZN_TRACE_ID``, and exports spans and metrics
before returning, because Lambda freezes the environment (and the exporters' background threads) as soon as
the handler returns. Point ``OTEL_EXPORTER_OTLP_ENDPOINT`` at the collector of the ADOT Lambda layer
(``localhost:4317`` by default) or any OTLP endpoint.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict

import boto3

import bedrock_otel
from bedrock_otel.aws import lambda_handler

configured = bedrock_otel.configure()
bedrock = boto3.client("bedrock-runtime", endpoint_url=os.environ.get("BEDROCK_ENDPOINT_URL") or None)
MODEL_ID = os.environ.get("BEDROCK_MODEL_ID", "anthropic.claude-3-haiku-20240307-v1:0")


@lambda_handler
def handler(event: Dict[str, Any], context: Any) -> Dict[str, Any]:
    question = json.loads(event.get("body") or "{}").get("question", "Hello")
    response = bedrock.converse(modelId=MODEL_ID, messages=[{"role": "user", "content": [{"text": question}]}])
    text = "".join(part.get("text", "") for part in response["output"]["message"]["content"])
    return {"statusCode": 200, "body": json.dumps({"answer": text, "usage": response["usage"]})}
