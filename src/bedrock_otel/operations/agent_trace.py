"""An agent's ``trace`` events, rebuilt as child spans of the InvokeAgent span while the app reads the stream.

With ``enableTrace`` an InvokeAgent / InvokeInlineAgent ``completion`` stream interleaves the answer's
``chunk`` events with ``trace`` events describing each step the agent took. Mapping (one child per step):

=====================================================  =========================================================
trace event                                            child span (kind INTERNAL)
=====================================================  =========================================================
``*Trace.modelInvocationInput`` -> ``...Output``       ``chat {foundationModel}``: request parameters, the step's
                                                       ``metadata.usage`` tokens, ``totalTimeMs`` as
                                                       ``aws.bedrock.invocation_latency``
``invocationInput.actionGroupInvocationInput``         ``execute_tool {function or apiPath}``
-> ``observation.actionGroupInvocationOutput``
``invocationInput.codeInterpreterInvocationInput``     ``execute_tool CodeInterpreter``
``invocationInput.knowledgeBaseLookupInput``           ``retrieval {knowledgeBaseId}`` with the reference count
``invocationInput.agentCollaboratorInvocationInput``   ``invoke_agent {collaboratorName}``; the collaborator's own
                                                       trace events (longer ``callerChain``) nest under it
``guardrailTrace``                                     ``apply_guardrail``: action, intervening policies
``failureTrace``                                       span event on the InvokeAgent span; open children of that
                                                       agent end with ``error.type`` = the failure code
=====================================================  =========================================================

Pre-/post-processing and routing-classifier traces map like orchestration. ``returnControl`` and ``files``
events become span events on the InvokeAgent span (names, types and sizes of files; never their bytes).

Timing: trace events carry no step timestamps we can trust against our clock (``eventTime`` and
``metadata.startTime`` are the service's), so a child starts when its input event *arrives* and ends when
its output event arrives. A step seen only by its end (a guardrail check, an output without input) is
back-dated by the service's own ``totalTimeMs``, never before the call started. Children are INTERNAL: the
service made these calls, not this process, so Application Signals must not count them as dependencies.

Tokens: each model invocation's usage is on its ``chat`` child, recorded in ``gen_ai.client.token.usage``
under that model; the InvokeAgent span carries the sum (``bedrock_otel.usage.source=agent_trace``) but
records no token metric of its own, so metric totals are not doubled.

However the stream ends (consumed, broken out of, closed, garbage-collected, or failed) every open child
ends first; on failure they carry the call's ``error.type``.
"""

from __future__ import annotations

import threading
from time import perf_counter, time_ns
from typing import Any, Dict, List, Mapping, Optional, Tuple

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, StatusCode

from ..telemetry import attributes as A
from ..telemetry.errors import error_type
from ..telemetry.invocation import Invocation, Telemetry
from ..wrappers.event_stream import ObservedAsyncEventStream, ObservedEventStream, StreamObserver
from ..wrappers.swap import attach
from .guardrails import guardrail_attributes, normalise_action

_STEP_TRACES = ("orchestrationTrace", "preProcessingTrace", "postProcessingTrace", "routingClassifierTrace")
_INFERENCE = {
    A.GEN_AI_REQUEST_MAX_TOKENS: "maximumLength",
    A.GEN_AI_REQUEST_TEMPERATURE: "temperature",
    A.GEN_AI_REQUEST_TOP_P: "topP",
    A.GEN_AI_REQUEST_TOP_K: "topK",
}
_NOT_ON_CHILD_METRICS = frozenset({A.GEN_AI_OPERATION_NAME, A.GEN_AI_REQUEST_MODEL, A.ERROR_TYPE})
_CODE_INTERPRETER = "CodeInterpreter"
_MAX_REASON = 256


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


class _Child:
    """A child span still waiting for the event that ends it."""

    __slots__ = ("execution_type", "kind", "scope", "span", "trace_id")

    def __init__(self, span: Span, scope: str, kind: str, trace_id: str, execution_type: Optional[str]) -> None:
        self.span = span
        self.scope = scope
        self.kind = kind
        self.trace_id = trace_id
        self.execution_type = execution_type


class AgentTrace:
    """Per-stream state: open child spans, collaborator scopes and the running token totals."""

    def __init__(self, inv: Invocation, telemetry: Telemetry, guardrail_id: Optional[str] = None) -> None:
        self._inv = inv
        self._tracer = telemetry.tracer
        self._token_usage = telemetry.instruments.token_usage
        self._root = trace.set_span_in_context(inv.span)
        self._guardrail_id = guardrail_id
        self._open: List[_Child] = []
        self._collaborators: Dict[str, Context] = {}  # collaborator alias ARN -> context of its invoke_agent span
        self._models: Dict[str, str] = {}  # scope -> last foundation model it invoked
        self._input_tokens: Optional[int] = None
        self._output_tokens: Optional[int] = None
        self._citations = 0
        self._files = 0
        self._guardrail: Dict[str, Any] = {}
        self._return_control: Optional[str] = None
        # The call's start on the wall clock span timestamps use (the Invocation keeps a perf_counter).
        self._call_start_ns = time_ns() - int((perf_counter() - inv.started) * 1e9)
        self._lock = threading.Lock()
        self._finished = False

    # -- observation ----------------------------------------------------------------------------

    def observe(self, stream: Any) -> bool:
        """Attach to the ``completion`` stream; False if it cannot be observed (the caller ends the span)."""
        observer = _AgentStreamObserver(self._inv, self.handle, self)
        mixin = ObservedAsyncEventStream if hasattr(type(stream), "__aiter__") else ObservedEventStream
        return attach(stream, mixin, observer, lambda: observer.stop("garbage_collected"))

    def handle(self, event: Mapping[str, Any]) -> bool:
        """One ``completion`` event; True when it carried answer content (a ``chunk``)."""
        with self._lock:
            if self._finished:
                return False
            now = time_ns()
            if "chunk" in event:
                attribution = event["chunk"].get("attribution")
                citations = attribution.get("citations") if isinstance(attribution, Mapping) else None
                if isinstance(citations, list):
                    self._citations += len(citations)
                return True
            if "trace" in event:
                self._trace(event["trace"], now)
            elif "returnControl" in event:
                self._return(event["returnControl"], now)
            elif "files" in event:
                self._file_part(event["files"], now)
            else:
                self._inv.outcome.unknown_events += 1
            return False

    def finish(self, exc: Optional[BaseException]) -> None:
        """End every open child (with the call's error, if it failed) and put the totals on the agent span."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
            kind = error_type(exc) if exc is not None else None
            now = time_ns()
            for child in reversed(self._open):
                if kind is not None:
                    self._fail(child.span, kind)
                child.span.end(end_time=now)
            self._open.clear()
            attrs: Dict[str, Any] = dict(self._guardrail)
            if self._input_tokens is not None or self._output_tokens is not None:
                attrs[A.USAGE_SOURCE] = A.USAGE_SOURCE_AGENT_TRACE
            for key, value in (
                (A.GEN_AI_USAGE_INPUT_TOKENS, self._input_tokens),
                (A.GEN_AI_USAGE_OUTPUT_TOKENS, self._output_tokens),
                (A.RESPONSE_CITATION_COUNT, self._citations or None),
                (A.AGENT_FILE_COUNT, self._files or None),
                (A.AGENT_RETURN_CONTROL_ID, self._return_control),
            ):
                if value is not None:
                    attrs[key] = value
            span = self._inv.span
            if attrs and not self._inv.ended and span.is_recording():
                span.set_attributes(attrs)

    # -- trace parts ----------------------------------------------------------------------------

    def _scope(self, part: Mapping[str, Any]) -> Tuple[str, Context]:
        """Which agent produced this trace, and the span its steps nest under."""
        chain = part.get("callerChain")
        if isinstance(chain, list) and len(chain) > 1 and isinstance(chain[-1], Mapping):
            arn = chain[-1].get("agentAliasArn")
            if isinstance(arn, str):
                return arn, self._collaborators.get(arn, self._root)
        return "", self._root

    def _trace(self, part: Any, now: int) -> None:
        body = part.get("trace") if isinstance(part, Mapping) else None
        if not isinstance(body, Mapping):
            return
        scope, parent = self._scope(part)
        for key, payload in body.items():
            if not isinstance(payload, Mapping):
                continue
            if key in _STEP_TRACES:
                self._step(scope, parent, payload, now)
            elif key == "guardrailTrace":
                self._guardrail_step(scope, parent, payload, now)
            elif key == "failureTrace":
                self._failure(scope, payload, now)
            # customOrchestrationTrace carries free text only: nothing to map

    def _step(self, scope: str, parent: Context, payload: Mapping[str, Any], now: int) -> None:
        model_in = payload.get("modelInvocationInput")
        if isinstance(model_in, Mapping):
            self._model_input(scope, parent, model_in, now)
        model_out = payload.get("modelInvocationOutput")
        if isinstance(model_out, Mapping):
            self._model_output(scope, parent, model_out, now)
        invocation = payload.get("invocationInput")
        if isinstance(invocation, Mapping):
            self._invocation(scope, parent, invocation, now)
        observation = payload.get("observation")
        if isinstance(observation, Mapping):
            self._observation(scope, parent, observation, now)

    def _model_input(self, scope: str, parent: Context, data: Mapping[str, Any], now: int) -> None:
        model = _text(data.get("foundationModel")) or self._models.get(scope)
        if model:
            self._models[scope] = model
        attrs = self._chat_attributes(model, data)
        config = data.get("inferenceConfiguration")
        if isinstance(config, Mapping):
            for key, source in _INFERENCE.items():
                if _number(config.get(source)):
                    attrs[key] = config[source]
            stops = config.get("stopSequences")
            if isinstance(stops, list) and stops and all(isinstance(s, str) for s in stops):
                attrs[A.GEN_AI_REQUEST_STOP_SEQUENCES] = stops
        self._start(scope, "model", data, _name("chat", model), attrs, parent, now)

    def _chat_attributes(self, model: Optional[str], data: Mapping[str, Any]) -> Dict[str, Any]:
        attrs: Dict[str, Any] = {A.GEN_AI_OPERATION_NAME: "chat", A.GEN_AI_PROVIDER_NAME: A.PROVIDER}
        if model:
            attrs[A.GEN_AI_REQUEST_MODEL] = model
        if _text(data.get("type")):
            attrs[A.AGENT_PROMPT_TYPE] = data["type"]
        return attrs

    def _model_output(self, scope: str, parent: Context, data: Mapping[str, Any], now: int) -> None:
        metadata = data.get("metadata") if isinstance(data.get("metadata"), Mapping) else {}
        child = self._take(scope, "model", data)
        model = self._models.get(scope)
        if child is None:  # an output whose input we never saw
            child = self._start(scope, "model", data, _name("chat", model), self._chat_attributes(model, data),
                                parent, self._backdated(now, metadata))
        span = child.span
        usage = metadata.get("usage")
        attrs: Dict[str, Any] = {}
        if isinstance(usage, Mapping):
            inputs, outputs = usage.get("inputTokens"), usage.get("outputTokens")
            metric_attrs = None
            for key, token_type, count in ((A.GEN_AI_USAGE_INPUT_TOKENS, "input", inputs),
                                           (A.GEN_AI_USAGE_OUTPUT_TOKENS, "output", outputs)):
                if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
                    attrs[key] = count
                    if metric_attrs is None:
                        metric_attrs = self._child_metric_attributes(model)
                    self._token_usage.record(count, {**metric_attrs, A.GEN_AI_TOKEN_TYPE: token_type})
                    if token_type == "input":
                        self._input_tokens = (self._input_tokens or 0) + count
                    else:
                        self._output_tokens = (self._output_tokens or 0) + count
        if _number(metadata.get("totalTimeMs")):
            attrs[A.SERVER_LATENCY] = metadata["totalTimeMs"] / 1000.0
        if attrs and span.is_recording():
            span.set_attributes(attrs)
        self._end(child, now)

    def _child_metric_attributes(self, model: Optional[str]) -> Dict[str, Any]:
        attrs = {k: v for k, v in self._inv.metric_attributes.items() if k not in _NOT_ON_CHILD_METRICS}
        attrs[A.GEN_AI_OPERATION_NAME] = "chat"
        if model:
            attrs[A.GEN_AI_REQUEST_MODEL] = model
        return attrs

    def _invocation(self, scope: str, parent: Context, data: Mapping[str, Any], now: int) -> None:
        action = data.get("actionGroupInvocationInput")
        if isinstance(action, Mapping):
            name = _text(action.get("function")) or _text(action.get("apiPath")) or _text(
                action.get("actionGroupName")) or "action_group"
            attrs = {A.GEN_AI_OPERATION_NAME: "execute_tool", A.GEN_AI_TOOL_NAME: name, A.GEN_AI_TOOL_TYPE: "function"}
            for key, source in ((A.GEN_AI_TOOL_CALL_ID, "invocationId"), (A.AGENT_ACTION_GROUP, "actionGroupName"),
                                (A.AGENT_EXECUTION_TYPE, "executionType")):
                if _text(action.get(source)):
                    attrs[key] = action[source]
            self._start(scope, "tool", data, _name("execute_tool", name), attrs, parent, now,
                        _text(action.get("executionType")))
            return
        lookup = data.get("knowledgeBaseLookupInput")
        if isinstance(lookup, Mapping):
            kb = _text(lookup.get("knowledgeBaseId"))
            attrs = {A.GEN_AI_OPERATION_NAME: "retrieval", A.GEN_AI_PROVIDER_NAME: A.PROVIDER}
            if kb:
                attrs.update({A.GEN_AI_DATA_SOURCE_ID: kb, A.AWS_BEDROCK_KNOWLEDGE_BASE_ID: kb})
            self._start(scope, "retrieval", data, _name("retrieval", kb), attrs, parent, now)
            return
        if isinstance(data.get("codeInterpreterInvocationInput"), Mapping):
            attrs = {A.GEN_AI_OPERATION_NAME: "execute_tool", A.GEN_AI_TOOL_NAME: _CODE_INTERPRETER,
                     A.GEN_AI_TOOL_TYPE: "extension"}
            self._start(scope, "tool", data, _name("execute_tool", _CODE_INTERPRETER), attrs, parent, now)
            return
        collaborator = data.get("agentCollaboratorInvocationInput")
        if isinstance(collaborator, Mapping):
            name = _text(collaborator.get("agentCollaboratorName"))
            arn = _text(collaborator.get("agentCollaboratorAliasArn"))
            attrs = {A.GEN_AI_OPERATION_NAME: "invoke_agent", A.GEN_AI_PROVIDER_NAME: A.PROVIDER}
            if name:
                attrs[A.GEN_AI_AGENT_NAME] = name
            if arn:
                attrs[A.AGENT_COLLABORATOR_ALIAS_ARN] = arn
            child = self._start(scope, "agent", data, _name("invoke_agent", name), attrs, parent, now)
            if arn:
                self._collaborators[arn] = trace.set_span_in_context(child.span)

    def _observation(self, scope: str, parent: Context, data: Mapping[str, Any], now: int) -> None:
        for key, kind in (("actionGroupInvocationOutput", "tool"), ("codeInterpreterInvocationOutput", "tool"),
                          ("knowledgeBaseLookupOutput", "retrieval"), ("agentCollaboratorInvocationOutput", "agent")):
            output = data.get(key)
            if not isinstance(output, Mapping):
                continue
            child = self._take(scope, kind, data)
            if child is None:
                continue  # the input was never seen; an observation alone says too little for a span
            if kind == "retrieval":
                references = output.get("retrievedReferences")
                if isinstance(references, list) and child.span.is_recording():
                    child.span.set_attribute(A.RESPONSE_DOCUMENT_COUNT, len(references))
            elif key == "codeInterpreterInvocationOutput":
                if output.get("executionTimeout") is True:
                    self._fail(child.span, "timeout")
                elif _text(output.get("executionError")):
                    self._fail(child.span, "code_interpreter_error")
            self._end(child, now)
            return

    def _guardrail_step(self, scope: str, parent: Context, data: Mapping[str, Any], now: int) -> None:
        assessments = [data.get("inputAssessments"), data.get("outputAssessments")]
        attrs = {A.GEN_AI_OPERATION_NAME: A.OPERATION_APPLY_GUARDRAIL, A.GEN_AI_PROVIDER_NAME: A.PROVIDER,
                 **guardrail_attributes(data.get("action"), assessments)}
        if self._guardrail_id:
            attrs[A.GUARDRAIL_CONFIGURED_ID] = self._guardrail_id
        if _text(data.get("traceId")):
            attrs[A.AGENT_TRACE_ID] = data["traceId"]
        metadata = data.get("metadata") if isinstance(data.get("metadata"), Mapping) else {}
        span = self._tracer.start_span(_name(A.OPERATION_APPLY_GUARDRAIL, self._guardrail_id), context=parent,
                                       kind=SpanKind.INTERNAL, attributes=attrs,
                                       start_time=self._backdated(now, metadata))
        span.end(end_time=now)
        action = normalise_action(data.get("action"))
        if action == "INTERVENED" or (action and A.GUARDRAIL_ACTION not in self._guardrail):
            self._guardrail[A.GUARDRAIL_ACTION] = action
        policies = attrs.get(A.GUARDRAIL_POLICIES)
        if policies:
            known = list(self._guardrail.get(A.GUARDRAIL_POLICIES, ()))
            self._guardrail[A.GUARDRAIL_POLICIES] = known + [p for p in policies if p not in known]

    def _failure(self, scope: str, data: Mapping[str, Any], now: int) -> None:
        code = data.get("failureCode")
        attrs: Dict[str, Any] = {}
        if isinstance(code, int) and not isinstance(code, bool):
            attrs[A.AGENT_FAILURE_CODE] = code
        reason = _text(data.get("failureReason"))
        if reason:  # an error description from the service: credentials scrubbed, the content redactor applied
            attrs[A.AGENT_FAILURE_REASON] = self._inv.error_description(reason)[:_MAX_REASON]
        span = self._inv.span
        if span.is_recording():
            span.add_event(A.EVENT_AGENT_FAILURE, attrs, timestamp=now)
        kind = str(code) if A.AGENT_FAILURE_CODE in attrs else "agent_failure"
        for child in [c for c in self._open if c.scope == scope and c.kind != "agent"]:
            self._fail(child.span, kind)
            self._end(child, now)

    def _return(self, data: Any, now: int) -> None:
        if not isinstance(data, Mapping):
            return
        names: List[str] = []
        groups: List[str] = []
        inputs = data.get("invocationInputs")
        for item in inputs if isinstance(inputs, list) else ():
            for member in item.values() if isinstance(item, Mapping) else ():
                if not isinstance(member, Mapping):
                    continue
                name = _text(member.get("function")) or _text(member.get("apiPath"))
                if name:
                    names.append(name)
                if _text(member.get("actionGroup")):
                    groups.append(member["actionGroup"])
        attrs: Dict[str, Any] = {}
        if _text(data.get("invocationId")):
            attrs[A.AGENT_RETURN_CONTROL_ID] = self._return_control = data["invocationId"]
        if names:
            attrs[A.GEN_AI_TOOL_NAME] = names
        if groups:
            attrs[A.AGENT_ACTION_GROUP] = groups
        span = self._inv.span
        if span.is_recording():
            span.add_event(A.EVENT_AGENT_RETURN_CONTROL, attrs, timestamp=now)
        # The agent hands these tools to the application: their spans end here, not at stream end.
        for child in [c for c in self._open if c.kind == "tool" and c.execution_type == "RETURN_CONTROL"]:
            self._end(child, now)

    def _file_part(self, data: Any, now: int) -> None:
        files = data.get("files") if isinstance(data, Mapping) else None
        if not isinstance(files, list):
            return
        names, types, sizes = [], [], []
        for item in files:
            if not isinstance(item, Mapping):
                continue
            names.append(str(item.get("name") or ""))
            types.append(str(item.get("type") or ""))
            body = item.get("bytes")
            sizes.append(len(body) if isinstance(body, (bytes, bytearray, str)) else 0)
        self._files += len(names)
        span = self._inv.span
        if span.is_recording():
            span.add_event(A.EVENT_AGENT_FILES, {A.AGENT_FILE_NAMES: names, A.AGENT_FILE_TYPES: types,
                                                 A.AGENT_FILE_SIZES: sizes}, timestamp=now)

    # -- span plumbing --------------------------------------------------------------------------

    def _start(self, scope: str, kind: str, data: Mapping[str, Any], name: str, attrs: Dict[str, Any],
               parent: Context, start: int, execution_type: Optional[str] = None) -> _Child:
        trace_id = _text(data.get("traceId")) or ""
        if trace_id:
            attrs[A.AGENT_TRACE_ID] = trace_id
        span = self._tracer.start_span(name, context=parent, kind=SpanKind.INTERNAL, attributes=attrs,
                                       start_time=start)
        child = _Child(span, scope, kind, trace_id, execution_type)
        self._open.append(child)
        return child

    def _take(self, scope: str, kind: str, data: Mapping[str, Any]) -> Optional[_Child]:
        """The open child this output ends: same agent, kind and step (or else the latest of that kind)."""
        trace_id = _text(data.get("traceId")) or ""
        fallback = None
        for child in self._open:
            if child.scope == scope and child.kind == kind:
                if child.trace_id == trace_id:
                    return child
                fallback = child
        return fallback

    def _end(self, child: _Child, now: int) -> None:
        if child in self._open:
            self._open.remove(child)
        child.span.end(end_time=now)

    def _backdated(self, now: int, metadata: Mapping[str, Any]) -> int:
        """A start for a step seen only by its end: its ``totalTimeMs`` earlier, never before the call."""
        total = metadata.get("totalTimeMs")
        if not _number(total) or total <= 0:
            return now
        return max(self._call_start_ns, now - int(total * 1_000_000))

    @staticmethod
    def _fail(span: Span, kind: str) -> None:
        if span.is_recording():
            span.set_attribute(A.ERROR_TYPE, kind)
            span.set_status(StatusCode.ERROR, kind)


def _name(operation: str, target: Optional[str]) -> str:
    return f"{operation} {target}" if target else operation


class _AgentStreamObserver(StreamObserver):
    """The stream observer, ending the child spans before the InvokeAgent span however the stream ends."""

    __slots__ = ("trace",)

    def __init__(self, inv: Invocation, handle: Any, agent_trace: AgentTrace) -> None:
        super().__init__(inv, handle)
        self.trace = agent_trace

    def stop(self, state: str) -> None:
        self.trace.finish(None)
        super().stop(state)

    def fail(self, exc: BaseException) -> None:
        self.trace.finish(exc)
        super().fail(exc)
