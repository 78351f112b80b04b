"""Hypothesis strategies for the operations that are not model calls on ``/model/{id}``.

Agents (InvokeAgent, InvokeInlineAgent), knowledge bases (Retrieve, RetrieveAndGenerate and its
stream), flows (InvokeFlow) on bedrock-agent-runtime, and ApplyGuardrail, StartAsyncInvoke and
GetAsyncInvoke on bedrock-runtime. Requests are valid, refused by the fake (ids starting ``invalid``)
or rejected by botocore itself; replies are the fake's own (agent runs built from random steps
included), scripted errors, throttles, raw bodies, cut or dropped streams, and hand-made event frames:
the operation's own events with odd payloads, events of other operations and unknown ones.
"""

from __future__ import annotations

import base64
from typing import Any, Dict, List, Sequence

from hypothesis import strategies as st

from bedrock_otel.testing.agent_runtime import AgentStep
from bedrock_otel.testing.eventstream import event_frame
from bedrock_otel.testing.fake_server import Reply

from .scenario import (
    APPLY_GUARDRAIL,
    GET_ASYNC_INVOKE,
    INVOKE_AGENT,
    INVOKE_FLOW,
    INVOKE_INLINE_AGENT,
    LATEST_ASYNC_ARN,
    RETRIEVE,
    RETRIEVE_AND_GENERATE,
    RETRIEVE_AND_GENERATE_STREAM,
    START_ASYNC_INVOKE,
    UNKNOWN_ASYNC_ARN,
)

MODEL_ARN = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
INSTRUCTION = "You are a concise travel assistant, always."  # InvokeInlineAgent wants 40+ characters
SESSIONS = ("session-1", "session-2", "invalid-session")
AGENT_MODELS = ("anthropic.claude-3-haiku-20240307-v1:0", "amazon.nova-pro-v1:0", "meta.llama3-8b-instruct-v1:0",
                "acme.unheard-of-model-v1", "invalid-model",
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6")

# Agent-runtime error codes on top of the model ones (strategies.ERRORS).
AGENT_ERRORS = (
    (424, "DependencyFailedException"),
    (502, "BadGatewayException"),
    (409, "ConflictException"),
    (400, "ServiceQuotaExceededException"),
)
AGENT_STREAM_EXCEPTIONS = ("dependencyFailedException", "badGatewayException", "conflictException",
                           "accessDeniedException", "resourceNotFoundException")


def _maybe(draw: Any, odds: int) -> bool:
    """True about once in ``odds`` draws."""
    return draw(st.integers(0, odds - 1)) == 0


# --------------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------------


def _agent_common(draw: Any, prompts: Any) -> Dict[str, Any]:
    params: Dict[str, Any] = {"sessionId": draw(st.sampled_from(SESSIONS))}
    if not _maybe(draw, 8):
        params["inputText"] = draw(prompts)
    if draw(st.booleans()):
        params["enableTrace"] = draw(st.sampled_from([True, True, False]))
    if _maybe(draw, 4):
        params["streamingConfigurations"] = {"streamFinalResponse": draw(st.booleans())}
    if _maybe(draw, 6):
        params["sessionState"] = {"invocationId": "invocation-1", "returnControlInvocationResults": [
            {"functionResult": {"actionGroup": "WeatherActions", "function": "get_weather",
                                "responseBody": {"TEXT": {"body": draw(prompts)}}}}]}
    return params


@st.composite
def invoke_agent_params(draw: Any, prompts: Any) -> Dict[str, Any]:
    params = _agent_common(draw, prompts)
    params["agentId"] = draw(st.sampled_from(["AGENT12345", "AGENT12345", "invalid-agent"]))
    params["agentAliasId"] = draw(st.sampled_from(["TSTALIASID", "ALIAS12345"]))
    if _maybe(draw, 6):
        params["memoryId"] = "memory-1"
    return params


@st.composite
def invoke_inline_agent_params(draw: Any, prompts: Any) -> Dict[str, Any]:
    params = _agent_common(draw, prompts)
    params["foundationModel"] = draw(st.sampled_from(AGENT_MODELS))
    params["instruction"] = INSTRUCTION
    if draw(st.booleans()):
        params["agentName"] = draw(st.sampled_from(["travel", "helper-2"]))
    if _maybe(draw, 4):
        params["guardrailConfiguration"] = {"guardrailIdentifier": "gr-travel", "guardrailVersion": "2"}
    return params


def _retrieval_configuration(draw: Any) -> Dict[str, Any]:
    return {"vectorSearchConfiguration": {"numberOfResults": draw(st.sampled_from([1, 3, 100]))}}


@st.composite
def retrieve_params(draw: Any, prompts: Any) -> Dict[str, Any]:
    params: Dict[str, Any] = {"knowledgeBaseId": draw(st.sampled_from(["KB12345678", "KB12345678", "invalid-kb"])),
                              "retrievalQuery": {"text": draw(prompts)}}
    if draw(st.booleans()):
        params["retrievalConfiguration"] = _retrieval_configuration(draw)
    if _maybe(draw, 4):
        params["guardrailConfiguration"] = {"guardrailId": "gr-1", "guardrailVersion": "1"}
    return params


@st.composite
def retrieve_and_generate_params(draw: Any, prompts: Any) -> Dict[str, Any]:
    generation: Dict[str, Any] = {}
    if _maybe(draw, 3):
        generation["guardrailConfiguration"] = {"guardrailId": "gr-1", "guardrailVersion": "1"}
    if _maybe(draw, 3):
        generation["inferenceConfig"] = {"textInferenceConfig": {"maxTokens": 300, "temperature": 0.2}}
    if draw(st.booleans()):
        sub: Dict[str, Any] = {"knowledgeBaseId": draw(st.sampled_from(["KB12345678", "KB87654321"])),
                               "modelArn": MODEL_ARN}
        if draw(st.booleans()):
            sub["retrievalConfiguration"] = _retrieval_configuration(draw)
        if generation:
            sub["generationConfiguration"] = generation
        config = {"type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": sub}
    else:
        sub = {"modelArn": MODEL_ARN, "sources": [{"sourceType": "BYTE_CONTENT", "byteContent": {
            "identifier": "notes.txt", "contentType": "text/plain", "data": draw(prompts).encode("utf-8")}}]}
        if generation:
            sub["generationConfiguration"] = generation
        config = {"type": "EXTERNAL_SOURCES", "externalSourcesConfiguration": sub}
    params: Dict[str, Any] = {"input": {"text": draw(prompts)}, "retrieveAndGenerateConfiguration": config}
    if _maybe(draw, 4):
        params["sessionId"] = "rag-session-1"
    return params


@st.composite
def invoke_flow_params(draw: Any, prompts: Any) -> Dict[str, Any]:
    document = draw(st.one_of(prompts, st.just({"question": "weather?", "city": "Paris"}), st.just([1, 2])))
    params: Dict[str, Any] = {
        "flowIdentifier": draw(st.sampled_from(["FLOW123456", "FLOW123456", "invalid-flow"])),
        "flowAliasIdentifier": "ALIAS12345",
        "inputs": [{"nodeName": "FlowInputNode", "nodeOutputName": "document", "content": {"document": document}}],
    }
    if draw(st.booleans()):
        params["enableTrace"] = True
    return params


@st.composite
def apply_guardrail_params(draw: Any, prompts: Any) -> Dict[str, Any]:
    texts = draw(st.lists(st.one_of(prompts, st.just("this is forbidden"), st.just("mail me at a@example.com")),
                          min_size=1, max_size=3))
    params: Dict[str, Any] = {
        "guardrailIdentifier": draw(st.sampled_from(["gr-1", "gr-1", "invalid-guardrail"])),
        "guardrailVersion": draw(st.sampled_from(["1", "DRAFT"])),
        "source": draw(st.sampled_from(["INPUT", "OUTPUT"])),
        "content": [{"text": {"text": text}} for text in texts],
    }
    if _maybe(draw, 4):
        params["outputScope"] = "FULL"
    return params


@st.composite
def start_async_invoke_params(draw: Any, prompts: Any) -> Dict[str, Any]:
    return {"modelId": draw(st.sampled_from(["amazon.nova-reel-v1:0", "amazon.nova-reel-v1:1", "invalid-model"])),
            "modelInput": {"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": draw(prompts)}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://my-bucket/videos/"}}}


def get_async_invoke_params(prompts: Any) -> Any:
    return st.sampled_from([{"invocationArn": LATEST_ASYNC_ARN}, {"invocationArn": LATEST_ASYNC_ARN},
                            {"invocationArn": UNKNOWN_ASYNC_ARN}])


# Requests botocore rejects before sending (ParamValidationError) or the fake refuses as malformed.
MALFORMED = {
    INVOKE_AGENT: ({"agentId": "AGENT12345", "agentAliasId": "TSTALIASID"},
                   {"agentId": 5, "agentAliasId": "TSTALIASID", "sessionId": "s", "inputText": "hi"}),
    INVOKE_INLINE_AGENT: ({"sessionId": "s", "foundationModel": "amazon.nova-pro-v1:0", "instruction": "short"},
                          {"sessionId": "s", "instruction": INSTRUCTION, "inputText": "hi"}),
    RETRIEVE: ({"knowledgeBaseId": "KB12345678"}, {"knowledgeBaseId": "KB12345678", "retrievalQuery": "text"}),
    RETRIEVE_AND_GENERATE: ({"input": {"text": "hi"}, "retrieveAndGenerateConfiguration": {"type": "KNOWLEDGE_BASE"}},
                            {"input": {"text": "hi"}}),
    RETRIEVE_AND_GENERATE_STREAM: ({"input": {"text": "hi"}},),
    INVOKE_FLOW: ({"flowIdentifier": "FLOW123456", "flowAliasIdentifier": "ALIAS12345", "inputs": []},
                  {"flowIdentifier": "FLOW123456", "flowAliasIdentifier": "ALIAS12345", "inputs": "hi"}),
    APPLY_GUARDRAIL: ({"guardrailIdentifier": "gr-1", "guardrailVersion": "1", "source": "SIDEWAYS", "content": []},
                      {"guardrailIdentifier": "gr-1", "guardrailVersion": "1", "source": "INPUT"}),
    START_ASYNC_INVOKE: ({"modelId": "amazon.nova-reel-v1:0", "modelInput": {}},),
    GET_ASYNC_INVOKE: ({}, {"invocationArn": ""}),
}

_PARAMS = {
    INVOKE_AGENT: invoke_agent_params,
    INVOKE_INLINE_AGENT: invoke_inline_agent_params,
    RETRIEVE: retrieve_params,
    RETRIEVE_AND_GENERATE: retrieve_and_generate_params,
    RETRIEVE_AND_GENERATE_STREAM: retrieve_and_generate_params,
    INVOKE_FLOW: invoke_flow_params,
    APPLY_GUARDRAIL: apply_guardrail_params,
    START_ASYNC_INVOKE: start_async_invoke_params,
    GET_ASYNC_INVOKE: get_async_invoke_params,
}
OPERATIONS = tuple(_PARAMS)


def params_for(operation: str, prompts: Any) -> Any:
    return st.one_of(*[_PARAMS[operation](prompts)] * 6, st.sampled_from(MALFORMED[operation]))


# --------------------------------------------------------------------------------------------------
# Replies
# --------------------------------------------------------------------------------------------------


def _bytes_event(name: str, data: bytes, **extra: Any) -> bytes:
    return event_frame(name, {"bytes": base64.b64encode(data).decode("ascii"), **extra})


_USAGE_OUTPUT = {"modelInvocationOutput": {"traceId": "t-1", "metadata": {"usage": {"inputTokens": 7,
                                                                                   "outputTokens": 3}}}}
AGENT_FRAMES = (
    _bytes_event("chunk", b"Hello from the agent."),
    _bytes_event("chunk", b"\xff\xfe not utf-8"),
    _bytes_event("chunk", b"cited", attribution={"citations": [{"retrievedReferences": []}]}),
    event_frame("chunk", {}),
    event_frame("trace", {"sessionId": "session-1", "trace": {"orchestrationTrace": {
        "modelInvocationInput": {"traceId": "t-1", "type": "ORCHESTRATION", "text": "prompt",
                                 "foundationModel": "anthropic.claude-3-haiku-20240307-v1:0"}}}}),
    event_frame("trace", {"sessionId": "session-1", "trace": {"orchestrationTrace": _USAGE_OUTPUT}}),
    event_frame("trace", {"sessionId": "session-1", "trace": {"orchestrationTrace": {"modelInvocationOutput": {
        "traceId": "t-9", "metadata": {"usage": {"inputTokens": -4}}}}}}),
    event_frame("trace", {"sessionId": "session-1", "trace": {"orchestrationTrace": {"invocationInput": {
        "traceId": "t-1", "invocationType": "ACTION_GROUP",
        "actionGroupInvocationInput": {"actionGroupName": "WeatherActions", "function": "get_weather"}}}}}),
    event_frame("trace", {"sessionId": "session-1", "trace": {"orchestrationTrace": {"observation": {
        "traceId": "t-1", "type": "ACTION_GROUP", "actionGroupInvocationOutput": {"text": "sunny"}}}}}),
    event_frame("trace", {"sessionId": "session-1", "trace": {"guardrailTrace": {"action": "INTERVENED",
                                                                               "traceId": "g-1"}}}),
    event_frame("trace", {"sessionId": "session-1", "trace": {"failureTrace": {"traceId": "f-1",
                                                                             "failureReason": "Lambda failed."}}}),
    event_frame("trace", {"sessionId": "session-1", "trace": {"somethingNewTrace": {"x": 1}}}),
    event_frame("trace", {"sessionId": "session-1"}),
    event_frame("returnControl", {"invocationId": "inv-1", "invocationInputs": [{"functionInvocationInput": {
        "actionGroup": "WeatherActions", "function": "get_weather", "parameters": []}}]}),
    event_frame("files", {"files": [{"name": "plot.png", "type": "image/png",
                                     "bytes": base64.b64encode(b"\x89PNG").decode("ascii")}]}),
    event_frame("surpriseEvent", {"x": 1}),
)
FLOW_FRAMES = (
    event_frame("flowOutputEvent", {"nodeName": "FlowOutputNode", "nodeType": "Output",
                                    "content": {"document": "the answer"}}),
    event_frame("flowOutputEvent", {"content": {"document": {"nested": [1, 2]}}}),
    event_frame("flowCompletionEvent", {"completionReason": "SUCCESS"}),
    event_frame("flowCompletionEvent", {"completionReason": "INPUT_REQUIRED"}),
    event_frame("flowTraceEvent", {"trace": {"nodeActionTrace": {"nodeName": "Prompt", "serviceName": "bedrock",
                                                                 "operationName": "InvokeModel",
                                                                 "requestId": "r-1"}}}),
    event_frame("flowTraceEvent", {"trace": {}}),
    event_frame("flowMultiTurnInputRequestEvent", {"nodeName": "Agent", "nodeType": "AgentNode",
                                                   "content": {"document": "Which city?"}}),
    event_frame("surpriseEvent", {"x": 1}),
)
RAG_FRAMES = (
    event_frame("output", {"text": "Paris is "}),
    event_frame("output", {"text": "sunny."}),
    event_frame("output", {}),
    event_frame("citation", {"citation": {"generatedResponsePart": {"textResponsePart": {"text": "Paris"}},
                                          "retrievedReferences": []}}),
    event_frame("guardrail", {"action": "INTERVENED"}),
    event_frame("guardrail", {"action": "SOMETHING_NEW"}),
    event_frame("surpriseEvent", {"x": 1}),
)
_FRAMES = {INVOKE_AGENT: AGENT_FRAMES, INVOKE_INLINE_AGENT: AGENT_FRAMES, INVOKE_FLOW: FLOW_FRAMES,
           RETRIEVE_AND_GENERATE_STREAM: RAG_FRAMES}
ALL_FRAMES = AGENT_FRAMES + FLOW_FRAMES + RAG_FRAMES

_TOKENS = st.one_of(st.none(), st.integers(0, 500))
agent_steps = st.one_of(
    st.builds(lambda i, o, p: AgentStep.model_call(i, o, prompt_type=p), _TOKENS, _TOKENS,
              st.sampled_from(["ORCHESTRATION", "PRE_PROCESSING", "POST_PROCESSING", "ROUTING_CLASSIFIER"])),
    st.builds(lambda control: AgentStep.tool(return_control=control), st.booleans()),
    st.builds(lambda n: AgentStep.knowledge_base("KB12345678", results=n), st.integers(0, 3)),
    st.builds(lambda action: AgentStep.guardrail(action), st.sampled_from(["NONE", "INTERVENED"])),
    st.builds(lambda error, files: AgentStep.code_interpreter(error, files),
              st.one_of(st.none(), st.just("NameError")), st.sampled_from([(), ("plot.png",)])),
    st.builds(lambda name: AgentStep.collaborator(name), st.sampled_from(["researcher", "writer"])),
    st.just(AgentStep.failure()),
    st.builds(lambda kind: AgentStep.error(kind), st.sampled_from(AGENT_STREAM_EXCEPTIONS)),
)


def frames_for(operation: str, trouble: Sequence[bytes]) -> Any:
    """Event frames for a scripted stream: mostly the operation's own, some broken, some foreign."""
    own = _FRAMES[operation]
    frame = st.one_of(st.sampled_from(own), st.sampled_from(own), st.sampled_from(trouble),
                      st.sampled_from(ALL_FRAMES))
    return st.lists(frame, max_size=7)


def extra_replies_for(operation: str, trouble: Sequence[bytes]) -> List[Any]:
    """Replies only these operations get, on top of the errors, throttles, raw bodies and cuts of every one."""
    options: List[Any] = [
        st.builds(lambda code, d: Reply.error(code[0], code[1], "Scripted agent error.", delay=d),
                  st.sampled_from(AGENT_ERRORS), st.sampled_from([0.0, 0.001])),
        st.builds(lambda after, kind: Reply.stream_error(after, kind), st.integers(0, 6),
                  st.sampled_from(AGENT_STREAM_EXCEPTIONS)),
    ]
    if operation in (INVOKE_AGENT, INVOKE_INLINE_AGENT):
        options += [st.builds(lambda steps, answer: Reply.agent(*steps, answer=answer),
                              st.lists(agent_steps, max_size=4), st.one_of(st.none(), st.just("Done.")))] * 3
    if operation in _FRAMES:
        options += [st.builds(Reply.events, frames_for(operation, trouble))] * 2
    else:
        options.append(st.builds(Reply.events, st.lists(st.sampled_from(ALL_FRAMES), max_size=2)))
    return options
