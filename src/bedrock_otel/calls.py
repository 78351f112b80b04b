"""The one core every instrumented call goes through, sync or async, streaming or not.

``begin`` builds the span before the call, ``succeeded``/``failed`` finish it after. None of them
raises: a failure inside bedrock-otel costs telemetry, never the application's call.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import _SUPPRESS_HTTP_INSTRUMENTATION_KEY
from opentelemetry.trace import SpanKind

from . import operations  # noqa: F401  (registers the operation modules)
from .attribution import current_attributes
from .aws.appsignals import REMOTE_INPUT_KEYS, remote_attributes, sdk_call_remote_attributes
from .operations.base import Operation, Prepared, lookup
from .telemetry import attributes as A
from .telemetry.invocation import Invocation, Telemetry

_log = logging.getLogger(__name__)

_SERVER_CACHE: Dict[str, Tuple[Optional[str], Optional[int]]] = {}


class Call:
    """An invocation in flight: what ``succeeded``/``failed`` need, plus the context token."""

    __slots__ = ("inv", "operation", "prepared", "token")

    def __init__(self, operation: Operation, prepared: Prepared, inv: Invocation, token: object) -> None:
        self.operation = operation
        self.prepared = prepared
        self.inv = inv
        self.token = token


def operation_for(client: Any, method: str) -> Optional[Operation]:
    """The instrumented operation for this client and API name, or None.

    Not cached per client class: botocore makes a new class for every client, so such a cache
    would keep every short-lived client's class alive. The lookups are cached properties anyway.
    """
    try:
        service = client.meta.service_model.service_name
    except Exception:
        return None
    return lookup(service, method)


def begin(telemetry: Telemetry, operation: Operation, client: Any, params: Mapping[str, Any]) -> Optional[Call]:
    """Start the span and make it current; None when anything about the call defeats us."""
    try:
        try:
            prepared = operation.prepare(params, telemetry)
        except Exception as exc:  # a request we fail to read still gets its span, saying so
            prepared = _unreadable_request(operation, params, exc)
        meta = client.meta
        service_id = meta.service_model.service_id
        address, port = _server(meta.endpoint_url)
        region = meta.region_name
        metric_attrs: Dict[str, Any] = {
            A.GEN_AI_PROVIDER_NAME: A.PROVIDER,
            A.GEN_AI_OPERATION_NAME: prepared.operation,
            A.AWS_REGION: region,
        }
        if prepared.model is not None:  # agents, flows, guardrails, GetAsyncInvoke name no model
            metric_attrs[A.GEN_AI_REQUEST_MODEL] = prepared.model
        if address:
            metric_attrs[A.SERVER_ADDRESS] = address
        if port:
            metric_attrs[A.SERVER_PORT] = port
        scoped = current_attributes()
        if scoped:
            for key in telemetry.metric_keys.intersection(scoped):
                metric_attrs[key] = scoped[key]
        span_attrs = {
            **scoped,
            **metric_attrs,
            A.RPC_SYSTEM: A.RPC_SYSTEM_AWS,
            A.RPC_SERVICE: service_id,
            A.RPC_METHOD: operation.method,
            A.CLOUD_REGION: region,
            **prepared.attributes,
        }
        if operation.streaming:
            span_attrs[A.GEN_AI_REQUEST_STREAM] = True
        # CloudWatch Application Signals' dependency (aws.remote.*: AWS::BedrockRuntime, AWS::Bedrock::Model =
        # model id), as the ADOT distro would derive it, so it is on the span whoever exports it. Memoised
        # when only our own rpc.* and model attributes decide it (attribution and request said nothing it reads).
        if REMOTE_INPUT_KEYS.isdisjoint(prepared.attributes) and (not scoped or REMOTE_INPUT_KEYS.isdisjoint(scoped)):
            span_attrs.update(sdk_call_remote_attributes(service_id, operation.method, prepared.model))
        else:
            span_attrs.update(remote_attributes(span_attrs))
        name = f"{prepared.operation} {prepared.target}" if prepared.target else prepared.operation
        span = telemetry.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=span_attrs)
        inv = Invocation(telemetry, span, metric_attrs, prepared.content_source)
        # One context switch makes our span current and keeps HTTP instrumentations (urllib3,
        # requests) from adding a second span for the same request, as botocore's instrumentation does.
        token = otel_context.attach(
            otel_context.set_value(_SUPPRESS_HTTP_INSTRUMENTATION_KEY, True, trace.set_span_in_context(span))
        )
        return Call(operation, prepared, inv, token)
    except Exception:
        _log.debug("bedrock-otel could not start a span", exc_info=True)
        return None


def _unreadable_request(operation: Operation, params: Mapping[str, Any], exc: Exception) -> Prepared:
    model = params.get("modelId") if isinstance(params, Mapping) else None
    return Prepared(operation.fallback_operation, model if isinstance(model, str) else None,
                    {A.PARSE_ERROR: [f"request: {type(exc).__name__}: {exc}"[:200]]})


def _detach(call: Call) -> None:
    try:
        otel_context.detach(call.token)
    except Exception:  # pragma: no cover - context mismatch (e.g. generator switched contexts)
        _log.debug("context detach failed", exc_info=True)


def succeeded(telemetry: Telemetry, call: Call, result: Any) -> None:
    """Parse the result; end the span now unless a body or stream keeps it open."""
    _detach(call)
    inv = call.inv
    try:
        if isinstance(result, dict):
            _apply_metadata(inv, result)
            done = call.operation.complete(inv, result, call.prepared, telemetry)
        else:
            done = True
        if done:
            inv.end()
    except Exception as exc:
        inv.outcome.parse_errors.append(f"response: {type(exc).__name__}: {exc}"[:200])
        inv.end()


def failed(call: Call, exc: BaseException) -> None:
    _detach(call)
    try:
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            _apply_metadata(call.inv, response)
    except Exception:  # pragma: no cover
        _log.debug("could not read error metadata", exc_info=True)
    call.inv.fail(exc)


def _apply_metadata(inv: Invocation, result: Mapping[str, Any]) -> None:
    """The response metadata's span attributes, set with the outcome's when the span ends (one SDK call)."""
    metadata = result.get("ResponseMetadata")
    if type(metadata) is not dict and not isinstance(metadata, Mapping):
        return
    attrs = inv.closing_attributes
    request_id = metadata.get("RequestId")
    if request_id:
        attrs[A.AWS_REQUEST_ID] = request_id
    status = metadata.get("HTTPStatusCode")
    if status is not None:
        attrs[A.HTTP_STATUS_CODE] = status
        # The ADOT distro's Application Signals pipeline reads only the old name: without it a
        # throttle (429) counts as a fault there instead of an error.
        attrs[A.HTTP_STATUS_CODE_OLD] = status
    retries = metadata.get("RetryAttempts")
    if retries is not None:
        attrs[A.RETRY_ATTEMPTS] = retries


def _server(endpoint_url: Optional[str]) -> Tuple[Optional[str], Optional[int]]:
    if not endpoint_url:
        return None, None
    cached = _SERVER_CACHE.get(endpoint_url)
    if cached is None:
        parts = urlsplit(endpoint_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        cached = _SERVER_CACHE[endpoint_url] = (parts.hostname, port)
    return cached
