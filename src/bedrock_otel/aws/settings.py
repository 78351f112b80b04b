"""Every ``configure()`` setting, resolved as argument → ``OTEL_*`` environment variable → default, and validated.

Why a separate, pure step: all the precedence rules live in one place that can be tested without starting
anything, and a wrong value is reported (``ValueError`` naming the argument or variable and the accepted
values) before any provider, thread or global is created.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import unquote, urlsplit

_log = logging.getLogger("bedrock_otel.aws")

SIGNALS = ("traces", "metrics", "logs")
PROTOCOLS = ("grpc", "http/protobuf")
EXPORTERS = ("otlp", "console", "none")
# Entry-point names the SDK's own configurator accepts; they choose OTLP with a fixed protocol.
_PROTOCOL_EXPORTERS = {"otlp_proto_grpc": "grpc", "otlp_proto_http": "http/protobuf"}
DEFAULT_ENDPOINTS = {"grpc": "http://localhost:4317", "http/protobuf": "http://localhost:4318"}
DEFAULT_EXPORTERS = {"traces": "otlp", "metrics": "otlp", "logs": "none"}
DEFAULT_PROPAGATORS = ("tracecontext", "baggage", "xray")
# Cheap off-AWS: Lambda and ECS read environment variables, EKS checks two files before any request.
# EC2 asks the instance metadata service (a network round trip, 1 s timeout off EC2), so it is opt-in.
DEFAULT_DETECTORS = ("aws_lambda", "aws_ecs", "aws_eks")
DEFAULT_EXPORT_TIMEOUT = 10.0  # seconds, as the Python OTLP exporters read OTEL_EXPORTER_OTLP_TIMEOUT
DEFAULT_DETECTOR_TIMEOUT = 2.0
DEFAULT_METRIC_EXPORT_INTERVAL = 60.0
_HEADER_NAME = re.compile(r"^[0-9a-z._-]+$")  # what gRPC metadata allows; fine for HTTP too

PROPAGATOR_GROUP = "opentelemetry_propagator"
DETECTOR_GROUP = "opentelemetry_resource_detector"


@dataclass(frozen=True)
class SignalSettings:
    """How one signal (traces, metrics or logs) is exported."""

    signal: str
    exporters: Tuple[str, ...]  # "otlp" and/or "console"; empty means nothing is exported
    protocol: str
    endpoint: str  # the exact URL handed to the OTLP exporter (HTTP: includes /v1/<signal>)
    headers: Tuple[Tuple[str, str], ...]
    timeout: float  # seconds per export, retries included

    @property
    def otlp(self) -> bool:
        return "otlp" in self.exporters


@dataclass(frozen=True)
class Settings:
    service_name: Optional[str]
    resource_attributes: Tuple[Tuple[str, Any], ...]
    traces: SignalSettings
    metrics: SignalSettings
    logs: SignalSettings
    propagators: Tuple[str, ...]
    resource_detectors: Tuple[str, ...]
    detector_timeout: float
    metric_export_interval: float  # seconds
    sdk_disabled: bool
    application_signals: bool = False
    """Emit CloudWatch Application Signals' span attributes and RED metrics (bedrock_otel.aws.appsignals)."""
    application_signals_protocol: str = "http/protobuf"
    application_signals_endpoint: str = ""  # the exact URL of the Application Signals metrics exporter

    def signal(self, name: str) -> SignalSettings:
        return {"traces": self.traces, "metrics": self.metrics, "logs": self.logs}[name]


def entry_points(group: str) -> List[importlib.metadata.EntryPoint]:
    """Entry points of ``group`` on every supported Python (3.9's API returns a dict)."""
    found = importlib.metadata.entry_points()
    if hasattr(found, "select"):
        return list(found.select(group=group))
    return list(found.get(group, ()))  # type: ignore[union-attr]


def load_entry_point(group: str, name: str) -> Any:
    for entry_point in entry_points(group):
        if entry_point.name == name:
            return entry_point.load()
    raise LookupError(f"no {group!r} entry point named {name!r}")


def _error(source: str, value: Any, expected: str) -> ValueError:
    return ValueError(f"bedrock_otel.configure: {source}={value!r} is not valid: {expected}")


def _pick(arguments: Mapping[str, Any], name: str, environ: Mapping[str, str],
          *env_names: str) -> Tuple[Any, str]:
    """The argument if given, else the first non-empty environment variable; with where it came from."""
    value = arguments.get(name)
    if value is not None:
        return value, f"argument {name}"
    for env_name in env_names:
        raw = environ.get(env_name)
        if raw is not None and raw.strip():
            return raw.strip(), env_name
    return None, ""


def _names(value: Any, source: str) -> List[str]:
    """A comma-separated string or a sequence of strings, as a lowercase list."""
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        items = list(value)
    else:
        raise _error(source, value, "expected a comma-separated string or a list of strings")
    return [item.strip().lower() for item in items if item.strip()]


def _exporters(value: Any, source: str) -> Tuple[Tuple[str, ...], Optional[str]]:
    """Exporter names → ("otlp"/"console" …, protocol forced by an otlp_proto_* name or None)."""
    accepted = ", ".join((*EXPORTERS, *_PROTOCOL_EXPORTERS))
    names = _names(value, source)
    if not names:
        raise _error(source, value, f"expected one or more of {accepted}")
    chosen: List[str] = []
    forced: Optional[str] = None
    for name in names:
        if name in _PROTOCOL_EXPORTERS:
            if forced is not None and forced != _PROTOCOL_EXPORTERS[name]:
                raise _error(source, value, "otlp_proto_grpc and otlp_proto_http cannot be combined")
            forced, name = _PROTOCOL_EXPORTERS[name], "otlp"
        if name not in EXPORTERS:
            raise _error(source, value, f"unknown exporter {name!r}; accepted values: {accepted}")
        if name not in chosen:
            chosen.append(name)
    if "none" in chosen:
        if len(chosen) > 1:
            raise _error(source, value, "'none' cannot be combined with other exporters")
        return (), None
    return tuple(chosen), forced


def _protocol(value: Any, source: str) -> str:
    protocol = value.strip().lower() if isinstance(value, str) else value
    if protocol not in PROTOCOLS:
        raise _error(source, value, f"accepted values: {', '.join(PROTOCOLS)} (http/json is not supported)")
    return str(protocol)


def check_endpoint(value: Any, source: str, protocol: str) -> str:
    """An http:// or https:// URL with a host and a valid port, or ValueError."""
    example = DEFAULT_ENDPOINTS[protocol]
    if not isinstance(value, str) or not value.strip():
        raise _error(source, value, f"expected an http:// or https:// URL such as {example}")
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _error(source, value, f"expected an http:// or https:// URL with a host, such as {example}")
    try:
        parts.port  # noqa: B018 - urlsplit validates the port lazily
    except ValueError as exc:
        raise _error(source, value, f"bad port ({exc})") from None
    return url


def _signal_endpoint(arguments: Mapping[str, Any], environ: Mapping[str, str], signal: str, protocol: str) -> str:
    """Spec rules: a signal-specific endpoint is used as is; a base endpoint gets /v1/<signal> for HTTP."""
    upper = signal.upper()
    candidates = (
        (arguments.get(f"{signal}_endpoint"), f"argument {signal}_endpoint", False),
        (arguments.get("endpoint"), "argument endpoint", True),
        (environ.get(f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT"), f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT", False),
        (environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"), "OTEL_EXPORTER_OTLP_ENDPOINT", True),
    )
    chosen = next(((value, source, base) for value, source, base in candidates
                   if value is not None and not (source.startswith("OTEL_") and not value.strip())),  # "" = unset
                  (DEFAULT_ENDPOINTS[protocol], "default", True))
    value, source, is_base = chosen
    url = check_endpoint(value, source, protocol)
    if protocol == "http/protobuf":
        return f"{url.rstrip('/')}/v1/{signal}" if is_base else url
    path = urlsplit(url).path
    if path not in ("", "/"):
        _log.warning("%s=%r has a path (%s) that gRPC ignores; if this is an OTLP/HTTP endpoint (such as the "
                     "CloudWatch agent's :4316/v1/%s), set protocol='http/protobuf'", source, url, path, signal)
    return url


def _parse_headers(value: Any, source: str) -> Dict[str, str]:
    """``key=value,key2=value2`` (values URL-encoded, as the OTLP spec says) or a mapping; keys lowercased."""
    pairs: List[Tuple[str, str]] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or not isinstance(item, str):
                raise _error(source, value, "header names and values must be strings")
            pairs.append((key, item))
    elif isinstance(value, str):
        for item in value.split(","):
            if not item.strip():
                continue
            key, sep, raw = item.partition("=")
            if not sep:
                raise _error(source, value, f"{item.strip()!r} is not key=value; expected comma-separated "
                                            "key=value pairs with URL-encoded values, e.g. 'x-tenant=t1'")
            pairs.append((unquote(key), unquote(raw.strip())))
    else:
        raise _error(source, value, "expected a mapping or a 'key=value,key2=value2' string")
    headers: Dict[str, str] = {}
    for key, item in pairs:
        name = key.strip().lower()
        if not _HEADER_NAME.match(name):
            raise _error(source, value, f"header name {key!r} may only contain letters, digits, '.', '_' and '-'")
        headers[name] = item
    return headers


def _positive(value: Any, source: str, unit: str = "seconds", scale: float = 1.0) -> float:
    try:
        number = float(value) / scale
    except (TypeError, ValueError):
        raise _error(source, value, f"expected a positive number of {unit}") from None
    if not number > 0 or number == float("inf"):
        raise _error(source, value, f"expected a positive number of {unit}")
    return number


def _signal(arguments: Mapping[str, Any], environ: Mapping[str, str], signal: str) -> SignalSettings:
    upper = signal.upper()
    if signal == "logs":
        value, source = _logs_choice(arguments.get("logs"), environ)
    else:
        value, source = _pick(arguments, f"{signal}_exporter", environ, f"OTEL_{upper}_EXPORTER")
    if value is None:
        value, source = DEFAULT_EXPORTERS[signal], "default"
    exporters, forced = _exporters(value, source)

    raw_protocol, protocol_source = _pick(arguments, "protocol", environ, f"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL",
                                          "OTEL_EXPORTER_OTLP_PROTOCOL")
    protocol = _protocol(raw_protocol, protocol_source) if raw_protocol is not None else "grpc"
    protocol = forced or protocol

    raw_timeout, timeout_source = _pick(arguments, "export_timeout", environ, f"OTEL_EXPORTER_OTLP_{upper}_TIMEOUT",
                                        "OTEL_EXPORTER_OTLP_TIMEOUT")
    timeout = _positive(raw_timeout, timeout_source) if raw_timeout is not None else DEFAULT_EXPORT_TIMEOUT

    headers: Dict[str, str] = {}
    for env_name in (f"OTEL_EXPORTER_OTLP_{upper}_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"):
        if environ.get(env_name, "").strip():  # the signal's own variable replaces the general one
            headers.update(_parse_headers(environ[env_name], env_name))
            break
    if arguments.get("headers") is not None:
        headers.update(_parse_headers(arguments["headers"], "argument headers"))

    endpoint = _signal_endpoint(arguments, environ, signal, protocol) if "otlp" in exporters else ""
    return SignalSettings(signal, exporters, protocol, endpoint, tuple(sorted(headers.items())), timeout)


def _logs_choice(value: Union[bool, str, None], environ: Mapping[str, str]) -> Tuple[Any, str]:
    if value is True:
        return "otlp", "argument logs"
    if value is False:
        return "none", "argument logs"
    if value is not None and not isinstance(value, str):
        raise _error("argument logs", value, "expected True, False or exporter names such as 'otlp'")
    return _pick({"logs": value}, "logs", environ, "OTEL_LOGS_EXPORTER")


def _checked_names(value: Any, source: str, group: str, extra: Sequence[str] = ()) -> Tuple[str, ...]:
    available = sorted({entry_point.name for entry_point in entry_points(group)} | set(extra))
    names = tuple(dict.fromkeys(_names(value, source)))
    unknown = [name for name in names if name not in available]
    if unknown:
        raise _error(source, value, f"unknown {', '.join(map(repr, unknown))}; accepted values: "
                                    f"{', '.join(available)}")
    return names


def resolve(arguments: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
    """The effective settings for ``configure(**arguments)`` in ``environ``; ValueError on any bad value."""
    service_name = arguments.get("service_name")
    if service_name is not None and (not isinstance(service_name, str) or not service_name.strip()):
        raise _error("argument service_name", service_name, "expected a non-empty string")
    attributes = arguments.get("resource_attributes") or {}
    if not isinstance(attributes, Mapping) or not all(isinstance(key, str) for key in attributes):
        raise _error("argument resource_attributes", attributes, "expected a mapping of str to attribute values")

    for name in ("endpoint", *(f"{signal}_endpoint" for signal in SIGNALS)):
        if arguments.get(name) is not None:  # explicit values are checked even when the signal is off
            check_endpoint(arguments[name], f"argument {name}", "grpc")

    raw_propagators, propagator_source = _pick(arguments, "propagators", environ, "OTEL_PROPAGATORS")
    if raw_propagators is None:
        propagators = DEFAULT_PROPAGATORS
    else:
        propagators = _checked_names(raw_propagators, propagator_source, PROPAGATOR_GROUP, extra=("none",))
        propagators = tuple(name for name in propagators if name != "none")

    raw_detectors = arguments.get("resource_detectors")
    if raw_detectors is None:
        available = {entry_point.name for entry_point in entry_points(DETECTOR_GROUP)}
        detectors = tuple(name for name in DEFAULT_DETECTORS if name in available)
    else:
        detectors = _checked_names(raw_detectors, "argument resource_detectors", DETECTOR_GROUP)

    detector_timeout = arguments.get("detector_timeout")
    detector_timeout = (_positive(detector_timeout, "argument detector_timeout")
                        if detector_timeout is not None else DEFAULT_DETECTOR_TIMEOUT)

    interval = arguments.get("metric_export_interval")
    if interval is not None:
        interval = _positive(interval, "argument metric_export_interval")
    elif environ.get("OTEL_METRIC_EXPORT_INTERVAL", "").strip():
        interval = _positive(environ["OTEL_METRIC_EXPORT_INTERVAL"], "OTEL_METRIC_EXPORT_INTERVAL",
                             unit="milliseconds", scale=1000.0)
    else:
        interval = DEFAULT_METRIC_EXPORT_INTERVAL

    app_signals, app_protocol, app_endpoint = _application_signals(arguments, environ)
    return Settings(
        service_name=service_name.strip() if service_name else None,
        resource_attributes=tuple(attributes.items()),
        traces=_signal(arguments, environ, "traces"),
        metrics=_signal(arguments, environ, "metrics"),
        logs=_signal(arguments, environ, "logs"),
        propagators=propagators,
        resource_detectors=detectors,
        detector_timeout=detector_timeout,
        metric_export_interval=interval,
        sdk_disabled=environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true",
        application_signals=app_signals,
        application_signals_protocol=app_protocol,
        application_signals_endpoint=app_endpoint,
    )


APPLICATION_SIGNALS_ENABLED_ENV = ("OTEL_AWS_APPLICATION_SIGNALS_ENABLED", "OTEL_AWS_APP_SIGNALS_ENABLED")
APPLICATION_SIGNALS_ENDPOINT_ENV = ("OTEL_AWS_APPLICATION_SIGNALS_EXPORTER_ENDPOINT",
                                    "OTEL_AWS_APP_SIGNALS_EXPORTER_ENDPOINT")
APPLICATION_SIGNALS_ENDPOINTS = {"http/protobuf": "http://localhost:4316/v1/metrics", "grpc": "http://localhost:4315"}


def _application_signals(arguments: Mapping[str, Any], environ: Mapping[str, str]) -> Tuple[bool, str, str]:
    """(enabled, protocol, endpoint) with the ADOT distro's variables and defaults.

    The protocol is the metrics protocol when one is set (argument, ``OTEL_EXPORTER_OTLP_METRICS_PROTOCOL``,
    ``OTEL_EXPORTER_OTLP_PROTOCOL``), else ``http/protobuf`` — the CloudWatch agent's, as in the distro.
    """
    value, source = _pick(arguments, "application_signals", environ, *APPLICATION_SIGNALS_ENABLED_ENV)
    if value is None:
        enabled = False
    elif isinstance(value, bool):
        enabled = value
    elif isinstance(value, str) and value.strip().lower() in ("true", "false"):
        enabled = value.strip().lower() == "true"
    else:
        raise _error(source, value, "expected true or false")
    raw_protocol, protocol_source = _pick(arguments, "protocol", environ, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
                                          "OTEL_EXPORTER_OTLP_PROTOCOL")
    protocol = _protocol(raw_protocol, protocol_source) if raw_protocol is not None else "http/protobuf"
    raw_endpoint, endpoint_source = _pick(arguments, "application_signals_endpoint", environ,
                                          *APPLICATION_SIGNALS_ENDPOINT_ENV)
    if raw_endpoint is None:
        endpoint = APPLICATION_SIGNALS_ENDPOINTS[protocol]
    elif enabled or endpoint_source.startswith("argument"):
        endpoint = check_endpoint(raw_endpoint, endpoint_source, protocol)
    else:
        endpoint = str(raw_endpoint)
    return enabled, protocol, endpoint if enabled else ""
