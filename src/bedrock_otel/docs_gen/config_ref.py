"""docs/reference/configuration.md: every ``configure()`` and ``instrument()`` setting, with its variables and default.

The notes are prose; everything else is read from the code: argument names from ``configure``'s signature,
defaults from :mod:`bedrock_otel.aws.settings`, :mod:`bedrock_otel.telemetry.content` and the instrumentor,
variable names from the same constants the code reads. Each row also carries a *probe*: a check, run by
``tests/test_docs.py``, that the documented variable really changes the resolved setting and that the
argument beats it. The variable index at the end must list every ``OTEL_*``/``BEDROCK_OTEL_*`` name the
source reads (also checked), so a new variable cannot go undocumented.
"""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..attribution import DEFAULT_METRIC_KEYS
from ..aws import settings as S
from ..telemetry import content as C

Probe = Callable[[], None]


@dataclass(frozen=True)
class Setting:
    """One documented argument: its variables (in precedence order), default and notes."""

    argument: str
    env: Tuple[str, ...]
    default: str
    notes: str
    probes: Tuple[Probe, ...] = field(default=(), compare=False)


def _fmt(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ", ".join(f"`{item}`" for item in value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def _signals(pattern: str) -> str:
    return pattern.replace("{SIGNAL}", "{TRACES,METRICS,LOGS}")


def _resolved(arguments: Dict[str, Any], environ: Dict[str, str]) -> S.Settings:
    return S.resolve(arguments, environ)


def _reads(variable: str, value: str, getter: Callable[[S.Settings], Any], argument: Optional[str] = None,
           argument_value: Any = None) -> Probe:
    """A probe: ``variable=value`` changes ``getter(settings)``; ``argument`` (if given) beats the variable."""

    def probe() -> None:
        base = getter(_resolved({}, {}))
        changed = getter(_resolved({}, {variable: value}))
        assert changed != base, f"{variable}={value!r} did not change the resolved setting ({base!r})"
        if argument is not None:
            alone = getter(_resolved({argument: argument_value}, {}))
            both = getter(_resolved({argument: argument_value}, {variable: value}))
            assert both == alone, f"argument {argument} does not win over {variable}"

    probe.__name__ = f"reads_{variable}"
    return probe


def _signal_probes(pattern: str, general: str, value: str, getter: Callable[[S.SignalSettings], Any],
                   argument: str, argument_value: Any) -> Tuple[Probe, ...]:
    probes = [_reads(general, value, lambda s: getter(s.traces), argument, argument_value)]
    for signal in S.SIGNALS:
        variable = pattern.replace("{SIGNAL}", signal.upper())
        if signal == "logs":
            probes.append(_reads_logs(variable, value, getter))
        else:
            probes.append(_reads(variable, value, lambda s, signal=signal: getter(s.signal(signal))))
    return tuple(probes)


def _reads_logs(variable: str, value: str, getter: Callable[[S.SignalSettings], Any]) -> Probe:
    def probe() -> None:  # logs export nothing by default: turn them on to see the variable's effect
        on = {"OTEL_LOGS_EXPORTER": "otlp"}
        assert getter(_resolved({}, {**on, variable: value}).logs) != getter(_resolved({}, on).logs), variable

    return probe


def _content_probe(variable: str, value: str, getter: Callable[[Dict[str, str]], Any], default: Any) -> Probe:
    def probe() -> None:
        assert getter({}) == default, f"default of {variable} is not {default!r}"
        assert getter({variable: value}) != default, f"{variable}={value!r} changed nothing"

    return probe


def configure_settings() -> List[Setting]:
    """The ``configure()`` table, one row per argument in signature order."""
    defaults = _resolved({}, {})
    rows = [
        Setting("service_name", ("OTEL_SERVICE_NAME", "service.name in OTEL_RESOURCE_ATTRIBUTES"),
                "`unknown_service:<python executable>` (the SDK's)",
                "also beats `resource_attributes[\"service.name\"]`; a detector's (Elastic Beanstalk) comes before "
                "the SDK default"),
        Setting("protocol", (_signals("OTEL_EXPORTER_OTLP_{SIGNAL}_PROTOCOL"), "OTEL_EXPORTER_OTLP_PROTOCOL"),
                _fmt(defaults.traces.protocol),
                f"{' or '.join(_fmt(p) for p in S.PROTOCOLS)} (`http/json` is not supported)",
                _signal_probes("OTEL_EXPORTER_OTLP_{SIGNAL}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL",
                               "http/protobuf", lambda s: s.protocol, "protocol", "grpc")),
        Setting("endpoint", ("OTEL_EXPORTER_OTLP_ENDPOINT",),
                " (gRPC), ".join(_fmt(S.DEFAULT_ENDPOINTS[p]) for p in S.PROTOCOLS) + " (HTTP)",
                "base URL; for HTTP `/v1/traces`, `/v1/metrics`, `/v1/logs` is appended; gRPC ignores any path "
                "(with a WARNING)",
                (_reads("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317", lambda s: s.traces.endpoint,
                        "endpoint", "http://other:4317"),)),
        Setting("traces_endpoint", ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",), "—",
                "used **as is** (for HTTP include the path, e.g. `http://agent:4316/v1/traces`)",
                (_reads("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4317", lambda s: s.traces.endpoint,
                        "traces_endpoint", "http://other:4317"),)),
        Setting("metrics_endpoint", ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",), "—", "as `traces_endpoint`",
                (_reads("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://collector:4317", lambda s: s.metrics.endpoint,
                        "metrics_endpoint", "http://other:4317"),)),
        Setting("logs_endpoint", ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",), "—", "as `traces_endpoint`",
                (_reads_logs("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://collector:4317", lambda s: s.endpoint),)),
        Setting("headers", (_signals("OTEL_EXPORTER_OTLP_{SIGNAL}_HEADERS"), "OTEL_EXPORTER_OTLP_HEADERS"), "—",
                "mapping or `k=v,k2=v2` (values URL-encoded); names lowercased; a signal's own variable replaces the "
                "general one; argument headers override same-named variable headers",
                _signal_probes("OTEL_EXPORTER_OTLP_{SIGNAL}_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=t1",
                               lambda s: dict(s.headers).get("x-tenant"), "headers", {"x-tenant": "t2"})),
        Setting("export_timeout", (_signals("OTEL_EXPORTER_OTLP_{SIGNAL}_TIMEOUT"), "OTEL_EXPORTER_OTLP_TIMEOUT"),
                f"{_fmt(S.DEFAULT_EXPORT_TIMEOUT)} s",
                "per export, retries included. **Seconds**, as the Python OTLP exporters read these variables (the "
                "specification says milliseconds)",
                _signal_probes("OTEL_EXPORTER_OTLP_{SIGNAL}_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT", "3",
                               lambda s: s.timeout, "export_timeout", 5)),
        Setting("traces_exporter", ("OTEL_TRACES_EXPORTER",), _fmt(S.DEFAULT_EXPORTERS["traces"]),
                f"comma list of {_fmt(S.EXPORTERS)}; `otlp_proto_grpc` / `otlp_proto_http` mean `otlp` with that "
                "protocol",
                (_reads("OTEL_TRACES_EXPORTER", "console", lambda s: s.traces.exporters, "traces_exporter", "none"),)),
        Setting("metrics_exporter", ("OTEL_METRICS_EXPORTER",), _fmt(S.DEFAULT_EXPORTERS["metrics"]), "as above",
                (_reads("OTEL_METRICS_EXPORTER", "console", lambda s: s.metrics.exporters, "metrics_exporter",
                        "none"),)),
        Setting("logs", ("OTEL_LOGS_EXPORTER",), _fmt(S.DEFAULT_EXPORTERS["logs"]),
                "`True` = `otlp`, `False` = `none`, or exporter names; no `LoggerProvider` is created for `none`",
                (_reads("OTEL_LOGS_EXPORTER", "otlp", lambda s: s.logs.exporters, "logs", False),)),
        Setting("propagators", ("OTEL_PROPAGATORS",), _fmt(S.DEFAULT_PROPAGATORS),
                "list or comma string of `opentelemetry_propagator` entry-point names (`xray-lambda`, `b3` when "
                "installed, …) or `none`",
                (_reads("OTEL_PROPAGATORS", "tracecontext", lambda s: s.propagators, "propagators", ["baggage"]),)),
        Setting("resource_attributes", ("OTEL_RESOURCE_ATTRIBUTES",), "—",
                "mapping; argument keys win over the variable (`k=v,k2=v2`)"),
        Setting("resource_detectors", (), _fmt(S.DEFAULT_DETECTORS),
                "any `opentelemetry_resource_detector` name; `[]` turns detection off; add `aws_ec2` on EC2. "
                "`OTEL_EXPERIMENTAL_RESOURCE_DETECTORS` keeps its SDK meaning beside it"),
        Setting("detector_timeout", (), f"{_fmt(S.DEFAULT_DETECTOR_TIMEOUT)} s",
                "detectors run in parallel; one that has not answered by then is skipped (one WARNING)"),
        Setting("metric_export_interval", ("OTEL_METRIC_EXPORT_INTERVAL",),
                f"{_fmt(S.DEFAULT_METRIC_EXPORT_INTERVAL)} s",
                "seconds as an argument; the variable is in **milliseconds**",
                (_reads("OTEL_METRIC_EXPORT_INTERVAL", "5000", lambda s: s.metric_export_interval,
                        "metric_export_interval", 7),)),
        Setting("instrument", (), "", "`False`: providers only, Bedrock is not instrumented"),
        Setting("set_global", (), "", "`False`: nothing global is touched (providers, propagator); Bedrock is "
                                      "instrumented with these providers"),
        Setting("application_signals", S.APPLICATION_SIGNALS_ENABLED_ENV, _fmt(defaults.application_signals),
                "`True`: the `aws.local.*` span attributes and `Latency`/`Error`/`Fault` metrics for a container "
                "the ADOT distro does not run in ([sidecar guide](../sidecar.md)); the second variable is the "
                "distro's older name",
                tuple(_reads(name, "true", lambda s: s.application_signals, "application_signals", False)
                      for name in S.APPLICATION_SIGNALS_ENABLED_ENV)),
        Setting("application_signals_endpoint", S.APPLICATION_SIGNALS_ENDPOINT_ENV,
                f"{_fmt(S.APPLICATION_SIGNALS_ENDPOINTS['http/protobuf'])} (HTTP), "
                f"{_fmt(S.APPLICATION_SIGNALS_ENDPOINTS['grpc'])} (gRPC)",
                "the exact URL of the Application Signals metrics exporter; its protocol is the metrics protocol "
                "when one is set, else `http/protobuf`",
                tuple(_reads(name, "http://agent:4316/v1/metrics", lambda s: s.application_signals_endpoint,
                             "application_signals_endpoint", "http://other:4316/v1/metrics")
                      for name in S.APPLICATION_SIGNALS_ENDPOINT_ENV)),
        Setting("capture_content", (C.ENV_CAPTURE,), _fmt(C.NO_CONTENT),
                f"{_fmt(C.MODES)}: prompt/response capture ([Privacy](../privacy.md)); a bad value raises before "
                "anything is set up",
                (_content_probe(C.ENV_CAPTURE, "SPAN_ONLY", C.mode_from_env, C.NO_CONTENT),)),
    ]
    # Probes above that need the application_signals switch on to see the endpoint:
    return [_with_app_signals(row) for row in rows]


def _with_app_signals(row: Setting) -> Setting:
    if row.argument != "application_signals_endpoint":
        return row

    def probe(variable: str) -> Probe:
        def run() -> None:
            on = {"OTEL_AWS_APPLICATION_SIGNALS_ENABLED": "true"}
            base = _resolved({}, on).application_signals_endpoint
            changed = _resolved({}, {**on, variable: "http://agent:4316/v1/metrics"}).application_signals_endpoint
            assert changed != base, variable
            argument = _resolved({"application_signals_endpoint": "http://other:4316/v1/metrics"},
                                 {**on, variable: "http://agent:4316/v1/metrics"}).application_signals_endpoint
            assert argument == "http://other:4316/v1/metrics", variable

        return run

    return Setting(row.argument, row.env, row.default, row.notes, tuple(probe(name) for name in row.env))


def instrument_settings() -> List[Setting]:
    """The ``instrument()`` / ``BedrockInstrumentor().instrument()`` keyword arguments."""
    from ..instrumentor import DEFAULT_BODY_LIMIT, ENV_CHUNK_GAPS, chunk_gap_metrics

    return [
        Setting("tracer_provider", (), "the global one", "where spans go"),
        Setting("meter_provider", (), "the global one", "where metrics go"),
        Setting("logger_provider", (), "the global one", "where content events go (only with an event content mode)"),
        Setting("max_body_bytes", (), f"`{DEFAULT_BODY_LIMIT}` (4 MiB)",
                "largest request or response body parsed for attributes; larger bodies keep their header token "
                "counts"),
        Setting("metric_attributes", (), _fmt(sorted(DEFAULT_METRIC_KEYS)),
                "attribution keys (`bedrock_otel.attributes`) also put on metrics; keep to low-cardinality keys"),
        Setting("capture_content", (C.ENV_CAPTURE,), _fmt(C.NO_CONTENT),
                f"{_fmt(C.MODES)}; the older `true`/`false` are read with a deprecation warning. A bad argument "
                "raises; a bad variable warns and means `NO_CONTENT`",
                (_content_probe(C.ENV_CAPTURE, "SPAN_ONLY", C.mode_from_env, C.NO_CONTENT),)),
        Setting("content_redactor", (C.ENV_REDACTOR,), "none",
                "a `Callable[[str], str]`, or `\"default\"` for `bedrock_otel.telemetry.redaction.redact`",
                (_content_probe(C.ENV_REDACTOR, "default", C._redactor_from_env, None),)),
        Setting("content_max_length", (C.ENV_MAX_LENGTH,), "unlimited", "characters kept per message part",
                (_content_probe(C.ENV_MAX_LENGTH, "4000", C._max_length_from_env, None),)),
        Setting("chunk_gap_metrics", (ENV_CHUNK_GAPS,), "`False`",
                "`True` adds `gen_ai.client.operation.time_per_output_chunk`: one histogram record per streamed "
                "chunk, ~7 µs each in the SDK ([benchmarks](../benchmarks.md)); time to first chunk is always "
                "recorded. A bad argument raises; a bad variable warns and means `false`",
                (_content_probe(ENV_CHUNK_GAPS, "true", lambda env: chunk_gap_metrics(None, env), False),)),
    ]


#: variables read by the SDK, auto-instrumentation or bedrock-otel outside the two tables
OTHER_VARIABLES: Dict[str, str] = {
    "OTEL_SDK_DISABLED": "`true`: `configure()` sets nothing up and instruments nothing",
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "SDK detectors (e.g. `aws_ec2,process,host`), run by the SDK with its "
                                            "own 5 s timeout; bedrock-otel does not run them twice",
    "OTEL_PYTHON_CONFIGURATOR": "`bedrock_otel`: `opentelemetry-instrument` uses bedrock-otel's configurator "
                                "(`BedrockDistro` sets it unless already set)",
    "OTEL_PYTHON_DISTRO": "`bedrock_otel`: choose bedrock-otel's distro when several are installed",
    "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "entry-point names auto-instrumentation skips: `bedrock` turns off "
                                             "genai-bedrock (and OpenInference's), `bedrock_otel` turns off this "
                                             "package",
}
#: how the index shows where a variable is documented
_ANCHORS = {"configure": "#configure", "instrument": "#instrument"}


def variable_index() -> List[Tuple[str, str, str]]:
    """(variable, what it sets, where documented) for every variable, sorted."""
    used: Dict[str, List[str]] = {}
    where: Dict[str, List[str]] = {}
    for table, settings in (("configure", configure_settings()), ("instrument", instrument_settings())):
        for setting in settings:
            for variable in setting.env:
                if " " in variable:  # "service.name in OTEL_RESOURCE_ATTRIBUTES"
                    continue
                entry, link = f"`{setting.argument}`", f"[`{table}()`]({_ANCHORS[table]})"
                if entry not in used.setdefault(variable, []):
                    used[variable].append(entry)
                if link not in where.setdefault(variable, []):
                    where[variable].append(link)
    rows = [(variable, ", ".join(used[variable]), ", ".join(where[variable])) for variable in used]
    rows += [(variable, meaning, "") for variable, meaning in OTHER_VARIABLES.items()]
    return sorted(rows)


def source_variables(source: Path) -> List[str]:
    """Every ``OTEL_*``/``BEDROCK_OTEL_*`` name a Python file under ``source`` reads (``{upper}`` → ``{SIGNAL}``)."""
    found = set()
    for path in sorted(source.rglob("*.py")):
        if "docs_gen" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        found.update(re.findall(r"[\"']((?:OTEL|BEDROCK_OTEL)_[A-Z0-9_]+)[\"']", text))
        for name in re.findall(r"f[\"']((?:OTEL|BEDROCK_OTEL)_[A-Za-z0-9_{}]+)[\"']", text):
            found.add(re.sub(r"\{upper\}", "{SIGNAL}", name))
    return sorted(found)


def documented_variables() -> List[str]:
    names = set()
    for settings in (configure_settings(), instrument_settings()):
        for setting in settings:
            for variable in setting.env:
                names.update(_expand(variable))
    names.update(OTHER_VARIABLES)
    for name in list(names):  # OTEL_TRACES_EXPORTER … OTEL_LOGS_EXPORTER: the code builds them as OTEL_{upper}_…
        for signal in S.SIGNALS:
            pattern = name.replace(f"_{signal.upper()}_", "_{SIGNAL}_", 1)
            if pattern != name and all(pattern.replace("{SIGNAL}", other.upper()) in names for other in S.SIGNALS):
                names.add(pattern)
    return sorted(names)


def _expand(variable: str) -> List[str]:
    if "{TRACES,METRICS,LOGS}" in variable:
        return [variable.replace("{TRACES,METRICS,LOGS}", "{SIGNAL}")] + [
            variable.replace("{TRACES,METRICS,LOGS}", signal.upper()) for signal in S.SIGNALS]
    return [variable]


def instrument_kwargs_read() -> List[str]:
    """The keyword arguments ``BedrockInstrumentor._instrument`` reads (``kwargs.get("…")``), from its source."""
    from ..instrumentor import BedrockInstrumentor

    tree = ast.parse(inspect.getsource(BedrockInstrumentor))
    names = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "kwargs" and node.args
                and isinstance(node.args[0], ast.Constant)):
            names.add(node.args[0].value)
    return sorted(names)


def signature_defaults(func: Callable[..., Any]) -> Dict[str, Any]:
    return {name: parameter.default for name, parameter in inspect.signature(func).parameters.items()}


SDK_VARIABLES = (
    "Read by the SDK or the exporters themselves, unchanged: `OTEL_TRACES_SAMPLER` / `_ARG`, `OTEL_BSP_*`, "
    "`OTEL_BLRP_*`, `OTEL_METRIC_EXPORT_TIMEOUT`, `OTEL_EXPORTER_OTLP_*COMPRESSION`, `…CERTIFICATE`, `…CLIENT_KEY`, "
    "`…CLIENT_CERTIFICATE`, `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`, "
    "`OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION` (the GenAI histograms keep their explicit buckets "
    "through their Views), span and attribute limits."
)

HEADER = """\
# Configuration reference

<!-- Generated by `python -m bedrock_otel.docs_gen` from bedrock_otel.aws.settings, the instrumentor and the content
settings; do not edit. -->

Precedence everywhere: **argument → environment variable → default**. A signal-specific variable
(`…_TRACES_…`, `…_METRICS_…`, `…_LOGS_…`) beats the general one; an argument beats both. How the pieces fit
together, what is validated and what happens when the collector is down: [`configure()` guide](../configure.md).
"""


def _table(settings: Sequence[Setting], defaults: Dict[str, Any]) -> List[str]:
    lines = ["| argument | environment variables | default | notes |", "| --- | --- | --- | --- |"]
    for setting in settings:
        env = ", ".join(f"`{name}`" if " " not in name else name.replace("OTEL_", "`OTEL_", 1) + "`"
                        for name in setting.env) or "—"
        env = env.replace("service.name in `", "`service.name` in `")
        default = setting.default or _fmt(defaults.get(setting.argument))
        lines.append(f"| `{setting.argument}` | {env} | {default} | {setting.notes} |")
    return lines


def render() -> str:
    from ..aws.configure import configure

    lines = [HEADER, "## configure()", "",
             "`bedrock_otel.configure(service_name=None, *, …)` — every argument is keyword-only except "
             "`service_name`. Environment variables are read when `configure()` runs.", ""]
    lines += _table(configure_settings(), signature_defaults(configure))
    lines += ["", SDK_VARIABLES, "",
              "## instrument()", "",
              "`bedrock_otel.instrument(**kwargs)` and `BedrockInstrumentor().instrument(**kwargs)` take the same "
              "keyword arguments (with `opentelemetry-instrument` none can be passed: the variables apply). "
              "Variables are read when `instrument()` runs; a bad argument raises `ValueError`.", ""]
    lines += _table(instrument_settings(), {})
    lines += ["", "## Environment variables", "",
              "Every variable bedrock-otel reads, or documents as changing its behaviour. "
              "`{TRACES,METRICS,LOGS}` stands for the three signal-specific variables.", "",
              "| variable | sets | see |", "| --- | --- | --- |"]
    for variable, used, where in variable_index():
        lines.append(f"| `{variable}` | {used} | {where} |")
    lines += ["", "## Entry points", "", "What installing bedrock-otel registers:", "",
              "| group | name | object |", "| --- | --- | --- |"]
    lines += [f"| `{group}` | `{name}` | `{value}` |" for group, name, value in entry_points()]
    return "\n".join(lines).rstrip() + "\n"


def entry_points() -> List[Tuple[str, str, str]]:
    """(group, name, object) of the entry points bedrock-otel's distribution registers."""
    import importlib.metadata

    try:
        found = importlib.metadata.distribution("bedrock-otel").entry_points
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return []
    return sorted((ep.group, ep.name, ep.value) for ep in found if ep.group != "console_scripts") + sorted(
        (ep.group, ep.name, ep.value) for ep in found if ep.group == "console_scripts")
