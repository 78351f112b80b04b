"""Scripted answers for bedrock-agent-runtime (agents, knowledge bases, flows), guardrails and async invoke.

Like :mod:`bedrock_otel.testing.responders` this is pure: no I/O and no clocks beyond timestamps written
into payloads, so tests can compute what the fake server will answer. The server adds ``eventTime`` to
agent trace events when it sends them.

Deterministic rules (documented so tests can rely on them):

* **Guardrails**: text containing the word ``forbidden`` hits a denied topic (``topicPolicy``, BLOCKED);
  e-mail addresses are sensitive information (``sensitiveInformationPolicy``, ANONYMIZED). ApplyGuardrail
  intervenes on either; Converse / InvokeModel / agents / knowledge bases configured with a guardrail
  are blocked only by the denied topic and answer :data:`GUARDRAIL_BLOCKED_MESSAGE`.
* **Agents** (InvokeAgent, InvokeInlineAgent) without a scripted :class:`AgentStep` plan: input text with
  ``forbidden`` -> one guardrail intervention; with ``weather`` -> model, ``get_weather`` action-group call,
  model; otherwise one model invocation. Model step ``i`` (0-based, per agent) reports
  ``40 + words(inputText) + 30 * i`` input and ``12 + 3 * i`` output tokens unless scripted. The answer
  is :func:`~bedrock_otel.testing.responders.reply_text` of the input text, one ``chunk`` event, or
  one chunk per word when ``streamingConfigurations.streamFinalResponse`` is true. Trace events are sent
  only when the request sets ``enableTrace``. A request carrying ``returnControlInvocationResults`` (the
  application answering a ``returnControl``) without input text continues with one model step and
  answers ``reply_text`` of the first result's body.
* **Retrieve** returns ``numberOfResults`` results (default 5), scores 0.95, 0.90, ...
* **RetrieveAndGenerate(Stream)** answers ``reply_text(input.text)`` with one citation of two references.
* **InvokeFlow** answers ``reply_text`` of the first input document, then completes with ``SUCCESS``.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .eventstream import event_frame, exception_frame
from .responders import TOOL_INPUT, TOOL_TRIGGER, count_words, reply_text

__all__ = [
    "ACCOUNT",
    "AGENT_MODEL",
    "EXCEPTION",
    "GUARDRAIL_BLOCKED_MESSAGE",
    "GUARDRAIL_TRIGGER",
    "PII_TRIGGER",
    "AgentStep",
    "agent_events",
    "apply_guardrail_body",
    "default_agent_steps",
    "flow_events",
    "guardrail_assessment",
    "guardrail_blocks",
    "retrieve_and_generate_body",
    "retrieve_and_generate_events",
    "retrieve_body",
    "returned_results_text",
]

JsonDict = Dict[str, Any]
Event = Tuple[str, JsonDict]  # (event-stream member name, payload); EXCEPTION marks an exception frame

ACCOUNT = "123456789012"
AGENT_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"  # the model a fake InvokeAgent agent "uses"
EXCEPTION = "__exception__"  # Event name for an in-stream exception: payload {"type", "message"}
GUARDRAIL_TRIGGER = re.compile(r"\bforbidden\b", re.IGNORECASE)
PII_TRIGGER = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
GUARDRAIL_BLOCKED_MESSAGE = "Sorry, the model cannot answer this question."
DEFAULT_TOOL_OUTPUT = '{"temperature_c": 21, "conditions": "sunny"}'
_STOP_SEQUENCES = ["</invoke>", "</answer>", "</error>"]
_TRACE_KEYS = {
    "ORCHESTRATION": "orchestrationTrace",
    "PRE_PROCESSING": "preProcessingTrace",
    "POST_PROCESSING": "postProcessingTrace",
    "ROUTING_CLASSIFIER": "routingClassifierTrace",
}


# --------------------------------------------------------------------------------------------------
# Guardrails
# --------------------------------------------------------------------------------------------------


def guardrail_assessment(texts: Sequence[str]) -> JsonDict:
    """A ``GuardrailAssessment`` for ``texts``: denied topic for "forbidden", EMAIL for addresses."""
    joined = " ".join(texts)
    assessment: JsonDict = {}
    if GUARDRAIL_TRIGGER.search(joined):
        topic = {"name": "Forbidden", "type": "DENY", "action": "BLOCKED", "detected": True}
        assessment["topicPolicy"] = {"topics": [topic]}
    emails = PII_TRIGGER.findall(joined)
    if emails:
        entities = [{"match": e, "type": "EMAIL", "action": "ANONYMIZED", "detected": True} for e in emails]
        assessment["sensitiveInformationPolicy"] = {"piiEntities": entities, "regexes": []}
    return assessment


def guardrail_blocks(texts: Sequence[str]) -> bool:
    """Whether a guardrail configured on a model, agent or knowledge-base call blocks it."""
    return any(GUARDRAIL_TRIGGER.search(t) for t in texts)


def _guardrail_usage(characters: int) -> JsonDict:
    units = max(1, math.ceil(characters / 1000))
    return {
        "topicPolicyUnits": units,
        "contentPolicyUnits": units,
        "wordPolicyUnits": units,
        "sensitiveInformationPolicyUnits": units,
        "sensitiveInformationPolicyFreeUnits": 0,
        "contextualGroundingPolicyUnits": 0,
    }


def apply_guardrail_body(request: Any) -> JsonDict:
    """ApplyGuardrail response: GUARDRAIL_INTERVENED when any rule matches, with per-policy findings."""
    content = request.get("content") if isinstance(request, dict) else None
    texts: List[str] = []
    for block in content if isinstance(content, list) else []:
        text = block.get("text") if isinstance(block, dict) else None
        if isinstance(text, dict) and isinstance(text.get("text"), str):
            texts.append(text["text"])
    assessment = guardrail_assessment(texts)
    characters = sum(len(t) for t in texts)
    usage = _guardrail_usage(characters)
    if "topicPolicy" in assessment:
        outputs = [{"text": GUARDRAIL_BLOCKED_MESSAGE}]
    elif assessment:
        outputs = [{"text": PII_TRIGGER.sub("{EMAIL}", t)} for t in texts]
    else:
        outputs = []
    coverage = {"textCharacters": {"guarded": characters, "total": characters}}
    metrics = {"guardrailProcessingLatency": 12, "usage": usage, "guardrailCoverage": coverage}
    body: JsonDict = {
        "usage": usage,
        "action": "GUARDRAIL_INTERVENED" if assessment else "NONE",
        "outputs": outputs,
        "assessments": [{**assessment, "invocationMetrics": metrics}],
        "guardrailCoverage": coverage,
    }
    if assessment:
        body["actionReason"] = "Guardrail blocked."
    return body


def _policy_findings(policies: Sequence[str], action: str) -> JsonDict:
    """An assessment in which each named policy has one finding (BLOCKED/ANONYMIZED when intervening)."""
    blocked = action == "INTERVENED"
    act = "BLOCKED" if blocked else "NONE"
    findings: Dict[str, JsonDict] = {
        "topicPolicy": {"topics": [{"name": "Forbidden", "type": "DENY", "action": act, "detected": blocked}]},
        "contentPolicy": {"filters": [{"type": "VIOLENCE", "confidence": "HIGH", "action": act, "detected": blocked}]},
        "wordPolicy": {"customWords": [{"match": "forbidden", "action": act, "detected": blocked}],
                       "managedWordLists": []},
        "sensitiveInformationPolicy": {
            "piiEntities": [{"match": "a@b.example", "type": "EMAIL", "action": "ANONYMIZED" if blocked else "NONE",
                             "detected": blocked}],
            "regexes": [],
        },
    }
    return {name: findings[name] for name in policies if name in findings}


# --------------------------------------------------------------------------------------------------
# Agents
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentStep:
    """One step of a scripted agent run (``Reply.agent(...)``); build with the classmethods."""

    kind: str
    name: str = ""
    group: str = ""
    model: Optional[str] = None
    input_tokens: Optional[int] = None
    output_tokens: Optional[int] = None
    prompt_type: str = "ORCHESTRATION"
    results: int = 0
    action: str = ""
    policies: Tuple[str, ...] = ()
    output: Optional[str] = None
    return_control: bool = False
    api_path: Optional[str] = None
    steps: Tuple[AgentStep, ...] = ()
    alias_arn: str = ""
    code: int = 0
    files: Tuple[str, ...] = ()
    parameters: Tuple[Tuple[str, str], ...] = ()

    @classmethod
    def model_call(cls, input_tokens: Optional[int] = None, output_tokens: Optional[int] = None,
                   model: Optional[str] = None, prompt_type: str = "ORCHESTRATION") -> AgentStep:
        """A model invocation (``modelInvocationInput`` then ``modelInvocationOutput`` with usage)."""
        return cls("model", model=model, input_tokens=input_tokens, output_tokens=output_tokens,
                   prompt_type=prompt_type)

    @classmethod
    def tool(cls, function: str = "get_weather", action_group: str = "WeatherActions",
             output: str = DEFAULT_TOOL_OUTPUT, return_control: bool = False,
             api_path: Optional[str] = None, parameters: Optional[Mapping[str, Any]] = None) -> AgentStep:
        """An action-group call with ``parameters`` (default ``location=Seattle``); ``return_control`` hands
        it to the application (a ``returnControl`` event, and the stream ends)."""
        params = tuple((str(k), str(v)) for k, v in (parameters if parameters is not None else TOOL_INPUT).items())
        return cls("tool", name=function, group=action_group, output=output, return_control=return_control,
                   api_path=api_path, parameters=params)

    @classmethod
    def knowledge_base(cls, knowledge_base_id: str, results: int = 2) -> AgentStep:
        """A knowledge-base lookup returning ``results`` references."""
        return cls("knowledge_base", name=knowledge_base_id, results=results)

    @classmethod
    def guardrail(cls, action: str = "INTERVENED", policies: Sequence[str] = ("topicPolicy",)) -> AgentStep:
        """A guardrail trace; INTERVENED ends the run with :data:`GUARDRAIL_BLOCKED_MESSAGE`."""
        return cls("guardrail", action=action, policies=tuple(policies))

    @classmethod
    def code_interpreter(cls, error: Optional[str] = None, files: Sequence[str] = ()) -> AgentStep:
        """A code-interpreter run; ``files`` are also sent as a ``files`` event (fake PNG bytes)."""
        return cls("code_interpreter", output=error, files=tuple(files))

    @classmethod
    def collaborator(cls, name: str, steps: Sequence[AgentStep] = (), alias_arn: str = "") -> AgentStep:
        """A multi-agent collaborator call; its own ``steps`` are traced with a longer caller chain."""
        return cls("collaborator", name=name, steps=tuple(steps) or (AgentStep.model_call(),), alias_arn=alias_arn)

    @classmethod
    def failure(cls, reason: str = "Lambda function failed.", code: int = 500) -> AgentStep:
        """A ``failureTrace`` (the run continues; add :meth:`error` to end it)."""
        return cls("failure", output=reason, code=code)

    @classmethod
    def error(cls, exception_type: str = "internalServerException",
              message: str = "The agent run failed in FakeBedrock.") -> AgentStep:
        """An in-stream exception frame; the stream ends there."""
        return cls("error", name=exception_type, output=message)


def returned_results_text(request: JsonDict) -> Optional[str]:
    """The first ``returnControlInvocationResults`` body an application sent back, if any."""
    for key in ("sessionState", "inlineSessionState"):
        state = request.get(key)
        results = state.get("returnControlInvocationResults") if isinstance(state, dict) else None
        for result in results if isinstance(results, list) else ():
            for member in result.values() if isinstance(result, dict) else ():
                body = member.get("responseBody") if isinstance(member, dict) else None
                for content in body.values() if isinstance(body, dict) else ():
                    if isinstance(content, dict) and isinstance(content.get("body"), str):
                        return content["body"]
    return None


def default_agent_steps(input_text: str) -> Tuple[AgentStep, ...]:
    """The plan of an unscripted agent (see the module rules)."""
    if GUARDRAIL_TRIGGER.search(input_text):
        return (AgentStep.guardrail(),)
    if TOOL_TRIGGER.search(input_text):
        return (AgentStep.model_call(), AgentStep.tool(), AgentStep.model_call())
    return (AgentStep.model_call(),)


def _iso(seconds: float) -> str:
    millis = int(seconds % 1 * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def encode_event(event: Event) -> bytes:
    """One event of an agent-runtime stream as its event-stream frame; traces are stamped when sent."""
    name, payload = event
    if name == EXCEPTION:
        return exception_frame(payload["type"], payload["message"])
    if name == "trace":
        payload = {**payload, "eventTime": _iso(time.time())}
    return event_frame(name, payload)


def _metadata(input_tokens: Optional[int] = None, output_tokens: Optional[int] = None,
              total_ms: int = 25) -> JsonDict:
    end = time.time()
    metadata: JsonDict = {
        "startTime": _iso(end - total_ms / 1000), "endTime": _iso(end), "totalTimeMs": total_ms,
        "operationTotalTimeMs": total_ms, "clientRequestId": hashlib.sha1(str(end).encode()).hexdigest()[:32],
    }
    if input_tokens is not None:
        metadata["usage"] = {"inputTokens": input_tokens, "outputTokens": output_tokens or 0}
    return metadata


def _references(count: int, query: str, source: str) -> List[JsonDict]:
    return [
        {
            "content": {"type": "TEXT", "text": f"Fake passage {i + 1} about: {query[:40]}"},
            "location": {"type": "S3", "s3Location": {"uri": f"s3://fake-kb-{source}/doc-{i + 1}.txt"}},
            "metadata": {"x-amz-bedrock-kb-source-uri": f"s3://fake-kb-{source}/doc-{i + 1}.txt",
                         "x-amz-bedrock-kb-chunk-id": f"chunk-{i + 1}"},
        }
        for i in range(count)
    ]


@dataclass
class _Scope:
    """One agent in the caller chain (the invoked agent, or a collaborator it called)."""

    chain: List[str]
    trace_base: str
    collaborator: str = ""
    steps_taken: int = 0
    trace_id: str = ""

    def next_trace_id(self, prompt_type: str) -> str:
        suffix = {"PRE_PROCESSING": "pre-", "POST_PROCESSING": "post-", "ROUTING_CLASSIFIER": "routing-"}
        self.trace_id = f"{self.trace_base}-{suffix.get(prompt_type, '')}{self.steps_taken}"
        self.steps_taken += 1
        return self.trace_id


class _AgentRun:
    """Renders a plan into the InvokeAgent ``completion`` events."""

    def __init__(self, *, input_text: str, session_id: str, region: str, model: str, trace: bool,
                 agent_id: Optional[str], alias_id: Optional[str]) -> None:
        self.input_text = input_text
        self.input_words = count_words(input_text)
        self.session_id = session_id
        self.region = region
        self.model = model
        self.trace_enabled = trace
        self.agent_id = agent_id
        self.alias_id = alias_id
        self.events: List[Event] = []
        self.blocked = False
        self.kb_references: List[JsonDict] = []
        self._counter = 0

    def arn(self, agent: str, alias: str) -> str:
        return f"arn:aws:bedrock:{self.region}:{ACCOUNT}:agent-alias/{agent}/{alias}"

    def _id(self, *parts: Any) -> str:
        self._counter += 1
        seed = "\0".join(map(str, (self.session_id, self._counter, *parts)))
        return hashlib.sha256(seed.encode()).hexdigest()[:12]

    def trace(self, scope: _Scope, body: JsonDict) -> None:
        if not self.trace_enabled:
            return
        part: JsonDict = {"sessionId": self.session_id, "callerChain": [{"agentAliasArn": a} for a in scope.chain],
                          "trace": body}
        if self.agent_id is not None:
            part.update(agentId=self.agent_id, agentAliasId=self.alias_id,
                        agentVersion="DRAFT" if self.alias_id == "TSTALIASID" else "1")
        if scope.collaborator:
            part["collaboratorName"] = scope.collaborator
        self.events.append(("trace", part))

    def run(self, steps: Sequence[AgentStep], scope: _Scope) -> bool:
        """Render ``steps``; False when the run stopped (return of control, error, guardrail block)."""
        for step in steps:
            render = getattr(self, f"_{step.kind}")
            if not render(step, scope):
                return False
        return True

    def _model(self, step: AgentStep, scope: _Scope) -> bool:
        index = scope.steps_taken
        trace_id = scope.next_trace_id(step.prompt_type)
        key = _TRACE_KEYS.get(step.prompt_type, "orchestrationTrace")
        inputs = step.input_tokens if step.input_tokens is not None else 40 + self.input_words + 30 * index
        outputs = step.output_tokens if step.output_tokens is not None else 12 + 3 * index
        config = {"maximumLength": 2048, "temperature": 0.0, "topP": 1.0, "topK": 250,
                  "stopSequences": list(_STOP_SEQUENCES)}
        self.trace(scope, {key: {"modelInvocationInput": {
            "traceId": trace_id, "type": step.prompt_type, "foundationModel": step.model or self.model,
            "inferenceConfiguration": config, "text": f"<prompt step {index}>", "promptCreationMode": "DEFAULT",
            "parserMode": "DEFAULT"}}})
        self.trace(scope, {key: {"modelInvocationOutput": {
            "traceId": trace_id, "rawResponse": {"content": f"<model output {index}>"},
            "metadata": _metadata(inputs, outputs, total_ms=40 + 10 * index)}}})
        if key == "orchestrationTrace":
            self.trace(scope, {key: {"rationale": {"traceId": trace_id, "text": f"Step {index} rationale."}}})
        return True

    def _tool(self, step: AgentStep, scope: _Scope) -> bool:
        invocation_id = self._id("tool", step.name)
        parameters = [{"name": k, "type": "string", "value": v} for k, v in step.parameters]
        action: JsonDict = {"actionGroupName": step.group, "executionType":
                            "RETURN_CONTROL" if step.return_control else "LAMBDA", "invocationId": invocation_id}
        if step.api_path:
            action.update(apiPath=step.api_path, verb="get", parameters=parameters)
        else:
            action.update(function=step.name, parameters=parameters)
        self.trace(scope, {"orchestrationTrace": {"invocationInput": {
            "traceId": scope.trace_id, "invocationType": "ACTION_GROUP", "actionGroupInvocationInput": action}}})
        if step.return_control:
            if step.api_path:
                member = {"apiInvocationInput": {"actionGroup": step.group, "apiPath": step.api_path,
                                                 "httpMethod": "GET", "parameters": parameters}}
            else:
                member = {"functionInvocationInput": {"actionGroup": step.group, "function": step.name,
                                                      "parameters": parameters}}
            self.events.append(("returnControl", {"invocationId": invocation_id, "invocationInputs": [member]}))
            return False
        self.trace(scope, {"orchestrationTrace": {"observation": {
            "traceId": scope.trace_id, "type": "ACTION_GROUP",
            "actionGroupInvocationOutput": {"text": step.output or "", "metadata": _metadata(total_ms=30)}}}})
        return True

    def _knowledge_base(self, step: AgentStep, scope: _Scope) -> bool:
        self.trace(scope, {"orchestrationTrace": {"invocationInput": {
            "traceId": scope.trace_id, "invocationType": "KNOWLEDGE_BASE",
            "knowledgeBaseLookupInput": {"knowledgeBaseId": step.name, "text": self.input_text}}}})
        references = _references(step.results, self.input_text, step.name)
        self.kb_references.extend(references)
        self.trace(scope, {"orchestrationTrace": {"observation": {
            "traceId": scope.trace_id, "type": "KNOWLEDGE_BASE",
            "knowledgeBaseLookupOutput": {"retrievedReferences": references, "metadata": _metadata(total_ms=35)}}}})
        return True

    def _guardrail(self, step: AgentStep, scope: _Scope) -> bool:
        assessment = _policy_findings(step.policies, step.action)
        self.trace(scope, {"guardrailTrace": {
            "action": step.action, "traceId": f"{scope.trace_base}-guardrail-{self._id('guardrail')[:4]}",
            "inputAssessments": [assessment], "metadata": _metadata(total_ms=20)}})
        if step.action == "INTERVENED":
            self.blocked = True
            return False
        return True

    def _code_interpreter(self, step: AgentStep, scope: _Scope) -> bool:
        self.trace(scope, {"orchestrationTrace": {"invocationInput": {
            "traceId": scope.trace_id, "invocationType": "ACTION_GROUP_CODE_INTERPRETER",
            "codeInterpreterInvocationInput": {"code": "print(6 * 7)", "files": []}}}})
        output: JsonDict = {"executionOutput": "" if step.output else "42", "files": list(step.files),
                            "metadata": _metadata(total_ms=50)}
        if step.output:
            output["executionError"] = step.output
        self.trace(scope, {"orchestrationTrace": {"observation": {
            "traceId": scope.trace_id, "type": "ACTION_GROUP_CODE_INTERPRETER",
            "codeInterpreterInvocationOutput": output}}})
        if step.files:
            png = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode("ascii")
            files = [{"name": name, "type": "image/png", "bytes": png} for name in step.files]
            self.events.append(("files", {"files": files}))
        return True

    def _collaborator(self, step: AgentStep, scope: _Scope) -> bool:
        alias_arn = step.alias_arn or self.arn(step.name.upper()[:10].ljust(10, "X"), "ALIAS00001")
        payload = {"type": "TEXT", "text": self.input_text}
        self.trace(scope, {"orchestrationTrace": {"invocationInput": {
            "traceId": scope.trace_id, "invocationType": "AGENT_COLLABORATOR",
            "agentCollaboratorInvocationInput": {"agentCollaboratorName": step.name,
                                                 "agentCollaboratorAliasArn": alias_arn, "input": payload}}}})
        child = _Scope(chain=[*scope.chain, alias_arn], trace_base=self._id("collaborator", step.name),
                       collaborator=step.name)
        if not self.run(step.steps, child):
            return False
        answer = f"{step.name} answered."
        self._finish_scope(child, answer)
        self.trace(scope, {"orchestrationTrace": {"observation": {
            "traceId": scope.trace_id, "type": "AGENT_COLLABORATOR",
            "agentCollaboratorInvocationOutput": {"agentCollaboratorName": step.name,
                                                  "agentCollaboratorAliasArn": alias_arn,
                                                  "output": {"type": "TEXT", "text": answer},
                                                  "metadata": _metadata(total_ms=120)}}}})
        return True

    def _failure(self, step: AgentStep, scope: _Scope) -> bool:
        self.trace(scope, {"failureTrace": {"traceId": scope.trace_id or f"{scope.trace_base}-0",
                                            "failureReason": step.output or "", "failureCode": step.code,
                                            "metadata": _metadata(total_ms=5)}})
        return True

    def _error(self, step: AgentStep, scope: _Scope) -> bool:
        self.events.append((EXCEPTION, {"type": step.name, "message": step.output or ""}))
        return False

    def _finish_scope(self, scope: _Scope, answer: str) -> None:
        if scope.trace_id:
            self.trace(scope, {"orchestrationTrace": {"observation": {
                "traceId": scope.trace_id, "type": "FINISH",
                "finalResponse": {"text": answer, "metadata": _metadata(total_ms=1)}}}})

    def answer(self, scope: _Scope, answer: str, stream_final: bool) -> None:
        self._finish_scope(scope, answer)
        words = answer.split(" ")
        pieces = [w + " " for w in words[:-1]] + words[-1:] if stream_final else [answer]
        for index, piece in enumerate(pieces):
            chunk: JsonDict = {"bytes": base64.b64encode(piece.encode("utf-8")).decode("ascii")}
            if index == len(pieces) - 1 and self.kb_references:
                part = {"textResponsePart": {"text": answer, "span": {"start": 0, "end": max(len(answer) - 1, 0)}}}
                chunk["attribution"] = {"citations": [{"generatedResponsePart": part,
                                                       "retrievedReferences": self.kb_references[:2]}]}
            self.events.append(("chunk", chunk))


def agent_events(
    request: JsonDict,
    *,
    session_id: str,
    region: str,
    agent_id: Optional[str] = None,
    alias_id: Optional[str] = None,
    steps: Optional[Sequence[AgentStep]] = None,
    answer: Optional[str] = None,
) -> List[Event]:
    """The ``completion`` events of InvokeAgent (``agent_id`` given) or InvokeInlineAgent (model from the body)."""
    input_text = request.get("inputText") if isinstance(request.get("inputText"), str) else ""
    returned = returned_results_text(request)
    if returned is not None and not input_text:  # the app answers a returnControl: continue from its result
        input_text, steps = returned, steps if steps is not None else (AgentStep.model_call(),)
    model = request.get("foundationModel") if isinstance(request.get("foundationModel"), str) else AGENT_MODEL
    streaming = request.get("streamingConfigurations")
    stream_final = isinstance(streaming, dict) and streaming.get("streamFinalResponse") is True
    run = _AgentRun(input_text=input_text, session_id=session_id, region=region, model=model,
                    trace=request.get("enableTrace") is True, agent_id=agent_id, alias_id=alias_id)
    root_arn = (run.arn(agent_id, alias_id or "TSTALIASID") if agent_id is not None
                else f"arn:aws:bedrock:{region}:{ACCOUNT}:inline-agent/{session_id}")
    root = _Scope(chain=[root_arn], trace_base=run._id("root"))
    plan = tuple(steps) if steps is not None else default_agent_steps(input_text)
    completed = run.run(plan, root)
    if completed or run.blocked:
        text = answer if answer is not None else GUARDRAIL_BLOCKED_MESSAGE if run.blocked else reply_text(input_text)
        run.answer(root, text, stream_final)
    return run.events


# --------------------------------------------------------------------------------------------------
# Knowledge bases
# --------------------------------------------------------------------------------------------------


def _number_of_results(configuration: Any) -> int:
    if isinstance(configuration, dict):
        for key in ("vectorSearchConfiguration", "managedSearchConfiguration"):
            search = configuration.get(key)
            count = search.get("numberOfResults") if isinstance(search, dict) else None
            if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
                return min(count, 100)
    return 5


def _query_text(request: JsonDict, *path: str) -> str:
    value: Any = request
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else ""


def retrieve_body(request: JsonDict, knowledge_base_id: str) -> JsonDict:
    """Retrieve response: ``numberOfResults`` scored passages; guardrail action when one is configured."""
    query = _query_text(request, "retrievalQuery", "text")
    blocked = isinstance(request.get("guardrailConfiguration"), dict) and guardrail_blocks([query])
    count = 0 if blocked else _number_of_results(request.get("retrievalConfiguration"))
    results = [{**ref, "score": round(0.95 - 0.05 * i, 4), "documentId": f"doc-{i + 1}"}
               for i, ref in enumerate(_references(count, query, knowledge_base_id))]
    body: JsonDict = {"retrievalResults": results}
    if isinstance(request.get("guardrailConfiguration"), dict):
        body["guardrailAction"] = "INTERVENED" if blocked else "NONE"
    return body


def _rag_configuration(request: JsonDict) -> Tuple[str, JsonDict]:
    config = request.get("retrieveAndGenerateConfiguration")
    config = config if isinstance(config, dict) else {}
    for key in ("knowledgeBaseConfiguration", "externalSourcesConfiguration"):
        sub = config.get(key)
        if isinstance(sub, dict):
            return str(sub.get("knowledgeBaseId") or "external"), sub
    return "external", {}


def _rag_guardrail(sub: JsonDict) -> bool:
    generation = sub.get("generationConfiguration")
    return isinstance(generation, dict) and isinstance(generation.get("guardrailConfiguration"), dict)


def _citation(text: str, references: List[JsonDict]) -> JsonDict:
    part = {"textResponsePart": {"text": text, "span": {"start": 0, "end": max(len(text) - 1, 0)}}}
    return {"generatedResponsePart": part, "retrievedReferences": references}


def retrieve_and_generate_body(request: JsonDict, session_id: str, answer: Optional[str] = None) -> JsonDict:
    """RetrieveAndGenerate response: the reply text with one citation of two references."""
    query = _query_text(request, "input", "text")
    source, sub = _rag_configuration(request)
    blocked = _rag_guardrail(sub) and guardrail_blocks([query])
    text = GUARDRAIL_BLOCKED_MESSAGE if blocked else answer if answer is not None else reply_text(query)
    body: JsonDict = {"output": {"text": text}, "sessionId": session_id,
                      "citations": [] if blocked else [_citation(text, _references(2, query, source))]}
    if _rag_guardrail(sub):
        body["guardrailAction"] = "INTERVENED" if blocked else "NONE"
    return body


def retrieve_and_generate_events(request: JsonDict, answer: Optional[str] = None) -> List[Event]:
    """RetrieveAndGenerateStream events: ``output`` per word, one ``citation``, then ``guardrail`` if configured."""
    body = retrieve_and_generate_body(request, "", answer)
    text = body["output"]["text"]
    words = text.split(" ")
    events: List[Event] = [("output", {"text": w + " "}) for w in words[:-1]] + [("output", {"text": words[-1]})]
    for citation in body["citations"]:
        events.append(("citation", citation))
    if "guardrailAction" in body:
        events.append(("guardrail", {"action": body["guardrailAction"]}))
    return events


# --------------------------------------------------------------------------------------------------
# Flows
# --------------------------------------------------------------------------------------------------


def flow_events(request: JsonDict, answer: Optional[str] = None) -> List[Event]:
    """InvokeFlow events: node traces when ``enableTrace``, one ``flowOutputEvent``, ``flowCompletionEvent``."""
    inputs = request.get("inputs")
    first = inputs[0] if isinstance(inputs, list) and inputs and isinstance(inputs[0], dict) else {}
    content = first.get("content") if isinstance(first.get("content"), dict) else {}
    document = content.get("document")
    text = answer if answer is not None else reply_text(document if isinstance(document, str) else str(document))
    now = _iso(time.time())
    events: List[Event] = []
    if request.get("enableTrace") is True:
        node_input = {"nodeName": "FlowInputNode", "timestamp": now,
                      "fields": [{"nodeInputName": "document", "content": {"document": document}}]}
        action = {"nodeName": "Prompt", "timestamp": now, "requestId": hashlib.sha1(text.encode()).hexdigest()[:32],
                  "serviceName": "Amazon Bedrock", "operationName": "InvokeModel"}
        node_output = {"nodeName": "FlowOutputNode", "timestamp": now,
                       "fields": [{"nodeOutputName": "document", "content": {"document": text}}]}
        events += [("flowTraceEvent", {"trace": {"nodeInputTrace": node_input}}),
                   ("flowTraceEvent", {"trace": {"nodeActionTrace": action}}),
                   ("flowTraceEvent", {"trace": {"nodeOutputTrace": node_output}})]
    events.append(("flowOutputEvent", {"content": {"document": text}, "nodeName": "FlowOutputNode",
                                       "nodeType": "Output"}))
    events.append(("flowCompletionEvent", {"completionReason": "SUCCESS"}))
    return events

