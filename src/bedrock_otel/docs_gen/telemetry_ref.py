"""docs/reference/telemetry.md: every span name, attribute, metric and event, generated from the code.

Where each fact comes from:

* span names and ``gen_ai.operation.name`` per API: the operation registry (:mod:`bedrock_otel.operations.base`),
  each operation's own ``prepare()`` run on placeholder parameters, and the codecs' operation names;
* attribute names: the constants of :mod:`bedrock_otel.telemetry.attributes`, :mod:`bedrock_otel.aws.appsignals`
  and :mod:`bedrock_otel.telemetry.content`, plus what the reference run (:mod:`.reference_run`) saw;
* metrics: :class:`bedrock_otel.telemetry.instruments.Instruments`, created on a recording meter;
* "seen on" columns: the reference run.

The one hand-written part is :data:`ATTRIBUTES` — a sentence per attribute. Rendering fails when the code
has an attribute this table does not describe, or the table describes one the code no longer has, so the
page cannot silently drift.
"""

from __future__ import annotations

import inspect
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from .. import app_spans
from ..aws import appsignals
from ..models.catalog import codecs
from ..telemetry import attributes as A
from ..telemetry import content, instruments

GROUPS: Tuple[Tuple[str, str, str], ...] = (
    ("genai", "GenAI semantic conventions",
     "Names from the OpenTelemetry GenAI conventions; cache-token names as `opentelemetry-util-genai` writes them."),
    ("sdk", "AWS SDK and general conventions",
     "What the botocore instrumentation also records; X-Ray and Application Signals key on `rpc.system=aws-api`."),
    ("appsignals", "Application Signals",
     "`aws.remote.*` is on every Bedrock span. The rest is added only with `configure(application_signals=True)` "
     "(or `OTEL_AWS_APPLICATION_SIGNALS_ENABLED=true`), on export; see [the sidecar guide](../sidecar.md)."),
    ("ours", "bedrock-otel's own",
     "Facts the conventions have no name for yet."),
    ("agents", "Agents (InvokeAgent, InvokeInlineAgent and their steps)", ""),
    ("guardrails", "Guardrails", ""),
    ("kb", "Knowledge bases, flows, CountTokens, async invoke", ""),
    ("content", "Content capture (off by default)",
     "Only with `capture_content` / `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` set to a mode that puts "
     "content on spans; see [Privacy](../privacy.md)."),
    ("app", "App spans, attribution and Lambda",
     "From `@bedrock_otel.workflow`/`agent`/`task`/`tool`, `annotate()`, `bedrock_otel.attributes(...)` and "
     "`bedrock_otel.aws.lambda_handler`."),
)

#: attribute (or pattern) → (group, what it holds). The one hand-written table of this page.
ATTRIBUTES: Dict[str, Tuple[str, str]] = {
    # GenAI conventions
    A.GEN_AI_PROVIDER_NAME: ("genai", "always `aws.bedrock`"),
    A.GEN_AI_OPERATION_NAME: ("genai", "the operation (see [Spans](#spans)); also a metric attribute"),
    A.GEN_AI_OUTPUT_TYPE: ("genai", "`image` for image-generation families"),
    A.GEN_AI_REQUEST_MODEL: ("genai", "the model id exactly as the application passed it (base id, "
                                      "`us.`/`eu.`/`apac.`/`global.` inference profile or ARN)"),
    A.GEN_AI_REQUEST_MAX_TOKENS: ("genai", "Converse `inferenceConfig.maxTokens`, or the family's body field"),
    A.GEN_AI_REQUEST_TEMPERATURE: ("genai", "Converse `inferenceConfig.temperature`, or the family's body field"),
    A.GEN_AI_REQUEST_TOP_P: ("genai", "Converse `inferenceConfig.topP`, or the family's body field"),
    A.GEN_AI_REQUEST_TOP_K: ("genai", "Converse `additionalModelRequestFields.top_k`, the family's body field, or a "
                                      "knowledge-base search's `numberOfResults`"),
    A.GEN_AI_REQUEST_STOP_SEQUENCES: ("genai", "Converse `inferenceConfig.stopSequences`, or the family's body field"),
    A.GEN_AI_REQUEST_SEED: ("genai", "the family's seed field"),
    A.GEN_AI_REQUEST_STREAM: ("genai", "`true` on streaming operations; agents: `streamFinalResponse`"),
    A.GEN_AI_REQUEST_CHOICE_COUNT: ("genai", "how many choices or images were asked for"),
    A.GEN_AI_REQUEST_FREQUENCY_PENALTY: ("genai", "the family's frequency penalty"),
    A.GEN_AI_REQUEST_PRESENCE_PENALTY: ("genai", "the family's presence penalty"),
    A.GEN_AI_REQUEST_ENCODING_FORMATS: ("genai", "embedding types asked for"),
    A.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: ("genai", "embedding dimensions asked for"),
    A.GEN_AI_RESPONSE_ID: ("genai", "where the body names it (Claude, chat-completions families, Cohere)"),
    A.GEN_AI_RESPONSE_MODEL: ("genai", "where the response names it; also a metric attribute"),
    A.GEN_AI_RESPONSE_FINISH_REASONS: ("genai", "the provider's own values (`end_turn`, `max_tokens`, `FINISH`, "
                                                "`guardrail_intervened`, …), one per choice"),
    A.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: ("genai", "streams: seconds from the call to the first content chunk"),
    A.GEN_AI_USAGE_INPUT_TOKENS: ("genai", "input tokens **including** cache read and cache write tokens (Bedrock "
                                           "reports them apart); agents: the sum over their model invocations"),
    A.GEN_AI_USAGE_OUTPUT_TOKENS: ("genai", "output tokens"),
    A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: ("genai", "prompt-cache reads (Converse usage, Claude and Nova bodies, "
                                                      "Bedrock's headers)"),
    A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: ("genai", "prompt-cache writes, as above"),
    A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: ("genai", "reasoning tokens, where the family's body reports them"),
    A.GEN_AI_TOKEN_TYPE: ("genai", "metric attribute of `gen_ai.client.token.usage`: `input` or `output`"),
    A.GEN_AI_AGENT_ID: ("genai", "InvokeAgent `agentId`"),
    A.GEN_AI_AGENT_NAME: ("genai", "InvokeInlineAgent `agentName`; `@bedrock_otel.agent` spans: the name given"),
    A.GEN_AI_CONVERSATION_ID: ("genai", "agent and retrieve-and-generate `sessionId`"),
    A.GEN_AI_DATA_SOURCE_ID: ("genai", "the knowledge base a retrieval reads"),
    A.GEN_AI_TOOL_NAME: ("genai", "agent tool steps: the function or API path; `@bedrock_otel.tool` spans: the name"),
    A.GEN_AI_TOOL_TYPE: ("genai", "agent tool steps: `function`, or `extension` for the code interpreter"),
    A.GEN_AI_TOOL_CALL_ID: ("genai", "agent tool steps: the invocation id"),
    # AWS SDK and general
    A.ERROR_TYPE: ("sdk", "on failure: the AWS error code (`ThrottlingException`, …) or the exception's qualified "
                          "class name; span status ERROR. Also a metric attribute"),
    A.SERVER_ADDRESS: ("sdk", "the endpoint's host; also a metric attribute"),
    A.SERVER_PORT: ("sdk", "the endpoint's port; also a metric attribute"),
    A.RPC_SYSTEM: ("sdk", "always `aws-api`"),
    A.RPC_SERVICE: ("sdk", "`Bedrock Runtime` or `Bedrock Agent Runtime`"),
    A.RPC_METHOD: ("sdk", "the API name (`Converse`, `InvokeAgent`, …)"),
    A.AWS_REGION: ("sdk", "the client's region; also a metric attribute"),
    A.CLOUD_REGION: ("sdk", "the client's region"),
    A.AWS_REQUEST_ID: ("sdk", "botocore's response metadata (errors too)"),
    A.HTTP_STATUS_CODE: ("sdk", "the HTTP status of the response"),
    A.HTTP_STATUS_CODE_OLD: ("sdk", "the same, under the older name the ADOT distro's Application Signals reads"),
    A.RETRY_ATTEMPTS: ("sdk", "botocore's retries for this call"),
    # Application Signals
    appsignals.AWS_REMOTE_SERVICE: ("appsignals", "`AWS::BedrockRuntime` or `AWS::Bedrock`"),
    appsignals.AWS_REMOTE_OPERATION: ("appsignals", "the API name"),
    appsignals.AWS_REMOTE_RESOURCE_TYPE: ("appsignals", "`AWS::Bedrock::Model`, `::Guardrail`, `::Agent`, "
                                                        "`::KnowledgeBase` or `::DataSource`"),
    appsignals.AWS_REMOTE_RESOURCE_IDENTIFIER: ("appsignals", "the model id as passed (`^` and `|` escaped), or the "
                                                              "agent, guardrail or knowledge-base id"),
    appsignals.AWS_CFN_PRIMARY_IDENTIFIER: ("appsignals", "as the identifier (guardrail ARN; `kb|datasource`)"),
    appsignals.AWS_LOCAL_SERVICE: ("appsignals", "resource and exported spans: `service.name`"),
    appsignals.AWS_LOCAL_OPERATION: ("appsignals", "the operation of the enclosing SERVER span, "
                                                   "or `InternalOperation`"),
    appsignals.AWS_SPAN_KIND: ("appsignals", "`LOCAL_ROOT`, `SERVER`, `CLIENT`, `PRODUCER` or `CONSUMER`"),
    appsignals.AWS_SDK_DESCENDANT: ("appsignals", "`true` on children of AWS SDK spans"),
    appsignals.AWS_CONSUMER_PARENT_SPAN_KIND: ("appsignals", "CONSUMER children of CONSUMER spans"),
    appsignals.AWS_TRACE_FLAG_SAMPLED: ("appsignals", "whether the span is sampled (every span is recorded)"),
    # bedrock-otel's own
    A.SERVER_LATENCY: ("ours", "Bedrock's own server-side latency, seconds (`x-amzn-bedrock-invocation-latency`, "
                               "Converse `metrics.latencyMs`, stream `invocationMetrics`, guardrail processing)"),
    A.SERVER_FIRST_BYTE_LATENCY: ("ours", "streams: Bedrock's first-byte latency, seconds"),
    A.MODEL_FAMILY: ("ours", "the codec that parsed the body ([families](../families.md)), or the vendor for "
                             "Converse and CountTokens"),
    A.PARSE_ERROR: ("ours", "what could not be parsed (a malformed body, …); the application's data is untouched"),
    A.STREAM_END_STATE: ("ours", "streams: `completed`, `error`, `closed`, `abandoned`, `garbage_collected`"),
    A.STREAM_EVENT_COUNT: ("ours", "streams: events seen"),
    A.STREAM_UNKNOWN_EVENTS: ("ours", "streams: events no parser recognised"),
    A.BODY_END_STATE: ("ours", "InvokeModel: `read`, `closed`, `unobserved`, `too_large`, `garbage_collected`"),
    A.USAGE_SOURCE: ("ours", "where the token counts came from: `headers`, `invocation_metrics`, `converse`, "
                             "`body`, `agent_trace` — never an estimate"),
    A.RESPONSE_IMAGE_COUNT: ("ours", "images returned (never their bytes)"),
    A.RESPONSE_EMBEDDING_COUNT: ("ours", "embeddings returned (never the vectors)"),
    # agents
    A.AWS_BEDROCK_AGENT_ID: ("agents", "InvokeAgent `agentId` (Application Signals' `AWS::Bedrock::Agent`)"),
    A.AGENT_ALIAS_ID: ("agents", "`agentAliasId`"),
    A.AGENT_TRACE_ENABLED: ("agents", "`enableTrace`: without it there are no step spans and no tokens"),
    A.AGENT_MEMORY_ID: ("agents", "`memoryId` (request or response)"),
    A.AGENT_PROMPT_TYPE: ("agents", "model steps: `ORCHESTRATION`, `PRE_PROCESSING`, …"),
    A.AGENT_TRACE_ID: ("agents", "steps: the trace's own step id"),
    A.AGENT_ACTION_GROUP: ("agents", "tool steps and return-control events: the action group"),
    A.AGENT_EXECUTION_TYPE: ("agents", "tool steps: `LAMBDA` or `RETURN_CONTROL`"),
    A.AGENT_COLLABORATOR_ALIAS_ARN: ("agents", "collaborator steps: the collaborator's alias ARN"),
    A.AGENT_RETURN_CONTROL_ID: ("agents", "the `returnControl` event's `invocationId`"),
    A.AGENT_FILE_COUNT: ("agents", "files the agent returned"),
    A.AGENT_FAILURE_CODE: ("agents", "event attribute: a `failureTrace`'s code"),
    A.AGENT_FAILURE_REASON: ("agents", "event attribute: a `failureTrace`'s reason"),
    A.AGENT_FILE_NAMES: ("agents", "event attribute: names of the files returned"),
    A.AGENT_FILE_TYPES: ("agents", "event attribute: their media types"),
    A.AGENT_FILE_SIZES: ("agents", "event attribute: their sizes in bytes (never the bytes)"),
    # guardrails
    A.AWS_BEDROCK_GUARDRAIL_ID: ("guardrails", "ApplyGuardrail: the guardrail it targets (Application Signals' "
                                               "`AWS::Bedrock::Guardrail`)"),
    A.AWS_BEDROCK_GUARDRAIL_ARN: ("guardrails", "ApplyGuardrail: the ARN, when one was given"),
    A.GUARDRAIL_CONFIGURED_ID: ("guardrails", "a guardrail a model, agent or knowledge-base call *applies* (not its "
                                              "target, so the dependency stays the model)"),
    A.GUARDRAIL_VERSION: ("guardrails", "the guardrail version"),
    A.GUARDRAIL_SOURCE: ("guardrails", "ApplyGuardrail: `INPUT` or `OUTPUT`"),
    A.GUARDRAIL_ACTION: ("guardrails", "`INTERVENED` or `NONE`, whatever the API's own spelling"),
    A.GUARDRAIL_POLICIES: ("guardrails", "policies with a finding whose action is not `NONE` (`topicPolicy`, …); "
                                         "what matched is never recorded"),
    # knowledge bases, flows, CountTokens, async invoke
    A.AWS_BEDROCK_KNOWLEDGE_BASE_ID: ("kb", "the knowledge base (Application Signals' "
                                            "`AWS::Bedrock::KnowledgeBase`)"),
    A.RESPONSE_DOCUMENT_COUNT: ("kb", "passages retrieved (never their text)"),
    A.RETRIEVAL_SCORES: ("content", "Retrieve: the relevance score of each retrieved passage, in order "
                                    "(only when content capture puts content on spans)"),
    A.RESPONSE_CITATION_COUNT: ("kb", "citations returned"),
    A.FLOW_ID: ("kb", "InvokeFlow `flowIdentifier`"),
    A.FLOW_ALIAS_ID: ("kb", "InvokeFlow `flowAliasIdentifier`"),
    A.FLOW_EXECUTION_ID: ("kb", "InvokeFlow `executionId` (request or response header)"),
    A.FLOW_COMPLETION_REASON: ("kb", "`SUCCESS` or `INPUT_REQUIRED`"),
    A.FLOW_INPUT_REQUEST_NODE: ("kb", "the node asking for more input (multi-turn flows)"),
    A.FLOW_TRACE_EVENTS: ("kb", "`flowTraceEvent`s seen"),
    A.COUNT_TOKENS_INPUT_TOKENS: ("kb", "CountTokens' count — deliberately not `gen_ai.usage.input_tokens`: "
                                        "nothing was consumed"),
    A.ASYNC_INVOKE_ARN: ("kb", "the invocation ARN tying StartAsyncInvoke to its GetAsyncInvoke polls"),
    A.ASYNC_INVOKE_STATUS: ("kb", "`InProgress`, `Completed` or `Failed` (a failed job is not a failed call)"),
    A.ASYNC_INVOKE_OUTPUT_URI: ("kb", "`outputDataConfig.s3OutputDataConfig.s3Uri`"),
    A.ASYNC_INVOKE_DURATION: ("kb", "seconds from submission to end, once the job ended"),
    # content
    content.SYSTEM_INSTRUCTIONS: ("content", "system prompts, JSON"),
    content.INPUT_MESSAGES: ("content", "the conversation sent, JSON"),
    content.OUTPUT_MESSAGES: ("content", "the answer, JSON, one message per choice"),
    content.TOOL_DEFINITIONS: ("content", "tools offered, JSON"),
    # app spans, attribution, Lambda
    "gen_ai.workflow.name": ("app", "`@bedrock_otel.workflow` spans: the name given"),
    "bedrock_otel.task.name": ("app", "`@bedrock_otel.task` spans: the name given"),
    "bedrock_otel.input": ("app", "`annotate(input=...)` (JSON for non-strings, cut to 4 KiB)"),
    "bedrock_otel.output": ("app", "`annotate(output=...)`"),
    "bedrock_otel.metadata.<key>": ("app", "`annotate(<key>=...)`"),
    "<attribution keys>": ("app", "`with bedrock_otel.attributes(tenant_id=...)`: `tenant.id` … on every Bedrock span "
                                  "inside; keys in `metric_attributes` (default `tenant.id`) on the metrics too"),
    "faas.coldstart": ("app", "`lambda_handler`: first invocation of this execution environment"),
    "faas.invocation_id": ("app", "`lambda_handler`: the context's `aws_request_id`"),
    "cloud.resource_id": ("app", "`lambda_handler`: the invoked function's ARN"),
    "cloud.account.id": ("app", "`lambda_handler`: the account in that ARN"),
}

#: documented names that stand for a family of observed keys
PATTERNS: Tuple[Tuple[str, re.Pattern[str]], ...] = (
    ("bedrock_otel.metadata.<key>", re.compile(r"bedrock_otel\.metadata\..+")),
    ("<attribution keys>", re.compile(r"tenant\.id")),  # the reference run's attribution scope
)
#: constants of attributes.py that are values or event names, not attribute names
_VALUE_CONSTANTS = {"PROVIDER", "RPC_SYSTEM_AWS", "OUTPUT_TYPE_IMAGE", "USAGE_SOURCE_AGENT_TRACE"}

METRIC_WHEN: Dict[str, str] = {
    instruments.OPERATION_DURATION: "once per call, successful or not",
    instruments.TOKEN_USAGE: "once per call per `gen_ai.token.type` whose count is known (agents: per model step)",
    instruments.TIME_TO_FIRST_CHUNK: "once per stream that delivered content",
    instruments.TIME_PER_OUTPUT_CHUNK: "only with `chunk_gap_metrics=True`: for each content chunk after the first",
    instruments.SERVER_REQUEST_DURATION: "Bedrock's reported server latency, when present",
}

EVENTS: Dict[str, str] = {
    A.EVENT_AGENT_RETURN_CONTROL: "the agent handed tool calls to the application",
    A.EVENT_AGENT_FILES: "the agent returned files (names, types, sizes — never the bytes)",
    A.EVENT_AGENT_FAILURE: "a `failureTrace`; that agent's open steps end with `error.type` = the code",
    content.EVENT_NAME: "log record (not a span event) with the content, in the span's context; only with an "
                        "`EVENT_ONLY`/`SPAN_AND_EVENT` content mode and for sampled spans",
}

#: placeholder parameters per API: prepare() on them yields the span name pattern
SAMPLE_PARAMS: Dict[Tuple[str, str], Dict[str, Any]] = {
    ("bedrock-runtime", "Converse"): {"modelId": "{modelId}"},
    ("bedrock-runtime", "ConverseStream"): {"modelId": "{modelId}"},
    ("bedrock-runtime", "InvokeModel"): {"modelId": "{modelId}"},
    ("bedrock-runtime", "InvokeModelWithResponseStream"): {"modelId": "{modelId}"},
    ("bedrock-runtime", "ApplyGuardrail"): {"guardrailIdentifier": "{guardrailIdentifier}"},
    ("bedrock-runtime", "CountTokens"): {"modelId": "{modelId}"},
    ("bedrock-runtime", "StartAsyncInvoke"): {"modelId": "{modelId}"},
    ("bedrock-runtime", "GetAsyncInvoke"): {"invocationArn": "{invocationArn}"},
    ("bedrock-agent-runtime", "InvokeAgent"): {"agentId": "{agentId}"},
    ("bedrock-agent-runtime", "InvokeInlineAgent"): {"agentName": "{agentName}",
                                                     "foundationModel": "{foundationModel}"},
    ("bedrock-agent-runtime", "Retrieve"): {"knowledgeBaseId": "{knowledgeBaseId}"},
    ("bedrock-agent-runtime", "RetrieveAndGenerate"): {"retrieveAndGenerateConfiguration": {
        "type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": {"knowledgeBaseId": "{knowledgeBaseId}",
                                                                 "modelArn": "{modelArn}"}}},
    ("bedrock-agent-runtime", "RetrieveAndGenerateStream"): {"retrieveAndGenerateConfiguration": {
        "type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": {"knowledgeBaseId": "{knowledgeBaseId}",
                                                                 "modelArn": "{modelArn}"}}},
    ("bedrock-agent-runtime", "InvokeFlow"): {"flowIdentifier": "{flowIdentifier}"},
}

HEADER = """\
# Telemetry reference

<!-- Generated by `python -m bedrock_otel.docs_gen` from the code and a reference run; do not edit. -->

Every span, attribute, metric and event bedrock-otel emits. Names come from the code (the operation registry,
the attribute constants, the metric instruments); the *seen on* columns come from a **reference run**: one real
boto3 call of every instrumented API against the fake Bedrock, with content capture, app spans, an attribution
scope and a Lambda handler (`bedrock_otel/docs_gen/reference_run.py`). What each value means, and when it is
set, is explained in the [telemetry guide](../telemetry.md).
"""


class StaleCatalogue(RuntimeError):
    """The code and the hand-written descriptions disagree: fix :data:`ATTRIBUTES` (or the other tables)."""


def code_attributes() -> Set[str]:
    """Every attribute name the code declares as a constant."""
    names = {value for name, value in vars(A).items()
             if name.isupper() and isinstance(value, str) and "." in value and name not in _VALUE_CONSTANTS
             and not name.startswith(("EVENT_", "OPERATION_"))}
    names.update(value for name, value in vars(appsignals).items()
                 if name.startswith("AWS_") and isinstance(value, str) and value.startswith("aws."))
    names.update(content.CONTENT_ATTRIBUTES)
    names.update(name_key for _prefix, _operation, name_key in app_spans._KINDS.values())
    return names


def _documented(key: str) -> Optional[str]:
    if key in ATTRIBUTES:
        return key
    for name, pattern in PATTERNS:
        if pattern.fullmatch(key):
            return name
    return None


def check(observation: Mapping[str, Any], source_text: str) -> None:
    """Raise :class:`StaleCatalogue` if the code or the reference run has names :data:`ATTRIBUTES` lacks,
    or :data:`ATTRIBUTES` names something no source file mentions any more."""
    problems: List[str] = []
    seen = _observed_attribute_keys(observation)
    for key in sorted(code_attributes() | seen):
        if _documented(key) is None:
            problems.append(f"attribute {key!r} has no description in bedrock_otel.docs_gen.telemetry_ref.ATTRIBUTES")
    for key in ATTRIBUTES:
        if key.startswith("<") or key.endswith("<key>"):
            continue
        if f'"{key}"' not in source_text:
            problems.append(f"ATTRIBUTES describes {key!r}, which no longer appears in the source")
    for metric in _metric_specs():
        if metric["name"] not in METRIC_WHEN:
            problems.append(f"metric {metric['name']!r} has no entry in METRIC_WHEN")
    for event in _observed_events(observation):
        if event not in EVENTS:
            problems.append(f"event {event!r} has no entry in EVENTS")
    if problems:
        raise StaleCatalogue("\n".join(problems))


def _observed_attribute_keys(observation: Mapping[str, Any]) -> Set[str]:
    keys: Set[str] = set()
    for span in observation["spans"]:
        keys.update(span["attributes"])
        for event in span["events"]:
            keys.update(event["attributes"])
    return keys


def _observed_events(observation: Mapping[str, Any]) -> List[str]:
    names = {event["name"] for span in observation["spans"] for event in span["events"]}
    names.update(record["name"] for record in observation["logs"] if record["name"])
    return sorted(names)


# -- sources ----------------------------------------------------------------------------------------------


class _Recorder:
    """A stand-in meter that remembers the histograms :class:`Instruments` creates."""

    def __init__(self) -> None:
        self.created: List[Dict[str, Any]] = []

    def create_histogram(self, name: str, unit: str = "", description: str = "",
                         explicit_bucket_boundaries_advisory: Optional[Sequence[float]] = None) -> None:
        self.created.append({"name": name, "unit": unit, "description": description,
                             "buckets": list(explicit_bucket_boundaries_advisory or ())})


def _metric_specs() -> List[Dict[str, Any]]:
    recorder = _Recorder()
    instruments.Instruments(recorder)  # type: ignore[arg-type]
    return recorder.created


def span_names() -> List[Dict[str, Any]]:
    """Per registered API: service, streaming, operation name(s) and span name pattern, from prepare()."""
    from .. import calls  # noqa: F401  (registers every operation)
    from ..operations.base import _OPERATIONS
    from ..telemetry.invocation import Telemetry

    telemetry = Telemetry(tracer=None, instruments=None, body_limit=1 << 20)  # type: ignore[arg-type]
    rows = []
    missing = sorted(key for key in _OPERATIONS if key not in SAMPLE_PARAMS)
    if missing:
        raise StaleCatalogue(f"operations without SAMPLE_PARAMS in bedrock_otel.docs_gen.telemetry_ref: {missing}")
    family_operations = sorted({name for codec in codecs() for name in codec.operations} | {"generate_content"})
    for (service, method), operation in _OPERATIONS.items():
        prepared = operation.prepare(SAMPLE_PARAMS[(service, method)], telemetry)
        target = prepared.target
        names = family_operations if method.startswith("InvokeModel") else [prepared.operation]
        rows.append({
            "service": service, "method": method, "streaming": operation.streaming, "operations": names,
            "span": f"{{operation}} {target}" if len(names) > 1 else (f"{names[0]} {target}" if target else names[0]),
        })
    order = {"bedrock-runtime": 0, "bedrock-agent-runtime": 1}
    return sorted(rows, key=lambda row: (order.get(row["service"], 2), row["method"]))


# -- rendering ----------------------------------------------------------------------------------------------


def _code(items: Iterable[str]) -> str:
    return ", ".join(f"`{item}`" for item in items)


def _bedrock_spans(observation: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    return [span for span in observation["spans"] if span["kind"] == "CLIENT" and span["method"]]


def _source(span: Mapping[str, Any]) -> str:
    """How the "seen on" column names the kind of span an attribute was on."""
    if span["kind"] == "CLIENT" and span["method"]:
        return str(span["method"])
    if span["scope"] == "bedrock_otel.app":
        return "app spans"
    if span["kind"] == "SERVER":
        return "lambda_handler"
    return "agent steps"


def _seen_on(observation: Mapping[str, Any]) -> Dict[str, Tuple[Set[str], bool]]:
    """documented name → (span sources, on every Bedrock call)."""
    bedrock = _bedrock_spans(observation)
    sources: Dict[str, Set[str]] = {}
    everywhere: Dict[str, bool] = {}
    for span in observation["spans"]:
        keys = set(span["attributes"])
        for event in span["events"]:
            keys.update(event["attributes"])
        for key in keys:
            name = _documented(key) or key
            sources.setdefault(name, set()).add(_source(span) if key in span["attributes"] else
                                                 f"{_source(span)} (event)")
    for name in sources:
        everywhere[name] = all(any(_documented(key) == name for key in span["attributes"]) for span in bedrock)
    return {name: (found, everywhere[name]) for name, found in sources.items()}


def _seen_text(found: Set[str], everywhere: bool) -> str:
    if everywhere:
        rest = sorted(item for item in found if not item[0].isupper())
        return "every Bedrock call" + (f"; {', '.join(rest)}" if rest else "")
    methods = sorted(item for item in found if item[0].isupper())
    others = sorted(item for item in found if not item[0].isupper())
    return ", ".join(methods + others)


def render(observation: Mapping[str, Any]) -> str:
    lines = [HEADER]
    lines += _render_spans(observation)
    lines += _render_attributes(observation)
    lines += _render_metrics(observation)
    lines += _render_events(observation)
    return "\n".join(lines).rstrip() + "\n"


def _render_spans(observation: Mapping[str, Any]) -> List[str]:
    lines = ["## Spans", "", "### Bedrock API calls", "",
             "One CLIENT span per call, a child of the span current when the application calls; `{…}` is the "
             "request parameter of that name, exactly as passed.", "",
             "| service | API | span name | `gen_ai.operation.name` | streams |", "|---|---|---|---|---|"]
    for row in span_names():
        operations = _code(row["operations"])
        if len(row["operations"]) > 1:
            operations += " (by [family](../families.md))"
        lines.append(f"| `{row['service']}` | {row['method']} | `{row['span']}` | {operations} | "
                     f"{'yes' if row['streaming'] else ''} |")
    seen = sorted({(span["name"].split(" ", 1)[0], span["operation"] or "") for span in observation["spans"]
                   if _source(span) == "agent steps"})
    lines += ["", "### Agent steps", "",
              "INTERNAL children of an `invoke_agent` span, rebuilt from the agent's trace events (`enableTrace`). "
              "Seen in the reference run:", "",
              "| span name starts with | `gen_ai.operation.name` |", "|---|---|"]
    lines += [f"| `{prefix}` | `{operation}` |" for prefix, operation in seen]
    lines += ["", "### App spans", "", "INTERNAL spans from the decorators; Bedrock calls made inside nest under them.",
              "", "| decorator | span name | `gen_ai.operation.name` | name attribute |", "|---|---|---|---|"]
    for kind, (prefix, operation, name_key) in app_spans._KINDS.items():
        lines.append(f"| `@bedrock_otel.{kind}(name)` | `{prefix} {{name}}` | "
                     f"{f'`{operation}`' if operation else '—'} | `{name_key}` |")
    signature = inspect.signature(_lambda_handler())
    lines += [f"| `@bedrock_otel.aws.lambda_handler` | `{{name}}` (default `AWS_LAMBDA_FUNCTION_NAME`), "
              f"kind SERVER | — | — (arguments: {', '.join(signature.parameters)}) |", ""]
    return lines


def _lambda_handler() -> Any:
    from ..aws.lambda_ import lambda_handler

    return lambda_handler


def _render_attributes(observation: Mapping[str, Any]) -> List[str]:
    seen = _seen_on(observation)
    metric_keys = {key for keys in observation["metrics"].values() for key in keys}
    lines = ["## Span attributes", "",
             "*Seen on*: the spans of the reference run that carried it (`(event)`: as a span-event attribute); "
             "*metrics*: also an attribute of the metrics.", ""]
    for group, title, intro in GROUPS:
        names = sorted(name for name, (kind, _text) in ATTRIBUTES.items() if kind == group)
        lines += [f"### {title}", ""]
        if intro:
            lines += [intro, ""]
        lines += ["| attribute | holds | seen on | metrics |", "|---|---|---|---|"]
        for name in names:
            found, everywhere = seen.get(name, (set(), False))
            where = _seen_text(found, everywhere) if found else "— (not in the reference run)"
            on_metrics = "yes" if name in metric_keys or (name.startswith("<") and "tenant.id" in metric_keys) else ""
            shown = name if not name.startswith("<") else name.strip("<>")
            cell = f"`{shown}`" if not name.startswith("<") else f"*{shown}*"
            holds = ATTRIBUTES[name][1].replace("|", "\\|")
            lines.append(f"| {cell} | {holds} | {where} | {on_metrics} |")
        lines.append("")
    return lines


def _render_metrics(observation: Mapping[str, Any]) -> List[str]:
    lines = ["## Metrics", "",
             "Histograms, created by `bedrock_otel.telemetry.instruments` with these advisory buckets (and the same "
             "buckets as Views by `configure()` and `bedrock_otel.aws.genai_views()`).", "",
             "| metric | unit | recorded | buckets | attributes seen |", "|---|---|---|---|---|"]
    for spec in _metric_specs():
        buckets = spec["buckets"]
        shown = f"{_number(buckets[0])}, {_number(buckets[1])}, {_number(buckets[2])} … {_number(buckets[-1])}"
        attributes = observation["metrics"].get(spec["name"], [])
        lines.append(f"| `{spec['name']}` | `{spec['unit']}` | {METRIC_WHEN[spec['name']]} | {shown} | "
                     f"{_code(attributes)} |")
    lines += ["", f"With Application Signals on, a separate MeterProvider (meter `{appsignals.METER_NAME}`) records "
                  f"`{appsignals.LATENCY}` (`{appsignals.LATENCY_UNIT}`), `{appsignals.ERROR}` and "
                  f"`{appsignals.FAULT}` per span, with DELTA temporality ([sidecar guide](../sidecar.md)).", ""]
    return lines


def _number(value: float) -> str:
    return f"{value:g}"


def _render_events(observation: Mapping[str, Any]) -> List[str]:
    attributes: Dict[str, Set[str]] = {}
    for span in observation["spans"]:
        for event in span["events"]:
            attributes.setdefault(event["name"], set()).update(event["attributes"])
    for record in observation["logs"]:
        if record["name"]:
            attributes.setdefault(record["name"], set()).update(record["attributes"])
    lines = ["## Events", "", "| event | when | attributes seen |", "|---|---|---|"]
    for name, when in EVENTS.items():
        lines.append(f"| `{name}` | {when} | {_code(sorted(attributes.get(name, ()))) or '—'} |")
    return [*lines, ""]
