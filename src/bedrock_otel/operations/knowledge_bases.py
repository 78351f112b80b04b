"""Knowledge bases (bedrock-agent-runtime): Retrieve, RetrieveAndGenerate and RetrieveAndGenerateStream.

Retrieve is a GenAI ``retrieval`` (``retrieval {knowledgeBaseId}``, ``gen_ai.data_source.id``). Retrieve-
and-generate answers with a model, so it is a ``chat`` span named by the model ARN the application gave, as
the GenAI SIG's genai-bedrock instrumentation names it; its knowledge base (if any) is the call's resource.
Both carry ``aws.bedrock.knowledge_base.id`` (Application Signals' ``AWS::Bedrock::KnowledgeBase``).

Retrieved passages are counted, never recorded: their scores and text belong to content capture.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

from ..telemetry import attributes as A
from ..telemetry.invocation import Invocation, Telemetry
from ..wrappers.event_stream import observe_event_stream
from .base import Operation, Prepared, register
from .guardrails import configured, guardrail_attributes

AGENT_RUNTIME = "bedrock-agent-runtime"
_TEXT_INFERENCE = {
    A.GEN_AI_REQUEST_MAX_TOKENS: "maxTokens",
    A.GEN_AI_REQUEST_TEMPERATURE: "temperature",
    A.GEN_AI_REQUEST_TOP_P: "topP",
}


def _text(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


def _knowledge_base(kb: Optional[str]) -> Dict[str, Any]:
    return {A.GEN_AI_DATA_SOURCE_ID: kb, A.AWS_BEDROCK_KNOWLEDGE_BASE_ID: kb} if kb else {}


def _top_k(retrieval: Any) -> Dict[str, Any]:
    if isinstance(retrieval, Mapping):
        for key in ("vectorSearchConfiguration", "managedSearchConfiguration"):
            search = retrieval.get(key)
            count = search.get("numberOfResults") if isinstance(search, Mapping) else None
            if isinstance(count, int) and not isinstance(count, bool):
                return {A.GEN_AI_REQUEST_TOP_K: count}
    return {}


def _set(inv: Invocation, attrs: Mapping[str, Any]) -> None:
    if attrs and not inv.ended and inv.span.is_recording():
        inv.span.set_attributes(attrs)


class Retrieve(Operation):
    service = AGENT_RUNTIME
    method = "Retrieve"

    def prepare(self, params: Mapping[str, Any], telemetry: Telemetry) -> Prepared:
        kb = _text(params.get("knowledgeBaseId"))
        attrs = {**_knowledge_base(kb), **_top_k(params.get("retrievalConfiguration"))}
        guardrail = params.get("guardrailConfiguration")
        if isinstance(guardrail, Mapping):
            attrs.update(configured(guardrail.get("guardrailId"), guardrail.get("guardrailVersion")))
        return Prepared("retrieval", None, attrs, target=kb or "")

    def complete(self, inv: Invocation, result: Dict[str, Any], prepared: Prepared,
                 telemetry: Telemetry) -> bool:
        results = result.get("retrievalResults")
        attrs = guardrail_attributes(result.get("guardrailAction"))
        if isinstance(results, list):
            attrs[A.RESPONSE_DOCUMENT_COUNT] = len(results)
            content = telemetry.content
            if content is not None and content.on_span:  # scores reveal what matched: content capture only
                scores = [r.get("score") for r in results if isinstance(r, Mapping)]
                if scores and all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in scores):
                    attrs[A.RETRIEVAL_SCORES] = [float(s) for s in scores]
        _set(inv, attrs)
        return True


def _rag_configuration(params: Mapping[str, Any]) -> Tuple[Optional[str], Optional[str], Mapping[str, Any]]:
    """(knowledge base id, model ARN, the configuration block) of a retrieve-and-generate request."""
    config = params.get("retrieveAndGenerateConfiguration")
    if not isinstance(config, Mapping):
        return None, None, {}
    for key in ("knowledgeBaseConfiguration", "externalSourcesConfiguration"):
        sub = config.get(key)
        if isinstance(sub, Mapping):
            return _text(sub.get("knowledgeBaseId")), _text(sub.get("modelArn")), sub
    return None, None, {}


class RetrieveAndGenerate(Operation):
    service = AGENT_RUNTIME
    method = "RetrieveAndGenerate"

    def prepare(self, params: Mapping[str, Any], telemetry: Telemetry) -> Prepared:
        kb, model, sub = _rag_configuration(params)
        attrs: Dict[str, Any] = _knowledge_base(kb)
        if _text(params.get("sessionId")):
            attrs[A.GEN_AI_CONVERSATION_ID] = params["sessionId"]
        attrs.update(_top_k(sub.get("retrievalConfiguration")))
        generation = sub.get("generationConfiguration")
        if isinstance(generation, Mapping):
            inference = generation.get("inferenceConfig")
            text = inference.get("textInferenceConfig") if isinstance(inference, Mapping) else None
            if isinstance(text, Mapping):
                for key, source in _TEXT_INFERENCE.items():
                    value = text.get(source)
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        attrs[key] = value
                stops = text.get("stopSequences")
                if isinstance(stops, list) and stops:
                    attrs[A.GEN_AI_REQUEST_STOP_SEQUENCES] = stops
            guardrail = generation.get("guardrailConfiguration")
            if isinstance(guardrail, Mapping):
                attrs.update(configured(guardrail.get("guardrailId"), guardrail.get("guardrailVersion")))
        return Prepared("chat", model, attrs)

    def complete(self, inv: Invocation, result: Dict[str, Any], prepared: Prepared,
                 telemetry: Telemetry) -> bool:
        attrs = guardrail_attributes(result.get("guardrailAction"))
        citations = result.get("citations")
        if isinstance(citations, list):
            attrs[A.RESPONSE_CITATION_COUNT] = len(citations)
        session = _text(result.get("sessionId"))
        if session and A.GEN_AI_CONVERSATION_ID not in prepared.attributes:
            attrs[A.GEN_AI_CONVERSATION_ID] = session
        _set(inv, attrs)
        return True


class RetrieveAndGenerateStream(RetrieveAndGenerate):
    method = "RetrieveAndGenerateStream"
    streaming = True

    def complete(self, inv: Invocation, result: Dict[str, Any], prepared: Prepared,
                 telemetry: Telemetry) -> bool:
        session = _text(result.get("sessionId"))
        if session and A.GEN_AI_CONVERSATION_ID not in prepared.attributes:
            _set(inv, {A.GEN_AI_CONVERSATION_ID: session})
        stream = result.get("stream")
        if stream is None:
            return True
        citations = [0]

        def handle(event: Mapping[str, Any]) -> bool:
            if "output" in event:
                return True
            if "citation" in event:
                citations[0] += 1
                _set(inv, {A.RESPONSE_CITATION_COUNT: citations[0]})
            elif "guardrail" in event:
                _set(inv, guardrail_attributes(event["guardrail"].get("action")))
            else:
                inv.outcome.unknown_events += 1
            return False

        return not observe_event_stream(stream, inv, handle)


register(Retrieve())
register(RetrieveAndGenerate())
register(RetrieveAndGenerateStream())
