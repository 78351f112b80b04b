"""ChatOps log-alert summarizer: a CloudWatch Logs subscription → a Bedrock summary → SNS.

An error log event arrives as a CloudWatch Logs subscription event (``{"awslogs": {"data": <base64 gzip
JSON>}}``). The handler decodes it, asks Bedrock for a short summary — through LangChain's
``ChatBedrockConverse`` when ``langchain-aws`` is installed, plain boto3 ``converse`` otherwise — and
publishes the summary to an SNS topic (a chat channel subscribes to it).

Telemetry, one trace per invocation:

* a CONSUMER span for the Lambda invocation, whose parent is Lambda's own trace (``_X_AMZN_TRACE_ID``,
  read by the ``xray-lambda`` propagator), with ``faas.*`` and ``aws.log.group.names`` attributes;
* ``task summarize-log-alert`` → the Bedrock ``chat`` span (bedrock-otel; tokens, model, region);
* the SNS ``<topic> send`` PRODUCER span (``opentelemetry-instrumentation-botocore``, which also injects
  the trace context into the message attributes). bedrock-otel takes Bedrock over from the botocore
  instrumentation, so there is exactly one span per Bedrock call.

Environment: ``SNS_TOPIC_ARN`` (required), ``MODEL_ID`` (default Claude 3 Haiku), ``BEDROCK_ENDPOINT_URL``
(optional: a VPC endpoint, or the fake server when run locally), ``SUMMARIZER_USE_LANGCHAIN`` (``0`` to
force boto3 even when langchain-aws is installed), and the usual ``OTEL_*`` for ``bedrock_otel.configure()``.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import os
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from opentelemetry import trace
from opentelemetry.propagators.aws import AwsXRayLambdaPropagator
from opentelemetry.trace import SpanKind, StatusCode

import bedrock_otel

DEFAULT_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
MAX_PROMPT_CHARS = 6000
MAX_SUBJECT = 100  # SNS subject limit
SYSTEM_PROMPT = ("You are an on-call assistant. Summarize these error log lines for a chat channel in at most "
                 "three sentences: what failed, how often, and the most likely cause. No preamble.")


# -- the event ------------------------------------------------------------------------------------


def decode_event(event: Dict[str, Any]) -> Dict[str, Any]:
    """The decoded CloudWatch Logs subscription payload (``logGroup``, ``logStream``, ``logEvents``, …)."""
    try:
        data = event["awslogs"]["data"]
    except (KeyError, TypeError):
        raise ValueError("not a CloudWatch Logs subscription event: no awslogs.data") from None
    return json.loads(gzip.decompress(base64.b64decode(data)))


def encode_event(payload: Dict[str, Any]) -> Dict[str, Any]:
    """The inverse of :func:`decode_event`: what CloudWatch Logs delivers to the function."""
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(payload).encode("utf-8"))).decode()}}


def build_prompt(batch: Dict[str, Any]) -> str:
    lines = [str(e.get("message", "")).rstrip() for e in batch.get("logEvents", [])]
    text = "\n".join(lines)
    if len(text) > MAX_PROMPT_CHARS:
        text = text[:MAX_PROMPT_CHARS] + "\n[…truncated]"
    return (f"Log group {batch.get('logGroup')} (stream {batch.get('logStream')}), "
            f"{len(lines)} error line(s) matched by filter {batch.get('subscriptionFilters')}:\n{text}")


# -- the summarizer -------------------------------------------------------------------------------


def langchain_available() -> bool:
    try:
        import langchain_aws  # noqa: F401
    except ImportError:
        return False
    return True


class Summarizer:
    """Summarize a log batch with Bedrock and publish it to SNS; :meth:`handle` is the Lambda entry point.

    ``bedrock_client`` and ``sns_client`` are boto3 clients (give the Bedrock one its ``endpoint_url`` when
    it is not the regional default). ``use_langchain``: None = when langchain-aws is installed.
    """

    def __init__(self, bedrock_client: Any, sns_client: Any, topic_arn: str, model_id: str = DEFAULT_MODEL,
                 use_langchain: Optional[bool] = None, tracer_provider: Any = None) -> None:
        self.bedrock = bedrock_client
        self.sns = sns_client
        self.topic_arn = topic_arn
        self.model_id = model_id
        self.use_langchain = langchain_available() if use_langchain is None else use_langchain
        self.tracer = trace.get_tracer("chatops_lambda", tracer_provider=tracer_provider)
        self.propagator = AwsXRayLambdaPropagator()
        self._chat_model: Any = None

    # Bedrock, two ways ------------------------------------------------------------------------------

    @bedrock_otel.task("summarize-log-alert")
    def summarize(self, prompt: str) -> Tuple[str, Dict[str, int]]:
        """The summary and its token usage (input, output) as Bedrock reported it."""
        if self.use_langchain:
            return self._summarize_langchain(prompt)
        response = self.bedrock.converse(
            modelId=self.model_id,
            system=[{"text": SYSTEM_PROMPT}],
            messages=[{"role": "user", "content": [{"text": prompt}]}],
            inferenceConfig={"maxTokens": 300, "temperature": 0.0},
        )
        text = "".join(block.get("text", "") for block in response["output"]["message"]["content"])
        usage = response["usage"]
        return text, {"input": usage["inputTokens"], "output": usage["outputTokens"]}

    def _summarize_langchain(self, prompt: str) -> Tuple[str, Dict[str, int]]:
        from langchain_core.messages import HumanMessage, SystemMessage

        if self._chat_model is None:
            from langchain_aws import ChatBedrockConverse

            self._chat_model = ChatBedrockConverse(client=self.bedrock, model=self.model_id, max_tokens=300,
                                                   temperature=0.0, region_name=self.bedrock.meta.region_name)
        message = self._chat_model.invoke([SystemMessage(content=SYSTEM_PROMPT), HumanMessage(content=prompt)])
        usage = message.usage_metadata or {}
        text = message.content if isinstance(message.content, str) else "".join(
            part.get("text", "") for part in message.content if isinstance(part, dict))
        return text, {"input": usage.get("input_tokens", 0), "output": usage.get("output_tokens", 0)}

    # the invocation -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def invocation_span(self, batch: Dict[str, Any], context: Any) -> Iterator[trace.Span]:
        """The Lambda invocation's CONSUMER span, child of Lambda's trace when ``_X_AMZN_TRACE_ID`` is set."""
        parent = self.propagator.extract({})
        name = getattr(context, "function_name", None) or "chatops-summarizer"
        attributes: Dict[str, Any] = {
            "faas.trigger": "pubsub",
            "cloud.provider": "aws",
            "messaging.system": "aws.cloudwatch_logs",
        }
        for key, attr in (("aws_request_id", "faas.invocation_id"), ("invoked_function_arn", "cloud.resource_id")):
            value = getattr(context, key, None)
            if value:
                attributes[attr] = value
        if batch.get("logGroup"):
            attributes["aws.log.group.names"] = [batch["logGroup"]]
        with self.tracer.start_as_current_span(name, context=parent, kind=SpanKind.CONSUMER, attributes=attributes,
                                               record_exception=True, set_status_on_exception=True) as span:
            yield span

    def handle(self, event: Dict[str, Any], context: Any = None) -> Dict[str, Any]:
        batch = decode_event(event)
        with self.invocation_span(batch, context) as span:
            if batch.get("messageType") == "CONTROL_MESSAGE":  # CloudWatch Logs checking that we are reachable
                span.set_attribute("chatops.ignored", "control_message")
                return {"status": "ignored", "reason": "CONTROL_MESSAGE"}
            events: List[Dict[str, Any]] = batch.get("logEvents", [])
            span.set_attribute("chatops.log_events", len(events))
            if not events:
                return {"status": "ignored", "reason": "no log events"}
            summary, usage = self.summarize(build_prompt(batch))
            subject = f"[{batch.get('logGroup', 'logs')}] {len(events)} error(s)"[:MAX_SUBJECT]
            published = self.sns.publish(
                TopicArn=self.topic_arn,
                Subject=subject,
                Message=f"{summary}\n\n— {len(events)} log line(s) from {batch.get('logGroup')}/"
                        f"{batch.get('logStream')}",
            )
            span.set_status(StatusCode.OK)
            return {"status": "published", "message_id": published["MessageId"], "summary": summary,
                    "usage": usage, "log_events": len(events), "via": "langchain" if self.use_langchain else "boto3"}


# -- Lambda wiring --------------------------------------------------------------------------------


def instrument(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Bedrock (bedrock-otel) and every other AWS call (botocore instrumentation, here: SNS)."""
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    if not bedrock_otel.BedrockInstrumentor().is_instrumented_by_opentelemetry:
        bedrock_otel.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    if not BotocoreInstrumentor().is_instrumented_by_opentelemetry:
        BotocoreInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)


class LambdaApp:
    """The handler plus the flush Lambda needs after every invocation (its threads freeze in between)."""

    def __init__(self, summarizer: Summarizer, flush: Callable[[], Any]) -> None:
        self.summarizer = summarizer
        self.flush = flush

    def __call__(self, event: Dict[str, Any], context: Any = None) -> Dict[str, Any]:
        try:
            return self.summarizer.handle(event, context)
        finally:
            self.flush()


_APP: Optional[LambdaApp] = None


def _default_app() -> LambdaApp:
    """Cold start: configure OpenTelemetry for Lambda, instrument, build the clients from the environment."""
    import boto3

    configured = bedrock_otel.configure(
        service_name=os.environ.get("OTEL_SERVICE_NAME") or os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        propagators=["tracecontext", "baggage", "xray-lambda"],
    )
    instrument(configured.tracer_provider, configured.meter_provider)
    bedrock = boto3.client("bedrock-runtime", endpoint_url=os.environ.get("BEDROCK_ENDPOINT_URL") or None)
    summarizer = Summarizer(bedrock, boto3.client("sns"), os.environ["SNS_TOPIC_ARN"],
                            os.environ.get("MODEL_ID", DEFAULT_MODEL),
                            use_langchain=None if os.environ.get("SUMMARIZER_USE_LANGCHAIN") != "0" else False,
                            tracer_provider=configured.tracer_provider)
    return LambdaApp(summarizer, lambda: configured.force_flush(timeout=2))


def lambda_handler(event: Dict[str, Any], context: Any) -> Dict[str, Any]:
    global _APP
    if _APP is None:
        _APP = _default_app()
    return _APP(event, context)
