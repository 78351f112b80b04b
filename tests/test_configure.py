"""``bedrock_otel.aws.configure()`` end to end: a real app process, real OTLP receivers, the fake Bedrock.

configure() sets process-global providers (OpenTelemetry allows that once per process), so every scenario
runs as a small script in a subprocess; the receivers run here and the script prints JSON results.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import pytest
from opentelemetry import trace

from bedrock_otel.aws import configure
from bedrock_otel.aws.resource import build_resource, detect
from bedrock_otel.aws.settings import resolve
from bedrock_otel.instrumentor import BedrockInstrumentor
from bedrock_otel.telemetry.instruments import DURATION_BUCKETS, TOKEN_BUCKETS, TOKEN_USAGE
from bedrock_otel.testing.otlp_receiver import OtlpGrpcReceiver, OtlpHttpReceiver

CHAT = "chat anthropic.claude-3-haiku-20240307-v1:0"
PRELUDE = '''
import json, os, sys, time, warnings
from bedrock_otel.aws import configure
from bedrock_otel.testing.fake_server import FakeBedrock

def converse(n=1, pause=0.0):
    """n Converse calls against a fake Bedrock, ``pause`` seconds apart; their durations in seconds."""
    durations = []
    with FakeBedrock() as fake:
        client = fake.client()
        for _ in range(n):
            started = time.perf_counter()
            client.converse(modelId="anthropic.claude-3-haiku-20240307-v1:0",
                            messages=[{"role": "user", "content": [{"text": "hello there"}]}])
            durations.append(time.perf_counter() - started)
            time.sleep(pause)
    return durations

def report(**values):
    print(json.dumps(values))
'''


def _env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "ECS_", "PYTEST_"))}
    env.update(PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def _run(tmp_path: Path, *parts: str, timeout: float = 60, **env: str) -> Dict[str, Any]:
    """Run PRELUDE + parts in a fresh interpreter; its last stdout line is JSON; stderr is returned too."""
    script = tmp_path / "app.py"
    script.write_text(PRELUDE + "".join(textwrap.dedent(part) for part in parts))
    result = subprocess.run([sys.executable, str(script)], env=_env(**env), capture_output=True, text=True,
                            timeout=timeout, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    data = json.loads(lines[-1]) if lines else {}
    data["stderr"] = result.stderr
    return data


@pytest.fixture
def grpc_receiver() -> Iterator[OtlpGrpcReceiver]:
    with OtlpGrpcReceiver() as receiver:
        yield receiver


@pytest.fixture
def http_receiver() -> Iterator[OtlpHttpReceiver]:
    with OtlpHttpReceiver() as receiver:
        yield receiver


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _assert_xray_trace_id(trace_id: str) -> None:
    """X-Ray ids: the first 32 bits are the trace's start time in epoch seconds."""
    assert len(trace_id) == 32
    assert abs(int(trace_id[:8], 16) - time.time()) < 300, trace_id


SHUTDOWN = '''
started = time.monotonic()
ok = configured.shutdown(timeout=10)
report(shutdown_ok=ok, shutdown_s=time.monotonic() - started, durations=durations)
'''


# -- export over gRPC and HTTP/protobuf --------------------------------------------------------------------


def test_grpc_end_to_end_from_environment(tmp_path: Path, grpc_receiver: OtlpGrpcReceiver):
    """No arguments: service name, endpoint and headers from OTEL_* variables; gRPC is the default."""
    out = _run(tmp_path, '''
        configured = configure()
        from opentelemetry import metrics
        metrics.get_meter("app").create_histogram("app.latency", unit="s").record(0.5)
        durations = converse()
    ''', SHUTDOWN, OTEL_SERVICE_NAME="checkout-assistant", OTEL_EXPORTER_OTLP_ENDPOINT=grpc_receiver.endpoint,
               OTEL_EXPORTER_OTLP_HEADERS="x-tenant=team%20a",
               # The exporter prefers exponential histograms; the GenAI views must still win.
               OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION="base2_exponential_bucket_histogram")
    assert out["shutdown_ok"]

    (span,) = grpc_receiver.spans()
    assert span.name == CHAT and span.kind == "CLIENT"
    assert span.attributes["gen_ai.usage.input_tokens"] > 0
    _assert_xray_trace_id(span.trace_id)
    assert span.resource["service.name"] == "checkout-assistant"
    assert span.resource["telemetry.sdk.language"] == "python"
    assert {h["x-tenant"] for h in grpc_receiver.headers("traces")} == {"team a"}

    metrics = grpc_receiver.metrics()
    tokens = metrics[TOKEN_USAGE]
    assert {p.kind for p in tokens} == {"histogram"}
    assert {p.explicit_bounds for p in tokens} == {tuple(float(b) for b in TOKEN_BUCKETS)}
    assert sum(p.sum for p in tokens if p.attributes["gen_ai.token.type"] == "input") == \
        span.attributes["gen_ai.usage.input_tokens"]
    assert metrics["gen_ai.client.operation.duration"][0].explicit_bounds == tuple(float(b) for b in DURATION_BUCKETS)
    assert metrics["app.latency"][0].kind == "exponential_histogram"  # the env var applies elsewhere
    assert tokens[0].resource["service.name"] == "checkout-assistant"
    # Off AWS: no detector ran a network request or complained.
    assert "Detector" not in out["stderr"] and "detector" not in out["stderr"], out["stderr"]


@pytest.mark.parametrize("how", ["env", "argument-wins", "per-signal-env"])
def test_http_protobuf(tmp_path: Path, how: str, http_receiver: OtlpHttpReceiver, grpc_receiver: OtlpGrpcReceiver):
    if how == "env":
        env = {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": http_receiver.endpoint}
        call = "configure('svc-http')"
    elif how == "argument-wins":  # the environment says gRPC to the other receiver; the arguments win
        env = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": grpc_receiver.endpoint}
        call = f"configure('svc-http', protocol='http/protobuf', endpoint={http_receiver.endpoint!r})"
    else:  # CloudWatch-agent style: traces over HTTP to a full /v1/traces URL, metrics over gRPC elsewhere
        env = {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
               "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{http_receiver.endpoint}/v1/traces",
               "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": grpc_receiver.endpoint}
        call = "configure('svc-http')"
    out = _run(tmp_path, f'''
        configured = {call}
        durations = converse()
    ''', SHUTDOWN, **env)
    assert out["shutdown_ok"]
    (span,) = http_receiver.spans()
    assert span.name == CHAT and span.resource["service.name"] == "svc-http"
    _assert_xray_trace_id(span.trace_id)
    assert grpc_receiver.spans() == []
    metrics_at = grpc_receiver if how == "per-signal-env" else http_receiver
    assert TOKEN_USAGE in metrics_at.metrics()
    assert all(h["content-type"] == "application/x-protobuf" for h in http_receiver.headers("traces"))


def test_logs_are_opt_in(tmp_path: Path, grpc_receiver: OtlpGrpcReceiver):
    out = _run(tmp_path, '''
        configured = configure("svc-logs", endpoint=os.environ["RECEIVER"], logs=True)
        from opentelemetry._logs import get_logger_provider
        assert get_logger_provider() is configured.logger_provider
        durations = converse()
    ''', SHUTDOWN, RECEIVER=grpc_receiver.endpoint)
    assert out["shutdown_ok"]
    assert len(grpc_receiver.spans()) == 1  # logs=True changes nothing else


# -- propagation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("propagators", [None, "tracecontext"])
def test_global_propagator(tmp_path: Path, propagators: Optional[str]):
    env = {"OTEL_PROPAGATORS": propagators} if propagators else {}
    out = _run(tmp_path, '''
        from opentelemetry import propagate, trace
        configured = configure(traces_exporter="none", metrics_exporter="none")
        with trace.get_tracer("app").start_as_current_span("request") as span:
            carrier = {}
            propagate.inject(carrier)
        context = propagate.extract({"X-Amzn-Trace-Id": carrier.get("X-Amzn-Trace-Id", "")})
        report(carrier=carrier, trace_id=format(span.get_span_context().trace_id, "032x"),
               extracted=format(trace.get_current_span(context).get_span_context().trace_id, "032x"))
    ''', **env)
    trace_id = out["trace_id"]
    _assert_xray_trace_id(trace_id)
    assert out["carrier"]["traceparent"].split("-")[1] == trace_id
    if propagators is None:
        root = out["carrier"]["X-Amzn-Trace-Id"].split(";")[0]
        assert root == f"Root=1-{trace_id[:8]}-{trace_id[8:]}"
        assert out["extracted"] == trace_id  # an X-Ray header alone continues the trace
    else:
        assert "X-Amzn-Trace-Id" not in out["carrier"]


# -- calling twice, bad values -----------------------------------------------------------------------------------


def test_calling_twice_is_harmless(tmp_path: Path, grpc_receiver: OtlpGrpcReceiver):
    out = _run(tmp_path, '''
        endpoint = os.environ["RECEIVER"]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            configured = configure("twice", endpoint=endpoint)
            same = configure("twice", endpoint=endpoint)
            quiet = [str(w.message) for w in caught]
            other = configure("another-name", endpoint=endpoint, instrument=False)
            loud = [str(w.message) for w in caught][len(quiet):]
        durations = converse()
        ok = configured.shutdown(timeout=10)
        report(same=same is configured, other=other is configured, quiet=quiet, loud=loud, shutdown_ok=ok)
    ''', RECEIVER=grpc_receiver.endpoint)
    assert out["same"] and out["other"] and out["shutdown_ok"]
    assert out["quiet"] == []
    (message,) = out["loud"]
    assert "already configured by bedrock_otel.configure()" in message and "service_name" in message
    (span,) = grpc_receiver.spans()  # instrumented once: one span per call
    assert span.resource["service.name"] == "twice"


@pytest.mark.parametrize(("kwargs", "env", "message"), [
    ({"protocol": "http/json"}, {}, r"argument protocol='http/json' .*accepted values: grpc, http/protobuf"),
    ({}, {"OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"}, r"OTEL_EXPORTER_OTLP_PROTOCOL='thrift' .*grpc, http/protobuf"),
    ({}, {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "udp"}, r"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL='udp'"),
    ({"endpoint": "localhost:4317"}, {}, r"argument endpoint='localhost:4317' .*http:// or https:// URL"),
    ({"endpoint": "http://collector:99999"}, {}, r"argument endpoint=.*bad port"),
    ({"traces_endpoint": "ftp://x"}, {}, r"argument traces_endpoint='ftp://x'"),
    ({}, {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector"}, r"OTEL_EXPORTER_OTLP_ENDPOINT='collector'"),
    ({}, {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://"}, r"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT='http://'"),
    ({"traces_exporter": "jaeger"}, {}, r"argument traces_exporter='jaeger' .*unknown exporter 'jaeger'; "
                                        r"accepted values: otlp, console, none"),
    ({}, {"OTEL_METRICS_EXPORTER": "prometheus"}, r"OTEL_METRICS_EXPORTER='prometheus' .*accepted values"),
    ({"metrics_exporter": "none,otlp"}, {}, r"'none' cannot be combined"),
    ({"logs": 3}, {}, r"argument logs=3 .*True, False or exporter names"),
    ({"headers": "authorization"}, {}, r"argument headers='authorization' .*not key=value"),
    ({}, {"OTEL_EXPORTER_OTLP_HEADERS": "a=1,b"}, r"OTEL_EXPORTER_OTLP_HEADERS='a=1,b' .*'b' is not key=value"),
    ({"export_timeout": 0}, {}, r"argument export_timeout=0 .*positive number of seconds"),
    ({}, {"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, r"OTEL_EXPORTER_OTLP_TIMEOUT='soon'"),
    ({"propagators": "tracecontext,b3multi"}, {}, r"argument propagators=.*unknown 'b3multi'; accepted values: "
                                                  r".*tracecontext.*xray"),
    ({}, {"OTEL_PROPAGATORS": "jaeger"}, r"OTEL_PROPAGATORS='jaeger' .*unknown 'jaeger'"),
    ({"resource_detectors": ["aws_ec3"]}, {}, r"resource_detectors=\['aws_ec3'\] .*accepted values: .*aws_ec2"),
    ({"service_name": ""}, {}, r"argument service_name='' .*non-empty string"),
    ({"metric_export_interval": -1}, {}, r"metric_export_interval=-1"),
])
def test_bad_values_raise_value_error(kwargs: Dict[str, Any], env: Dict[str, str], message: str,
                                      monkeypatch: pytest.MonkeyPatch):
    """Validation happens before anything is set up, so these run in the test process itself."""
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    provider, instrumented = trace.get_tracer_provider(), BedrockInstrumentor().is_instrumented_by_opentelemetry
    with pytest.raises(ValueError, match=message):
        configure(**kwargs)
    assert trace.get_tracer_provider() is provider  # nothing was set up
    assert BedrockInstrumentor().is_instrumented_by_opentelemetry == instrumented


def test_precedence_rules():
    """The resolution table of docs/configure.md, without starting anything."""
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://base:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
           "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://agent:4316/v1/metrics",
           "OTEL_EXPORTER_OTLP_HEADERS": "a=1,b=2", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "c=3",
           "OTEL_EXPORTER_OTLP_TIMEOUT": "4", "OTEL_TRACES_EXPORTER": "otlp,console", "OTEL_LOGS_EXPORTER": "otlp"}
    settings = resolve({}, env)
    assert settings.traces.endpoint == "http://base:4318/v1/traces"
    assert settings.metrics.endpoint == "http://agent:4316/v1/metrics"  # a signal's own endpoint is used as is
    assert settings.logs.endpoint == "http://base:4318/v1/logs"
    assert settings.traces.headers == (("c", "3"),) and settings.metrics.headers == (("a", "1"), ("b", "2"))
    assert settings.traces.exporters == ("otlp", "console") and settings.traces.timeout == 4
    assert settings.propagators == ("tracecontext", "baggage", "xray")
    assert settings.resource_detectors == ("aws_lambda", "aws_ecs", "aws_eks")

    explicit = resolve({"protocol": "grpc", "endpoint": "https://collector:4317", "headers": {"B": "x"},
                        "export_timeout": 1.5, "traces_exporter": "otlp", "logs": False}, env)
    assert explicit.traces.endpoint == explicit.metrics.endpoint == "https://collector:4317"
    assert explicit.metrics.headers == (("a", "1"), ("b", "x"))  # argument headers override by name
    assert explicit.traces.exporters == ("otlp",) and explicit.logs.exporters == ()
    assert explicit.traces.timeout == 1.5 and explicit.traces.protocol == "grpc"

    defaults = resolve({}, {})
    assert (defaults.traces.protocol, defaults.traces.endpoint) == ("grpc", "http://localhost:4317")
    assert defaults.logs.exporters == () and defaults.metric_export_interval == 60
    http = resolve({"protocol": "http/protobuf"}, {})
    assert http.traces.endpoint == "http://localhost:4318/v1/traces"
    assert resolve({"traces_exporter": "otlp_proto_http"}, {}).traces.protocol == "http/protobuf"


@pytest.mark.parametrize("case", ["provider-already-set", "set_global=False", "OTEL_SDK_DISABLED"])
def test_leaves_globals_alone_when_it_should(tmp_path: Path, case: str):
    out = _run(tmp_path, '''
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        case, memory = os.environ["CASE"], InMemorySpanExporter()
        if case == "provider-already-set":  # e.g. opentelemetry-instrument with another configurator
            mine = TracerProvider()
            mine.add_span_processor(SimpleSpanProcessor(memory))
            trace.set_tracer_provider(mine)
        configured = configure("leave-alone", traces_exporter="none", metrics_exporter="none",
                               set_global=case != "set_global=False")
        if case == "set_global=False":
            configured.tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
        converse()
        report(owns=configured.owns_providers, instrumented=configured.instrumented,
               spans=[s.name for s in memory.get_finished_spans()], shutdown_ok=configured.shutdown(),
               global_is_proxy=isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider))
    ''', CASE=case, **({"OTEL_SDK_DISABLED": "true"} if case == "OTEL_SDK_DISABLED" else {}))
    assert out["shutdown_ok"]
    if case == "provider-already-set":  # kept, with a warning; Bedrock spans go to the existing provider
        assert (out["owns"], out["spans"]) == (False, [CHAT])
        assert "a global TracerProvider (TracerProvider) is already set" in out["stderr"]
    elif case == "set_global=False":  # own providers, instrumented with them, globals untouched
        assert (out["owns"], out["instrumented"], out["spans"], out["global_is_proxy"]) == (True, True, [CHAT], True)
    else:  # nothing set up, nothing instrumented
        assert (out["owns"], out["instrumented"], out["spans"], out["global_is_proxy"]) == (False, False, [], True)


# -- no collector ---------------------------------------------------------------------------------------------


# Exports every 100 ms (spans) and 200 ms (metrics) while 20 calls are made over ~1 s, so that failing
# exports and their retries run alongside the measured calls.
LATENCY = '''
configured = configure("latency", endpoint=os.environ["ENDPOINT"], protocol=os.environ["PROTOCOL"],
                       metric_export_interval=0.2)
converse(3)  # warm up boto3 and the connection
durations = converse(20, pause=0.05)
started = time.monotonic()
flushed = configured.force_flush(timeout=10)
print(json.dumps({"flushed": flushed, "flush_s": time.monotonic() - started}), file=sys.stderr)
''' + SHUTDOWN


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_no_collector_costs_the_app_nothing(tmp_path: Path, protocol: str, record_property: Any):
    down = _run(tmp_path, LATENCY, ENDPOINT=f"http://127.0.0.1:{_closed_port()}", PROTOCOL=protocol,
                OTEL_BSP_SCHEDULE_DELAY="100")
    assert len(down["durations"]) == 20  # every Bedrock call completed
    flush = json.loads(next(line for line in down["stderr"].splitlines() if line.startswith('{"flushed"')))
    assert flush["flushed"] is False and flush["flush_s"] < 5  # a Lambda handler does not wait out retries
    assert down["shutdown_ok"] and down["shutdown_s"] < 10
    stderr = down["stderr"]
    assert "Traceback" not in stderr, stderr
    assert stderr.count("Cannot export traces") == 1 and stderr.count("Cannot export metrics") == 1, stderr
    assert "Transient error" not in stderr.replace("(", "\n").split("Cannot export")[0]  # SDK chatter stays quiet

    receiver = OtlpGrpcReceiver() if protocol == "grpc" else OtlpHttpReceiver()
    with receiver:
        up = _run(tmp_path, LATENCY, ENDPOINT=receiver.endpoint, PROTOCOL=protocol, OTEL_BSP_SCHEDULE_DELAY="100")
        assert len(receiver.spans()) == 23
    assert up["shutdown_ok"] and "Cannot export" not in up["stderr"]
    assert '{"flushed": true' in up["stderr"]

    def p(values: list, q: float) -> float:
        ordered = sorted(values)
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    figures = {f"{name}_{q}": p(run["durations"], q / 100) for name, run in (("down", down), ("up", up))
               for q in (50, 99)}
    figures.update(down_shutdown_ms=round(1000 * down["shutdown_s"], 1),
                   up_shutdown_ms=round(1000 * up["shutdown_s"], 1))
    record_property("latency_ms", figures)
    print(f"\n{protocol} Bedrock call latency (ms) and shutdown time: {figures}")


def test_shutdown_is_bounded_when_the_collector_hangs(tmp_path: Path):
    """A collector that accepts connections and never answers: shutdown still returns at its timeout."""
    with OtlpGrpcReceiver() as receiver:
        receiver.delay = 30
        out = _run(tmp_path, '''
            configured = configure("hang", endpoint=os.environ["RECEIVER"], export_timeout=30)
            durations = converse()
            started = time.monotonic()
            ok = configured.shutdown(timeout=1.5)
            report(shutdown_ok=ok, shutdown_s=time.monotonic() - started)
        ''', RECEIVER=receiver.endpoint)
    assert out["shutdown_ok"] is False and out["shutdown_s"] < 3


# -- resource detection -----------------------------------------------------------------------------------------


def test_resource_on_lambda_and_ecs(monkeypatch: pytest.MonkeyPatch):
    for name in [n for n in os.environ if n.startswith(("OTEL_", "AWS_", "ECS_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes,team=genai")
    lambda_env = {"AWS_REGION": "eu-west-1", "AWS_LAMBDA_FUNCTION_NAME": "answer", "AWS_LAMBDA_FUNCTION_VERSION": "7",
                  "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[7]abc", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512"}
    for name, value in lambda_env.items():
        monkeypatch.setenv(name, value)
    resource = build_resource(None, {}, ("aws_lambda", "aws_ecs", "aws_eks"), 10.0, dict(os.environ))
    attributes = dict(resource.attributes)
    assert attributes["service.name"] == "from-attributes" and attributes["team"] == "genai"
    assert (attributes["cloud.platform"], attributes["faas.name"], attributes["cloud.region"]) == \
        ("aws_lambda", "answer", "eu-west-1")

    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    named = build_resource("from-argument", {}, (), 2.0, dict(os.environ))
    assert named.attributes["service.name"] == "from-argument"
    assert build_resource(None, {}, (), 2.0, dict(os.environ)).attributes["service.name"] == "from-env"

    monkeypatch.setenv("ECS_CONTAINER_METADATA_URI", "http://169.254.170.2/v3/unused")  # v3: no request made
    ecs = detect(["aws_ecs"], 10.0, dict(os.environ))
    assert ecs.attributes["cloud.platform"] == "aws_ecs"


def test_a_hanging_detector_is_skipped(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    """ECS task metadata v4 that never answers: detection gives up at its timeout instead of hanging."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections in the kernel, never answers
    monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", f"http://127.0.0.1:{silent.getsockname()[1]}/v4")
    started = time.monotonic()
    try:
        resource = detect(["aws_ecs"], 0.3, dict(os.environ))
    finally:
        silent.close()  # the abandoned detector thread's request then fails on its own
    assert time.monotonic() - started < 2
    assert "cloud.platform" not in resource.attributes
    assert "did not answer within 0.3 s" in caplog.text


# -- opentelemetry-instrument -------------------------------------------------------------------------------------


INSTRUMENT = shutil.which("opentelemetry-instrument", path=os.path.dirname(sys.executable))
APP = '''
from opentelemetry import propagate, trace
from bedrock_otel.testing.fake_server import FakeBedrock

with FakeBedrock() as fake:
    fake.client().converse(modelId="anthropic.claude-3-haiku-20240307-v1:0",
                           messages=[{"role": "user", "content": [{"text": "hello from app"}]}])
with trace.get_tracer("app").start_as_current_span("probe"):
    carrier = {}
    propagate.inject(carrier)
print("carrier", sorted(carrier))
print("app done")
'''


def _registered(group: str) -> bool:
    from bedrock_otel.aws.settings import entry_points

    return any(ep.name == "bedrock_otel" and ep.value.startswith("bedrock_otel.") for ep in entry_points(group))


def _foreign_instrumentors() -> str:
    """Instrumentors from other packages (another Bedrock instrumentation would add its own spans)."""
    from bedrock_otel.aws.settings import entry_points

    ours = ("bedrock_otel.", "opentelemetry.instrumentation.botocore")
    return ",".join(ep.name for ep in entry_points("opentelemetry_instrumentor") if not ep.value.startswith(ours))


def _zero_code(tmp_path: Path, receiver: OtlpGrpcReceiver, extra_path: str = "", *args: str, **env: str) -> str:
    app = tmp_path / "zero_code_app.py"
    app.write_text(APP)
    variables = _env(OTEL_SERVICE_NAME="zero-code", OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
                     OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=_foreign_instrumentors(), **env)
    if extra_path:
        variables["PYTHONPATH"] = extra_path
    result = subprocess.run([str(INSTRUMENT), *args, sys.executable, str(app)], env=variables, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "app done" in result.stdout, result.stdout + result.stderr
    return result.stdout + result.stderr


def _check_zero_code(tmp_path: Path, receiver: OtlpGrpcReceiver, extra_path: str = "") -> None:
    for env in ({"OTEL_PYTHON_DISTRO": "bedrock_otel"}, {"OTEL_PYTHON_CONFIGURATOR": "bedrock_otel"}):
        receiver.clear()
        output = _zero_code(tmp_path, receiver, extra_path, **env)
        assert "carrier ['X-Amzn-Trace-Id', 'traceparent']" in output, output
        spans = [s for s in receiver.spans() if s.name == CHAT]
        assert len(spans) == 1, [s.name for s in receiver.spans()]
        _assert_xray_trace_id(spans[0].trace_id)
        assert spans[0].resource["service.name"] == "zero-code"
        assert TOKEN_USAGE in receiver.metrics()
    # The README's console example keeps working when this distro is the one chosen.
    output = _zero_code(tmp_path, receiver, extra_path, "--traces_exporter", "console", "--metrics_exporter", "none",
                        OTEL_PYTHON_DISTRO="bedrock_otel")
    assert output.count(f'"name": "{CHAT}"') == 1, output


@pytest.mark.skipif(INSTRUMENT is None, reason="opentelemetry-instrument not installed (test extra)")
def test_opentelemetry_instrument_uses_bedrock_configurator(tmp_path: Path, grpc_receiver: OtlpGrpcReceiver):
    assert _registered("opentelemetry_configurator") and _registered("opentelemetry_distro")
    _check_zero_code(tmp_path, grpc_receiver)


def test_capture_content_is_passed_to_the_instrumentation(tmp_path: Path):
    script = tmp_path / "capture.py"
    script.write_text(textwrap.dedent('''
        import json, bedrock_otel
        from bedrock_otel import BedrockInstrumentor
        try:
            bedrock_otel.configure(service_name="x", traces_exporter="none", metrics_exporter="none",
                                   capture_content="EVERYTHING")
        except ValueError as exc:
            bad = str(exc)
        configured = bedrock_otel.configure(service_name="x", traces_exporter="none", metrics_exporter="none",
                                            capture_content="SPAN_ONLY")
        print(json.dumps({"bad": bad, "kwargs": BedrockInstrumentor().instrument_kwargs.get("capture_content")}))
        configured.shutdown()
    '''))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                            env={k: v for k, v in os.environ.items() if not k.startswith("OTEL_")})
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert "SPAN_ONLY" in out["bad"] and out["kwargs"] == "SPAN_ONLY"
