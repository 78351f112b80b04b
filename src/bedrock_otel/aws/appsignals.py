"""CloudWatch Application Signals without the ADOT distro: the ``aws.*`` attributes and RED metrics it needs.

Application Signals builds its service map and its per-service / per-dependency latency, error and fault
graphs from what the ADOT distro computes inside the application process: for each span, a set of ``aws.*``
attributes (who is calling — ``aws.local.service``/``aws.local.operation`` — and, for outgoing calls, what —
``aws.remote.service``/``aws.remote.operation``/``aws.remote.resource.*``), put on the exported span and used
as the dimensions of three histograms, ``Latency`` (ms), ``Error`` and ``Fault``, exported with DELTA
temporality to the CloudWatch agent (``http://…:4316/v1/metrics``).

A container the operator does not inject (an EKS sidecar, an ECS task without the init container) has no
distro, so it has neither. :func:`install` gives a ``configure()``d process the same: a span processor
that propagates ``aws.local.operation`` and records the three histograms, a span-exporter wrapper that adds
the attributes to exported spans, and a sampler wrapper that records every span (so metrics count requests
that tracing samples out). The rules mirror ``aws-opentelemetry-distro`` 0.21.0 (its
``_AwsMetricAttributeGenerator``, ``AttributePropagatingSpanProcessor``, ``AwsSpanMetricsProcessor`` and
``ApplicationSignalsExporterProvider``); tests/test_appsignals.py checks them against the distro's own code
when it is installed. docs/sidecar.md lists what is emitted and where this differs.

:func:`remote_attributes` is also used on every Bedrock span (``calls.begin``), with or without this
pipeline, so the dependency (``AWS::BedrockRuntime`` → ``AWS::Bedrock::Model`` = model id) is on the span
whoever exports it.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import SpanKind, StatusCode, get_current_span

_log = logging.getLogger("bedrock_otel.aws")

# Attribute keys (aws-opentelemetry-distro's _aws_attribute_keys)
AWS_LOCAL_SERVICE = "aws.local.service"
AWS_LOCAL_OPERATION = "aws.local.operation"
AWS_REMOTE_SERVICE = "aws.remote.service"
AWS_REMOTE_OPERATION = "aws.remote.operation"
AWS_REMOTE_RESOURCE_TYPE = "aws.remote.resource.type"
AWS_REMOTE_RESOURCE_IDENTIFIER = "aws.remote.resource.identifier"
AWS_CFN_PRIMARY_IDENTIFIER = "aws.remote.resource.cfn.primary.identifier"
AWS_SPAN_KIND = "aws.span.kind"
AWS_SDK_DESCENDANT = "aws.sdk.descendant"
AWS_CONSUMER_PARENT_SPAN_KIND = "aws.consumer.parent.span.kind"
AWS_TRACE_FLAG_SAMPLED = "aws.trace.flag.sampled"

# Values the distro uses when it cannot tell
UNKNOWN_SERVICE = "UnknownService"
UNKNOWN_OPERATION = "UnknownOperation"
UNKNOWN_REMOTE_SERVICE = "UnknownRemoteService"
UNKNOWN_REMOTE_OPERATION = "UnknownRemoteOperation"
INTERNAL_OPERATION = "InternalOperation"
LOCAL_ROOT = "LOCAL_ROOT"

# Metrics (AwsSpanMetricsProcessorBuilder): names are case-sensitive for the CloudWatch agent
METER_NAME = "AwsSpanMetricsProcessor"
LATENCY, ERROR, FAULT = "Latency", "Error", "Fault"
LATENCY_UNIT = "Milliseconds"
SERVICE_METRIC, DEPENDENCY_METRIC = "Service", "Dependency"

# Settings (variables, defaults) are resolved in bedrock_otel.aws.settings.
MAX_EXPORT_INTERVAL = 60.0  # seconds: the distro caps it so metrics and traces correlate

# AWS SDK service id (rpc.service) → Application Signals remote service; others become "AWS::" + id
_SDK_SERVICES = {
    "Bedrock Agent": "AWS::Bedrock",
    "Bedrock Agent Runtime": "AWS::Bedrock",
    "Bedrock Runtime": "AWS::BedrockRuntime",
    "Bedrock AgentCore Control": "AWS::BedrockAgentCore",
    "Bedrock AgentCore": "AWS::BedrockAgentCore",
    "Secrets Manager": "AWS::SecretsManager",
    "SNS": "AWS::SNS",
    "SFN": "AWS::StepFunctions",
    "Lambda": "AWS::Lambda",
}
_EC2_METADATA_IP = "169.254.169.254"


def _escape(value: Any) -> str:
    """The distro's delimiter escaping for resource identifiers (``^`` → ``^^``, ``|`` → ``^|``)."""
    return str(value).replace("^", "^^").replace("|", "^|")


def _arn_parts(arn: Any) -> Optional[Sequence[str]]:
    if not isinstance(arn, str) or not arn.startswith("arn"):
        return None
    parts = arn.split(":")
    return parts if len(parts) >= 6 and parts[4].isdigit() and len(parts[4]) == 12 else None


def _arn_name(arn: Any, prefix: str = "") -> Optional[str]:
    parts = _arn_parts(arn)
    return parts[-1].replace(prefix, "") if parts else None


def _sqs_queue_name(url: Any) -> Optional[str]:
    if not isinstance(url, str):
        return None
    split = url.replace("http://", "").replace("https://", "").split("/")
    if len(split) == 3 and split[1].isdigit() and len(split[1]) == 12 and split[2]:
        return split[2]
    return None


def _resource(attrs: Mapping[str, Any]) -> Tuple[Optional[str], Optional[str], Optional[str]]:
    """(type, identifier, CloudFormation primary identifier) of an AWS SDK call's target, in the distro's order."""
    get = attrs.get
    tables = get("aws.dynamodb.table_names")
    if tables is not None and len(tables) == 1:
        return "AWS::DynamoDB::Table", _escape(tables[0]), None
    if get("aws.dynamodb.table.arn") is not None:
        name = _arn_name(get("aws.dynamodb.table.arn"), "table/")
        return "AWS::DynamoDB::Table", _escape(name) if name else None, None
    if get("aws.kinesis.stream.name") is not None:
        return "AWS::Kinesis::Stream", _escape(get("aws.kinesis.stream.name")), None
    if get("aws.kinesis.stream.arn") is not None:
        name = _arn_name(get("aws.kinesis.stream.arn"), "stream/")
        return "AWS::Kinesis::Stream", _escape(name) if name else None, None
    if get("aws.s3.bucket") is not None:
        return "AWS::S3::Bucket", _escape(get("aws.s3.bucket")), None
    if get("aws.sqs.queue.name") is not None:
        url = get("aws.sqs.queue.url")
        return "AWS::SQS::Queue", _escape(get("aws.sqs.queue.name")), _escape(url) if url is not None else None
    if get("aws.sqs.queue.url") is not None:
        name = _sqs_queue_name(get("aws.sqs.queue.url"))
        return "AWS::SQS::Queue", _escape(name) if name else None, _escape(get("aws.sqs.queue.url"))
    if get("aws.bedrock.agent.id") is not None:
        return "AWS::Bedrock::Agent", _escape(get("aws.bedrock.agent.id")), None
    if get("aws.bedrock.data_source.id") is not None:
        identifier = _escape(get("aws.bedrock.data_source.id"))
        knowledge_base = get("aws.bedrock.knowledge_base.id")
        cfn = f"{_escape(knowledge_base)}|{identifier}" if knowledge_base is not None else None
        return "AWS::Bedrock::DataSource", identifier, cfn
    if get("aws.bedrock.guardrail.id") is not None:
        arn = get("aws.bedrock.guardrail.arn")
        return "AWS::Bedrock::Guardrail", _escape(get("aws.bedrock.guardrail.id")), _escape(arn) if arn else None
    if get("aws.bedrock.knowledge_base.id") is not None:
        return "AWS::Bedrock::KnowledgeBase", _escape(get("aws.bedrock.knowledge_base.id")), None
    if get("gen_ai.request.model") is not None:
        return "AWS::Bedrock::Model", _escape(get("gen_ai.request.model")), None
    for key, kind in (("aws.secretsmanager.secret.arn", "AWS::SecretsManager::Secret"),
                      ("aws.sns.topic.arn", "AWS::SNS::Topic"),
                      ("aws.step_functions.state_machine.arn", "AWS::StepFunctions::StateMachine"),
                      ("aws.step_functions.activity.arn", "AWS::StepFunctions::Activity")):
        if get(key) is not None:
            name = _arn_name(get(key))
            return kind, _escape(name) if name else None, _escape(get(key))
    if get("aws.lambda.function.name") is not None and not _is_lambda_invoke(attrs):
        arn = get("aws.lambda.function.arn")
        return "AWS::Lambda::Function", _escape(get("aws.lambda.function.name")), _escape(arn) if arn else None
    return None, None, None


def _is_lambda_invoke(attrs: Mapping[str, Any]) -> bool:
    return attrs.get("rpc.system") == "aws-api" and attrs.get("rpc.service") == "Lambda" \
        and attrs.get("rpc.method") == "Invoke"


def remote_attributes(attrs: Mapping[str, Any]) -> Dict[str, str]:
    """The remote ``aws.*`` attributes of an AWS SDK call (``rpc.system=aws-api``) from its span attributes.

    For a Bedrock Runtime call: ``aws.remote.service=AWS::BedrockRuntime``, ``aws.remote.operation`` = the
    API name, ``aws.remote.resource.type=AWS::Bedrock::Model``, ``aws.remote.resource.identifier`` = the model
    id as the application passed it. Empty for other spans.
    """
    service = attrs.get("rpc.service")
    if attrs.get("rpc.system") != "aws-api" or service is None:
        return {}
    if _is_lambda_invoke(attrs):
        remote = str(attrs.get("aws.lambda.function.name") or UNKNOWN_REMOTE_SERVICE)
    else:
        remote = _SDK_SERVICES.get(str(service), f"AWS::{service}")
    found = {AWS_REMOTE_SERVICE: remote, AWS_REMOTE_OPERATION: str(attrs.get("rpc.method") or UNKNOWN_REMOTE_OPERATION)}
    kind, identifier, cfn = _resource(attrs)
    if kind is not None and identifier is not None:
        found[AWS_REMOTE_RESOURCE_TYPE] = kind
        found[AWS_REMOTE_RESOURCE_IDENTIFIER] = identifier
        found[AWS_CFN_PRIMARY_IDENTIFIER] = cfn if cfn is not None else identifier
    return found


# Every attribute remote_attributes reads: an SDK call whose own attributes hold none of these has the remote
# attributes of its service, API and model alone, whatever else is on its span.
REMOTE_INPUT_KEYS = frozenset({
    "rpc.system", "rpc.service", "rpc.method", "gen_ai.request.model", "aws.dynamodb.table_names",
    "aws.dynamodb.table.arn", "aws.kinesis.stream.name", "aws.kinesis.stream.arn", "aws.s3.bucket",
    "aws.sqs.queue.name", "aws.sqs.queue.url", "aws.bedrock.agent.id", "aws.bedrock.data_source.id",
    "aws.bedrock.guardrail.id", "aws.bedrock.guardrail.arn", "aws.bedrock.knowledge_base.id",
    "aws.secretsmanager.secret.arn", "aws.sns.topic.arn", "aws.step_functions.state_machine.arn",
    "aws.step_functions.activity.arn", "aws.lambda.function.name", "aws.lambda.function.arn",
})


@lru_cache(maxsize=256)
def sdk_call_remote_attributes(service: str, method: str, model: Optional[str]) -> Dict[str, str]:
    """``remote_attributes`` of an AWS SDK span whose only inputs (:data:`REMOTE_INPUT_KEYS`) are ``rpc.*`` and
    the model, memoised: what ``calls.begin`` puts on most Bedrock spans. The result is shared: read it only."""
    attrs = {"rpc.system": "aws-api", "rpc.service": service, "rpc.method": method}
    if model is not None:
        attrs["gen_ai.request.model"] = model
    return remote_attributes(attrs)


# -- span → metric attributes (the distro's generator) ---------------------------------------------------


def is_local_root(span: ReadableSpan) -> bool:
    parent = span.parent
    return parent is None or not parent.is_valid or parent.is_remote


def _http_method(attrs: Mapping[str, Any]) -> Optional[str]:
    method = attrs.get("http.request.method")
    return str(method) if method is not None else (str(attrs["http.method"]) if "http.method" in attrs else None)


def _first_segment(path: Optional[str]) -> str:
    if not path:
        return "/"
    parts = path.split("/")
    return "/" + parts[1] if len(parts) > 1 else "/"


def ingress_operation(span: ReadableSpan) -> str:
    """``aws.local.operation`` of a SERVER (or local-root) span: its name, unless that is empty or just a method."""
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    scope = span.instrumentation_scope
    if function is not None and (scope is None or scope.name != "opentelemetry.instrumentation.flask"):
        return f"{function}/FunctionHandler"
    if is_local_root(span) and span.kind != SpanKind.SERVER:
        return INTERNAL_OPERATION
    attrs = span.attributes or {}
    name = span.name
    method = _http_method(attrs)
    if name and name != UNKNOWN_OPERATION and not (method and name == method):
        return name
    path = None
    for key in ("http.target", "http.url", "url.path", "url.full"):
        value = attrs.get(key)
        if value is not None:
            path = urlsplit(str(value)).path if key in ("http.url", "url.full") else str(value)
            break
    if path is None:
        return UNKNOWN_OPERATION
    operation = _first_segment(path)
    method = attrs.get("http.method") or attrs.get("http.request.method")
    return f"{method} {operation}" if method is not None else operation


def local_service(resource: Resource) -> str:
    """``aws.local.service``: the resource's ``service.name``, or ``UnknownService`` for the SDK's default."""
    name = resource.attributes.get(SERVICE_NAME)
    return UNKNOWN_SERVICE if name is None or str(name).startswith("unknown_service") else str(name)


def _remote_service_and_operation(attrs: Mapping[str, Any]) -> Tuple[str, str]:
    service, operation = UNKNOWN_REMOTE_SERVICE, UNKNOWN_REMOTE_OPERATION
    get = attrs.get
    if get(AWS_REMOTE_SERVICE) is not None or get(AWS_REMOTE_OPERATION) is not None:
        service = str(get(AWS_REMOTE_SERVICE) or UNKNOWN_REMOTE_SERVICE)
        operation = str(get(AWS_REMOTE_OPERATION) or UNKNOWN_REMOTE_OPERATION)
    elif get("rpc.service") is not None or get("rpc.method") is not None:
        if get("rpc.system") == "aws-api":
            sdk = remote_attributes({**attrs, "rpc.service": get("rpc.service") or UNKNOWN_REMOTE_SERVICE})
            service = sdk[AWS_REMOTE_SERVICE]
        else:
            service = str(get("rpc.service") or UNKNOWN_REMOTE_SERVICE)
        operation = str(get("rpc.method") or UNKNOWN_REMOTE_OPERATION)
    elif any(get(key) is not None for key in ("db.system", "db.operation", "db.statement")):
        service = str(get("db.system") or UNKNOWN_REMOTE_SERVICE)
        if get("db.operation") is not None:
            operation = str(get("db.operation"))
        elif get("db.statement") is not None:
            words = str(get("db.statement")).split()
            operation = words[0].upper() if words and words[0].isalpha() else UNKNOWN_REMOTE_OPERATION
    elif get("faas.invoked_name") is not None or get("faas.trigger") is not None:
        service = str(get("faas.invoked_name") or UNKNOWN_REMOTE_SERVICE)
        operation = str(get("faas.trigger") or UNKNOWN_REMOTE_OPERATION)
    elif get("messaging.system") is not None or get("messaging.operation") is not None:
        service = str(get("messaging.system") or UNKNOWN_REMOTE_SERVICE)
        operation = str(get("messaging.operation") or UNKNOWN_REMOTE_OPERATION)
    elif get("graphql.operation.type") is not None:
        service, operation = "graphql", str(get("graphql.operation.type"))
    if get("peer.service") is not None and get(AWS_REMOTE_SERVICE) is None:
        service = str(get("peer.service"))
    if service == UNKNOWN_REMOTE_SERVICE:
        service = _peer(attrs)
    if operation == UNKNOWN_REMOTE_OPERATION:
        operation = _http_operation(attrs)
    return service, operation


def _peer(attrs: Mapping[str, Any]) -> str:
    """host[:port] of the peer, from the older network attributes first (as the distro), then the current ones."""
    for host_key, port_key in (("net.peer.name", "net.peer.port"), ("net.sock.peer.addr", "net.sock.peer.port")):
        if attrs.get(host_key) is not None:
            port = attrs.get(port_key)
            return f"{attrs[host_key]}:{port}" if port is not None else str(attrs[host_key])
    if attrs.get("http.url") is not None:
        netloc = urlsplit(str(attrs["http.url"])).netloc
        return netloc or UNKNOWN_REMOTE_SERVICE
    # Not in the distro (it ignores these): current HTTP semantic conventions.
    if attrs.get("server.address") is not None and attrs.get("url.full") is not None:
        port = attrs.get("server.port")
        return f"{attrs['server.address']}:{port}" if port is not None else str(attrs["server.address"])
    return UNKNOWN_REMOTE_SERVICE


def _http_operation(attrs: Mapping[str, Any]) -> str:
    operation = UNKNOWN_REMOTE_OPERATION
    url = attrs.get("http.url")
    method = attrs.get("http.method")
    if url is None and attrs.get("url.full") is not None:  # not in the distro: current conventions
        url, method = attrs.get("url.full"), attrs.get("http.request.method")
    if url is not None:
        operation = _first_segment(urlsplit(str(url)).path)
    if method is not None:
        operation = f"{method} {operation}"
    return operation


def generates_service_metrics(span: ReadableSpan) -> bool:
    return is_local_root(span) or span.kind == SpanKind.SERVER


def generates_dependency_metrics(span: ReadableSpan) -> bool:
    if span.kind in (SpanKind.CLIENT, SpanKind.PRODUCER):
        return True
    if span.kind != SpanKind.CONSUMER:
        return False
    attrs = span.attributes or {}
    if attrs.get("messaging.operation") == "process":
        return is_local_root(span) or attrs.get(AWS_CONSUMER_PARENT_SPAN_KIND) != "CONSUMER"
    return True


def metric_attributes(span: ReadableSpan, resource: Optional[Resource] = None) -> Dict[str, Dict[str, Any]]:
    """``{"Service": …, "Dependency": …}``: the metric attributes a span produces (zero, one or both)."""
    resource = resource if resource is not None else span.resource
    attrs = span.attributes or {}
    found: Dict[str, Dict[str, Any]] = {}
    service = local_service(resource)
    if generates_service_metrics(span):
        found[SERVICE_METRIC] = {
            AWS_LOCAL_SERVICE: service,
            AWS_LOCAL_OPERATION: ingress_operation(span),
            AWS_SPAN_KIND: LOCAL_ROOT if is_local_root(span) else span.kind.name,
        }
    if generates_dependency_metrics(span):
        if is_local_root(span) and span.kind != SpanKind.SERVER:
            local_operation = INTERNAL_OPERATION
        else:
            local_operation = str(attrs.get(AWS_LOCAL_OPERATION) or UNKNOWN_OPERATION)
        remote_service, remote_operation = _remote_service_and_operation(attrs)
        dependency: Dict[str, Any] = {
            AWS_LOCAL_SERVICE: service,
            AWS_LOCAL_OPERATION: local_operation,
            AWS_REMOTE_SERVICE: remote_service,
            AWS_REMOTE_OPERATION: remote_operation,
        }
        if attrs.get("rpc.system") == "aws-api":
            kind, identifier, cfn = _resource(attrs)
            if kind is not None and identifier is not None:
                dependency[AWS_REMOTE_RESOURCE_TYPE] = kind
                dependency[AWS_REMOTE_RESOURCE_IDENTIFIER] = identifier
                dependency[AWS_CFN_PRIMARY_IDENTIFIER] = cfn if cfn is not None else identifier
        dependency[AWS_SPAN_KIND] = span.kind.name
        found[DEPENDENCY_METRIC] = dependency
    return found


def span_attributes(span: ReadableSpan, resource: Optional[Resource] = None) -> Dict[str, Any]:
    """The ``aws.*`` attributes the exported span carries: the dependency's (``aws.span.kind=LOCAL_ROOT`` when
    the span is also a local root), else the service's."""
    found = metric_attributes(span, resource)
    if DEPENDENCY_METRIC in found:
        attributes = dict(found[DEPENDENCY_METRIC])
        if SERVICE_METRIC in found:
            attributes[AWS_SPAN_KIND] = LOCAL_ROOT
        return attributes
    return found.get(SERVICE_METRIC, {})


# -- the pipeline pieces ------------------------------------------------------------------------------


class AlwaysRecordSampler(Sampler):
    """Turns the wrapped sampler's DROP into RECORD_ONLY: every span reaches the metrics processor, while only
    sampled spans are exported (the batch processor skips unsampled ones)."""

    def __init__(self, root: Sampler) -> None:
        self._root = root

    def should_sample(self, parent_context: Optional[Context], trace_id: int, name: str,
                      kind: Optional[SpanKind] = None, attributes: Any = None, links: Any = None,
                      trace_state: Any = None) -> SamplingResult:
        result = self._root.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        if result.decision is Decision.DROP:
            merged = {**(attributes or {}), **(result.attributes or {})}
            return SamplingResult(Decision.RECORD_ONLY, merged, result.trace_state)
        return result

    def get_description(self) -> str:
        return f"AlwaysRecordSampler{{{self._root.get_description()}}}"


class AppSignalsSpanProcessor(SpanProcessor):
    """Propagates ``aws.local.operation`` to child spans (on start) and records ``Latency``/``Error``/``Fault``
    for each span that produces service or dependency metrics (on end)."""

    def __init__(self, resource: Resource, meter_provider: Any = None) -> None:
        self._resource = resource
        self._meter_provider = meter_provider
        self._histograms: Optional[Tuple[Any, Any, Any]] = None
        if meter_provider is not None:
            meter = meter_provider.get_meter(METER_NAME)
            histograms = (meter.create_histogram(ERROR), meter.create_histogram(FAULT),
                          meter.create_histogram(LATENCY, unit=LATENCY_UNIT))
            for histogram, name in zip(histograms, (ERROR, FAULT, LATENCY)):
                # The SDK lower-cases instrument names; the CloudWatch agent matches these case-sensitively
                # (the distro does the same).
                if getattr(histogram, "name", name) != name:
                    histogram.name = name
            self._histograms = histograms

    def on_start(self, span: Span, parent_context: Optional[Context] = None) -> None:
        try:
            parent = get_current_span(parent_context)
            local = isinstance(parent, ReadableSpan)
            parent_attrs: Mapping[str, Any] = (parent.attributes or {}) if local else {}  # type: ignore[union-attr]
            if local:
                if parent_attrs.get("rpc.system") == "aws-api":
                    span.set_attribute(AWS_SDK_DESCENDANT, "true")
                if parent.kind == SpanKind.INTERNAL:  # type: ignore[union-attr]
                    for key in (AWS_REMOTE_SERVICE, AWS_REMOTE_OPERATION):
                        if parent_attrs.get(key) is not None:
                            span.set_attribute(key, parent_attrs[key])
                if span.kind == SpanKind.CONSUMER and parent.kind == SpanKind.CONSUMER:  # type: ignore[union-attr]
                    span.set_attribute(AWS_CONSUMER_PARENT_SPAN_KIND, SpanKind.CONSUMER.name)
            operation: Optional[str] = None
            if is_local_root(span):
                if span.kind != SpanKind.SERVER:
                    operation = ingress_operation(span)
            elif local and parent.kind == SpanKind.SERVER:  # type: ignore[union-attr]
                operation = ingress_operation(parent)  # type: ignore[arg-type]
            elif local and parent_attrs.get(AWS_LOCAL_OPERATION) is not None:
                operation = str(parent_attrs[AWS_LOCAL_OPERATION])
            if operation is not None:
                span.set_attribute(AWS_LOCAL_OPERATION, operation)
            span.set_attribute(AWS_TRACE_FLAG_SAMPLED, span.get_span_context().trace_flags.sampled)
        except Exception:  # telemetry must never break the application
            _log.debug("Application Signals: on_start failed", exc_info=True)

    def on_end(self, span: ReadableSpan) -> None:
        if self._histograms is None:
            return
        try:
            for attributes in metric_attributes(span, self._resource).values():
                if attributes.get(AWS_REMOTE_SERVICE) == _EC2_METADATA_IP:
                    continue
                self._record(span, attributes)
        except Exception:
            _log.debug("Application Signals: on_end failed", exc_info=True)

    def _record(self, span: ReadableSpan, attributes: Dict[str, Any]) -> None:
        error, fault, latency = self._histograms  # type: ignore[misc]
        attrs = span.attributes or {}
        # The distro reads only the older http.status_code; the current name is a fallback here.
        status = attrs.get("http.status_code", attrs.get("http.response.status_code"))
        is_error = is_fault = 0
        if isinstance(status, int) and 400 <= status <= 499:
            is_error = 1
        elif (isinstance(status, int) and 500 <= status <= 599) or span.status.status_code == StatusCode.ERROR:
            is_fault = 1
        error.record(is_error, attributes)
        fault.record(is_fault, attributes)
        if span.end_time is not None and span.start_time is not None:
            latency.record((span.end_time - span.start_time) / 1_000_000.0, attributes)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class AppSignalsSpanExporter(SpanExporter):
    """Adds the Application Signals attributes (:func:`span_attributes`) to each span, then exports it."""

    def __init__(self, delegate: SpanExporter, resource: Resource) -> None:
        self._delegate = delegate
        self._resource = resource

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._delegate.export([self._with_attributes(span) for span in spans])

    def _with_attributes(self, span: ReadableSpan) -> ReadableSpan:
        try:
            extra = span_attributes(span, self._resource)
        except Exception:
            _log.debug("Application Signals: could not compute span attributes", exc_info=True)
            return span
        if not extra:
            return span
        return ReadableSpan(
            name=span.name, context=span.context, parent=span.parent, resource=span.resource,
            attributes={**(span.attributes or {}), **extra}, events=span.events, links=span.links, kind=span.kind,
            status=span.status, start_time=span.start_time, end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def shutdown(self) -> None:
        self._delegate.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self._delegate.force_flush(timeout_millis))


def metric_exporter(protocol: str, endpoint: str, timeout: float, headers: Mapping[str, str]) -> Any:
    """The OTLP metric exporter the distro uses for Application Signals: DELTA temporality for every kind."""
    from opentelemetry.sdk.metrics import (
        Counter,
        Histogram,
        ObservableCounter,
        ObservableGauge,
        ObservableUpDownCounter,
        UpDownCounter,
    )
    from opentelemetry.sdk.metrics.export import AggregationTemporality

    delta = {kind: AggregationTemporality.DELTA for kind in (Counter, UpDownCounter, ObservableCounter,
                                                             ObservableUpDownCounter, ObservableGauge, Histogram)}
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExporter

        return GrpcExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"), headers=dict(headers) or None,
                            timeout=timeout, preferred_temporality=delta)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpExporter

    return HttpExporter(endpoint=endpoint, headers=dict(headers) or None, timeout=timeout, preferred_temporality=delta)


def is_lambda(environ: Mapping[str, str]) -> bool:
    """On Lambda the distro exports no Application Signals metrics (they are derived from the spans)."""
    return "AWS_LAMBDA_FUNCTION_NAME" in environ
