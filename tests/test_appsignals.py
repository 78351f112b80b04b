"""CloudWatch Application Signals: the ``aws.*`` attributes and Latency/Error/Fault metrics.

Three layers:

* the rules (bedrock_otel.aws.appsignals) on real Bedrock spans in memory, with the values the ADOT distro
  would produce written out;
* the same scenario run through ``aws-opentelemetry-distro``'s own processors (its
  ``AttributePropagatingSpanProcessor``, ``AwsMetricAttributesSpanExporter`` and ``AwsSpanMetricsProcessor``)
  and through ours, compared attribute for attribute and point for point (skipped without the distro: it pins
  exact OpenTelemetry versions, so it lives in its own environment — docs/sidecar.md);
* ``configure(application_signals=True)`` in a subprocess against a real OTLP/HTTP receiver standing in for
  the CloudWatch agent.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest
from botocore.exceptions import ClientError
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler
from opentelemetry.trace import SpanKind, Status, StatusCode

from bedrock_otel.aws import appsignals
from bedrock_otel.aws.settings import resolve
from bedrock_otel.instrumentor import BedrockInstrumentor
from bedrock_otel.testing.fake_server import FakeBedrock, Reply
from bedrock_otel.testing.otlp_receiver import OtlpHttpReceiver

from conftest import CLAUDE, user

PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3"
SERVICE = "ragapi"
# Attributes Application Signals defines; everything else on the spans is ours and not compared.
APP_SIGNALS_KEYS = (
    "aws.local.service", "aws.local.operation", "aws.remote.service", "aws.remote.operation",
    "aws.remote.resource.type", "aws.remote.resource.identifier", "aws.remote.resource.cfn.primary.identifier",
    "aws.span.kind", "aws.sdk.descendant", "aws.consumer.parent.span.kind", "aws.trace.flag.sampled",
)


# -- a pipeline (ours or the distro's) with Bedrock instrumented onto it ---------------------------------


Pipeline = Tuple[TracerProvider, InMemorySpanExporter, InMemoryMetricReader]
Builder = Callable[[Resource, Sampler], Pipeline]


def _ours(resource: Resource, root: Sampler) -> Pipeline:
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader], resource=resource)
    provider = TracerProvider(resource=resource, sampler=appsignals.AlwaysRecordSampler(root))
    spans = InMemorySpanExporter()
    provider.add_span_processor(appsignals.AppSignalsSpanProcessor(resource, meter_provider))
    provider.add_span_processor(SimpleSpanProcessor(appsignals.AppSignalsSpanExporter(spans, resource)))
    return provider, spans, reader


def _distro(resource: Resource, root: Sampler) -> Pipeline:
    """What the distro's configurator builds when OTEL_AWS_APPLICATION_SIGNALS_ENABLED=true."""
    from amazon.opentelemetry.distro.always_record_sampler import AlwaysRecordSampler
    from amazon.opentelemetry.distro.attribute_propagating_span_processor_builder import (
        AttributePropagatingSpanProcessorBuilder,
    )
    from amazon.opentelemetry.distro.aws_metric_attributes_span_exporter_builder import (
        AwsMetricAttributesSpanExporterBuilder,
    )
    from amazon.opentelemetry.distro.aws_span_metrics_processor_builder import AwsSpanMetricsProcessorBuilder

    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader], resource=resource)
    provider = TracerProvider(resource=resource, sampler=AlwaysRecordSampler(root))
    spans = InMemorySpanExporter()
    provider.add_span_processor(AttributePropagatingSpanProcessorBuilder().build())
    provider.add_span_processor(SimpleSpanProcessor(AwsMetricAttributesSpanExporterBuilder(spans, resource).build()))
    provider.add_span_processor(AwsSpanMetricsProcessorBuilder(meter_provider, resource).build())
    return provider, spans, reader


@contextlib.contextmanager
def _instrumented(build: Builder, sampled: bool = True) -> Iterator[Pipeline]:
    resource = Resource.create({"service.name": SERVICE})
    provider, spans, reader = build(resource, ALWAYS_ON if sampled else ALWAYS_OFF)
    instrumentor = BedrockInstrumentor()
    previous = instrumentor.instrument_kwargs if instrumentor.is_instrumented_by_opentelemetry else None
    if previous is not None:
        instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield provider, spans, reader
    finally:
        instrumentor.uninstrument()
        if previous is not None:
            instrumentor.instrument(**previous)


def _scenario(provider: TracerProvider, fake: FakeBedrock) -> None:
    """A sidecar's traffic: requests that call Bedrock, a throttle, a local-root call, and other span kinds."""
    tracer = provider.get_tracer("app")
    client = fake.client()
    with tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER,
                                      attributes={"http.request.method": "POST", "url.path": "/ask"}):
        client.converse(modelId=CLAUDE, messages=user("what is RAG?"))
        fake.enqueue(Reply.throttle())
        with pytest.raises(ClientError):
            client.converse(modelId=CLAUDE, messages=user("again"))
        with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT,
                                          attributes={"http.method": "GET", "http.url": "http://vectors:8080/q/x"}):
            pass
        with tracer.start_as_current_span("DynamoDB.GetItem", kind=SpanKind.CLIENT, attributes={
                "rpc.system": "aws-api", "rpc.service": "DynamoDB", "rpc.method": "GetItem",
                "aws.dynamodb.table_names": ["sessions"]}):
            pass
        with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT,
                                          attributes={"db.system": "postgresql", "db.statement": "SELECT 1"}):
            pass
    with tracer.start_as_current_span("GET", kind=SpanKind.SERVER,
                                      attributes={"http.method": "GET", "http.target": "/health/deep"}) as span:
        span.set_status(Status(StatusCode.ERROR))
    client.converse(modelId=PROFILE_ARN, messages=user("a batch job"))  # a local root: no server span


def _app_signals(span: Any) -> Dict[str, Any]:
    return {key: span.attributes[key] for key in APP_SIGNALS_KEYS if key in span.attributes}


def _points(reader: InMemoryMetricReader) -> Dict[Tuple[str, Tuple[Tuple[str, Any], ...]], Tuple[int, float]]:
    """(metric, attributes) → (count, sum); Latency sums are run-dependent, so only its count is kept."""
    found = {}
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    key = (metric.name, tuple(sorted(point.attributes.items())))
                    found[key] = (point.count, 0.0 if metric.name == appsignals.LATENCY else point.sum)
    return found


def _run(build: Builder, sampled: bool = True) -> Tuple[List[Any], Dict[Any, Any]]:
    with FakeBedrock() as fake, _instrumented(build, sampled) as (provider, spans, reader):
        _scenario(provider, fake)
        return list(spans.get_finished_spans()), _points(reader)


def _by_name(spans: List[Any]) -> Dict[str, List[Dict[str, Any]]]:
    found: Dict[str, List[Dict[str, Any]]] = {}
    for span in spans:
        found.setdefault(span.name, []).append(_app_signals(span))
    return found


# -- the rules, written out --------------------------------------------------------------------------------


def test_remote_attributes_of_bedrock_calls():
    runtime = {"rpc.system": "aws-api", "rpc.service": "Bedrock Runtime", "rpc.method": "InvokeModel",
               "gen_ai.request.model": "eu.amazon.nova-lite-v1:0"}
    assert appsignals.remote_attributes(runtime) == {
        "aws.remote.service": "AWS::BedrockRuntime", "aws.remote.operation": "InvokeModel",
        "aws.remote.resource.type": "AWS::Bedrock::Model", "aws.remote.resource.identifier": "eu.amazon.nova-lite-v1:0",
        "aws.remote.resource.cfn.primary.identifier": "eu.amazon.nova-lite-v1:0",
    }
    agent = {"rpc.system": "aws-api", "rpc.service": "Bedrock Agent Runtime", "rpc.method": "InvokeAgent",
             "aws.bedrock.agent.id": "AGENT1", "gen_ai.request.model": "x"}
    assert appsignals.remote_attributes(agent)["aws.remote.service"] == "AWS::Bedrock"
    assert appsignals.remote_attributes(agent)["aws.remote.resource.type"] == "AWS::Bedrock::Agent"
    kb = {"rpc.system": "aws-api", "rpc.service": "Bedrock Agent Runtime", "rpc.method": "Retrieve",
          "aws.bedrock.knowledge_base.id": "KB|1"}
    assert appsignals.remote_attributes(kb)["aws.remote.resource.identifier"] == "KB^|1"  # the distro's escaping
    guardrail = {"rpc.system": "aws-api", "rpc.service": "Bedrock Runtime", "rpc.method": "ApplyGuardrail",
                 "aws.bedrock.guardrail.id": "gr1", "aws.bedrock.guardrail.arn": "arn:aws:bedrock:…:guardrail/gr1"}
    assert appsignals.remote_attributes(guardrail)["aws.remote.resource.type"] == "AWS::Bedrock::Guardrail"
    assert appsignals.remote_attributes(guardrail)["aws.remote.resource.cfn.primary.identifier"].endswith("/gr1")
    assert appsignals.remote_attributes({"rpc.system": "grpc", "rpc.service": "x"}) == {}


def test_bedrock_spans_carry_the_dependency_without_application_signals(bedrock_spans, fake_bedrock):
    """The remote attributes are on every Bedrock span (calls.begin), whoever exports it."""
    fake_bedrock.client().converse(modelId=PROFILE_ARN, messages=user("hi"))
    span = bedrock_spans.one(operation="chat")
    assert span.attributes["aws.remote.service"] == "AWS::BedrockRuntime"
    assert span.attributes["aws.remote.operation"] == "Converse"
    assert span.attributes["aws.remote.resource.type"] == "AWS::Bedrock::Model"
    assert span.attributes["aws.remote.resource.identifier"] == PROFILE_ARN
    assert "aws.local.service" not in span.attributes  # that needs the resource: the pipeline adds it


def test_our_pipeline_on_bedrock_spans():
    spans, points = _run(_ours)
    by_name = _by_name(spans)
    dependency = {"aws.local.service": SERVICE, "aws.local.operation": "POST /ask",
                  "aws.remote.service": "AWS::BedrockRuntime", "aws.remote.operation": "Converse",
                  "aws.remote.resource.type": "AWS::Bedrock::Model", "aws.remote.resource.identifier": CLAUDE,
                  "aws.remote.resource.cfn.primary.identifier": CLAUDE, "aws.span.kind": "CLIENT",
                  "aws.trace.flag.sampled": True}
    assert by_name[f"chat {CLAUDE}"] == [dependency, dependency]  # the call and the throttled call
    (local_root,) = by_name[f"chat {PROFILE_ARN}"]
    assert local_root["aws.span.kind"] == "LOCAL_ROOT" and local_root["aws.local.operation"] == "InternalOperation"
    assert local_root["aws.remote.resource.identifier"] == PROFILE_ARN
    assert by_name["POST /ask"] == [{"aws.local.service": SERVICE, "aws.local.operation": "POST /ask",
                                     "aws.span.kind": "LOCAL_ROOT", "aws.trace.flag.sampled": True}]
    assert by_name["GET"][1]["aws.local.operation"] == "GET /health"  # a bare method is not an operation
    http = by_name["GET"][0]
    assert (http["aws.remote.service"], http["aws.remote.operation"]) == ("vectors:8080", "GET /q")
    dynamo = by_name["DynamoDB.GetItem"][0]
    assert (dynamo["aws.remote.service"], dynamo["aws.remote.resource.type"],
            dynamo["aws.remote.resource.identifier"]) == ("AWS::DynamoDB", "AWS::DynamoDB::Table", "sessions")
    assert by_name["SELECT"][0]["aws.remote.operation"] == "SELECT"

    key = tuple(sorted({k: v for k, v in dependency.items() if k != "aws.trace.flag.sampled"}.items()))
    assert points[("Latency", key)][0] == 2
    assert points[("Error", key)] == (2, 1.0)  # the 429 is an error (client side), not a fault
    assert points[("Fault", key)] == (2, 0.0)
    health = tuple(sorted({"aws.local.service": SERVICE, "aws.local.operation": "GET /health",
                           "aws.span.kind": "LOCAL_ROOT"}.items()))
    assert points[("Fault", health)] == (1, 1.0)  # span status ERROR, no status code: a fault


def test_metrics_count_spans_that_are_not_sampled():
    """The always-record sampler: sampled-out requests are not exported but still counted."""
    spans, points = _run(_ours, sampled=False)
    assert spans == []
    assert sum(count for (name, _), (count, _) in points.items() if name == "Latency") == 9


# -- the same scenario through the ADOT distro's own code ----------------------------------------------------


def test_identical_to_the_adot_distro():
    pytest.importorskip("amazon.opentelemetry.distro.aws_span_metrics_processor_builder",
                        reason="aws-opentelemetry-distro not installed (it pins exact OpenTelemetry versions)")
    ours_spans, ours_points = _run(_ours)
    distro_spans, distro_points = _run(_distro)
    assert _by_name(ours_spans) == _by_name(distro_spans)

    # One known difference: the distro reads only the older http.status_code, so a Bedrock throttle (429,
    # http.response.status_code) counts as a fault there unless the span also has the older name.
    throttled = [s for s in distro_spans if s.name == f"chat {CLAUDE}" and s.status.status_code == StatusCode.ERROR]
    legacy_status = "http.status_code" in throttled[0].attributes
    if not legacy_status:
        for name, attributes in list(ours_points):
            if name in ("Error", "Fault") and ("aws.remote.service", "AWS::BedrockRuntime") in attributes \
                    and ("aws.local.operation", "POST /ask") in attributes:
                count, total = ours_points[(name, attributes)]
                ours_points[(name, attributes)] = (count, total + (-1.0 if name == "Error" else 1.0))
    assert ours_points == distro_points


def test_identical_to_the_adot_distro_generator_on_each_span():
    """The distro's attribute generator, called directly on the spans our pipeline exported."""
    pytest.importorskip("amazon.opentelemetry.distro._aws_metric_attribute_generator",
                        reason="aws-opentelemetry-distro not installed")
    from amazon.opentelemetry.distro._aws_metric_attribute_generator import _AwsMetricAttributeGenerator

    spans, _ = _run(_ours)
    resource = Resource.create({"service.name": SERVICE})
    for span in spans:
        theirs = _AwsMetricAttributeGenerator.generate_metric_attributes_dict_from_span(span, resource)
        ours = appsignals.metric_attributes(span, resource)
        assert {kind: dict(attributes) for kind, attributes in theirs.items()} == ours, span.name


# -- settings and configure() -----------------------------------------------------------------------------


def test_settings():
    assert resolve({}, {}).application_signals is False
    on = resolve({}, {"OTEL_AWS_APPLICATION_SIGNALS_ENABLED": "true"})
    assert (on.application_signals, on.application_signals_protocol, on.application_signals_endpoint) == \
        (True, "http/protobuf", "http://localhost:4316/v1/metrics")
    assert resolve({}, {"OTEL_AWS_APP_SIGNALS_ENABLED": "TRUE"}).application_signals  # the older name
    grpc = resolve({"application_signals": True}, {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert grpc.application_signals_endpoint == "http://localhost:4315"
    explicit = resolve({"application_signals": True, "application_signals_endpoint": "http://agent:4316/v1/metrics"},
                       {"OTEL_AWS_APPLICATION_SIGNALS_ENABLED": "false"})
    assert explicit.application_signals and explicit.application_signals_endpoint == "http://agent:4316/v1/metrics"
    with pytest.raises(ValueError, match="OTEL_AWS_APPLICATION_SIGNALS_ENABLED='yes'"):
        resolve({}, {"OTEL_AWS_APPLICATION_SIGNALS_ENABLED": "yes"})
    with pytest.raises(ValueError, match="OTEL_AWS_APPLICATION_SIGNALS_EXPORTER_ENDPOINT"):
        resolve({}, {"OTEL_AWS_APPLICATION_SIGNALS_ENABLED": "true",
                     "OTEL_AWS_APPLICATION_SIGNALS_EXPORTER_ENDPOINT": "agent:4316"})


APP = '''
import json, os, time
from opentelemetry import trace
from bedrock_otel.aws import configure
from bedrock_otel.testing.fake_server import FakeBedrock

configured = configure()
tracer = trace.get_tracer("app")
with FakeBedrock() as fake:
    client = fake.client()
    for _ in range(3):
        with tracer.start_as_current_span("POST /ask", kind=trace.SpanKind.SERVER,
                                          attributes={"http.request.method": "POST", "url.path": "/ask"}):
            client.converse(modelId="anthropic.claude-3-haiku-20240307-v1:0",
                            messages=[{"role": "user", "content": [{"text": "hi"}]}])
print(json.dumps({"ok": configured.shutdown(timeout=10)}))
'''


def _subprocess(tmp_path: Path, **env: str) -> None:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(APP))
    variables = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "ECS_", "PYTEST_"))}
    variables.update(env)
    result = subprocess.run([sys.executable, str(script)], env=variables, capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"ok": True}, result.stderr


def test_configure_emits_what_the_cloudwatch_agent_expects(tmp_path: Path):
    """Traces and Application Signals metrics over OTLP/HTTP to one agent, as the operator configures it."""
    with OtlpHttpReceiver() as agent:
        _subprocess(tmp_path, OTEL_SERVICE_NAME=SERVICE, OTEL_AWS_APPLICATION_SIGNALS_ENABLED="true",
                    OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"{agent.endpoint}/v1/traces",
                    OTEL_AWS_APPLICATION_SIGNALS_EXPORTER_ENDPOINT=f"{agent.endpoint}/v1/metrics",
                    OTEL_METRICS_EXPORTER="none", OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG="0")
        spans = agent.spans()
        metrics = agent.metrics()
    assert spans == []  # sampled out (ratio 0) ...
    latency = metrics["Latency"]  # ... and still counted, with exactly the distro's names
    assert set(metrics) == {"Latency", "Error", "Fault"}
    assert {p.scope for p in latency} == {"AwsSpanMetricsProcessor"}
    assert {p.unit for p in latency} == {"Milliseconds"}
    assert {p.temporality for points in metrics.values() for p in points} == {"DELTA"}
    assert latency[0].resource["service.name"] == SERVICE and latency[0].resource["aws.local.service"] == SERVICE
    dependency = [p for p in latency if p.attributes.get("aws.remote.service") == "AWS::BedrockRuntime"]
    assert sum(p.count for p in dependency) == 3
    assert dependency[0].attributes == {
        "aws.local.service": SERVICE, "aws.local.operation": "POST /ask", "aws.remote.service": "AWS::BedrockRuntime",
        "aws.remote.operation": "Converse", "aws.remote.resource.type": "AWS::Bedrock::Model",
        "aws.remote.resource.identifier": CLAUDE, "aws.remote.resource.cfn.primary.identifier": CLAUDE,
        "aws.span.kind": "CLIENT"}
    service = [p for p in latency if "aws.remote.service" not in p.attributes]
    assert service[0].attributes == {"aws.local.service": SERVICE, "aws.local.operation": "POST /ask",
                                     "aws.span.kind": "LOCAL_ROOT"}
    assert sum(p.sum for p in metrics["Fault"]) == 0 and sum(p.sum for p in metrics["Error"]) == 0


def test_configure_without_application_signals_adds_no_pipeline(tmp_path: Path):
    with OtlpHttpReceiver() as agent:
        _subprocess(tmp_path, OTEL_SERVICE_NAME=SERVICE, OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                    OTEL_EXPORTER_OTLP_ENDPOINT=agent.endpoint)
        spans = agent.spans()
        metrics = agent.metrics()
    assert "Latency" not in metrics and "gen_ai.client.token.usage" in metrics
    bedrock = [s for s in spans if s.kind == "CLIENT"]
    assert len(bedrock) == 3 and bedrock[0].attributes["aws.remote.service"] == "AWS::BedrockRuntime"
    assert "aws.local.service" not in bedrock[0].attributes and "aws.local.service" not in bedrock[0].resource


def test_processor_never_breaks_the_application():
    processor = appsignals.AppSignalsSpanProcessor(Resource.create({}), MeterProvider())
    processor.on_start(object(), None)  # type: ignore[arg-type]
    processor.on_end(object())  # type: ignore[arg-type]
