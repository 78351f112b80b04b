"""One "pod" of a Bedrock app whose metrics Prometheus scrapes, through the OpenTelemetry Prometheus exporter.

    python workload.py --namespace shop --deployment checkout-assistant --pod checkout-assistant-7d9f-x2k4q

The process:

* builds a ``MeterProvider`` with a ``PrometheusMetricReader`` (opentelemetry-exporter-prometheus) and the
  GenAI bucket Views, with the workload's resource (``service.name``, ``k8s.namespace.name``,
  ``k8s.deployment.name``, ``k8s.pod.name``), instruments Bedrock onto it, and serves ``/metrics`` on a
  loopback port;
* runs its own fake Bedrock (bedrock_otel.testing) — no AWS account, no network;
* speaks JSON lines: it prints ``{"event": "ready", "metrics_port": …}``, then for each
  ``{"cmd": "wave", "errors": [[code, model, tenant], …]}`` read on stdin it makes one wave of Bedrock calls
  (every tenant and model, one stream per tenant, then the scripted errors) and prints
  ``{"event": "wave_done", "report": …}``: what the calls consumed **according to Bedrock's responses**
  (tokens by model/tenant/type, calls by model/tenant/error type, streams by model), cumulative like the
  metrics, plus the duration and time-to-first-chunk histograms. ``{"cmd": "quit"}`` or end of input stops it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence, Tuple

from botocore.exceptions import ClientError
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

import bedrock_otel
from bedrock_otel.aws.configure import genai_views
from bedrock_otel.testing import FakeBedrock, Reply

MODELS: Dict[str, str] = {
    "claude": "anthropic.claude-3-haiku-20240307-v1:0",
    "nova": "amazon.nova-lite-v1:0",
}
TENANTS: Tuple[str, ...] = ("acme", "globex")
STREAM_MODEL = {"acme": "claude", "globex": "nova"}  # one streamed call per tenant and wave
HISTOGRAMS = {
    "duration": "gen_ai.client.operation.duration",
    "ttft": "gen_ai.client.operation.time_to_first_chunk",
}


def error_reply(code: str) -> Reply:
    if code == "ThrottlingException":
        return Reply.throttle()
    if code == "ValidationException":
        return Reply.error(400, code, "The provided request is not valid.")
    return Reply.error(500, code)


class Workload:
    """The instrumented app: Bedrock calls through a boto3 client, telemetry into Prometheus."""

    def __init__(self, resource: Dict[str, str], host: str = "127.0.0.1", port: int = 0,
                 latency: float = 0.03, event_delay: float = 0.005) -> None:
        self.resource = resource
        self.registry = CollectorRegistry()
        try:
            prometheus_reader = PrometheusMetricReader(registry=self.registry)
        except TypeError:  # exporter releases before the `registry` argument: the global registry
            self.registry = REGISTRY
            prometheus_reader = PrometheusMetricReader()
        self.memory = InMemoryMetricReader()  # the same measurements, read back for the report
        self.meter_provider = MeterProvider(metric_readers=[prometheus_reader, self.memory],
                                            resource=Resource.create(resource), views=genai_views())
        self.tracer_provider = TracerProvider(resource=Resource.create(resource))
        bedrock_otel.instrument(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider)
        self.http, _ = start_http_server(port, addr=host, registry=self.registry)
        self.fake = FakeBedrock().start()
        self.fake.latency = latency
        self.fake.event_delay = event_delay
        self.client = self.fake.client(region_name="us-east-1")
        self.waves = 0
        self.tokens: Counter = Counter()  # (model, tenant, token type) -> tokens
        self.calls: Counter = Counter()  # (model, tenant, error type or "") -> calls
        self.streams: Counter = Counter()  # model -> streamed calls

    @property
    def metrics_port(self) -> int:
        return int(self.http.server_port)

    def close(self) -> None:
        bedrock_otel.uninstrument()
        self.fake.stop()
        self.http.shutdown()
        self.meter_provider.shutdown()

    # -- one wave of traffic -----------------------------------------------------------------------

    def wave(self, errors: Sequence[Sequence[str]] = ()) -> Dict[str, Any]:
        self.waves += 1
        namespace = self.resource.get("k8s.namespace.name", "default")
        for tenant in TENANTS:
            with bedrock_otel.attributes(tenant_id=tenant):
                for index, key in enumerate(MODELS):
                    # Prompt lengths differ by namespace, tenant and model, so every total is distinct.
                    words = " ".join(["detail"] * (index + len(tenant) + len(namespace)))
                    self._converse(key, tenant, f"Wave {self.waves} {namespace}: {tenant} asks {key} to "
                                                f"summarise ticket {index} with {words}")
                key = STREAM_MODEL[tenant]
                self._stream(key, tenant, f"Stream {self.waves} for {tenant} in {namespace} please")
        for code, key, tenant in errors:
            self.fake.enqueue(error_reply(code))
            with bedrock_otel.attributes(tenant_id=tenant):
                self._converse(key, tenant, "this call fails")
        return self.report()

    def _messages(self, text: str) -> List[Dict[str, Any]]:
        return [{"role": "user", "content": [{"text": text}]}]

    def _converse(self, key: str, tenant: str, text: str) -> None:
        try:
            response = self.client.converse(modelId=MODELS[key], messages=self._messages(text))
        except ClientError as exc:
            self.calls[(key, tenant, exc.response["Error"]["Code"])] += 1
            return
        self.calls[(key, tenant, "")] += 1
        self._count_tokens(key, tenant, response["usage"])

    def _stream(self, key: str, tenant: str, text: str) -> None:
        response = self.client.converse_stream(modelId=MODELS[key], messages=self._messages(text))
        usage: Optional[Dict[str, int]] = None
        for event in response["stream"]:
            if "metadata" in event:
                usage = event["metadata"]["usage"]
        self.calls[(key, tenant, "")] += 1
        self.streams[key] += 1
        if usage:
            self._count_tokens(key, tenant, usage)

    def _count_tokens(self, key: str, tenant: str, usage: Dict[str, int]) -> None:
        self.tokens[(key, tenant, "input")] += usage["inputTokens"]
        self.tokens[(key, tenant, "output")] += usage["outputTokens"]

    # -- what happened, from the responses (tokens, calls) and the in-memory reader (histograms) ---

    def report(self) -> Dict[str, Any]:
        return {
            "resource": self.resource,
            "waves": self.waves,
            "tokens": [{"model": MODELS[m], "tenant": t, "type": k, "tokens": n}
                       for (m, t, k), n in sorted(self.tokens.items())],
            "calls": [{"model": MODELS[m], "tenant": t, "error_type": e, "count": n}
                      for (m, t, e), n in sorted(self.calls.items())],
            "streams": {MODELS[m]: n for m, n in sorted(self.streams.items())},
            "histograms": {key: self._histogram(name) for key, name in HISTOGRAMS.items()},
        }

    def _histogram(self, name: str) -> Dict[str, Dict[str, Any]]:
        """Per model: explicit bounds and per-bucket counts, summed over every other attribute."""
        merged: Dict[str, Dict[str, Any]] = {}
        data = self.memory.get_metrics_data()
        for rm in (data.resource_metrics if data else ()):
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        if not isinstance(point, HistogramDataPoint):
                            continue
                        model = str(point.attributes.get("gen_ai.request.model"))
                        entry = merged.setdefault(model, {"bounds": list(point.explicit_bounds),
                                                          "counts": [0] * len(point.bucket_counts)})
                        entry["counts"] = [a + b for a, b in zip(entry["counts"], point.bucket_counts)]
        return merged


def emit(event: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", default=None, help="service.name (default: the deployment)")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--deployment", default="bedrock-app")
    parser.add_argument("--pod", default=None)
    parser.add_argument("--host", default="127.0.0.1", help="address /metrics listens on (loopback)")
    parser.add_argument("--port", type=int, default=0, help="/metrics port (0: any free port)")
    parser.add_argument("--latency", type=float, default=0.03, help="fake Bedrock latency, seconds")
    args = parser.parse_args(argv)
    resource = {
        "service.name": args.service or args.deployment,
        "k8s.namespace.name": args.namespace,
        "k8s.deployment.name": args.deployment,
        "k8s.pod.name": args.pod or f"{args.deployment}-0",
    }
    workload = Workload(resource, host=args.host, port=args.port, latency=args.latency)
    try:
        emit({"event": "ready", "metrics_port": workload.metrics_port, "resource": resource})
        for line in sys.stdin:
            if not line.strip():
                continue
            command = json.loads(line)
            if command.get("cmd") == "quit":
                break
            if command.get("cmd") == "wave":
                emit({"event": "wave_done", "report": workload.wave(command.get("errors", ()))})
            else:
                emit({"event": "error", "message": f"unknown command {command!r}"})
    finally:
        workload.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
