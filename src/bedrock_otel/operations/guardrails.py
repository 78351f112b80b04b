"""Guardrails: the ApplyGuardrail API, and guardrails configured on Converse and InvokeModel calls.

Two ways a guardrail shows up in telemetry:

* ApplyGuardrail *targets* a guardrail, so its span carries ``aws.bedrock.guardrail.id`` (Application
  Signals' ``AWS::Bedrock::Guardrail`` resource).
* Converse(Stream) ``guardrailConfig`` and InvokeModel(WithResponseStream) ``guardrailIdentifier`` (the
  ``X-Amzn-Bedrock-GuardrailIdentifier`` header) *apply* a guardrail to a model call. The model stays the
  call's resource, so the guardrail is recorded as ``bedrock_otel.guardrail.id`` (the ADOT distro ranks
  ``aws.bedrock.guardrail.id`` above the model and would re-label the dependency).

Either way ``aws.bedrock.guardrail.action`` is ``INTERVENED`` or ``NONE`` (ApplyGuardrail's
``GUARDRAIL_INTERVENED`` and Converse's ``guardrail_intervened`` stop reason normalised) and
``aws.bedrock.guardrail.policies`` names the policies that blocked or masked something, when the response
carries assessments (ApplyGuardrail always; model calls with guardrail ``trace`` enabled).
``gen_ai.response.finish_reasons`` keeps Bedrock's own value (``guardrail_intervened``): the conventions'
finish reasons are per choice and provider-defined, and the guardrail attributes say the rest.

The model operations are registered by their own modules; :class:`GuardrailAware` wraps them here so
guardrail handling stays in one place and costs one dict lookup on calls without a guardrail.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ..telemetry import attributes as A
from ..telemetry.invocation import Invocation, Telemetry
from ..wrappers.swap import observer_of
from . import converse, invoke_model  # noqa: F401  (registered before they are wrapped below)
from .base import Operation, Prepared, lookup, register

_log = logging.getLogger(__name__)
_POLICIES = (
    "topicPolicy",
    "contentPolicy",
    "wordPolicy",
    "sensitiveInformationPolicy",
    "contextualGroundingPolicy",
    "automatedReasoningPolicy",
)
_INTERVENED = frozenset({"INTERVENED", "GUARDRAIL_INTERVENED", "guardrail_intervened"})
_BODY_ACTION = "amazon-bedrock-guardrailAction"
_BODY_TRACE = "amazon-bedrock-trace"
_BODY_ACTION_BYTES = _BODY_ACTION.encode()


def normalise_action(action: Any) -> Optional[str]:
    """``INTERVENED`` / ``NONE`` from any of Bedrock's spellings; None when there is no action."""
    if not isinstance(action, str) or not action:
        return None
    return "INTERVENED" if action in _INTERVENED else action.upper()


def _acted(node: Any, depth: int = 0) -> bool:
    """Whether a policy assessment holds a finding whose action is not NONE (BLOCKED, ANONYMIZED, ...)."""
    if depth > 4:
        return False
    if isinstance(node, Mapping):
        action = node.get("action")
        if isinstance(action, str) and action != "NONE":
            return True
        return any(_acted(value, depth + 1) for value in node.values() if isinstance(value, (Mapping, list)))
    if isinstance(node, list):
        return any(_acted(item, depth + 1) for item in node)
    return False


def intervened_policies(node: Any, found: Optional[List[str]] = None, depth: int = 0) -> List[str]:
    """Names of the policies that acted anywhere in an assessment, a list of them, or a trace map of them."""
    found = [] if found is None else found
    if depth > 5:
        return found
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in _POLICIES:
                if key not in found and _acted(value):
                    found.append(key)
            elif isinstance(value, (Mapping, list)):
                intervened_policies(value, found, depth + 1)
    elif isinstance(node, list):
        for item in node:
            intervened_policies(item, found, depth + 1)
    return found


def guardrail_attributes(action: Any, assessments: Any = None) -> Dict[str, Any]:
    """The action and intervening policies, as span attributes (empty when nothing is known)."""
    attrs: Dict[str, Any] = {}
    normalised = normalise_action(action)
    if normalised is not None:
        attrs[A.GUARDRAIL_ACTION] = normalised
    policies = intervened_policies(assessments) if assessments is not None else []
    if policies:
        attrs[A.GUARDRAIL_POLICIES] = policies
    return attrs


def configured(identifier: Any, version: Any) -> Dict[str, Any]:
    """Attributes of a guardrail applied by (not targeted by) a call."""
    attrs: Dict[str, Any] = {}
    if isinstance(identifier, str) and identifier:
        attrs[A.GUARDRAIL_CONFIGURED_ID] = identifier
        if isinstance(version, str) and version:
            attrs[A.GUARDRAIL_VERSION] = version
    return attrs


def _set(inv: Invocation, attrs: Mapping[str, Any]) -> None:
    if attrs and not inv.ended and inv.span.is_recording():
        inv.span.set_attributes(attrs)


class ApplyGuardrail(Operation):
    method = "ApplyGuardrail"

    def prepare(self, params: Mapping[str, Any], telemetry: Telemetry) -> Prepared:
        identifier = params.get("guardrailIdentifier")
        identifier = identifier if isinstance(identifier, str) else ""
        attrs: Dict[str, Any] = {}
        guardrail_id = identifier
        if identifier.startswith("arn:"):
            attrs[A.AWS_BEDROCK_GUARDRAIL_ARN] = identifier
            guardrail_id = identifier.rsplit("/", 1)[-1]
        if guardrail_id:
            attrs[A.AWS_BEDROCK_GUARDRAIL_ID] = guardrail_id
        for key, param in ((A.GUARDRAIL_VERSION, "guardrailVersion"), (A.GUARDRAIL_SOURCE, "source")):
            if isinstance(params.get(param), str):
                attrs[key] = params[param]
        return Prepared(A.OPERATION_APPLY_GUARDRAIL, None, attrs, target=guardrail_id)

    def complete(self, inv: Invocation, result: Dict[str, Any], prepared: Prepared,
                 telemetry: Telemetry) -> bool:
        assessments = result.get("assessments")
        _set(inv, guardrail_attributes(result.get("action"), assessments))
        latency = 0
        for assessment in assessments if isinstance(assessments, list) else ():
            metrics = assessment.get("invocationMetrics") if isinstance(assessment, Mapping) else None
            value = metrics.get("guardrailProcessingLatency") if isinstance(metrics, Mapping) else None
            if isinstance(value, int) and not isinstance(value, bool):
                latency += value
        if latency:
            inv.outcome.server_latency_ms = float(latency)
        return True


class GuardrailAware(Operation):
    """Wraps a model operation registered elsewhere, adding the guardrail its request configures."""

    def __init__(self, inner: Operation, request: Callable[[Mapping[str, Any]], Tuple[Any, Any]]) -> None:
        self.inner = inner
        self.service = inner.service
        self.method = inner.method
        self.streaming = inner.streaming
        self._request = request

    def __getattr__(self, name: str) -> Any:  # anything else the wrapped operation offers
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def prepare(self, params: Mapping[str, Any], telemetry: Telemetry) -> Prepared:
        prepared = self.inner.prepare(params, telemetry)
        identifier, version = self._request(params)
        if identifier:
            prepared.attributes.update(configured(identifier, version))
        return prepared

    def complete(self, inv: Invocation, result: Dict[str, Any], prepared: Prepared,
                 telemetry: Telemetry) -> bool:
        if A.GUARDRAIL_CONFIGURED_ID not in prepared.attributes:
            return self.inner.complete(inv, result, prepared, telemetry)
        if self.method == "Converse":
            trace = result.get("trace")
            guardrail = trace.get("guardrail") if isinstance(trace, Mapping) else None
            _set(inv, guardrail_attributes(_converse_action(result.get("stopReason")), guardrail))
            return self.inner.complete(inv, result, prepared, telemetry)
        pending = not self.inner.complete(inv, result, prepared, telemetry)
        if pending:
            try:
                self._observe(inv, result)
            except Exception:  # an observer we do not recognise: lose the guardrail fields, keep the span
                _log.debug("cannot hook the guardrail fields of %s", self.method, exc_info=True)
        return not pending

    def _observe(self, inv: Invocation, result: Dict[str, Any]) -> None:
        """Hook the body or stream observer the wrapped operation attached, to see guardrail fields pass by."""
        source = result.get("stream") if self.method == "ConverseStream" else result.get("body")
        observer = observer_of(source) if source is not None else None
        if observer is None:
            return
        if self.method == "InvokeModel":
            inner_parse = observer.parse

            def parse(body: Mapping[str, Any]) -> None:
                _set(inv, guardrail_attributes(body.get(_BODY_ACTION), body.get(_BODY_TRACE)))
                if inner_parse is not None:
                    inner_parse(body)

            if observer.parse is None and observer.chunks is None and observer.size == 0:
                observer.chunks = []  # no family codec: collect the body anyway, for the guardrail fields
            observer.parse = parse
            return
        inner_handle = observer.handle
        peek = _converse_stream_peek(inv) if self.method == "ConverseStream" else _invoke_stream_peek(inv)

        def handle(event: Mapping[str, Any]) -> bool:
            peek(event)
            return inner_handle(event)

        observer.handle = handle


def _converse_action(stop_reason: Any) -> str:
    return "INTERVENED" if stop_reason == "guardrail_intervened" else "NONE"


def _converse_stream_peek(inv: Invocation) -> Callable[[Mapping[str, Any]], None]:
    def peek(event: Mapping[str, Any]) -> None:
        if "messageStop" in event:
            _set(inv, guardrail_attributes(_converse_action(event["messageStop"].get("stopReason"))))
        elif "metadata" in event:
            trace = event["metadata"].get("trace")
            guardrail = trace.get("guardrail") if isinstance(trace, Mapping) else None
            if guardrail is not None:
                policies = intervened_policies(guardrail)
                if policies:
                    _set(inv, {A.GUARDRAIL_POLICIES: policies})

    return peek


def _invoke_stream_peek(inv: Invocation) -> Callable[[Mapping[str, Any]], None]:
    def peek(event: Mapping[str, Any]) -> None:
        chunk = event.get("chunk")
        data = chunk.get("bytes") if isinstance(chunk, Mapping) else None
        if isinstance(data, bytes) and _BODY_ACTION_BYTES in data:  # parse only the chunk that carries it
            body = json.loads(data)
            _set(inv, guardrail_attributes(body.get(_BODY_ACTION), body.get(_BODY_TRACE)))

    return peek


def _converse_config(params: Mapping[str, Any]) -> Tuple[Any, Any]:
    config = params.get("guardrailConfig")
    if isinstance(config, Mapping):
        return config.get("guardrailIdentifier"), config.get("guardrailVersion")
    return None, None


def _invoke_config(params: Mapping[str, Any]) -> Tuple[Any, Any]:
    return params.get("guardrailIdentifier"), params.get("guardrailVersion")


register(ApplyGuardrail())
for _method, _request in (
    ("Converse", _converse_config),
    ("ConverseStream", _converse_config),
    ("InvokeModel", _invoke_config),
    ("InvokeModelWithResponseStream", _invoke_config),
):
    _operation = lookup("bedrock-runtime", _method)
    if _operation is not None and not isinstance(_operation, GuardrailAware):
        register(GuardrailAware(_operation, _request))
